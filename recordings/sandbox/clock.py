"""Simulated time: real elapsed time × speed, or (manual) time that moves only when told to."""

from __future__ import annotations

import threading
import time


class SimClock:
    def __init__(self, start_ms: int | None = None, *, speed: float = 1.0, manual: bool = False) -> None:
        self._lock = threading.Lock()
        self._base_sim_ms = int(time.time() * 1000) if start_ms is None else int(start_ms)
        self._base_real = time.monotonic()
        self._speed = float(speed)
        self._manual = manual

    def now_ms(self) -> int:
        with self._lock:
            return self._now_locked()

    def _now_locked(self) -> int:
        if self._manual:
            return self._base_sim_ms
        return self._base_sim_ms + int((time.monotonic() - self._base_real) * 1000 * self._speed)

    def _rebase(self) -> None:
        self._base_sim_ms = self._now_locked()
        self._base_real = time.monotonic()

    @property
    def speed(self) -> float:
        return self._speed

    @property
    def manual(self) -> bool:
        return self._manual

    def configure(self, *, speed: float | None = None, manual: bool | None = None) -> None:
        with self._lock:
            self._rebase()
            if speed is not None:
                if speed <= 0:
                    raise ValueError("speed must be positive")
                self._speed = float(speed)
            if manual is not None:
                self._manual = bool(manual)

    def jump_to(self, sim_ms: int) -> None:
        """Move simulated time forward to ``sim_ms`` (never backwards)."""
        with self._lock:
            self._rebase()
            self._base_sim_ms = max(self._base_sim_ms, int(sim_ms))

    def sim_to_real_seconds(self, sim_ms: int) -> float:
        """How long, in real seconds, ``sim_ms`` of simulated time lasts at the current speed."""
        return sim_ms / 1000 / self._speed

    def describe(self) -> dict[str, object]:
        with self._lock:
            return {"now_ms": self._now_locked(), "speed": self._speed, "manual": self._manual}


def wall_seconds() -> int:
    """Real Unix time: used where a client's own clock is compared (signature freshness, callback expiry)."""
    return int(time.time())


def wall_ms() -> int:
    """Real Unix time in milliseconds, for delivery stamps a receiver checks with its own clock."""
    return int(time.time() * 1000)
