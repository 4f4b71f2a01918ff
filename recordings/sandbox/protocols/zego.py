"""ZEGO Cloud Recording server API v2, emulated.

Written from seed 001 and vendors.md §3 (source key ZG: the ZEGO docs `making-api-requests`,
`start`, `stop`, `query`, `pause-recording`, `resume-recording`, `update-layout`,
`update-whiteboard`, `query-record-task-list`, `end-callback`, `error-codes`), and the gateway
codes of https://www.zegocloud.com/docs/super-board-server/common-error-codes.
Never derived from `recordings/vendors/`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import string
import urllib.parse
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

SIGNATURE_VERSION = "2.0"
# "A maximum error of 10 minutes is allowed" between Timestamp and the server's clock.
MAX_SKEW_SECONDS = 600

ACTIONS = frozenset(
    {
        "StartRecord",
        "StopRecord",
        "PauseRecord",
        "ResumeRecord",
        "DescribeRecordStatus",
        "DescribeTasks",
        "UpdateLayout",
        "UpdateWhiteboard",
        "TakeSnapshot",
    }
)

# Task Status of DescribeRecordStatus (ZG `query`).
STATUS_INITIALISED = 1
STATUS_RECORDING = 2
STATUS_ENDED = 3
STATUS_ENDED_ABNORMALLY = 4
STATUS_PAUSED = 5
# Status of one RecordFiles entry.
FILE_RECORDING = 1
FILE_UPLOADING = 2
FILE_UPLOADED = 3
FILE_ON_BACKUP = 4
FILE_UPLOAD_FAILED = 5
# StorageParams.Vendor 5 Alibaba VOD and 6 Tencent VOD keep a video id, not an object in a bucket.
VOD_STORAGE_VENDORS = (5, 6)

RECORD_MODE_SINGLE = 1
RECORD_MODE_MIXED = 2

# Callback event_type values (ZG `end-callback`).
EVENT_UPLOAD_DONE = 1
EVENT_ABNORMAL_END = 2
EVENT_NO_STREAMS = 4
EVENT_NORMAL_EXIT = 5
EVENT_STOPPED_UPLOADING = 7
EVENT_PAUSED = 201
EVENT_RESUMED = 202
# "Reply any 2xx; otherwise at most 2 retries 5 s apart, then dropped."
CALLBACK_MAX_RETRIES = 2
CALLBACK_RETRY_INTERVAL_SECONDS = 5.0


@dataclass(frozen=True)
class ZegoError:
    code: int
    message: str


OK = ZegoError(0, "success")
# Gateway codes (super-board-server common error codes, shared by the ZEGO API gateway).
INVALID_APP_ID = ZegoError(100000001, "Invalid AppId format.")
TIMESTAMP_EMPTY = ZegoError(100000002, "The Timestamp field is empty.")
TIMESTAMP_INVALID = ZegoError(100000003, "Invalid Timestamp format.")
SIGNATURE_EXPIRED = ZegoError(100000004, "Signature expires.")
SIGNATURE_INVALID = ZegoError(100000005, "Incorrect signature.")
ACTION_EMPTY = ZegoError(100000006, "The Action field is empty.")
ACTION_UNSUPPORTED = ZegoError(100000007, "Unsupported Action.")
NONCE_EMPTY = ZegoError(100000008, "The SignatureNonce field is empty.")
SIGNATURE_EMPTY = ZegoError(100000009, "The Signature field is empty.")
SERVER_SECRET_UNKNOWN = ZegoError(100000010, "Failed to get ServerSecret.")
BODY_UNREADABLE = ZegoError(100000012, "Failed to read the HTTP body.")
SIGNATURE_VERSION_EMPTY = ZegoError(100000013, "The SignatureVersion field is empty.")
SIGNATURE_VERSION_UNSUPPORTED = ZegoError(100000014, "Unsupported SignatureVersion.")
# Cloud recording codes (ZG `error-codes`).
NOT_ENABLED = ZegoError(300000002, "The app has not activated the Cloud Recording service.")
INVALID_PARAM = ZegoError(300000004, "The parameter is invalid.")
TOO_MANY_TASKS = ZegoError(300000006, "Too many concurrent recording tasks.")
TASK_NOT_FOUND = ZegoError(300001000, "The recording task does not exist.")
TASK_ENDED = ZegoError(300001001, "The recording task has stopped.")
TASK_NOT_PAUSED = ZegoError(300001004, "The recording is not paused.")
SYSTEM_ERROR = ZegoError(300010000, "System error.")


def invalid_param(detail: str) -> ZegoError:
    return ZegoError(INVALID_PARAM.code, f"{INVALID_PARAM.message} {detail}")


def signature(app_id: str | int, nonce: str, server_secret: str, timestamp: str | int) -> str:
    """md5(AppId + SignatureNonce + ServerSecret + Timestamp), lowercase hex (ZG making-api-requests)."""
    return hashlib.md5(f"{app_id}{nonce}{server_secret}{timestamp}".encode()).hexdigest()


def verify_query(
    query: Mapping[str, str], *, server_secret_for: Callable[[str], str | None], now_seconds: float
) -> ZegoError | None:
    """The gateway's checks of the public query parameters, in the order its codes suggest."""
    action = query.get("Action", "")
    if not action:
        return ACTION_EMPTY
    app_id = query.get("AppId", "")
    if not app_id.isdigit():
        return INVALID_APP_ID
    timestamp = query.get("Timestamp", "")
    if not timestamp:
        return TIMESTAMP_EMPTY
    if not timestamp.lstrip("-").isdigit():
        return TIMESTAMP_INVALID
    nonce = query.get("SignatureNonce", "")
    if not nonce:
        return NONCE_EMPTY
    provided = query.get("Signature", "")
    if not provided:
        return SIGNATURE_EMPTY
    version = query.get("SignatureVersion", "")
    if not version:
        return SIGNATURE_VERSION_EMPTY
    if version != SIGNATURE_VERSION:
        return SIGNATURE_VERSION_UNSUPPORTED
    secret = server_secret_for(app_id)
    if secret is None:
        return SERVER_SECRET_UNKNOWN
    if abs(now_seconds - int(timestamp)) > MAX_SKEW_SECONDS:
        return SIGNATURE_EXPIRED
    if not hmac.compare_digest(signature(app_id, nonce, secret, timestamp), provided.lower()):
        return SIGNATURE_INVALID
    if action not in ACTIONS:
        return ACTION_UNSUPPORTED
    return None


def envelope(error: ZegoError, *, request_id: str, data: object = None) -> dict:
    """`{Code, Message, RequestId, Data}`; ZEGO answers HTTP 200 and puts the outcome in Code."""
    body: dict = {"Code": error.code, "Message": error.message, "RequestId": request_id}
    if data is not None:
        body["Data"] = data
    return body


def callback_signature(callback_secret: str, timestamp: str, nonce: str) -> str:
    """sha1 of the three strings sorted lexicographically and joined (ZG `end-callback`)."""
    return hashlib.sha1("".join(sorted([callback_secret, timestamp, nonce])).encode()).hexdigest()


def callback_body(
    *,
    app_id: str | int,
    task_id: str,
    room_id: str,
    event_type: int,
    message: str,
    nonce: str,
    timestamp: str,
    sequence: int,
    detail: Mapping,
    callback_secret: str,
) -> dict:
    return {
        "app_id": int(app_id) if str(app_id).isdigit() else app_id,
        "task_id": task_id,
        "room_id": room_id,
        "event_type": event_type,
        "message": message,
        "nonce": nonce,
        "timestamp": timestamp,
        "signature": callback_signature(callback_secret, timestamp, nonce),
        "sequence": sequence,
        "detail": dict(detail),
    }


_SNAKE = {
    "UserId": "user_id",
    "UserName": "user_name",
    "StreamId": "stream_id",
    "FileId": "file_id",
    "VideoId": "video_id",
    "FileUrl": "file_url",
    "OutputFileFormat": "output_file_format",
    "FileSize": "file_size",
    "Duration": "duration",
    "ResolutionWidth": "resolution_width",
    "ResolutionHeight": "resolution_height",
    "MediaTrackType": "media_track_type",
    "BeginTimestamp": "begin_timestamp",
    "Status": "status",
}


def file_info(record_file: Mapping) -> dict:
    """The callback's `file_info[]` entry: a snake_case mirror of a DescribeRecordStatus file."""
    return {_SNAKE[key]: value for key, value in record_file.items() if key in _SNAKE}


# --- the protocol plugged into the sandbox core --------------------------------------------

TASK_ID_ALPHABET = string.ascii_letters + string.digits
MAX_IDLE_DEFAULT_SECONDS = 30
FORMATS_RENDERED = {"mp4": "mp4", "hls": "hls"}
STATUS = {
    model.PREPARED: STATUS_INITIALISED,
    model.RECORDING: STATUS_RECORDING,
    model.PAUSED: STATUS_PAUSED,
    model.STOPPED: STATUS_ENDED,
    model.FINISHED: STATUS_ENDED,
    model.FAILED: STATUS_ENDED_ABNORMALLY,
}


class _Refusal(Exception):
    def __init__(self, error: ZegoError) -> None:
        super().__init__(error.message)
        self.error = error


class ZegoProtocol(VendorProtocol):
    """`POST /?Action=...` with the signed public parameters in the query and a JSON body."""

    vendor = "zego"
    processing_ms = 5_000
    callback_policy = CallbackPolicy(
        retry_delays_ms=(int(CALLBACK_RETRY_INTERVAL_SECONDS * 1000),) * CALLBACK_MAX_RETRIES, timeout_s=5.0
    )

    def action_of(self, request: Request) -> str:
        return request.query.get("Action", "")

    def _answer(self, error: ZegoError, data: object = None) -> Response:
        return Response.json(envelope(error, request_id=self.core.request_id(), data=data))

    def fault_response(self, action: str, error_code: str | None) -> Response:
        code = int(error_code) if error_code and str(error_code).isdigit() else SYSTEM_ERROR.code
        return self._answer(ZegoError(code, "injected by the sandbox"))

    def handle(self, request: Request) -> Response:
        if request.path not in ("", "/"):
            return Response.text("404 page not found", status=404)
        error = verify_query(
            request.query, server_secret_for=self._secret_for, now_seconds=self.core.wall_seconds()
        )
        if error is not None:
            return self._answer(error)
        app = self.core.app(self.vendor, request.query["AppId"])
        assert app is not None  # verify_query found its secret
        try:
            body = request.json() if request.body else {}
        except ValueError:
            return self._answer(BODY_UNREADABLE)
        if not isinstance(body, dict):
            return self._answer(invalid_param("The body must be a JSON object."))
        handler = {
            "StartRecord": self._start,
            "StopRecord": self._stop,
            "PauseRecord": self._pause,
            "ResumeRecord": self._resume,
            "DescribeRecordStatus": self._describe,
            "DescribeTasks": self._describe_tasks,
            "UpdateLayout": self._update_layout,
            "UpdateWhiteboard": self._update_whiteboard,
            "TakeSnapshot": self._take_snapshot,
        }[request.query["Action"]]
        try:
            return self._answer(OK, handler(app, body))
        except _Refusal as refusal:
            return self._answer(refusal.error)

    def _secret_for(self, app_id: str) -> str | None:
        app = self.core.app(self.vendor, app_id)
        return app.secrets.get("server_secret") if app else None

    # ---- actions -----------------------------------------------------------------------------
    def _start(self, app: model.App, body: dict[str, Any]) -> dict[str, Any]:
        room_id = body.get("RoomId")
        if not isinstance(room_id, str) or not room_id:
            raise _Refusal(invalid_param("RoomId is required."))
        inputs = body.get("RecordInputParams")
        if not isinstance(inputs, dict):
            raise _Refusal(invalid_param("RecordInputParams is required."))
        record_mode = inputs.get("RecordMode")
        if record_mode not in (RECORD_MODE_SINGLE, RECORD_MODE_MIXED):
            raise _Refusal(invalid_param("RecordMode must be 1 or 2."))
        if inputs.get("StreamType", 3) not in (1, 2, 3, 4):
            raise _Refusal(invalid_param("StreamType must be 1, 2, 3 or 4."))
        max_idle = inputs.get("MaxIdleTime", MAX_IDLE_DEFAULT_SECONDS)
        if not isinstance(max_idle, int) or not 5 <= max_idle <= 86400:
            raise _Refusal(invalid_param("MaxIdleTime must be within [5, 86400]."))
        if record_mode == RECORD_MODE_MIXED:
            mix = inputs.get("MixConfig")
            if not isinstance(mix, dict) or not mix.get("MixOutputStreamId"):
                raise _Refusal(invalid_param("MixConfig.MixOutputStreamId is required for mixed recording."))
        outputs = body.get("RecordOutputParams") or {}
        if not isinstance(outputs, dict):
            raise _Refusal(invalid_param("RecordOutputParams must be an object."))
        file_format = outputs.get("OutputFileFormat", "mp4")
        if file_format not in FORMATS_RENDERED:
            # flv/jpg/mp3 exist at ZEGO; the sandbox renders only mp4 and hls, and says so.
            raise _Refusal(invalid_param("The sandbox records OutputFileFormat mp4 or hls only."))
        callback_url = outputs.get("CallbackUrl", "")
        if not isinstance(callback_url, str):
            raise _Refusal(invalid_param("CallbackUrl must be a string."))
        storage = body.get("StorageParams")
        if not isinstance(storage, dict) or storage.get("Vendor") not in range(1, 11):
            raise _Refusal(invalid_param("StorageParams.Vendor must be within 1..10."))
        task_id = self.core.new_id(16, TASK_ID_ALPHABET)
        task = self.core.create_task(
            self.vendor,
            app.app_id,
            room_id,
            task_id=task_id,
            mode="mixed" if record_mode == RECORD_MODE_MIXED else "individual",
            params=body,
            extra={"format": file_format, "callback_url": callback_url, "sequence": 0},
            idle_timeout_ms=max_idle * 1000,
        )
        if storage.get("Vendor") not in VOD_STORAGE_VENDORS and storage.get("Bucket"):
            # ZEGO uploads each file into the customer's bucket under OutputFolder; FileUrl is the
            # object's address there, played by the sandbox at /media/<bucket>/<key>.
            self.core.upload_to(task, str(storage["Bucket"]), str(outputs.get("OutputFolder") or ""))
        return {"TaskId": task_id}

    def _task(self, app: model.App, body: dict[str, Any]) -> model.Task:
        task_id = body.get("TaskId")
        if not isinstance(task_id, str) or not task_id:
            raise _Refusal(invalid_param("TaskId is required."))
        task = self.core.task(self.vendor, app.app_id, task_id)
        if task is None:
            raise _Refusal(TASK_NOT_FOUND)
        return task

    def _running(self, app: model.App, body: dict[str, Any]) -> model.Task:
        task = self._task(app, body)
        if task.stop_requested:
            raise _Refusal(TASK_ENDED)
        return task

    def _stop(self, app: model.App, body: dict[str, Any]) -> None:
        task = self._running(app, body)
        self.core.request(task, model.STOP)
        return None

    def _pause(self, app: model.App, body: dict[str, Any]) -> None:
        task = self._running(app, body)
        if task.mode != "mixed":
            # "Only stream mixing recording tasks can be paused through this API" (ZG pause-record).
            raise _Refusal(invalid_param("Only mixed recording tasks can be paused."))
        if task.logical_state == model.RECORDING:
            self.core.request(task, model.PAUSE)
        return None

    def _resume(self, app: model.App, body: dict[str, Any]) -> None:
        task = self._running(app, body)
        if task.logical_state != model.PAUSED:
            raise _Refusal(TASK_NOT_PAUSED)
        self.core.request(task, model.RESUME)
        return None

    def _update_layout(self, app: model.App, body: dict[str, Any]) -> None:
        task = self._running(app, body)
        if task.mode != "mixed":
            raise _Refusal(invalid_param("UpdateLayout applies to mixed recording only."))
        mix_mode = body.get("MixMode")
        if mix_mode not in (1, 2, 3, 4, 5):
            raise _Refusal(invalid_param("MixMode must be within 1..5."))
        if mix_mode == 1 and not isinstance(body.get("MixInputList"), list):
            raise _Refusal(invalid_param("MixInputList is required when MixMode is 1."))
        task.extra["layout"] = {
            k: body[k] for k in ("MixMode", "MixInputList", "MixMaxResolutionStreamId") if k in body
        }
        self.core.save_task(task)
        return None

    def _update_whiteboard(self, app: model.App, body: dict[str, Any]) -> None:
        task = self._running(app, body)
        whiteboard_id = body.get("WhiteboardId")
        if not isinstance(whiteboard_id, str) or not whiteboard_id:
            raise _Refusal(invalid_param("WhiteboardId is required."))
        if not (task.params.get("RecordInputParams") or {}).get("HasWhiteboard"):
            raise _Refusal(invalid_param("The task does not record a whiteboard."))
        task.extra["whiteboard_id"] = whiteboard_id
        self.core.save_task(task)
        return None

    def _take_snapshot(self, app: model.App, body: dict[str, Any]) -> None:
        self._running(app, body)
        # Snapshots (jpg) are not rendered by the sandbox; say so in ZEGO's own envelope.
        raise _Refusal(invalid_param("The sandbox does not take snapshots."))

    def _describe(self, app: model.App, body: dict[str, Any]) -> dict[str, Any]:
        task = self._task(app, body)
        inputs = task.params.get("RecordInputParams") or {}
        return {
            "RoomId": task.room_id,
            "RecordMode": inputs.get("RecordMode"),
            "StreamType": inputs.get("StreamType", 3),
            "RecordBeginTimestamp": task.started_ms or 0,
            "RecordEndTimestamp": task.stopped_ms or 0,
            "Status": STATUS[task.state],
            "RecordFiles": [self._record_file(task, s) for s in self._segments(task)],
        }

    def _describe_tasks(self, app: model.App, body: dict[str, Any]) -> dict[str, Any]:
        status = body.get("Status")
        if status not in (None, STATUS_RECORDING, STATUS_ENDED):
            raise _Refusal(invalid_param("Status must be 2 or 3."))
        offset, size = body.get("PageOffset", 0), body.get("PageSize", 10)
        if not isinstance(offset, int) or not isinstance(size, int) or offset < 0 or not 1 <= size <= 50:
            raise _Refusal(invalid_param("PageSize must be within 1..50 and PageOffset not negative."))
        begin, end = body.get("StartTime"), body.get("EndTime")
        tasks = [
            task
            for task in self.core.find_tasks(
                self.vendor, app_id=app.app_id, room_id=body.get("RoomId") or None
            )
            if (status is None or (STATUS[task.state] == STATUS_ENDED) == (status == STATUS_ENDED))
            and (begin is None or (task.started_ms or task.created_ms) >= begin)
            and (end is None or (task.started_ms or task.created_ms) <= end)
        ]
        page = tasks[offset : offset + size]
        return {
            "PageOffset": offset,
            "PageSize": size,
            "TotalCount": len(tasks),
            "TaskList": [
                {
                    "RecordBeginTimestamp": task.started_ms or 0,
                    "TaskId": task.task_id,
                    "RoomId": task.room_id,
                    "Status": STATUS[task.state],
                }
                for task in page
            ],
        }

    # ---- the vendor's view -------------------------------------------------------------------
    def vendor_state(self, task: model.Task) -> str:
        return str(STATUS[task.state])

    def _segments(self, task: model.Task) -> list[model.Segment]:
        return self.core.segments_of(task, include_open=task.state in (model.RECORDING, model.PAUSED))

    def _record_file(self, task: model.Task, segment: model.Segment) -> dict[str, Any]:
        if segment.status == "recording":
            status = FILE_RECORDING
        elif segment.status == "ready":
            status = FILE_UPLOADED
        elif segment.status == "failed":
            status = FILE_UPLOAD_FAILED
        else:
            status = FILE_UPLOADING
        inputs = task.params.get("RecordInputParams") or {}
        if segment.kind == model.MIXED:
            stream_id = str((inputs.get("MixConfig") or {}).get("MixOutputStreamId", ""))
        elif segment.kind == model.WHITEBOARD:
            stream_id = str(
                task.extra.get("whiteboard_id") or (inputs.get("Whiteboard") or {}).get("WhiteboardId", "")
            )
        else:
            stream_id = stream_id_of(segment.user_id, segment.kind)
        stream_type = inputs.get("StreamType", 3)
        return {
            "UserId": "" if segment.kind in (model.MIXED, model.WHITEBOARD) else segment.user_id,
            "UserName": "" if segment.kind in (model.MIXED, model.WHITEBOARD) else segment.user_id,
            "StreamId": stream_id,
            "FileId": segment.file_id,
            "VideoId": "",
            "FileUrl": self._file_url(task, segment),
            "OutputFileFormat": segment.format,
            "FileSize": segment.size,
            "Duration": segment.duration_ms,
            "ResolutionWidth": 1280 if segment.kind in (model.MIXED, model.WHITEBOARD) else 640,
            "ResolutionHeight": 720 if segment.kind in (model.MIXED, model.WHITEBOARD) else 360,
            "MediaTrackType": {1: 1, 2: 2}.get(stream_type, 3),
            "BeginTimestamp": segment.start_ms,
            "Status": status,
        }

    def _file_url(self, task: model.Task, segment: model.Segment) -> str:
        bucket = (task.extra.get("upload") or {}).get("bucket")
        if not bucket:
            return self.core.media_url(segment)
        key = urllib.parse.quote(self.core.object_key(task, segment), safe="/")
        return (
            f"http://{self.core.public_host}:{self.core.base_port}/media/{urllib.parse.quote(bucket)}/{key}"
        )

    def plan_streams(self, task: model.Task, room: model.Room) -> list[PlannedStream]:
        formats = (task.extra.get("format", "mp4"),)
        inputs = task.params.get("RecordInputParams") or {}
        with_whiteboard = bool(inputs.get("HasWhiteboard"))
        streams = [s for s in room.streams if s.kind != model.WHITEBOARD or with_whiteboard]
        if task.mode == "mixed":
            presence = _union([iv for s in streams for iv in s.intervals])
            return [PlannedStream(user_id="", kind=model.MIXED, presence=tuple(presence), formats=formats)]
        wanted = {
            str(item.get("StreamId"))
            for item in inputs.get("RecordStreamList") or []
            if isinstance(item, dict) and item.get("StreamId")
        }
        return [
            PlannedStream(
                user_id=s.user_id,
                kind=s.kind,
                presence=tuple((a, b) for a, b in s.intervals),
                formats=formats,
            )
            for s in streams
            if not wanted or stream_id_of(s.user_id, s.kind) in wanted or s.kind == model.WHITEBOARD
        ]

    # ---- callbacks ---------------------------------------------------------------------------
    def on_state(self, task: model.Task, event: str) -> None:
        if event == "paused":
            self._emit(task, EVENT_PAUSED, "recording paused", {})
        elif event == "resumed":
            self._emit(task, EVENT_RESUMED, "recording resumed", {})
        elif event == "stopped":
            self._emit(task, EVENT_STOPPED_UPLOADING, "recording stopped, uploading files", {})
        elif event == "finished":
            files = [file_info(self._record_file(task, s)) for s in self.core.segments_of(task)]
            if files:
                all_uploaded = all(f["status"] == FILE_UPLOADED for f in files)
                self._emit(
                    task,
                    EVENT_UPLOAD_DONE,
                    "upload finished",
                    {"upload_status": 1 if all_uploaded else 2, "file_info": files},
                )
            self._emit(task, EVENT_NORMAL_EXIT, "recording task exited normally", {})
        elif event == "failed":
            # quit_reason 1001 "internal error" family (ZG end-callback); the detail is our own.
            self._emit(task, EVENT_ABNORMAL_END, "recording ended abnormally", {"quit_reason": 1001})

    def _emit(self, task: model.Task, event_type: int, message: str, detail: dict[str, Any]) -> None:
        sequence = int(task.extra.get("sequence", 0))
        task.extra["sequence"] = sequence + 1
        self.core.save_task(task)
        payload = {
            "app_id": task.app_id,
            "task_id": task.task_id,
            "room_id": task.room_id,
            "event_type": event_type,
            "message": message,
            "sequence": sequence,
            "detail": detail,
        }
        self.core.emit_callback(
            task, f"event_{event_type}", payload, url=str(task.extra.get("callback_url") or "")
        )

    def build_callback(self, app: model.App, record: model.CallbackRecord, url: str) -> OutgoingCallback:
        payload = record.payload
        # A fresh nonce and timestamp per attempt, each attempt signed anew.
        body = callback_body(
            app_id=payload["app_id"],
            task_id=payload["task_id"],
            room_id=payload["room_id"],
            event_type=payload["event_type"],
            message=payload["message"],
            nonce=str(secrets.randbelow(10**9)),
            timestamp=str(self.core.wall_seconds()),
            sequence=payload["sequence"],
            detail=payload["detail"],
            callback_secret=app.secrets.get("callback_secret", ""),
        )
        raw = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        return OutgoingCallback(url=url, body=raw, headers={"Content-Type": "application/json"})


def stream_id_of(user_id: str, kind: str) -> str:
    """The sandbox's StreamId for a participant's stream: the user id, suffixed for a screen share."""
    return f"{user_id}_screen" if kind == model.SCREEN else user_id
