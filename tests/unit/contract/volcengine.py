"""Contract for Volcengine RTC: a fake Volcengine whose signature check is the official SDK's signer
(PyPI `volcengine`, SignerV4.sign_only), answering with the documents' envelopes (tests/fixtures/volcengine).

Fixtures: start_wb_record / stop_wb_record are seed 000's "正常返回示例"; start_record, stop_record and
update_record are the same envelope for the cloud-recording actions; get_record_task_* carry the
GetRecordTask fields of vendors.md §4 (values ours); error.json is the `ResponseMetadata.Error`
envelope with the SignatureDoesNotMatch row of doc 6369/68677. callback_* follow the field list of
https://volcengine.com/docs/6348/69820 with the event names we assumed (NOT FOUND, see
recordings/vendors/volcengine.py).
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import time
from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl

import httpx
from volcengine.auth.SignerV4 import SignerV4
from volcengine.auth.SignParam import SignParam
from volcengine.Credentials import Credentials

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

KEY = "volcengine"

CONFIG = AppConfig(
    vendor=KEY,
    app_id="600000000000000000000000",
    base_url="https://rtc.volcengineapi.com",
    secrets={
        # The access key pair of the signing example (doc 6348/69859).
        "access_key_id": "AKLTMjI2ODVlYzI3ZGY1NGU4ZjhjYWRjMTlmNTM5OTZkYzE",
        "secret_access_key": "TnpCak5XWXpZV1U0WkRaaE5ERmxaR0ZpTmpjeVkyUXlZek0wTWpJMU1qWQ==",
        "callback_secret": "b6f1c0de5a7e4f2c9d8e7f6a5b4c3d2e",
    },
)

STORAGE = StorageSpec(
    provider="tencent_cos",
    region="ap-guangzhou",
    bucket="recdesk-1250000000",
    access_key="AKIDexampleCosKey",
    secret="exampleCosSecret",
    prefix="recordings/room-1",
)

START_SPECS = [
    StartSpec(room_id="RoomId1", mode=Mode.INDIVIDUAL, intent_key="401", storage=STORAGE,
              options={"FileFormat": ["MP4", "HLS"], "MaxIdleTime": 300}),
    StartSpec(room_id="RoomId1", mode=Mode.MIXED, intent_key="402", storage=STORAGE, options={}),
    StartSpec(room_id="RoomId1", mode=Mode.WHITEBOARD, intent_key="403",
              options={"SourceURL": "https://xxx.ui.rtc.com"}),
]  # fmt: skip

EXPECTED = {
    Mode.INDIVIDUAL: {
        "start": State.RECORDING,
        "stop": State.FINISHED,
        "final": State.FINISHED,
        "finish_reason": FinishReason.USER_CALL,
        "segments": [
            ("teacher_1", SegmentKind.CAMERA, 1611736812853, 300000),
            ("teacher_1", SegmentKind.SCREEN, 1611736900000, 120000),
        ],
    },
    Mode.MIXED: {
        "start": State.RECORDING,
        "stop": State.FINISHED,
        "final": State.FINISHED,
        "finish_reason": FinishReason.USER_CALL,
        "segments": [("", SegmentKind.MIXED, 1611736812853, 300000)],
    },
    Mode.WHITEBOARD: {
        "start": State.RECORDING,
        "stop": State.FINISHED,
        "final": State.FINISHED,
        "finish_reason": FinishReason.USER_CALL,
        "segments": [("", SegmentKind.WHITEBOARD, 1611736814000, 298000)],
    },
}


def envelope(code: str, code_n: int, message: str, action: str = "GetRecordTask") -> dict:
    answer = copy.deepcopy(fixture(KEY, "error"))
    answer["ResponseMetadata"].update(
        Action=action, Error={"CodeN": code_n, "Code": code, "Message": message}
    )
    return answer


ERROR_CASES = [
    ErrorCase(401, fixture(KEY, "error"), "SignatureDoesNotMatch", "auth", False),
    ErrorCase(401, envelope("InvalidAccessKey", 100009, "invalid key"), "InvalidAccessKey", "auth", False),
    ErrorCase(400, envelope("InvalidTimestamp", 100006, "expired"), "InvalidTimestamp", "auth", True),
    ErrorCase(400, envelope("MissingParameter", 100002, "missing"), "MissingParameter", "invalid", False),
    ErrorCase(400, envelope("MissingRequestInfo", 100004, "no X-Date"), "MissingRequestInfo", "invalid", False),
    ErrorCase(404, envelope("ServiceNotFound", 100007, "no rtc"), "ServiceNotFound", "invalid", False),
    ErrorCase(404, envelope("InvalidActionOrVersion", 100008, "no op"), "InvalidActionOrVersion", "invalid", False),
    ErrorCase(403, envelope("AccessDenied", 100013, "denied"), "AccessDenied", "auth", False),
    ErrorCase(500, envelope("InternalError", 100014, "internal"), "InternalError", "server", True),
    ErrorCase(500, envelope("InternalServiceTimeout", 100016, "timeout"), "InternalServiceTimeout", "server", True),
    ErrorCase(400, envelope("InvalidParameter", 10001, "bad"), "InvalidParameter", "invalid", False),
    ErrorCase(400, envelope("InvalidParameter.TaskAlreadyExists", 0, "exists"),
              "InvalidParameter.TaskAlreadyExists", "conflict", False),
    ErrorCase(400, envelope("InvalidParameter.ErrorActiveTaskNotFound", 0, "no task"),
              "InvalidParameter.ErrorActiveTaskNotFound", "not_found", False),
    ErrorCase(400, envelope("InvalidParameter.IllegalRoomID", 0, "room"), "InvalidParameter.IllegalRoomID", "invalid",
              False),
    ErrorCase(400, envelope("InvalidParameter.NotExistAppId", 0, "app"), "InvalidParameter.NotExistAppId", "config",
              False),
    ErrorCase(400, envelope("InvalidParameter.IllegalAppId", 0, "app"), "InvalidParameter.IllegalAppId", "config",
              False),
    ErrorCase(429, envelope("FlowLimitExceeded.QPSOverLimit", 0, "qps"), "FlowLimitExceeded.QPSOverLimit",
              "rate_limited", True),
    ErrorCase(429, envelope("FlowLimitExceeded.TaskNumberOverLimit", 0, "tasks"),
              "FlowLimitExceeded.TaskNumberOverLimit", "rate_limited", True),
    ErrorCase(403, envelope("AccessDenied.RecordNotEnabled", 0, "off"), "AccessDenied.RecordNotEnabled", "config",
              False),
    ErrorCase(403, envelope("AccessDenied.NoPermissionForApp", 0, "no"), "AccessDenied.NoPermissionForApp", "auth",
              False),
    ErrorCase(403, envelope("AccessDenied.ServiceNotEnabled", 0, "no"), "AccessDenied.ServiceNotEnabled", "config",
              False),
    ErrorCase(500, envelope("InternalError.GenerateTokenFailed", 0, "token"), "InternalError.GenerateTokenFailed",
              "server", True),
    # A sub-code the table does not list falls back to its family.
    ErrorCase(400, envelope("InvalidParameter.SomethingNew", 0, "new"), "InvalidParameter.SomethingNew", "invalid",
              False),
    ErrorCase(502, b"<html>502 Bad Gateway</html>", "502", "server", True),
    ErrorCase(200, b"{}", "malformed", "malformed", False),
    ErrorCase(200, {"ResponseMetadata": {"RequestId": "r"}, "Result": {"Other": 1}}, "malformed", "malformed",
              False),
]  # fmt: skip


# ---------------------------------------------------------------- the fake


def sdk_authorization(request: httpx.Request) -> str:
    """The Authorization the official SDK computes for this request's method, query, signed headers
    (Content-Type, Host), body and X-Date."""
    param = SignParam()
    param.set_method(request.method)
    param.set_host(request.headers["Host"])
    param.set_path(request.url.path)
    param.set_query(OrderedDict(parse_qsl(request.url.query.decode(), keep_blank_values=True)))
    param.set_body(request.content)
    param.set_header_list(
        OrderedDict([("Content-Type", request.headers["Content-Type"]), ("Host", request.headers["Host"])])
    )
    param.set_date(datetime.strptime(request.headers["X-Date"], "%Y%m%dT%H%M%SZ"))
    credentials = Credentials(
        CONFIG.secrets["access_key_id"], CONFIG.secrets["secret_access_key"], "rtc", "cn-north-1"
    )
    return SignerV4.sign_only(param, credentials).authorization


class FakeVendor:
    """Volcengine's OpenAPI gateway and the RTC recording actions, as seed 000 and vendors.md §4 say."""

    WB_VERSION = "2020-12-01"
    RECORD_VERSIONS = {"2022-06-01", "2023-06-01", "2023-11-01"}

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.started_count = 0
        self.tasks: dict[tuple[str, str], dict] = {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self._assert_signed(request)
        query = dict(parse_qsl(request.url.query.decode()))
        action, version = query.pop("Action"), query.pop("Version")
        if action in ("StartWBRecord", "StopWBRecord"):
            assert version == self.WB_VERSION, "seed 000: Version 2020-12-01"
        else:
            assert version in self.RECORD_VERSIONS
        if request.method == "GET":
            assert action == "GetRecordTask" and not request.content
            params = query
        else:
            assert request.headers["Content-Type"] == "application/json" and not query
            params = json.loads(request.content)
        assert params["AppId"] == CONFIG.app_id
        status, answer = getattr(self, f"_{action}")(params)
        answer = copy.deepcopy(answer)
        answer["ResponseMetadata"].update(Action=action, Version=version)
        return httpx.Response(status, json=answer)

    @staticmethod
    def _assert_signed(request: httpx.Request) -> None:
        assert request.url.path == "/"
        assert request.headers["Host"] == request.url.netloc.decode()
        x_date = request.headers["X-Date"]
        assert re.fullmatch(r"\d{8}T\d{6}Z", x_date)
        moment = datetime.strptime(x_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        assert abs(moment.timestamp() - time.time()) < 300
        assert request.headers["X-Content-Sha256"] == hashlib.sha256(request.content).hexdigest()
        # The official SDK's signer is the referee.
        assert request.headers["Authorization"] == sdk_authorization(request), "V4 signature does not verify"

    @staticmethod
    def _ok() -> dict:
        return fixture(KEY, "start_record")

    @staticmethod
    def _error(status: int, code: str, message: str) -> tuple[int, dict]:
        return status, envelope(code, 0, message)

    def _start(self, params: dict, mode: str) -> tuple[int, dict]:
        assert re.fullmatch(r"[a-zA-Z0-9_@\-.]{1,128}", params["TaskId"])
        key = (params["RoomId"], params["TaskId"])
        task = self.tasks.get(key)
        if task is not None and task["status"] == 2:
            answer = self._ok()
            answer["Result"] = (
                "The task has been started. Please do not call the startup task interface repeatedly."
            )
            return 200, answer
        if task is not None:
            return self._error(400, "InvalidParameter.TaskAlreadyExists", "task exists and has ended")
        self.started_count += 1
        self.tasks[key] = {"mode": mode, "status": 2, "user": params.get("UserId", "")}
        return 200, self._ok()

    def _StartRecord(self, params: dict) -> tuple[int, dict]:
        assert params["RecordMode"] in (0, 1)
        assert set(params["FileFormatConfig"]["FileFormat"]) <= {"MP4", "HLS", "FLV", "MP3", "AAC", "M4A"}
        assert 10 <= params["Control"]["MaxIdleTime"] <= 86400
        storage = params["StorageConfig"]
        assert storage["Type"] == 2 and storage["CustomConfig"]["Vendor"] == 3, (
            "Tencent COS is CustomConfig 3"
        )
        assert storage["CustomConfig"]["Bucket"] == STORAGE.bucket
        assert params["FileNameConfig"]["Prefix"] == ["recordings", "room-1"]
        return self._start(params, "individual" if params["RecordMode"] == 1 else "mixed")

    def _StartWBRecord(self, params: dict) -> tuple[int, dict]:
        assert set(params) <= {"AppId", "RoomId", "TaskId", "UserId", "BusinessId", "SourceURL"}
        assert params["UserId"]
        answer = self._start(params, "whiteboard")
        return answer[0], (fixture(KEY, "start_wb_record") if answer[0] == 200 else answer[1])

    def _stop(self, params: dict) -> tuple[int, dict]:
        task = self.tasks.get((params["RoomId"], params["TaskId"]))
        if task is None or task["status"] != 2:
            return self._error(400, "InvalidParameter.ErrorActiveTaskNotFound", "no active task")
        task["status"] = 3
        return 200, self._ok()

    def _StopRecord(self, params: dict) -> tuple[int, dict]:
        assert set(params) <= {"AppId", "RoomId", "TaskId", "BusinessId"}
        return self._stop(params)

    def _StopWBRecord(self, params: dict) -> tuple[int, dict]:
        assert set(params) == {"AppId", "RoomId", "TaskId", "UserId"}
        task = self.tasks.get((params["RoomId"], params["TaskId"]))
        assert task is None or params["UserId"] == task["user"], "stop with the UserId of start"
        return self._stop(params)

    def _UpdateRecord(self, params: dict) -> tuple[int, dict]:
        task = self.tasks.get((params["RoomId"], params["TaskId"]))
        if task is None or task["status"] != 2 or task["mode"] != "mixed":
            return self._error(400, "InvalidParameter.ErrorActiveTaskNotFound", "no active mixed task")
        return 200, self._ok()

    def _GetRecordTask(self, params: dict) -> tuple[int, dict]:
        assert set(params) == {"AppId", "RoomId", "TaskId"}
        task = self.tasks.get((params["RoomId"], params["TaskId"]))
        if task is None:
            return self._error(400, "InvalidParameter.ErrorActiveTaskNotFound", "task not found")
        answer = copy.deepcopy(fixture(KEY, f"get_record_task_{task['mode']}"))
        record = answer["Result"]["RecordTask"]
        if task["status"] == 2:
            record.update(Status=2, EndTime=0, StopReason="", RecordFileList=[])
        return 200, answer


# ---------------------------------------------------------------- callbacks


def sign(payload: dict, secret: str) -> dict:
    names = ("EventType", "EventData", "EventTime", "EventId", "AppId", "Version", "Nonce")
    values = sorted([*(str(payload[name]) for name in names), secret])
    return dict(payload, Signature=hashlib.sha256("".join(values).encode()).hexdigest())


def _body(payload: dict) -> bytes:
    return json.dumps(payload, ensure_ascii=False).encode()


class VolcengineCallbacks(CallbackCases):
    """The signature covers every field's value (docs 6348/69820); EventTime must be recent."""

    expected_ack = Ack(status=200, body=b"", content_type="text/plain")

    def __init__(self) -> None:
        secret = CONFIG.secrets["callback_secret"]

        def sample(name: str, expected: ExpectedEvent) -> CallbackSample:
            payload = sign(fixture(KEY, f"callback_{name}"), secret)
            return CallbackSample(name=name, body=_body(payload), now=expected.occurred_at + timedelta(seconds=4),
                                  expected=(expected,))  # fmt: skip

        def at(text: str) -> datetime:
            return datetime.fromisoformat(text)

        self.samples = (
            sample("record_started", ExpectedEvent(EventKind.STARTED, "rd-i-401", at("2021-01-27T08:40:12.853Z"),
                                                   State.RECORDING)),
            sample("record_stopped", ExpectedEvent(EventKind.STOPPED, "rd-i-401", at("2021-01-27T08:45:12.853Z"),
                                                   State.PROCESSING, FinishReason.USER_CALL)),
            sample("record_upload_done", ExpectedEvent(EventKind.FINISHED, "rd-i-401",
                                                       at("2021-01-27T08:46:02.120Z"), State.FINISHED,
                                                       segment_count=2)),
            sample("record_upload_processing", ExpectedEvent(EventKind.OTHER, "rd-i-401",
                                                             at("2021-01-27T08:45:40.000Z"))),
        )  # fmt: skip

    @staticmethod
    def _replace(sample: CallbackSample, payload: dict, now: datetime | None = None) -> CallbackSample:
        return CallbackSample(sample.name, _body(payload), sample.headers, sample.query, now or sample.now)

    def tampered(self, sample: CallbackSample) -> CallbackSample:
        payload = json.loads(sample.body)
        payload["EventData"] = payload["EventData"].replace("rd-i-401", "rd-i-999")
        return self._replace(sample, payload)

    def wrong_key(self, sample: CallbackSample) -> CallbackSample:
        return self._replace(sample, sign(json.loads(sample.body), "not-the-callback-secret"))

    def expired(self, sample: CallbackSample) -> CallbackSample:
        return self._replace(sample, json.loads(sample.body), sample.now + timedelta(hours=1))

    def unsigned(self, sample: CallbackSample) -> CallbackSample:
        payload = json.loads(sample.body)
        del payload["Signature"]
        return self._replace(sample, payload)

    def redelivered(self, sample: CallbackSample) -> CallbackSample:
        # A retry carries the same EventId; we assume a fresh Nonce and signature.
        payload = json.loads(sample.body)
        payload["Nonce"] = payload["Nonce"] + "r"
        return self._replace(
            sample, sign(payload, CONFIG.secrets["callback_secret"]), sample.now + timedelta(seconds=5)
        )


CALLBACKS = VolcengineCallbacks()
