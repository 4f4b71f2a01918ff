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
import json
import re
import string
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

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


# --- the protocol plugged into the sandbox core --------------------------------------------

# Our modes for Agora's (DESIGN.md "Mapping").
OUR_MODE = {"individual": "individual", "mix": "mixed", "web": "web_page"}
MAX_IDLE_DEFAULT_SECONDS = 30


class AgoraProtocol(VendorProtocol):
    """acquire/start/query/update/updateLayout/stop on `/v1/apps/{appid}/cloud_recording/...`.

    Files are "uploaded" to the bucket of the start's storageConfig: a `fileName` in a fileList is
    the object key, served at `http://<host>:<base port>/media/<bucket>/<fileName>`.
    """

    vendor = "agora"
    processing_ms = 5_000
    callback_policy = CallbackPolicy(
        retry_delays_ms=tuple(int(s * 1000) for s in CALLBACK_RETRY_INTERVALS_SECONDS),
        timeout_s=CALLBACK_TIMEOUT_SECONDS,
    )

    def transition_delay(self, task: model.Task, transition: str) -> int:
        # Only the web recorder documents a delay (seed 003): the page needs ~5 s to come up.
        if task.mode == "web_page" and transition == model.START:
            return int(WEB_STARTUP_SECONDS * 1000)
        return 0

    # ---- envelopes ---------------------------------------------------------------------------
    @staticmethod
    def _refuse(error: AgoraError, **ids: str) -> Response:
        return Response.json(error_body(error, **ids), status=error.http_status)

    def fault_response(self, action: str, error_code: str | None) -> Response:
        if error_code is None:
            return self._refuse(AgoraError(500, 500, "internal server error"))
        if str(error_code) == "401":
            return Response.json({"message": UNAUTHORIZED_MESSAGE}, status=401)
        if str(error_code) == "429":
            return Response.json({"message": "API rate limit exceeded"}, status=429)
        code = int(error_code) if str(error_code).isdigit() else 500
        status = 404 if code == 404 else 500 if code >= 500 and code != 501 else 400
        return self._refuse(AgoraError(status, code, "injected by the sandbox"))

    # ---- requests ----------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        found = route(request.method, request.path)
        if found is None:
            return Response.json({"message": NO_ROUTE_MESSAGE}, status=404)
        app = self.core.app(self.vendor, found.app_id)
        authorization = request.header("Authorization")
        if app is None or not basic_auth_ok(
            authorization,
            customer_id=app.secrets.get("customer_id", ""),
            customer_secret=app.secrets.get("customer_secret", ""),
        ):
            return Response.json({"message": UNAUTHORIZED_MESSAGE}, status=401)
        body: dict[str, Any] = {}
        if request.method == "POST":
            if not request.header("Content-Type").lower().startswith("application/json"):
                return self._refuse(BAD_REQUEST)
            try:
                parsed = request.json()
            except ValueError:
                return self._refuse(BAD_REQUEST)
            if not isinstance(parsed, dict):
                return self._refuse(BAD_REQUEST)
            body = parsed
        handler = {
            "acquire": self._acquire,
            "start": self._start,
            "query": self._query,
            "update": self._update,
            "updateLayout": self._update_layout,
            "stop": self._stop,
        }[found.action]
        return handler(app, found, body)

    @staticmethod
    def _identity(body: Mapping) -> tuple[str, str] | AgoraError:
        cname, uid = body.get("cname"), body.get("uid")
        if not isinstance(cname, str) or not cname or len(cname) > 64:
            return AgoraError(400, 1013, "invalid channel name")
        # The recording uid is a string holding a 32-bit positive integer (AG-DOC acquire).
        if not isinstance(uid, str) or not uid.isdigit() or not 0 < int(uid) < 2**32:
            return invalid_parameter("uid must be a string holding an integer in [1, 2^32-1]")
        return cname, uid

    def _acquire(self, app: model.App, found: Route, body: dict[str, Any]) -> Response:
        identity = self._identity(body)
        if isinstance(identity, AgoraError):
            return self._refuse(identity)
        cname, uid = identity
        client_request = body.get("clientRequest") or {}
        if not isinstance(client_request, dict):
            return self._refuse(invalid_parameter("clientRequest must be an object"))
        scene = client_request.get("scene", 0)
        if scene not in (0, 1, 2):
            return self._refuse(invalid_parameter("scene must be 0, 1 or 2"))
        hours = client_request.get("resourceExpiredHour", 72)
        if not isinstance(hours, int) or not 1 <= hours <= 720:
            return self._refuse(invalid_parameter("resourceExpiredHour must be within [1, 720]"))
        now = self.core.now_ms()
        resources = app.settings.setdefault("resources", {})
        # Unused resources die after 5 minutes; keep the app's settings from growing without end.
        for stale in [
            rid
            for rid, item in resources.items()
            if not item.get("sid") and now - item["acquired_ms"] > RESOURCE_TTL_SECONDS * 1000
        ]:
            del resources[stale]
        resource_id = self.core.new_id(96, string.ascii_letters + string.digits + "-_")
        resources[resource_id] = {"cname": cname, "uid": uid, "scene": scene, "acquired_ms": now, "sid": ""}
        self.core.save_app(app)
        return Response.json({"cname": cname, "uid": uid, "resourceId": resource_id})

    def _start(self, app: model.App, found: Route, body: dict[str, Any]) -> Response:
        rid = found.resource_id
        resource = app.settings.get("resources", {}).get(rid)
        if found.mode not in MODES:
            return self._refuse(invalid_parameter("mode must be individual, mix or web"), resourceId=rid)
        if resource is None:
            return self._refuse(RESOURCE_UNDECRYPTABLE, resourceId=rid)
        identity = self._identity(body)
        if isinstance(identity, AgoraError):
            return self._refuse(identity, resourceId=rid)
        cname, uid = identity
        ids = {"cname": cname, "uid": uid, "resourceId": rid}
        if resource["sid"]:
            # One resourceId serves one recording: a repeated start is code 7.
            return self._refuse(ALREADY_RECORDING, **ids, sid=resource["sid"])
        if self.core.now_ms() - resource["acquired_ms"] > RESOURCE_TTL_SECONDS * 1000:
            return self._refuse(RESOURCE_EXPIRED, **ids)
        if (resource["cname"], resource["uid"]) != (cname, uid):
            return self._refuse(PARAMS_MISMATCH, **ids)
        if (found.mode == "web") != (resource["scene"] == 1):
            return self._refuse(PARAMS_MISMATCH, **ids)
        client_request = body.get("clientRequest")
        if not isinstance(client_request, dict):
            return self._refuse(invalid_parameter("clientRequest is required"), **ids)
        if not isinstance(client_request.get("storageConfig"), dict):
            return self._refuse(invalid_parameter("storageConfig is required"), **ids)
        file_types = av_file_types(client_request)
        if not set(file_types) <= {"hls", "mp4"} or "hls" not in file_types:
            return self._refuse(invalid_parameter('avFileType must be ["hls"] or ["hls", "mp4"]'), **ids)
        if found.mode == "individual" and "mp4" in file_types:
            return self._refuse(invalid_parameter("individual recording writes HLS only"), **ids)
        idle_ms: int | None = None
        extra: dict[str, Any] = {
            "resource_id": rid,
            "cname": cname,
            "uid": uid,
            "agora_mode": found.mode,
            "file_types": file_types,
            "sequence": 0,
        }
        if found.mode == "web":
            param = web_service_param(client_request)
            error = check_web_service_param(param)
            if error is not None:
                return self._refuse(error, **ids)
            assert param is not None
            extra["slice_ms"] = (
                int(param.get("maxVideoDuration", WEB_MAX_VIDEO_DURATION_DEFAULT_MINUTES)) * 60_000
            )
            extra["start_onhold"] = bool(param.get("onhold", False))
        else:
            recording_config = client_request.get("recordingConfig")
            if not isinstance(recording_config, dict):
                return self._refuse(invalid_parameter("recordingConfig is required"), **ids)
            max_idle = recording_config.get("maxIdleTime", MAX_IDLE_DEFAULT_SECONDS)
            if not isinstance(max_idle, int) or not 5 <= max_idle <= 259200:
                return self._refuse(invalid_parameter("maxIdleTime must be within [5, 259200]"), **ids)
            idle_ms = max_idle * 1000
        for other in self.core.find_tasks(self.vendor, app_id=app.app_id, active_only=True):
            if (other.extra.get("cname"), other.extra.get("uid")) == (cname, uid):
                return self._refuse(CHANNEL_UID_ALREADY_RECORDING, **ids)
        sid = self.core.new_id(32, "0123456789abcdef")
        resource["sid"] = sid
        self.core.save_app(app)
        task = self.core.create_task(
            self.vendor,
            app.app_id,
            cname,
            task_id=sid,
            mode=OUR_MODE[found.mode],
            record_user_id=uid,
            params=body,
            extra=extra,
            idle_timeout_ms=idle_ms,
        )
        # The recorder uploads to the customer's bucket; fileName is the object key there, starting
        # with the fileNamePrefix directories (AG-DOC storageConfig.fileNamePrefix).
        storage = client_request["storageConfig"]
        prefix = [str(part) for part in storage.get("fileNamePrefix") or [] if str(part)]
        self.core.upload_to(task, str(storage.get("bucket") or ""), "/".join(prefix))
        return Response.json({"cname": cname, "uid": uid, "resourceId": rid, "sid": sid})

    def _task(self, app: model.App, found: Route) -> model.Task | None:
        task = self.core.task(self.vendor, app.app_id, found.sid)
        if task is None or task.extra.get("resource_id") != found.resource_id:
            return None
        if task.extra.get("agora_mode") != found.mode:
            return None
        return task

    @staticmethod
    def _ids(task: model.Task) -> dict[str, str]:
        return {
            "cname": task.extra["cname"],
            "uid": task.extra["uid"],
            "resourceId": task.extra["resource_id"],
            "sid": task.task_id,
        }

    def _query(self, app: model.App, found: Route, body: dict[str, Any]) -> Response:
        task = self._task(app, found)
        # "If the recording has already ended, the request returns 404" (AG-DOC query).
        if task is None or task.state == model.FINISHED:
            return self._refuse(NOT_FOUND, resourceId=found.resource_id, sid=found.sid)
        return Response.json({**self._ids(task), "serverResponse": self._server_response(task)})

    def _update(self, app: model.App, found: Route, body: dict[str, Any]) -> Response:
        task = self._task(app, found)
        if task is None or task.stop_requested:
            return self._refuse(NOT_FOUND, resourceId=found.resource_id, sid=found.sid)
        client_request = body.get("clientRequest")
        if not isinstance(client_request, dict):
            return self._refuse(invalid_parameter("clientRequest is required"), **self._ids(task))
        onhold = onhold_request(client_request)
        if "webRecordingConfig" in client_request and task.mode != "web_page":
            # Only web page recording can be put on hold; individual/mix have no pause (AG-DOC update).
            return self._refuse(
                invalid_parameter("webRecordingConfig is only valid in web mode"), **self._ids(task)
            )
        if "webRecordingConfig" in client_request and onhold is None:
            return self._refuse(
                invalid_parameter("webRecordingConfig.onhold must be a boolean"), **self._ids(task)
            )
        if onhold is True and task.logical_state == model.RECORDING:
            self.core.request(task, model.PAUSE)
        elif onhold is False and task.logical_state == model.PAUSED:
            self.core.request(task, model.RESUME)
        return Response.json({"resourceId": task.extra["resource_id"], "sid": task.task_id})

    def _update_layout(self, app: model.App, found: Route, body: dict[str, Any]) -> Response:
        task = self._task(app, found)
        if task is None or task.stop_requested:
            return self._refuse(NOT_FOUND, resourceId=found.resource_id, sid=found.sid)
        if task.mode != "mixed":
            return self._refuse(
                invalid_parameter("updateLayout is only valid in mix mode"), **self._ids(task)
            )
        client_request = body.get("clientRequest")
        if not isinstance(client_request, dict):
            return self._refuse(LAYOUT_BODY_ERROR, **self._ids(task))
        layout = client_request.get("mixedVideoLayout", 0)
        if layout not in (0, 1, 2, 3) or (
            layout == 3 and not isinstance(client_request.get("layoutConfig"), list)
        ):
            return self._refuse(LAYOUT_BODY_ERROR, **self._ids(task))
        task.extra["layout"] = client_request
        self.core.save_task(task)
        return Response.json({"resourceId": task.extra["resource_id"], "sid": task.task_id})

    def _stop(self, app: model.App, found: Route, body: dict[str, Any]) -> Response:
        task = self._task(app, found)
        if task is None:
            return self._refuse(NOT_FOUND, resourceId=found.resource_id, sid=found.sid)
        if task.stop_requested:
            return self._refuse(REPEATED_STOP, **self._ids(task))
        self.core.request(task, model.STOP)
        if task.error == model.ERROR_NO_FILE:
            return self._refuse(NO_FILE, **self._ids(task))
        response = self._server_response(task, stopping=True)
        return Response.json({**self._ids(task), "serverResponse": response})

    # ---- the vendor's view -------------------------------------------------------------------
    def vendor_state(self, task: model.Task) -> str:
        return str(self._status(task))

    def _status(self, task: model.Task) -> int:
        if task.state == model.PREPARED:
            return STATUS_COMPONENTS_STARTING
        if task.state in (model.RECORDING, model.PAUSED):
            # onhold does not change the status: the recorder is still in progress (AG-DOC update).
            return STATUS_IN_PROGRESS
        if task.state == model.STOPPED:
            return STATUS_ALL_STOPPED
        if task.state == model.FAILED:
            return STATUS_ABNORMAL_EXIT
        return STATUS_EXITED

    def _files(self, task: model.Task, *, include_open: bool) -> list[model.Segment]:
        return self.core.segments_of(task, include_open=include_open)

    def _file_entry(self, task: model.Task, segment: model.Segment) -> dict[str, Any]:
        mixed = task.mode != "individual"
        return {
            "fileName": self.core.object_key(task, segment),
            "trackType": "audio" if segment.kind == model.AUDIO else "audio_and_video",
            "uid": "0" if mixed else segment.user_id,
            "mixedAllUser": mixed,
            "isPlayable": True,
            "sliceStartTime": segment.start_ms,
        }

    def _server_response(self, task: model.Task, *, stopping: bool = False) -> dict[str, Any]:
        files = self._files(task, include_open=not stopping)
        uploaded = all(s.status == "ready" for s in files)
        if task.mode == "web_page":
            payload: dict[str, Any] = {
                "fileList": [
                    {"filename": self.core.object_key(task, s), "sliceStartTime": s.start_ms} for s in files
                ],
                "onhold": task.logical_state == model.PAUSED,
                "state": "exit"
                if task.stop_requested
                else ("init" if task.state == model.PREPARED else "inProgress"),
            }
            if stopping:
                payload["uploadingStatus"] = "uploaded" if uploaded else "unknown"
            response: dict[str, Any] = {
                "extensionServiceState": [{"serviceName": WEB_RECORDER_SERVICE, "payload": payload}]
            }
            if not stopping:
                response["status"] = self._status(task)
            return response
        mode = file_list_mode(task.extra["agora_mode"], task.extra["file_types"])
        playlists = [s for s in files if s.format == "hls"]
        file_list: Any
        if mode == "string":
            file_list = self.core.object_key(task, playlists[0]) if playlists else ""
        else:
            file_list = [self._file_entry(task, s) for s in files]
        response = {"fileListMode": mode, "fileList": file_list}
        if stopping:
            response["uploadingStatus"] = "uploaded" if uploaded else "unknown"
        else:
            response["status"] = self._status(task)
            response["sliceStartTime"] = files[0].start_ms if files else 0
        return response

    def plan_streams(self, task: model.Task, room: model.Room) -> list[PlannedStream]:
        file_types = tuple(task.extra.get("file_types", ["hls"]))
        if task.mode == "web_page":
            # One page stream, always rendering: one HLS playlist plus MP4 slices of maxVideoDuration.
            plans = [PlannedStream(user_id="", kind=model.WEB, presence=((0, None),), formats=("hls",))]
            if "mp4" in file_types:
                plans.append(
                    PlannedStream(
                        user_id="",
                        kind=model.WEB,
                        presence=((0, None),),
                        formats=("mp4",),
                        slice_ms=int(
                            task.extra.get("slice_ms", WEB_MAX_VIDEO_DURATION_DEFAULT_MINUTES * 60_000)
                        ),
                    )
                )
            return plans
        # The whiteboard is not an RTC stream: Agora's recorder never sees it.
        streams = [s for s in room.streams if s.kind != model.WHITEBOARD]
        if task.mode == "mixed":
            presence = _union([iv for s in streams for iv in s.intervals])
            return [
                PlannedStream(user_id="0", kind=model.MIXED, presence=tuple(presence), formats=file_types)
            ]
        return [
            PlannedStream(
                user_id=s.user_id,
                kind=s.kind,
                presence=tuple((a, b) for a, b in s.intervals),
                formats=("hls",),
            )
            for s in streams
        ]

    # ---- NCS ---------------------------------------------------------------------------------
    def on_state(self, task: model.Task, event: str) -> None:
        web = task.mode == "web_page"
        if event == "started":
            if web:
                self._notify(task, 70, SERVICE_TYPE_WEB_RECORDER, {})
                if task.extra.get("start_onhold"):
                    # `onhold: true` at start renders the page but writes nothing until resumed.
                    self.core.request(task, model.PAUSE)
            else:
                self._notify(task, 40, SERVICE_TYPE_RECORDER, {})
        elif event == "stopped":
            if web:
                self._notify(task, 71, SERVICE_TYPE_WEB_RECORDER, {"code": 0, "message": "ok"})
            else:
                self._notify(task, 41, SERVICE_TYPE_RECORDER, {"leaveCode": 0})
        elif event == "finished":
            files = self._files(task, include_open=False)
            if files:
                entries = (
                    [{"fileName": self.core.object_key(task, s), "sliceStartTime": s.start_ms} for s in files]
                    if web
                    else [self._file_entry(task, s) for s in files]
                )
                self._notify(task, 31, SERVICE_TYPE_UPLOADER, {"status": 0, "fileList": entries})
            else:
                # Uploader error 435-equivalent: the session ended without any recorded file.
                self._notify(
                    task,
                    1,
                    SERVICE_TYPE_UPLOADER,
                    {
                        "module": 2,
                        "errorLevel": 3,
                        "errorCode": NO_FILE.code,
                        "stat": 0,
                        "errorMsg": NO_FILE.reason,
                    },
                )
            self._notify(task, 11, SERVICE_TYPE_CLOUD_RECORDING, {"exitStatus": 0})
        elif event == "failed":
            self._notify(
                task,
                1,
                SERVICE_TYPE_CLOUD_RECORDING,
                {"module": 0, "errorLevel": 5, "errorCode": 50, "stat": 0, "errorMsg": str(task.error or "")},
            )
            self._notify(task, 11, SERVICE_TYPE_CLOUD_RECORDING, {"exitStatus": 1})

    def _notify(self, task: model.Task, event_type: int, service_type: int, details: dict[str, Any]) -> None:
        sequence = int(task.extra.get("sequence", 0))
        task.extra["sequence"] = sequence + 1
        self.core.save_task(task)
        now = self.core.now_ms()
        body = ncs_body(
            notice_id=str(uuid.uuid4()),
            event_type=event_type,
            notify_ms=now,
            cname=task.extra["cname"],
            uid=task.extra["uid"],
            sid=task.task_id,
            sequence=sequence,
            sendts=now,
            service_type=service_type,
            details=details,
            service_scene=service_scene(task.extra["agora_mode"]),
        )
        self.core.emit_callback(task, EVENT_MSG_NAMES[event_type], body)

    def build_callback(self, app: model.App, record: model.CallbackRecord, url: str) -> OutgoingCallback:
        # noticeId stays the same across retries; notifyMs is the time of this attempt (vendors.md §2).
        # It is a delivery time, which receivers check for freshness with their real clocks, so it is
        # real time (sandbox README "Time"); sendts keeps the simulated time of the event.
        body = {**record.payload, "notifyMs": self.core.wall_ms()}
        raw = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            **ncs_signature_headers(raw, app.secrets.get("ncs_secret", "")),
        }
        return OutgoingCallback(url=url, body=raw, headers=headers)

    def callback_acknowledged(self, status: int, body: bytes) -> bool:
        return status == 200
