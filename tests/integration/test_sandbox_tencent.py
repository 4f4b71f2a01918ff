"""The running sandbox, driven over HTTP like the vendors: TIW through the official SDK, TIC with httpx."""

from __future__ import annotations

import hashlib
import json
import time
import types
import urllib.parse

import av
import httpx
import pytest
import TLSSigAPIv2
from tencentcloud.common import abstract_client, credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.tiw.v20190919 import models, tiw_client

pytestmark = pytest.mark.integration

TIW_APP = "1400000001"
SECRET_ID = "AKIDsandboxEXAMPLE"
SECRET_KEY = "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE"
USERSIG_KEY = "usersig-key-for-the-sandbox-tests"
CALLBACK_KEY = "Xz4ZgayTr7rMgWQrH"
TIC_APP = "1400127115"
TIC_KEY = "9016607A382749C69D4F4B00C61DD083"


def usersig(app_id: str, user_id: str, key: str = USERSIG_KEY) -> str:
    return TLSSigAPIv2.TLSSigAPIv2(int(app_id), key).gen_sig(user_id, 3600)


def tiw(sandbox, secret_key: str = SECRET_KEY) -> tiw_client.TiwClient:
    profile = ClientProfile(
        httpProfile=HttpProfile(protocol="http", endpoint=sandbox.endpoint("tencent_tiw"), reqTimeout=10)
    )
    return tiw_client.TiwClient(credential.Credential(SECRET_ID, secret_key), "ap-guangzhou", profile)


def call(client, action: str, **fields):
    request = getattr(models, f"{action}Request")()
    request._deserialize(fields)
    return json.loads(getattr(client, action)(request).to_json_string())


def tiw_code(client, action: str, **fields) -> str:
    with pytest.raises(TencentCloudSDKException) as caught:
        call(client, action, **fields)
    return caught.value.get_code()


def provision_tiw(sandbox, callback_url: str = "") -> None:
    sandbox.provision(
        "tencent_tiw",
        TIW_APP,
        {
            "secret_id": SECRET_ID,
            "secret_key": SECRET_KEY,
            "usersig_key": USERSIG_KEY,
            "callback_key": CALLBACK_KEY,
        },
        callback_url,
    )


def start_tiw(client, room_id: int, record_user: str | None = None, **extra) -> str:
    record_user = record_user or f"tic_record_user_{room_id}_1"
    return call(
        client,
        "StartOnlineRecord",
        SdkAppId=int(TIW_APP),
        RoomId=room_id,
        RecordUserId=record_user,
        RecordUserSig=usersig(TIW_APP, record_user),
        **extra,
    )["TaskId"]


TWO_STREAMS = [
    {"user_id": "teacher_1", "kind": "camera", "intervals": [[0, None]]},
    {"kind": "whiteboard", "intervals": [[0, None]]},
]


def test_tiw_sdk_start_pause_resume_stop_describe(sandbox_fresh, callback_sink):
    sandbox = sandbox_fresh
    provision_tiw(sandbox, callback_sink.url)
    sandbox.room("tencent_tiw", TIW_APP, "1001", TWO_STREAMS)
    client = tiw(sandbox)

    task_id = start_tiw(client, 1001)
    describe = lambda: call(client, "DescribeOnlineRecord", SdkAppId=int(TIW_APP), TaskId=task_id)  # noqa: E731
    assert describe()["Status"] == "PREPARED"
    sandbox.advance(2_000)
    assert describe()["Status"] == "RECORDING"
    sandbox.advance(60_000)

    call(client, "PauseOnlineRecord", SdkAppId=int(TIW_APP), TaskId=task_id)
    assert describe()["Status"] == "RECORDING"  # the vendor's ~2 s before a pause takes effect
    sandbox.advance(2_000)
    assert describe()["Status"] == "PAUSED"
    sandbox.advance(30_000)

    call(client, "ResumeOnlineRecord", SdkAppId=int(TIW_APP), TaskId=task_id)
    sandbox.advance(2_000)
    assert describe()["Status"] == "RECORDING"
    sandbox.advance(60_000)

    call(client, "StopOnlineRecord", SdkAppId=int(TIW_APP), TaskId=task_id)
    sandbox.advance(2_000)
    assert describe()["Status"] == "STOPPED"
    sandbox.advance(10_000)

    result = describe()
    assert result["Status"] == "FINISHED"
    assert result["FinishReason"] == "USER_CALL"
    assert result["TotalTime"] == 124_000
    shape = [
        (v["VideoType"], v["UserId"], v["VideoPlayTime"], v["VideoDuration"]) for v in result["VideoInfos"]
    ]
    assert shape == [
        (0, "teacher_1", 0, 62_000),
        (2, "", 0, 62_000),
        (0, "teacher_1", 62_000, 62_000),
        (2, "", 62_000, 62_000),
    ]

    # Every file is real, its length what the API says, served with Range support.
    first = result["VideoInfos"][0]
    whole = httpx.get(first["VideoUrl"])
    assert whole.status_code == 200 and len(whole.content) == first["VideoSize"] > 0
    part = httpx.get(first["VideoUrl"], headers={"Range": "bytes=0-99"})
    assert part.status_code == 206 and part.content == whole.content[:100]
    path = sandbox.workdir / "media" / urllib.parse.urlsplit(first["VideoUrl"]).path.removeprefix("/media/")
    with av.open(str(path)) as container:
        assert abs(container.duration / 1000 - first["VideoDuration"]) <= 1_000

    events = [r["json"]["EventType"] for r in callback_sink.received]
    assert events == ["OnlineRecordStarted", "OnlineRecordStopped", "OnlineRecordFinished"]
    for received in callback_sink.received:
        body = received["json"]
        assert body["SdkAppId"] == int(TIW_APP)
        assert body["Sign"] == hashlib.md5(f"{CALLBACK_KEY}{body['ExpireTime']}".encode()).hexdigest()
        assert body["ExpireTime"] > time.time()
    assert callback_sink.received[-1]["json"]["EventData"]["VideoInfos"] == result["VideoInfos"]


def test_tiw_wrong_secret_key_is_a_signature_failure(sandbox_fresh):
    provision_tiw(sandbox_fresh)
    client = tiw(sandbox_fresh, secret_key="not-the-secret-key")
    assert (
        tiw_code(client, "DescribeOnlineRecord", SdkAppId=int(TIW_APP), TaskId="x")
        == "AuthFailure.SignatureFailure"
    )


def test_tiw_old_timestamp_is_a_signature_expire(sandbox_fresh, monkeypatch):
    provision_tiw(sandbox_fresh)
    # The SDK stamps X-TC-Timestamp from its module's clock; ten minutes ago is past Tencent's 5.
    monkeypatch.setattr(abstract_client, "time", types.SimpleNamespace(time=lambda: time.time() - 600))
    code = tiw_code(tiw(sandbox_fresh), "DescribeOnlineRecord", SdkAppId=int(TIW_APP), TaskId="x")
    assert code == "AuthFailure.SignatureExpire"


def test_tiw_unknown_secret_id_and_foreign_app(sandbox_fresh):
    provision_tiw(sandbox_fresh)
    profile = ClientProfile(
        httpProfile=HttpProfile(protocol="http", endpoint=sandbox_fresh.endpoint("tencent_tiw"))
    )
    stranger = tiw_client.TiwClient(credential.Credential("AKIDnobody", SECRET_KEY), "ap-guangzhou", profile)
    assert (
        tiw_code(stranger, "DescribeOnlineRecord", SdkAppId=int(TIW_APP), TaskId="x")
        == "AuthFailure.SecretIdNotFound"
    )
    assert tiw_code(tiw(sandbox_fresh), "DescribeOnlineRecord", SdkAppId=1400999999, TaskId="x") == (
        "InvalidParameter.SdkAppIdNotFound"
    )


def test_tiw_illegal_moves_get_the_documented_codes(sandbox_fresh):
    provision_tiw(sandbox_fresh)
    client = tiw(sandbox_fresh)
    app = int(TIW_APP)
    assert (
        tiw_code(client, "DescribeOnlineRecord", SdkAppId=app, TaskId="no-such-task")
        == "InvalidParameter.TaskNotFound"
    )

    task_id = start_tiw(client, 2002)
    # Reused record user while its task runs.
    assert (
        tiw_code(
            client,
            "StartOnlineRecord",
            SdkAppId=app,
            RoomId=2002,
            RecordUserId="tic_record_user_2002_1",
            RecordUserSig=usersig(TIW_APP, "tic_record_user_2002_1"),
        )
        == "ResourceInUse.RecordUserId"
    )
    # Pausing a task that is not recording yet, resuming one that is not paused.
    assert (
        tiw_code(client, "PauseOnlineRecord", SdkAppId=app, TaskId=task_id)
        == "UnsupportedOperation.InvalidTaskStatus"
    )
    sandbox_fresh.advance(2_000)
    assert (
        tiw_code(client, "ResumeOnlineRecord", SdkAppId=app, TaskId=task_id)
        == "UnsupportedOperation.InvalidTaskStatus"
    )
    call(client, "PauseOnlineRecord", SdkAppId=app, TaskId=task_id)
    assert (
        tiw_code(client, "PauseOnlineRecord", SdkAppId=app, TaskId=task_id)
        == "UnsupportedOperation.InvalidTaskStatus"
    )
    # Stopping twice.
    call(client, "StopOnlineRecord", SdkAppId=app, TaskId=task_id)
    assert (
        tiw_code(client, "StopOnlineRecord", SdkAppId=app, TaskId=task_id)
        == "UnsupportedOperation.TaskHasAlreadyStopped"
    )
    assert (
        tiw_code(client, "ResumeOnlineRecord", SdkAppId=app, TaskId=task_id)
        == "UnsupportedOperation.TaskHasAlreadyStopped"
    )
    assert (
        tiw_code(
            client,
            "StartOnlineRecord",
            SdkAppId=app,
            RoomId=2002,
            RecordUserId="someone_else",
            RecordUserSig=usersig(TIW_APP, "someone_else"),
        )
        == "InvalidParameter.RecordParameter"
    )


def test_tiw_bad_record_usersig_ends_the_task_as_an_exception(sandbox_fresh):
    provision_tiw(sandbox_fresh)
    client = tiw(sandbox_fresh)
    task_id = call(
        client,
        "StartOnlineRecord",
        SdkAppId=int(TIW_APP),
        RoomId=3003,
        RecordUserId="tic_record_user_3003_1",
        RecordUserSig=usersig(TIW_APP, "tic_record_user_3003_1", key="some-other-key"),
    )["TaskId"]
    sandbox_fresh.advance(2_000)
    result = call(client, "DescribeOnlineRecord", SdkAppId=int(TIW_APP), TaskId=task_id)
    assert (result["Status"], result["FinishReason"], result["ExceptionCnt"]) == ("FINISHED", "EXCEPTION", 1)
    assert sandbox_fresh.truth("tencent_tiw", task_id)["error"] == "usersig: usersig signature mismatch"


def test_tiw_callback_settings_through_the_api(sandbox_fresh, callback_sink):
    provision_tiw(sandbox_fresh)
    client = tiw(sandbox_fresh)
    app = int(TIW_APP)
    assert tiw_code(client, "SetOnlineRecordCallback", SdkAppId=app, Callback="ftp://x") == (
        "InvalidParameter.CallbackAddressFormatError"
    )
    call(client, "SetOnlineRecordCallback", SdkAppId=app, Callback=callback_sink.url)
    call(client, "SetOnlineRecordCallbackKey", SdkAppId=app, CallbackKey="")
    assert call(client, "DescribeOnlineRecordCallback", SdkAppId=app)["Callback"] == callback_sink.url
    start_tiw(client, 4004)
    sandbox_fresh.advance(2_000)
    body = callback_sink.received[0]["json"]
    assert body["EventType"] == "OnlineRecordStarted"
    assert "Sign" not in body and "ExpireTime" not in body  # no key, no signature


def test_seed002_scenario_yields_the_six_documented_segments(sandbox_fresh):
    provision_tiw(sandbox_fresh)
    sandbox_fresh.room("tencent_tiw", TIW_APP, "1234", "seed002")
    client = tiw(sandbox_fresh)
    app = int(TIW_APP)
    task_id = start_tiw(client, 1234, GroupId="1234")
    sandbox_fresh.advance(2_000)  # recording from room time 0
    sandbox_fresh.advance(898_000)
    call(client, "PauseOnlineRecord", SdkAppId=app, TaskId=task_id)
    sandbox_fresh.advance(2_000)  # paused at 15:00
    sandbox_fresh.advance(58_000)
    call(client, "ResumeOnlineRecord", SdkAppId=app, TaskId=task_id)
    sandbox_fresh.advance(2_000)  # one minute later
    sandbox_fresh.advance(538_000)
    call(client, "StopOnlineRecord", SdkAppId=app, TaskId=task_id)
    sandbox_fresh.advance(2_000 + 10_000)

    result = call(client, "DescribeOnlineRecord", SdkAppId=app, TaskId=task_id)
    assert result["Status"] == "FINISHED"
    assert (result["RoomId"], result["GroupId"], result["TotalTime"]) == (1234, "1234", 1_440_000)
    assert [
        (v["VideoPlayTime"], v["VideoDuration"], v["VideoType"], v["UserId"]) for v in result["VideoInfos"]
    ] == [
        (0, 900_000, 0, "ios_test1"),
        (300_000, 600_000, 0, "pc_test1"),
        (120_000, 780_000, 2, ""),
        (900_000, 300_000, 0, "ios_test1"),
        (900_000, 210_000, 0, "pc_test1"),
        (900_000, 540_000, 2, ""),
    ]
    assert all(v["VideoSize"] > 0 and v["VideoFormat"] == "mp4" for v in result["VideoInfos"])


# ==== the legacy TIC API ==========================================================================
def tic_sign(expire_time: int, key: str = TIC_KEY) -> str:
    return hashlib.md5(f"{key}{expire_time}".encode()).hexdigest()


def test_tic_sign_matches_the_seed_004_vector():
    assert tic_sign(1548247837) == "5400bac77ba6467a8f8ac056f1769f45"


def tic(sandbox, action: str, body: dict, *, expire_time: int | None = None, sign: str | None = None) -> dict:
    expire_time = expire_time or int(time.time()) + 120
    query = {
        "sdkappid": TIC_APP,
        "sign": sign or tic_sign(expire_time),
        "expire_time": expire_time,
        "random": 526919,
    }
    response = httpx.post(
        f"{sandbox.base_url('tencent_tic')}/record/v1/online/{action}",
        params=query,
        content=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 200
    return response.json()


def provision_tic(sandbox, callback_url: str = "") -> None:
    sandbox.provision("tencent_tic", TIC_APP, {"tic_key": TIC_KEY, "usersig_key": USERSIG_KEY}, callback_url)


def tic_start(sandbox, room_id: int, user_id: str | None = None) -> dict:
    user_id = user_id or f"tic_record_user_{room_id}_01"
    return tic(
        sandbox,
        "start",
        {
            "room_id": room_id,
            "user_id": user_id,
            "user_sig": usersig(TIC_APP, user_id),
            "whiteboard": {"width": 1280, "height": 960, "init_param": '{"ratio": "16:9"}'},
        },
    )


def test_tic_request_errors(sandbox_fresh):
    provision_tic(sandbox_fresh)
    past = int(time.time()) - 10
    assert tic(sandbox_fresh, "query", {"task_id": "x"}, expire_time=past)["error_code"] == 20001
    assert tic(sandbox_fresh, "query", {"task_id": "x"}, sign="0" * 32)["error_code"] == 20002
    assert tic(sandbox_fresh, "query", {"task_id": "nope"})["error_code"] == 20005

    started = tic_start(sandbox_fresh, 1234)
    assert (started["error_code"], started["error_msg"]) == (0, "ok")
    assert tic_start(sandbox_fresh, 1234)["error_code"] == 20013

    task = {"task_id": started["task_id"]}
    assert tic(sandbox_fresh, "pause", task)["error_code"] == 40001  # still preparing
    sandbox_fresh.advance(2_000)
    assert tic(sandbox_fresh, "query", task)["status"] == "recording"
    assert tic(sandbox_fresh, "stop", task)["error_code"] == 0
    assert tic(sandbox_fresh, "stop", task)["error_code"] == 20011
    assert tic(sandbox_fresh, "callback", {"callback": "mailto:x"})["error_code"] == 20004


def test_tic_callbacks_are_signed_and_retried_once_a_minute_until_acknowledged(sandbox_fresh, callback_sink):
    provision_tic(sandbox_fresh)
    assert tic(sandbox_fresh, "callback", {"callback": callback_sink.url})["error_code"] == 0
    sandbox_fresh.room("tencent_tic", TIC_APP, "5005", TWO_STREAMS)
    callback_sink.replies = [(200, b'{"error_code":1}'), (500, b"oops")]
    task_id = tic_start(sandbox_fresh, 5005)["task_id"]

    sandbox_fresh.advance(2_000)
    assert len(callback_sink.received) == 1  # refused
    sandbox_fresh.advance(59_000)
    assert len(callback_sink.received) == 1
    sandbox_fresh.advance(1_000)
    assert len(callback_sink.received) == 2  # a minute later: refused again
    sandbox_fresh.advance(60_000)
    assert len(callback_sink.received) == 3  # acknowledged with {"error_code":0}
    sandbox_fresh.advance(600_000)
    started = [r for r in callback_sink.received if r["json"]["callback_type"] == "record_started"]
    assert len(started) == 3

    for received in callback_sink.received:
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(received["path"]).query))
        assert query["sdkappid"] == TIC_APP
        assert query["sign"] == tic_sign(int(query["expire_time"]))
        assert int(query["random"]) > 0
    body = started[-1]["json"]
    assert body == {
        "error_code": 0,
        "error_msg": "",
        "timestamp": body["timestamp"],
        "task_id": task_id,
        "task_type": "record_online",
        "callback_type": "record_started",
        "record_user_id": "tic_record_user_5005_01",
        "room_id": 5005,
    }
    attempts = sandbox_fresh.truth("tencent_tic", task_id)["callbacks"][0]["attempts"]
    assert [a["acknowledged"] for a in attempts] == [False, False, True]
    assert [b["at_ms"] - a["at_ms"] for a, b in zip(attempts, attempts[1:], strict=False)] == [60_000, 60_000]

    # Stop: the finished callback carries the result, in seed 004's shape.
    callback_sink.default_reply = (200, b'{"error_code":0}')
    assert tic(sandbox_fresh, "stop", {"task_id": task_id})["error_code"] == 0
    sandbox_fresh.advance(12_000)
    finished = callback_sink.received[-1]["json"]
    assert finished["callback_type"] == "record_finished" and finished["finish_reason"] == "usercall"
    assert finished["video_info"] == tic(sandbox_fresh, "query", {"task_id": task_id})["video_info"]
    assert {v["video_type"] for v in finished["video_info"]} == {0, 2}


def test_tic_callback_gives_up_after_ten_retries(sandbox_fresh, callback_sink):
    provision_tic(sandbox_fresh, callback_sink.url)
    sandbox_fresh.room("tencent_tic", TIC_APP, "6006", TWO_STREAMS)
    callback_sink.default_reply = (200, b'{"error_code":500}')
    task_id = tic_start(sandbox_fresh, 6006)["task_id"]
    sandbox_fresh.advance(2_000 + 11 * 60_000)
    record = sandbox_fresh.truth("tencent_tic", task_id)["callbacks"][0]
    assert (record["status"], len(record["attempts"])) == ("failed", 11)
    assert len(callback_sink.received) == 11


def test_tic_no_file_fault_finishes_with_40002(sandbox_fresh, callback_sink):
    provision_tic(sandbox_fresh, callback_sink.url)
    sandbox_fresh.faults(vendor="tencent_tic", no_file=True)
    task_id = tic_start(sandbox_fresh, 7007)["task_id"]
    sandbox_fresh.advance(2_000 + 60_000)
    tic(sandbox_fresh, "stop", {"task_id": task_id})
    sandbox_fresh.advance(12_000)
    finished = callback_sink.received[-1]["json"]
    assert (finished["callback_type"], finished["error_code"], finished["video_info"]) == (
        "record_finished",
        40002,
        [],
    )


def test_restart_keeps_tasks(sandbox_fresh):
    provision_tic(sandbox_fresh)
    sandbox_fresh.room("tencent_tic", TIC_APP, "8008", TWO_STREAMS)
    task_id = tic_start(sandbox_fresh, 8008)["task_id"]
    sandbox_fresh.advance(2_000 + 30_000)
    assert tic(sandbox_fresh, "stop", {"task_id": task_id})["error_code"] == 0  # takes effect in 2 s
    clock_before = sandbox_fresh.now_ms()

    sandbox_fresh.restart()

    assert sandbox_fresh.now_ms() == clock_before
    assert tic(sandbox_fresh, "query", {"task_id": task_id})["status"] == "recording"
    sandbox_fresh.advance(12_000)  # the pending stop and the upload survived the restart
    result = tic(sandbox_fresh, "query", {"task_id": task_id})
    assert (result["status"], result["total_time"]) == ("finished", 32_000)
    assert len(result["video_info"]) == 2


def test_latency_and_timeout_faults_over_http(sandbox_fresh):
    provision_tic(sandbox_fresh)
    sandbox_fresh.faults(vendor="tencent_tic", action="query", latency_ms=300)
    began = time.monotonic()
    assert tic(sandbox_fresh, "query", {"task_id": "x"})["error_code"] == 20005
    assert time.monotonic() - began >= 0.3

    sandbox_fresh.faults(vendor="tencent_tic", action="query", latency_ms=0, timeout=True, timeout_ms=2_000)
    expire = int(time.time()) + 60
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            f"{sandbox_fresh.base_url('tencent_tic')}/record/v1/online/query",
            params={"sdkappid": TIC_APP, "sign": tic_sign(expire), "expire_time": expire, "random": 1},
            content=b'{"task_id": "x"}',
            timeout=0.5,
        )
    sandbox_fresh.control("DELETE", "/control/faults")
    assert tic(sandbox_fresh, "query", {"task_id": "x"})["error_code"] == 20005
