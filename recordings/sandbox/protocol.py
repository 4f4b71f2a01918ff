"""The plug-in interface between the sandbox core and one vendor's wire protocol.

A protocol module subclasses ``VendorProtocol`` and is listed in ``server.PROTOCOLS``. The core owns
the HTTP server, the clock, persistence, rooms, the recording state machine, segment production,
media files, fault injection and callback delivery; the protocol owns everything the vendor's
documents define: paths/actions, authentication, envelopes, field names, vendor states, error codes,
callback bodies and their signatures. See README.md in this folder for a walk-through.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from recordings.sandbox import model

if TYPE_CHECKING:
    from recordings.sandbox.core import Sandbox


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # without the query string
    query_string: str  # raw, as received (TC3 signs it verbatim on GET)
    query: Mapping[str, str]  # first value of each name
    headers: Mapping[str, str]  # case-insensitive (an email.message.Message)
    body: bytes
    client: str = ""

    def header(self, name: str, default: str = "") -> str:
        value = self.headers.get(name)
        return default if value is None else value

    def json(self) -> Any:
        """The JSON body; raises ValueError on anything that is not JSON (protocols map it to their code)."""
        return json.loads(self.body.decode("utf-8") or "null")


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        all_headers = {"Content-Type": "application/json; charset=utf-8"}
        all_headers.update(headers or {})
        return cls(status=status, body=body, headers=all_headers)

    @classmethod
    def text(cls, text: str, status: int = 200) -> Response:
        return cls(
            status=status, body=text.encode("utf-8"), headers={"Content-Type": "text/plain; charset=utf-8"}
        )


@dataclass(frozen=True)
class CallbackPolicy:
    """How the vendor retries a callback: one delay (simulated ms) per retry after a failed attempt."""

    retry_delays_ms: tuple[int, ...] = ()
    timeout_s: float = 5.0


@dataclass(frozen=True)
class OutgoingCallback:
    url: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    method: str = "POST"


@dataclass(frozen=True)
class PlannedStream:
    """A stream the recorder writes files for, with presence in ms from the room's origin."""

    user_id: str
    kind: str
    presence: tuple[tuple[int, int | None], ...]
    formats: tuple[str, ...] = ("mp4",)  # "mp4" and/or "hls"
    slice_ms: int | None = None  # cut files at this length (Agora web MP4 maxVideoDuration)


class VendorProtocol:
    """Base class of a vendor protocol. Override ``handle`` and whatever hooks the vendor needs."""

    vendor: str = ""
    # Vendor-documented delay before a start/pause/resume/stop takes effect (Tencent ~2 s, Agora web ~5 s).
    transition_delay_ms: int = 0
    # Time between "stopped" and "finished" (upload/processing), in simulated ms.
    processing_ms: int = 5_000
    callback_policy: CallbackPolicy = CallbackPolicy()

    def __init__(self, core: Sandbox) -> None:
        self.core = core

    # ---- requests -------------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        """Answer one HTTP request on this vendor's port. Runs with the core lock held."""
        raise NotImplementedError

    def action_of(self, request: Request) -> str:
        """The action name faults are keyed by (X-TC-Action, the path's last part, ?Action=...)."""
        return request.path.rstrip("/").rsplit("/", 1)[-1] or "/"

    def fault_response(self, action: str, error_code: str | None) -> Response:
        """The vendor's own error envelope for an injected error (``error_code`` None = internal error)."""
        return Response.json({"error": error_code or "internal error"}, status=500)

    def outage_response(self, action: str) -> Response:
        """What a client sees while the vendor is down: a gateway 503 unless the vendor documents better."""
        return Response.text("Service Unavailable", status=503)

    # ---- recording life ------------------------------------------------------------------------
    def transition_delay(self, task: model.Task, transition: str) -> int:
        return self.transition_delay_ms

    def before_recording(self, task: model.Task) -> str | None:
        """Called when a start takes effect; return an error word to fail the task instead (bad UserSig)."""
        return None

    def on_state(self, task: model.Task, event: str) -> None:
        """A transition took effect: started, paused, resumed, stopped, finished or failed.

        This is where a protocol updates its vendor-side view and emits callbacks with
        ``self.core.emit_callback``. Runs with the core lock held; do no network I/O here.
        """

    def on_timer(self, task: model.Task | None, name: str, payload: dict[str, Any]) -> None:
        """A timer set with ``core.schedule`` is due."""

    def plan_streams(self, task: model.Task, room: model.Room) -> list[PlannedStream]:
        """Which files the recorder writes for ``task``; the default suits most vendors' modes."""
        if task.mode in ("mixed", "web_page"):
            kind = model.WEB if task.mode == "web_page" else model.MIXED
            present = _union([iv for s in room.streams for iv in s.intervals])
            if task.mode == "web_page":
                present = [(0, None)]  # a web page renders whether or not anyone publishes
            return [PlannedStream(user_id="", kind=kind, presence=tuple(present))]
        return [
            PlannedStream(user_id=s.user_id, kind=s.kind, presence=tuple((a, b) for a, b in s.intervals))
            for s in room.streams
        ]

    def vendor_state(self, task: model.Task) -> str:
        """The vendor's own word for the task's state, shown by the control API's truth view."""
        return task.state

    # ---- callbacks -----------------------------------------------------------------------------
    def build_callback(self, app: model.App, record: model.CallbackRecord, url: str) -> OutgoingCallback:
        """Serialize and sign one delivery attempt of ``record`` to ``url`` (re-signed per attempt)."""
        body = json.dumps(record.payload, ensure_ascii=False).encode("utf-8")
        return OutgoingCallback(url=url, body=body, headers={"Content-Type": "application/json"})

    def callback_acknowledged(self, status: int, body: bytes) -> bool:
        return 200 <= status < 300


def _union(intervals: list[list[int | None]]) -> list[tuple[int, int | None]]:
    merged: list[list[int | None]] = []
    for begin, end in sorted(([a, b] for a, b in intervals), key=lambda iv: iv[0]):
        if merged and (merged[-1][1] is None or begin <= merged[-1][1]):
            last_end = merged[-1][1]
            merged[-1][1] = None if last_end is None or end is None else max(last_end, end)
        else:
            merged.append([begin, end])
    return [(a, b) for a, b in merged]
