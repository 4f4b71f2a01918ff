"""The sandbox's own records: apps, rooms, tasks, segments, callbacks. Plain dataclasses, JSON-persisted.

Times ending in ``_ms`` are simulated epoch milliseconds (see ``clock.py``) unless said otherwise.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

# The generic recording states every vendor's vocabulary is mapped from (by the protocol module).
PREPARED = "prepared"
RECORDING = "recording"
PAUSED = "paused"
STOPPED = "stopped"
FINISHED = "finished"
FAILED = "failed"
TERMINAL_STATES = frozenset({FINISHED, FAILED})

# Transitions a protocol asks for; each takes effect after the vendor's documented delay.
START = "start"
PAUSE = "pause"
RESUME = "resume"
STOP = "stop"

# Why a task ended, vendor-neutral; protocols map these to their own words (Tencent USER_CALL/AUTO...).
REASON_API = "api"
REASON_IDLE = "idle"
REASON_ERROR = "error"

# Error kept on a task that ended without media: protocols turn it into 40002 / 435 / ...
ERROR_NO_FILE = "no_file"

# Stream kinds, the same words as recordings.choices.SegmentKind plus the web-page stream.
CAMERA = "camera"
SCREEN = "screen"
WHITEBOARD = "whiteboard"
MIXED = "mixed"
AUDIO = "audio"
WEB = "web"


def _from_dict(cls, data: dict[str, Any]):
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class App:
    vendor: str
    app_id: str
    secrets: dict[str, str] = field(default_factory=dict)
    callback_url: str = ""
    # Vendor-side settings a protocol may change through the vendor's own API (TIW callback key, ...).
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> App:
        return _from_dict(cls, data)

    def public_dict(self) -> dict[str, Any]:
        """What the control API shows: secret names, never their values."""
        return {
            "vendor": self.vendor,
            "app_id": self.app_id,
            "secrets": sorted(self.secrets),
            "callback_url": self.callback_url,
            "settings": {
                k: ("<set>" if "key" in k or "secret" in k else v) for k, v in self.settings.items()
            },
        }


@dataclass
class ScenarioStream:
    """One published stream in a room: who, what, and when (ms from the room's origin; None = open end)."""

    user_id: str
    kind: str
    intervals: list[list[int | None]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScenarioStream:
        return _from_dict(cls, data)


@dataclass
class Room:
    vendor: str
    app_id: str
    room_id: str
    scenario: str = "classroom"
    streams: list[ScenarioStream] = field(default_factory=list)
    # Set when the first recording in the room begins, so scenario times read as offsets from it.
    origin_ms: int | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["streams"] = [s.to_dict() for s in self.streams]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Room:
        room = _from_dict(cls, data)
        room.streams = [ScenarioStream.from_dict(s) for s in data.get("streams", [])]
        return room


@dataclass
class Task:
    vendor: str
    app_id: str
    task_id: str
    room_id: str
    mode: str = "individual"
    record_user_id: str = ""
    state: str = PREPARED
    # Requested transitions not yet in effect, oldest first (the vendor's ~2 s delay).
    pending: list[str] = field(default_factory=list)
    # Recording intervals [begin_ms, end_ms or None]; a pause closes one, a resume opens the next.
    intervals: list[list[int | None]] = field(default_factory=list)
    created_ms: int = 0
    started_ms: int | None = None
    stopped_ms: int | None = None
    finished_ms: int | None = None
    finish_reason: str | None = None
    error: str | None = None
    idle_timeout_ms: int | None = None
    # The start request as the vendor received it (protocol-defined shape).
    params: dict[str, Any] = field(default_factory=dict)
    # Protocol-owned mutable data (Agora resourceId, ZEGO ids, ...). The core never reads it.
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return task_key(self.vendor, self.app_id, self.task_id)

    @property
    def logical_state(self) -> str:
        """The state once every pending transition has taken effect: what illegal-move checks look at.

        A pending start still reads "prepared": until the recorder has joined, vendors refuse a pause.
        """
        state = self.state
        for transition in self.pending:
            state = {START: PREPARED, PAUSE: PAUSED, RESUME: RECORDING, STOP: STOPPED}[transition]
        return state

    @property
    def stop_requested(self) -> bool:
        return STOP in self.pending or self.state in (STOPPED, FINISHED, FAILED)

    @property
    def active(self) -> bool:
        return self.state not in (STOPPED, FINISHED, FAILED) and STOP not in self.pending

    @property
    def recorded_ms(self) -> int:
        """Length of the replay timeline so far (closed intervals only)."""
        return sum(end - begin for begin, end in self.intervals if end is not None)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Task:
        return _from_dict(cls, data)


def task_key(vendor: str, app_id: str, task_id: str) -> str:
    return f"{vendor}/{app_id}/{task_id}"


@dataclass
class Segment:
    vendor: str
    app_id: str
    task_id: str
    segment_id: str
    user_id: str
    kind: str
    start_ms: int
    duration_ms: int
    # Offset on the replay timeline (pauses cut out), what Tencent calls VideoPlayTime.
    replay_offset_ms: int
    format: str = "mp4"
    # Relative to the media directory; for HLS the playlist path.
    path: str = ""
    size: int = 0
    status: str = "rendering"  # rendering | ready | failed
    file_id: str = ""
    # Index of the recording interval (0 before the first pause) and of the slice inside it.
    interval_index: int = 0
    slice_index: int = 0

    @property
    def key(self) -> str:
        return f"{task_key(self.vendor, self.app_id, self.task_id)}/{self.segment_id}"

    @property
    def end_ms(self) -> int:
        return self.start_ms + self.duration_ms

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Segment:
        return _from_dict(cls, data)


@dataclass
class CallbackRecord:
    callback_id: int
    vendor: str
    app_id: str
    task_id: str
    event: str
    payload: dict[str, Any]
    created_ms: int
    next_due_ms: int
    # pending | delivered | failed (retries exhausted) | dropped (fault) | no_url | held (reorder fault)
    status: str = "pending"
    url: str = ""  # per-task override (ZEGO/Volcengine CallbackUrl in the start request); "" = the app's
    attempts: list[dict[str, Any]] = field(default_factory=list)
    duplicate_of: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CallbackRecord:
        return _from_dict(cls, data)
