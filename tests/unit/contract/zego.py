"""Contract for ZEGO Cloud Recording: a fake ZEGO that checks every request's public parameters and
`md5(AppId + SignatureNonce + ServerSecret + Timestamp)` signature, and answers with the documents'
examples (tests/fixtures/zego).

Fixtures: start_record, succeed, describe_record_status (RecordMode 2), describe_tasks and
callback_upload_finished are the response/callback examples of ZG `start.md`, `query.md`,
`query-record-task-list.md` and `end-callback.md` as printed (describe_tasks keeps the example's
"TaskidList" spelling). describe_record_status_individual and the other callback_* files are ours, in
the same shapes, with the values of the end-callback example.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import re
import time
from datetime import UTC, datetime, timedelta

import httpx

from recordings.vendors.base import (
    Ack,
    AppConfig,
    EventKind,
    FinishReason,
    Mode,
    SegmentKind,
    StartSpec,
    State,
    StorageSpec,
)
from tests.unit.contract import CallbackCases, CallbackSample, ErrorCase, ExpectedEvent, fixture

KEY = "zego"

CONFIG = AppConfig(
    vendor=KEY,
    app_id="1234567890",
    base_url="https://cloudrecord-api.zego.im",
    secrets={
        "server_secret": "9193cc662a4c0ec135ec71fb57194b38",
        "callback_secret": "c4c8b4a1e3d24f0fa7b9d1e2f3a4b5c6",
    },
)

STORAGE = StorageSpec(
    provider="aliyun_oss",
    region="oss-cn-shanghai",
    bucket="recdesk-recordings",
    access_key="LTAI5tExampleKeyId",
    secret="ExampleAccessKeySecretValue",
    prefix="record/",
)

START_SPECS = [
    StartSpec(room_id="6677", mode=Mode.INDIVIDUAL, intent_key="301", storage=STORAGE,
              options={"StreamType": "3", "OutputFileFormat": "mp4", "MaxIdleTime": 60}),
    StartSpec(room_id="xxxx", mode=Mode.MIXED, intent_key="302", storage=STORAGE,
              options={"MixMode": "2", "WhiteboardId": "wb-123456"}),
]  # fmt: skip

# ZG pause-recording.md: PauseRecord/ResumeRecord apply to mixed-stream tasks only (a single-stream
# task is refused with 300000004), so only the mixed recording pauses here.
PAUSE_MODES = frozenset({Mode.MIXED})

EXPECTED = {
    Mode.INDIVIDUAL: {
        "start": State.RECORDING,
        "stop": State.PROCESSING,
        "final": State.FINISHED,
        "finish_reason": FinishReason.UNKNOWN,
        "segments": [
            ("800221", SegmentKind.CAMERA, 1637753762084, 170039),
            ("800222", SegmentKind.AUDIO, 1637753771500, 160120),
        ],
    },
    Mode.MIXED: {
        "start": State.RECORDING,
        "pause": State.PAUSED,
        "resume": State.RECORDING,
        "stop": State.PROCESSING,
        "final": State.FINISHED,
        "finish_reason": FinishReason.UNKNOWN,
        "segments": [("", SegmentKind.MIXED, 1601221459830, 33874)],
    },
}


def _refused(code: int, message: str) -> dict:
    return {"Code": code, "Message": message, "RequestId": "abcd999"}


ERROR_CASES = [
    ErrorCase(200, _refused(100000004, "signature expired"), "100000004", "auth", True),
    ErrorCase(200, _refused(100000005, "signature error"), "100000005", "auth", False),
    ErrorCase(200, _refused(300000002, "service not enabled"), "300000002", "config", False),
    ErrorCase(200, _refused(300000003, "qps limit"), "300000003", "rate_limited", True),
    ErrorCase(200, _refused(300000004, "invalid TaskId"), "300000004", "invalid", False),
    ErrorCase(200, _refused(300000005, "gateway check failed"), "300000005", "vendor", False),
    ErrorCase(200, _refused(300000006, "too many tasks"), "300000006", "rate_limited", True),
    ErrorCase(200, _refused(300001000, "task not exist"), "300001000", "not_found", False),
    ErrorCase(200, _refused(300001001, "task ended"), "300001001", "conflict", False),
    ErrorCase(200, _refused(300001004, "task not paused"), "300001004", "conflict", False),
    ErrorCase(200, _refused(300010000, "system error"), "300010000", "server", True),
    # A gateway code outside the recording table (Timestamp empty).
    ErrorCase(200, _refused(100000002, "The Timestamp field is empty."), "100000002", "vendor", False),
    ErrorCase(500, b"Internal Server Error", "500", "server", True),
    ErrorCase(429, b"", "429", "rate_limited", True),
    ErrorCase(404, b"<html>not found</html>", "404", "vendor", False),
    ErrorCase(200, b"<html>captive portal</html>", "malformed", "malformed", False),
    ErrorCase(
        200, {"Code": 0, "Message": "succeed", "Data": {"RoomId": "x"}}, "malformed", "malformed", False
    ),
]


# ---------------------------------------------------------------- the fake


class FakeVendor:
    """ZEGO's cloud recording API as making-api-requests.md and the action pages describe it."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.started_count = 0
        self.tasks: dict[str, dict] = {}
        self.nonces: set[str] = set()
        self._ids = itertools.count(1)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        action = self._assert_signed(request)
        assert request.method == "POST" and request.headers["Content-Type"] == "application/json"
        body = json.loads(request.content)
        return httpx.Response(200, json=getattr(self, f"_{action}")(body))

    def _assert_signed(self, request: httpx.Request) -> str:
        query = dict(request.url.params)
        assert request.url.path == "/"
        assert set(query) == {
            "Action",
            "AppId",
            "SignatureNonce",
            "Timestamp",
            "Signature",
            "SignatureVersion",
        }
        assert query["AppId"] == CONFIG.app_id and query["SignatureVersion"] == "2.0"
        assert re.fullmatch(r"[0-9a-f]{16}", query["SignatureNonce"]), "nonce: 16 hex chars (8 random bytes)"
        assert query["SignatureNonce"] not in self.nonces, "a fresh nonce for every call"
        self.nonces.add(query["SignatureNonce"])
        assert abs(int(query["Timestamp"]) - time.time()) <= 600, "Timestamp within 10 minutes"
        expected = hashlib.md5(
            (
                query["AppId"]
                + query["SignatureNonce"]
                + CONFIG.secrets["server_secret"]
                + query["Timestamp"]
            ).encode()
        ).hexdigest()
        assert query["Signature"] == expected, "ZEGO signature does not verify"
        return query["Action"]

    def _task(self, body: dict) -> dict | None:
        assert set(body) >= {"TaskId"}
        return self.tasks.get(body["TaskId"])

    def _StartRecord(self, body: dict) -> dict:
        assert set(body) == {"RoomId", "RecordInputParams", "RecordOutputParams", "StorageParams"}
        record_input = body["RecordInputParams"]
        assert record_input["RecordMode"] in (1, 2) and record_input["StreamType"] in (1, 2, 3, 4)
        assert 5 <= record_input["MaxIdleTime"] <= 86400
        assert 300 <= record_input.get("MaxRecordTime", 86400) <= 86400
        mix_stream = ""
        if record_input["RecordMode"] == 2:
            mix = record_input["MixConfig"]
            assert mix["MixMode"] in (1, 2, 3, 4, 5) and mix["MixOutputStreamId"]
            mix_stream = mix["MixOutputStreamId"]
            if record_input.get("HasWhiteboard"):
                assert record_input["Whiteboard"]["WhiteboardId"]
        else:
            assert "MixConfig" not in record_input
        assert body["RecordOutputParams"]["OutputFileFormat"] in ("mp4", "flv", "hls", "jpg", "mp3")
        storage = body["StorageParams"]
        assert storage["Vendor"] == 2, "Alibaba OSS is StorageParams.Vendor 2"
        assert storage["Region"] == STORAGE.region and storage["Bucket"] == STORAGE.bucket
        assert (storage["AccessKeyId"], storage["AccessKeySecret"]) == (STORAGE.access_key, STORAGE.secret)
        self.started_count += 1
        task_id = f"YZ4joOE4Iwm{next(self._ids):05d}"
        assert len(task_id) == 16
        self.tasks[task_id] = {"room": body["RoomId"], "mode": record_input["RecordMode"], "status": 2,
                               "mix_stream": mix_stream, "begin": int(time.time() * 1000), "looks": 0}  # fmt: skip
        answer = fixture(KEY, "start_record")
        answer["Data"]["TaskId"] = task_id
        return answer

    def _change(self, body: dict, allowed: set[int], to: int) -> dict:
        task = self._task(body)
        if task is None:
            return _refused(300001000, "task not exist")
        if task["status"] in (3, 4):
            return _refused(300001001, "task ended")
        if task["status"] not in allowed:
            return _refused(300001004, "task not paused")
        task["status"] = to
        return fixture(KEY, "succeed")

    def _PauseRecord(self, body: dict) -> dict:
        return self._change(body, {2}, 5)

    def _ResumeRecord(self, body: dict) -> dict:
        return self._change(body, {5}, 2)

    def _StopRecord(self, body: dict) -> dict:
        return self._change(body, {1, 2, 5}, 3)

    def _DescribeRecordStatus(self, body: dict) -> dict:
        task = self._task(body)
        if task is None:
            return _refused(300001000, "task not exist")
        name = "describe_record_status" if task["mode"] == 2 else "describe_record_status_individual"
        answer = copy.deepcopy(fixture(KEY, name))
        data = answer["Data"]
        data.update(RoomId=task["room"], Status=task["status"])
        for file in data["RecordFiles"]:
            if task["mix_stream"]:
                file.update(
                    UserId=task["mix_stream"], UserName=task["mix_stream"], StreamId=task["mix_stream"]
                )
        if task["status"] in (3, 4):
            task["looks"] += 1
            # Files upload after the stop: still uploading at the first look, uploaded by the next.
            if task["looks"] == 1:
                for file in data["RecordFiles"]:
                    file["Status"] = 2
        else:
            data["RecordEndTimestamp"] = 0
            for file in data["RecordFiles"]:
                file["Status"] = 1
        return answer

    def _DescribeTasks(self, body: dict) -> dict:
        assert body["Status"] in (2, 3)
        assert body["EndTime"] > body["StartTime"] and body["EndTime"] - body["StartTime"] <= 3 * 86400 * 1000
        assert 0 < body.get("PageSize", 50) <= 50
        answer = copy.deepcopy(fixture(KEY, "describe_tasks"))
        wanted = {2: {1, 2, 5}, 3: {3, 4}}[body["Status"]]
        listed = [
            {
                "RecordBeginTimestamp": task["begin"],
                "TaskId": task_id,
                "RoomId": task["room"],
                "Status": task["status"],
            }
            for task_id, task in self.tasks.items()
            if task["status"] in wanted
            and body.get("RoomId", task["room"]) == task["room"]
            and body["StartTime"] <= task["begin"] < body["EndTime"]
        ]
        answer["Data"].update(TotalCount=len(listed), TaskidList=listed[: body.get("PageSize", 50)])
        return answer

    def _UpdateLayout(self, body: dict) -> dict:
        task = self._task(body)
        if task is None or task["mode"] != 2:
            return _refused(300000004, "not a mixed task")
        return fixture(KEY, "succeed")

    def _UpdateWhiteboard(self, body: dict) -> dict:
        task = self._task(body)
        if task is None:
            return _refused(300001000, "task not exist")
        assert body["WhiteboardId"]
        return fixture(KEY, "succeed")


# ---------------------------------------------------------------- callbacks


def sign(payload: dict, secret: str) -> dict:
    signed = dict(payload)
    parts = sorted([secret, str(payload["timestamp"]), str(payload["nonce"])])
    signed["signature"] = hashlib.sha1("".join(parts).encode()).hexdigest()
    return signed


def _body(payload: dict) -> bytes:
    return json.dumps(payload, ensure_ascii=False).encode()


def _at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


class ZegoCallbacks(CallbackCases):
    """The signature covers callbacksecret, timestamp and nonce only (end-callback.md), so "tampered"
    alters the nonce; the timestamp is the send time and must be recent."""

    expected_ack = Ack(status=200, body=b"", content_type="text/plain")

    def __init__(self) -> None:
        secret = CONFIG.secrets["callback_secret"]
        task = "YZ4joOE4IwmFAAAT"

        def sample(name: str, expected: ExpectedEvent) -> CallbackSample:
            payload = sign(fixture(KEY, f"callback_{name}"), secret)
            return CallbackSample(name=name, body=_body(payload), now=_at(int(payload["timestamp"]) + 3),
                                  expected=(expected,))  # fmt: skip

        self.samples = (
            sample("upload_finished",
                   ExpectedEvent(EventKind.FINISHED, task, _at(1637753949), State.FINISHED, segment_count=1)),
            sample("paused", ExpectedEvent(EventKind.PAUSED, task, _at(1637753800), State.PAUSED)),
            sample("resumed", ExpectedEvent(EventKind.RESUMED, task, _at(1637753830), State.RECORDING)),
            sample("stopped", ExpectedEvent(EventKind.STOPPED, task, _at(1637753940), State.PROCESSING)),
            sample("abnormal_end", ExpectedEvent(EventKind.STOPPED, task, _at(1637753990), State.PROCESSING,
                                                 FinishReason.IDLE)),
        )  # fmt: skip

    @staticmethod
    def _replace(sample: CallbackSample, payload: dict, now: datetime | None = None) -> CallbackSample:
        return CallbackSample(sample.name, _body(payload), sample.headers, sample.query, now or sample.now)

    def tampered(self, sample: CallbackSample) -> CallbackSample:
        payload = json.loads(sample.body)
        payload["nonce"] = payload["nonce"] + "1"
        return self._replace(sample, payload)

    def wrong_key(self, sample: CallbackSample) -> CallbackSample:
        return self._replace(sample, sign(json.loads(sample.body), "not-the-callback-secret"))

    def expired(self, sample: CallbackSample) -> CallbackSample:
        return self._replace(sample, json.loads(sample.body), sample.now + timedelta(hours=1))

    def unsigned(self, sample: CallbackSample) -> CallbackSample:
        payload = json.loads(sample.body)
        del payload["signature"]
        return self._replace(sample, payload)

    def redelivered(self, sample: CallbackSample) -> CallbackSample:
        # ZEGO retries 5 s apart, re-signed at the new send time with a new nonce.
        payload = json.loads(sample.body)
        payload.update(timestamp=str(int(payload["timestamp"]) + 5), nonce=payload["nonce"] + "7")
        return self._replace(
            sample, sign(payload, CONFIG.secrets["callback_secret"]), sample.now + timedelta(seconds=5)
        )


CALLBACKS = ZegoCallbacks()
