"""What both Tencent recording APIs share: the recording user's UserSig, its user id, the
VideoType → SegmentKind map, segment building and error construction.

Sources: seed 002 and seed 004 §2.2 (UserId `tic_record_user_{roomid}_{random}`, a long-lived
UserSig, a different UserId for every recording of a room); vendors.md §1a/§1b (VideoInfo fields,
VideoType 0–4); Tencent's "如何计算 UserSig" (https://cloud.tencent.com/document/product/647/17275)
for TLS signature v2, whose reference implementation is PyPI `tls-sig-api-v2` (used only in tests).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from recordings.vendors.base import AppConfig, SegmentInfo, SegmentKind, VendorError

# VideoType of a VideoInfo (vendors.md §1b; the legacy API of seed 004 §2.5 stops at 3).
VIDEO_TYPE_KINDS: dict[int, SegmentKind] = {
    0: SegmentKind.CAMERA,
    1: SegmentKind.SCREEN,
    2: SegmentKind.WHITEBOARD,
    3: SegmentKind.MIXED,
    4: SegmentKind.AUDIO,
}

RECORD_USER_PREFIX = "tic_record_user_"
# StartOnlineRecord: RecordUserId is at most 60 bytes (vendors.md §1b).
RECORD_USER_ID_MAX = 60
# The UserSig outlives the longest recording the app allows by this much, so a recording kept in
# the room through pauses and upload never loses its login (seed 002: "set a long validity").
USERSIG_MARGIN_SECONDS = 3600

ROOM_ID_MAX = 4294967295


# ---------------------------------------------------------------- signatures


def md5_hex(text: str) -> str:
    """Both Tencent md5 schemes: `md5(TicKey + expire_time)` (seed 004 §3) and
    `md5(CallbackKey + ExpireTime)` (vendors.md §1b, TIW-EV), lowercase hex."""
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def same_digest(received: str, expected: str) -> bool:
    return hmac.compare_digest(received.strip().lower().encode(), expected.encode())


def _tls_url_b64(data: bytes) -> str:
    # TLS signature v2's URL-safe alphabet is its own: '+' → '*', '/' → '-', '=' → '_'.
    return base64.b64encode(data).decode().translate(str.maketrans("+/=", "*-_"))


def user_sig(sdk_app_id: int, key: str, identifier: str, expire_seconds: int, now: int) -> str:
    """A TLS signature v2 (UserSig) for `identifier`, valid `expire_seconds` from `now` (unix s).

    The HMAC-SHA256 (keyed by the SDKAppID's secret key) covers the documented lines
    `TLS.identifier`, `TLS.sdkappid`, `TLS.time`, `TLS.expire`, each followed by a newline; the JSON
    document carrying them and the HMAC is zlib-compressed and encoded in TLS's URL-safe base64.
    """
    content = (
        f"TLS.identifier:{identifier}\n"
        f"TLS.sdkappid:{int(sdk_app_id)}\n"
        f"TLS.time:{int(now)}\n"
        f"TLS.expire:{int(expire_seconds)}\n"
    )
    digest = hmac.new(key.encode("utf-8"), content.encode("utf-8"), hashlib.sha256).digest()
    document = {
        "TLS.ver": "2.0",
        "TLS.identifier": identifier,
        "TLS.sdkappid": int(sdk_app_id),
        "TLS.expire": int(expire_seconds),
        "TLS.time": int(now),
        "TLS.sig": base64.b64encode(digest).decode(),
    }
    return _tls_url_b64(zlib.compress(json.dumps(document).encode("utf-8")))


def usersig_validity_seconds(config: AppConfig) -> int:
    return config.max_duration_seconds + USERSIG_MARGIN_SECONDS


def record_user_sig(config: AppConfig, record_user_id: str, now: int) -> str:
    """The recording user's UserSig, made from the app's credentials; staff never paste one."""
    return user_sig(
        sdk_app_id_of(config),
        config.secret("usersig_key"),
        record_user_id,
        usersig_validity_seconds(config),
        now,
    )


# ---------------------------------------------------------------- identifiers


def sdk_app_id_of(config: AppConfig) -> int:
    try:
        return int(config.app_id)
    except ValueError:
        raise invalid_config(
            "sdk_app_id",
            f"SdkAppId {config.app_id!r} is not a number.",
            "The app's SdkAppId must be the number shown in Tencent's console.",
            "应用的 SdkAppId 必须是腾讯云控制台中显示的数字。",
        ) from None


def room_number(room_id: str) -> int:
    """Tencent rooms are integers 1..4294967295 (vendors.md §1b RoomId; seed 004 room_id int)."""
    if room_id.isdigit() and 1 <= int(room_id) <= ROOM_ID_MAX:
        return int(room_id)
    raise VendorError(
        "invalid_room_id",
        f"room id {room_id!r} is not a Tencent room number",
        kind="invalid",
        explanation_en="Tencent rooms are numbers from 1 to 4294967295.",
        explanation_zh="腾讯云的房间号必须是 1 到 4294967295 之间的整数。",
        fix_en="Correct the room's id on the room page.",
        fix_zh="请在房间页面更正房间号。",
    )


def record_user_id(room: int, intent_key: str) -> str:
    """`tic_record_user_{roomid}_{n}` (seed 004 §2.2) with n derived from our start intent.

    One intent always yields the same id, so a repeated start of the intent is refused by the vendor
    (ResourceInUse.RecordUserId / 20013) instead of making a second recording; different intents
    get different ids, as the document requires for every new recording of a room.
    """
    if intent_key.isdigit() and len(intent_key) <= 18:
        suffix = intent_key
    else:
        # The document asks for a number; 12 decimal digits of a hash keep collisions negligible.
        suffix = str(int.from_bytes(hashlib.sha256(intent_key.encode()).digest()[:8], "big") % 10**12)
    # At most 16 + 10 + 1 + 18 = 45 bytes, within RECORD_USER_ID_MAX.
    return f"{RECORD_USER_PREFIX}{room}_{suffix}"


# ---------------------------------------------------------------- results


def epoch_seconds(value: Any) -> datetime | None:
    """A Tencent unix-seconds field; 0 or absent means "not yet"."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    return datetime.fromtimestamp(int(value), tz=UTC)


# A screen share (aux stream) is reported under `tic_substream_<user>` (vendors.md §1b VideoInfo.UserId).
SUBSTREAM_PREFIX = "tic_substream_"


def _owner(user_id: str, kind: str) -> str:
    """The person a file belongs to: a screen share sits with its sharer's camera, not as a stranger."""
    if kind == SegmentKind.SCREEN and user_id.startswith(SUBSTREAM_PREFIX):
        return user_id[len(SUBSTREAM_PREFIX) :]
    return user_id


def segment(
    *,
    video_type: Any,
    user_id: Any,
    play_time_ms: Any,
    duration_ms: Any,
    size: Any,
    video_format: Any,
    url: Any,
    video_id: Any,
    width: Any = None,
    height: Any = None,
) -> SegmentInfo:
    """One VideoInfo / video_info entry. VideoPlayTime is an offset on the replay timeline, where
    pauses are cut out (seed 002's six-file example), so it fills play_offset_ms, not a wall clock."""
    kind = VIDEO_TYPE_KINDS.get(video_type) if isinstance(video_type, int) else None
    if kind is None:
        raise malformed(f"unknown VideoType {video_type!r}")
    for name, value in (("VideoPlayTime", play_time_ms), ("VideoDuration", duration_ms)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise malformed(f"{name} is {value!r}, not a number of milliseconds")
    url = str(url or "")
    # VideoId is the VOD fileId; when the vendor leaves it empty, the URL is the file's identity.
    file_id = str(video_id or "") or "url-" + hashlib.sha256(url.encode()).hexdigest()[:32]
    return SegmentInfo(
        file_id=file_id,
        kind=kind,
        duration_ms=duration_ms,
        user_id=_owner(str(user_id or ""), kind),
        play_offset_ms=play_time_ms,
        size_bytes=int(size or 0),
        format=str(video_format or ""),
        url=url,
        width=int(width) if isinstance(width, int) and width > 0 else None,
        height=int(height) if isinstance(height, int) and height > 0 else None,
    )


# ---------------------------------------------------------------- errors


@dataclass(frozen=True)
class Explained:
    """A vendor code explained for people, with the fix the vendor suggests."""

    kind: str
    en: str
    zh: str
    fix_en: str
    fix_zh: str
    retryable: bool = False

    def error(
        self, code: str, message: str, *, http_status: int | None = None, request_id: str = ""
    ) -> VendorError:
        return VendorError(
            code,
            message or self.en,
            kind=self.kind,
            http_status=http_status,
            retryable=self.retryable,
            explanation_en=self.en,
            explanation_zh=self.zh,
            fix_en=self.fix_en,
            fix_zh=self.fix_zh,
            request_id=request_id,
        )


def malformed(detail: str, *, http_status: int | None = None, request_id: str = "") -> VendorError:
    return VendorError(
        "malformed",
        f"unexpected answer: {detail}",
        kind="malformed",
        http_status=http_status,
        explanation_en="Tencent's answer was not in the documented format, so RecDesk cannot tell what happened.",
        explanation_zh="腾讯云的响应不符合文档格式，RecDesk 无法判断请求结果。",
        fix_en="RecDesk checks the recording's state again before acting; if this persists, check the app's API base URL.",
        fix_zh="RecDesk 会在下一步操作前重新查询录制状态；若持续出现，请检查应用的 API 地址。",
        request_id=request_id,
    )


def server_error(http_status: int, request_id: str = "") -> VendorError:
    return VendorError(
        f"http_{http_status}",
        f"HTTP {http_status} from Tencent",
        kind="server",
        http_status=http_status,
        retryable=True,
        explanation_en=f"Tencent's server answered with an error (HTTP {http_status}).",
        explanation_zh=f"腾讯云服务器返回错误（HTTP {http_status}）。",
        fix_en="RecDesk retries by itself; if it keeps failing, check Tencent Cloud's service status.",
        fix_zh="RecDesk 会自动重试；若持续失败，请查看腾讯云服务状态。",
        request_id=request_id,
    )


def invalid_config(code: str, message: str, en: str, zh: str) -> VendorError:
    return VendorError(
        code,
        message,
        kind="config",
        explanation_en=en,
        explanation_zh=zh,
        fix_en="An admin corrects it on the app's page.",
        fix_zh="请管理员在应用页面中更正。",
    )


def json_object(content: bytes, *, http_status: int, request_id: str = "") -> Mapping[str, Any]:
    try:
        data = json.loads(content)
    except ValueError:
        raise malformed("the body is not JSON", http_status=http_status, request_id=request_id) from None
    if not isinstance(data, dict):
        raise malformed("the body is not a JSON object", http_status=http_status, request_id=request_id)
    return data


def compact_json(data: Mapping[str, Any]) -> bytes:
    """The one serialisation of a request body: these bytes are signed and these bytes are sent."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
