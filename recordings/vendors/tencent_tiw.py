"""Tencent Interactive Whiteboard real-time recording over Tencent Cloud API 3.0 (TIW 2019-09-19).

Sources: seed 002 (the recording's flow, UserId/UserSig rules, the result JSON and its timeline);
vendors.md §1b (actions, request/response fields, Status and FinishReason values, error codes,
callbacks and their `Sign = md5(CallbackKey + ExpireTime)`), §1c (TC3-HMAC-SHA256).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar
from urllib.parse import urlsplit

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

SERVICE = "tiw"
API_VERSION = "2019-09-19"
CONTENT_TYPE = "application/json"
ALGORITHM = "TC3-HMAC-SHA256"

T = TypeVar("T")

# DescribeOnlineRecord Status (vendors.md §1b "Status values (exact)").
STATES: dict[str, State] = {
    "PREPARED": State.STARTING,
    "RECORDING": State.RECORDING,
    "PAUSED": State.PAUSED,
    # Stopped and still processing/uploading; results come with FINISHED.
    "STOPPED": State.PROCESSING,
    "FINISHED": State.FINISHED,
}

# DescribeOnlineRecord / OnlineRecordFinished FinishReason (vendors.md §1b).
FINISH_REASONS: dict[str, FinishReason] = {
    "AUTO": FinishReason.IDLE,
    "USER_CALL": FinishReason.USER_CALL,
    "EXCEPTION": FinishReason.EXCEPTION,
    "FORCE_STOP": FinishReason.FORCE_STOP,
}

# Callback EventType (vendors.md §1b, TIW-EV): what each implies for the task.
EVENTS: dict[str, tuple[EventKind, State | None]] = {
    "OnlineRecordStarted": (EventKind.STARTED, State.RECORDING),
    "OnlineRecordStopped": (EventKind.STOPPED, State.PROCESSING),
    "OnlineRecordFinished": (EventKind.FINISHED, State.FINISHED),
}

AUTO_STOP_MIN, AUTO_STOP_MAX = 300, 86400
WHITEBOARD_WIDTH, WHITEBOARD_HEIGHT = 1280, 960
# RecordControl StreamIds with a meaning of their own (vendors.md §1b): the whiteboard.
WHITEBOARD_STREAM_ID = "tic_record_user"


def _explained(kind, en, zh, fix_en, fix_zh, retryable=False) -> Explained:
    return Explained(kind, en, zh, fix_en, fix_zh, retryable)


_CONTACT_EN, _CONTACT_ZH = (
    "If it persists, contact Tencent Cloud support with the RequestId.",
    "若持续出现，请携带 RequestId 联系腾讯云客服。",
)

# Every code of tiw/v20190919/errorcodes.py (vendors.md §1b) and the API 3.0 common codes.
# Lookup is exact first, then by the part before the first dot.
ERRORS: dict[str, Explained] = {
    "AuthFailure": _explained(
        "auth",
        "Tencent Cloud rejected the request's credentials or signature.",
        "腾讯云拒绝了请求的凭据或签名。",
        "Check the app's SecretId and SecretKey; they must belong to the account that owns the SdkAppId.",
        "请检查应用的 SecretId 和 SecretKey，它们必须属于拥有该 SdkAppId 的账号。",
    ),
    "AuthFailure.SignatureExpire": _explained(
        "auth",
        "The request's signature had expired when Tencent received it: this server's clock is off.",
        "请求签名到达腾讯云时已过期：本服务器的时钟不准。",
        "Synchronise the server's clock (NTP); Tencent accepts at most five minutes of difference.",
        "请校准服务器时钟（NTP），腾讯云最多允许五分钟的误差。",
    ),
    "AuthFailure.SignatureFailure": _explained(
        "auth",
        "Tencent computed a different signature: the SecretKey does not match the SecretId.",
        "腾讯云计算的签名不一致：SecretKey 与 SecretId 不匹配。",
        "Re-enter the SecretKey of this SecretId on the app's page.",
        "请在应用页面重新填写与该 SecretId 对应的 SecretKey。",
    ),
    "AuthFailure.SecretIdNotFound": _explained(
        "auth",
        "Tencent does not know this SecretId (deleted or disabled).",
        "腾讯云找不到该 SecretId（已删除或已禁用）。",
        "Create or enable an API key in Tencent Cloud's access management and enter it here.",
        "请在腾讯云访问管理中创建或启用 API 密钥并填写到此处。",
    ),
    "AuthFailure.InvalidSecretId": _explained(
        "auth",
        "The SecretId is not a valid Tencent Cloud API key id.",
        "SecretId 不是有效的腾讯云 API 密钥 ID。",
        "Copy the SecretId again from Tencent Cloud's access management.",
        "请从腾讯云访问管理重新复制 SecretId。",
    ),
    "AuthFailure.UnauthorizedOperation": _explained(
        "auth",
        "This API key is not allowed to use the whiteboard's recording API.",
        "该 API 密钥无权调用互动白板录制接口。",
        "Grant the key's user the TIW permissions in Tencent Cloud's access management.",
        "请在腾讯云访问管理中为该密钥的用户授予互动白板权限。",
    ),
    "UnauthorizedOperation": _explained(
        "auth",
        "This account is not allowed to perform the operation.",
        "该账号无权执行此操作。",
        "Grant the API key's user the TIW permissions in Tencent Cloud's access management.",
        "请在腾讯云访问管理中为该密钥的用户授予互动白板权限。",
    ),
    "UnauthorizedOperation.SdkAppId": _explained(
        "auth",
        "The SdkAppId does not belong to the account of this API key.",
        "该 SdkAppId 不属于此 API 密钥所在的账号。",
        "Use the SecretId/SecretKey of the account that owns the SdkAppId.",
        "请使用拥有该 SdkAppId 的账号的 SecretId/SecretKey。",
    ),
    "InvalidParameter": _explained(
        "invalid",
        "Tencent rejected a parameter of the request.",
        "腾讯云拒绝了请求中的参数。",
        "Check the recording's start options against the message.",
        "请根据错误信息检查录制的启动选项。",
    ),
    "InvalidParameter.RecordParameter": _explained(
        "invalid",
        "A recording parameter is invalid (for example the RecordUserId format or the UserSig).",
        "录制参数无效（例如录制用户 ID 格式或 UserSig）。",
        "Check the start options and the app's UserSig key; the message names the parameter.",
        "请检查启动选项和应用的 UserSig 密钥，错误信息中会指明参数。",
    ),
    "InvalidParameter.TaskNotFound": _explained(
        "not_found",
        "Tencent has no recording task with this TaskId.",
        "腾讯云找不到该 TaskId 对应的录制任务。",
        "Tencent keeps results for three days; an older task can no longer be queried.",
        "腾讯云只保存三天的录制结果，更早的任务已无法查询。",
    ),
    "InvalidParameter.SdkAppIdNotFound": _explained(
        "config",
        "Tencent does not know this SdkAppId.",
        "腾讯云找不到该 SdkAppId。",
        "Correct the app's SdkAppId on the app's page.",
        "请在应用页面更正 SdkAppId。",
    ),
    "InvalidParameter.CallbackAddressFormatError": _explained(
        "invalid",
        "The callback address is not a valid http:// or https:// URL.",
        "回调地址不是有效的 http:// 或 https:// 地址。",
        "Set RECDESK_PUBLIC_URL to the address the vendor can reach, then register the callback again.",
        "请将 RECDESK_PUBLIC_URL 设为供应商可访问的地址，然后重新注册回调。",
    ),
    "InvalidParameter.BodyParameterTypeUnmatched": _explained(
        "invalid",
        "A parameter of the request has the wrong type.",
        "请求中某个参数的类型错误。",
        "Check the start options; the message names the parameter.",
        "请检查启动选项，错误信息中会指明参数。",
    ),
    "InvalidParameter.InvalidExtra": _explained(
        "invalid",
        "An extra feature requested (such as MIX_STREAM) is not enabled for this app.",
        "请求的扩展功能（如 MIX_STREAM）未对该应用开通。",
        "Ask Tencent to enable the feature for the SdkAppId, or record individual streams.",
        "请联系腾讯云为该 SdkAppId 开通此功能，或改为分流录制。",
    ),
    "InvalidParameter.UrlFormatError": _explained(
        "invalid",
        "A URL in the request is malformed.",
        "请求中的 URL 格式错误。",
        "Correct the URL in the start options.",
        "请更正启动选项中的 URL。",
    ),
    "InvalidParameter.FileFormatUnsupported": _explained(
        "invalid",
        "The file format is not supported (document transcoding).",
        "不支持该文件格式（文档转码）。",
        "Use a supported document format.",
        "请使用支持的文档格式。",
    ),
    "InvalidParameter.PreprocessParameter": _explained(
        "invalid",
        "A preprocessing parameter is invalid.",
        "预处理参数无效。",
        "Check the parameters named in the message.",
        "请检查错误信息中指明的参数。",
    ),
    "InvalidParameter.TranscodeParameter": _explained(
        "invalid",
        "A transcoding parameter is invalid.",
        "转码参数无效。",
        "Check the parameters named in the message.",
        "请检查错误信息中指明的参数。",
    ),
    "InvalidParameterValue": _explained(
        "invalid",
        "A parameter value is out of range.",
        "参数取值超出范围。",
        "Check the start options; the message names the parameter.",
        "请检查启动选项，错误信息中会指明参数。",
    ),
    "MissingParameter": _explained(
        "invalid",
        "A required parameter is missing.",
        "缺少必填参数。",
        "Check the start options; the message names the parameter.",
        "请检查启动选项，错误信息中会指明参数。",
    ),
    "UnknownParameter": _explained(
        "invalid",
        "The request carries a parameter Tencent does not know.",
        "请求中含有腾讯云不认识的参数。",
        "Update RecDesk's TIW adapter to the current API version.",
        "请将 RecDesk 的 TIW 适配器更新到当前 API 版本。",
    ),
    "InvalidAction": _explained(
        "invalid",
        "Tencent does not know this action at this address.",
        "腾讯云在此地址不支持该接口。",
        "Check the app's API base URL; it must be tiw.tencentcloudapi.com or the sandbox.",
        "请检查应用的 API 地址，应为 tiw.tencentcloudapi.com 或沙箱地址。",
    ),
    "UnsupportedRegion": _explained(
        "config",
        "The whiteboard API is not offered in this region.",
        "该地域不提供互动白板接口。",
        "Correct or clear the app's region.",
        "请更正或清空应用的地域。",
    ),
    "FailedOperation": _explained(
        "vendor",
        "Tencent could not carry out the operation.",
        "腾讯云未能完成该操作。",
        _CONTACT_EN,
        _CONTACT_ZH,
    ),
    "FailedOperation.Record": _explained(
        "vendor",
        "The recording service failed (for example, the recording user could not join the room).",
        "录制服务失败（例如录制用户无法进入房间）。",
        "Check the room id, the app's UserSig key and that the class is running; " + _CONTACT_EN,
        "请检查房间号、应用的 UserSig 密钥以及课堂是否正在进行；" + _CONTACT_ZH,
    ),
    "FailedOperation.WhiteboardPush": _explained(
        "vendor",
        "Whiteboard push streaming failed.",
        "白板推流失败。",
        _CONTACT_EN,
        _CONTACT_ZH,
    ),
    "FailedOperation.FileDownloadFail": _explained(
        "vendor", "Tencent could not download the file.", "腾讯云下载文件失败。", _CONTACT_EN, _CONTACT_ZH
    ),
    "FailedOperation.FileFormatError": _explained(
        "vendor", "The file's format is wrong.", "文件格式错误。", _CONTACT_EN, _CONTACT_ZH
    ),
    "FailedOperation.FileOpenFail": _explained(
        "vendor", "Tencent could not open the file.", "腾讯云打开文件失败。", _CONTACT_EN, _CONTACT_ZH
    ),
    "FailedOperation.FileUploadFail": _explained(
        "vendor", "Tencent could not upload the file.", "腾讯云上传文件失败。", _CONTACT_EN, _CONTACT_ZH
    ),
    "FailedOperation.Preprocess": _explained(
        "vendor", "Document preprocessing failed.", "文档预处理失败。", _CONTACT_EN, _CONTACT_ZH
    ),
    "FailedOperation.PreprocessServerError": _explained(
        "server",
        "Tencent's preprocessing service failed.",
        "腾讯云预处理服务出错。",
        _CONTACT_EN,
        _CONTACT_ZH,
        True,
    ),
    "FailedOperation.Transcode": _explained(
        "vendor", "Document transcoding failed.", "文档转码失败。", _CONTACT_EN, _CONTACT_ZH
    ),
    "FailedOperation.TranscodeServerError": _explained(
        "server",
        "Tencent's transcoding service failed.",
        "腾讯云转码服务出错。",
        _CONTACT_EN,
        _CONTACT_ZH,
        True,
    ),
    "LimitExceeded": _explained(
        "rate_limited",
        "A quota of the app is exhausted.",
        "应用的某项配额已用尽。",
        "Wait for running work to finish, or ask Tencent to raise the quota.",
        "请等待正在进行的任务结束，或联系腾讯云提高配额。",
    ),
    "LimitExceeded.TaskConcurrency": _explained(
        "rate_limited",
        "The app already runs as many recordings at once as Tencent allows.",
        "该应用同时进行的录制数已达腾讯云上限。",
        "Stop a recording that is no longer needed, or ask Tencent to raise the concurrency limit.",
        "请停止不再需要的录制，或联系腾讯云提高并发上限。",
    ),
    "LimitExceeded.TranscodePagesLimitation": _explained(
        "invalid",
        "The document has more pages than transcoding allows.",
        "文档页数超过转码上限。",
        "Split the document.",
        "请拆分文档。",
    ),
    "RequestLimitExceeded": _explained(
        "rate_limited",
        "Too many requests: Tencent allows 20 per second for each action.",
        "请求过于频繁：腾讯云每个接口每秒最多 20 次。",
        "RecDesk retries after a pause by itself.",
        "RecDesk 会稍后自动重试。",
        True,
    ),
    "ResourceInUse": _explained(
        "conflict",
        "The resource is in use.",
        "资源正被占用。",
        "Wait and try again.",
        "请稍后重试。",
    ),
    "ResourceInUse.RecordUserId": _explained(
        "conflict",
        "The recording user id is already in use: a recording of this start request already exists.",
        "录制用户 ID 已被占用：此次开始录制请求已经产生了一个录制任务。",
        "Use a different recording user id for a new recording; RecDesk does so for every new start.",
        "新的录制请使用不同的录制用户 ID；RecDesk 每次新开始录制都会这样做。",
    ),
    "ResourceNotFound": _explained(
        "not_found",
        "Tencent cannot find the resource.",
        "腾讯云找不到该资源。",
        "Check the task id.",
        "请检查任务 ID。",
    ),
    "ResourceUnavailable": _explained(
        "config",
        "The whiteboard service is not available for this app.",
        "该应用无法使用互动白板服务。",
        "Check the app's whiteboard service in Tencent's console.",
        "请在腾讯云控制台检查该应用的互动白板服务。",
    ),
    "ResourceUnavailable.NotRegistered": _explained(
        "config",
        "The whiteboard service is not activated for this SdkAppId.",
        "该 SdkAppId 未开通互动白板服务。",
        "Activate the Interactive Whiteboard service for the SdkAppId in Tencent's console.",
        "请在腾讯云控制台为该 SdkAppId 开通互动白板服务。",
    ),
    "ResourceUnavailable.ServiceExpired": _explained(
        "config",
        "The whiteboard service of this account has expired or is in arrears.",
        "该账号的互动白板服务已过期或欠费。",
        "Renew the service or settle the account in Tencent's console.",
        "请在腾讯云控制台续费或结清欠费。",
    ),
    "ResourceUnavailable.InterfaceUnAuthorized": _explained(
        "config",
        "Real-time recording is not enabled for this SdkAppId.",
        "该 SdkAppId 未开通实时录制功能。",
        "Enable real-time recording for the SdkAppId in Tencent's console.",
        "请在腾讯云控制台为该 SdkAppId 开通实时录制。",
    ),
    "UnsupportedOperation": _explained(
        "conflict",
        "The operation is not possible now.",
        "当前无法执行该操作。",
        "Refresh the recording's state and try again.",
        "请刷新录制状态后重试。",
    ),
    "UnsupportedOperation.InvalidTaskStatus": _explained(
        "conflict",
        "The recording is not in a state that allows this (pause needs a running recording, resume a paused one).",
        "录制任务当前状态不允许此操作（暂停需要正在录制，恢复需要已暂停）。",
        "RecDesk refreshes the recording's state; act again once it shows the expected state.",
        "RecDesk 会刷新录制状态；待状态符合后再操作。",
    ),
    "UnsupportedOperation.TaskHasAlreadyStopped": _explained(
        "conflict",
        "The recording has already stopped (by a stop request, idle timeout or an error).",
        "录制任务已经停止（主动停止、长时间无人或异常）。",
        "Nothing to do: the results arrive when Tencent finishes processing.",
        "无需操作：腾讯云处理完成后会给出录制结果。",
    ),
    "InternalError": _explained(
        "server",
        "Tencent's service had an internal error.",
        "腾讯云服务内部错误。",
        "RecDesk retries by itself. " + _CONTACT_EN,
        "RecDesk 会自动重试。" + _CONTACT_ZH,
        True,
    ),
    "ServiceUnavailable": _explained(
        "server",
        "Tencent's service is temporarily unavailable.",
        "腾讯云服务暂时不可用。",
        "RecDesk retries by itself.",
        "RecDesk 会自动重试。",
        True,
    ),
}

_UNKNOWN = _explained(
    "vendor",
    "Tencent refused the request with a code RecDesk does not know.",
    "腾讯云以 RecDesk 未知的错误码拒绝了请求。",
    _CONTACT_EN,
    _CONTACT_ZH,
)


def explain(code: str) -> Explained:
    return ERRORS.get(code) or ERRORS.get(code.split(".", 1)[0]) or _UNKNOWN


# ---------------------------------------------------------------- TC3-HMAC-SHA256


def _hmac_sha256(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()


def tc3_signature(
    *, secret_key: str, service: str, host: str, content_type: str, payload: bytes, timestamp: int
) -> str:
    """Signature of a POST to "/" with no query (vendors.md §1c): canonical request over
    content-type and host and the body's SHA-256, string-to-sign with the UTC date scope, key chain
    HMAC("TC3"+SecretKey, date) → service → "tc3_request"."""
    date = datetime.fromtimestamp(timestamp, tz=UTC).strftime("%Y-%m-%d")
    canonical_request = "\n".join(
        [
            "POST",
            "/",
            "",
            f"content-type:{content_type}\nhost:{host}\n",
            "content-type;host",
            hashlib.sha256(payload).hexdigest(),
        ]
    )
    string_to_sign = "\n".join(
        [
            ALGORITHM,
            str(timestamp),
            f"{date}/{service}/tc3_request",
            hashlib.sha256(canonical_request.encode("utf-8")).hexdigest(),
        ]
    )
    key = _hmac_sha256(("TC3" + secret_key).encode("utf-8"), date)
    key = _hmac_sha256(key, service)
    key = _hmac_sha256(key, "tc3_request")
    return hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def tc3_headers(
    *,
    secret_id: str,
    secret_key: str,
    host: str,
    action: str,
    region: str,
    payload: bytes,
    timestamp: int,
) -> dict[str, str]:
    date = datetime.fromtimestamp(timestamp, tz=UTC).strftime("%Y-%m-%d")
    signature = tc3_signature(
        secret_key=secret_key,
        service=SERVICE,
        host=host,
        content_type=CONTENT_TYPE,
        payload=payload,
        timestamp=timestamp,
    )
    headers = {
        "Authorization": (
            f"{ALGORITHM} Credential={secret_id}/{date}/{SERVICE}/tc3_request, "
            f"SignedHeaders=content-type;host, Signature={signature}"
        ),
        "Content-Type": CONTENT_TYPE,
        "Host": host,
        "X-TC-Action": action,
        "X-TC-Timestamp": str(timestamp),
        "X-TC-Version": API_VERSION,
    }
    if region:
        headers["X-TC-Region"] = region
    return headers


# ---------------------------------------------------------------- options


def _stream_ids(value: Any, field_name: str) -> list[str]:
    if value in (None, ""):
        return []
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
        raise ValueError(f"{field_name}: a comma-separated list of user ids")
    ids = [i.strip() for i in items if i.strip()]
    if any(len(i.encode()) > 60 for i in ids):
        raise ValueError(f"{field_name}: a user id is longer than 60 bytes")
    return ids


def _int_option(options: Mapping[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = options.get(name, default)
    if value in (None, ""):
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: a whole number") from None
    if isinstance(value, bool) or not low <= number <= high:
        raise ValueError(f"{name}: between {low} and {high}")
    return number


def _bool_option(options: Mapping[str, Any], name: str, default: bool) -> bool:
    value = options.get(name, default)
    if isinstance(value, bool):
        return value
    if value in ("true", "on", "1", 1):
        return True
    if value in ("false", "off", "0", 0, "", None):
        return False
    raise ValueError(f"{name}: yes or no")


def clean_init_param(value: Any) -> str:
    """The whiteboard's init parameters: a JSON object, kept and sent as a string (its quotes
    escaped inside the body, as seed 004 §4.1 and vendors.md §1b InitParam require)."""
    if value in (None, ""):
        return ""
    if isinstance(value, Mapping):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if not isinstance(value, str):
        raise ValueError("whiteboard_init_param: a JSON object")
    try:
        parsed = json.loads(value)
    except ValueError:
        raise ValueError("whiteboard_init_param: not valid JSON") from None
    if not isinstance(parsed, dict):
        raise ValueError('whiteboard_init_param: a JSON object, such as {"ratio": "16:9"}')
    return json.dumps(parsed, ensure_ascii=False, separators=(",", ":"))


def whiteboard_option_fields() -> tuple[OptionField, ...]:
    return (
        OptionField(
            "whiteboard_width",
            _("Whiteboard video width"),
            "int",
            default=WHITEBOARD_WIDTH,
            min_value=16,
            max_value=3840,
        ),
        OptionField(
            "whiteboard_height",
            _("Whiteboard video height"),
            "int",
            default=WHITEBOARD_HEIGHT,
            min_value=16,
            max_value=2160,
        ),
        OptionField(
            "whiteboard_init_param",
            _("Whiteboard initialisation parameters"),
            "json",
            default="",
            help=_(
                'A JSON object passed to the whiteboard SDK, such as {"ratio": "16:9"}. Keep its '
                "ratio equal to width:height, or the video gets grey borders."
            ),
        ),
    )


def clean_whiteboard_options(options: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "whiteboard_width": _int_option(options, "whiteboard_width", WHITEBOARD_WIDTH, 16, 3840),
        "whiteboard_height": _int_option(options, "whiteboard_height", WHITEBOARD_HEIGHT, 16, 2160),
        "whiteboard_init_param": clean_init_param(options.get("whiteboard_init_param")),
    }


# ---------------------------------------------------------------- the adapter


class TencentTiwAdapter:
    key: ClassVar[str] = Vendor.TENCENT_TIW.value
    label: ClassVar[str] = Vendor.TENCENT_TIW.label
    default_base_url: ClassVar[str] = "https://tiw.tencentcloudapi.com"
    credential_fields: ClassVar[tuple[CredentialField, ...]] = (
        CredentialField("secret_id", _("SecretId"), _("The API key id of the Tencent Cloud account.")),
        CredentialField("secret_key", _("SecretKey"), _("The API key secret that goes with the SecretId.")),
        CredentialField(
            "usersig_key",
            _("UserSig secret key"),
            _("The SDKAppID's secret key, from which RecDesk makes the recording user's UserSig."),
        ),
        CredentialField(
            "callback_key",
            _("Callback key"),
            _("Tencent signs recording callbacks with it; without one, RecDesk cannot trust callbacks."),
            required=False,
        ),
    )
    capabilities: ClassVar[Capabilities] = Capabilities(
        modes=frozenset({Mode.INDIVIDUAL, Mode.MIXED}),
        pause_modes=frozenset({Mode.INDIVIDUAL, Mode.MIXED}),
        registers_callback=True,
    )

    def __init__(self, config: AppConfig, http: VendorHttp) -> None:
        self.config = config
        self.http = http

    # ------------------------------------------------------------ options

    def option_fields(self, mode: Mode) -> tuple[OptionField, ...]:
        """StartOnlineRecord's optional structures (vendors.md §1b): Concat, AutoStopTimeout,
        RecordControl, Whiteboard, and MixStream for the mixed mode."""
        fields = [
            OptionField(
                "concat",
                _("Stitch each user's paused segments into one video"),
                "bool",
                default=False,
                help=_("Without it, every pause starts new files for every stream."),
            ),
            OptionField(
                "concat_image",
                _("Image shown during pauses in stitched videos"),
                "url",
                default="",
            ),
            OptionField(
                "auto_stop_timeout",
                _("Stop automatically after this many idle seconds"),
                "int",
                default=self._default_auto_stop(),
                min_value=AUTO_STOP_MIN,
                max_value=AUTO_STOP_MAX,
                help=_("Idle means no audio, video or whiteboard activity in the room."),
            ),
            OptionField(
                "record_only_streams",
                _("Record only these users' streams"),
                "str",
                default="",
                help=_(
                    "Comma-separated user ids, such as the teacher's. The whiteboard is always recorded; "
                    "other users' streams are not. Tencent matches ids by prefix."
                ),
            ),
            OptionField(
                "skip_streams",
                _("Do not record these users' streams"),
                "str",
                default="",
                help=_(
                    "Comma-separated user ids, such as the students' cameras. Tencent matches ids by prefix."
                ),
            ),
            *whiteboard_option_fields(),
        ]
        if mode == Mode.MIXED:
            fields += [
                OptionField(
                    "mix_model_id",
                    _("Mixed layout template"),
                    "choice",
                    default="1",
                    choices=(("1", _("Template 1")), ("2", _("Template 2"))),
                    help=_("Tencent's preset layouts for the mixed video (MixStream.ModelId)."),
                ),
                OptionField("mix_teacher_id", _("Teacher's user id (shown large)"), "str", default=""),
                OptionField("mix_disable_audio", _("Mixed video without sound"), "bool", default=False),
            ]
        return tuple(fields)

    def _default_auto_stop(self) -> int:
        return min(max(self.config.idle_stop_seconds, AUTO_STOP_MIN), AUTO_STOP_MAX)

    def clean_options(self, mode: Mode, options: Mapping[str, Any]) -> dict[str, Any]:
        record_only = _stream_ids(options.get("record_only_streams"), "record_only_streams")
        skip = _stream_ids(options.get("skip_streams"), "skip_streams")
        if set(record_only) & set(skip):
            raise ValueError("skip_streams: a user cannot be both recorded only and skipped")
        concat_image = options.get("concat_image") or ""
        if concat_image and not (
            isinstance(concat_image, str) and concat_image.startswith(("http://", "https://"))
        ):
            raise ValueError("concat_image: an http:// or https:// address")
        cleaned: dict[str, Any] = {
            "concat": _bool_option(options, "concat", False),
            "concat_image": concat_image,
            "auto_stop_timeout": _int_option(
                options, "auto_stop_timeout", self._default_auto_stop(), AUTO_STOP_MIN, AUTO_STOP_MAX
            ),
            "record_only_streams": record_only,
            "skip_streams": skip,
            **clean_whiteboard_options(options),
        }
        if mode == Mode.MIXED:
            model = str(options.get("mix_model_id") or "1")
            if model not in {"1", "2"}:
                raise ValueError("mix_model_id: 1 or 2")
            teacher = options.get("mix_teacher_id") or ""
            if not isinstance(teacher, str):
                raise ValueError("mix_teacher_id: a user id")
            cleaned |= {
                "mix_model_id": model,
                "mix_teacher_id": teacher.strip(),
                "mix_disable_audio": _bool_option(options, "mix_disable_audio", False),
            }
        elif mode != Mode.INDIVIDUAL:
            raise ValueError(f"mode: TIW records individual streams or a mixed video, not {mode}")
        return cleaned

    # ------------------------------------------------------------ calls

    def _call(
        self, action: str, params: Mapping[str, Any], read: Callable[[Mapping[str, Any]], T] = dict
    ) -> T:
        """One API 3.0 call: POST "/" with X-TC-* headers and a TC3 signature over these exact bytes;
        the answer is `{"Response": {..., "RequestId"}}` or `{"Response": {"Error": {Code, Message}}}`
        (vendors.md §1b/§1c). The RequestId becomes the call's request id. `read` turns the answer into
        our values inside the call, so a wrong-shaped answer is recorded against it."""
        payload = compact_json({"SdkAppId": sdk_app_id_of(self.config), **params})
        headers = tc3_headers(
            secret_id=self.config.secret("secret_id"),
            secret_key=self.config.secret("secret_key"),
            host=urlsplit(self.config.base_url).netloc,
            action=action,
            region=self.config.region,
            payload=payload,
            timestamp=int(time.time()),
        )
        with self.http.call(action) as call:
            response = call.send("POST", "/", content=payload, headers=headers)
            status = response.status_code
            try:
                data = json.loads(response.content)
            except ValueError:
                data = None
            envelope = data.get("Response") if isinstance(data, dict) else None
            if not isinstance(envelope, dict):
                if status >= 500:
                    raise server_error(status)
                raise malformed("no Response object in the answer", http_status=status)
            call.request_id = str(envelope.get("RequestId") or "")
            error = envelope.get("Error")
            if error is not None:
                if not isinstance(error, dict) or not isinstance(error.get("Code"), str):
                    raise malformed(
                        "Response.Error has no Code", http_status=status, request_id=call.request_id
                    )
                code, message = error["Code"], str(error.get("Message") or "")
                call.vendor_code, call.vendor_message = code, message
                raise explain(code).error(code, message, http_status=status, request_id=call.request_id)
            if status >= 500:
                raise server_error(status, call.request_id)
            if status != 200:
                raise malformed(
                    f"HTTP {status} without an error", http_status=status, request_id=call.request_id
                )
            return read(envelope)

    def start(self, spec: StartSpec) -> TaskRef:
        """StartOnlineRecord (vendors.md §1b; seed 002 "开始与结束录制"). The RecordUserId derives
        from spec.intent_key and its UserSig is made here from the app's usersig_key."""
        options = self.clean_options(spec.mode, spec.options)
        room = room_number(spec.room_id)
        user_id = record_user_id(room, spec.intent_key)
        params: dict[str, Any] = {
            "RoomId": room,
            "RecordUserId": user_id,
            "RecordUserSig": record_user_sig(self.config, user_id, int(time.time())),
            "GroupId": spec.group_id or str(room),
            "AutoStopTimeout": options["auto_stop_timeout"],
            "Whiteboard": {
                "Width": options["whiteboard_width"],
                "Height": options["whiteboard_height"],
                "InitParam": options["whiteboard_init_param"],
            },
        }
        if options["concat"]:
            params["Concat"] = {
                "Enabled": True,
                **({"Image": options["concat_image"]} if options["concat_image"] else {}),
            }
        record_control = self._record_control(options)
        if record_control:
            params["RecordControl"] = record_control
        if spec.mode == Mode.MIXED:
            params["Extras"] = ["MIX_STREAM"]
            params["MixStream"] = {
                "Enabled": True,
                "DisableAudio": options["mix_disable_audio"],
                "ModelId": int(options["mix_model_id"]),
                **({"TeacherId": options["mix_teacher_id"]} if options["mix_teacher_id"] else {}),
            }
        task_id = self._call("StartOnlineRecord", params, _task_id)
        return TaskRef(task_id=task_id, room_id=spec.room_id, mode=spec.mode, record_user_id=user_id)

    @staticmethod
    def _record_control(options: Mapping[str, Any]) -> dict[str, Any]:
        """RecordControl (vendors.md §1b): with "record only", everything is off by default and the
        listed users plus the whiteboard are switched on; "skip" switches listed users off."""
        record_only, skip = options["record_only_streams"], options["skip_streams"]
        if not record_only and not skip:
            return {}
        controls = [{"StreamId": uid, "DisableRecord": False} for uid in record_only]
        if record_only:
            controls.append({"StreamId": WHITEBOARD_STREAM_ID, "DisableRecord": False})
        controls += [{"StreamId": uid, "DisableRecord": True} for uid in skip]
        return {"Enabled": True, "DisableRecord": bool(record_only), "StreamControls": controls}

    def recover_start(self, spec: StartSpec) -> TaskRef | None:
        """After a StartOnlineRecord whose answer was lost, send it again with the same RecordUserId
        (it derives from spec.intent_key).

        What can be known: if Tencent refuses with ResourceInUse.RecordUserId, the lost start made a
        recording that is still running. What cannot: its TaskId. No API lists tasks by recording
        user, so this raises a conflict VendorError; the TaskId arrives with the OnlineRecordStarted
        callback, whose EventData names the RecordUserId. If Tencent accepts, the returned TaskRef is
        this intent's only running recording, unless the lost one had already ended (after
        AutoStopTimeout, at least 300 s) or was still joining the room (the documents say the user id
        "must be unused" without saying from when): those two cases are indistinguishable here.
        """
        try:
            return self.start(spec)
        except VendorError as exc:
            if exc.code != "ResourceInUse.RecordUserId":
                raise
            raise VendorError(
                exc.code,
                exc.message,
                kind="conflict",
                http_status=exc.http_status,
                explanation_en=(
                    "The start request reached Tencent and its recording is running, but Tencent "
                    "offers no way to look up its TaskId."
                ),
                explanation_zh="开始录制请求已到达腾讯云且录制正在进行，但腾讯云无法按录制用户查询其 TaskId。",
                fix_en=(
                    "Nothing to do: RecDesk learns the TaskId from Tencent's “recording started” callback, "
                    "which names the recording user."
                ),
                fix_zh="无需操作：RecDesk 会从腾讯云的“开始录制”回调中（其中包含录制用户 ID）获得 TaskId。",
                request_id=exc.request_id,
            ) from exc

    def pause(self, ref: TaskRef) -> None:
        """PauseOnlineRecord (vendors.md §1b; seed 002 "暂停与恢复录制")."""
        self._call("PauseOnlineRecord", {"TaskId": ref.task_id})

    def resume(self, ref: TaskRef) -> None:
        """ResumeOnlineRecord (vendors.md §1b; seed 002 "暂停与恢复录制")."""
        self._call("ResumeOnlineRecord", {"TaskId": ref.task_id})

    def stop(self, ref: TaskRef) -> None:
        """StopOnlineRecord (vendors.md §1b; seed 002 "开始与结束录制")."""
        self._call("StopOnlineRecord", {"TaskId": ref.task_id})

    def query(self, ref: TaskRef) -> VendorStatus:
        """DescribeOnlineRecord (vendors.md §1b; result format of seed 002 "解析录制结果")."""
        return self._call("DescribeOnlineRecord", {"TaskId": ref.task_id}, _status)

    def update_layout(self, ref: TaskRef, layout: Mapping[str, Any]) -> None:
        """TIW sets the mixed layout only at start (MixStream, vendors.md §6): nothing to call."""
        raise _unsupported(_("Tencent TIW sets the mixed layout only when the recording starts."))

    def update_whiteboard(self, ref: TaskRef, whiteboard: Mapping[str, Any]) -> None:
        """TIW has no whiteboard update for a running recording (vendors.md §6)."""
        raise _unsupported(_("Tencent TIW cannot change the whiteboard of a running recording."))

    def register_callback(self, url: str) -> str:
        """SetOnlineRecordCallback, then SetOnlineRecordCallbackKey with the app's callback_key
        (vendors.md §1b: Sign/ExpireTime are sent only when a key is set)."""
        self._call("SetOnlineRecordCallback", {"Callback": url})
        callback_key = self.config.secrets.get("callback_key", "")
        if not callback_key:
            return str(
                _(
                    "Tencent now sends recording callbacks to %(url)s, unsigned: this app has no callback key, "
                    "so RecDesk rejects them. Set a callback key and register again."
                )
                % {"url": url}
            )
        self._call("SetOnlineRecordCallbackKey", {"CallbackKey": callback_key})
        return str(
            _("Tencent now sends recording callbacks to %(url)s, signed with this app's callback key.")
            % {"url": url}
        )

    def check_connection(self) -> str:
        """DescribeOnlineRecordCallback: authenticated and harmless (vendors.md §1b action list)."""
        answer = self._call("DescribeOnlineRecordCallback", {})
        current = answer.get("Callback") or ""
        if current:
            return str(
                _("Tencent accepted the credentials. Recording callbacks go to %(url)s.") % {"url": current}
            )
        return str(_("Tencent accepted the credentials. No recording callback address is set yet."))

    # ------------------------------------------------------------ callbacks

    def verify(
        self, body: bytes, headers: Mapping[str, str], query: Mapping[str, str], now: datetime
    ) -> None:
        """`Sign = md5(CallbackKey + ExpireTime)`, rejected once now > ExpireTime (vendors.md §1b,
        TIW-EV; doc vector in tests). The signature covers only the key and ExpireTime, not EventData:
        Tencent's scheme cannot detect an altered event body, only a forged or replayed-late one."""
        callback_key = self.config.secrets.get("callback_key", "")
        if not callback_key:
            raise CallbackRejected("this app has no callback key, so the callback cannot be authenticated")
        payload = _callback_json(body)
        sign, expire_time = payload.get("Sign"), payload.get("ExpireTime")
        if not sign or not isinstance(sign, str):
            raise CallbackRejected("the callback carries no Sign")
        if (
            isinstance(expire_time, bool)
            or not isinstance(expire_time, int | str)
            or not str(expire_time).isdigit()
        ):
            raise CallbackRejected("the callback carries no valid ExpireTime")
        if not same_digest(sign, md5_hex(f"{callback_key}{expire_time}")):
            raise CallbackRejected("Sign does not match md5(callback key + ExpireTime)")
        if now.timestamp() > int(expire_time):
            raise CallbackRejected(f"the callback expired at {expire_time} (ExpireTime)")
        if str(payload.get("SdkAppId", "")) != str(self.config.app_id):
            raise CallbackRejected("the callback is for another SdkAppId")

    def parse(self, body: bytes, headers: Mapping[str, str], query: Mapping[str, str]) -> list[VendorEvent]:
        """OnlineRecordStarted / Stopped / Finished (vendors.md §1b, TIW-EV examples).

        delivery_key = `<TaskId>:<EventType>`: each of these events happens once per task, and
        Timestamp is left out because the documents do not say it stays the same when Tencent
        sends an event again."""
        payload = _callback_json(body)
        event_type = str(payload.get("EventType") or "")
        data = payload.get("EventData")
        if not isinstance(data, dict) or not event_type:
            raise CallbackRejected("the callback has no EventType or EventData")
        timestamp = payload.get("Timestamp")
        occurred_at = epoch_seconds(timestamp)
        if occurred_at is None:
            raise CallbackRejected("the callback has no Timestamp")
        task_id = str(data.get("TaskId") or "")
        kind, state = EVENTS.get(event_type, (EventKind.OTHER, None))
        error = data.get("Error") if isinstance(data.get("Error"), dict) else {}
        return [
            VendorEvent(
                delivery_key=f"{task_id}:{event_type}",
                kind=kind,
                vendor_event=event_type,
                task_id=task_id,
                occurred_at=occurred_at,
                state=state,
                finish_reason=finish_reason(data.get("FinishReason"), finished=kind == EventKind.FINISHED),
                finish_detail=str(data.get("FinishReason") or ""),
                started_at=epoch_seconds(data.get("RecordStartTime")),
                stopped_at=epoch_seconds(data.get("RecordStopTime")),
                segments=video_infos(data.get("VideoInfos")) if kind == EventKind.FINISHED else (),
                record_user_id=str(data.get("RecordUserId") or ""),
                room_id=str(data.get("RoomId") or ""),
                error_code=str(error.get("Code") or ""),
                error_message=str(error.get("Message") or ""),
            )
        ]

    def ack(self) -> Ack:
        """HTTP 200; the suggested body is `{"error_code":0}` (vendors.md §1b)."""
        return Ack(status=200, body=b'{"error_code":0}')


def _task_id(answer: Mapping[str, Any]) -> str:
    task_id = answer.get("TaskId")
    if not isinstance(task_id, str) or not task_id:
        raise malformed("StartOnlineRecord returned no TaskId")
    return task_id


def _status(answer: Mapping[str, Any]) -> VendorStatus:
    vendor_state = answer.get("Status")
    if vendor_state not in STATES:
        raise malformed(f"DescribeOnlineRecord Status {vendor_state!r}")
    state = STATES[vendor_state]
    return VendorStatus(
        state=state,
        vendor_state=vendor_state,
        finish_reason=finish_reason(answer.get("FinishReason"), finished=state == State.FINISHED),
        finish_detail=str(answer.get("FinishReason") or ""),
        started_at=epoch_seconds(answer.get("RecordStartTime")),
        stopped_at=epoch_seconds(answer.get("RecordStopTime")),
        segments=video_infos(answer.get("VideoInfos")),
    )


def finish_reason(value: Any, *, finished: bool = False) -> FinishReason | None:
    """The mapped FinishReason; a finished recording whose reason is missing or new gets UNKNOWN."""
    if not value:
        return FinishReason.UNKNOWN if finished else None
    return FINISH_REASONS.get(str(value), FinishReason.UNKNOWN)


def video_infos(value: Any) -> tuple:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise malformed("VideoInfos is not a list of objects")
    return tuple(
        segment(
            video_type=v.get("VideoType"),
            user_id=v.get("UserId"),
            play_time_ms=v.get("VideoPlayTime"),
            duration_ms=v.get("VideoDuration"),
            size=v.get("VideoSize"),
            video_format=v.get("VideoFormat"),
            url=v.get("VideoUrl"),
            video_id=v.get("VideoId"),
            width=v.get("Width"),
            height=v.get("Height"),
        )
        for v in value
    )


def _callback_json(body: bytes) -> Mapping[str, Any]:
    try:
        return json_object(body, http_status=200)
    except VendorError:
        raise CallbackRejected("the callback body is not a JSON object") from None


def _unsupported(reason) -> VendorError:
    return VendorError(
        "unsupported",
        str(reason),
        kind="invalid",
        explanation_en=str(reason),
        explanation_zh="腾讯云互动白板不支持在录制过程中进行此操作。",
        fix_en="Set it in the start options of the next recording.",
        fix_zh="请在下次开始录制时的选项中设置。",
    )
