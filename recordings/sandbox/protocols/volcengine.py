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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

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
