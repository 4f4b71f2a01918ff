"""The one interface every vendor adapter implements, and the values it speaks in.

Adapters translate between these frozen dataclasses and one vendor's wire protocol. They never
touch the ORM and never hold state between calls: recordings/lifecycle.py owns state, and
recordings/vendors/registry.py builds an adapter from a VendorApp row.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from recordings.choices import FinishReason, Mode, SegmentKind
from recordings.choices import ObservedState as State

if TYPE_CHECKING:
    from recordings.vendors.http import VendorHttp

__all__ = [
    "Ack",
    "AppConfig",
    "CallbackRejected",
    "Capabilities",
    "clean_option_fields",
    "epoch_ms",
    "required_field",
    "CredentialField",
    "EventKind",
    "FinishReason",
    "Mode",
    "OptionField",
    "SegmentInfo",
    "SegmentKind",
    "StartSpec",
    "State",
    "StorageSpec",
    "TaskRef",
    "VendorAdapter",
    "VendorError",
    "VendorEvent",
    "VendorStatus",
]


# ---------------------------------------------------------------- configuration


@dataclass(frozen=True)
class CredentialField:
    """A secret an app of this vendor needs; the admin form asks for it by `name`."""

    name: str
    label: str
    help: str = ""
    required: bool = True


@dataclass(frozen=True)
class AppConfig:
    """Everything an adapter knows about the app it talks for."""

    vendor: str
    app_id: str
    base_url: str
    region: str = ""
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)
    max_duration_seconds: int = 24 * 3600
    idle_stop_seconds: int = 300

    def secret(self, name: str) -> str:
        value = self.secrets.get(name, "")
        if not value:
            raise VendorError(
                "missing_credential",
                f"The app has no {name} set.",
                kind="config",
                explanation_en=f"This app's credential “{name}” is not set.",
                explanation_zh=f"此应用未设置凭据“{name}”。",
                fix_en="An admin sets it on the app's page under Credentials.",
                fix_zh="请管理员在应用页面的“凭据”中设置。",
            )
        return value


@dataclass(frozen=True)
class OptionField:
    """One vendor-specific start option, from which the start form builds its input.

    `type` is one of: "int", "str", "bool", "json", "choice", "url", "multichoice".
    """

    name: str
    label: str
    type: str
    default: Any = None
    required: bool = False
    help: str = ""
    choices: tuple[tuple[str, str], ...] = ()
    min_value: int | None = None
    max_value: int | None = None


def clean_option_fields(fields: tuple[OptionField, ...], options: Mapping[str, Any]) -> dict[str, Any]:
    """Coerce each declared option to its type, apply defaults and bounds; ValueError names the field.
    Unknown keys are dropped so that only declared options reach the vendor."""
    cleaned: dict[str, Any] = {}
    for f in fields:
        value = options.get(f.name, f.default)
        if value is None or value == "":
            if f.required:
                raise ValueError(f"{f.name}: this option is required")
            if f.default is not None:
                cleaned[f.name] = f.default
            continue
        if f.type == "int" or (f.type == "choice" and isinstance(f.default, int)):
            try:
                value = int(value)
            except (TypeError, ValueError):
                raise ValueError(f"{f.name}: expected a whole number") from None
            if f.min_value is not None and value < f.min_value:
                raise ValueError(f"{f.name}: must be at least {f.min_value}")
            if f.max_value is not None and value > f.max_value:
                raise ValueError(f"{f.name}: must be at most {f.max_value}")
        elif f.type == "json" and isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                raise ValueError(f"{f.name}: not valid JSON") from None
        elif f.type == "multichoice":
            if isinstance(value, str):
                value = [v for v in value.split(",") if v]
            value = [str(v) for v in value]
        elif f.type in ("str", "url"):
            value = str(value).strip()
        if f.choices:
            allowed = {str(c) for c, _label in f.choices}
            values = value if isinstance(value, list) else [value]
            bad = [v for v in values if str(v) not in allowed]
            if bad:
                raise ValueError(f"{f.name}: {bad[0]!r} is not one of {', '.join(sorted(allowed))}")
        cleaned[f.name] = value
    return cleaned


def epoch_ms(value: Any) -> datetime | None:
    """A vendor's epoch-milliseconds field as a datetime; missing, malformed or 0 (ZEGO's and
    Volcengine's "not yet", e.g. the end of a running recording) give None."""
    try:
        return datetime.fromtimestamp(int(value) / 1000, tz=UTC) if int(value) else None
    except (TypeError, ValueError):
        return None


def required_field(data: Mapping[str, Any], name: str) -> str:
    """A field an answer must carry; its absence makes the answer malformed (ValueError)."""
    value = data.get(name)
    if not value:
        raise ValueError(f"no {name}")
    return str(value)


@dataclass(frozen=True)
class Capabilities:
    modes: frozenset[Mode]
    pause_modes: frozenset[Mode] = frozenset()
    layout_modes: frozenset[Mode] = frozenset()
    whiteboard_modes: frozenset[Mode] = frozenset()
    registers_callback: bool = False
    # False where the vendor's query cannot say "paused" (Tencent legacy: prepared, recording,
    # finished only): then an accepted pause/resume answer is the only news of it.
    reports_pause: bool = True

    def can_pause(self, mode: str) -> bool:
        return mode in self.pause_modes

    def can_update_layout(self, mode: str) -> bool:
        return mode in self.layout_modes

    def can_update_whiteboard(self, mode: str) -> bool:
        return mode in self.whiteboard_modes


# ---------------------------------------------------------------- recording values


@dataclass(frozen=True)
class StorageSpec:
    """Where the vendor should upload; each adapter maps `provider` to its vendor's storage code."""

    provider: str
    region: str = ""
    bucket: str = ""
    endpoint: str = ""
    access_key: str = ""
    secret: str = field(default="", repr=False)
    prefix: str = ""


@dataclass(frozen=True)
class StartSpec:
    room_id: str
    mode: Mode
    # Our stable id for this start intent (the RecordingTask's pk). Where the vendor lets the caller
    # name the recording (Volcengine TaskId, Tencent RecordUserId), the name derives from it, so a
    # repeated start of one intent is refused by the vendor instead of making a second recording.
    intent_key: str
    group_id: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)
    storage: StorageSpec | None = None
    callback_url: str = ""


@dataclass(frozen=True)
class TaskRef:
    """How the vendor knows a recording. Agora needs resource_id and sid; Volcengine room_id."""

    task_id: str
    room_id: str
    mode: Mode
    resource_id: str = ""
    sid: str = ""
    record_user_id: str = ""


@dataclass(frozen=True)
class SegmentInfo:
    """One output file. Vendors place files either on the replay timeline (pauses cut out,
    Tencent's VideoPlayTime) or on the wall clock (epoch ms); an adapter fills the one it has.
    """

    file_id: str
    kind: SegmentKind
    duration_ms: int
    user_id: str = ""
    play_offset_ms: int | None = None
    started_at_ms: int | None = None
    size_bytes: int = 0
    format: str = ""
    url: str = ""
    # Vendors that upload to the customer's storage name the object, not a URL (Agora fileName,
    # Volcengine ObjectKey); the lifecycle makes the URL from the task's StorageTarget.
    object_key: str = ""
    width: int | None = None
    height: int | None = None
    # duration_ms is an upper bound, not a measure: the file ended no later than the listing was
    # made (Agora names no durations; a lane's last file ends by the answer's time). Of several
    # listings of the file the smallest bound is the truest, where of measures it is the largest.
    duration_is_bound: bool = False


@dataclass(frozen=True)
class VendorStatus:
    """A recording as the vendor sees it now."""

    state: State
    vendor_state: str
    finish_reason: FinishReason | None = None
    finish_detail: str = ""
    started_at: datetime | None = None
    stopped_at: datetime | None = None
    segments: tuple[SegmentInfo, ...] = ()
    error_code: str = ""
    error_message: str = ""


class EventKind(StrEnum):
    STARTED = "started"
    PAUSED = "paused"
    RESUMED = "resumed"
    STOPPED = "stopped"
    FINISHED = "finished"
    FAILED = "failed"
    SEGMENTS = "segments"
    OTHER = "other"


@dataclass(frozen=True)
class VendorEvent:
    """One thing a callback told us. `delivery_key` is unique per vendor: the same event redelivered
    carries the same key. `state` is what the event implies, or None if it implies no state."""

    delivery_key: str
    kind: EventKind
    vendor_event: str
    task_id: str
    occurred_at: datetime
    state: State | None = None
    finish_reason: FinishReason | None = None
    finish_detail: str = ""
    started_at: datetime | None = None
    stopped_at: datetime | None = None
    segments: tuple[SegmentInfo, ...] = ()
    record_user_id: str = ""
    room_id: str = ""
    error_code: str = ""
    error_message: str = ""
    # The vendor's per-recording event counter, where it has one (ZEGO): orders events whose
    # timestamp tells when they were sent rather than when they happened.
    sequence: int | None = None


@dataclass(frozen=True)
class Ack:
    """What to answer a callback with, exactly as the vendor expects."""

    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"


# ---------------------------------------------------------------- errors


class VendorError(Exception):
    """Anything a vendor call can go wrong with, explained for people.

    kind: "timeout" (the request may have reached the vendor), "connect" (it surely did not),
    "auth", "not_found", "conflict" (illegal in the current state), "rate_limited", "server",
    "invalid" (our request was wrong), "malformed" (the answer made no sense), "config" (our own
    app configuration is incomplete), "vendor" (any other vendor refusal).
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        kind: str = "vendor",
        http_status: int | None = None,
        retryable: bool = False,
        explanation_en: str = "",
        explanation_zh: str = "",
        fix_en: str = "",
        fix_zh: str = "",
        request_id: str = "",
    ) -> None:
        super().__init__(f"[{code}] {message}")
        self.code = str(code)
        self.message = message
        self.kind = kind
        self.http_status = http_status
        self.retryable = retryable
        self.explanation_en = explanation_en or message
        self.explanation_zh = explanation_zh or message
        self.fix_en = fix_en
        self.fix_zh = fix_zh
        self.request_id = request_id

    @property
    def request_may_have_arrived(self) -> bool:
        return self.kind in {"timeout", "malformed", "server"}


class CallbackRejected(Exception):
    """A callback failed verification (bad or missing signature, expired, unknown app)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# ---------------------------------------------------------------- the interface


class VendorAdapter(Protocol):
    """What every vendor module provides. Each method cites the vendor document it implements."""

    key: ClassVar[str]
    label: ClassVar[str]
    default_base_url: ClassVar[str]
    credential_fields: ClassVar[tuple[CredentialField, ...]]
    capabilities: ClassVar[Capabilities]
    http: VendorHttp

    def __init__(self, config: AppConfig, http: VendorHttp) -> None: ...

    # Start options the form shows for a mode, and their validation (raises ValueError with a
    # message naming the field); returns the cleaned options.
    def option_fields(self, mode: Mode) -> tuple[OptionField, ...]: ...
    def clean_options(self, mode: Mode, options: Mapping[str, Any]) -> dict[str, Any]: ...

    def start(self, spec: StartSpec) -> TaskRef: ...
    # After a start whose answer was lost (timeout): the recording this intent made, if the vendor
    # can tell; None if it surely made none. Raises VendorError when the vendor cannot tell.
    def recover_start(self, spec: StartSpec) -> TaskRef | None: ...
    def pause(self, ref: TaskRef) -> None: ...
    def resume(self, ref: TaskRef) -> None: ...
    # Returns the vendor's status when its stop answer carries one (Agora's file list), else None.
    def stop(self, ref: TaskRef) -> VendorStatus | None: ...
    def query(self, ref: TaskRef) -> VendorStatus: ...
    def update_layout(self, ref: TaskRef, layout: Mapping[str, Any]) -> None: ...
    def update_whiteboard(self, ref: TaskRef, whiteboard: Mapping[str, Any]) -> None: ...
    def register_callback(self, url: str) -> str: ...
    def check_connection(self) -> str: ...

    # Callbacks. Headers arrive with lower-case names. verify raises CallbackRejected.
    def verify(
        self, body: bytes, headers: Mapping[str, str], query: Mapping[str, str], now: datetime
    ) -> None: ...
    def parse(
        self, body: bytes, headers: Mapping[str, str], query: Mapping[str, str]
    ) -> list[VendorEvent]: ...
    def ack(self) -> Ack: ...
