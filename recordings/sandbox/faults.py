"""Faults on demand, keyed by vendor and action, drawn from one seedable random generator."""

from __future__ import annotations

import random
from typing import Any

# lose_answer: the request is handled, then the answer is never sent (a read timeout after the
# vendor acted). malformed: a 200 whose body is not the vendor's envelope.
REQUEST_FIELDS = (
    "error_rate",
    "error_code",
    "latency_ms",
    "timeout",
    "timeout_ms",
    "outage_until_ms",
    "lose_answer",
    "malformed",
)
TASK_FIELDS = ("no_file", "stuck_prepared", "idle_stop_after_ms")
CALLBACK_FIELDS = ("drop", "duplicate", "reorder", "delay_ms", "reorder_hold_ms")
ALL_ACTIONS = "*"


class FaultRegistry:
    def __init__(self) -> None:
        self.rules: dict[str, dict[str, Any]] = {}
        self.seed: int = 0
        self.rng = random.Random(0)

    def to_dict(self) -> dict[str, Any]:
        return {"rules": self.rules, "seed": self.seed}

    def load(self, data: dict[str, Any]) -> None:
        self.rules = dict(data.get("rules", {}))
        self.reseed(int(data.get("seed", 0)))

    def reseed(self, seed: int) -> None:
        self.seed = seed
        self.rng = random.Random(seed)

    def clear(self, vendor: str | None = None) -> None:
        if vendor is None:
            self.rules.clear()
        else:
            for key in [k for k in self.rules if k.split(":", 1)[0] == vendor]:
                del self.rules[key]

    def set(self, spec: dict[str, Any], now_ms: int) -> dict[str, Any]:
        """Merge one control-API fault spec; returns the stored rule. Raises ValueError if malformed."""
        vendor = spec.get("vendor")
        if not vendor:
            raise ValueError("vendor is required")
        action = spec.get("action") or ALL_ACTIONS
        rule = dict(self.rules.get(f"{vendor}:{action}", {}))
        for name in REQUEST_FIELDS + TASK_FIELDS:
            if name in spec:
                rule[name] = spec[name]
        if "outage_for_ms" in spec:
            rule["outage_until_ms"] = now_ms + int(spec["outage_for_ms"])
        callbacks = spec.get("callbacks") or {}
        if not isinstance(callbacks, dict) or set(callbacks) - set(CALLBACK_FIELDS):
            raise ValueError(f"callbacks takes {list(CALLBACK_FIELDS)}")
        if callbacks:
            rule["callbacks"] = {**rule.get("callbacks", {}), **callbacks}
        for rate in ("error_rate",):
            if rate in rule and not 0 <= float(rule[rate]) <= 1:
                raise ValueError(f"{rate} must be within 0..1")
        self.rules[f"{vendor}:{action}"] = rule
        if "seed" in spec:
            self.reseed(int(spec["seed"]))
        return rule

    def rule(self, vendor: str, action: str = ALL_ACTIONS) -> dict[str, Any]:
        """The vendor-wide rule overlaid with the action's own."""
        merged = dict(self.rules.get(f"{vendor}:{ALL_ACTIONS}", {}))
        if action != ALL_ACTIONS:
            specific = self.rules.get(f"{vendor}:{action}", {})
            callbacks = {**merged.get("callbacks", {}), **specific.get("callbacks", {})}
            merged.update(specific)
            if callbacks:
                merged["callbacks"] = callbacks
        return merged

    def chance(self, rate: Any) -> bool:
        """A seeded draw; rate True/False count as 1/0 so flags and rates share one spelling."""
        if rate is True:
            return True
        if not rate:
            return False
        return self.rng.random() < float(rate)
