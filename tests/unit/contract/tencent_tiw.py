"""Contract for Tencent TIW (API 3.0): a fake TIW that checks every request's TC3 signature with the
official SDK's signer, and answers with the documents' example shapes (tests/fixtures/tencent_tiw).

Fixtures: describe_online_record.json carries seed 002's six-file result in the
DescribeOnlineRecordResponse fields of vendors.md §1b; the callback_* files are the examples of
https://www.tencentcloud.com/document/product/1176/55568 (OnlineRecordFinished's example is cut off
in our copy, so its EventData lists the documented fields plus VideoInfos, which vendors.md says
presumably follows). describe_online_record_mixed.json is our own, in the same shape, for MixStream.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import re
import time
import zlib
from datetime import UTC, datetime

import httpx
from tencentcloud.common.abstract_client_async import AbstractClient

from recordings.vendors.base import (
    Ack,
    AppConfig,
    EventKind,
    FinishReason,
    Mode,
    SegmentKind,
    StartSpec,
    State,
)
from tests.unit.contract import CallbackCases, CallbackSample, ErrorCase, ExpectedEvent, fixture

KEY = "tencent_tiw"

CONFIG = AppConfig(
    vendor=KEY,
    app_id="1400000001",
    base_url="https://tiw.tencentcloudapi.com",
    secrets={
        "secret_id": "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE",
        "secret_key": "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE",
        "usersig_key": "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e",
        # The key of the documents' callback vector (vendors.md §1b).
        "callback_key": "Xz4ZgayTr7rMgWQrH",
    },
    max_duration_seconds=4 * 3600,
)

START_SPECS = [
    StartSpec(
        room_id="1234",
        mode=Mode.INDIVIDUAL,
        intent_key="101",
        group_id="1234",
        options={
            "auto_stop_timeout": 600,
            "skip_streams": "student_",
            "whiteboard_init_param": '{"ratio": "16:9"}',
        },
    ),
    StartSpec(
        room_id="1234",
        mode=Mode.MIXED,
        intent_key="102",
        options={"mix_model_id": "1", "mix_teacher_id": "teacher_1", "concat": True},
    ),
]

SEED_002_SEGMENTS = [
    ("ios_test1", SegmentKind.CAMERA, 0, 900000),
    ("pc_test1", SegmentKind.CAMERA, 300000, 600000),
    ("", SegmentKind.WHITEBOARD, 120000, 780000),
    ("ios_test1", SegmentKind.CAMERA, 900000, 300000),
    ("pc_test1", SegmentKind.CAMERA, 900000, 210000),
    ("", SegmentKind.WHITEBOARD, 900000, 540000),
]

EXPECTED = {
    Mode.INDIVIDUAL: {
        "start": State.RECORDING,
        "pause": State.PAUSED,
        "resume": State.RECORDING,
        "stop": State.PROCESSING,
        "final": State.FINISHED,
        "finish_reason": FinishReason.USER_CALL,
        "segments": SEED_002_SEGMENTS,
    },
    Mode.MIXED: {
        "start": State.RECORDING,
        "pause": State.PAUSED,
        "resume": State.RECORDING,
        "stop": State.PROCESSING,
        "final": State.FINISHED,
        "finish_reason": FinishReason.USER_CALL,
        "segments": [
            ("tic_mixstream_1234_1", SegmentKind.MIXED, 0, 1440000),
            ("", SegmentKind.WHITEBOARD, 0, 1440000),
        ],
    },
}


def _error(code: str, message: str = "") -> dict:
    return {"Response": {"Error": {"Code": code, "Message": message or code}, "RequestId": "req-error-1"}}


ERROR_CASES = [
    ErrorCase(200, _error("AuthFailure.SignatureFailure"), "AuthFailure.SignatureFailure", "auth", False),
    ErrorCase(200, _error("AuthFailure.SignatureExpire"), "AuthFailure.SignatureExpire", "auth", False),
    ErrorCase(200, _error("AuthFailure.SecretIdNotFound"), "AuthFailure.SecretIdNotFound", "auth", False),
    ErrorCase(200, _error("UnauthorizedOperation.SdkAppId"), "UnauthorizedOperation.SdkAppId", "auth", False),
    ErrorCase(200, fixture(KEY, "error"), "InvalidParameter.TaskNotFound", "not_found", False),
    ErrorCase(
        200, _error("InvalidParameter.RecordParameter"), "InvalidParameter.RecordParameter", "invalid", False
    ),
    ErrorCase(
        200, _error("InvalidParameter.SdkAppIdNotFound"), "InvalidParameter.SdkAppIdNotFound", "config", False
    ),
    ErrorCase(
        200,
        _error("InvalidParameter.CallbackAddressFormatError"),
        "InvalidParameter.CallbackAddressFormatError",
        "invalid",
        False,
    ),
    ErrorCase(200, _error("FailedOperation.Record"), "FailedOperation.Record", "vendor", False),
    ErrorCase(
        200, _error("LimitExceeded.TaskConcurrency"), "LimitExceeded.TaskConcurrency", "rate_limited", False
    ),
    ErrorCase(200, _error("ResourceInUse.RecordUserId"), "ResourceInUse.RecordUserId", "conflict", False),
    ErrorCase(
        200, _error("ResourceUnavailable.NotRegistered"), "ResourceUnavailable.NotRegistered", "config", False
    ),
    ErrorCase(
        200,
        _error("ResourceUnavailable.ServiceExpired"),
        "ResourceUnavailable.ServiceExpired",
        "config",
        False,
    ),
    ErrorCase(
        200,
        _error("ResourceUnavailable.InterfaceUnAuthorized"),
        "ResourceUnavailable.InterfaceUnAuthorized",
        "config",
        False,
    ),
    ErrorCase(
        200,
        _error("UnsupportedOperation.InvalidTaskStatus"),
        "UnsupportedOperation.InvalidTaskStatus",
        "conflict",
        False,
    ),
    ErrorCase(
        200,
        _error("UnsupportedOperation.TaskHasAlreadyStopped"),
        "UnsupportedOperation.TaskHasAlreadyStopped",
        "conflict",
        False,
    ),
    ErrorCase(200, _error("RequestLimitExceeded"), "RequestLimitExceeded", "rate_limited", True),
    ErrorCase(200, _error("InternalError"), "InternalError", "server", True),
    # A sub-code the table does not list falls back to its family.
    ErrorCase(200, _error("AuthFailure.MFAFailure"), "AuthFailure.MFAFailure", "auth", False),
    ErrorCase(502, b"<html><body>502 Bad Gateway</body></html>", "http_502", "server", True),
    ErrorCase(503, _error("InternalError"), "InternalError", "server", True),
    ErrorCase(200, b"not json at all", "malformed", "malformed", False),
    ErrorCase(200, {"Result": {"TaskId": "x"}}, "malformed", "malformed", False),
    ErrorCase(200, {"Response": {"RequestId": "r-1", "Status": "DANCING"}}, "malformed", "malformed", False),
]


# ---------------------------------------------------------------- UserSig check (TLS signature v2)


def decode_usersig(sig: str) -> dict:
    raw = base64.b64decode(sig.replace("*", "+").replace("-", "/").replace("_", "="))
    return json.loads(zlib.decompress(raw))


def assert_valid_usersig(sig: str, *, identifier: str, config: AppConfig) -> None:
    """The UserSig opens with the app's key, names the recording user and outlives the longest recording."""
    document = decode_usersig(sig)
    assert document["TLS.ver"] == "2.0"
    assert document["TLS.identifier"] == identifier
    assert document["TLS.sdkappid"] == int(config.app_id)
    assert document["TLS.expire"] > config.max_duration_seconds
    assert abs(document["TLS.time"] - time.time()) < 300
    signed = "".join(
        f"TLS.{name}:{document['TLS.' + name]}\n" for name in ("identifier", "sdkappid", "time", "expire")
    )
    digest = hmac.new(config.secrets["usersig_key"].encode(), signed.encode(), hashlib.sha256).digest()
    assert hmac.compare_digest(base64.b64decode(document["TLS.sig"]), digest), "UserSig HMAC does not verify"


# ---------------------------------------------------------------- the fake


class FakeVendor:
    """TIW's API as vendors.md §1b/§1c describe it, with one recording state machine per task."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.tasks: dict[str, dict] = {}
        self.record_users: set[str] = set()
        self.started_count = 0
        self.callback = ""
        self.callback_key = ""
        # Actions whose answer is lost after the fake has acted on them (a read timeout).
        self.drop_answers: set[str] = set()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self._assert_signed(request)
        action = request.headers["X-TC-Action"]
        body = json.loads(request.content)
        assert body.pop("SdkAppId") == int(CONFIG.app_id)
        response = getattr(self, f"_{action}")(body)
        if action in self.drop_answers:
            raise httpx.ReadTimeout("answer lost", request=request)
        return httpx.Response(200, json=response)

    @staticmethod
    def _assert_signed(request: httpx.Request) -> None:
        assert request.method == "POST" and request.url.path == "/" and not request.url.query
        headers = request.headers
        assert headers["Content-Type"] == "application/json"
        assert headers["Host"] == request.url.netloc.decode()
        assert headers["X-TC-Version"] == "2019-09-19"
        timestamp = int(headers["X-TC-Timestamp"])
        assert abs(timestamp - time.time()) < 300
        date = datetime.fromtimestamp(timestamp, tz=UTC).strftime("%Y-%m-%d")
        match = re.fullmatch(
            r"TC3-HMAC-SHA256 Credential=([^/]+)/(\d{4}-\d\d-\d\d)/tiw/tc3_request, "
            r"SignedHeaders=content-type;host, Signature=([0-9a-f]{64})",
            headers["Authorization"],
        )
        assert match, headers["Authorization"]
        assert match[1] == CONFIG.secrets["secret_id"] and match[2] == date
        # The official SDK's signer is the referee.
        expected = AbstractClient._get_tc3_signature(
            "POST",
            "/",
            "",
            request.content,
            {
                "Content-Type": headers["Content-Type"],
                "Host": headers["Host"],
                "X-TC-Timestamp": str(timestamp),
            },
            date,
            "tiw",
            CONFIG.secrets["secret_key"],
            {},
        )
        assert match[3] == expected, "TC3 signature does not verify"

    @staticmethod
    def _ok(**fields) -> dict:
        return {"Response": {**fields, "RequestId": f"req-{time.monotonic_ns()}"}}

    def _task(self, body: dict) -> dict | None:
        return self.tasks.get(body.get("TaskId"))

    def _StartOnlineRecord(self, body: dict) -> dict:
        room = body["RoomId"]
        assert isinstance(room, int) and 1 <= room <= 4294967295
        user_id = body["RecordUserId"]
        assert re.fullmatch(rf"tic_record_user_{room}_\d+", user_id) and len(user_id.encode()) <= 60
        assert_valid_usersig(body["RecordUserSig"], identifier=user_id, config=CONFIG)
        assert isinstance(body.get("GroupId", ""), str)
        assert 300 <= body.get("AutoStopTimeout", 300) <= 86400
        whiteboard = body.get("Whiteboard", {})
        assert isinstance(whiteboard.get("InitParam", ""), str)
        if whiteboard.get("InitParam"):
            assert isinstance(json.loads(whiteboard["InitParam"]), dict)
        if "RecordControl" in body:
            control = body["RecordControl"]
            assert control["Enabled"] is True
            assert all(isinstance(c["StreamId"], str) for c in control["StreamControls"])
        mixed = "MixStream" in body
        if mixed:
            assert "MIX_STREAM" in body["Extras"] and body["MixStream"]["Enabled"] is True
            assert body["MixStream"]["ModelId"] in (1, 2)
        if "Concat" in body:
            assert body["Concat"]["Enabled"] is True
        if user_id in self.record_users:
            return _error("ResourceInUse.RecordUserId", "record user id in use")
        self.record_users.add(user_id)
        self.started_count += 1
        result = fixture(KEY, "describe_online_record_mixed" if mixed else "describe_online_record")[
            "Response"
        ]
        task_id = f"{fixture(KEY, 'start_online_record')['Response']['TaskId']}{self.started_count}"
        self.tasks[task_id] = {"status": "RECORDING", "result": result, "reason": "", "body": body}
        return self._ok(TaskId=task_id)

    def _transition(self, body: dict, allowed: set[str], to: str) -> dict:
        task = self._task(body)
        if task is None:
            return _error("InvalidParameter.TaskNotFound")
        if task["status"] in {"STOPPED", "FINISHED"}:
            return _error("UnsupportedOperation.TaskHasAlreadyStopped")
        if task["status"] not in allowed:
            return _error("UnsupportedOperation.InvalidTaskStatus")
        task["status"] = to
        return self._ok()

    def _PauseOnlineRecord(self, body: dict) -> dict:
        return self._transition(body, {"RECORDING"}, "PAUSED")

    def _ResumeOnlineRecord(self, body: dict) -> dict:
        return self._transition(body, {"PAUSED"}, "RECORDING")

    def _StopOnlineRecord(self, body: dict) -> dict:
        answer = self._transition(body, {"PREPARED", "RECORDING", "PAUSED"}, "STOPPED")
        if "Error" not in answer["Response"]:
            self._task(body)["reason"] = "USER_CALL"
        return answer

    def _DescribeOnlineRecord(self, body: dict) -> dict:
        task = self._task(body)
        if task is None:
            return _error("InvalidParameter.TaskNotFound")
        status = task["status"]
        answer = copy.deepcopy(task["result"])
        answer.update(TaskId=body["TaskId"], Status=status, RecordUserId=task["body"]["RecordUserId"])
        if status != "FINISHED":
            answer.update(VideoInfos=[], RecordStopTime=0, TotalTime=0, FinishReason=task["reason"])
        if status == "STOPPED":
            # Processing finishes by the next look.
            task["status"] = "FINISHED"
        return {"Response": answer}

    def _SetOnlineRecordCallback(self, body: dict) -> dict:
        url = body["Callback"]
        if url and not url.startswith(("http://", "https://")):
            return _error("InvalidParameter.CallbackAddressFormatError")
        self.callback = url
        return self._ok()

    def _SetOnlineRecordCallbackKey(self, body: dict) -> dict:
        assert len(body["CallbackKey"]) <= 64
        self.callback_key = body["CallbackKey"]
        return self._ok()

    def _DescribeOnlineRecordCallback(self, body: dict) -> dict:
        assert body == {}
        answer = fixture(KEY, "describe_online_record_callback")
        answer["Response"].update(Callback=self.callback, CallbackKey=self.callback_key)
        return answer


# ---------------------------------------------------------------- callbacks


def _at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def _signed(payload: dict, key: str, expire_time: int) -> dict:
    signed = dict(payload, ExpireTime=expire_time)
    signed["Sign"] = hashlib.md5(f"{key}{expire_time}".encode()).hexdigest()
    return signed


def _sample(name: str, payload: dict, now: datetime, expected: tuple[ExpectedEvent, ...]) -> CallbackSample:
    return CallbackSample(name=name, body=json.dumps(payload).encode(), now=now, expected=expected)


class TiwCallbacks(CallbackCases):
    """TIW signs with `Sign = md5(CallbackKey + ExpireTime)` in the body; the signature does not
    cover EventData, so "tampered" here alters what it does cover: ExpireTime (a late replay)."""

    expected_ack = Ack(status=200, body=b'{"error_code":0}')

    def __init__(self) -> None:
        key = CONFIG.secrets["callback_key"]
        task = "bj0mt2l23osdj300hl30"

        def example(name: str) -> dict:
            payload = fixture(KEY, name)
            payload["SdkAppId"] = int(CONFIG.app_id)
            return payload

        # The documents' vector: md5("Xz4ZgayTr7rMgWQrH" + "1588040109") = a2dabb36…, exactly as the
        # examples carry it; only ExpireTime is set to the vector's so that the pair verifies.
        started = dict(example("callback_online_record_started"), ExpireTime=1588040109)
        assert started["Sign"] == "a2dabb362a9b811c0e26953a6276a41c"
        stopped = _signed(example("callback_online_record_stopped"), key, 1575545412 + 600)
        finished = _signed(example("callback_online_record_finished"), key, 1575545412 + 600)
        occurred = _at(1575545412)
        self.samples = (
            _sample(
                "started",
                started,
                _at(1575545413),
                (ExpectedEvent(EventKind.STARTED, task, occurred, State.RECORDING),),
            ),
            _sample(
                "stopped",
                stopped,
                _at(1575545413),
                (ExpectedEvent(EventKind.STOPPED, task, occurred, State.PROCESSING),),
            ),
            _sample(
                "finished",
                finished,
                _at(1575545413),
                (
                    ExpectedEvent(
                        EventKind.FINISHED,
                        task,
                        occurred,
                        State.FINISHED,
                        FinishReason.USER_CALL,
                        segment_count=6,
                    ),
                ),
            ),
        )

    @staticmethod
    def _payload(sample: CallbackSample) -> dict:
        return json.loads(sample.body)

    def _with(self, sample: CallbackSample, payload: dict, now: datetime | None = None) -> CallbackSample:
        return CallbackSample(
            name=sample.name,
            body=json.dumps(payload).encode(),
            now=now or sample.now,
            expected=sample.expected,
        )

    def tampered(self, sample: CallbackSample) -> CallbackSample:
        payload = self._payload(sample)
        payload["ExpireTime"] += 86400
        return self._with(sample, payload)

    def wrong_key(self, sample: CallbackSample) -> CallbackSample:
        payload = self._payload(sample)
        return self._with(sample, _signed(payload, "not-this-apps-key", payload["ExpireTime"]))

    def expired(self, sample: CallbackSample) -> CallbackSample:
        return self._with(sample, self._payload(sample), now=_at(self._payload(sample)["ExpireTime"] + 1))

    def unsigned(self, sample: CallbackSample) -> CallbackSample:
        payload = self._payload(sample)
        del payload["Sign"], payload["ExpireTime"]
        return self._with(sample, payload)

    def redelivered(self, sample: CallbackSample) -> CallbackSample:
        payload = self._payload(sample)
        later = payload["Timestamp"] + 60
        resent = _signed(dict(payload, Timestamp=later), CONFIG.secrets["callback_key"], later + 600)
        return self._with(sample, resent, now=_at(later + 1))


CALLBACKS = TiwCallbacks()
