"""Tencent interactive classroom legacy online recording, ``record/v1/online/*`` (seed 004; vendors.md §1a).

URL query ``sdkappid, sign, expire_time, random`` with ``sign = md5(TicKey + expire_time)``; snake_case
bodies; ``{error_code, error_msg}`` envelopes; callbacks record_started / record_finished retried once a
minute, at most 10 times, until the receiver answers ``{"error_code":0}``.
"""

from __future__ import annotations

import hmac
import json
import urllib.parse
from typing import Any

from recordings.sandbox import model
from recordings.sandbox.protocol import CallbackPolicy, OutgoingCallback, Request, Response, VendorProtocol
from recordings.sandbox.protocols.tencent_common import VIDEO_TYPE, md5_sign, usersig_problem

PREFIX = "/record/v1/online/"
CALLBACK_VALIDITY_S = 300

# seed 004 §5, 请求错误码 and 实时录制错误码.
NOT_ENABLED = 20000
SIGN_EXPIRED = 20001
SIGN_MISMATCH = 20002
PARAM_PARSE = 20003
BAD_CALLBACK_URL = 20004
DATA_READ = 20005
ALREADY_ENDED = 20011
USER_IN_USE = 20013
INTERNAL = 20099
BAD_JSON = 40000
BAD_PARAM = 40001
NO_FILE = 40002
IM_LOGIN = 40004
MESSAGES = {
    NOT_ENABLED: "service not enabled for this sdkappid",
    SIGN_EXPIRED: "sign expired",
    SIGN_MISMATCH: "sign check failed",
    PARAM_PARSE: "parameter parse failed",
    BAD_CALLBACK_URL: "bad callback url",
    DATA_READ: "data read failed, check task_id",
    ALREADY_ENDED: "record task already ended",
    USER_IN_USE: "record user id is in use",
    INTERNAL: "internal error",
    BAD_JSON: "invalid request",
    BAD_PARAM: "invalid parameter",
    NO_FILE: "no record file was produced",
    IM_LOGIN: "ImSDK login failed",
    49999: "internal error",
}

# seed 004 §4.4 names only "prepared", "recording" and "finished": a paused or stopping task is
# still a running recording task in that vocabulary.
STATUS = {
    model.PREPARED: "prepared",
    model.RECORDING: "recording",
    model.PAUSED: "recording",
    model.STOPPED: "recording",
    model.FINISHED: "finished",
    model.FAILED: "finished",
}
FINISH_REASON = {model.REASON_API: "usercall", model.REASON_IDLE: "auto", model.REASON_ERROR: "auto"}


class TicError(Exception):
    def __init__(self, code: int, detail: str = "") -> None:
        super().__init__(code)
        self.code = code
        self.detail = detail


class TencentTicProtocol(VendorProtocol):
    vendor = "tencent_tic"
    # seed 004 §2.3/§2.4: "实际实时录制操作将在2s左右后进行".
    transition_delay_ms = 2_000
    processing_ms = 10_000
    # seed 004 §4.6: retried once a minute, at most 10 times.
    callback_policy = CallbackPolicy(retry_delays_ms=(60_000,) * 10, timeout_s=5.0)

    def action_of(self, request: Request) -> str:
        return request.path[len(PREFIX) :] if request.path.startswith(PREFIX) else request.path

    def _reply(self, code: int = 0, detail: str = "", **fields: Any) -> Response:
        message = (
            "ok"
            if code == 0
            else (f"{MESSAGES.get(code, 'error')}: {detail}" if detail else MESSAGES.get(code, "error"))
        )
        return Response.json({"error_code": code, "error_msg": message, **fields})

    def fault_response(self, action: str, error_code: str | None) -> Response:
        return self._reply(int(error_code) if error_code else INTERNAL, "injected by the sandbox")

    def handle(self, request: Request) -> Response:
        try:
            return self._handle(request)
        except TicError as error:
            return self._reply(error.code, error.detail)

    def _handle(self, request: Request) -> Response:
        action = self.action_of(request)
        handler = {
            "start": self._start,
            "stop": self._stop,
            "pause": self._pause,
            "resume": self._resume,
            "query": self._query,
            "callback": self._set_callback,
        }.get(action)
        if handler is None or not request.path.startswith(PREFIX):
            return Response.json({"error_code": 404, "error_msg": "not found"}, status=404)
        if request.method != "POST":
            return Response.json({"error_code": 405, "error_msg": "method not allowed"}, status=405)
        app = self._authenticate(request)
        try:
            body = request.json()
        except ValueError as error:
            raise TicError(PARAM_PARSE, "body is not JSON") from error
        if not isinstance(body, dict):
            raise TicError(PARAM_PARSE, "body must be a JSON object")
        return handler(app, body)

    def _authenticate(self, request: Request) -> model.App:
        query = request.query
        for name in ("sdkappid", "sign", "expire_time", "random"):
            if not query.get(name):
                raise TicError(PARAM_PARSE, f"missing URL parameter {name}")
        if not query["expire_time"].isdigit() or not query["random"].isdigit():
            raise TicError(PARAM_PARSE, "expire_time and random must be positive integers")
        app = self.core.app(self.vendor, query["sdkappid"])
        if app is None:
            raise TicError(NOT_ENABLED)
        if int(query["expire_time"]) < self.core.wall_seconds():
            raise TicError(SIGN_EXPIRED)
        expected = md5_sign(app.secrets.get("tic_key", ""), query["expire_time"])
        if not hmac.compare_digest(expected, query["sign"].lower()):
            raise TicError(SIGN_MISMATCH)
        return app

    def _task(self, app: model.App, body: dict[str, Any]) -> model.Task:
        task_id = body.get("task_id")
        if not isinstance(task_id, str) or not task_id:
            raise TicError(PARAM_PARSE, "task_id is required")
        task = self.core.task(self.vendor, app.app_id, task_id)
        if task is None:
            raise TicError(DATA_READ)
        return task

    # ---- actions ---------------------------------------------------------------------------------
    def _start(self, app: model.App, body: dict[str, Any]) -> Response:
        room_id = body.get("room_id")
        if not isinstance(room_id, int) or isinstance(room_id, bool) or room_id <= 0:
            raise TicError(PARAM_PARSE, "room_id must be a positive integer")
        user_id = body.get("user_id")
        if not isinstance(user_id, str) or not user_id.startswith(f"tic_record_user_{room_id}"):
            raise TicError(PARAM_PARSE, f"user_id must start with tic_record_user_{room_id}")
        if not isinstance(body.get("user_sig"), str) or not body["user_sig"]:
            raise TicError(PARAM_PARSE, "user_sig is required")
        whiteboard = body.get("whiteboard", {})
        if not isinstance(whiteboard, dict) or not isinstance(whiteboard.get("init_param", ""), str):
            raise TicError(PARAM_PARSE, "whiteboard.init_param must be a JSON string")
        for other in self.core.find_tasks(self.vendor, app_id=app.app_id, active_only=True):
            if other.record_user_id == user_id:
                raise TicError(USER_IN_USE)
        task = self.core.create_task(
            self.vendor,
            app.app_id,
            str(room_id),
            record_user_id=user_id,
            params=body,
            # Idle auto-stop ("auto"): the legacy doc gives no duration; TIW's documented default
            # AutoStopTimeout of 300 s is assumed.
            idle_timeout_ms=300_000,
            extra={"group_id": str(body.get("group_id") or room_id)},
        )
        return self._reply(task_id=task.task_id)

    def _stop(self, app: model.App, body: dict[str, Any]) -> Response:
        task = self._task(app, body)
        if task.stop_requested:
            raise TicError(ALREADY_ENDED)
        self.core.request(task, model.STOP)
        return self._reply()

    def _pause(self, app: model.App, body: dict[str, Any]) -> Response:
        task = self._task(app, body)
        # seed 004 §4.3 allows pause only from the normal or resumed state and names no code for
        # other states; 40001 (invalid parameter) is the closest documented one.
        if task.stop_requested or task.logical_state != model.RECORDING:
            raise TicError(BAD_PARAM, "only a recording task can be paused")
        self.core.request(task, model.PAUSE)
        return self._reply()

    def _resume(self, app: model.App, body: dict[str, Any]) -> Response:
        task = self._task(app, body)
        if task.stop_requested or task.logical_state != model.PAUSED:
            raise TicError(BAD_PARAM, "only a paused task can be resumed")
        self.core.request(task, model.RESUME)
        return self._reply()

    def _query(self, app: model.App, body: dict[str, Any]) -> Response:
        return self._reply(**self._result(self._task(app, body)))

    def _set_callback(self, app: model.App, body: dict[str, Any]) -> Response:
        url = body.get("callback")
        if not isinstance(url, str):
            raise TicError(PARAM_PARSE, "callback must be a string")
        if url and not (url.startswith(("http://", "https://")) and urllib.parse.urlsplit(url).netloc):
            raise TicError(BAD_CALLBACK_URL)
        app.callback_url = url
        self.core.save_app(app)
        return self._reply()

    def _result(self, task: model.Task) -> dict[str, Any]:
        finished = task.state in model.TERMINAL_STATES
        return {
            "finish_reason": FINISH_REASON.get(task.finish_reason or "", "") if finished else "",
            "task_id": task.task_id,
            "status": STATUS[task.state],
            "room_id": int(task.room_id),
            "record_user_id": task.record_user_id,
            "start_time": (task.started_ms or 0) // 1000,
            "stop_time": (task.stopped_ms or 0) // 1000,
            "total_time": task.recorded_ms,
            "group_id": task.extra.get("group_id", task.room_id),
            "video_info": [self._video_info(s) for s in self.core.segments_of(task)] if finished else [],
        }

    def _video_info(self, segment: model.Segment) -> dict[str, Any]:
        return {
            "video_play_time": segment.replay_offset_ms,
            "video_size": segment.size,
            "video_format": segment.format,
            "video_duration": segment.duration_ms,
            "video_url": self.core.media_url(segment),
            "video_id": segment.file_id,
            "video_type": VIDEO_TYPE.get(segment.kind, 0),
            # seed 004: the camera/screen owner's id; empty for whiteboard and mixed videos.
            "user_id": "" if segment.kind in (model.WHITEBOARD, model.MIXED) else segment.user_id,
        }

    # ---- the recorder's side ---------------------------------------------------------------------
    def before_recording(self, task: model.Task) -> str | None:
        app = self.core.app(self.vendor, task.app_id)
        problem = usersig_problem(
            str(task.params.get("user_sig", "")),
            identifier=task.record_user_id,
            sdkappid=int(task.app_id),
            key=app.secrets.get("usersig_key", "") if app else "",
            now_s=self.core.wall_seconds(),
        )
        return str(IM_LOGIN) if problem else None

    def vendor_state(self, task: model.Task) -> str:
        return STATUS[task.state]

    def on_state(self, task: model.Task, event: str) -> None:
        common = {
            "timestamp": self.core.now_ms() // 1000,
            "task_id": task.task_id,
            "task_type": "record_online",
        }
        if event == "started":
            self.core.emit_callback(
                task,
                "record_started",
                {
                    "error_code": 0,
                    "error_msg": "",
                    **common,
                    "callback_type": "record_started",
                    "record_user_id": task.record_user_id,
                    "room_id": int(task.room_id),
                },
            )
        elif event in ("finished", "failed"):
            if task.state == model.FAILED:
                code = int(task.error) if (task.error or "").isdigit() else 49999
            else:
                code = NO_FILE if task.error == model.ERROR_NO_FILE else 0
            result = self._result(task)
            self.core.emit_callback(
                task,
                "record_finished",
                {
                    "error_code": code,
                    "error_msg": "" if code == 0 else MESSAGES.get(code, "error"),
                    **common,
                    "callback_type": "record_finished",
                    **{
                        k: result[k]
                        for k in (
                            "finish_reason",
                            "record_user_id",
                            "room_id",
                            "group_id",
                            "start_time",
                            "stop_time",
                            "total_time",
                            "video_info",
                        )
                    },
                },
            )

    def build_callback(self, app: model.App, record: model.CallbackRecord, url: str) -> OutgoingCallback:
        expire_time = self.core.wall_seconds() + CALLBACK_VALIDITY_S
        # seed 004 §4.6: the URL carries sign, expire_time, random and sdkappid; the doc does not
        # restate the formula, so the request one, md5(TicKey + expire_time), is used.
        query = urllib.parse.urlencode(
            {
                "random": self.core._ids.randint(1, 2**31 - 1),
                "expire_time": expire_time,
                "sign": md5_sign(app.secrets.get("tic_key", ""), expire_time),
                "sdkappid": app.app_id,
            }
        )
        separator = "&" if urllib.parse.urlsplit(url).query else "?"
        return OutgoingCallback(
            url=f"{url}{separator}{query}",
            body=json.dumps(record.payload, ensure_ascii=False).encode("utf-8"),
            headers={"Content-Type": "application/json"},
        )

    def callback_acknowledged(self, status: int, body: bytes) -> bool:
        if status != 200:
            return False
        try:
            return json.loads(body.decode("utf-8")).get("error_code") == 0
        except (ValueError, AttributeError):
            return False
