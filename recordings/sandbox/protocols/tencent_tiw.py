"""Tencent Cloud API 3.0, TIW 2019-09-19 online recording (seed 002; vendors.md §1b, §1c).

POST / with the action in ``X-TC-Action``, TC3-HMAC-SHA256 auth, ``{"Response": {...}}`` envelopes,
status PREPARED → RECORDING ⇄ PAUSED → STOPPED → FINISHED, callbacks OnlineRecordStarted/Stopped/
Finished signed ``Sign = md5(CallbackKey + ExpireTime)``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from recordings.sandbox import model
from recordings.sandbox.protocol import CallbackPolicy, OutgoingCallback, Request, Response, VendorProtocol
from recordings.sandbox.protocols.tencent_common import (
    VIDEO_TYPE,
    Tc3Failure,
    md5_sign,
    usersig_problem,
    verify_tc3,
)

VERSION = "2019-09-19"
SERVICE = "tiw"
CALLBACK_VALIDITY_S = 300

STATUS = {
    model.PREPARED: "PREPARED",
    model.RECORDING: "RECORDING",
    model.PAUSED: "PAUSED",
    model.STOPPED: "STOPPED",
    model.FINISHED: "FINISHED",
    model.FAILED: "FINISHED",  # Tencent ends a failed task as FINISHED with FinishReason EXCEPTION
}
FINISH_REASON = {model.REASON_API: "USER_CALL", model.REASON_IDLE: "AUTO", model.REASON_ERROR: "EXCEPTION"}
_URL = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.IGNORECASE)


class TiwError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(code)
        self.code = code
        self.message = message


class TencentTiwProtocol(VendorProtocol):
    vendor = "tencent_tiw"
    # seed 002 §开始与结束录制 / §暂停与恢复录制: "实际实时录制操作将在2s左右后进行".
    transition_delay_ms = 2_000
    processing_ms = 10_000
    # API 3.0 callback retry policy: NOT FOUND in vendors.md; the legacy TIC policy of the same
    # service (seed 004 §4.6: once a minute, at most 10 retries) is assumed.
    callback_policy = CallbackPolicy(retry_delays_ms=(60_000,) * 10, timeout_s=5.0)

    def action_of(self, request: Request) -> str:
        return request.header("X-TC-Action") or request.query.get("Action", "")

    # ---- envelopes -------------------------------------------------------------------------------
    # Exactly "application/json": the official SDK only looks for Response.Error under that type.
    _HEADERS = {"Content-Type": "application/json"}

    def _ok(self, payload: dict[str, Any]) -> Response:
        return Response.json(
            {"Response": {**payload, "RequestId": self.core.request_id()}}, headers=self._HEADERS
        )

    def _error(self, code: str, message: str) -> Response:
        # API 3.0 answers errors with HTTP 200 and Response.Error (vendors.md §1b).
        return Response.json(
            {"Response": {"Error": {"Code": code, "Message": message}, "RequestId": self.core.request_id()}},
            headers=self._HEADERS,
        )

    def fault_response(self, action: str, error_code: str | None) -> Response:
        return self._error(
            error_code or "InternalError", "An internal error occurred (injected by the sandbox)."
        )

    # ---- requests --------------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        try:
            return self._handle(request)
        except TiwError as error:
            return self._error(error.code, error.message)
        except Tc3Failure as failure:
            return self._error(failure.code, failure.message)

    def _handle(self, request: Request) -> Response:
        if request.method not in ("POST", "GET"):
            raise TiwError("UnsupportedProtocol", "Only GET and POST are supported.")
        secret_id = verify_tc3(
            request, service=SERVICE, secret_for=self._secret_for, now_s=self.core.wall_seconds()
        )
        action = self.action_of(request)
        if request.header("X-TC-Version") != VERSION:
            raise TiwError(
                "NoSuchVersion", f"The API version `{request.header('X-TC-Version')}` does not exist."
            )
        params = self._params(request)
        handler = {
            "StartOnlineRecord": self._start,
            "PauseOnlineRecord": self._pause,
            "ResumeOnlineRecord": self._resume,
            "StopOnlineRecord": self._stop,
            "DescribeOnlineRecord": self._describe,
            "SetOnlineRecordCallback": self._set_callback,
            "SetOnlineRecordCallbackKey": self._set_callback_key,
            "DescribeOnlineRecordCallback": self._describe_callback,
        }.get(action)
        if handler is None:
            raise TiwError("InvalidAction", f"The action `{action}` is not found.")
        app = self._app(params, secret_id)
        return self._ok(handler(app, params))

    def _secret_for(self, secret_id: str) -> str | None:
        for app in self.core.apps_of(self.vendor):
            if app.secrets.get("secret_id") == secret_id:
                return app.secrets.get("secret_key", "")
        return None

    @staticmethod
    def _params(request: Request) -> dict[str, Any]:
        if request.method == "GET":
            return dict(request.query)
        try:
            params = request.json()
        except ValueError as error:
            raise TiwError("InvalidParameter", "The request body is not valid JSON.") from error
        if not isinstance(params, dict):
            raise TiwError("InvalidParameter", "The request body must be a JSON object.")
        return params

    def _app(self, params: dict[str, Any], secret_id: str) -> model.App:
        if "SdkAppId" not in params:
            raise TiwError("MissingParameter", "The request is missing a required parameter `SdkAppId`.")
        try:
            sdk_app_id = int(params["SdkAppId"])
        except (TypeError, ValueError) as error:
            raise TiwError("InvalidParameter", "SdkAppId must be an integer.") from error
        app = self.core.app(self.vendor, str(sdk_app_id))
        if app is None:
            raise TiwError("InvalidParameter.SdkAppIdNotFound", f"SdkAppId {sdk_app_id} does not exist.")
        if app.secrets.get("secret_id") != secret_id:
            raise TiwError(
                "UnauthorizedOperation.SdkAppId", f"SdkAppId {sdk_app_id} does not belong to this account."
            )
        return app

    def _task(self, app: model.App, params: dict[str, Any]) -> model.Task:
        task_id = params.get("TaskId")
        if not task_id:
            raise TiwError("MissingParameter", "The request is missing a required parameter `TaskId`.")
        task = self.core.task(self.vendor, app.app_id, str(task_id))
        if task is None:
            raise TiwError("InvalidParameter.TaskNotFound", f"Task {task_id} does not exist.")
        return task

    # ---- actions ---------------------------------------------------------------------------------
    def _start(self, app: model.App, params: dict[str, Any]) -> dict[str, Any]:
        room_id = params.get("RoomId")
        if not isinstance(room_id, int) or isinstance(room_id, bool) or not 1 <= room_id <= 4294967295:
            raise TiwError(
                "InvalidParameter.RecordParameter", "RoomId must be an integer within 1..4294967295."
            )
        record_user_id = params.get("RecordUserId")
        if not isinstance(record_user_id, str) or not record_user_id:
            raise TiwError("MissingParameter", "The request is missing a required parameter `RecordUserId`.")
        if not record_user_id.startswith(f"tic_record_user_{room_id}") or len(record_user_id.encode()) > 60:
            raise TiwError(
                "InvalidParameter.RecordParameter",
                f"RecordUserId must look like tic_record_user_{room_id}_<random> and be at most 60 bytes.",
            )
        if not params.get("RecordUserSig"):
            raise TiwError("MissingParameter", "The request is missing a required parameter `RecordUserSig`.")
        timeout = params.get("AutoStopTimeout", 300)
        if not isinstance(timeout, int) or not 300 <= timeout <= 86400:
            raise TiwError(
                "InvalidParameter.RecordParameter", "AutoStopTimeout must be within 300..86400 seconds."
            )
        for other in self.core.find_tasks(self.vendor, app_id=app.app_id, active_only=True):
            if other.record_user_id == record_user_id:
                raise TiwError(
                    "ResourceInUse.RecordUserId",
                    f"RecordUserId {record_user_id} is in use by task {other.task_id}.",
                )
        mix = params.get("MixStream") or {}
        mode = "mixed" if isinstance(mix, dict) and mix.get("Enabled") else "individual"
        task = self.core.create_task(
            self.vendor,
            app.app_id,
            str(room_id),
            mode=mode,
            record_user_id=record_user_id,
            params=params,
            idle_timeout_ms=timeout * 1000,
            extra={"group_id": str(params.get("GroupId") or room_id)},
        )
        return {"TaskId": task.task_id}

    def _pause(self, app: model.App, params: dict[str, Any]) -> dict[str, Any]:
        task = self._task(app, params)
        self._refuse_if_stopped(task)
        if task.logical_state != model.RECORDING:
            raise TiwError(
                "UnsupportedOperation.InvalidTaskStatus",
                f"Task status {STATUS[task.logical_state]} does not allow pausing.",
            )
        self.core.request(task, model.PAUSE)
        return {}

    def _resume(self, app: model.App, params: dict[str, Any]) -> dict[str, Any]:
        task = self._task(app, params)
        self._refuse_if_stopped(task)
        if task.logical_state != model.PAUSED:
            raise TiwError(
                "UnsupportedOperation.InvalidTaskStatus",
                f"Task status {STATUS[task.logical_state]} does not allow resuming.",
            )
        self.core.request(task, model.RESUME)
        return {}

    def _stop(self, app: model.App, params: dict[str, Any]) -> dict[str, Any]:
        task = self._task(app, params)
        self._refuse_if_stopped(task)
        self.core.request(task, model.STOP)
        return {}

    @staticmethod
    def _refuse_if_stopped(task: model.Task) -> None:
        if task.stop_requested:
            raise TiwError(
                "UnsupportedOperation.TaskHasAlreadyStopped", f"Task {task.task_id} has already stopped."
            )

    def _describe(self, app: model.App, params: dict[str, Any]) -> dict[str, Any]:
        return self._result(self._task(app, params))

    def _result(self, task: model.Task) -> dict[str, Any]:
        finished = task.state in model.TERMINAL_STATES
        videos = [self._video_info(task, s) for s in self.core.segments_of(task)] if finished else []
        return {
            "FinishReason": FINISH_REASON.get(task.finish_reason or "", "") if finished else "",
            "TaskId": task.task_id,
            "Status": STATUS[task.state],
            "RoomId": int(task.room_id),
            "GroupId": task.extra.get("group_id", task.room_id),
            "RecordUserId": task.record_user_id,
            "RecordStartTime": (task.started_ms or 0) // 1000,
            "RecordStopTime": (task.stopped_ms or 0) // 1000,
            "TotalTime": task.recorded_ms,
            "ExceptionCnt": 1 if task.state == model.FAILED else 0,
            "OmittedDurations": [],
            "VideoInfos": videos,
            "ReplayUrl": "",
            "Interrupts": [],
        }

    def _video_info(self, task: model.Task, segment: model.Segment) -> dict[str, Any]:
        # UserId: empty for the whiteboard, tic_substream_<user> for screen share, the mix stream's
        # name for mixed (vendors.md §1b VideoInfo).
        if segment.kind == model.WHITEBOARD:
            user_id = ""
        elif segment.kind == model.SCREEN:
            user_id = f"tic_substream_{segment.user_id}"
        elif segment.kind == model.MIXED:
            user_id = f"tic_mixstream_{task.room_id}_{(task.params.get('MixStream') or {}).get('ModelId', 1)}"
        else:
            user_id = segment.user_id
        whiteboard = task.params.get("Whiteboard") or {}
        width, height = (
            (int(whiteboard.get("Width", 1280)), int(whiteboard.get("Height", 960)))
            if segment.kind == model.WHITEBOARD
            else (640, 480)
        )
        return {
            "VideoPlayTime": segment.replay_offset_ms,
            "VideoSize": segment.size,
            "VideoFormat": segment.format,
            "VideoDuration": segment.duration_ms,
            "VideoUrl": self.core.media_url(segment),
            "VideoId": segment.file_id,
            "VideoType": VIDEO_TYPE.get(segment.kind, 0),
            "UserId": user_id,
            "Width": width,
            "Height": height,
        }

    def _set_callback(self, app: model.App, params: dict[str, Any]) -> dict[str, Any]:
        url = params.get("Callback", "")
        if not isinstance(url, str) or (url and not _URL.match(url)):
            raise TiwError(
                "InvalidParameter.CallbackAddressFormatError",
                "The callback address must start with http:// or https://.",
            )
        app.callback_url = url
        self.core.save_app(app)
        return {}

    def _set_callback_key(self, app: model.App, params: dict[str, Any]) -> dict[str, Any]:
        key = params.get("CallbackKey", "")
        if not isinstance(key, str) or len(key) > 64:
            raise TiwError("InvalidParameter", "CallbackKey must be a string of at most 64 characters.")
        app.settings["callback_key"] = key
        self.core.save_app(app)
        return {}

    def _describe_callback(self, app: model.App, params: dict[str, Any]) -> dict[str, Any]:
        return {"Callback": app.callback_url, "CallbackKey": self._callback_key(app)}

    @staticmethod
    def _callback_key(app: model.App) -> str:
        # A key set through SetOnlineRecordCallbackKey wins over the provisioned one (even "" = deleted).
        if "callback_key" in app.settings:
            return str(app.settings["callback_key"])
        return app.secrets.get("callback_key", "")

    # ---- the recorder's side ---------------------------------------------------------------------
    def before_recording(self, task: model.Task) -> str | None:
        app = self.core.app(self.vendor, task.app_id)
        problem = usersig_problem(
            str(task.params.get("RecordUserSig", "")),
            identifier=task.record_user_id,
            sdkappid=int(task.app_id),
            key=app.secrets.get("usersig_key", "") if app else "",
            now_s=self.core.wall_seconds(),
        )
        # The recorder cannot enter the room: the task ends as an exception, as Tencent's does.
        return f"usersig: {problem}" if problem else None

    def vendor_state(self, task: model.Task) -> str:
        return STATUS[task.state]

    def on_state(self, task: model.Task, event: str) -> None:
        brief = {"TaskId": task.task_id, "RoomId": int(task.room_id), "RecordUserId": task.record_user_id}
        if event == "started":
            self.core.emit_callback(task, "OnlineRecordStarted", brief)
        elif event == "stopped":
            self.core.emit_callback(task, "OnlineRecordStopped", brief)
        elif event in ("finished", "failed"):
            result = self._result(task)
            data = {
                key: result[key]
                for key in (
                    "TaskId",
                    "RoomId",
                    "GroupId",
                    "RecordUserId",
                    "FinishReason",
                    "RecordStartTime",
                    "RecordStopTime",
                    "TotalTime",
                    "ExceptionCnt",
                    "OmittedDurations",
                    "VideoInfos",
                )
            }
            self.core.emit_callback(task, "OnlineRecordFinished", data)

    def build_callback(self, app: model.App, record: model.CallbackRecord, url: str) -> OutgoingCallback:
        body: dict[str, Any] = {
            "Timestamp": record.created_ms // 1000,
            "SdkAppId": int(app.app_id),
            "EventType": record.event,
            "EventData": record.payload,
        }
        key = self._callback_key(app)
        if key:
            # Sign and ExpireTime appear only when a callback key is set (vendors.md §1b, TIW-EV).
            expire_time = self.core.wall_seconds() + CALLBACK_VALIDITY_S
            body["ExpireTime"] = expire_time
            body["Sign"] = md5_sign(key, expire_time)
        return OutgoingCallback(
            url=url,
            body=json.dumps(body, ensure_ascii=False).encode("utf-8"),
            headers={"Content-Type": "application/json"},
        )

    def callback_acknowledged(self, status: int, body: bytes) -> bool:
        return status == 200
