"""Volcengine RTC OpenAPI, emulated: whiteboard recording and cloud recording.

Written from seed 000 (StartWBRecord/StopWBRecord) and vendors.md §4 (cloud recording actions,
the V4 HMAC-SHA256 signature, the response envelope, callbacks). Common gateway errors follow
Volcengine's public error-code page (https://volcengine.com/docs/6369/68677); the RTC business
errors follow https://volcengine.com/docs/6348/70426. Never derived from `recordings/vendors/`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, quote

from recordings.sandbox import model
from recordings.sandbox.protocol import (
    CallbackPolicy,
    OutgoingCallback,
    PlannedStream,
    Request,
    Response,
    VendorProtocol,
    _union,
)

REGION = "cn-north-1"
SERVICE = "rtc"
ALGORITHM = "HMAC-SHA256"
# The common-parameter doc gives no number; Volcengine's gateway (like AWS SigV4) accepts a
# 15-minute skew either way (secondary source quoted in the report), so we do the same.
MAX_SKEW = timedelta(minutes=15)
X_DATE_FORMAT = "%Y%m%dT%H%M%SZ"

WB_VERSIONS = frozenset({"2020-12-01", "2023-11-01"})
RECORD_VERSIONS = frozenset({"2022-06-01", "2023-06-01", "2023-11-01"})
# Action → (HTTP method, versions): GetRecordTask is the only GET (vendors.md §4).
ACTIONS: dict[str, tuple[str, frozenset[str]]] = {
    "StartWBRecord": ("POST", WB_VERSIONS),
    "StopWBRecord": ("POST", WB_VERSIONS),
    "StartRecord": ("POST", RECORD_VERSIONS),
    "UpdateRecord": ("POST", RECORD_VERSIONS),
    "StopRecord": ("POST", RECORD_VERSIONS),
    "GetRecordTask": ("GET", RECORD_VERSIONS),
}

TASK_ID_PATTERN = re.compile(r"^[a-zA-Z0-9_@\-.]{1,128}$")

# Task Status and StopReason of GetRecordTask (vendors.md §4).
STATUS_UNKNOWN_ERROR = 0
STATUS_NOT_STARTED = 1
STATUS_RUNNING = 2
STATUS_ENDED = 3
STATUS_FAILED = 4
STOP_REASON_NONE = ""
STOP_REASON_UNKNOWN = "UnknownStopReason"
STOP_REASON_API = "StopByAPI"
STOP_REASON_START_FAILED = "StartTaskFailed"
STOP_REASON_IDLE = "IdleTimeOut"

# The doc says a second StartRecord with a running TaskId answers in `Result` that the task has
# been started; the exact wording is not in our sources, this is our rendering of it.
ALREADY_STARTED_RESULT = (
    "The task has been started. Please do not call the startup task interface repeatedly."
)

# Recording callback event names are NOT FOUND in vendors.md nor in seed 000: these are assumed
# names, to be checked against the Volcengine console documents before relying on them.
EVENT_RECORD_STARTED = "RecordStarted"
EVENT_RECORD_STOPPED = "RecordStopped"
EVENT_RECORD_UPLOAD_DONE = "RecordUploadDone"
CALLBACK_VERSION = "2020-12-01"
# "Answer 200 within 5 s, else retried at most twice" (https://volcengine.com/docs/6348/69820).
CALLBACK_TIMEOUT_SECONDS = 5.0
CALLBACK_MAX_RETRIES = 2


@dataclass(frozen=True)
class VolcError:
    """One row of an error table: HTTP status, numeric and string code, message."""

    http_status: int
    code_n: int
    code: str
    message: str

    def with_message(self, message: str) -> VolcError:
        return VolcError(self.http_status, self.code_n, self.code, message)


# Gateway-wide errors, with the codes, numbers and statuses of doc 6369/68677.
MISSING_PARAMETER = VolcError(400, 100002, "MissingParameter", "The request is missing {} parameter.")
MISSING_REQUEST_INFO = VolcError(400, 100004, "MissingRequestInfo", "The request is missing {} information.")
INVALID_TIMESTAMP = VolcError(400, 100006, "InvalidTimestamp", "The Signature of the request is expired.")
INVALID_ACTION_OR_VERSION = VolcError(
    404, 100008, "InvalidActionOrVersion", "Could not find operation {} for version {}."
)
INVALID_ACCESS_KEY = VolcError(
    401, 100009, "InvalidAccessKey", "The accesskey [{}] included in the request is invalid."
)
SIGNATURE_DOES_NOT_MATCH = VolcError(
    401,
    100010,
    "SignatureDoesNotMatch",
    "The request signature we calculated does not match the signature you provided. "
    "Check your Secret Access Key and signing method. Consult the service documentation for details.",
)
# RTC business errors (doc 6348/70426) carry string codes only; their CodeN is NOT FOUND, so
# the numbers below are ours, kept distinct so a client never mistakes one for another.
INVALID_PARAMETER = VolcError(400, 10001, "InvalidParameter", "{}")
BODY_IS_EMPTY = VolcError(400, 10002, "InvalidParameter.BodyIsEmpty", "The request body is empty.")
UNMARSHAL = VolcError(400, 10003, "InvalidParameter.Unmarshal", "The request body is not valid JSON.")
NOT_EXIST_APP_ID = VolcError(400, 10004, "InvalidParameter.NotExistAppId", "AppId {} does not exist.")
TASK_ALREADY_EXISTS = VolcError(
    400, 10005, "InvalidParameter.TaskAlreadyExists", "Task {} already exists and has ended."
)
ACTIVE_TASK_NOT_FOUND = VolcError(
    400,
    10006,
    "InvalidParameter.ErrorActiveTaskNotFound",
    "The task {} does not exist or has already stopped.",
)
RECORD_NOT_ENABLED = VolcError(403, 10007, "AccessDenied.RecordNotEnabled", "Recording is not enabled.")


def fmt(error: VolcError, *args: object) -> VolcError:
    return error.with_message(error.message.format(*args))


# --- envelope ------------------------------------------------------------------------------


def envelope(
    *, action: str, version: str, request_id: str, result: object = None, error: VolcError | None = None
) -> dict:
    """`{"ResponseMetadata": {...}, "Result": ...}` as in seed 000's examples."""
    metadata: dict = {
        "RequestId": request_id,
        "Action": action,
        "Version": version,
        "Service": SERVICE,
        "Region": REGION,
    }
    if error is not None:
        metadata["Error"] = {"CodeN": error.code_n, "Code": error.code, "Message": error.message}
        return {"ResponseMetadata": metadata}
    return {"ResponseMetadata": metadata, "Result": result}


# --- V4 signature --------------------------------------------------------------------------


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def signing_key(secret_access_key: str, date: str, region: str = REGION, service: str = SERVICE) -> bytes:
    """kDate → kRegion → kService → "request"; the SK is used raw, with no prefix (vendors.md §4)."""
    key = _hmac(secret_access_key.encode(), date)
    key = _hmac(key, region)
    key = _hmac(key, service)
    return _hmac(key, "request")


def canonical_query(pairs: Sequence[tuple[str, str]]) -> str:
    """Keys sorted, every value of a repeated key in arrival order, RFC 3986 escaping, space as %20."""
    grouped: dict[str, list[str]] = {}
    for key, value in pairs:
        grouped.setdefault(key, []).append(value)
    parts = [
        f"{quote(key, safe='-_.~')}={quote(value, safe='-_.~')}"
        for key in sorted(grouped)
        for value in grouped[key]
    ]
    return "&".join(parts)


def canonical_path(path: str) -> str:
    return quote(path or "/", safe="/~").replace("+", "%20")


def _canonical_host(value: str) -> str:
    # Signers drop a default port from Host before signing, so the verifier must too.
    host, sep, port = value.rpartition(":")
    if sep and port in {"80", "443"} and host:
        return host
    return value


def string_to_sign(
    *,
    method: str,
    path: str,
    query_pairs: Sequence[tuple[str, str]],
    headers: Mapping[str, str],
    signed_headers: Sequence[str],
    body: bytes,
    x_date: str,
    region: str = REGION,
    service: str = SERVICE,
) -> str:
    """The exact string the client signed, rebuilt from what the sandbox received."""
    lowered = {name.lower(): value for name, value in headers.items()}
    canonical_headers = ""
    for name in signed_headers:
        value = lowered.get(name, "").strip()
        if name == "host":
            value = _canonical_host(value)
        canonical_headers += f"{name}:{value}\n"
    canonical_request = "\n".join(
        [
            method.upper(),
            canonical_path(path),
            canonical_query(query_pairs),
            canonical_headers,
            ";".join(signed_headers),
            sha256_hex(body),
        ]
    )
    scope = f"{x_date[:8]}/{region}/{service}/request"
    return "\n".join([ALGORITHM, x_date, scope, sha256_hex(canonical_request.encode())])


def sign(
    *,
    method: str,
    path: str,
    query_pairs: Sequence[tuple[str, str]],
    headers: Mapping[str, str],
    signed_headers: Sequence[str],
    body: bytes,
    x_date: str,
    secret_access_key: str,
) -> str:
    text = string_to_sign(
        method=method,
        path=path,
        query_pairs=query_pairs,
        headers=headers,
        signed_headers=signed_headers,
        body=body,
        x_date=x_date,
    )
    return hmac.new(signing_key(secret_access_key, x_date[:8]), text.encode(), hashlib.sha256).hexdigest()


_AUTHORIZATION = re.compile(
    r"^HMAC-SHA256\s+Credential=(?P<credential>[^,\s]+),\s*SignedHeaders=(?P<signed>[^,\s]+),"
    r"\s*Signature=(?P<signature>[0-9a-fA-F]+)\s*$"
)


def verify_request(
    *,
    method: str,
    path: str,
    query_pairs: Sequence[tuple[str, str]],
    headers: Mapping[str, str],
    body: bytes,
    secret_for_access_key: Callable[[str], str | None],
    now: datetime,
) -> tuple[str | None, VolcError | None]:
    """Check a request's V4 signature the way the gateway does: (access key id, None) or (…, error).

    `headers` must be looked up case-insensitively by the caller's mapping or given as received;
    they are lower-cased here. Order of checks: presence, timestamp, access key, scope, signature.
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    authorization = lowered.get("authorization", "")
    x_date = lowered.get("x-date", "")
    if not authorization:
        return None, fmt(MISSING_REQUEST_INFO, "Authorization")
    if not x_date:
        return None, fmt(MISSING_REQUEST_INFO, "X-Date")
    match = _AUTHORIZATION.match(authorization.strip())
    if match is None:
        return None, SIGNATURE_DOES_NOT_MATCH
    try:
        signed_at = datetime.strptime(x_date, X_DATE_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None, INVALID_TIMESTAMP
    if abs(now - signed_at) > MAX_SKEW:
        return None, INVALID_TIMESTAMP
    credential = match["credential"].split("/")
    if len(credential) != 5:
        return None, SIGNATURE_DOES_NOT_MATCH
    access_key_id, date, region, service, terminator = credential
    secret = secret_for_access_key(access_key_id)
    if secret is None:
        return None, fmt(INVALID_ACCESS_KEY, access_key_id)
    if (date, region, service, terminator) != (x_date[:8], REGION, SERVICE, "request"):
        return access_key_id, SIGNATURE_DOES_NOT_MATCH
    signed_headers = match["signed"].split(";")
    if "x-date" not in signed_headers:
        return access_key_id, SIGNATURE_DOES_NOT_MATCH
    expected = sign(
        method=method,
        path=path,
        query_pairs=query_pairs,
        headers=lowered,
        signed_headers=signed_headers,
        body=body,
        x_date=x_date,
        secret_access_key=secret,
    )
    if not hmac.compare_digest(expected, match["signature"].lower()):
        return access_key_id, SIGNATURE_DOES_NOT_MATCH
    return access_key_id, None


# --- callbacks -----------------------------------------------------------------------------


def callback_signature(fields: Mapping[str, str], secret: str) -> str:
    """sha256 hex of the sorted field values plus the secret, joined with nothing (doc 6348/69820)."""
    values = [
        str(fields[name])
        for name in ("EventType", "EventData", "EventTime", "EventId", "AppId", "Version", "Nonce")
    ]
    return hashlib.sha256("".join(sorted([*values, secret])).encode()).hexdigest()


def callback_body(
    *,
    event_type: str,
    event_data: Mapping,
    event_time: str,
    event_id: str,
    app_id: str,
    nonce: str,
    secret: str,
) -> dict:
    """The signed callback envelope; EventData travels as a JSON string, not an object."""
    fields = {
        "EventType": event_type,
        "EventData": json.dumps(event_data, separators=(",", ":"), ensure_ascii=False),
        "EventTime": event_time,
        "EventId": event_id,
        "AppId": app_id,
        "Version": CALLBACK_VERSION,
        "Nonce": nonce,
    }
    return {**fields, "Signature": callback_signature(fields, secret)}


def event_time(moment: datetime) -> str:
    """RFC 3339 in UTC with milliseconds; the doc's exact EventTime format is NOT FOUND (assumed)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


# --- the protocol plugged into the sandbox core --------------------------------------------

MAX_IDLE_DEFAULT_SECONDS = 180
# Retry interval of callbacks: NOT FOUND (only "at most 2 retries"); 5 s is assumed.
CALLBACK_RETRY_DELAYS_MS = (5_000,) * CALLBACK_MAX_RETRIES
STATUS = {
    model.PREPARED: STATUS_NOT_STARTED,
    model.RECORDING: STATUS_RUNNING,
    model.PAUSED: STATUS_RUNNING,
    # Stopped but still uploading: the task is not over until its files are (EndTime stays 0).
    model.STOPPED: STATUS_RUNNING,
    model.FINISHED: STATUS_ENDED,
    model.FAILED: STATUS_FAILED,
}
STOP_REASON = {model.REASON_API: STOP_REASON_API, model.REASON_IDLE: STOP_REASON_IDLE}


class _Refusal(Exception):
    def __init__(self, error: VolcError) -> None:
        super().__init__(error.message)
        self.error = error


class VolcengineProtocol(VendorProtocol):
    """`https://rtc.volcengineapi.com/?Action=&Version=` with V4 signatures.

    Files are "uploaded" to the StorageConfig's bucket: `ObjectKey` is the key there, served at
    `http://<host>:<base port>/media/<bucket>/<ObjectKey>`; with VOD storage a file has a `Vid` only.
    """

    vendor = "volcengine"
    processing_ms = 5_000
    callback_policy = CallbackPolicy(
        retry_delays_ms=CALLBACK_RETRY_DELAYS_MS, timeout_s=CALLBACK_TIMEOUT_SECONDS
    )

    def action_of(self, request: Request) -> str:
        return request.query.get("Action", "")

    def _answer(self, request: Request, *, result: object = None, error: VolcError | None = None) -> Response:
        body = envelope(
            action=request.query.get("Action", ""),
            version=request.query.get("Version", ""),
            request_id=self.core.request_id(),
            result=result,
            error=error,
        )
        return Response.json(body, status=error.http_status if error else 200)

    def fault_response(self, action: str, error_code: str | None) -> Response:
        if not error_code or error_code == "InternalError":
            error = VolcError(
                500, 100014, "InternalError", "Service has some internal Error. Pls Contact With Admin."
            )
        elif error_code.startswith("FlowLimitExceeded"):
            error = VolcError(429, 10008, error_code, "injected by the sandbox")
        else:
            error = VolcError(400, INVALID_PARAMETER.code_n, error_code, "injected by the sandbox")
        body = envelope(action=action, version="", request_id=self.core.request_id(), error=error)
        return Response.json(body, status=error.http_status)

    def handle(self, request: Request) -> Response:
        if request.path not in ("", "/"):
            return self._answer(request, error=fmt(INVALID_ACTION_OR_VERSION, request.path, ""))
        action, version = request.query.get("Action", ""), request.query.get("Version", "")
        if not action:
            return self._answer(request, error=fmt(MISSING_PARAMETER, "Action"))
        if not version:
            return self._answer(request, error=fmt(MISSING_PARAMETER, "Version"))
        access_key_id, error = verify_request(
            method=request.method,
            path=request.path or "/",
            query_pairs=parse_qsl(request.query_string, keep_blank_values=True),
            headers=dict(request.headers.items()),
            body=request.body,
            secret_for_access_key=self._secret_for,
            now=datetime.fromtimestamp(self.core.wall_seconds(), UTC),
        )
        if error is not None:
            return self._answer(request, error=error)
        known = ACTIONS.get(action)
        if known is None or version not in known[1] or request.method != known[0]:
            return self._answer(request, error=fmt(INVALID_ACTION_OR_VERSION, action, version))
        try:
            params = self._params(request)
            app = self._app(params, access_key_id or "")
            handler = {
                "StartWBRecord": self._start_wb,
                "StopWBRecord": self._stop_wb,
                "StartRecord": self._start,
                "UpdateRecord": self._update,
                "StopRecord": self._stop,
                "GetRecordTask": self._get,
            }[action]
            return self._answer(request, result=handler(app, params))
        except _Refusal as refusal:
            return self._answer(request, error=refusal.error)

    def _secret_for(self, access_key_id: str) -> str | None:
        for app in self.core.apps_of(self.vendor):
            if app.secrets.get("access_key_id") == access_key_id:
                return app.secrets.get("secret_access_key", "")
        return None

    @staticmethod
    def _params(request: Request) -> dict[str, Any]:
        if request.method == "GET":
            return dict(request.query)
        if not request.body.strip():
            raise _Refusal(BODY_IS_EMPTY)
        try:
            params = request.json()
        except ValueError as error:
            raise _Refusal(UNMARSHAL) from error
        if not isinstance(params, dict):
            raise _Refusal(UNMARSHAL)
        return params

    def _app(self, params: dict[str, Any], access_key_id: str) -> model.App:
        app_id = params.get("AppId")
        if not isinstance(app_id, str) or not app_id:
            raise _Refusal(fmt(INVALID_PARAMETER, "AppId is required."))
        app = self.core.app(self.vendor, app_id)
        if app is None:
            raise _Refusal(fmt(NOT_EXIST_APP_ID, app_id))
        if app.secrets.get("access_key_id") != access_key_id:
            raise _Refusal(
                VolcError(
                    403,
                    100013,
                    "AccessDenied",
                    f"User is not authorized to perform: rtc on resource: {app_id}.",
                )
            )
        return app

    @staticmethod
    def _ids(params: dict[str, Any]) -> tuple[str, str]:
        room_id, task_id = params.get("RoomId"), params.get("TaskId")
        if not isinstance(room_id, str) or not room_id:
            raise _Refusal(fmt(INVALID_PARAMETER, "RoomId is required."))
        if not isinstance(task_id, str) or not TASK_ID_PATTERN.match(task_id):
            raise _Refusal(fmt(INVALID_PARAMETER, "TaskId must match [a-zA-Z0-9_@\\-.]{1,128}."))
        return room_id, task_id

    def _existing(self, app: model.App, room_id: str, task_id: str) -> model.Task | None:
        task = self.core.task(self.vendor, app.app_id, task_id)
        return task if task is not None and task.room_id == room_id else None

    def _start_common(
        self,
        app: model.App,
        params: dict[str, Any],
        *,
        mode: str,
        extra: dict[str, Any],
        idle_ms: int | None,
        bucket: str | None = None,
    ) -> str:
        room_id, task_id = self._ids(params)
        existing = self.core.task(self.vendor, app.app_id, task_id)
        if existing is not None:
            if existing.active and existing.room_id == room_id:
                # A second start of a running AppId+RoomId+TaskId is answered, not refused (vendors.md §4).
                return ALREADY_STARTED_RESULT
            raise _Refusal(fmt(TASK_ALREADY_EXISTS, task_id))
        task = self.core.create_task(
            self.vendor,
            app.app_id,
            room_id,
            task_id=task_id,
            mode=mode,
            record_user_id=str(params.get("UserId", "")),
            params=params,
            extra={**extra, "business_id": str(params.get("BusinessId", ""))},
            idle_timeout_ms=idle_ms,
        )
        if not extra.get("vod"):
            prefix = (params.get("FileNameConfig") or {}).get("Prefix") or []
            prefix = [prefix] if isinstance(prefix, str) else prefix
            self.core.upload_to(
                task, bucket, "/".join(str(p).strip("/") for p in prefix if str(p).strip("/"))
            )
        return "ok"

    def _start_wb(self, app: model.App, params: dict[str, Any]) -> str:
        if not isinstance(params.get("UserId"), str) or not params["UserId"]:
            raise _Refusal(fmt(INVALID_PARAMETER, "UserId is required."))
        if app.settings.get("wb_record_mode") == "signalling":
            # Seed 000: with signalling-data recording configured in the console, the API call fails.
            raise _Refusal(RECORD_NOT_ENABLED.with_message("Whiteboard video recording is not enabled."))
        # StartWBRecord names no storage: files go to the space chosen in the console (seed 000,
        # 启用白板录制). The sandbox does not know that space's name, so it serves the objects
        # under any bucket name (bucket None).
        return self._start_common(app, params, mode="whiteboard", extra={"formats": ["mp4"]}, idle_ms=None)

    def _start(self, app: model.App, params: dict[str, Any]) -> str:
        record_mode = params.get("RecordMode", 0)
        if record_mode not in (0, 1):
            raise _Refusal(fmt(INVALID_PARAMETER, "RecordMode must be 0 or 1."))
        control = params.get("Control") or {}
        if not isinstance(control, dict):
            raise _Refusal(fmt(INVALID_PARAMETER, "Control must be an object."))
        max_idle = control.get("MaxIdleTime", MAX_IDLE_DEFAULT_SECONDS)
        if not isinstance(max_idle, int) or not 10 <= max_idle <= 86400:
            raise _Refusal(fmt(INVALID_PARAMETER, "Control.MaxIdleTime must be within [10, 86400]."))
        file_formats = (params.get("FileFormatConfig") or {}).get("FileFormat") or ["MP4"]
        if not isinstance(file_formats, list) or not file_formats:
            raise _Refusal(fmt(INVALID_PARAMETER, "FileFormatConfig.FileFormat must be a list."))
        unknown = {str(f).upper() for f in file_formats} - {"MP4", "HLS", "FLV", "MP3", "AAC", "M4A"}
        if unknown:
            raise _Refusal(fmt(INVALID_PARAMETER, f"Unknown FileFormat {sorted(unknown)}."))
        formats = [f.lower() for f in (str(f).upper() for f in file_formats) if f in ("MP4", "HLS")]
        if not formats:
            raise _Refusal(fmt(INVALID_PARAMETER, "The sandbox records MP4 or HLS only."))
        bucket, vod = self._storage(params)
        return self._start_common(
            app,
            params,
            mode="individual" if record_mode == 1 else "mixed",
            extra={"formats": formats, "vod": vod},
            idle_ms=max_idle * 1000,
            bucket=bucket,
        )

    @staticmethod
    def _storage(params: dict[str, Any]) -> tuple[str | None, bool]:
        """StorageConfig → (bucket, is VOD) (vendors.md §4 StartRecord): Type 0 TOS (TosConfig.Bucket),
        1 VOD (VodConfig.Space; files named by Vid), 2 a third-party S3-compatible store
        (CustomConfig.Vendor 0 Amazon S3, 1 Alibaba OSS, 2 Huawei OBS, 3 Tencent COS, 4 Qiniu Kodo).
        Absent: the storage set in the console, whose bucket the sandbox does not know (None)."""
        config = params.get("StorageConfig")
        if config is None:
            return None, False
        if not isinstance(config, dict):
            raise _Refusal(fmt(INVALID_PARAMETER, "StorageConfig must be an object."))
        kind = config.get("Type", 0)
        if kind == 1:
            space = (config.get("VodConfig") or {}).get("Space")
            if not isinstance(space, str) or not space:
                raise _Refusal(fmt(INVALID_PARAMETER, "StorageConfig.VodConfig.Space is required."))
            return None, True
        if kind == 0:
            bucket = (config.get("TosConfig") or {}).get("Bucket")
        elif kind == 2:
            custom = config.get("CustomConfig") or {}
            if custom.get("Vendor") not in (0, 1, 2, 3, 4):
                raise _Refusal(
                    fmt(INVALID_PARAMETER, "StorageConfig.CustomConfig.Vendor must be within [0, 4].")
                )
            for name in ("AccessKey", "SecretKey"):
                if not isinstance(custom.get(name), str) or not custom[name]:
                    raise _Refusal(fmt(INVALID_PARAMETER, f"StorageConfig.CustomConfig.{name} is required."))
            bucket = custom.get("Bucket")
        else:
            raise _Refusal(fmt(INVALID_PARAMETER, "StorageConfig.Type must be 0, 1 or 2 in the sandbox."))
        if not isinstance(bucket, str) or not bucket:
            raise _Refusal(fmt(INVALID_PARAMETER, "StorageConfig bucket is required."))
        return bucket, False

    def _active(self, app: model.App, params: dict[str, Any], *, whiteboard: bool) -> model.Task:
        room_id, task_id = self._ids(params)
        task = self._existing(app, room_id, task_id)
        if task is None or task.stop_requested or (task.mode == "whiteboard") != whiteboard:
            raise _Refusal(fmt(ACTIVE_TASK_NOT_FOUND, task_id))
        return task

    def _stop_wb(self, app: model.App, params: dict[str, Any]) -> str:
        self.core.request(self._active(app, params, whiteboard=True), model.STOP)
        return "ok"

    def _stop(self, app: model.App, params: dict[str, Any]) -> str:
        self.core.request(self._active(app, params, whiteboard=False), model.STOP)
        return "ok"

    def _update(self, app: model.App, params: dict[str, Any]) -> str:
        task = self._active(app, params, whiteboard=False)
        # Layout and subscription only: Volcengine has no pause (vendors.md §4).
        task.extra["layout"] = {k: params[k] for k in ("Layout", "TargetStreams") if k in params}
        self.core.save_task(task)
        return "ok"

    def _get(self, app: model.App, params: dict[str, Any]) -> dict[str, Any]:
        room_id, task_id = self._ids(params)
        task = self._existing(app, room_id, task_id)
        # GetRecordTask for a whiteboard task is assumed to work: no WB query action is documented.
        if task is None:
            raise _Refusal(fmt(ACTIVE_TASK_NOT_FOUND, task_id))
        return {"RecordTask": self._record_task(task)}

    # ---- the vendor's view -------------------------------------------------------------------
    def vendor_state(self, task: model.Task) -> str:
        return str(STATUS[task.state])

    def _stop_reason(self, task: model.Task) -> str:
        if task.state == model.FAILED:
            return STOP_REASON_START_FAILED if task.started_ms is None else STOP_REASON_UNKNOWN
        if task.state != model.FINISHED:
            return STOP_REASON_NONE
        return STOP_REASON.get(task.finish_reason or "", STOP_REASON_UNKNOWN)

    def _record_task(self, task: model.Task) -> dict[str, Any]:
        ended = task.state in model.TERMINAL_STATES
        files = self.core.segments_of(task) if ended else []
        return {
            "StartTime": task.started_ms or 0,
            "EndTime": (task.stopped_ms or task.finished_ms or 0) if ended else 0,
            "Status": STATUS[task.state],
            "StopReason": self._stop_reason(task),
            "RecordFileList": [self._file(task, s) for s in files],
        }

    def _file(self, task: model.Task, segment: model.Segment) -> dict[str, Any]:
        whiteboard = segment.kind == model.WHITEBOARD
        if segment.kind == model.MIXED or whiteboard:
            streams = [
                {"Index": index, "StreamType": 0, "UserId": s.user_id}
                for index, s in enumerate(self._room_streams(task))
            ]
        else:
            streams = [
                {
                    "Index": 0,
                    "StreamType": 1 if segment.kind == model.SCREEN else 0,
                    "UserId": segment.user_id,
                }
            ]
        wide = segment.kind == model.MIXED or whiteboard
        # Vid only for VOD storage, ObjectKey only for object storage ("仅在你选择配置存储到…时有效").
        vod = bool(task.extra.get("vod"))
        return {
            "Vid": segment.file_id if vod else "",
            "ObjectKey": "" if vod else self.core.object_key(task, segment),
            "Duration": segment.duration_ms,
            "Size": segment.size,
            "StartTime": segment.start_ms,
            "StreamList": streams,
            "VideoCodec": "h264",
            "AudioCodec": "" if whiteboard else "aac",
            "VideoWidth": 1280 if wide else 640,
            "VideoHeight": 720 if wide else 360,
        }

    def _room_streams(self, task: model.Task) -> list[model.ScenarioStream]:
        room = self.core.room(self.vendor, task.app_id, task.room_id)
        return [s for s in room.streams if s.kind in (model.CAMERA, model.AUDIO)]

    def plan_streams(self, task: model.Task, room: model.Room) -> list[PlannedStream]:
        formats = tuple(task.extra.get("formats", ["mp4"]))
        if task.mode == "whiteboard":
            # The server renders the whiteboard page whether or not anyone draws (seed 000).
            return [PlannedStream(user_id="", kind=model.WHITEBOARD, presence=((0, None),), formats=formats)]
        streams = [s for s in room.streams if s.kind != model.WHITEBOARD]
        if task.mode == "mixed":
            presence = _union([iv for s in streams for iv in s.intervals])
            return [PlannedStream(user_id="", kind=model.MIXED, presence=tuple(presence), formats=formats)]
        return [
            PlannedStream(
                user_id=s.user_id,
                kind=s.kind,
                presence=tuple((a, b) for a, b in s.intervals),
                formats=formats,
            )
            for s in streams
        ]

    # ---- callbacks ---------------------------------------------------------------------------
    def on_state(self, task: model.Task, event: str) -> None:
        data: dict[str, Any] = {
            "AppId": task.app_id,
            "BusinessId": task.extra.get("business_id", ""),
            "RoomId": task.room_id,
            "TaskId": task.task_id,
        }
        if event == "started":
            self._emit(task, EVENT_RECORD_STARTED, data)
        elif event == "stopped":
            self._emit(
                task,
                EVENT_RECORD_STOPPED,
                {**data, "StopReason": STOP_REASON.get(task.finish_reason or "", "")},
            )
        elif event == "finished":
            files = [self._file(task, s) for s in self.core.segments_of(task)]
            self._emit(
                task,
                EVENT_RECORD_UPLOAD_DONE,
                {
                    **data,
                    "Code": 0 if files else 1,
                    "ErrorMessage": "" if files else "no file",
                    "RecordFileList": files,
                },
            )
        elif event == "failed":
            self._emit(task, EVENT_RECORD_STOPPED, {**data, "StopReason": self._stop_reason(task), "Code": 1})

    def _emit(self, task: model.Task, event_type: str, data: dict[str, Any]) -> None:
        payload = {
            "EventType": event_type,
            "EventData": data,
            # EventTime is the callback's only time and receivers check its freshness with their real
            # clocks (sandbox README "Time"), so it is stamped with the real clock at the event.
            "EventTime": event_time(datetime.fromtimestamp(self.core.wall_seconds(), UTC)),
            "EventId": uuid.uuid4().hex,
        }
        self.core.emit_callback(task, event_type, payload)

    def build_callback(self, app: model.App, record: model.CallbackRecord, url: str) -> OutgoingCallback:
        payload = record.payload
        body = callback_body(
            event_type=payload["EventType"],
            event_data=payload["EventData"],
            event_time=payload["EventTime"],
            event_id=payload["EventId"],
            app_id=app.app_id,
            nonce=secrets.token_hex(4),
            secret=app.secrets.get("callback_secret", ""),
        )
        raw = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        return OutgoingCallback(url=url, body=raw, headers={"Content-Type": "application/json"})

    def callback_acknowledged(self, status: int, body: bytes) -> bool:
        return status == 200
