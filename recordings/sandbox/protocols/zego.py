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
from collections.abc import Callable, Mapping
from dataclasses import dataclass

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
