"""Contract for Agora Cloud Recording: a fake Agora that checks HTTP Basic auth, the paths and the
bodies of acquire/start/query/update/updateLayout/stop, and answers with the documents' example
shapes (tests/fixtures/agora).

Fixtures: acquire/start/update/stop/query_* follow the examples and field lists of seed 003 and
vendors.md §2 (AG-DOC `REC/cloud-recording.md`: query's fileList for individual/mix, web's
extensionServiceState payload); ncs_* follow the NCS envelope of
https://docs.agora.io/en/broadcast-streaming/reference/signature-verification with the cloud-recording
payload of AG-DOC `云端录制回调.md`. File names and times are ours.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import itertools
import json
import re
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

KEY = "agora"

CONFIG = AppConfig(
    vendor=KEY,
    app_id="0123456789abcdef0123456789abcdef",
    base_url="https://api.sd-rtn.com",
    secrets={
        "customer_id": "4ae5f7c2e1d64b5e9b1d2c3a4f5e6d7c",
        "customer_secret": "b1c2d3e4f5a6478b9c0d1e2f3a4b5c6d",
        # The secret of Agora's published NCS vector.
        "ncs_secret": "secret",
    },
    max_duration_seconds=4 * 3600,
)

STORAGE = StorageSpec(
    provider="s3",
    region="us-east-1",
    bucket="recdesk-recordings",
    access_key="AKIAIOSFODNN7EXAMPLE",
    secret="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    prefix="classes/room-7",
)

START_SPECS = [
    StartSpec(room_id="httpClient463224", mode=Mode.INDIVIDUAL, intent_key="201", storage=STORAGE,
              options={"channelType": "1", "maxIdleTime": 120}),
    StartSpec(room_id="httpClient463224", mode=Mode.MIXED, intent_key="202", storage=STORAGE,
              options={"mixedVideoLayout": "1", "avFileType": ["hls", "mp4"]}),
    StartSpec(room_id="httpClient463224", mode=Mode.WEB_PAGE, intent_key="203", storage=STORAGE,
              options={"url": "https://class.example/room-7?view=teacher", "videoWidth": 1280,
                       "videoHeight": 720, "maxRecordingHour": 3, "avFileType": ["hls", "mp4"]}),
]  # fmt: skip

EXPECTED = {
    Mode.INDIVIDUAL: {
        "start": State.RECORDING,
        "stop": State.PROCESSING,
        "final": State.FINISHED,
        "finish_reason": FinishReason.UNKNOWN,
        # fileList has no durations and each uid's playlist is alone in its lane, the audio-only one
        # `audio`: with no time in the answer, their ends are unknown (0).
        "segments": [
            ("1001", SegmentKind.CAMERA, 1562724971626, 0),
            ("1002", SegmentKind.CAMERA, 1562724973000, 0),
            ("1003", SegmentKind.AUDIO, 1562724975500, 0),
        ],
    },
    Mode.MIXED: {
        "start": State.RECORDING,
        "stop": State.PROCESSING,
        "final": State.FINISHED,
        "finish_reason": FinishReason.UNKNOWN,
        # The MP4 is kept, the HLS playlist of the same span is not.
        "segments": [("", SegmentKind.MIXED, 1562724971626, 0)],
    },
    Mode.WEB_PAGE: {
        "start": State.RECORDING,
        "pause": State.PAUSED,
        "resume": State.RECORDING,
        "stop": State.PROCESSING,
        "final": State.FINISHED,
        "finish_reason": FinishReason.UNKNOWN,
        # The first MP4 ends where the next begins; the last one's end is not in the answer.
        "segments": [
            ("", SegmentKind.MIXED, 1623396883000, 7200000),
            ("", SegmentKind.MIXED, 1623404083000, 0),
        ],
    },
}


def _code(code: int, reason: str) -> dict:
    return {"code": code, "reason": reason}


ERROR_CASES = [
    ErrorCase(401, {"message": "Invalid authentication credentials"}, "401", "auth", False),
    ErrorCase(401, {"message": "Unauthorized"}, "401", "auth", False),
    ErrorCase(400, {"message": "appid is invalid"}, "invalid_appid", "config", False),
    ErrorCase(404, {"message": "no Route matched with those values"}, "no_route", "invalid", False),
    # High-availability failover: query answers 404 for up to a minute, then works again.
    ErrorCase(404, _code(404, "failed to find worker"), "404", "not_found", True),
    ErrorCase(404, b"", "404", "not_found", True),
    ErrorCase(429, {"message": "API rate limit exceeded"}, "429", "rate_limited", True),
    ErrorCase(400, _code(2, "invalid appid"), "2", "invalid", False),
    ErrorCase(400, _code(7, "recording is already running"), "7", "conflict", False),
    ErrorCase(400, _code(8, "http header error"), "8", "invalid", False),
    ErrorCase(400, _code(49, "repeated stop"), "49", "conflict", False),
    ErrorCase(400, _code(53, "recording is already running"), "53", "conflict", False),
    ErrorCase(400, _code(62, "cloud recording not enabled"), "62", "config", False),
    ErrorCase(400, _code(65, "request not completed"), "65", "vendor", True),
    ErrorCase(400, _code(109, "token expired"), "109", "auth", False),
    ErrorCase(400, _code(110, "token invalid"), "110", "auth", False),
    ErrorCase(400, _code(432, "parameter mismatch"), "432", "invalid", False),
    ErrorCase(400, _code(433, "resource expired"), "433", "vendor", True),
    ErrorCase(400, _code(435, "no recorded data"), "435", "conflict", False),
    ErrorCase(400, _code(501, "exiting"), "501", "conflict", False),
    ErrorCase(400, _code(1001, "failed to resolve resource id"), "1001", "invalid", False),
    ErrorCase(400, _code(1003, "appid or sid mismatch"), "1003", "invalid", False),
    ErrorCase(400, _code(1013, "invalid channel name"), "1013", "invalid", False),
    ErrorCase(400, _code(1028, "updateLayout body error"), "1028", "invalid", False),
    ErrorCase(400, _code(9999, "something new"), "9999", "vendor", False),
    ErrorCase(500, {"message": "internal error"}, "500", "server", True),
    ErrorCase(504, b"<html>gateway timeout</html>", "504", "server", True),
    ErrorCase(200, b"not json", "malformed", "malformed", False),
    ErrorCase(200, {"resourceId": "x", "sid": "y", "serverResponse": {}}, "malformed", "malformed", False),
]


# ---------------------------------------------------------------- the fake


class FakeVendor:
    """Agora's RESTful recording API as seed 003 and vendors.md §2 describe it."""

    QUERY_FIXTURES = {"individual": "query_individual", "mix": "query_mix", "web": "query_web"}

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.started_count = 0
        self.resources: dict[str, dict] = {}
        self.recordings: dict[str, dict] = {}
        self._ids = itertools.count(1)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self._assert_authenticated(request)
        path = request.url.path
        prefix = f"/v1/apps/{CONFIG.app_id}/cloud_recording"
        assert path.startswith(prefix + "/"), path
        rest = path[len(prefix) :]
        if request.method == "POST":
            assert request.headers["Content-Type"] == "application/json;charset=utf-8"
            body = json.loads(request.content)
            assert isinstance(body["cname"], str) and body["cname"]
            assert re.fullmatch(r"[1-9]\d{0,9}", body["uid"]) and int(body["uid"]) < 2**32
            assert isinstance(body["clientRequest"], dict)
        else:
            assert request.method == "GET" and not request.content
            body = {}
        if rest == "/acquire":
            return self._acquire(body)
        match = re.fullmatch(r"/resourceid/([^/]+)/mode/(individual|mix|web)/start", rest)
        if match:
            return self._start(match[1], match[2], body)
        match = re.fullmatch(r"/resourceid/([^/]+)/sid/([^/]+)/mode/(individual|mix|web)/(\w+)", rest)
        assert match, f"no such route: {request.method} {path}"
        resource_id, sid, mode, verb = match.groups()
        recording = self.recordings.get(sid)
        if recording is None or recording["resource_id"] != resource_id:
            return httpx.Response(404, json={"code": 404, "reason": "failed to find worker"})
        assert mode == recording["mode"], "the mode must stay the one of start"
        if verb != "query":
            assert (body["cname"], body["uid"]) == (recording["cname"], recording["uid"])
        handler = {"query": self._query, "update": self._update, "updateLayout": self._update_layout,
                   "stop": self._stop}[verb]  # fmt: skip
        assert request.method == ("GET" if verb == "query" else "POST")
        return handler(sid, recording, body)

    @staticmethod
    def _assert_authenticated(request: httpx.Request) -> None:
        expected = base64.b64encode(
            f"{CONFIG.secrets['customer_id']}:{CONFIG.secrets['customer_secret']}".encode()
        ).decode()
        assert request.headers["Authorization"] == f"Basic {expected}", "HTTP Basic auth (RFC 7617)"

    def _acquire(self, body: dict) -> httpx.Response:
        client_request = body["clientRequest"]
        assert client_request["scene"] in (0, 1)
        assert 1 <= client_request["resourceExpiredHour"] <= 720
        resource_id = f"{fixture(KEY, 'acquire')['resourceId']}-{next(self._ids)}"
        self.resources[resource_id] = {"cname": body["cname"], "uid": body["uid"],
                                       "scene": client_request["scene"], "used": False}  # fmt: skip
        return httpx.Response(200, json={"resourceId": resource_id})

    def _start(self, resource_id: str, mode: str, body: dict) -> httpx.Response:
        resource = self.resources.get(resource_id)
        if resource is None:
            return httpx.Response(400, json={"code": 1001, "reason": "failed to resolve resource id"})
        if (resource["cname"], resource["uid"]) != (body["cname"], body["uid"]):
            return httpx.Response(400, json={"code": 432, "reason": "parameter mismatch"})
        if resource["used"]:
            return httpx.Response(400, json={"code": 7, "reason": "recording is already running"})
        assert resource["scene"] == (1 if mode == "web" else 0), "web pages need acquire scene 1"
        self._assert_start_body(mode, body["clientRequest"])
        if any(r["cname"] == body["cname"] and r["uid"] == body["uid"] and r["status"] < 6
               for r in self.recordings.values()):  # fmt: skip
            return httpx.Response(400, json={"code": 53, "reason": "recording is already running"})
        resource["used"] = True
        self.started_count += 1
        sid = f"{fixture(KEY, 'start')['sid'][:-4]}{self.started_count:04d}"
        self.recordings[sid] = {"resource_id": resource_id, "mode": mode, "cname": body["cname"],
                                "uid": body["uid"], "status": 5, "onhold": False, "after_stop": 0}  # fmt: skip
        answer = dict(
            fixture(KEY, "start"), cname=body["cname"], uid=body["uid"], resourceId=resource_id, sid=sid
        )
        return httpx.Response(200, json=answer)

    @staticmethod
    def _assert_start_body(mode: str, client_request: dict) -> None:
        storage = client_request["storageConfig"]
        assert storage["vendor"] == 1 and storage["region"] == 0, "S3 us-east-1 is vendor 1, region 0"
        assert storage["bucket"] == STORAGE.bucket and storage["accessKey"] == STORAGE.access_key
        assert storage["secretKey"] == STORAGE.secret
        assert storage["fileNamePrefix"] == ["classes", "room-7"]
        assert all(re.fullmatch(r"[A-Za-z0-9]+", part.replace("-", "")) for part in storage["fileNamePrefix"])
        file_types = client_request["recordingFileConfig"]["avFileType"]
        assert "hls" in file_types and set(file_types) <= {"hls", "mp4"}
        if mode == "web":
            assert "recordingConfig" not in client_request
            config = client_request["extensionServiceConfig"]
            [service] = config["extensionServices"]
            assert service["serviceName"] == "web_recorder_service"
            param = service["serviceParam"]
            assert param["url"].startswith("https://")
            assert {"audioProfile", "videoWidth", "videoHeight", "maxRecordingHour"} <= set(param)
            assert param["videoWidth"] * param["videoHeight"] <= 1920 * 1080
            assert 1 <= param["maxRecordingHour"] <= 720
            assert 30 <= param.get("maxVideoDuration", 120) <= 240
            return
        recording = client_request["recordingConfig"]
        assert recording["channelType"] in (0, 1) and recording["streamTypes"] in (0, 1, 2)
        assert 5 <= recording["maxIdleTime"] <= 259200
        if mode == "mix":
            transcoding = recording["transcodingConfig"]
            assert {"width", "height", "fps", "bitrate", "mixedVideoLayout"} <= set(transcoding)
            assert transcoding["mixedVideoLayout"] in (0, 1, 2, 3)
        else:
            assert "transcodingConfig" not in recording

    def _query(self, sid: str, recording: dict, body: dict) -> httpx.Response:
        answer = copy.deepcopy(fixture(KEY, self.QUERY_FIXTURES[recording["mode"]]))
        answer.update(
            resourceId=recording["resource_id"], sid=sid, cname=recording["cname"], uid=recording["uid"]
        )
        server = answer["serverResponse"]
        if recording["status"] >= 6:
            # Right after stop every component has stopped (7); by the next look the service exited (8).
            recording["after_stop"] += 1
            server["status"] = 7 if recording["after_stop"] == 1 else 8
        for service in server.get("extensionServiceState", []):
            service["payload"]["onhold"] = recording["onhold"]
        return httpx.Response(200, json=answer)

    def _update(self, sid: str, recording: dict, body: dict) -> httpx.Response:
        assert recording["mode"] == "web", "only web page recordings pause"
        onhold = body["clientRequest"]["webRecordingConfig"]["onhold"]
        assert isinstance(onhold, bool)
        recording["onhold"] = onhold
        return httpx.Response(
            200, json=dict(fixture(KEY, "update"), resourceId=recording["resource_id"], sid=sid)
        )

    def _update_layout(self, sid: str, recording: dict, body: dict) -> httpx.Response:
        assert recording["mode"] == "mix"
        if body["clientRequest"].get("mixedVideoLayout") not in (0, 1, 2, 3):
            return httpx.Response(400, json={"code": 1028, "reason": "updateLayout body error"})
        return httpx.Response(
            200, json=dict(fixture(KEY, "update"), resourceId=recording["resource_id"], sid=sid)
        )

    def _stop(self, sid: str, recording: dict, body: dict) -> httpx.Response:
        if recording["status"] >= 6:
            return httpx.Response(400, json={"code": 49, "reason": "repeated stop"})
        recording["status"] = 6
        answer = dict(fixture(KEY, "stop"), resourceId=recording["resource_id"], sid=sid,
                      cname=recording["cname"], uid=recording["uid"])  # fmt: skip
        return httpx.Response(200, json=answer)


# ---------------------------------------------------------------- callbacks


def _ms(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, tz=UTC)


def sign(body: bytes, secret: str) -> dict[str, str]:
    return {
        "agora-signature-v2": hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(),
        "agora-signature": hmac.new(secret.encode(), body, hashlib.sha1).hexdigest(),
    }


def _body(notice: dict) -> bytes:
    return json.dumps(notice, separators=(",", ":")).encode()


class AgoraCallbacks(CallbackCases):
    """NCS signs the raw body (HMAC-SHA256 in Agora-Signature-V2, HMAC-SHA1 in Agora-Signature);
    freshness is read from notifyMs inside the body, which a retry updates."""

    expected_ack = Ack(status=200, body=b'{"code":0}', content_type="application/json")

    def __init__(self) -> None:
        secret = CONFIG.secrets["ncs_secret"]
        sid = "38f8e3cfdc474cd56fc1ceba380d7e1a"

        def sample(
            name: str, expected: tuple[ExpectedEvent, ...], *, v1_only: bool = False
        ) -> CallbackSample:
            notice = fixture(KEY, f"ncs_{name}")
            body = _body(notice)
            headers = sign(body, secret)
            if v1_only:
                del headers["agora-signature-v2"]
            return CallbackSample(name=name, body=body, headers=headers,
                                  now=_ms(notice["notifyMs"]) + timedelta(seconds=2), expected=expected)  # fmt: skip

        self.samples = (
            sample("recorder_started", (ExpectedEvent(EventKind.STARTED, sid, _ms(1611566412669), State.RECORDING),)),
            sample(
                "recorder_leave",
                (ExpectedEvent(EventKind.STOPPED, sid, _ms(1611566512675), State.PROCESSING, FinishReason.USER_CALL),),
            ),
            # An app whose NCS sends only the older header still verifies.
            sample("uploaded", (ExpectedEvent(EventKind.SEGMENTS, sid, _ms(1611566532896), segment_count=2),),
                   v1_only=True),
            sample(
                "web_recorder_stopped",
                (ExpectedEvent(EventKind.STOPPED, sid, _ms(1623404983011), State.PROCESSING,
                               FinishReason.MAX_DURATION, segment_count=2),),
            ),
            sample("session_exit", (ExpectedEvent(EventKind.FINISHED, sid, _ms(1611566533905), State.FINISHED),)),
        )  # fmt: skip

    def tampered(self, sample: CallbackSample) -> CallbackSample:
        notice = json.loads(sample.body)
        notice["payload"]["sid"] = "0" * 32
        return CallbackSample(sample.name, _body(notice), sample.headers, sample.query, sample.now)

    def wrong_key(self, sample: CallbackSample) -> CallbackSample:
        headers = sign(sample.body, "not-the-ncs-secret")
        headers = {k: v for k, v in headers.items() if k in sample.headers}
        return CallbackSample(sample.name, sample.body, headers, sample.query, sample.now)

    def expired(self, sample: CallbackSample) -> CallbackSample:
        return CallbackSample(
            sample.name, sample.body, sample.headers, sample.query, sample.now + timedelta(hours=1)
        )

    def unsigned(self, sample: CallbackSample) -> CallbackSample:
        headers = {k: v for k, v in sample.headers.items() if not k.startswith("agora-signature")}
        return CallbackSample(sample.name, sample.body, headers, sample.query, sample.now)

    def redelivered(self, sample: CallbackSample) -> CallbackSample:
        # A retry resends the notice with a new notifyMs, signed again.
        notice = json.loads(sample.body)
        notice["notifyMs"] += 30_000
        body = _body(notice)
        headers = sign(body, CONFIG.secrets["ncs_secret"])
        headers = {k: v for k, v in headers.items() if k in sample.headers}
        return CallbackSample(sample.name, body, headers, sample.query, sample.now + timedelta(seconds=30))


CALLBACKS = AgoraCallbacks()
