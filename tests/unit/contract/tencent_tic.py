"""Contract for Tencent's legacy classroom API (seed 004): a fake `record/v1/online/*` that checks the
URL signature of every request and answers with the document's examples (tests/fixtures/tencent_tic).

The fake's state words follow seed 004 §4.4 (prepared, recording, finished) plus "paused", which the
pause/resume section implies; after a stop it reports finished at once (upload taken as instant).
The document's query example has no finish_reason although its field table lists one; after a stop
the fake adds "usercall", the documented value for a requested stop.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import time
from datetime import UTC, datetime

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
)
from tests.unit.contract import CallbackCases, CallbackSample, ErrorCase, ExpectedEvent, fixture
from tests.unit.contract.tencent_tiw import assert_valid_usersig

KEY = "tencent_tic"

CONFIG = AppConfig(
    vendor=KEY,
    app_id="1400127115",
    base_url="https://iclass.api.qcloud.com",
    secrets={
        # The TicKey of seed 004 §3's signing example.
        "tic_key": "9016607A382749C69D4F4B00C61DD083",
        "usersig_key": "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e",
    },
    max_duration_seconds=3 * 3600,
)

START_SPECS = [
    StartSpec(
        room_id="1234",
        mode=Mode.INDIVIDUAL,
        intent_key="7f3c2a6e-5d1b-4c39-9e0a-3b8f1d2c4e5a",
        group_id="1234",
        options={
            "whiteboard_width": 1280,
            "whiteboard_height": 960,
            "whiteboard_init_param": '{"ratio": "16:9"}',
        },
    ),
]

EXPECTED = {
    Mode.INDIVIDUAL: {
        "start": State.RECORDING,
        "pause": State.PAUSED,
        "resume": State.RECORDING,
        "stop": State.FINISHED,
        "final": State.FINISHED,
        "finish_reason": FinishReason.USER_CALL,
        "segments": [
            ("jepson", SegmentKind.CAMERA, 25915, 22504),
            ("", SegmentKind.WHITEBOARD, 0, 48832),
        ],
    },
}


def _error(code: int, message: str = "") -> dict:
    return {"error_code": code, "error_msg": message or f"error {code}"}


# Seed 004 §5, every row, plus codes the tables do not list and broken answers.
ERROR_CASES = [
    ErrorCase(200, _error(20000), "20000", "config", False),
    ErrorCase(200, _error(20001), "20001", "auth", False),
    ErrorCase(200, _error(20002), "20002", "auth", False),
    ErrorCase(200, _error(20003), "20003", "invalid", False),
    ErrorCase(200, _error(20004), "20004", "invalid", False),
    ErrorCase(200, _error(20005), "20005", "not_found", False),
    ErrorCase(200, _error(20011), "20011", "conflict", False),
    ErrorCase(200, _error(20013), "20013", "conflict", False),
    ErrorCase(200, _error(20099), "20099", "server", True),
    ErrorCase(200, _error(40000), "40000", "invalid", False),
    ErrorCase(200, _error(40001), "40001", "invalid", False),
    ErrorCase(200, _error(40002), "40002", "vendor", False),
    ErrorCase(200, _error(40004), "40004", "auth", False),
    ErrorCase(200, _error(40005), "40005", "vendor", False),
    ErrorCase(200, _error(49999), "49999", "server", True),
    ErrorCase(200, _error(20050), "20050", "vendor", False),
    ErrorCase(200, _error(45000), "45000", "vendor", False),
    ErrorCase(502, b"<html><body>502 Bad Gateway</body></html>", "http_502", "server", True),
    ErrorCase(500, _error(20099), "20099", "server", True),
    ErrorCase(200, b"<html>maintenance</html>", "malformed", "malformed", False),
    ErrorCase(200, {"code": 0, "message": "ok"}, "malformed", "malformed", False),
    ErrorCase(200, {"error_code": 0, "status": "dancing"}, "malformed", "malformed", False),
]


def tic_sign(expire_time: int | str, key: str | None = None) -> str:
    return hashlib.md5(f"{key or CONFIG.secrets['tic_key']}{expire_time}".encode()).hexdigest()


class FakeVendor:
    """record/v1/online/{start,stop,pause,resume,query,callback} as seed 004 §3–§4 describes them."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.tasks: dict[str, dict] = {}
        self.record_users: set[str] = set()
        self.started_count = 0
        self.callback = ""
        self.drop_answers: set[str] = set()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        action = self._assert_signed(request)
        body = json.loads(request.content)
        answer = getattr(self, f"_{action}")(body)
        if action in self.drop_answers:
            raise httpx.ReadTimeout("answer lost", request=request)
        return httpx.Response(200, json=answer)

    @staticmethod
    def _assert_signed(request: httpx.Request) -> str:
        assert request.method == "POST"
        assert request.headers["Content-Type"] == "application/json"
        match = re.fullmatch(r"/record/v1/online/(start|stop|pause|resume|query|callback)", request.url.path)
        assert match, request.url.path
        query = dict(request.url.params)
        assert set(query) == {"sdkappid", "sign", "expire_time", "random"}
        assert query["sdkappid"] == CONFIG.app_id
        assert int(query["expire_time"]) > time.time()
        assert query["sign"] == tic_sign(query["expire_time"]), "sign does not verify"
        assert 1 <= int(query["random"]) <= 2**31 - 1
        return match[1]

    def _task(self, body: dict) -> dict | None:
        return self.tasks.get(body.get("task_id"))

    def _start(self, body: dict) -> dict:
        room = body["room_id"]
        assert isinstance(room, int)
        assert isinstance(body.get("group_id", ""), str)
        user_id = body["user_id"]
        assert user_id.startswith(f"tic_record_user_{room}")
        assert_valid_usersig(body["user_sig"], identifier=user_id, config=CONFIG)
        whiteboard = body.get("whiteboard", {})
        assert isinstance(whiteboard.get("width", 1280), int) and isinstance(
            whiteboard.get("height", 960), int
        )
        init_param = whiteboard.get("init_param", "")
        assert isinstance(init_param, str)
        if init_param:
            assert isinstance(json.loads(init_param), dict)
        if user_id in self.record_users:
            return _error(20013, "record user in use")
        self.record_users.add(user_id)
        self.started_count += 1
        answer = fixture(KEY, "start")
        answer["task_id"] = f"{answer['task_id']}{self.started_count}"
        self.tasks[answer["task_id"]] = {"status": "recording", "reason": "", "body": body}
        return answer

    def _transition(self, body: dict, allowed: set[str], to: str) -> dict:
        task = self._task(body)
        if task is None:
            return _error(20005, "data read failure")
        if task["status"] == "finished":
            return _error(20011, "task already finished")
        if task["status"] not in allowed:
            # Seed 004 names no code for a pause/resume in the wrong state; 40001 (bad parameter) is our guess.
            return _error(40001, f"task is {task['status']}")
        task["status"] = to
        return fixture(KEY, "ok")

    def _pause(self, body: dict) -> dict:
        return self._transition(body, {"recording"}, "paused")

    def _resume(self, body: dict) -> dict:
        return self._transition(body, {"paused"}, "recording")

    def _stop(self, body: dict) -> dict:
        answer = self._transition(body, {"prepared", "recording", "paused"}, "finished")
        if answer["error_code"] == 0:
            self._task(body)["reason"] = "usercall"
        return answer

    def _query(self, body: dict) -> dict:
        task = self._task(body)
        if task is None:
            return _error(20005, "data read failure")
        answer = copy.deepcopy(fixture(KEY, "query"))
        answer.update(task_id=body["task_id"], status=task["status"], record_user_id=task["body"]["user_id"])
        if task["status"] == "finished":
            answer["finish_reason"] = task["reason"]
        else:
            answer.update(video_info=[], stop_time=0, total_time=0)
        return answer

    def _callback(self, body: dict) -> dict:
        url = body["callback"]
        if url and not url.startswith(("http://", "https://")):
            return _error(20004, "bad callback url")
        self.callback = url
        return fixture(KEY, "ok")


# ---------------------------------------------------------------- callbacks


def _at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


class TicCallbacks(CallbackCases):
    """The sign sits in the callback URL's query and covers only TicKey and expire_time (inferred
    from the API's request sign, vendors.md §1a), so "tampered" alters expire_time."""

    expected_ack = Ack(status=200, body=b'{"error_code":0}')

    def __init__(self) -> None:
        task = "g68cee8e90jcq4ogg8jb"
        # Seed 004 §3's signing example: md5(TicKey + "1548247837") = 5400bac7…, carried as the
        # callback URL carries it (§4.6: random, expire_time, sign, sdkappid).
        query = {
            "random": "526919",
            "expire_time": "1548247837",
            "sign": "5400bac77ba6467a8f8ac056f1769f45",
            "sdkappid": CONFIG.app_id,
        }
        sent = _at(1529908745)
        now = _at(1529908746)
        no_file = dict(fixture(KEY, "callback_record_finished"), error_code=40002, finish_reason="auto")
        no_file.update(error_msg="no file", video_info=[])
        self.samples = (
            CallbackSample(
                "record_started",
                json.dumps(fixture(KEY, "callback_record_started")).encode(),
                query=query,
                now=now,
                expected=(ExpectedEvent(EventKind.STARTED, task, sent, State.RECORDING),),
            ),
            CallbackSample(
                "record_finished",
                json.dumps(fixture(KEY, "callback_record_finished")).encode(),
                query=query,
                now=now,
                # The document's example names no finish_reason.
                expected=(
                    ExpectedEvent(
                        EventKind.FINISHED, task, sent, State.FINISHED, FinishReason.UNKNOWN, segment_count=3
                    ),
                ),
            ),
            CallbackSample(
                "record_finished_no_file",
                json.dumps(no_file).encode(),
                query=query,
                now=now,
                expected=(
                    ExpectedEvent(EventKind.FINISHED, task, sent, State.FINISHED, FinishReason.NO_FILE),
                ),
            ),
        )

    @staticmethod
    def _with(sample: CallbackSample, *, body: bytes | None = None, now=None, **query) -> CallbackSample:
        new_query = {k: v for k, v in {**sample.query, **query}.items() if v is not None}
        return CallbackSample(
            name=sample.name,
            body=sample.body if body is None else body,
            query=new_query,
            now=now or sample.now,
            expected=sample.expected,
        )

    def tampered(self, sample: CallbackSample) -> CallbackSample:
        return self._with(sample, expire_time=str(int(sample.query["expire_time"]) + 86400))

    def wrong_key(self, sample: CallbackSample) -> CallbackSample:
        return self._with(sample, sign=tic_sign(sample.query["expire_time"], key="0" * 32))

    def expired(self, sample: CallbackSample) -> CallbackSample:
        return self._with(sample, now=_at(int(sample.query["expire_time"]) + 1))

    def unsigned(self, sample: CallbackSample) -> CallbackSample:
        return self._with(sample, sign=None)

    def redelivered(self, sample: CallbackSample) -> CallbackSample:
        # A retry a minute later (seed 004 §4.6): new random, expire_time, sign and send timestamp.
        payload = json.loads(sample.body)
        payload["timestamp"] += 60
        expire_time = str(payload["timestamp"] + 300)
        return self._with(
            sample,
            body=json.dumps(payload).encode(),
            now=_at(payload["timestamp"] + 1),
            random="8812",
            expire_time=expire_time,
            sign=tic_sign(expire_time),
        )


CALLBACKS = TicCallbacks()
