"""The sandbox's Agora protocol: Basic auth, routes, error bodies, NCS signing, web-start checks."""

from __future__ import annotations

import base64
import json

import pytest

from recordings.sandbox import model
from recordings.sandbox.protocols import agora as ag


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_basic_auth_accepts_exactly_the_customer_key_pair():
    assert ag.basic_auth_ok(basic("cid", "csecret"), customer_id="cid", customer_secret="csecret")
    assert ag.basic_auth_ok(
        "basic " + basic("cid", "csecret")[6:], customer_id="cid", customer_secret="csecret"
    )


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        basic("cid", "wrong"),
        basic("other", "csecret"),
        "Bearer abc",
        "Basic !!!notbase64",
        "Basic " + base64.b64encode(b"no-colon").decode(),
    ],
)
def test_basic_auth_refuses_anything_else(header):
    assert not ag.basic_auth_ok(header, customer_id="cid", customer_secret="csecret")


def test_credentials_of_an_unknown_app_are_refused():
    secrets = {"app1": {"customer_id": "cid", "customer_secret": "cs", "ncs_secret": "n"}}.get
    assert ag.credentials_ok(basic("cid", "cs"), "app1", secrets)
    assert not ag.credentials_ok(basic("cid", "cs"), "app2", secrets)


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("POST", "/v1/apps/A/cloud_recording/acquire", ag.Route("acquire", "A")),
        (
            "POST",
            "/v1/apps/A/cloud_recording/resourceid/R/mode/web/start",
            ag.Route("start", "A", "R", "", "web"),
        ),
        (
            "GET",
            "/v1/apps/A/cloud_recording/resourceid/R/sid/S/mode/mix/query",
            ag.Route("query", "A", "R", "S", "mix"),
        ),
        (
            "POST",
            "/v1/apps/A/cloud_recording/resourceid/R/sid/S/mode/web/update",
            ag.Route("update", "A", "R", "S", "web"),
        ),
        (
            "POST",
            "/v1/apps/A/cloud_recording/resourceid/R/sid/S/mode/mix/updateLayout",
            ag.Route("updateLayout", "A", "R", "S", "mix"),
        ),
        (
            "POST",
            "/v1/apps/A/cloud_recording/resourceid/R/sid/S/mode/individual/stop",
            ag.Route("stop", "A", "R", "S", "individual"),
        ),
    ],
)
def test_routes(method, path, expected):
    assert ag.route(method, path) == expected


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/apps/A/cloud_recording/acquire"),
        ("POST", "/v1/apps/A/cloud_recording/resourceid/R/sid/S/mode/mix/query"),
        ("POST", "/v1/apps/A/cloud_recording/resourceid/R/mode/web/pause"),
        ("POST", "/v2/apps/A/cloud_recording/acquire"),
    ],
)
def test_unknown_routes_are_none(method, path):
    assert ag.route(method, path) is None


def test_error_body_echoes_ids_then_code_and_reason():
    assert ag.error_body(ag.REPEATED_STOP, resourceId="R", sid="S") == {
        "resourceId": "R",
        "sid": "S",
        "code": 49,
        "reason": ag.REPEATED_STOP.reason,
    }
    assert ag.error_body(ag.NOT_FOUND, sid="") == {"code": 404, "reason": "failed to find worker"}
    assert ag.NOT_FOUND.http_status == 404
    assert [
        e.code
        for e in (ag.INVALID_PARAMETER, ag.ALREADY_RECORDING, ag.CHANNEL_UID_ALREADY_RECORDING, ag.NO_FILE)
    ] == [
        2,
        7,
        53,
        435,
    ]


def test_the_doc_ncs_signature_vector():
    # https://docs.agora.io/en/broadcast-streaming/reference/signature-verification, as in vendors.md §2.
    body = (
        b'{"eventMs":1560408533119,"eventType":10,"noticeId":"4eb720f0-8da7-11e9-a43e-53f411c2761f",'
        b'"notifyMs":1560408533119,"payload":{"a":"1","b":2},"productId":1}'
    )
    headers = ag.ncs_signature_headers(body, "secret")
    assert headers["Agora-Signature-V2"] == "6d3320c60b11101395b7fc8f9068748808a0aa1bfa064438e39d1bc2c7d74d99"
    assert headers["Agora-Signature"] == "033c62f40f687675f17f0f41f91a40c71c0f134c"


def test_ncs_body_shape():
    body = ag.ncs_body(
        notice_id="n1",
        event_type=31,
        notify_ms=1700000000123,
        cname="room",
        uid="999",
        sid="S",
        sequence=4,
        sendts=1700000000100,
        service_type=ag.SERVICE_TYPE_UPLOADER,
        details={"status": 0, "fileList": []},
        service_scene="rtc_record",
    )
    assert body["productId"] == 3
    assert body["eventType"] == 31
    assert body["payload"]["details"] == {"msgName": "uploaded", "status": 0, "fileList": []}
    assert body["payload"]["serviceScene"] == "rtc_record"
    assert {"cname", "uid", "sid", "sequence", "sendts", "serviceType"} <= set(body["payload"])
    json.dumps(body)


def web_request(**param):
    service_param = {
        "url": "https://class.example/1",
        "audioProfile": 0,
        "videoWidth": 1280,
        "videoHeight": 720,
        "maxRecordingHour": 2,
    }
    service_param.update(param)
    service_param = {k: v for k, v in service_param.items() if v is not None}
    return {
        "extensionServiceConfig": {
            "errorHandlePolicy": "error_abort",
            "extensionServices": [
                {
                    "serviceName": "web_recorder_service",
                    "errorHandlePolicy": "error_abort",
                    "serviceParam": service_param,
                }
            ],
        }
    }


def test_the_seed_web_start_is_valid():
    assert ag.check_web_service_param(ag.web_service_param(web_request())) is None


@pytest.mark.parametrize(
    "param",
    [
        {"url": None},
        {"videoWidth": 2560, "videoHeight": 1440},
        {"maxRecordingHour": 0},
        {"maxVideoDuration": 10},
    ],
)
def test_bad_web_params_are_code_2(param):
    error = ag.check_web_service_param(ag.web_service_param(web_request(**param)))
    assert error is not None and error.code == 2


def test_a_web_start_without_the_service_is_code_2():
    assert ag.check_web_service_param(ag.web_service_param({})).code == 2


def test_file_list_mode():
    assert ag.file_list_mode("mix", ["hls"]) == "string"
    assert ag.file_list_mode("mix", ["hls", "mp4"]) == "json"
    assert ag.file_list_mode("individual", ["hls"]) == "json"


def test_onhold_request():
    assert ag.onhold_request({"webRecordingConfig": {"onhold": True}}) is True
    assert ag.onhold_request({"webRecordingConfig": {"onhold": False}}) is False
    assert ag.onhold_request({"streamSubscribe": {}}) is None


def _task(mode: str, **extra) -> model.Task:
    return model.Task(vendor="agora", app_id="A", task_id="s" * 32, room_id="c", mode=mode, extra=extra)


def _room() -> model.Room:
    return model.Room(
        vendor="agora",
        app_id="A",
        room_id="c",
        streams=[
            model.ScenarioStream("1", model.CAMERA, [[0, 10_000]]),
            model.ScenarioStream("2", model.CAMERA, [[5_000, 20_000]]),
            model.ScenarioStream("", model.WHITEBOARD, [[0, None]]),
        ],
    )


def test_web_plan_is_one_page_stream_as_hls_plus_mp4_slices_of_max_video_duration():
    protocol = ag.AgoraProtocol(core=None)
    plans = protocol.plan_streams(_task("web_page", file_types=["hls", "mp4"], slice_ms=45 * 60_000), _room())
    assert [(p.kind, p.formats, p.slice_ms, p.presence) for p in plans] == [
        (model.WEB, ("hls",), None, ((0, None),)),
        (model.WEB, ("mp4",), 45 * 60_000, ((0, None),)),
    ]


def test_mix_plan_merges_rtc_streams_and_ignores_the_whiteboard():
    protocol = ag.AgoraProtocol(core=None)
    [plan] = protocol.plan_streams(_task("mixed", file_types=["hls"]), _room())
    assert (plan.kind, plan.user_id, plan.presence, plan.formats) == (
        model.MIXED,
        "0",
        ((0, 20_000),),
        ("hls",),
    )


def test_individual_plan_is_one_hls_per_uid():
    protocol = ag.AgoraProtocol(core=None)
    plans = protocol.plan_streams(_task("individual", file_types=["hls"]), _room())
    assert [(p.user_id, p.formats) for p in plans] == [("1", ("hls",)), ("2", ("hls",))]


@pytest.mark.parametrize(
    ("state", "status"),
    [
        (model.PREPARED, 2),
        (model.RECORDING, 5),
        (model.PAUSED, 5),
        (model.STOPPED, 7),
        (model.FINISHED, 8),
        (model.FAILED, 20),
    ],
)
def test_query_status_codes(state, status):
    task = _task("web_page")
    task.state = state
    assert ag.AgoraProtocol(core=None).vendor_state(task) == str(status)


def test_only_the_web_start_waits_for_the_page():
    protocol = ag.AgoraProtocol(core=None)
    assert protocol.transition_delay(_task("web_page"), model.START) == 5_000
    assert protocol.transition_delay(_task("web_page"), model.PAUSE) == 0
    assert protocol.transition_delay(_task("mixed"), model.START) == 0
