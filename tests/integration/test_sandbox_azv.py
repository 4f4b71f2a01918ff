"""The running sandbox, driven over HTTP like Agora, ZEGO and Volcengine (the last through its official SDK)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import secrets
import time
from datetime import UTC, datetime, timedelta

import av
import httpx
import pytest
from volcengine.ApiInfo import ApiInfo
from volcengine.auth.SignerV4 import SignerV4
from volcengine.auth.SignParam import SignParam
from volcengine.base.Service import Service
from volcengine.Credentials import Credentials
from volcengine.ServiceInfo import ServiceInfo

pytestmark = pytest.mark.integration

ONE_PUBLISHER = [{"user_id": "1001", "kind": "camera", "intervals": [[0, None]]}]
TWO_PUBLISHERS = [
    {"user_id": "1001", "kind": "camera", "intervals": [[0, None]]},
    {"user_id": "1002", "kind": "camera", "intervals": [[0, None]]},
    {"kind": "whiteboard", "intervals": [[0, None]]},
]


def media_duration_ms(content: bytes) -> int:
    with av.open(io.BytesIO(content)) as container:
        return round(container.duration / 1000)


def assert_playable(url: str, duration_ms: int) -> None:
    """The file exists, plays for `duration_ms`, and the server honours byte ranges."""
    whole = httpx.get(url)
    assert whole.status_code == 200
    if url.endswith(".m3u8"):
        playlist = whole.text
        assert playlist.startswith("#EXTM3U")
        listed = sum(
            float(line.split(":", 1)[1].rstrip(","))
            for line in playlist.splitlines()
            if line.startswith("#EXTINF")
        )
        assert abs(listed * 1000 - duration_ms) <= 100
        first_part = next(line for line in playlist.splitlines() if line and not line.startswith("#"))
        part_url = url.rsplit("/", 1)[0] + "/" + first_part
        ranged = httpx.get(part_url, headers={"Range": "bytes=0-187"})
    else:
        assert abs(media_duration_ms(whole.content) - duration_ms) <= 100
        ranged = httpx.get(url, headers={"Range": "bytes=0-99"})
    assert ranged.status_code == 206
    assert ranged.headers["Content-Range"].startswith("bytes 0-")


# =============================================================================================
# Agora
# =============================================================================================
AGORA_APP = "agoraappsandbox0000000000000001"
AGORA_SECRETS = {"customer_id": "cust-id-1", "customer_secret": "cust-secret-1", "ncs_secret": "ncs-secret-1"}
STORAGE = {
    "vendor": 1,
    "region": 0,
    "bucket": "b",
    "accessKey": "ak",
    "secretKey": "sk",
    "fileNamePrefix": ["rec"],
}


class Agora:
    def __init__(
        self, sandbox, auth=(AGORA_SECRETS["customer_id"], AGORA_SECRETS["customer_secret"])
    ) -> None:
        self.sandbox = sandbox
        self.base = f"{sandbox.base_url('agora')}/v1/apps/{AGORA_APP}/cloud_recording"
        self.client = httpx.Client(auth=auth, timeout=30)

    def acquire(self, cname: str, uid: str = "527841", scene: int = 0) -> httpx.Response:
        return self.client.post(
            f"{self.base}/acquire", json={"cname": cname, "uid": uid, "clientRequest": {"scene": scene}}
        )

    def start(
        self, rid: str, mode: str, cname: str, client_request: dict, uid: str = "527841"
    ) -> httpx.Response:
        return self.client.post(
            f"{self.base}/resourceid/{rid}/mode/{mode}/start",
            json={"cname": cname, "uid": uid, "clientRequest": client_request},
        )

    def call(
        self, method: str, rid: str, sid: str, mode: str, action: str, body: dict | None = None
    ) -> httpx.Response:
        url = f"{self.base}/resourceid/{rid}/sid/{sid}/mode/{mode}/{action}"
        return self.client.get(url) if method == "GET" else self.client.post(url, json=body or {})

    def begin(self, mode: str, cname: str, client_request: dict, uid: str = "527841") -> tuple[str, str]:
        acquired = self.acquire(cname, uid, scene=1 if mode == "web" else 0)
        assert acquired.status_code == 200, acquired.text
        rid = acquired.json()["resourceId"]
        started = self.start(rid, mode, cname, client_request, uid)
        assert started.status_code == 200, started.text
        assert started.json()["resourceId"] == rid
        return rid, started.json()["sid"]


def web_request(**param) -> dict:
    return {
        "extensionServiceConfig": {
            "errorHandlePolicy": "error_abort",
            "extensionServices": [
                {
                    "serviceName": "web_recorder_service",
                    "errorHandlePolicy": "error_abort",
                    "serviceParam": {
                        "url": "https://class.example/room/1",
                        "audioProfile": 0,
                        "videoWidth": 1280,
                        "videoHeight": 720,
                        "maxRecordingHour": 1,
                        **param,
                    },
                }
            ],
        },
        "recordingFileConfig": {"avFileType": ["hls", "mp4"]},
        "storageConfig": STORAGE,
    }


def rtc_request(**extra) -> dict:
    return {
        "recordingConfig": {"channelType": 1, "streamTypes": 2, "maxIdleTime": 30},
        "storageConfig": STORAGE,
        **extra,
    }


def ncs_valid(delivery: dict) -> bool:
    key = AGORA_SECRETS["ncs_secret"].encode()
    headers = {k.lower(): v for k, v in delivery["headers"].items()}
    v2 = hmac.new(key, delivery["body"], hashlib.sha256).hexdigest()
    v1 = hmac.new(key, delivery["body"], hashlib.sha1).hexdigest()
    return headers.get("agora-signature-v2") == v2 and headers.get("agora-signature") == v1


def test_agora_web_page_start_onhold_resume_stop_with_files_and_signed_ncs(sandbox_fresh, callback_sink):
    sandbox = sandbox_fresh
    sandbox.provision("agora", AGORA_APP, AGORA_SECRETS, callback_sink.url)
    agora = Agora(sandbox)
    rid, sid = agora.begin("web", "webclass1", web_request())
    query = lambda: agora.call("GET", rid, sid, "web", "query")  # noqa: E731

    # The page takes ~5 s to come up (seed 003).
    first = query().json()["serverResponse"]
    assert first["status"] == 2
    assert first["extensionServiceState"][0]["payload"]["state"] == "init"
    sandbox.advance(5_000)
    running = query().json()["serverResponse"]
    assert running["status"] == 5
    assert running["extensionServiceState"][0]["serviceName"] == "web_recorder_service"
    assert running["extensionServiceState"][0]["payload"]["onhold"] is False
    sandbox.advance(8_000)

    paused = agora.call(
        "POST",
        rid,
        sid,
        "web",
        "update",
        {"cname": "webclass1", "uid": "527841", "clientRequest": {"webRecordingConfig": {"onhold": True}}},
    )
    assert paused.status_code == 200 and paused.json() == {"resourceId": rid, "sid": sid}
    assert query().json()["serverResponse"]["extensionServiceState"][0]["payload"]["onhold"] is True
    sandbox.advance(4_000)
    agora.call(
        "POST",
        rid,
        sid,
        "web",
        "update",
        {"cname": "webclass1", "uid": "527841", "clientRequest": {"webRecordingConfig": {"onhold": False}}},
    )
    sandbox.advance(6_000)

    stopped = agora.call(
        "POST", rid, sid, "web", "stop", {"cname": "webclass1", "uid": "527841", "clientRequest": {}}
    )
    assert stopped.status_code == 200, stopped.text
    state = stopped.json()["serverResponse"]["extensionServiceState"][0]
    assert state["serviceName"] == "web_recorder_service"
    files = state["payload"]["fileList"]
    # Two recording stretches (8 s, then 6 s after the hold), each as an HLS playlist and an MP4.
    assert sorted(f["filename"].rsplit(".", 1)[1] for f in files) == ["m3u8", "m3u8", "mp4", "mp4"]
    assert state["payload"]["uploadingStatus"] in ("uploaded", "unknown")
    again = agora.call(
        "POST", rid, sid, "web", "stop", {"cname": "webclass1", "uid": "527841", "clientRequest": {}}
    )
    assert again.status_code == 400 and again.json()["code"] == 49

    sandbox.advance(5_000)
    # "If the recording has already ended, query returns 404."
    gone = query()
    assert gone.status_code == 404 and gone.json()["code"] == 404

    # fileName is the object key in the storageConfig's bucket, under its fileNamePrefix.
    assert all(f["filename"].startswith("rec/") for f in files)
    media = f"http://127.0.0.1:{sandbox.base_port}/media/{STORAGE['bucket']}/"
    starts = sorted({f["sliceStartTime"] for f in files})
    assert len(starts) == 2 and starts[1] - starts[0] == 12_000  # 8 s recorded, 4 s on hold
    durations = {starts[0]: 8_000, starts[1]: 6_000}
    for entry in files:
        assert_playable(media + entry["filename"], durations[entry["sliceStartTime"]])

    events = [d["json"] for d in callback_sink.received]
    assert [e["eventType"] for e in events] == [70, 71, 31, 11]
    assert all(ncs_valid(d) for d in callback_sink.received)
    assert [e["payload"]["sequence"] for e in events] == [0, 1, 2, 3]
    assert {e["productId"] for e in events} == {3}
    assert events[2]["payload"]["details"]["msgName"] == "uploaded"
    assert {f["fileName"] for f in events[2]["payload"]["details"]["fileList"]} == {
        f["filename"] for f in files
    }
    assert events[0]["payload"]["sid"] == sid and events[0]["payload"]["cname"] == "webclass1"


def test_agora_mix_and_individual_files_and_refused_moves(sandbox_fresh):
    sandbox = sandbox_fresh
    sandbox.provision("agora", AGORA_APP, AGORA_SECRETS)
    sandbox.room("agora", AGORA_APP, "mixroom", TWO_PUBLISHERS)
    sandbox.room("agora", AGORA_APP, "soloroom", TWO_PUBLISHERS)
    agora = Agora(sandbox)
    mix_rid, mix_sid = agora.begin("mix", "mixroom", rtc_request())
    solo_rid, solo_sid = agora.begin("individual", "soloroom", rtc_request(), uid="42")

    layout = agora.call(
        "POST",
        mix_rid,
        mix_sid,
        "mix",
        "updateLayout",
        {"cname": "mixroom", "uid": "527841", "clientRequest": {"mixedVideoLayout": 1}},
    )
    assert layout.status_code == 200
    # No pause outside web mode, and no layout outside mix mode: Agora refuses with code 2.
    hold = agora.call(
        "POST",
        solo_rid,
        solo_sid,
        "individual",
        "update",
        {"cname": "soloroom", "uid": "42", "clientRequest": {"webRecordingConfig": {"onhold": True}}},
    )
    assert hold.status_code == 400 and hold.json()["code"] == 2
    assert (
        agora.call(
            "POST",
            solo_rid,
            solo_sid,
            "individual",
            "updateLayout",
            {"clientRequest": {"mixedVideoLayout": 1}},
        ).json()["code"]
        == 2
    )
    sandbox.advance(6_000)

    mix_query = agora.call("GET", mix_rid, mix_sid, "mix", "query").json()["serverResponse"]
    assert mix_query["status"] == 5
    assert mix_query["fileListMode"] == "string"  # mix writing HLS alone
    assert mix_query["fileList"].endswith(".m3u8")
    solo_query = agora.call("GET", solo_rid, solo_sid, "individual", "query").json()["serverResponse"]
    assert solo_query["fileListMode"] == "json"
    assert sorted(f["uid"] for f in solo_query["fileList"]) == [
        "1001",
        "1002",
    ]  # the whiteboard is no RTC stream

    mix_stop = agora.call("POST", mix_rid, mix_sid, "mix", "stop", {"clientRequest": {}}).json()
    solo_stop = agora.call("POST", solo_rid, solo_sid, "individual", "stop", {"clientRequest": {}}).json()
    assert mix_stop["serverResponse"]["fileListMode"] == "string"
    sandbox.advance(5_000)
    media = f"http://127.0.0.1:{sandbox.base_port}/media/{STORAGE['bucket']}/"
    assert mix_stop["serverResponse"]["fileList"].startswith("rec/")
    assert_playable(media + mix_stop["serverResponse"]["fileList"], 6_000)
    # Another bucket does not hold the recorder's objects.
    other = httpx.get(
        f"http://127.0.0.1:{sandbox.base_port}/media/other/" + mix_stop["serverResponse"]["fileList"]
    )
    assert other.status_code == 404
    for entry in solo_stop["serverResponse"]["fileList"]:
        assert entry["mixedAllUser"] is False and entry["trackType"] == "audio_and_video"
        assert_playable(media + entry["fileName"], 6_000)


def test_agora_auth_and_error_codes(sandbox_fresh):
    sandbox = sandbox_fresh
    sandbox.provision("agora", AGORA_APP, AGORA_SECRETS)
    agora = Agora(sandbox)

    wrong = Agora(sandbox, auth=(AGORA_SECRETS["customer_id"], "not-the-secret"))
    refused = wrong.acquire("c1")
    assert refused.status_code == 401 and "message" in refused.json()
    missing = httpx.post(f"{agora.base}/acquire", json={"cname": "c1", "uid": "1", "clientRequest": {}})
    assert missing.status_code == 401
    assert agora.client.get(f"{agora.base}/acquire").status_code == 404  # wrong method: no route

    assert agora.start("not-a-resource", "mix", "c1", rtc_request()).json()["code"] == 1001
    rid, sid = agora.begin("mix", "c1", rtc_request())
    repeat = agora.start(rid, "mix", "c1", rtc_request())
    assert repeat.status_code == 400 and repeat.json()["code"] == 7
    other_rid = agora.acquire("c1").json()["resourceId"]
    assert agora.start(other_rid, "mix", "c1", rtc_request()).json()["code"] == 53
    assert agora.start(agora.acquire("c2").json()["resourceId"], "mix", "c2", {}).json()["code"] == 2
    mismatch = agora.start(agora.acquire("c3").json()["resourceId"], "mix", "c3-other", rtc_request())
    assert mismatch.json()["code"] == 432
    late = agora.acquire("c4").json()["resourceId"]
    sandbox.advance(301_000)
    assert agora.start(late, "mix", "c4", rtc_request()).json()["code"] == 433
    assert agora.call("GET", rid, "0" * 32, "mix", "query").status_code == 404
    assert agora.call("POST", "nope", sid, "mix", "stop").status_code == 404

    sandbox.faults(vendor="agora", no_file=True)
    rid2, sid2 = agora.begin("mix", "c5", rtc_request())
    sandbox.advance(3_000)
    no_file = agora.call("POST", rid2, sid2, "mix", "stop", {"clientRequest": {}})
    assert no_file.status_code == 400 and no_file.json()["code"] == 435


def test_agora_idle_auto_stop_is_reported_then_the_session_is_gone(sandbox_fresh, callback_sink):
    sandbox = sandbox_fresh
    sandbox.provision("agora", AGORA_APP, AGORA_SECRETS, callback_sink.url)
    sandbox.room(
        "agora", AGORA_APP, "idleroom", [{"user_id": "7", "kind": "camera", "intervals": [[0, 4_000]]}]
    )
    agora = Agora(sandbox)
    rid, sid = agora.begin("mix", "idleroom", rtc_request())
    sandbox.advance(4_000 + 30_000)  # maxIdleTime 30 s after the last publisher left
    assert agora.call("GET", rid, sid, "mix", "query").json()["serverResponse"]["status"] == 7
    sandbox.advance(5_000)
    assert agora.call("GET", rid, sid, "mix", "query").status_code == 404
    events = [d["json"]["eventType"] for d in callback_sink.received]
    assert events == [40, 41, 31, 11]


def test_agora_ncs_is_retried_with_a_fresh_notify_ms_and_signature(sandbox_fresh, callback_sink):
    sandbox = sandbox_fresh
    sandbox.provision("agora", AGORA_APP, AGORA_SECRETS, callback_sink.url)
    callback_sink.replies = [(500, b"{}"), (503, b"{}")]
    agora = Agora(sandbox)
    agora.begin("mix", "retryroom", rtc_request())
    sandbox.advance(1_000)
    sandbox.advance(2_000)
    attempts = [d for d in callback_sink.received if d["json"]["eventType"] == 40]
    assert len(attempts) == 3
    assert len({a["json"]["noticeId"] for a in attempts}) == 1
    assert len({a["json"]["notifyMs"] for a in attempts}) == 3
    assert all(ncs_valid(a) for a in attempts)


# =============================================================================================
# ZEGO
# =============================================================================================
ZEGO_APP = "1234567890"
ZEGO_SECRET = "9193cc662a4c0ec135ec71fb57194b38"
ZEGO_CALLBACK_SECRET = "zego-callback-secret"


def zego(
    sandbox, action: str, body: dict, *, secret: str = ZEGO_SECRET, timestamp: int | None = None
) -> dict:
    nonce = secrets.token_hex(8)
    timestamp = int(time.time()) if timestamp is None else timestamp
    signature = hashlib.md5(f"{ZEGO_APP}{nonce}{secret}{timestamp}".encode()).hexdigest()
    params = {
        "Action": action,
        "AppId": ZEGO_APP,
        "SignatureNonce": nonce,
        "Timestamp": timestamp,
        "Signature": signature,
        "SignatureVersion": "2.0",
    }
    response = httpx.post(sandbox.base_url("zego") + "/", params=params, json=body, timeout=30)
    assert response.status_code == 200
    return response.json()


def zego_start(sandbox, room: str, mode: int = 2) -> str:
    inputs: dict = {"RecordMode": mode, "StreamType": 3, "MaxIdleTime": 60}
    if mode == 2:
        inputs["MixConfig"] = {"MixMode": 2, "MixOutputStreamId": f"mix_{room}"}
    answer = zego(
        sandbox,
        "StartRecord",
        {
            "RoomId": room,
            "RecordInputParams": inputs,
            "RecordOutputParams": {"OutputFileFormat": "mp4"},
            "StorageParams": {
                "Vendor": 2,
                "Region": "oss-cn-shanghai",
                "Bucket": "b",
                "AccessKeyId": "a",
                "AccessKeySecret": "s",
            },
        },
    )
    assert answer["Code"] == 0, answer
    assert len(answer["Data"]["TaskId"]) == 16
    return answer["Data"]["TaskId"]


def zego_signed(delivery: dict) -> bool:
    body = delivery["json"]
    expected = hashlib.sha1(
        "".join(sorted([ZEGO_CALLBACK_SECRET, body["timestamp"], body["nonce"]])).encode()
    ).hexdigest()
    return body["signature"] == expected


def test_zego_mixed_start_pause_resume_stop_describe_with_files_and_callbacks(sandbox_fresh, callback_sink):
    sandbox = sandbox_fresh
    sandbox.provision(
        "zego",
        ZEGO_APP,
        {"server_secret": ZEGO_SECRET, "callback_secret": ZEGO_CALLBACK_SECRET},
        callback_sink.url,
    )
    sandbox.room("zego", ZEGO_APP, "zroom", TWO_PUBLISHERS)
    task_id = zego_start(sandbox, "zroom")
    describe = lambda: zego(sandbox, "DescribeRecordStatus", {"TaskId": task_id})  # noqa: E731
    answer = describe()
    assert set(answer) == {"Code", "Message", "RequestId", "Data"}
    assert answer["Data"]["Status"] == 2
    sandbox.advance(7_000)

    assert zego(sandbox, "PauseRecord", {"TaskId": task_id})["Code"] == 0
    assert describe()["Data"]["Status"] == 5
    sandbox.advance(3_000)
    assert zego(sandbox, "ResumeRecord", {"TaskId": task_id})["Code"] == 0
    assert zego(sandbox, "ResumeRecord", {"TaskId": task_id})["Code"] == 300001004
    assert zego(sandbox, "UpdateLayout", {"TaskId": task_id, "MixMode": 3})["Code"] == 0
    sandbox.advance(5_000)
    assert zego(sandbox, "StopRecord", {"TaskId": task_id})["Code"] == 0
    assert zego(sandbox, "StopRecord", {"TaskId": task_id})["Code"] == 300001001
    assert zego(sandbox, "PauseRecord", {"TaskId": task_id})["Code"] == 300001001
    sandbox.advance(5_000)

    data = describe()["Data"]
    assert data["Status"] == 3
    files = data["RecordFiles"]
    assert [(f["StreamId"], f["Duration"], f["Status"], f["OutputFileFormat"]) for f in files] == [
        ("mix_zroom", 7_000, 3, "mp4"),
        ("mix_zroom", 5_000, 3, "mp4"),
    ]
    assert files[1]["BeginTimestamp"] - files[0]["BeginTimestamp"] == 10_000
    for record_file in files:
        assert record_file["FileSize"] > 0
        # ZEGO uploads into the StorageParams bucket; FileUrl is the object's address there.
        assert "/media/b/" in record_file["FileUrl"]
        assert_playable(record_file["FileUrl"], record_file["Duration"])

    listed = zego(sandbox, "DescribeTasks", {"Status": 3, "RoomId": "zroom", "PageOffset": 0, "PageSize": 10})
    assert [t["TaskId"] for t in listed["Data"]["TaskList"]] == [task_id]

    deliveries = callback_sink.received
    assert [d["json"]["event_type"] for d in deliveries] == [201, 202, 7, 1, 5]
    assert all(zego_signed(d) for d in deliveries)
    upload = deliveries[3]["json"]
    assert upload["task_id"] == task_id and upload["room_id"] == "zroom"
    assert [f["duration"] for f in upload["detail"]["file_info"]] == [7_000, 5_000]
    assert upload["detail"]["upload_status"] == 1


def test_zego_auth_failures_and_illegal_moves(sandbox_fresh):
    sandbox = sandbox_fresh
    sandbox.provision(
        "zego", ZEGO_APP, {"server_secret": ZEGO_SECRET, "callback_secret": ZEGO_CALLBACK_SECRET}
    )
    assert zego(sandbox, "DescribeRecordStatus", {"TaskId": "x" * 16}, secret="wrong")["Code"] == 100000005
    stale = int(time.time()) - 11 * 60
    assert zego(sandbox, "DescribeRecordStatus", {"TaskId": "x" * 16}, timestamp=stale)["Code"] == 100000004
    assert zego(sandbox, "DescribeRecordStatus", {"TaskId": "x" * 16})["Code"] == 300001000
    single = zego_start(sandbox, "zsingle", mode=1)
    # "Only stream mixing recording tasks can be paused."
    assert zego(sandbox, "PauseRecord", {"TaskId": single})["Code"] == 300000004
    assert zego(sandbox, "ResumeRecord", {"TaskId": single})["Code"] == 300001004
    assert zego(sandbox, "StartRecord", {"RoomId": "r"})["Code"] == 300000004


def test_zego_callback_retries_twice_five_seconds_apart(sandbox_fresh, callback_sink):
    sandbox = sandbox_fresh
    sandbox.provision(
        "zego",
        ZEGO_APP,
        {"server_secret": ZEGO_SECRET, "callback_secret": ZEGO_CALLBACK_SECRET},
        callback_sink.url,
    )
    callback_sink.default_reply = (500, b"")
    task_id = zego_start(sandbox, "zretry")
    zego(sandbox, "PauseRecord", {"TaskId": task_id})
    sandbox.advance(20_000)
    pauses = [d for d in callback_sink.received if d["json"]["event_type"] == 201]
    assert len(pauses) == 3  # the first delivery and two retries, then dropped
    assert all(zego_signed(d) for d in pauses)
    record = next(c for c in sandbox.truth("zego", task_id)["callbacks"] if c["event"] == "event_201")
    times = [a["at_ms"] for a in record["attempts"]]
    assert [b - a for a, b in zip(times, times[1:], strict=False)] == [5_000, 5_000]
    assert record["status"] == "failed"


# =============================================================================================
# Volcengine (the official `volcengine` SDK signs every call)
# =============================================================================================
VOLC_APP = "600000000000000000000001"
VOLC_AK = "AKLTsandboxVolcengine"
VOLC_SK = "c2FuZGJveC1zZWNyZXQta2V5LWZvci12b2xjZW5naW5l"
VOLC_CALLBACK_SECRET = "volc-callback-secret"


def volc_service(sandbox, sk: str = VOLC_SK, ak: str = VOLC_AK) -> Service:
    info = ServiceInfo(
        sandbox.endpoint("volcengine"),
        {"Accept": "application/json"},
        Credentials(ak, sk, "rtc", "cn-north-1"),
        10,
        10,
        scheme="http",
    )
    api = {
        name: ApiInfo(method, "/", {"Action": name, "Version": version}, {}, {})
        for name, method, version in (
            ("StartWBRecord", "POST", "2020-12-01"),
            ("StopWBRecord", "POST", "2023-11-01"),
            ("StartRecord", "POST", "2023-11-01"),
            ("UpdateRecord", "POST", "2023-11-01"),
            ("StopRecord", "POST", "2023-11-01"),
            ("GetRecordTask", "GET", "2023-11-01"),
        )
    }
    return Service(info, api)


def volc_post(service: Service, action: str, body: dict) -> dict:
    return json.loads(service.json(action, {}, json.dumps(body)))


def volc_error(service: Service, action: str, body: dict) -> dict:
    with pytest.raises(Exception) as caught:  # the SDK raises a bare Exception carrying the body
        volc_post(service, action, body)
    raw = caught.value.args[0]
    return json.loads(raw.decode() if isinstance(raw, bytes) else raw)["ResponseMetadata"]["Error"]


def volc_signed(delivery: dict) -> bool:
    body = delivery["json"]
    names = ("EventType", "EventData", "EventTime", "EventId", "AppId", "Version", "Nonce")
    expected = hashlib.sha256(
        "".join(sorted([*(body[n] for n in names), VOLC_CALLBACK_SECRET])).encode()
    ).hexdigest()
    return body["Signature"] == expected


def provision_volc(sandbox, callback_url: str = "") -> None:
    sandbox.provision(
        "volcengine",
        VOLC_APP,
        {"access_key_id": VOLC_AK, "secret_access_key": VOLC_SK, "callback_secret": VOLC_CALLBACK_SECRET},
        callback_url,
    )


def test_volcengine_sdk_whiteboard_recording_start_stop_get(sandbox_fresh, callback_sink):
    sandbox = sandbox_fresh
    provision_volc(sandbox, callback_sink.url)
    service = volc_service(sandbox)
    body = {"AppId": VOLC_APP, "RoomId": "wbroom", "TaskId": "wb.task-1", "UserId": "wb_recorder"}
    started = volc_post(service, "StartWBRecord", body)
    assert started["Result"] == "ok"
    assert started["ResponseMetadata"]["Action"] == "StartWBRecord"
    assert started["ResponseMetadata"]["Version"] == "2020-12-01"
    assert started["ResponseMetadata"]["Region"] == "cn-north-1"
    sandbox.advance(9_000)
    assert volc_post(service, "StopWBRecord", body)["Result"] == "ok"
    assert volc_error(service, "StopWBRecord", body)["Code"] == "InvalidParameter.ErrorActiveTaskNotFound"
    sandbox.advance(5_000)

    task = json.loads(
        service.get("GetRecordTask", {"AppId": VOLC_APP, "RoomId": "wbroom", "TaskId": "wb.task-1"})
    )
    record = task["Result"]["RecordTask"]
    assert (record["Status"], record["StopReason"]) == (3, "StopByAPI")
    [only] = record["RecordFileList"]
    assert only["Duration"] == 9_000 and only["StartTime"] == record["StartTime"]
    assert_playable(f"http://127.0.0.1:{sandbox.base_port}/media/{only['ObjectKey']}", 9_000)

    events = [d["json"] for d in callback_sink.received]
    assert [e["EventType"] for e in events] == ["RecordStarted", "RecordStopped", "RecordUploadDone"]
    assert all(volc_signed(d) for d in callback_sink.received)
    assert json.loads(events[2]["EventData"])["RecordFileList"][0]["ObjectKey"] == only["ObjectKey"]


def test_volcengine_cloud_recording_lifecycle_and_errors(sandbox_fresh):
    sandbox = sandbox_fresh
    provision_volc(sandbox)
    sandbox.room("volcengine", VOLC_APP, "vroom", TWO_PUBLISHERS)
    service = volc_service(sandbox)
    body = {"AppId": VOLC_APP, "RoomId": "vroom", "TaskId": "rec1", "RecordMode": 1}
    assert volc_post(service, "StartRecord", body)["Result"] == "ok"
    assert volc_post(service, "StartRecord", body)["Result"].startswith("The task has been started")

    def get() -> dict:
        params = {"AppId": VOLC_APP, "RoomId": "vroom", "TaskId": "rec1"}
        return json.loads(service.get("GetRecordTask", params))["Result"]["RecordTask"]

    assert (get()["Status"], get()["EndTime"]) == (2, 0)
    sandbox.advance(4_000)
    assert (
        volc_post(
            service, "UpdateRecord", {"AppId": VOLC_APP, "RoomId": "vroom", "TaskId": "rec1", "Layout": {}}
        )["Result"]
        == "ok"
    )
    assert (
        volc_post(service, "StopRecord", {"AppId": VOLC_APP, "RoomId": "vroom", "TaskId": "rec1"})["Result"]
        == "ok"
    )
    error = volc_error(service, "StopRecord", {"AppId": VOLC_APP, "RoomId": "vroom", "TaskId": "rec1"})
    assert error["Code"] == "InvalidParameter.ErrorActiveTaskNotFound"
    sandbox.advance(5_000)
    record = get()
    assert record["Status"] == 3 and record["EndTime"] > 0
    assert sorted(s["StreamList"][0]["UserId"] for s in record["RecordFileList"]) == ["1001", "1002"]
    for record_file in record["RecordFileList"]:
        assert record_file["Duration"] == 4_000
        assert_playable(f"http://127.0.0.1:{sandbox.base_port}/media/{record_file['ObjectKey']}", 4_000)
    assert (
        volc_error(service, "StopRecord", {"AppId": VOLC_APP, "RoomId": "vroom", "TaskId": "nope"})["Code"]
        == "InvalidParameter.ErrorActiveTaskNotFound"
    )


def test_volcengine_uploads_to_the_storage_config_bucket_or_vod(sandbox_fresh):
    sandbox = sandbox_fresh
    provision_volc(sandbox)
    sandbox.room("volcengine", VOLC_APP, "sroom", TWO_PUBLISHERS)
    service = volc_service(sandbox)
    custom = {
        "Vendor": 0,
        "Region": "us-east-1",
        "Bucket": "recordings",
        "AccessKey": "ak",
        "SecretKey": "sk",
    }
    base = {"AppId": VOLC_APP, "RoomId": "sroom", "RecordMode": 0}
    refused = volc_error(
        service,
        "StartRecord",
        {**base, "TaskId": "s0", "StorageConfig": {"Type": 2, "CustomConfig": {**custom, "Vendor": 10}}},
    )
    assert refused["Code"] == "InvalidParameter"
    started = {
        **base,
        "TaskId": "s1",
        "StorageConfig": {"Type": 2, "CustomConfig": custom},
        "FileNameConfig": {"Prefix": ["classes", "sroom"]},
    }
    assert volc_post(service, "StartRecord", started)["Result"] == "ok"
    vod = {**base, "TaskId": "s2", "StorageConfig": {"Type": 1, "VodConfig": {"Space": "space1"}}}
    assert volc_post(service, "StartRecord", vod)["Result"] == "ok"
    sandbox.advance(4_000)
    for task_id in ("s1", "s2"):
        volc_post(service, "StopRecord", {"AppId": VOLC_APP, "RoomId": "sroom", "TaskId": task_id})
    sandbox.advance(5_000)

    def files(task_id: str) -> list[dict]:
        params = {"AppId": VOLC_APP, "RoomId": "sroom", "TaskId": task_id}
        return json.loads(service.get("GetRecordTask", params))["Result"]["RecordTask"]["RecordFileList"]

    [in_bucket] = files("s1")
    assert in_bucket["Vid"] == "" and in_bucket["ObjectKey"].startswith("classes/sroom/")
    media = f"http://127.0.0.1:{sandbox.base_port}/media/"
    assert_playable(media + "recordings/" + in_bucket["ObjectKey"], 4_000)
    assert httpx.get(media + "elsewhere/" + in_bucket["ObjectKey"]).status_code == 404
    [in_vod] = files("s2")
    assert in_vod["Vid"] and in_vod["ObjectKey"] == ""


def test_volcengine_signature_failures_in_the_response_metadata_envelope(sandbox_fresh):
    sandbox = sandbox_fresh
    provision_volc(sandbox)
    body = {"AppId": VOLC_APP, "RoomId": "r", "TaskId": "t", "UserId": "u"}
    wrong_key = volc_error(volc_service(sandbox, sk="not-the-key"), "StartWBRecord", body)
    assert (wrong_key["Code"], wrong_key["CodeN"]) == ("SignatureDoesNotMatch", 100010)
    unknown = volc_error(volc_service(sandbox, ak="AKLTnobody"), "StartWBRecord", body)
    assert (unknown["Code"], unknown["CodeN"]) == ("InvalidAccessKey", 100009)

    # sign_only with a date 20 minutes old: the same bytes, refused as expired with HTTP 400.
    host = sandbox.endpoint("volcengine")
    raw = json.dumps(body)
    param = SignParam()
    param.set_method("POST")
    param.set_host(host)
    param.set_path("/")
    param.set_query({"Action": "StartWBRecord", "Version": "2023-11-01"})
    param.set_body(raw)
    headers = {"Host": host, "Content-Type": "application/json"}
    param.set_header_list(headers)
    for age, expected_status in ((timedelta(minutes=20), 400), (timedelta(0), 200)):
        param.set_date(datetime.now(UTC).replace(tzinfo=None) - age)
        signed = SignerV4.sign_only(param, Credentials(VOLC_AK, VOLC_SK, "rtc", "cn-north-1"))
        response = httpx.post(
            f"http://{host}/",
            params={"Action": "StartWBRecord", "Version": "2023-11-01"},
            content=raw.encode(),
            headers={
                **headers,
                "X-Date": signed.xdate,
                "X-Content-Sha256": signed.xContextSha256,
                "Authorization": signed.authorization,
            },
        )
        assert response.status_code == expected_status, response.text
        if expected_status == 400:
            assert response.json()["ResponseMetadata"]["Error"]["Code"] == "InvalidTimestamp"
            assert "Result" not in response.json()


def test_agora_basic_auth_header_shape_is_plain_rfc7617(sandbox_fresh):
    """A hand-built header (no httpx auth helper) is accepted: the gateway reads plain RFC 7617."""
    sandbox = sandbox_fresh
    sandbox.provision("agora", AGORA_APP, AGORA_SECRETS)
    token = base64.b64encode(
        f"{AGORA_SECRETS['customer_id']}:{AGORA_SECRETS['customer_secret']}".encode()
    ).decode()
    response = httpx.post(
        f"{sandbox.base_url('agora')}/v1/apps/{AGORA_APP}/cloud_recording/acquire",
        json={"cname": "hand", "uid": "9", "clientRequest": {}},
        headers={"Authorization": f"Basic {token}", "Content-Type": "application/json;charset=utf-8"},
    )
    assert response.status_code == 200 and response.json()["resourceId"]


def test_injected_faults_arrive_in_each_vendors_own_envelope(sandbox_fresh):
    sandbox = sandbox_fresh
    sandbox.provision("agora", AGORA_APP, AGORA_SECRETS)
    sandbox.provision(
        "zego", ZEGO_APP, {"server_secret": ZEGO_SECRET, "callback_secret": ZEGO_CALLBACK_SECRET}
    )
    provision_volc(sandbox)
    sandbox.faults(vendor="agora", action="acquire", error_rate=1, error_code="65")
    sandbox.faults(vendor="zego", action="DescribeRecordStatus", error_rate=1)
    sandbox.faults(vendor="volcengine", action="StartWBRecord", error_rate=1)

    agora = Agora(sandbox).acquire("faulty")
    assert agora.status_code == 400 and agora.json()["code"] == 65
    assert zego(sandbox, "DescribeRecordStatus", {"TaskId": "x" * 16})["Code"] == 300010000
    error = volc_error(
        volc_service(sandbox),
        "StartWBRecord",
        {"AppId": VOLC_APP, "RoomId": "r", "TaskId": "t", "UserId": "u"},
    )
    assert (error["Code"], error["CodeN"]) == ("InternalError", 100014)
    # Only the targeted action is hit.
    assert zego(sandbox, "StopRecord", {"TaskId": "x" * 16})["Code"] == 300001000
