"""Agora Cloud Recording RESTful API and its NCS notifications, emulated.

Written from seed 003 (web page recording) and vendors.md §2 (source keys AG-DOC, AG-GO: paths,
Basic auth, acquire/start/query/update/updateLayout/stop bodies, status and error codes, NCS
payloads and signatures). Never derived from `recordings/vendors/`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

MODES = ("individual", "mix", "web")
# "resourceId valid 5 min" after acquire (AG-DOC 获取云端录制资源.md).
RESOURCE_TTL_SECONDS = 300
# Seed 003 §RESTful API 请求: "about 5 s from the request to the start of page recording".
WEB_STARTUP_SECONDS = 5.0
WEB_RECORDER_SERVICE = "web_recorder_service"
# web: maxVideoDuration (minutes, 30..240, default 120) is the length of one MP4 slice.
WEB_MAX_VIDEO_DURATION_DEFAULT_MINUTES = 120

# serverResponse.status of query (vendors.md §2).
STATUS_NOT_STARTED = 0
STATUS_INITIALISED = 1
STATUS_COMPONENTS_STARTING = 2
STATUS_PARTLY_READY = 3
STATUS_ALL_READY = 4
STATUS_IN_PROGRESS = 5
STATUS_STOP_REQUESTED = 6
STATUS_ALL_STOPPED = 7
STATUS_EXITED = 8
STATUS_ABNORMAL_EXIT = 20

PRODUCT_ID_CLOUD_RECORDING = 3
# NCS eventType → details.msgName for the events the sandbox emits (vendors.md §2).
EVENT_MSG_NAMES: dict[int, str] = {
    1: "cloud_recording_error",
    11: "session_exit",
    30: "uploader_started",
    31: "uploaded",
    40: "recorder_started",
    41: "recorder_leave",
    42: "recorder_slice_start",
    70: "web_recorder_started",
    71: "web_recorder_stopped",
}
# NCS serviceType of payload: 0 cloud recording, 1 recorder, 2 uploader, 6 web recorder.
SERVICE_TYPE_CLOUD_RECORDING = 0
SERVICE_TYPE_RECORDER = 1
SERVICE_TYPE_UPLOADER = 2
SERVICE_TYPE_WEB_RECORDER = 6
# Current NCS docs: answer 200 within 10 s, else resent with a growing interval, at most 3 retries.
CALLBACK_TIMEOUT_SECONDS = 10.0
CALLBACK_MAX_RETRIES = 3
CALLBACK_RETRY_INTERVALS_SECONDS = (1.0, 2.0, 4.0)

# Agora's gateway (Kong) answers failed Basic auth and unknown routes with `{"message": ...}`.
UNAUTHORIZED_MESSAGE = "Invalid authentication credentials"
NO_ROUTE_MESSAGE = "no Route matched with those values"


@dataclass(frozen=True)
class AgoraError:
    """A business error: HTTP status and `{"code", "reason"}` (AG-DOC common_errors.md)."""

    http_status: int
    code: int
    reason: str


INVALID_PARAMETER = AgoraError(400, 2, "invalid parameter")
ALREADY_RECORDING = AgoraError(400, 7, "the recording is already running for this resourceId")
BAD_REQUEST = AgoraError(400, 8, "the HTTP request header, URL, method or JSON body is wrong")
REPEATED_STOP = AgoraError(400, 49, "repeated stop: the recording has already been stopped")
CHANNEL_UID_ALREADY_RECORDING = AgoraError(400, 53, "a recording is already running for this cname and uid")
PARAMS_MISMATCH = AgoraError(400, 432, "request parameters do not match the resourceId")
RESOURCE_EXPIRED = AgoraError(400, 433, "the resourceId has expired")
NO_FILE = AgoraError(400, 435, "no recorded file was created")
RESOURCE_UNDECRYPTABLE = AgoraError(400, 1001, "failed to decrypt the resourceId")
LAYOUT_BODY_ERROR = AgoraError(400, 1028, "updateLayout request body is wrong")
NOT_FOUND = AgoraError(404, 404, "failed to find worker")


def invalid_parameter(detail: str) -> AgoraError:
    return AgoraError(INVALID_PARAMETER.http_status, INVALID_PARAMETER.code, detail)


def error_body(error: AgoraError, **ids: str) -> dict:
    """The body of a refused call: the identifiers Agora echoes, then `code` and `reason`."""
    return {**{key: value for key, value in ids.items() if value}, "code": error.code, "reason": error.reason}


def basic_auth_ok(header: str | None, *, customer_id: str, customer_secret: str) -> bool:
    """HTTP Basic, base64(customerId:customerSecret) (AG-GO auth/basic.go; RFC 7617)."""
    if not header:
        return False
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return False
    user, sep, password = decoded.partition(":")
    if not sep:
        return False
    user_ok = hmac.compare_digest(user.encode(), customer_id.encode())
    password_ok = hmac.compare_digest(password.encode(), customer_secret.encode())
    return user_ok and password_ok


@dataclass(frozen=True)
class Route:
    action: str
    app_id: str
    resource_id: str = ""
    sid: str = ""
    mode: str = ""


_PREFIX = r"^/v1/apps/(?P<app_id>[^/]+)/cloud_recording"
_ROUTES: tuple[tuple[str, str, re.Pattern[str]], ...] = (
    ("POST", "acquire", re.compile(_PREFIX + r"/acquire/?$")),
    (
        "POST",
        "start",
        re.compile(_PREFIX + r"/resourceid/(?P<resource_id>[^/]+)/mode/(?P<mode>[^/]+)/start/?$"),
    ),
    (
        "GET",
        "query",
        re.compile(
            _PREFIX + r"/resourceid/(?P<resource_id>[^/]+)/sid/(?P<sid>[^/]+)/mode/(?P<mode>[^/]+)/query/?$"
        ),
    ),
    (
        "POST",
        "update",
        re.compile(
            _PREFIX + r"/resourceid/(?P<resource_id>[^/]+)/sid/(?P<sid>[^/]+)/mode/(?P<mode>[^/]+)/update/?$"
        ),
    ),
    (
        "POST",
        "updateLayout",
        re.compile(
            _PREFIX
            + r"/resourceid/(?P<resource_id>[^/]+)/sid/(?P<sid>[^/]+)/mode/(?P<mode>[^/]+)/updateLayout/?$"
        ),
    ),
    (
        "POST",
        "stop",
        re.compile(
            _PREFIX + r"/resourceid/(?P<resource_id>[^/]+)/sid/(?P<sid>[^/]+)/mode/(?P<mode>[^/]+)/stop/?$"
        ),
    ),
)


def route(method: str, path: str) -> Route | None:
    """The REST action a method and path name, or None (the gateway's "no Route matched")."""
    for route_method, action, pattern in _ROUTES:
        match = pattern.match(path)
        if match and method.upper() == route_method:
            return Route(action=action, **match.groupdict())
    return None


# --- NCS notifications ---------------------------------------------------------------------


def ncs_signature_headers(raw_body: bytes, ncs_secret: str) -> dict[str, str]:
    """`Agora-Signature` (HMAC-SHA1) and `Agora-Signature-V2` (HMAC-SHA256), hex, over the raw body."""
    key = ncs_secret.encode()
    return {
        "Agora-Signature": hmac.new(key, raw_body, hashlib.sha1).hexdigest(),
        "Agora-Signature-V2": hmac.new(key, raw_body, hashlib.sha256).hexdigest(),
    }


def ncs_body(
    *,
    notice_id: str,
    event_type: int,
    notify_ms: int,
    cname: str,
    uid: str,
    sid: str,
    sequence: int,
    sendts: int,
    service_type: int,
    details: Mapping,
    service_scene: str = "",
) -> dict:
    """An NCS request body for product 3 (cloud recording), `details.msgName` set from eventType."""
    payload: dict = {
        "cname": cname,
        "uid": uid,
        "sid": sid,
        "sequence": sequence,
        "sendts": sendts,
        "serviceType": service_type,
        "details": {"msgName": EVENT_MSG_NAMES[event_type], **details},
    }
    if service_scene:
        payload["serviceScene"] = service_scene
    return {
        "noticeId": notice_id,
        "productId": PRODUCT_ID_CLOUD_RECORDING,
        "eventType": event_type,
        "notifyMs": notify_ms,
        "payload": payload,
    }


def service_scene(mode: str) -> str:
    return "web_record" if mode == "web" else "rtc_record"


# --- start-request checks ------------------------------------------------------------------


def web_service_param(client_request: Mapping) -> Mapping | None:
    """The web_recorder_service serviceParam of a web start, or None if absent (seed 003)."""
    config = client_request.get("extensionServiceConfig")
    if not isinstance(config, Mapping):
        return None
    for service in config.get("extensionServices") or ():
        if isinstance(service, Mapping) and service.get("serviceName") == WEB_RECORDER_SERVICE:
            param = service.get("serviceParam")
            return param if isinstance(param, Mapping) else None
    return None


def check_web_service_param(param: Mapping | None) -> AgoraError | None:
    """url, audioProfile, videoWidth, videoHeight, maxRecordingHour are required (AG-DOC)."""
    if param is None:
        return invalid_parameter("extensionServiceConfig needs a web_recorder_service")
    for name in ("url", "audioProfile", "videoWidth", "videoHeight", "maxRecordingHour"):
        if name not in param:
            return invalid_parameter(f"serviceParam.{name} is required")
    width, height = param.get("videoWidth"), param.get("videoHeight")
    if not isinstance(width, int) or not isinstance(height, int) or width * height > 1920 * 1080:
        return invalid_parameter("videoWidth × videoHeight must not exceed 1920 × 1080")
    hours = param.get("maxRecordingHour")
    if not isinstance(hours, int) or not 1 <= hours <= 720:
        return invalid_parameter("maxRecordingHour must be within [1, 720]")
    minutes = param.get("maxVideoDuration", WEB_MAX_VIDEO_DURATION_DEFAULT_MINUTES)
    if not isinstance(minutes, int) or not 30 <= minutes <= 240:
        return invalid_parameter("maxVideoDuration must be within [30, 240]")
    return None


def av_file_types(client_request: Mapping) -> list[str]:
    types = (client_request.get("recordingFileConfig") or {}).get("avFileType") or ["hls"]
    return [str(kind) for kind in types]


def file_list_mode(mode: str, file_types: list[str]) -> str:
    """`"string"` only for mix recording that writes HLS alone; `"json"` otherwise (AG-DOC)."""
    return "string" if mode == "mix" and "mp4" not in file_types else "json"


def onhold_request(client_request: Mapping) -> bool | None:
    """The `webRecordingConfig.onhold` of an update, or None if the update does not carry one."""
    config = client_request.get("webRecordingConfig")
    if isinstance(config, Mapping) and isinstance(config.get("onhold"), bool):
        return config["onhold"]
    return None


SECRET_NAMES = ("customer_id", "customer_secret", "ncs_secret")


def credentials_ok(
    header: str | None, app_id: str, secrets_for_app: Callable[[str], Mapping[str, str] | None]
) -> bool:
    secrets = secrets_for_app(app_id)
    if not secrets:
        # Agora checks the customer key before it looks at the App ID, so an unknown app with
        # wrong credentials is still a 401; an unknown app with any credentials is one too here.
        return False
    return basic_auth_ok(
        header, customer_id=secrets["customer_id"], customer_secret=secrets["customer_secret"]
    )
