"""The sandbox's ZEGO protocol: the gateway's signature checks, envelopes and callback signing."""

from __future__ import annotations

import pytest

from recordings.sandbox import model
from recordings.sandbox.protocols import zego as zg

# Vectors quoted by vendors.md §3 from ZEGO's own documents.
DOC_APP_ID = "12345"
DOC_NONCE = "4fd24687296dd9f3"
DOC_SECRET = "9193cc662a4c0ec135ec71fb57194b38"
DOC_TIMESTAMP = "1615186943"
DOC_SIGNATURE = "43e5cfcca828314675f91b001390566a"


def doc_query(**overrides) -> dict[str, str]:
    query = {
        "Action": "DescribeRecordStatus",
        "AppId": DOC_APP_ID,
        "SignatureNonce": DOC_NONCE,
        "Timestamp": DOC_TIMESTAMP,
        "Signature": DOC_SIGNATURE,
        "SignatureVersion": "2.0",
    }
    query.update(overrides)
    return {key: value for key, value in query.items() if value is not None}


def check(query, *, now=int(DOC_TIMESTAMP), secrets=None):
    secrets = {DOC_APP_ID: DOC_SECRET} if secrets is None else secrets
    return zg.verify_query(query, server_secret_for=secrets.get, now_seconds=now)


def test_the_doc_signature_vector():
    assert zg.signature(DOC_APP_ID, DOC_NONCE, DOC_SECRET, DOC_TIMESTAMP) == DOC_SIGNATURE
    assert zg.signature(int(DOC_APP_ID), DOC_NONCE, DOC_SECRET, int(DOC_TIMESTAMP)) == DOC_SIGNATURE


def test_the_doc_request_verifies():
    assert check(doc_query()) is None


def test_a_wrong_signature_is_100000005():
    assert check(doc_query(Signature="0" * 32)) is zg.SIGNATURE_INVALID
    assert zg.SIGNATURE_INVALID.code == 100000005


def test_a_wrong_secret_is_100000005():
    assert check(doc_query(), secrets={DOC_APP_ID: "other"}) is zg.SIGNATURE_INVALID


@pytest.mark.parametrize("skew", [601, -601])
def test_a_timestamp_more_than_ten_minutes_off_is_100000004(skew):
    assert check(doc_query(), now=int(DOC_TIMESTAMP) + skew) is zg.SIGNATURE_EXPIRED
    assert zg.SIGNATURE_EXPIRED.code == 100000004


@pytest.mark.parametrize("skew", [600, -600])
def test_ten_minutes_exactly_is_still_accepted(skew):
    assert check(doc_query(), now=int(DOC_TIMESTAMP) + skew) is None


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"Action": None}, zg.ACTION_EMPTY),
        ({"AppId": "abc"}, zg.INVALID_APP_ID),
        ({"Timestamp": None}, zg.TIMESTAMP_EMPTY),
        ({"Timestamp": "soon"}, zg.TIMESTAMP_INVALID),
        ({"SignatureNonce": None}, zg.NONCE_EMPTY),
        ({"Signature": None}, zg.SIGNATURE_EMPTY),
        ({"SignatureVersion": None}, zg.SIGNATURE_VERSION_EMPTY),
        ({"SignatureVersion": "1.0"}, zg.SIGNATURE_VERSION_UNSUPPORTED),
        ({"Action": "DropDatabase"}, zg.ACTION_UNSUPPORTED),
    ],
)
def test_gateway_parameter_errors(overrides, expected):
    assert check(doc_query(**overrides)) is expected


def test_an_unknown_app_cannot_be_verified():
    assert check(doc_query(), secrets={}) is zg.SERVER_SECRET_UNKNOWN


def test_envelope_shape():
    assert zg.envelope(zg.OK, request_id="r1", data={"TaskId": "t"}) == {
        "Code": 0,
        "Message": "success",
        "RequestId": "r1",
        "Data": {"TaskId": "t"},
    }
    assert zg.envelope(zg.TASK_NOT_FOUND, request_id="r2") == {
        "Code": 300001000,
        "Message": "The recording task does not exist.",
        "RequestId": "r2",
    }


def test_recording_error_codes_match_the_doc():
    assert (zg.TASK_NOT_FOUND.code, zg.TASK_ENDED.code, zg.TASK_NOT_PAUSED.code) == (
        300001000,
        300001001,
        300001004,
    )
    assert zg.invalid_param("RoomId is required.").code == 300000004


def test_the_doc_callback_signature_vector():
    assert (
        zg.callback_signature("secret", "1470820198", "123412") == "5bd59fd62953a8059fb7eaba95720f66d19e4517"
    )


def test_callback_body_is_signed_with_its_own_timestamp_and_nonce():
    body = zg.callback_body(
        app_id="12345",
        task_id="t" * 16,
        room_id="room",
        event_type=zg.EVENT_PAUSED,
        message="paused",
        nonce="777",
        timestamp="1700000000",
        sequence=3,
        detail={},
        callback_secret="cbs",
    )
    assert body["app_id"] == 12345
    assert body["timestamp"] == "1700000000"
    assert body["signature"] == zg.callback_signature("cbs", "1700000000", "777")
    assert body["signature"] != zg.callback_signature("other", "1700000000", "777")


def test_file_info_is_the_snake_case_mirror_of_record_files():
    record_file = {
        "UserId": "u1",
        "StreamId": "s1",
        "FileUrl": "http://x/a.mp4",
        "FileSize": 10,
        "Duration": 2000,
        "BeginTimestamp": 1700000000000,
        "Status": zg.FILE_UPLOADED,
    }
    assert zg.file_info(record_file) == {
        "user_id": "u1",
        "stream_id": "s1",
        "file_url": "http://x/a.mp4",
        "file_size": 10,
        "duration": 2000,
        "begin_timestamp": 1700000000000,
        "status": 3,
    }


@pytest.mark.parametrize(
    ("state", "status"),
    [
        (model.PREPARED, 1),
        (model.RECORDING, 2),
        (model.STOPPED, 3),
        (model.FINISHED, 3),
        (model.FAILED, 4),
        (model.PAUSED, 5),
    ],
)
def test_task_status_mapping(state, status):
    assert zg.STATUS[state] == status


def test_single_stream_plan_honours_record_stream_list_and_has_whiteboard():
    room = model.Room(
        vendor="zego",
        app_id="1",
        room_id="r",
        streams=[
            model.ScenarioStream("u1", model.CAMERA, [[0, None]]),
            model.ScenarioStream("u1", model.SCREEN, [[0, 5_000]]),
            model.ScenarioStream("u2", model.CAMERA, [[0, None]]),
            model.ScenarioStream("", model.WHITEBOARD, [[0, None]]),
        ],
    )
    task = model.Task(
        vendor="zego",
        app_id="1",
        task_id="t",
        room_id="r",
        mode="individual",
        params={"RecordInputParams": {"RecordMode": 1, "RecordStreamList": [{"StreamId": "u1_screen"}]}},
        extra={"format": "hls"},
    )
    plans = zg.ZegoProtocol(core=None).plan_streams(task, room)
    assert [(p.user_id, p.kind, p.formats) for p in plans] == [("u1", model.SCREEN, ("hls",))]
    task.params["RecordInputParams"]["HasWhiteboard"] = True
    kinds = [p.kind for p in zg.ZegoProtocol(core=None).plan_streams(task, room)]
    assert kinds == [model.SCREEN, model.WHITEBOARD]
