"""ZEGO Cloud Recording server API v2 and its v2 status callback.

Sources: seed 001 (the API sequence: StartRecord → DescribeRecordStatus → UpdateLayout /
UpdateWhiteboard → StopRecord), vendors.md §3 (ZG: `public/cloud-recording-server/{making-api-requests,
start,stop,query,pause-recording,resume-recording,update-layout,update-whiteboard,
query-record-task-list,end-callback,error-codes}.md`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
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

RECORD_MODES = {Mode.INDIVIDUAL: 1, Mode.MIXED: 2}

# DescribeRecordStatus Data.Status (query.md). 3 and 4 are refined by the files' upload status in
# query(): an ended task whose files are still uploading is `processing`.
STATES: dict[int, State] = {
    1: State.STARTING,
    2: State.RECORDING,
    3: State.FINISHED,
    4: State.FAILED,
    5: State.PAUSED,
}

# RecordFiles[].Status: 1 recording, 2 uploading, 3 uploaded, 4 on ZEGO's backup storage (3 days),
# 5 upload failed. Only 1 and 2 mean the files are not settled yet.
FILE_RECORDING = 1
FILE_PENDING = {FILE_RECORDING, 2}

# Callback event_type 2 detail.quit_reason (end-callback.md). 3 and 4 are ZEGO's automatic stops
# (idle, MaxRecordTime): files still upload, so they end the recording rather than fail it.
QUIT_REASONS: dict[int, FinishReason] = {
    1: FinishReason.START_FAILED,
    2: FinishReason.START_FAILED,
    3: FinishReason.IDLE,
    4: FinishReason.MAX_DURATION,
    5: FinishReason.START_FAILED,
    6: FinishReason.EXCEPTION,
    **{code: FinishReason.EXCEPTION for code in range(1001, 1012)},
}
QUIT_REASONS_THAT_KEEP_FILES = {3, 4}

# StorageProvider → StorageParams.Vendor (start.md: 1 S3, 2 OSS, 3 COS, 4 Qiniu, 5 Alibaba VOD,
# 6 Tencent VOD, 7 OBS, 8 Google Cloud Storage, 9 China Mobile EOS, 10 any S3-protocol provider).
# ZEGO has no VOD of its own, so "vendor_vod" has no code here.
STORAGE_VENDORS = {
    "s3": 1,
    "aliyun_oss": 2,
    "tencent_cos": 3,
    "qiniu": 4,
    "huawei_obs": 7,
    "google_gcs": 8,
    "s3_compatible": 10,
}

# The gateway rejects a Timestamp more than 10 minutes off (making-api-requests.md); callbacks carry
# their send time and are retried within seconds, so 5 minutes is generous.
CALLBACK_TOLERANCE = timedelta(minutes=5)
# recover_start looks for this room's running tasks begun this recently.
RECOVERY_WINDOW = timedelta(minutes=15)

MIX_STREAM_PREFIX = "recdesk_mix_"


class _Known(NamedTuple):
    kind: str
    retryable: bool
    en: str
    zh: str
    fix_en: str
    fix_zh: str


# error-codes.md, every code with ZEGO's suggested handling.
ERRORS: dict[str, _Known] = {
    "100000004": _Known(
        "auth", True,
        "ZEGO says the request's signature has expired (the server clock is off by over 10 minutes).",
        "即构提示请求签名已过期（服务器时钟偏差超过 10 分钟）。",
        "Sync the server's clock (NTP); RecDesk signs every call afresh and retries.",
        "请校准服务器时钟（NTP）；RecDesk 每次调用都会重新签名并重试。",
    ),
    "100000005": _Known(
        "auth", False,
        "ZEGO rejected the signature: the AppId or ServerSecret is wrong.",
        "即构拒绝了签名：AppId 或 ServerSecret 不正确。",
        "Re-enter the ServerSecret from ZEGO Console › Project › Configuration in Credentials.",
        "请在“凭据”中重新填写即构控制台“项目配置”中的 ServerSecret。",
    ),
    "300000002": _Known(
        "config", False,
        "Cloud recording is not enabled for this ZEGO project.",
        "此即构项目尚未开通云端录制服务。",
        "Ask ZEGO support to enable the cloud recording service.",
        "请联系即构技术支持开通云端录制服务权限。",
    ),
    "300000003": _Known(
        "rate_limited", True,
        "Too many requests to this ZEGO API (each action has its own per-second limit).",
        "对该即构接口的请求频率超过上限（每个接口有各自的 QPS 限制）。",
        "RecDesk retries later by itself.",
        "RecDesk 会稍后自动重试。",
    ),
    "300000004": _Known(
        "invalid", False,
        "ZEGO refused a parameter of the request.",
        "即构拒绝了请求中的某个参数。",
        "Adjust the option named in ZEGO's message and try again.",
        "请根据即构返回的 Message 调整对应参数后重试。",
    ),
    "300000005": _Known(
        "vendor", False,
        "ZEGO's gateway check failed.",
        "即构网关校验失败。",
        "Contact ZEGO support with the request ID.",
        "请携带请求 ID 联系即构技术支持。",
    ),
    "300000006": _Known(
        "rate_limited", True,
        "The project has reached its limit of concurrent recordings.",
        "并发录制任务数超过上限。",
        "Stop recordings that are no longer needed, or ask ZEGO for a higher limit; RecDesk retries.",
        "请停止不再需要的录制，或向即构申请提高上限；RecDesk 会重试。",
    ),
    "300001000": _Known(
        "not_found", False,
        "ZEGO has no such recording task (or it started more than three days ago).",
        "即构不存在该录制任务（或其开始时间已超过三天）。",
        "Check that the recording was started; tasks older than three days cannot be queried.",
        "请确认是否已经开始录制；超过三天的任务无法查询。",
    ),
    "300001001": _Known(
        "conflict", False,
        "The recording has already ended (stopped, or ended by MaxIdleTime / MaxRecordTime).",
        "录制任务已结束（已调用结束录制，或满足 MaxIdleTime / MaxRecordTime 自动结束条件）。",
        "Nothing to do: the recording is over.",
        "无需处理：录制已经结束。",
    ),
    "300001004": _Known(
        "conflict", False,
        "The recording is not paused, so it cannot be resumed.",
        "录制任务不处于暂停状态，无法恢复。",
        "Nothing to do: the recording is already running.",
        "无需处理：录制已在进行中。",
    ),
    "300010000": _Known(
        "server", True,
        "ZEGO's recording service had a system error.",
        "即构录制服务系统错误。",
        "RecDesk retries by itself; if it persists, contact ZEGO support.",
        "RecDesk 会自动重试；若持续发生，请联系即构技术支持。",
    ),
}  # fmt: skip

_OTHER: dict[str, _Known] = {
    "http": _Known(
        "vendor", False,
        "ZEGO's API answered with an HTTP error.",
        "即构 API 返回了 HTTP 错误。",
        "Check the app's API base URL (regional hosts are cloudrecord-api-<region>.zego.im).",
        "请检查应用的 API 地址（区域地址为 cloudrecord-api-<区域>.zego.im）。",
    ),
    "server": _Known(
        "server", True,
        "ZEGO's API had an internal error.",
        "即构 API 内部错误。",
        "RecDesk retries by itself; if it persists, contact ZEGO support.",
        "RecDesk 会自动重试；若持续发生，请联系即构技术支持。",
    ),
    "rate": _Known(
        "rate_limited", True,
        "Too many requests to ZEGO's API.",
        "对即构 API 的请求过于频繁。",
        "RecDesk retries later by itself.",
        "RecDesk 会稍后自动重试。",
    ),
    "unknown": _Known(
        "vendor", False,
        "ZEGO refused the request.",
        "即构拒绝了该请求。",
        "Read ZEGO's message below; contact ZEGO support with the request ID if unclear.",
        "请查看下方即构返回的信息；如不明确，请携带请求 ID 联系即构技术支持。",
    ),
    "malformed": _Known(
        "malformed", False,
        "ZEGO answered with something RecDesk cannot read.",
        "即构返回了 RecDesk 无法解析的内容。",
        "Check the app's API base URL; RecDesk queries the recording to learn its state.",
        "请检查应用的 API 地址；RecDesk 会查询录制以了解其状态。",
    ),
}  # fmt: skip


def api_signature(app_id: str, nonce: str, server_secret: str, timestamp: int | str) -> str:
    """`Signature = md5(AppId + SignatureNonce + ServerSecret + Timestamp)`, lowercase hex
    (making-api-requests.md, SignatureVersion 2.0)."""
    return hashlib.md5(f"{app_id}{nonce}{server_secret}{timestamp}".encode()).hexdigest()


def callback_signature(callback_secret: str, timestamp: str, nonce: str) -> str:
    """sha1 of callbacksecret, timestamp and nonce sorted as strings and joined (end-callback.md)."""
    return hashlib.sha1("".join(sorted([callback_secret, str(timestamp), str(nonce)])).encode()).hexdigest()


def mix_stream_id(intent_key: str) -> str:
    return MIX_STREAM_PREFIX + re.sub(r"[^A-Za-z0-9_-]", "_", intent_key)[:100]


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


def _segments(files: list[Mapping[str, Any]], *, mixed: bool | None, snake: bool) -> tuple[SegmentInfo, ...]:
    """RecordFiles (PascalCase, query.md) or detail.file_info (snake_case, end-callback.md) → segments,
    placed on the wall clock by BeginTimestamp (ms). A mixed file's UserId is the MixOutputStreamId,
    so it becomes the one `mixed` lane with user ""; with mixed None (a callback, which does not name
    the mode) the stream id RecDesk gave the mix tells. ZEGO cannot tell a screen share from a camera:
    both are the user's streams, so both are `camera`. Snapshots (jpg) are not recordings.

    A file still being recorded (Status 1) is left out: its length still grows and the documents do
    not promise its FileId is the final file's, so storing it could leave a second, shorter copy.
    A file being uploaded (Status 2) is listed without URL and size, as it is not an object in the
    storage yet (nothing to play or archive); the answer after its upload (Status 3, 4) brings
    them, and the lifecycle lets the most complete answer win."""

    def get(entry: Mapping[str, Any], pascal: str, snake_name: str) -> Any:
        return entry.get(snake_name if snake else pascal)

    segments = []
    for entry in files:
        file_format = str(get(entry, "OutputFileFormat", "output_file_format") or "").lower()
        if file_format == "jpg":
            continue
        if get(entry, "Status", "status") == FILE_RECORDING:
            continue
        stream_id = str(get(entry, "StreamId", "stream_id") or "")
        is_mixed = stream_id.startswith(MIX_STREAM_PREFIX) if mixed is None else mixed
        if is_mixed:
            user_id, kind = "", SegmentKind.MIXED
        else:
            user_id = str(get(entry, "UserId", "user_id") or "")
            track = get(entry, "MediaTrackType", "media_track_type")
            kind = SegmentKind.AUDIO if track == 1 else SegmentKind.CAMERA
        begin = get(entry, "BeginTimestamp", "begin_timestamp")
        settled = get(entry, "Status", "status") not in FILE_PENDING
        segments.append(
            SegmentInfo(
                file_id=str(get(entry, "FileId", "file_id") or ""),
                kind=kind,
                duration_ms=int(get(entry, "Duration", "duration") or 0),
                user_id=user_id,
                started_at_ms=int(begin) if begin else None,
                size_bytes=int(get(entry, "FileSize", "file_size") or 0) if settled else 0,
                format=file_format,
                url=str(get(entry, "FileUrl", "file_url") or "") if settled else "",
                width=get(entry, "ResolutionWidth", "resolution_width") or None,
                height=get(entry, "ResolutionHeight", "resolution_height") or None,
            )
        )
    return tuple(s for s in segments if s.file_id)


def _seconds(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value), tz=UTC)
    except (TypeError, ValueError):
        return None


class ZegoAdapter:
    key: ClassVar[str] = "zego"
    label: ClassVar[str] = _("ZEGO Cloud Recording")
    default_base_url: ClassVar[str] = "https://cloudrecord-api.zego.im"
    credential_fields: ClassVar[tuple[CredentialField, ...]] = (
        CredentialField(
            "server_secret",
            _("ServerSecret"),
            _("ZEGO Console › Project configuration › Project information."),
        ),
        CredentialField(
            "callback_secret",
            _("Callback secret"),
            _("The CallbackSecret of the same page; it signs ZEGO's status callbacks."),
            required=False,
        ),
    )
    capabilities: ClassVar[Capabilities] = Capabilities(
        modes=frozenset({Mode.INDIVIDUAL, Mode.MIXED}),
        # ZG pause-recording.md: PauseRecord/ResumeRecord apply to mixed-stream tasks only; a
        # single-stream task is refused with 300000004.
        pause_modes=frozenset({Mode.MIXED}),
        layout_modes=frozenset({Mode.MIXED}),
        # A whiteboard is recorded into the mix (start.md HasWhiteboard + Whiteboard), so only there.
        whiteboard_modes=frozenset({Mode.MIXED}),
    )

    def __init__(self, config: AppConfig, http: VendorHttp) -> None:
        self.config = config
        self.http = http
        self.clock = time.time

    # ------------------------------------------------------------ options

    def option_fields(self, mode: Mode) -> tuple[OptionField, ...]:
        """start.md RecordInputParams / RecordOutputParams."""
        if mode not in RECORD_MODES:
            return ()
        common = (
            OptionField(
                "StreamType", _("What to record"), "choice", default=3,
                choices=(("1", _("Audio only")), ("2", _("Video only")), ("3", _("Audio and video in one file")),
                         ("4", _("Audio and video as separate files"))),
            ),
            OptionField(
                "OutputFileFormat", _("File format"), "choice", default="mp4",
                choices=(("mp4", "MP4"), ("flv", "FLV"), ("hls", "HLS"), ("mp3", "MP3")),
            ),
            OptionField(
                "MaxIdleTime", _("Stop after the room has no stream for (seconds)"), "int",
                default=min(86400, max(5, self.config.idle_stop_seconds)), min_value=5, max_value=86400,
            ),
        )  # fmt: skip
        if mode == Mode.INDIVIDUAL:
            return common
        return (
            *common,
            OptionField(
                "MixMode", _("Layout"), "choice", default=2,
                choices=(("1", _("Custom")), ("2", _("Grid")), ("3", _("Horizontal")), ("4", _("Vertical")),
                         ("5", _("Floating"))),
            ),
            OptionField(
                "MixInputList", _("Custom layout (JSON list)"), "json", default=None,
                help=_("Only for the custom layout: [{StreamId, Top, Left, Bottom, Right, Layer}, …]."),
            ),
            OptionField(
                "WhiteboardId", _("Whiteboard ID"), "str", default="",
                help=_("Record this ZEGO whiteboard into the mix."),
            ),
        )  # fmt: skip

    def clean_options(self, mode: Mode, options: Mapping[str, Any]) -> dict[str, Any]:
        fields = self.option_fields(mode)
        if not fields:
            raise ValueError(f"mode: ZEGO does not record in mode {mode!r}")
        cleaned = clean_option_fields(fields, options)
        if (
            mode == Mode.MIXED
            and cleaned["MixMode"] == 1
            and not isinstance(cleaned.get("MixInputList"), list)
        ):
            raise ValueError("MixInputList: the custom layout needs a JSON list of input regions")
        return cleaned

    # ------------------------------------------------------------ requests

    def _request(
        self, action: str, body: Mapping[str, Any], read: Callable[[dict[str, Any]], Any] | None = None
    ) -> Any:
        """POST ?Action=…&AppId&SignatureNonce&Timestamp&Signature&SignatureVersion=2.0 with a JSON body
        (making-api-requests.md); a fresh nonce and signature for every call. Returns Data, or what
        `read` makes of it (inside the call, so an unusable answer is recorded as malformed)."""
        server_secret = self.config.secret("server_secret")
        nonce = secrets.token_hex(8)
        timestamp = int(self.clock())
        params = [
            ("Action", action),
            ("AppId", self.config.app_id),
            ("SignatureNonce", nonce),
            ("Timestamp", str(timestamp)),
            ("Signature", api_signature(self.config.app_id, nonce, server_secret, timestamp)),
            ("SignatureVersion", "2.0"),
        ]
        content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        with self.http.call(action, request_id=nonce) as call:
            response = call.send(
                "POST", "/", content=content, headers={"Content-Type": "application/json"}, params=params
            )
            data = self._parse_answer(action, response, call)
            if read is None:
                return data
            try:
                return read(data)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise _vendor_error(
                    "malformed", f"{action}: unexpected Data ({exc})", _OTHER["malformed"],
                    status=response.status_code, request_id=call.request_id,
                ) from None  # fmt: skip

    def _parse_answer(self, action: str, response: httpx.Response, call) -> dict[str, Any]:
        status = response.status_code
        try:
            data = response.json()
        except ValueError:
            data = None
        if isinstance(data, dict) and data.get("RequestId"):
            call.request_id = str(data["RequestId"])
        if not isinstance(data, dict) or "Code" not in data:
            known = _OTHER["server"] if status >= 500 else _OTHER["rate"] if status == 429 else None
            if known:
                raise _vendor_error(str(status), f"{action}: HTTP {status}", known, status=status,
                                    request_id=call.request_id)  # fmt: skip
            known = _OTHER["http"] if status >= 400 else _OTHER["malformed"]
            code = str(status) if status >= 400 else "malformed"
            raise _vendor_error(code, f"{action}: HTTP {status}, no Code in the answer", known, status=status,
                                request_id=call.request_id)  # fmt: skip
        code = str(data["Code"])
        if code != "0":
            self._raise_code(action, code, str(data.get("Message", "")), status, call.request_id)
        result = data.get("Data")
        return result if isinstance(result, dict) else {}

    @staticmethod
    def _raise_code(action: str, code: str, message: str, status: int, request_id: str) -> NoReturn:
        known = ERRORS.get(code) or _OTHER["unknown"]
        raise _vendor_error(code, f"{action}: {message or 'Code ' + code}", known, status=status,
                            request_id=request_id)  # fmt: skip

    # ------------------------------------------------------------ recording

    def start(self, spec: StartSpec) -> TaskRef:
        """StartRecord (start.md): RoomId, RecordInputParams, RecordOutputParams, StorageParams → TaskId."""
        if spec.mode not in RECORD_MODES:
            raise ValueError(f"ZEGO does not record in mode {spec.mode!r}")
        options = self.clean_options(spec.mode, spec.options)
        record_input: dict[str, Any] = {
            "RecordMode": RECORD_MODES[spec.mode],
            "StreamType": options["StreamType"],
            "MaxIdleTime": options["MaxIdleTime"],
            "MaxRecordTime": min(86400, max(300, self.config.max_duration_seconds)),
        }
        if spec.mode == Mode.MIXED:
            mix: dict[str, Any] = {
                "MixMode": options["MixMode"],
                "MixOutputStreamId": mix_stream_id(spec.intent_key),
                "MixOutputVideoConfig": {"Width": 1280, "Height": 720, "Fps": 15, "Bitrate": 1130000},
            }
            if options.get("MixInputList"):
                mix["MixInputList"] = options["MixInputList"]
            record_input["MixConfig"] = mix
            if options.get("WhiteboardId"):
                record_input["HasWhiteboard"] = True
                record_input["Whiteboard"] = {
                    "HorizontalRatio": 16, "VerticalRatio": 9, "Width": 1280, "Height": 720,
                    "WhiteboardId": options["WhiteboardId"],
                }  # fmt: skip
        record_output: dict[str, Any] = {"OutputFileFormat": options["OutputFileFormat"]}
        storage = self._storage(spec.storage)
        if spec.storage and spec.storage.prefix:
            record_output["OutputFolder"] = spec.storage.prefix.strip("/") + "/"
        if spec.callback_url:
            record_output["CallbackUrl"] = spec.callback_url
        body = {
            "RoomId": spec.room_id,
            "RecordInputParams": record_input,
            "RecordOutputParams": record_output,
            "StorageParams": storage,
        }
        task_id = self._request("StartRecord", body, read=lambda data: required_field(data, "TaskId"))
        return TaskRef(task_id=task_id, room_id=spec.room_id, mode=spec.mode)

    def _storage(self, storage: StorageSpec | None) -> dict[str, Any]:
        """StorageSpec → StorageParams {Vendor, Region, Bucket, AccessKeyId, AccessKeySecret, EndPoint}."""
        if storage is None:
            raise VendorError(
                "storage_required", "ZEGO needs a storage target", kind="config",
                explanation_en="ZEGO uploads recordings only to your own cloud storage, and none is chosen.",
                explanation_zh="即构只会把录制文件上传到您自己的云存储，但尚未选择存储目标。",
                fix_en="Choose a default storage target on the app's page.",
                fix_zh="请在应用页面选择默认存储目标。",
            )  # fmt: skip
        vendor = STORAGE_VENDORS.get(storage.provider)
        if vendor is None:
            raise VendorError(
                "storage_unsupported", f"ZEGO cannot upload to {storage.provider}", kind="config",
                explanation_en=f"ZEGO cannot upload to the storage provider “{storage.provider}”.",
                explanation_zh=f"即构不支持上传到存储服务“{storage.provider}”。",
                fix_en="Use S3, Alibaba OSS, Tencent COS, Qiniu, Huawei OBS, Google Cloud or an S3-compatible store.",
                fix_zh="请使用 S3、阿里云 OSS、腾讯云 COS、七牛云、华为云 OBS、谷歌云或兼容 S3 的存储。",
            )  # fmt: skip
        params: dict[str, Any] = {
            "Vendor": vendor,
            "Region": storage.region,
            "Bucket": storage.bucket,
            "AccessKeyId": storage.access_key,
            "AccessKeySecret": storage.secret,
        }
        if vendor == 10:
            params["EndPoint"] = storage.endpoint
        return params

    def recover_start(self, spec: StartSpec) -> TaskRef | None:
        """DescribeTasks (query-record-task-list.md): this room's running tasks begun within
        RECOVERY_WINDOW. ZEGO chooses the TaskId and StartRecord carries no tag of ours, so the room and
        the time are all that tie a task to the lost start: one running task is this intent's, none means
        the start made nothing still running, several cannot be told apart (VendorError). A recording
        that started and already ended inside the window is not looked for, so a retry after that makes
        a second recording, never two running at once."""
        now_ms = int(self.clock() * 1000)
        body = {
            "Status": 2,
            "RoomId": spec.room_id,
            "StartTime": now_ms - int(RECOVERY_WINDOW.total_seconds() * 1000),
            # EndTime is exclusive of tasks begun "now" on a clock slightly ahead of ours.
            "EndTime": now_ms + 60_000,
            "PageOffset": 1,
            "PageSize": 50,
        }
        # The documented example names the list "TaskidList", the parameter table "TaskList".
        tasks = self._request(
            "DescribeTasks",
            body,
            read=lambda data: [
                required_field(t, "TaskId") for t in data.get("TaskList") or data.get("TaskidList") or []
            ],
        )
        if not tasks:
            return None
        if len(tasks) == 1:
            return TaskRef(task_id=tasks[0], room_id=spec.room_id, mode=spec.mode)
        raise VendorError(
            "ambiguous_tasks",
            f"DescribeTasks: {len(tasks)} running tasks in room {spec.room_id}",
            kind="conflict",
            explanation_en="Several recordings run in this room, and ZEGO cannot say which one this start made.",
            explanation_zh="该房间内有多个录制任务在进行，即构无法说明哪一个是本次开始请求创建的。",
            fix_en="Compare the running tasks in ZEGO's console with RecDesk's and stop the extra one.",
            fix_zh="请在即构控制台核对正在进行的任务，并停止多余的录制。",
        )

    def pause(self, ref: TaskRef) -> None:
        """PauseRecord {TaskId} (pause-recording.md)."""
        self._request("PauseRecord", {"TaskId": ref.task_id})

    def resume(self, ref: TaskRef) -> None:
        """ResumeRecord {TaskId} (resume-recording.md)."""
        self._request("ResumeRecord", {"TaskId": ref.task_id})

    def stop(self, ref: TaskRef) -> None:
        """StopRecord {TaskId} (stop.md)."""
        self._request("StopRecord", {"TaskId": ref.task_id})

    def query(self, ref: TaskRef) -> VendorStatus:
        """DescribeRecordStatus {TaskId} (query.md): Status 1–5 and RecordFiles."""
        return self._request(
            "DescribeRecordStatus", {"TaskId": ref.task_id}, read=lambda d: self._status(ref, d)
        )

    @staticmethod
    def _status(ref: TaskRef, data: Mapping[str, Any]) -> VendorStatus:
        status = int(data["Status"])
        files = data.get("RecordFiles") or []
        segments = _segments(files, mixed=ref.mode == Mode.MIXED, snake=False)
        state = STATES.get(status, State.STARTING)
        finish_reason, detail = None, ""
        if status in (3, 4):
            pending = any(f.get("Status") in FILE_PENDING for f in files)
            if status == 4 and not files:
                state, finish_reason = State.FAILED, FinishReason.EXCEPTION
                detail = "ZEGO ended the task abnormally (status 4) without a file"
            else:
                state = State.PROCESSING if pending else State.FINISHED
                # DescribeRecordStatus does not say why a task ended; the callback's quit_reason does.
                finish_reason = FinishReason.UNKNOWN
                if status == 4:
                    detail = "ZEGO reports an abnormal end (status 4); its callback names the reason"
        return VendorStatus(
            state=state,
            vendor_state=str(status),
            finish_reason=finish_reason,
            finish_detail=detail,
            started_at=epoch_ms(data.get("RecordBeginTimestamp")),
            stopped_at=epoch_ms(data.get("RecordEndTimestamp")),
            segments=segments,
        )

    def update_layout(self, ref: TaskRef, layout: Mapping[str, Any]) -> None:
        """UpdateLayout {TaskId, MixMode, MixInputList, MixMaxResolutionStreamId} (update-layout.md)."""
        body: dict[str, Any] = {"TaskId": ref.task_id}
        body.update(
            {k: v for k, v in layout.items() if k in {"MixMode", "MixInputList", "MixMaxResolutionStreamId"}}
        )
        self._request("UpdateLayout", body)

    def update_whiteboard(self, ref: TaskRef, whiteboard: Mapping[str, Any]) -> None:
        """UpdateWhiteboard {TaskId, WhiteboardId} (update-whiteboard.md)."""
        self._request(
            "UpdateWhiteboard", {"TaskId": ref.task_id, "WhiteboardId": str(whiteboard["WhiteboardId"])}
        )

    def register_callback(self, url: str) -> str:
        """ZEGO's callback URL is set when enabling the service in ZEGO Console (end-callback.md "描述");
        StartRecord's CallbackUrl overrides it per task, which RecDesk does when it knows its URL.
        Raised, not returned, so the UI shows it as something the admin must do."""
        raise VendorError(
            "console_only",
            "ZEGO's callback URL is set in ZEGO Console, not through the API",
            kind="invalid",
            explanation_en="ZEGO has no API for setting the app-wide callback address.",
            explanation_zh="即构没有设置全局回调地址的 API。",
            fix_en=(
                f"In ZEGO Console › Service configuration › Cloud recording, set the callback URL to {url} "
                "and copy the CallbackSecret into this app's Credentials."
            ),
            fix_zh=f"请在即构控制台“服务配置 › 云端录制”中将回调地址设为 {url}，并把 CallbackSecret 填入本应用的“凭据”。",
        )

    def check_connection(self) -> str:
        """DescribeTasks of the last hour: the gateway checks the signature before anything else
        (100000005 otherwise), so a Code 0 answer proves the AppId and ServerSecret."""
        now_ms = int(self.clock() * 1000)
        data = self._request(
            "DescribeTasks", {"Status": 2, "StartTime": now_ms - 3_600_000, "EndTime": now_ms, "PageSize": 1}
        )
        running = data.get("TotalCount", 0)
        return str(_("ZEGO accepted the AppId and ServerSecret; %(count)s recording(s) running.")) % {
            "count": running
        }

    # ------------------------------------------------------------ callbacks

    def verify(
        self, body: bytes, headers: Mapping[str, str], query: Mapping[str, str], now: datetime
    ) -> None:
        """signature = sha1(sorted [callbacksecret, timestamp, nonce]) (end-callback.md "验证签名"), all
        three in the JSON body; then the timestamp (send time, unix s) must be recent."""
        secret = self.config.secrets.get("callback_secret", "")
        if not secret:
            raise CallbackRejected(
                "no callback secret is set for this app, so ZEGO's signature cannot be checked"
            )
        try:
            data = json.loads(body)
        except ValueError:
            raise CallbackRejected("the body is not JSON") from None
        if not isinstance(data, dict):
            raise CallbackRejected("the body is not a JSON object")
        signature = str(data.get("signature") or "")
        timestamp, nonce = data.get("timestamp"), data.get("nonce")
        if not signature:
            raise CallbackRejected("no signature in the callback")
        if timestamp in (None, "") or nonce in (None, ""):
            raise CallbackRejected("the callback lacks its timestamp or nonce")
        expected = callback_signature(secret, str(timestamp), str(nonce))
        if not hmac.compare_digest(signature.lower(), expected):
            raise CallbackRejected("the signature does not match timestamp, nonce and the callback secret")
        sent = _seconds(timestamp)
        if sent is None:
            raise CallbackRejected("the timestamp is not a unix time")
        if abs(now - sent) > CALLBACK_TOLERANCE:
            raise CallbackRejected(f"the callback was signed at {sent.isoformat()}, too far from now")

    def parse(self, body: bytes, headers: Mapping[str, str], query: Mapping[str, str]) -> list[VendorEvent]:
        """v2 status callback (end-callback.md): event_type 1–7, 102, 201, 202."""
        data = json.loads(body)
        event_type = int(data.get("event_type", 0))
        task_id = str(data.get("task_id", ""))
        detail = data.get("detail") or {}
        # ZEGO's retries resend the event with its sequence; nonce and timestamp may be new.
        delivery_key = f"{task_id}:{event_type}:{data.get('sequence', data.get('nonce', ''))}"
        sequence = data.get("sequence")
        common = {
            "delivery_key": delivery_key,
            "vendor_event": str(event_type),
            "task_id": task_id,
            # The timestamp is when this attempt was signed and sent, not when the event happened:
            # events are ordered by their sequence.
            "occurred_at": _seconds(data.get("timestamp")) or datetime.now(tz=UTC),
            "sequence": int(sequence) if str(sequence).isdigit() else None,
            "room_id": str(data.get("room_id", "")),
        }
        kind, extra = _event_meaning(event_type, detail, str(data.get("message", "")))
        return [VendorEvent(kind=kind, **common, **extra)]

    def ack(self) -> Ack:
        """Any 2xx counts as received (end-callback.md "返回响应"); the body is ignored."""
        return Ack(status=200, body=b"", content_type="text/plain")


def _event_meaning(
    event_type: int, detail: Mapping[str, Any], message: str
) -> tuple[EventKind, dict[str, Any]]:
    if event_type == 1:  # upload finished: the files are final (upload_status 2 = some failed)
        files = detail.get("file_info") or []
        extra: dict[str, Any] = {
            "state": State.FINISHED,
            "segments": _segments(files, mixed=None, snake=True),
        }
        if detail.get("upload_status") == 2:
            extra["error_message"] = "some files were not uploaded to your storage"
        return EventKind.FINISHED, extra
    if event_type == 2:  # abnormal end
        code = int(detail.get("quit_reason", 0))
        reason = QUIT_REASONS.get(code, FinishReason.EXCEPTION)
        if code in QUIT_REASONS_THAT_KEEP_FILES:
            return EventKind.STOPPED, {"state": State.PROCESSING, "finish_reason": reason,
                                       "finish_detail": f"quit_reason {code}"}  # fmt: skip
        return EventKind.FAILED, {"state": State.FAILED, "finish_reason": reason,
                                  "finish_detail": message or f"quit_reason {code}",
                                  "error_code": str(code), "error_message": message}  # fmt: skip
    if event_type in (5, 7):  # normal exit / stopped and uploading
        return EventKind.STOPPED, {"state": State.PROCESSING}
    if event_type == 201:
        return EventKind.PAUSED, {"state": State.PAUSED}
    if event_type == 202:
        return EventKind.RESUMED, {"state": State.RECORDING}
    return EventKind.OTHER, {}
