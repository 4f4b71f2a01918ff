"""Tencent interactive classroom (TIC) real-time recording, the legacy `record/v1/online/*` API.

Source: seed 004 (§2 usage and the UserId/UserSig rules, §3 `sign = md5(TicKey + expire_time)`,
§4.1–4.6 the six endpoints and the callbacks, §5 the error tables); vendors.md §1a.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, ClassVar, TypeVar

from django.utils.translation import gettext_lazy as _

from recordings.choices import Vendor
from recordings.vendors.base import (
    Ack,
    AppConfig,
    CallbackRejected,
    Capabilities,
    CredentialField,
    EventKind,
    FinishReason,
    Mode,
    OptionField,
    StartSpec,
    State,
    TaskRef,
    VendorError,
    VendorEvent,
    VendorStatus,
)
from recordings.vendors.http import VendorHttp
from recordings.vendors.tencent_common import (
    Explained,
    compact_json,
    epoch_seconds,
    json_object,
    malformed,
    md5_hex,
    record_user_id,
    record_user_sig,
    room_number,
    same_digest,
    sdk_app_id_of,
    segment,
    server_error,
)
from recordings.vendors.tencent_tiw import clean_whiteboard_options, whiteboard_option_fields

PATH = "/record/v1/online/"

T = TypeVar("T")
# How long a request's sign stays valid; seed 004 §3's example uses 120 s, this allows some clock skew.
SIGN_TTL_SECONDS = 300

# Query `status` (seed 004 §4.4 lists prepared, recording, finished). The pause/resume section speaks
# of a paused task state and TIW API 3.0, this API's successor, reports PAUSED and STOPPED, so those
# two words are inferred and mapped too.
STATES: dict[str, State] = {
    "prepared": State.STARTING,
    "recording": State.RECORDING,
    "paused": State.PAUSED,
    "stopped": State.PROCESSING,
    "finished": State.FINISHED,
}

# `finish_reason` (seed 004 §4.4, §4.5.2): "auto" idle, "usercall" stop requested.
FINISH_REASONS: dict[str, FinishReason] = {
    "auto": FinishReason.IDLE,
    "usercall": FinishReason.USER_CALL,
}
# Recording error codes that end a task with a reason of their own (seed 004 §5).
CODE_FINISH_REASONS: dict[int, FinishReason] = {
    40002: FinishReason.NO_FILE,
    40004: FinishReason.START_FAILED,
    40005: FinishReason.START_FAILED,
}

CALLBACK_TYPES: dict[str, tuple[EventKind, State]] = {
    "record_started": (EventKind.STARTED, State.RECORDING),
    "record_finished": (EventKind.FINISHED, State.FINISHED),
}

# Used only by check_connection; no real task has this id.
PROBE_TASK_ID = "recdesk_connection_check"


def _e(kind, en, zh, fix_en, fix_zh, retryable=False) -> Explained:
    return Explained(kind, en, zh, fix_en, fix_zh, retryable)


# Seed 004 §5, both tables, with the fix each row suggests.
ERRORS: dict[int, Explained] = {
    20000: _e(
        "config",
        "Real-time recording is not enabled for this app.",
        "客户未开通实时录制服务。",
        "Apply for the service by email as Tencent's purchase guide describes (seed 004 §2.1).",
        "请按购买指南发送邮件申请开通。",
    ),
    20001: _e(
        "auth",
        "The request's signature had expired: expire_time was in the past when Tencent received it.",
        "签名已过期。",
        "Check this server's clock (NTP); RecDesk signs every request afresh.",
        "检查请求 URL 中的 expire_time，校准服务器时钟后重新生成签名。",
    ),
    20002: _e(
        "auth",
        "Tencent computed a different signature: the TicKey is wrong.",
        "签名校验失败。",
        "Re-enter the TicKey from Tencent's activation email on the app's page.",
        "检查 TicKey 与签名算法是否正确。",
    ),
    20003: _e(
        "invalid",
        "Tencent could not parse a parameter (missing or of the wrong type).",
        "参数解析失败。",
        "Correct the parameter named in error_msg.",
        "根据 error_msg 查询具体的请求参数异常信息，更正参数缺失或类型错误等。",
    ),
    20004: _e(
        "invalid",
        "The callback address is malformed; it must start with http:// or https://.",
        "设置回调地址格式错误。",
        "Check the callback address (RECDESK_PUBLIC_URL).",
        "检查回调地址是否正确。",
    ),
    20005: _e(
        "not_found",
        "Tencent could not read the task's data: usually the task id is unknown.",
        "数据读取失败。",
        "Check the task id, or contact Tencent support.",
        "请检查请求中的 TaskId 或联系客服人员。",
    ),
    20011: _e(
        "conflict",
        "The recording had already ended when the stop request arrived.",
        "发送停止任务请求时录制任务已经结束。",
        "Nothing to do: it probably stopped by itself after a long time without audio or video in the room.",
        "可能由于长时间房间内没有用户音视频上行，实时录制服务自动停止录制，无需操作。",
    ),
    20013: _e(
        "conflict",
        "The recording user id is already in use: a recording of this start request already exists.",
        "实时录制用户已被占用。",
        "A new recording needs a new recording user id and UserSig; RecDesk makes one for every new start.",
        "请重新生成一个不同的实时录制用户 UserId 与 UserSig。",
    ),
    20099: _e(
        "server",
        "Tencent's service had an internal error.",
        "内部错误。",
        "RecDesk retries by itself; if it persists, contact Tencent support with the request's random.",
        "RecDesk 会自动重试；若持续出现，请联系客服人员并提供该请求的 random。",
        True,
    ),
    40000: _e(
        "invalid",
        "Tencent rejected the request body as invalid JSON.",
        "非法请求。",
        "Check that the request body is valid JSON.",
        "请检查请求 body 的 json 格式是否正确。",
    ),
    40001: _e(
        "invalid",
        "A parameter does not meet the requirements.",
        "非法参数。",
        "Check the parameters (room id, recording user id prefix, whiteboard options).",
        "请检查参数是否符合要求。",
    ),
    40002: _e(
        "vendor",
        "The recording ended without producing a file. A room with audio only produces none.",
        "录制结束时没有生成录制文件。",
        "Check that cameras were on; audio-only rooms produce no recording file.",
        "如果房间内只有纯音频则不会生成录制文件，可以检查一下是否打开了摄像头。",
    ),
    40004: _e(
        "auth",
        "The recording user could not log in to IM, usually because of its UserSig.",
        "ImSDK 登录失败。",
        "Check the app's UserSig secret key and SdkAppId.",
        "请根据错误描述检查相应的参数是否正确，比如 usersig。",
    ),
    40005: _e(
        "vendor",
        "The recording user could not join the whiteboard's IM group.",
        "ImSDK 加入群组失败。",
        "Check the room's group id (it defaults to the room number) per the error message.",
        "请根据错误描述进行问题排查。",
    ),
    49999: _e(
        "server",
        "The recording service had an internal error.",
        "内部错误。",
        "RecDesk retries by itself; if it persists, contact Tencent support.",
        "RecDesk 会自动重试；若持续出现，请联系客服人员。",
        True,
    ),
}

_UNKNOWN_REQUEST = _e(
    "vendor",
    "Tencent refused the request with a request error code not in its document.",
    "腾讯云以文档中未列出的请求错误码拒绝了请求。",
    "Contact Tencent support with the request's random.",
    "请联系客服人员并提供该请求的 random。",
)
_UNKNOWN_RECORDING = _e(
    "vendor",
    "The recording service reported an error code not in its document.",
    "实时录制服务返回了文档中未列出的错误码。",
    "Contact Tencent support with the task id.",
    "请联系客服人员并提供任务 ID。",
)


def explain(code: int) -> Explained:
    if code in ERRORS:
        return ERRORS[code]
    # Seed 004 §5: 20000–20099 are request errors, 40000–49999 recording errors.
    return _UNKNOWN_RECORDING if 40000 <= code <= 49999 else _UNKNOWN_REQUEST


def sign(tic_key: str, expire_time: int) -> str:
    """`sign = md5(TicKey + expire_time)` (seed 004 §3)."""
    return md5_hex(f"{tic_key}{expire_time}")


class TencentTicAdapter:
    key: ClassVar[str] = Vendor.TENCENT_TIC.value
    label: ClassVar[str] = Vendor.TENCENT_TIC.label
    default_base_url: ClassVar[str] = "https://iclass.api.qcloud.com"
    credential_fields: ClassVar[tuple[CredentialField, ...]] = (
        CredentialField("tic_key", _("TicKey"), _("The 32-character key from Tencent's activation email.")),
        CredentialField(
            "usersig_key",
            _("UserSig secret key"),
            _("The SDKAppID's secret key, from which RecDesk makes the recording user's UserSig."),
        ),
    )
    capabilities: ClassVar[Capabilities] = Capabilities(
        modes=frozenset({Mode.INDIVIDUAL}),
        pause_modes=frozenset({Mode.INDIVIDUAL}),
        registers_callback=True,
        # record/v1/online/query knows prepared, recording and finished only (seed 004 §查询): a
        # pause shows as "recording", so an accepted pause/resume answer is the news of it.
        reports_pause=False,
    )

    def __init__(self, config: AppConfig, http: VendorHttp) -> None:
        self.config = config
        self.http = http

    def option_fields(self, mode: Mode) -> tuple[OptionField, ...]:
        """The start body's `whiteboard` {width, height, init_param} (seed 004 §4.1)."""
        return whiteboard_option_fields()

    def clean_options(self, mode: Mode, options: Mapping[str, Any]) -> dict[str, Any]:
        if mode != Mode.INDIVIDUAL:
            raise ValueError(f"mode: the classroom API records individual streams only, not {mode}")
        return clean_whiteboard_options(options)

    # ------------------------------------------------------------ calls

    def _call(
        self,
        action: str,
        body: Mapping[str, Any],
        read: Callable[[Mapping[str, Any]], T] = dict,
        *,
        task_query: bool = False,
    ) -> T:
        """POST record/v1/online/<action>?sdkappid&sign&expire_time&random with a JSON body; the
        answer carries error_code/error_msg (seed 004 §3, §4). `random` is the call's request id, as
        the document asks to quote it when reporting a problem.

        With task_query, a recording error code (40000–49999) in an answer that also carries the
        task's `status` describes the task, not the request, and is returned to the caller. `read`
        turns the answer into our values inside the call, so a wrong-shaped answer is recorded
        against it.
        """
        expire_time = int(time.time()) + SIGN_TTL_SECONDS
        nonce = str(secrets.randbelow(2**31 - 1) + 1)
        params = {
            "sdkappid": str(sdk_app_id_of(self.config)),
            "sign": sign(self.config.secret("tic_key"), expire_time),
            "expire_time": str(expire_time),
            "random": nonce,
        }
        content = compact_json(body)
        with self.http.call(f"online/{action}", request_id=nonce) as call:
            response = call.send(
                "POST",
                PATH + action,
                content=content,
                params=params,
                headers={"Content-Type": "application/json"},
            )
            status = response.status_code
            try:
                data = json_object(response.content, http_status=status, request_id=nonce)
            except VendorError:
                if status >= 500:
                    raise server_error(status, nonce) from None
                raise
            code = data.get("error_code")
            if isinstance(code, bool) or not isinstance(code, int):
                if status >= 500:
                    raise server_error(status, nonce)
                raise malformed("no error_code in the answer", http_status=status, request_id=nonce)
            if code == 0 or (task_query and 40000 <= code <= 49999 and "status" in data):
                if status >= 500:
                    raise server_error(status, nonce)
                return read(data)
            message = str(data.get("error_msg") or "")
            call.vendor_code, call.vendor_message = str(code), message
            raise explain(code).error(str(code), message, http_status=status, request_id=nonce)

    def start(self, spec: StartSpec) -> TaskRef:
        """record/v1/online/start (seed 004 §4.1): a recording user id derived from spec.intent_key,
        its UserSig made from the app's usersig_key, and the whiteboard options."""
        options = self.clean_options(spec.mode, spec.options)
        room = room_number(spec.room_id)
        user_id = record_user_id(room, spec.intent_key)
        body = {
            "room_id": room,
            "group_id": spec.group_id or str(room),
            "user_id": user_id,
            "user_sig": record_user_sig(self.config, user_id, int(time.time())),
            "whiteboard": {
                "width": options["whiteboard_width"],
                "height": options["whiteboard_height"],
                "init_param": options["whiteboard_init_param"],
            },
        }
        task_id = self._call("start", body, _task_id)
        return TaskRef(task_id=task_id, room_id=spec.room_id, mode=spec.mode, record_user_id=user_id)

    def recover_start(self, spec: StartSpec) -> TaskRef | None:
        """After a start whose answer was lost, send it again with the same recording user id.

        What can be known: a refusal with 20013 means the lost start made a recording that still
        holds its user; its task_id cannot be learned (no endpoint looks tasks up by user), so this
        raises a conflict VendorError and the task_id arrives with the record_started callback, which
        carries record_user_id. An acceptance returns this intent's only running recording, unless
        the lost one had already ended or not yet taken its user (seed 004 does not say when a user
        id counts as taken): those cases cannot be told apart here.
        """
        try:
            return self.start(spec)
        except VendorError as exc:
            if exc.code != "20013":
                raise
            raise VendorError(
                exc.code,
                exc.message,
                kind="conflict",
                http_status=exc.http_status,
                explanation_en=(
                    "The start request reached Tencent and its recording is running, but the classroom "
                    "API offers no way to look up its task id."
                ),
                explanation_zh="开始录制请求已到达腾讯云且录制正在进行，但互动课堂接口无法按录制用户查询任务 ID。",
                fix_en=(
                    "Nothing to do: RecDesk learns the task id from the record_started callback, "
                    "which names the recording user."
                ),
                fix_zh="无需操作：RecDesk 会从 record_started 回调中（其中包含录制用户 ID）获得任务 ID。",
                request_id=exc.request_id,
            ) from exc

    def pause(self, ref: TaskRef) -> None:
        """record/v1/online/pause (seed 004 §4.3): only a running or resumed task can pause."""
        self._call("pause", {"task_id": ref.task_id})

    def resume(self, ref: TaskRef) -> None:
        """record/v1/online/resume (seed 004 §4.4): only a paused task can resume."""
        self._call("resume", {"task_id": ref.task_id})

    def stop(self, ref: TaskRef) -> None:
        """record/v1/online/stop (seed 004 §4.2)."""
        self._call("stop", {"task_id": ref.task_id})

    def query(self, ref: TaskRef) -> VendorStatus:
        """record/v1/online/query (seed 004 §4.4 "查询实时录制任务结果")."""
        return self._call("query", {"task_id": ref.task_id}, _status, task_query=True)

    def update_layout(self, ref: TaskRef, layout: Mapping[str, Any]) -> None:
        """Seed 004 has no layout endpoint."""
        raise _unsupported(_("The classroom API has no layout to update."))

    def update_whiteboard(self, ref: TaskRef, whiteboard: Mapping[str, Any]) -> None:
        """Seed 004 sets the whiteboard only at start (§4.1)."""
        raise _unsupported(_("The classroom API sets the whiteboard only when the recording starts."))

    def register_callback(self, url: str) -> str:
        """record/v1/online/callback (seed 004 §4.5); an empty string would delete it."""
        self._call("callback", {"callback": url})
        return str(
            _("Tencent now sends recording callbacks to %(url)s, signed with this app's TicKey.")
            % {"url": url}
        )

    def check_connection(self) -> str:
        """A query for a task that does not exist. Tencent checks sdkappid and sign before it reads
        any task, so 20005 ("data read failure, check the task id") proves the TicKey and SdkAppId
        are accepted, while 20000/20001/20002 would say what is wrong (seed 004 §5)."""
        try:
            self._call("query", {"task_id": PROBE_TASK_ID})
        except VendorError as exc:
            if exc.code != "20005":
                raise
        return str(_("Tencent accepted the SdkAppId and TicKey."))

    # ------------------------------------------------------------ callbacks

    def verify(
        self, body: bytes, headers: Mapping[str, str], query: Mapping[str, str], now: datetime
    ) -> None:
        """The callback URL carries sign, expire_time, random and sdkappid (seed 004 §4.6). The
        document says to verify the sign without restating the formula; this applies the API's own
        `md5(TicKey + expire_time)` (inferred, vendors.md §1a) and rejects it once expired. Like the
        request sign, it does not cover the body."""
        received, expire_time = query.get("sign", ""), query.get("expire_time", "")
        if not received:
            raise CallbackRejected("the callback URL carries no sign")
        if not expire_time.isdigit():
            raise CallbackRejected("the callback URL carries no valid expire_time")
        if not same_digest(received, sign(self.config.secret("tic_key"), int(expire_time))):
            raise CallbackRejected("sign does not match md5(TicKey + expire_time)")
        if now.timestamp() > int(expire_time):
            raise CallbackRejected(f"the callback expired at {expire_time} (expire_time)")
        if query.get("sdkappid", "") != str(self.config.app_id):
            raise CallbackRejected("the callback is for another sdkappid")

    def parse(self, body: bytes, headers: Mapping[str, str], query: Mapping[str, str]) -> list[VendorEvent]:
        """record_started / record_finished (seed 004 §4.5.1, §4.5.2).

        delivery_key = `<task_id>:<callback_type>`: each happens once per task, and `timestamp` is
        the time the request was sent (§4.5.1), so a retry may carry a different one."""
        try:
            payload = json_object(body, http_status=200)
        except VendorError:
            raise CallbackRejected("the callback body is not a JSON object") from None
        callback_type = str(payload.get("callback_type") or "")
        occurred_at = epoch_seconds(payload.get("timestamp"))
        if not callback_type or occurred_at is None:
            raise CallbackRejected("the callback has no callback_type or timestamp")
        task_id = str(payload.get("task_id") or "")
        kind, state = CALLBACK_TYPES.get(callback_type, (EventKind.OTHER, None))
        code = payload.get("error_code") if isinstance(payload.get("error_code"), int) else 0
        reason = (
            FINISH_REASONS.get(str(payload.get("finish_reason") or ""))
            if payload.get("finish_reason")
            else None
        )
        if kind == EventKind.FINISHED and code:
            reason = CODE_FINISH_REASONS.get(code, FinishReason.EXCEPTION)
            if reason == FinishReason.START_FAILED:
                kind, state = EventKind.FAILED, State.FAILED
        elif kind == EventKind.FINISHED and reason is None:
            # Missing (the document's own example has none) or a word the document does not list.
            reason = FinishReason.UNKNOWN
        segments = _video_info(payload.get("video_info")) if kind == EventKind.FINISHED else ()
        return [
            VendorEvent(
                delivery_key=f"{task_id}:{callback_type}",
                kind=kind,
                vendor_event=callback_type,
                task_id=task_id,
                occurred_at=occurred_at,
                state=state,
                finish_reason=reason,
                finish_detail=str(payload.get("finish_reason") or ""),
                started_at=epoch_seconds(payload.get("start_time")),
                stopped_at=epoch_seconds(payload.get("stop_time")),
                segments=segments,
                record_user_id=str(payload.get("record_user_id") or ""),
                room_id=str(payload.get("room_id") or ""),
                error_code=str(code) if code else "",
                error_message=str(payload.get("error_msg") or "") if code else "",
            )
        ]

    def ack(self) -> Ack:
        """Exactly `{"error_code":0}`, or Tencent retries once a minute, ten times (seed 004 §4.6)."""
        return Ack(status=200, body=b'{"error_code":0}')


def _task_id(answer: Mapping[str, Any]) -> str:
    task_id = answer.get("task_id")
    if not isinstance(task_id, str) or not task_id:
        raise malformed("start returned no task_id")
    return task_id


def _status(answer: Mapping[str, Any]) -> VendorStatus:
    code = answer.get("error_code") or 0
    vendor_state = answer.get("status")
    if vendor_state not in STATES:
        raise malformed(f"query status {vendor_state!r}")
    state = STATES[vendor_state]
    raw_reason = str(answer.get("finish_reason") or "")
    reason = FINISH_REASONS.get(raw_reason, FinishReason.UNKNOWN) if raw_reason else None
    if code:
        # A recording error reported with the task (seed 004 §5 "实时录制错误码").
        reason = CODE_FINISH_REASONS.get(code, FinishReason.EXCEPTION)
        if reason == FinishReason.START_FAILED:
            state = State.FAILED
    elif state == State.FINISHED and reason is None:
        reason = FinishReason.UNKNOWN
    return VendorStatus(
        state=state,
        vendor_state=vendor_state,
        finish_reason=reason,
        finish_detail=raw_reason,
        started_at=epoch_seconds(answer.get("start_time")),
        stopped_at=epoch_seconds(answer.get("stop_time")),
        segments=_video_info(answer.get("video_info")),
        error_code=str(code) if code else "",
        error_message=str(answer.get("error_msg") or "") if code else "",
    )


def _video_info(value: Any) -> tuple:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise malformed("video_info is not a list of objects")
    return tuple(
        segment(
            video_type=v.get("video_type"),
            user_id=v.get("user_id"),
            play_time_ms=v.get("video_play_time"),
            duration_ms=v.get("video_duration"),
            size=v.get("video_size"),
            video_format=v.get("video_format"),
            url=v.get("video_url"),
            video_id=v.get("video_id"),
        )
        for v in value
    )


def _unsupported(reason) -> VendorError:
    return VendorError(
        "unsupported",
        str(reason),
        kind="invalid",
        explanation_en=str(reason),
        explanation_zh="腾讯云互动课堂接口不支持在录制过程中进行此操作。",
        fix_en="Set it in the start options of the next recording.",
        fix_zh="请在下次开始录制时的选项中设置。",
    )
