"""Agora Cloud Recording RESTful API (acquire/start/query/update/updateLayout/stop) and NCS callbacks.

Sources: seed 003 (web page recording: acquire scene 1, start mode web, extensionServiceConfig),
vendors.md §2 (AG-DOC `markdown/REC/cloud-recording.md`, `common_errors.md`, `云端录制回调.md`;
AG-GO `services/cloudrecording/api/*.go`), https://docs.agora.io/en/cloud-recording/reference/common-errors,
https://docs.agora.io/en/cloud-recording/reference/region-vendor.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar, NamedTuple, NoReturn

import httpx
from django.utils.translation import gettext_lazy as _

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
    SegmentInfo,
    SegmentKind,
    StartSpec,
    State,
    StorageSpec,
    TaskRef,
    VendorError,
    VendorEvent,
    VendorStatus,
    clean_option_fields,
    epoch_ms,
    required_field,
)
from recordings.vendors.http import VendorHttp

AGORA_MODES = {Mode.INDIVIDUAL: "individual", Mode.MIXED: "mix", Mode.WEB_PAGE: "web"}

# query serverResponse.status (vendors.md §2 "query status"). 6 = stop requested, 7 = every
# component stopped (files may still be listed), 8 = the service exited, 20 = abnormal exit.
STATES: dict[int, State] = {
    0: State.STARTING,
    1: State.STARTING,
    2: State.STARTING,
    3: State.STARTING,
    4: State.RECORDING,
    5: State.RECORDING,
    6: State.STOPPING,
    7: State.PROCESSING,
    8: State.FINISHED,
    20: State.FAILED,
}

# Error codes that end a recording for a reason we can name (common_errors: 435 = nobody published).
FINISH_REASONS_BY_CODE: dict[str, FinishReason] = {"435": FinishReason.NO_FILE}

# NCS eventType 41 recorder_leave: leaveCode is a bitmask (LEAVE_CODE_SIG 2, NO_USERS 4, TIMER_CATCH 8,
# CLIENT_LEAVE 16). The first matching bit, in this order, names the reason.
LEAVE_REASONS: tuple[tuple[int, FinishReason], ...] = (
    (4, FinishReason.IDLE),
    (16, FinishReason.USER_CALL),
    (2, FinishReason.EXCEPTION),
    (8, FinishReason.EXCEPTION),
)

# NCS eventType 71 web_recorder_stopped `code` (AG-DOC 云端录制回调.md). 0 is a normal exit, which
# covers both our stop and the page closing itself, so it does not say which: UNKNOWN.
WEB_STOP_REASONS: dict[int, FinishReason] = {
    0: FinishReason.UNKNOWN,
    1: FinishReason.MAX_DURATION,
    2: FinishReason.EXCEPTION,
    3: FinishReason.START_FAILED,
    4: FinishReason.START_FAILED,
    5: FinishReason.START_FAILED,
    6: FinishReason.EXCEPTION,
}

# StorageProvider → storageConfig.vendor (AG-DOC REC/cloud-recording.md l.880ff; 11 = self-built
# S3-compatible, release note 2025-06-27). Qiniu (0) and Kingsoft (4) are not in the current reference.
STORAGE_VENDORS = {
    "s3": 1,
    "aliyun_oss": 2,
    "tencent_cos": 3,
    "google_gcs": 6,
    "huawei_obs": 7,
    "s3_compatible": 11,
}

# storageConfig.region numbers for the two tables we could read in full (region-vendor page).
# Others take the number from that page, typed as digits.
S3_REGIONS = {
    "us-east-1": 0, "us-east-2": 1, "us-west-1": 2, "us-west-2": 3, "eu-west-1": 4, "eu-west-2": 5,
    "eu-west-3": 6, "eu-central-1": 7, "ap-southeast-1": 8, "ap-southeast-2": 9, "ap-northeast-1": 10,
    "ap-northeast-2": 11, "sa-east-1": 12, "ca-central-1": 13, "ap-south-1": 14, "cn-north-1": 15,
    "cn-northwest-1": 16, "af-south-1": 18, "ap-east-1": 19, "ap-northeast-3": 20, "eu-north-1": 21,
    "me-south-1": 22, "ap-southeast-3": 24, "eu-south-1": 25,
}  # fmt: skip
ALIYUN_REGIONS = {
    "cn-hangzhou": 0, "cn-shanghai": 1, "cn-qingdao": 2, "cn-beijing": 3, "cn-zhangjiakou": 4,
    "cn-huhehaote": 5, "cn-shenzhen": 6, "cn-hongkong": 7, "us-west-1": 8, "us-east-1": 9,
    "ap-southeast-1": 10, "ap-southeast-2": 11, "ap-southeast-3": 12, "ap-southeast-5": 13,
    "ap-northeast-1": 14, "ap-south-1": 15, "eu-central-1": 16, "eu-west-1": 17, "me-east-1": 18,
    "ap-southeast-6": 19, "cn-heyuan": 20, "cn-guangzhou": 21, "cn-chengdu": 22, "cn-nanjing": 23,
    "cn-fuzhou": 24, "cn-wulanchabu": 25,
}  # fmt: skip

# NCS retries resend the same body with a new notifyMs; a notification older than this is refused.
CALLBACK_TOLERANCE = timedelta(minutes=10)


class _Known(NamedTuple):
    kind: str
    retryable: bool
    en: str
    zh: str
    fix_en: str
    fix_zh: str


# Every documented `code` (common_errors.md; docs.agora.io .../common-errors). 62 and 404 depend on the
# call and are handled in _raise_for.
ERRORS: dict[str, _Known] = {
    "2": _Known(
        "invalid", False,
        "Agora refused a parameter (wrong type, spelling, range, or a missing field).",
        "声网拒绝了某个参数（类型、拼写、取值范围错误或缺少必填字段）。",
        "Check the start options against Agora's reference; the reason text names the field.",
        "请对照声网文档检查录制选项；错误原因中会指出具体字段。",
    ),
    "7": _Known(
        "conflict", False,
        "This recording is already running: a start was repeated with the same resource ID.",
        "录制已在进行中：使用同一个 resource ID 重复调用了 start。",
        "Nothing to do: keep the recording already started; query it instead of starting again.",
        "无需处理：沿用已开始的录制，请查询其状态而不要再次开始。",
    ),
    "8": _Known(
        "invalid", False,
        "Agora could not read the request (Content-Type, URL or HTTP method).",
        "声网无法解析该请求（Content-Type、URL 或 HTTP 方法有误）。",
        "Report it to RecDesk's maintainers with the request ID.",
        "请将请求 ID 报告给 RecDesk 维护人员。",
    ),
    "49": _Known(
        "conflict", False,
        "This recording was already stopped (stop repeated with the same resource ID and sid).",
        "该录制已经停止（使用同一 resource ID 和 sid 重复调用了 stop）。",
        "Nothing to do: the recording has ended.",
        "无需处理：录制已经结束。",
    ),
    "53": _Known(
        "conflict", False,
        "A recording by this recorder UID is already running in the channel.",
        "该录制 UID 已在频道内进行录制。",
        "Keep the running recording; its session ID arrives with Agora's next notification.",
        "保留正在进行的录制；其录制 ID（sid）会随声网的下一条消息通知送达。",
    ),
    "62": _Known(
        "config", False,
        "Cloud recording is not enabled for this Agora App ID.",
        "此声网 App ID 尚未开通云端录制。",
        "Enable Cloud Recording for the project in Agora Console.",
        "请在声网控制台为该项目开通云端录制。",
    ),
    "65": _Known(
        "vendor", True,
        "Agora's recorder hit network jitter while starting.",
        "声网录制服务启动时遇到网络抖动。",
        "Retry start with the same resource ID after 3 s, then 6 s (Agora's advice); RecDesk does it.",
        "请使用同一 resource ID 在 3 秒、6 秒后重试 start（声网建议）；RecDesk 会自动执行。",
    ),
    "109": _Known(
        "auth", False,
        "The RTC token for the recorder has expired.",
        "录制端加入频道使用的 RTC token 已过期。",
        "Generate a new token and start again.",
        "请生成新的 token 后重新开始录制。",
    ),
    "110": _Known(
        "auth", False,
        "The RTC token for the recorder is invalid.",
        "录制端加入频道使用的 RTC token 无效。",
        "Make sure the token was generated for this channel and recorder UID.",
        "请确认 token 是为该频道和录制 UID 生成的。",
    ),
    "432": _Known(
        "invalid", False,
        "The App ID, channel name or UID does not match the resource ID.",
        "App ID、频道名或 UID 与 resource ID 不匹配。",
        "Start again: RecDesk acquires a new resource for the same channel and UID.",
        "请重新开始：RecDesk 会为相同的频道和 UID 重新获取资源。",
    ),
    "433": _Known(
        "vendor", True,
        "The resource ID expired: recording must start within 5 minutes of acquire.",
        "resource ID 已过期：获取后须在 5 分钟内开始录制。",
        "Start again; RecDesk acquires a fresh resource ID.",
        "请重新开始；RecDesk 会重新获取 resource ID。",
    ),
    "435": _Known(
        "conflict", False,
        "The recording ended without a file: nobody published audio or video in the channel.",
        "录制已结束且没有生成文件：频道内没有用户发流。",
        "Check that the class actually published streams while recording.",
        "请确认录制期间频道内确有用户发布音视频流。",
    ),
    "501": _Known(
        "conflict", False,
        "The recording service is exiting (this happens when it is queried after stop).",
        "录制服务正在退出（在 stop 之后调用 query 时可能出现）。",
        "Nothing to do: the recording is ending.",
        "无需处理：录制正在结束。",
    ),
    "1001": _Known(
        "invalid", False,
        "Agora could not decrypt the resource ID.",
        "声网无法解密该 resource ID。",
        "Start again; RecDesk acquires a fresh resource ID.",
        "请重新开始；RecDesk 会重新获取 resource ID。",
    ),
    "1003": _Known(
        "invalid", False,
        "The App ID or recording ID (sid) does not match the resource ID.",
        "App ID 或录制 ID（sid）与 resource ID 不匹配。",
        "Check that the task belongs to this app; support can compare the IDs.",
        "请确认该任务属于此应用；技术支持可核对相关 ID。",
    ),
    "1013": _Known(
        "invalid", False,
        "The channel name is not valid for Agora (at most 64 bytes of the allowed characters).",
        "频道名不符合声网要求（最长 64 字节，且只能使用允许的字符）。",
        "Rename the room's channel to letters, digits and Agora's allowed symbols.",
        "请将房间的频道名改为字母、数字及声网允许的符号。",
    ),
    "1028": _Known(
        "invalid", False,
        "The layout update was refused: its parameters are wrong.",
        "更新合流布局被拒绝：请求参数有误。",
        "Check the layout (mixedVideoLayout, layoutConfig) and try again.",
        "请检查布局参数（mixedVideoLayout、layoutConfig）后重试。",
    ),
}  # fmt: skip

_HTTP_ERRORS: dict[str, _Known] = {
    "unauthorized": _Known(
        "auth", False,
        "Agora refused the customer ID and secret.",
        "声网拒绝了客户 ID 和密钥。",
        "Re-enter the RESTful API customer ID and secret of this App ID's account in Credentials.",
        "请在“凭据”中重新填写该 App ID 所属账号的 RESTful API 客户 ID 和客户密钥。",
    ),
    "invalid_appid": _Known(
        "config", False,
        "Agora does not know this App ID, or cloud recording is not enabled for it.",
        "声网不认识此 App ID，或尚未为其开通云端录制。",
        "Check the App ID and enable Cloud Recording for it in Agora Console.",
        "请检查 App ID，并在声网控制台为其开通云端录制。",
    ),
    "no_route": _Known(
        "invalid", False,
        "Agora has no such API route (wrong HTTP method or URL).",
        "声网没有该接口路由（HTTP 方法或 URL 错误）。",
        "Check the app's API base URL; otherwise report it to RecDesk's maintainers.",
        "请检查应用的 API 地址；否则请报告给 RecDesk 维护人员。",
    ),
    "404": _Known(
        "not_found", True,
        "Agora cannot find this recording right now; during a failover this lasts up to a minute.",
        "声网暂时找不到该录制；高可用切换期间可能持续约一分钟。",
        "RecDesk queries again with backoff; if it persists, the recording has ended.",
        "RecDesk 会退避后重新查询；若持续出现，说明录制已经结束。",
    ),
    "429": _Known(
        "rate_limited", True,
        "Too many requests to Agora's API.",
        "对声网 API 的请求过于频繁。",
        "RecDesk retries later by itself; ask Agora for a higher quota if it keeps happening.",
        "RecDesk 会稍后自动重试；若经常发生，请向声网申请更高配额。",
    ),
    "server": _Known(
        "server", True,
        "Agora's API had an internal error.",
        "声网 API 内部错误。",
        "RecDesk retries by itself; if it keeps happening, contact Agora support.",
        "RecDesk 会自动重试；若持续发生，请联系声网技术支持。",
    ),
    "unknown": _Known(
        "vendor", False,
        "Agora refused the request.",
        "声网拒绝了该请求。",
        "Read Agora's reason below; contact Agora support with the request ID if unclear.",
        "请查看下方声网给出的原因；如不明确，请携带请求 ID 联系声网技术支持。",
    ),
    "malformed": _Known(
        "malformed", False,
        "Agora answered with something RecDesk cannot read.",
        "声网返回了 RecDesk 无法解析的内容。",
        "Check the app's API base URL; RecDesk queries the recording to learn its state.",
        "请检查应用的 API 地址；RecDesk 会查询录制以了解其状态。",
    ),
}  # fmt: skip


def _vendor_error(
    code: str, message: str, known: _Known, *, status: int | None, request_id: str
) -> VendorError:
    return VendorError(
        code,
        message,
        kind=known.kind,
        http_status=status,
        retryable=known.retryable,
        explanation_en=known.en,
        explanation_zh=known.zh,
        fix_en=known.fix_en,
        fix_zh=known.fix_zh,
        request_id=request_id,
    )


def recorder_uid(intent_key: str) -> str:
    """The recorder's UID for one start intent, stable across retries, in 2^31..2^32-1 so that it
    stays clear of the small UIDs apps give their users. Agora refuses a second recording by the
    same UID in a channel (code 53), which is what makes a retried start safe."""
    digest = hashlib.sha256(intent_key.encode()).digest()
    return str(2**31 + int.from_bytes(digest[:4], "big") % 2**31)


def ncs_signatures(secret: str, body: bytes) -> tuple[str, str]:
    """(Agora-Signature-V2, Agora-Signature): hex HMAC-SHA256 and HMAC-SHA1 of the raw body
    (docs.agora.io .../signature-verification)."""
    key = secret.encode()
    return (
        hmac.new(key, body, hashlib.sha256).hexdigest(),
        hmac.new(key, body, hashlib.sha1).hexdigest(),
    )


def _file_format(name: str) -> str:
    suffix = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    return {"m3u8": "hls"}.get(suffix, suffix)


def _segments_from_files(
    files: list[Mapping[str, Any]], *, mode: Mode | None, end_ms: int | None = None
) -> tuple[SegmentInfo, ...]:
    """fileList entries → segments.

    `fileName` is the object's key in the customer's bucket (it begins with the storageConfig's
    fileNamePrefix directories); the lifecycle makes the URL from the task's storage target.

    Agora's fileList has no durations, only each file's sliceStartTime (wall clock, ms). A file ends
    where the next file of its lane begins, and the lane's last file where the recorder stopped,
    `end_ms`, when the caller knows it (the stop answer's time, the NCS send time); without it the
    last file's duration is 0 (unknown) and the archiver measures it. Consecutive slices of a lane
    are back to back (web MP4s are cut every maxVideoDuration; a pause or a leave starts the next
    file), so the gap, if any, is counted into the earlier file: an overestimate, never a hole.
    When a lane has both an HLS playlist and MP4 files (avFileType ["hls","mp4"]), they cover the same
    time twice; the MP4 slices are kept because each is a seekable file with its own sliceStartTime,
    and the playlist is dropped. Mixed and web-page files are one lane, kind `mixed`, user "" (web:
    the lane is the rendered page, not a user). With mode None (a notification, which does not name
    the mode), each entry says it: mixedAllUser, or uid "0", marks a mixed file.
    """
    lanes: dict[tuple[str, SegmentKind], list[tuple[str, int | None]]] = {}
    for entry in files:
        name = str(entry.get("fileName") or entry.get("filename") or "")
        if not name:
            continue
        if mode is None:
            mixed = bool(entry.get("mixedAllUser")) or str(entry.get("uid", "")) == "0"
        else:
            mixed = mode != Mode.INDIVIDUAL
        if not mixed:
            user_id = str(entry.get("uid", ""))
            kind = SegmentKind.AUDIO if entry.get("trackType") == "audio" else SegmentKind.CAMERA
        else:
            user_id, kind = "", SegmentKind.MIXED
        start = entry.get("sliceStartTime")
        lanes.setdefault((user_id, kind), []).append((name, int(start) if start not in (None, "") else None))
    segments: list[SegmentInfo] = []
    for (user_id, kind), lane in lanes.items():
        mp4 = [(name, start) for name, start in lane if _file_format(name) == "mp4"]
        kept = sorted(mp4 or lane, key=lambda item: (item[1] is None, item[1] or 0))
        for index, (name, start) in enumerate(kept):
            following = kept[index + 1][1] if index + 1 < len(kept) else end_ms
            duration = following - start if start is not None and following is not None else 0
            segments.append(
                SegmentInfo(
                    file_id=name,
                    kind=kind,
                    duration_ms=max(0, duration),
                    user_id=user_id,
                    started_at_ms=start,
                    format=_file_format(name),
                    object_key=name,
                    duration_is_bound=index + 1 == len(kept) and duration > 0,
                )
            )
    return tuple(segments)


def _answer_time_ms(response: httpx.Response) -> int | None:
    """The vendor's clock when it answered (the HTTP Date header, RFC 9110 §6.6.1), in epoch ms."""
    value = response.headers.get("date")
    if not value:
        return None
    try:
        return int(parsedate_to_datetime(value).timestamp() * 1000)
    except (TypeError, ValueError):
        return None


class AgoraAdapter:
    key: ClassVar[str] = "agora"
    label: ClassVar[str] = _("Agora Cloud Recording")
    default_base_url: ClassVar[str] = "https://api.sd-rtn.com"
    credential_fields: ClassVar[tuple[CredentialField, ...]] = (
        CredentialField(
            "customer_id", _("Customer ID"), _("RESTful API customer ID (Agora Console › RESTful API).")
        ),
        CredentialField(
            "customer_secret", _("Customer secret"), _("The secret paired with the customer ID.")
        ),
        CredentialField(
            "ncs_secret",
            _("Notification secret"),
            _("The secret of the Notifications (NCS) webhook; it signs Agora's callbacks."),
            required=False,
        ),
    )
    capabilities: ClassVar[Capabilities] = Capabilities(
        modes=frozenset({Mode.INDIVIDUAL, Mode.MIXED, Mode.WEB_PAGE}),
        pause_modes=frozenset({Mode.WEB_PAGE}),
        layout_modes=frozenset({Mode.MIXED}),
    )

    def __init__(self, config: AppConfig, http: VendorHttp) -> None:
        self.config = config
        self.http = http
        self.clock = time.time

    # ------------------------------------------------------------ options

    def option_fields(self, mode: Mode) -> tuple[OptionField, ...]:
        """Start options per mode (vendors.md §2 start clientRequest; seed 003 web serviceParam)."""
        idle = OptionField(
            "maxIdleTime", _("Stop after the channel is empty for (seconds)"), "int",
            default=self._default_idle(), min_value=5, max_value=259200,
        )  # fmt: skip
        channel = OptionField(
            "channelType", _("Channel profile"), "choice", default=0,
            choices=(("0", _("Communication")), ("1", _("Live broadcasting"))),
            help=_("Must match the profile the class's clients use."),
        )  # fmt: skip
        if mode == Mode.INDIVIDUAL:
            return (channel, idle)
        files = OptionField(
            "avFileType", _("Output files"), "multichoice", default=["hls", "mp4"],
            choices=(("hls", _("HLS (M3U8 + TS)")), ("mp4", _("MP4"))),
            help=_("HLS is always produced; MP4 is optional."),
        )  # fmt: skip
        if mode == Mode.MIXED:
            return (
                channel,
                idle,
                OptionField(
                    "mixedVideoLayout", _("Layout"), "choice", default=1,
                    choices=(("0", _("Floating")), ("1", _("Best fit")), ("2", _("Vertical")), ("3", _("Custom"))),
                ),
                OptionField(
                    "layoutConfig", _("Custom layout (JSON list)"), "json", default=None,
                    help=_("Only for the custom layout: [{uid, x_axis, y_axis, width, height}, …]."),
                ),
                files,
            )  # fmt: skip
        if mode == Mode.WEB_PAGE:
            return (
                OptionField("url", _("Page URL"), "url", required=True),
                OptionField("videoWidth", _("Video width"), "int", default=1280, min_value=480, max_value=1920),
                OptionField("videoHeight", _("Video height"), "int", default=720, min_value=480, max_value=1920),
                OptionField(
                    "maxRecordingHour", _("Maximum recording length (hours)"), "int",
                    default=self._default_hours(), min_value=1, max_value=720,
                ),
                OptionField(
                    "maxVideoDuration", _("MP4 slice length (minutes)"), "int", default=120,
                    min_value=30, max_value=240,
                ),
                OptionField(
                    "audioProfile", _("Audio quality"), "choice", default=0,
                    choices=(("0", _("48 kHz mono")), ("1", _("48 kHz mono, high bitrate")), ("2", _("48 kHz stereo"))),
                ),
                files,
            )  # fmt: skip
        return ()

    def clean_options(self, mode: Mode, options: Mapping[str, Any]) -> dict[str, Any]:
        fields = self.option_fields(mode)
        if not fields:
            raise ValueError(f"mode: Agora does not record in mode {mode!r}")
        cleaned = clean_option_fields(fields, options)
        if "avFileType" in cleaned and "hls" not in cleaned["avFileType"]:
            raise ValueError("avFileType: Agora always writes HLS; MP4 can only be added to it")
        if mode == Mode.WEB_PAGE:
            if not str(cleaned["url"]).startswith(("http://", "https://")):
                raise ValueError("url: the page address must start with http:// or https://")
            if cleaned["videoWidth"] * cleaned["videoHeight"] > 1920 * 1080:
                raise ValueError("videoWidth: width × height must not exceed 1920 × 1080")
        if mode == Mode.MIXED:
            if cleaned["mixedVideoLayout"] == 3 and not isinstance(cleaned.get("layoutConfig"), list):
                raise ValueError("layoutConfig: the custom layout needs a JSON list of regions")
        return cleaned

    def _default_idle(self) -> int:
        return min(259200, max(5, self.config.idle_stop_seconds))

    def _default_hours(self) -> int:
        return min(720, max(1, math.ceil(self.config.max_duration_seconds / 3600)))

    # ------------------------------------------------------------ requests

    def _base(self) -> str:
        return f"/v1/apps/{self.config.app_id}/cloud_recording"

    def _request(
        self,
        action: str,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        read: Callable[..., Any] | None = None,
        *,
        read_time: bool = False,
    ) -> Any:
        """One authenticated call (HTTP Basic, vendors.md §2 "Auth"); returns the JSON answer, or what
        `read` makes of it, or raises. `read` runs inside the call so that an answer it cannot use is
        recorded as malformed on the call's row; with `read_time` it also gets the vendor's time of
        the answer (epoch ms, or None)."""
        auth = (self.config.secret("customer_id"), self.config.secret("customer_secret"))
        content = None
        headers = {"Accept": "application/json"}
        if body is not None:
            # Serialised once: these bytes are the ones sent.
            content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
            headers["Content-Type"] = "application/json;charset=utf-8"
        with self.http.call(action, request_id=uuid.uuid4().hex) as call:
            response = call.send(method, path, content=content, headers=headers, auth=auth)
            call.request_id = response.headers.get("x-request-id", call.request_id)
            data = self._parse_answer(action, response, call.request_id)
            if read is None:
                return data
            try:
                return read(data, _answer_time_ms(response)) if read_time else read(data)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise _vendor_error(
                    "malformed", f"{action}: unexpected answer ({exc})", _HTTP_ERRORS["malformed"],
                    status=response.status_code, request_id=call.request_id,
                ) from None  # fmt: skip

    def _parse_answer(self, action: str, response: httpx.Response, request_id: str) -> dict[str, Any]:
        status = response.status_code
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            if status >= 400:
                raise _vendor_error(str(status), f"{action}: HTTP {status}", self._by_status(status),
                                    status=status, request_id=request_id)  # fmt: skip
            raise _vendor_error(
                "malformed", f"{action}: HTTP {status}, not a JSON object", _HTTP_ERRORS["malformed"],
                status=status, request_id=request_id,
            )  # fmt: skip
        if status < 300 and "code" not in data:
            return data
        self._raise_for(action, status, data, request_id)

    def _raise_for(self, action: str, status: int, data: Mapping[str, Any], request_id: str) -> NoReturn:
        """Map an error answer: `{"code", "reason"}` from the service or `{"message"}` from the gateway
        (docs.agora.io .../rest-api/status-codes, common-errors)."""
        message = str(data.get("reason") or data.get("message") or "")
        if "code" in data:
            code = str(data["code"])
            if code == "62" and action == "start":
                # On start, 62 means the recorder could not reach the service, not a disabled App ID.
                known = _Known(
                    "connect", True,
                    "Agora's recorder could not connect to the recording service.",
                    "声网录制端未能连接到录制服务。",
                    "RecDesk retries start by itself.",
                    "RecDesk 会自动重试开始录制。",
                )  # fmt: skip
            elif code == "404":
                known = _HTTP_ERRORS["404"]
            else:
                known = ERRORS.get(code) or self._by_status(status)
            raise _vendor_error(code, f"{action}: {message or 'code ' + code}", known, status=status,
                                request_id=request_id)  # fmt: skip
        lowered = message.lower()
        if status == 401:
            code, known = "401", _HTTP_ERRORS["unauthorized"]
        elif "appid" in lowered and "invalid" in lowered:
            code, known = "invalid_appid", _HTTP_ERRORS["invalid_appid"]
        elif status == 404 and "no route" in lowered:
            code, known = "no_route", _HTTP_ERRORS["no_route"]
        else:
            code, known = str(status), self._by_status(status)
        raise _vendor_error(code, f"{action}: {message or 'HTTP ' + str(status)}", known, status=status,
                            request_id=request_id)  # fmt: skip

    @staticmethod
    def _by_status(status: int) -> _Known:
        if status == 404:
            return _HTTP_ERRORS["404"]
        if status == 429:
            return _HTTP_ERRORS["429"]
        if status >= 500:
            return _HTTP_ERRORS["server"]
        return _HTTP_ERRORS["unknown"]

    # ------------------------------------------------------------ recording

    def _acquire(self, cname: str, uid: str, mode: Mode) -> str:
        """acquire (seed 003 "获取 resource ID"; vendors.md §2): scene 1 for web pages, else 0."""
        client_request: dict[str, Any] = {
            "scene": 1 if mode == Mode.WEB_PAGE else 0,
            # query/stop stop working once the resource expires, so it must outlive the recording.
            "resourceExpiredHour": min(720, max(72, math.ceil(self.config.max_duration_seconds / 3600) + 1)),
        }
        if self.config.region.upper() in {"CN", "AP", "EU", "NA"}:
            client_request["region"] = self.config.region.upper()
        body = {"cname": cname, "uid": uid, "clientRequest": client_request}
        return self._request(
            "acquire", "POST", f"{self._base()}/acquire", body, read=lambda d: required_field(d, "resourceId")
        )

    def start(self, spec: StartSpec) -> TaskRef:
        """acquire, then start in individual / mix / web mode (seed 003 "开始录制"; vendors.md §2 start)."""
        if spec.mode not in AGORA_MODES:
            raise ValueError(f"Agora does not record in mode {spec.mode!r}")
        uid = recorder_uid(spec.intent_key)
        # Build (and so validate) the request before acquire: a refused start must not hold a resource.
        client_request = self._client_request(spec)
        resource_id = self._acquire(spec.room_id, uid, spec.mode)
        path = f"{self._base()}/resourceid/{resource_id}/mode/{AGORA_MODES[spec.mode]}/start"
        body = {"cname": spec.room_id, "uid": uid, "clientRequest": client_request}
        sid = self._request("start", "POST", path, body, read=lambda d: required_field(d, "sid"))
        return TaskRef(task_id=str(sid), room_id=spec.room_id, mode=spec.mode, resource_id=resource_id,
                       sid=str(sid), record_user_id=uid)  # fmt: skip

    def _client_request(self, spec: StartSpec) -> dict[str, Any]:
        options = self.clean_options(spec.mode, spec.options)
        request: dict[str, Any] = {"storageConfig": self._storage(spec.storage)}
        if spec.mode == Mode.WEB_PAGE:
            service_param = {
                "url": options["url"],
                "audioProfile": options["audioProfile"],
                "videoWidth": options["videoWidth"],
                "videoHeight": options["videoHeight"],
                "maxRecordingHour": options["maxRecordingHour"],
                "maxVideoDuration": options["maxVideoDuration"],
            }
            request["extensionServiceConfig"] = {
                "errorHandlePolicy": "error_abort",
                "extensionServices": [
                    {"serviceName": "web_recorder_service", "errorHandlePolicy": "error_abort",
                     "serviceParam": service_param}
                ],
            }  # fmt: skip
            request["recordingFileConfig"] = {"avFileType": options["avFileType"]}
            return request
        recording = {
            "channelType": options["channelType"],
            "streamTypes": 2,
            "maxIdleTime": options["maxIdleTime"],
            "subscribeAudioUids": ["#allstream#"],
            "subscribeVideoUids": ["#allstream#"],
        }
        if spec.mode == Mode.MIXED:
            transcoding: dict[str, Any] = {
                # Agora's reference bitrate for 1280×720 at 15 fps.
                "width": 1280, "height": 720, "fps": 15, "bitrate": 1130,
                "mixedVideoLayout": options["mixedVideoLayout"],
            }  # fmt: skip
            if options.get("layoutConfig"):
                transcoding["layoutConfig"] = options["layoutConfig"]
            recording["transcodingConfig"] = transcoding
            request["recordingFileConfig"] = {"avFileType": options["avFileType"]}
        else:
            request["recordingFileConfig"] = {"avFileType": ["hls"]}
        request["recordingConfig"] = recording
        return request

    def _storage(self, storage: StorageSpec | None) -> dict[str, Any]:
        """StorageSpec → storageConfig {vendor, region, bucket, accessKey, secretKey, fileNamePrefix}
        (AG-DOC REC/cloud-recording.md storageConfig; region numbers from the region-vendor page)."""
        if storage is None:
            raise _config_error(
                "storage_required",
                "Agora needs a storage target: it uploads recordings only to your own cloud storage.",
                "声网需要存储目标：它只会把录制文件上传到您自己的云存储。",
                "Choose a default storage target on the app's page.",
                "请在应用页面选择默认存储目标。",
            )
        vendor = STORAGE_VENDORS.get(storage.provider)
        if vendor is None:
            raise _config_error(
                "storage_unsupported",
                f"Agora cannot upload to the storage provider “{storage.provider}”.",
                f"声网不支持上传到存储服务“{storage.provider}”。",
                "Use Amazon S3, Alibaba OSS, Tencent COS, Google Cloud, Huawei OBS or an S3-compatible store.",
                "请使用 Amazon S3、阿里云 OSS、腾讯云 COS、谷歌云、华为云 OBS 或兼容 S3 的存储。",
            )
        config: dict[str, Any] = {
            "vendor": vendor,
            "region": self._storage_region(vendor, storage.region),
            "bucket": storage.bucket,
            "accessKey": storage.access_key,
            "secretKey": storage.secret,
        }
        prefix = [part for part in storage.prefix.split("/") if part]
        if prefix:
            config["fileNamePrefix"] = prefix
        if vendor == 11:
            config["extensionParams"] = {"endpoint": storage.endpoint}
        return config

    @staticmethod
    def _storage_region(vendor: int, region: str) -> int:
        region = region.strip()
        if region.isdigit():
            return int(region)
        if vendor == 11:
            return 0
        key = region.lower().removeprefix("oss-")
        table = {1: S3_REGIONS, 2: ALIYUN_REGIONS}.get(vendor, {})
        if key in table:
            return table[key]
        raise _config_error(
            "storage_region",
            f"Agora identifies storage regions by number; “{region}” has no known number.",
            f"声网以数字标识存储区域；“{region}”没有已知的对应数字。",
            "Enter the region number from Agora's “Third-party cloud storage regions” page.",
            "请填写声网“第三方云存储地区”页面中的区域编号。",
        )

    def recover_start(self, spec: StartSpec) -> TaskRef | None:
        """Agora cannot list a channel's recordings and the sid exists only in start's answer, so a
        lost answer cannot be looked up. What can be known comes from start itself: the recorder UID
        derives from the intent, and Agora refuses a second recording by one UID in a channel with
        code 53 (common_errors.md: "当采用相同参数再次调用 acquire 获得新的 resource ID，并用于 start
        请求时，会发生该错误"). So this acquires a fresh resource and starts again: if the first start made
        nothing, this makes the intent's only recording and returns it; if it did, Agora answers 53 and
        the VendorError says the recording exists but its sid will only arrive with the next NCS
        notification (which carries cname, uid and sid). Code 7 (same resourceId) cannot help: the
        resourceId of the lost start is not kept."""
        try:
            return self.start(spec)
        except VendorError as exc:
            if exc.code != "53":
                raise
            raise VendorError(
                "53",
                "start: this intent's recorder UID is already recording in the channel",
                kind="conflict",
                http_status=exc.http_status,
                retryable=False,
                explanation_en=(
                    "The earlier start did make a recording, but Agora does not say its session ID (sid) "
                    "after a lost answer."
                ),
                explanation_zh="之前的开始请求确实创建了录制，但在响应丢失后声网不会再提供其录制 ID（sid）。",
                fix_en=(
                    "Nothing to start again. RecDesk links the recording when Agora's next notification "
                    "(which names the sid) arrives; make sure the app's NCS webhook is configured."
                ),
                fix_zh="无需再次开始。声网下一条消息通知（含 sid）到达时 RecDesk 会关联该录制；请确认已配置 NCS 回调。",
                request_id=exc.request_id,
            ) from exc

    def _task_path(self, ref: TaskRef, verb: str, mode: Mode | None = None) -> str:
        mode_name = AGORA_MODES[mode or ref.mode]
        return f"{self._base()}/resourceid/{ref.resource_id}/sid/{ref.sid}/mode/{mode_name}/{verb}"

    def _task_body(self, ref: TaskRef, client_request: Mapping[str, Any]) -> dict[str, Any]:
        return {"cname": ref.room_id, "uid": ref.record_user_id, "clientRequest": dict(client_request)}

    def pause(self, ref: TaskRef) -> None:
        """update with webRecordingConfig.onhold = true (AG-DOC 更新云端录制.md); web page mode only."""
        self._require_web(ref, "pause")
        self._request("update", "POST", self._task_path(ref, "update"),
                      self._task_body(ref, {"webRecordingConfig": {"onhold": True}}))  # fmt: skip

    def resume(self, ref: TaskRef) -> None:
        """update with webRecordingConfig.onhold = false (AG-DOC 更新云端录制.md); web page mode only."""
        self._require_web(ref, "resume")
        self._request("update", "POST", self._task_path(ref, "update"),
                      self._task_body(ref, {"webRecordingConfig": {"onhold": False}}))  # fmt: skip

    def _require_web(self, ref: TaskRef, verb: str) -> None:
        if ref.mode != Mode.WEB_PAGE:
            raise _unsupported(
                f"{verb}: Agora pauses only web page recordings",
                "Agora can pause only web page recordings; stream recordings cannot be paused.",
                "声网仅支持暂停页面录制；单流和合流录制无法暂停。",
            )

    def stop(self, ref: TaskRef) -> VendorStatus:
        """stop (vendors.md §2 stop; async_stop false so the answer waits for the upload state).

        The answer carries the file list (serverResponse.fileList, or for web pages
        extensionServiceState[].payload.fileList) and it is the last place Agora names the files:
        query answers 404 once the recording has exited. The recorder stops as the answer is made,
        so the answer's time ends each lane's last file."""
        return self._request(
            "stop", "POST", self._task_path(ref, "stop"), self._task_body(ref, {"async_stop": False}),
            read=lambda data, at: self._stop_status(ref, data, at), read_time=True,
        )  # fmt: skip

    @staticmethod
    def _stop_status(ref: TaskRef, data: Mapping[str, Any], answered_ms: int | None) -> VendorStatus:
        server = data.get("serverResponse") or {}
        files = AgoraAdapter._files(ref, server)
        return VendorStatus(
            state=State.PROCESSING,
            vendor_state="stop " + str(server.get("uploadingStatus") or "accepted"),
            stopped_at=epoch_ms(answered_ms),
            segments=_segments_from_files(files, mode=ref.mode, end_ms=answered_ms),
        )

    def query(self, ref: TaskRef) -> VendorStatus:
        """query (vendors.md §2 query): status 0–8, 20; fileList (individual/mix) or
        extensionServiceState[].payload (web: fileList, onhold)."""
        return self._request(
            "query", "GET", self._task_path(ref, "query"),
            read=lambda data, at: self._status(ref, data, at), read_time=True,
        )  # fmt: skip

    @staticmethod
    def _files(ref: TaskRef, server: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        files: list[Mapping[str, Any]] = []
        if ref.mode == Mode.WEB_PAGE:
            for service in server.get("extensionServiceState") or []:
                if service.get("serviceName") == "web_recorder_service":
                    files.extend((service.get("payload") or {}).get("fileList") or [])
            return files
        file_list = server.get("fileList")
        if isinstance(file_list, str) and file_list:
            # fileListMode "string" (mix + HLS only): one playlist, its start on serverResponse.
            files.append({"fileName": file_list, "sliceStartTime": server.get("sliceStartTime")})
        elif isinstance(file_list, list):
            files.extend(file_list)
        return files

    @staticmethod
    def _status(ref: TaskRef, data: Mapping[str, Any], answered_ms: int | None = None) -> VendorStatus:
        server = data.get("serverResponse") or {}
        vendor_status = int(server["status"])
        state = STATES.get(vendor_status, State.STARTING)
        if ref.mode == Mode.WEB_PAGE and state == State.RECORDING:
            for service in server.get("extensionServiceState") or []:
                payload = service.get("payload") or {}
                if service.get("serviceName") == "web_recorder_service" and payload.get("onhold"):
                    state = State.PAUSED
        finish_reason = None
        if state == State.FINISHED:
            # query does not say why a recording ended; NCS recorder_leave / web_recorder_stopped do.
            finish_reason = FinishReason.UNKNOWN
        elif state == State.FAILED:
            finish_reason = FinishReason.EXCEPTION
        segments: tuple[SegmentInfo, ...] = ()
        if vendor_status >= 6:
            # Only once the recorder has stopped are the files whole. While it records, the listed
            # files are still growing: stored then, they would keep a duration that is too short.
            # The recorder stopped no later than this answer, which bounds the last files.
            segments = _segments_from_files(
                AgoraAdapter._files(ref, server), mode=ref.mode, end_ms=answered_ms
            )
        return VendorStatus(
            state=state,
            vendor_state=str(vendor_status),
            finish_reason=finish_reason,
            segments=segments,
        )

    def update_layout(self, ref: TaskRef, layout: Mapping[str, Any]) -> None:
        """updateLayout (AG-GO api/updatelayout.go): mixedVideoLayout, layoutConfig, backgroundColor, …"""
        if ref.mode != Mode.MIXED:
            raise _unsupported(
                "updateLayout: mix mode only",
                "Agora changes the layout only of mixed recordings.",
                "声网仅支持更新合流录制的布局。",
            )
        allowed = {"maxResolutionUid", "mixedVideoLayout", "backgroundColor", "backgroundImage",
                   "defaultUserBackgroundImage", "layoutConfig", "backgroundConfig"}  # fmt: skip
        client_request = {k: v for k, v in layout.items() if k in allowed}
        self._request("updateLayout", "POST", self._task_path(ref, "updateLayout"),
                      self._task_body(ref, client_request))  # fmt: skip

    def update_whiteboard(self, ref: TaskRef, whiteboard: Mapping[str, Any]) -> None:
        raise _unsupported(
            "Agora cloud recording has no whiteboard",
            "Agora cloud recording has no whiteboard to update; record the page that shows it instead.",
            "声网云端录制没有可更新的白板；请改为录制显示白板的页面。",
        )

    def register_callback(self, url: str) -> str:
        """Agora has no API to set the NCS URL; it is set in Agora Console (vendors.md §2 NCS). Raised,
        not returned, so the UI shows it as something the admin must do rather than a success."""
        raise VendorError(
            "console_only",
            "Agora's notification URL is set in Agora Console, not through the API",
            kind="invalid",
            explanation_en="Agora has no API for setting the callback address.",
            explanation_zh="声网没有用于设置回调地址的 API。",
            fix_en=(
                f"In Agora Console › Notifications, enable Cloud Recording events for this App ID, set the "
                f"URL to {url}, and copy the notification secret into this app's Credentials."
            ),
            fix_zh=f"请在声网控制台的“消息通知”中为此 App ID 开启云端录制事件，将地址设为 {url}，并把消息通知密钥填入本应用的“凭据”。",
        )

    def check_connection(self) -> str:
        """A query of a recording that cannot exist. Agora's gateway checks Basic auth before routing
        (status-codes: 401 "Invalid authentication credentials"), so any answer other than 401 or
        "appid is invalid" proves the customer ID/secret and App ID; acquire is avoided because it
        reserves a resource."""
        bogus = TaskRef(task_id="recdesk-check", room_id="recdesk-check", mode=Mode.MIXED,
                        resource_id="recdesk-connection-check", sid="recdesk-connection-check")  # fmt: skip
        try:
            self.query(bogus)
        except VendorError as exc:
            # 404 / "resource ID" codes come from the recording service, which is reached only
            # after the gateway has accepted the credentials.
            if exc.kind not in {"not_found", "invalid", "conflict"} or exc.code == "no_route":
                raise
        return str(_("Agora accepted the customer ID and secret for this App ID."))

    # ------------------------------------------------------------ callbacks

    def verify(
        self, body: bytes, headers: Mapping[str, str], query: Mapping[str, str], now: datetime
    ) -> None:
        """NCS: `Agora-Signature-V2` = hex HMAC-SHA256, `Agora-Signature` = hex HMAC-SHA1, both over the
        raw body with the NCS secret (docs.agora.io .../signature-verification). V2 is preferred when
        present. No timestamp header exists; notifyMs sits inside the signed body, so freshness is
        checked on it after the signature."""
        secret = self.config.secrets.get("ncs_secret", "")
        if not secret:
            raise CallbackRejected(
                "no NCS secret is set for this app, so Agora's signature cannot be checked"
            )
        v2, v1 = ncs_signatures(secret, body)
        given_v2 = headers.get("agora-signature-v2", "").strip().lower()
        given_v1 = headers.get("agora-signature", "").strip().lower()
        if given_v2:
            if not hmac.compare_digest(given_v2, v2):
                raise CallbackRejected("Agora-Signature-V2 does not match the body")
        elif given_v1:
            if not hmac.compare_digest(given_v1, v1):
                raise CallbackRejected("Agora-Signature does not match the body")
        else:
            raise CallbackRejected("no Agora-Signature-V2 or Agora-Signature header")
        try:
            notified = epoch_ms(json.loads(body).get("notifyMs"))
        except (ValueError, AttributeError):
            notified = None
        if notified is None:
            raise CallbackRejected("the notification has no notifyMs time")
        if abs(now - notified) > CALLBACK_TOLERANCE:
            raise CallbackRejected(f"the notification was sent at {notified.isoformat()}, too far from now")

    def parse(self, body: bytes, headers: Mapping[str, str], query: Mapping[str, str]) -> list[VendorEvent]:
        """NCS cloud-recording notifications (AG-DOC 云端录制回调.md): eventType → what it implies."""
        notice = json.loads(body)
        payload = notice.get("payload") or {}
        details = payload.get("details") or {}
        event_type = int(notice.get("eventType", 0))
        sid = str(payload.get("sid", ""))
        # sid + sequence names one event across retries and Agora's "redundant" double sends;
        # noticeId only when the payload has no sequence.
        if sid and payload.get("sequence") is not None:
            delivery_key = f"{sid}:{payload['sequence']}"
        else:
            delivery_key = str(notice.get("noticeId", ""))
        occurred = (
            epoch_ms(payload.get("sendts"))
            or epoch_ms(notice.get("eventMs"))
            or epoch_ms(notice.get("notifyMs"))
        )
        mode = {"web_record": Mode.WEB_PAGE}.get(str(payload.get("serviceScene", "")), None)
        common = {
            "delivery_key": delivery_key,
            "vendor_event": str(details.get("msgName") or event_type),
            "task_id": sid,
            "occurred_at": occurred or datetime.now(tz=UTC),
            "record_user_id": str(payload.get("uid", "")),
            "room_id": str(payload.get("cname", "")),
        }
        try:
            sent_ms = int(payload.get("sendts"))
        except (TypeError, ValueError):
            sent_ms = None
        kind, extra = self._event_meaning(event_type, details, mode, sent_ms)
        return [VendorEvent(kind=kind, **common, **extra)]

    @staticmethod
    def _event_meaning(
        event_type: int, details: Mapping[str, Any], mode: Mode | None, sent_ms: int | None = None
    ) -> tuple[EventKind, dict[str, Any]]:
        """What one NCS event implies. A file list arrives once its files are whole, no earlier than
        the recorder stopped, so the event's send time bounds each lane's last file (web_recorder_stopped
        is sent as the recorder stops; uploaded after the upload, an overestimate by the upload time)."""
        file_list = details.get("fileList")
        if event_type in (40, 70):  # recorder_started, web_recorder_started
            # The recording's origin on the wall clock, against which the files' sliceStartTimes are
            # placed on the timeline (query and stop answers carry no start time).
            return EventKind.STARTED, {"state": State.RECORDING, "started_at": epoch_ms(sent_ms)}
        if event_type == 41:  # recorder_leave
            code = int(details.get("leaveCode", 0))
            reason = next((r for bit, r in LEAVE_REASONS if code & bit), FinishReason.UNKNOWN)
            return EventKind.STOPPED, {"state": State.PROCESSING, "finish_reason": reason,
                                       "finish_detail": f"leaveCode {code}"}  # fmt: skip
        if event_type == 71:  # web_recorder_stopped
            code = int(details.get("code", 0))
            extra: dict[str, Any] = {
                "state": State.PROCESSING,
                "finish_reason": WEB_STOP_REASONS.get(code, FinishReason.UNKNOWN),
                "finish_detail": str(details.get("message") or f"code {code}"),
            }
            if isinstance(file_list, list):
                extra["segments"] = _segments_from_files(file_list, mode=Mode.WEB_PAGE, end_ms=sent_ms)
            return EventKind.STOPPED, extra
        if event_type in (31, 32, 4) and isinstance(file_list, list):  # uploaded, backuped, file_infos
            segments = _segments_from_files(file_list, mode=mode, end_ms=sent_ms)
            return EventKind.SEGMENTS, {"segments": segments}
        if event_type == 11:  # session_exit
            if int(details.get("exitStatus", 0)) == 0:
                return EventKind.FINISHED, {"state": State.FINISHED}
            return EventKind.FAILED, {"state": State.FAILED, "finish_reason": FinishReason.EXCEPTION,
                                      "finish_detail": "session_exit with exitStatus 1"}  # fmt: skip
        if event_type == 1:  # cloud_recording_error
            return EventKind.OTHER, {"error_code": str(details.get("errorCode", "")),
                                     "error_message": str(details.get("errorMsg", ""))}  # fmt: skip
        return EventKind.OTHER, {}

    def ack(self) -> Ack:
        """NCS counts a delivery as received on HTTP 200 with a JSON body within its deadline."""
        return Ack(status=200, body=b'{"code":0}', content_type="application/json")


# ---------------------------------------------------------------- helpers


def _config_error(code: str, en: str, zh: str, fix_en: str, fix_zh: str) -> VendorError:
    return VendorError(
        code, en, kind="config", explanation_en=en, explanation_zh=zh, fix_en=fix_en, fix_zh=fix_zh
    )


def _unsupported(message: str, en: str, zh: str) -> VendorError:
    return VendorError(
        "unsupported", message, kind="invalid", explanation_en=en, explanation_zh=zh,
        fix_en="The dashboard offers only what the vendor can do; reload the page.",
        fix_zh="面板只提供供应商支持的操作；请刷新页面。",
    )  # fmt: skip
