"""What each vendor's contract module (tests/unit/contract/<vendor key>.py) provides.

tests/unit/test_vendor_contract.py runs the same checks over every adapter in
recordings.vendors.registry.ADAPTERS; it imports `tests.unit.contract.<key>` and reads:

CONFIG        an AppConfig for the vendor (base_url = the vendor's default; secrets = test values
              under the credential names of the helpers' brief).
START_SPECS   a list of StartSpec, one per mode in the adapter's capabilities.modes.
FakeVendor    a class; `FakeVendor()` is an httpx MockTransport handler (request -> Response) that
              serves answers built from tests/fixtures/<key>/*.json (shaped like the documents'
              examples), asserts that every request is signed and shaped as the document says
              (raising AssertionError otherwise), and keeps a tiny state so that pause, resume, stop
              and query behave. It exposes:
                requests       list[httpx.Request], every request it received;
                started_count  how many recordings it has created (recover_start must never add one
                               for an intent that already made one).
              It also serves the call check_connection() makes, and register_callback()'s when
              capabilities.registers_callback.
EXPECTED      {mode: {...}} per START_SPECS mode, with the state query() reports after each step:
                "start", "pause" and "resume" (only if the mode can pause), "stop" (the first query
                after stop) and "final" (the query after that); "finish_reason" (a FinishReason);
                "segments": the final query's segments as (user_id, kind, offset_ms, duration_ms),
                offset_ms being play_offset_ms when the vendor places files on the replay timeline,
                else started_at_ms. Compared as multisets.
ERROR_CASES   a list of ErrorCase: a vendor answer (HTTP status + body) and the VendorError it must
              become (code, kind, retryable).
CALLBACKS     an instance of a CallbackCases subclass: signed samples shaped like the documents'
              examples with the events they must parse into, the answer the vendor expects, and
              ways to make tampered / wrong-key / expired / unsigned / redelivered variants.

Only a vendor beyond the brief's five also declares CREDENTIAL_NAMES (its credential names),
DEFAULT_BASE_URL and PAUSE_MODES (the modes that can pause); the five are pinned in the suite.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from recordings.vendors.base import Ack, EventKind, FinishReason, State

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def fixture(vendor: str, name: str) -> Any:
    """A document-shaped JSON example from tests/fixtures/<vendor>/<name>.json."""
    return json.loads((FIXTURES / vendor / f"{name}.json").read_text(encoding="utf-8"))


@dataclass(frozen=True)
class ErrorCase:
    status: int
    body: bytes | Mapping[str, Any]  # a mapping is sent as JSON; bytes are sent as they are
    code: str
    kind: str
    retryable: bool

    @property
    def content(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps(self.body, ensure_ascii=False).encode()

    def __str__(self) -> str:
        return f"{self.status}-{self.code}"


@dataclass(frozen=True)
class ExpectedEvent:
    kind: EventKind
    task_id: str
    occurred_at: datetime
    state: State | None = None
    finish_reason: FinishReason | None = None
    segment_count: int = 0


@dataclass(frozen=True)
class CallbackSample:
    """One delivery as the vendor sends it. Header names are lower-case; `now` is a moment at which
    the delivery is fresh (verify must accept it then)."""

    name: str
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, str] = field(default_factory=dict)
    now: datetime | None = None
    expected: tuple[ExpectedEvent, ...] = ()


class CallbackCases:
    """Subclass per vendor; every method returns a new CallbackSample derived from `sample`."""

    samples: tuple[CallbackSample, ...] = ()
    expected_ack: Ack = Ack()

    def tampered(self, sample: CallbackSample) -> CallbackSample:
        """Signed content altered after signing (whatever the vendor's signature covers)."""
        raise NotImplementedError

    def wrong_key(self, sample: CallbackSample) -> CallbackSample:
        """Correctly signed, but with a key that is not the app's."""
        raise NotImplementedError

    def expired(self, sample: CallbackSample) -> CallbackSample:
        """Correctly signed, presented after its validity (or with a stale timestamp)."""
        raise NotImplementedError

    def unsigned(self, sample: CallbackSample) -> CallbackSample:
        """The signature left out."""
        raise NotImplementedError

    def redelivered(self, sample: CallbackSample) -> CallbackSample:
        """The same event delivered again, as the vendor's retry would send it."""
        raise NotImplementedError
