"""What the contract suite does not cover for the two Tencent adapters: lost starts and their
recovery, start bodies for each option, option validation, callback registration, the edges of
callback verification, and the completeness of both error tables."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime

import httpx
import pytest
from tencentcloud.tiw.v20190919 import errorcodes

from recordings.vendors import tencent_tic, tencent_tiw
from recordings.vendors.base import (
    CallbackRejected,
    EventKind,
    FinishReason,
    Mode,
    SegmentKind,
    StartSpec,
    State,
    TaskRef,
    VendorError,
)
from recordings.vendors.http import CallRecord, VendorHttp, make_client
from recordings.vendors.tencent_common import VIDEO_TYPE_KINDS, record_user_id
from recordings.vendors.tencent_tic import TencentTicAdapter
from recordings.vendors.tencent_tiw import TencentTiwAdapter
from tests.unit.contract import tencent_tic as tic_contract
from tests.unit.contract import tencent_tiw as tiw_contract


def _adapter(cls, config, handler):
    records: list[CallRecord] = []
    http = VendorHttp(make_client(config.base_url, httpx.MockTransport(handler)), recorder=records.append)
    return cls(config, http), records


def tiw(handler=None, **config_changes):
    handler = handler or tiw_contract.FakeVendor()
    config = dataclasses.replace(tiw_contract.CONFIG, **config_changes)
    adapter, records = _adapter(TencentTiwAdapter, config, handler)
    return adapter, handler, records


def tic(handler=None, **config_changes):
    handler = handler or tic_contract.FakeVendor()
    config = dataclasses.replace(tic_contract.CONFIG, **config_changes)
    adapter, records = _adapter(TencentTicAdapter, config, handler)
    return adapter, handler, records


def _start_body(fake) -> dict:
    [start] = [r for r in fake.requests if r.headers.get("X-TC-Action") == "StartOnlineRecord"]
    return json.loads(start.content)


SPEC = StartSpec(room_id="1234", mode=Mode.INDIVIDUAL, intent_key="555", group_id="1234")


def _refuse(request: httpx.Request) -> httpx.Response:
    raise AssertionError("no vendor call expected")


# ---------------------------------------------------------------- record user ids


def test_record_user_id_follows_the_documented_pattern_and_is_stable_per_intent():
    assert record_user_id(100241, "100") == "tic_record_user_100241_100"
    uuid_intent = "7f3c2a6e-5d1b-4c39-9e0a-3b8f1d2c4e5a"
    derived = record_user_id(4294967295, uuid_intent)
    assert derived == record_user_id(4294967295, uuid_intent)
    assert derived.startswith("tic_record_user_4294967295_") and derived.rsplit("_", 1)[1].isdigit()
    assert len(derived.encode()) <= 60
    assert record_user_id(1234, "a") != record_user_id(1234, "b")
    assert record_user_id(1234, "1") != record_user_id(1234, "2")


@pytest.mark.parametrize("room_id", ["abc", "0", "4294967296", "-5", ""])
def test_a_room_id_tencent_cannot_take_is_refused_before_any_call(room_id):
    adapter, _, records = tiw(_refuse)
    with pytest.raises(VendorError) as caught:
        adapter.start(dataclasses.replace(SPEC, room_id=room_id))
    assert caught.value.kind == "invalid" and not records


def test_a_missing_credential_is_a_config_error_before_any_call():
    adapter, _, records = tiw(_refuse, secrets={"secret_id": "x", "secret_key": "y"})
    with pytest.raises(VendorError) as caught:
        adapter.start(SPEC)
    assert caught.value.kind == "config" and "usersig_key" in caught.value.message
    assert not records


# ---------------------------------------------------------------- lost starts


def test_tiw_lost_start_answer_is_recovered_without_a_second_recording():
    adapter, fake, records = tiw()
    fake.drop_answers = {"StartOnlineRecord"}
    with pytest.raises(VendorError) as lost:
        adapter.start(SPEC)
    assert lost.value.kind == "timeout" and lost.value.request_may_have_arrived
    fake.drop_answers = set()

    with pytest.raises(VendorError) as recovered:
        adapter.recover_start(SPEC)
    error = recovered.value
    assert (error.code, error.kind, error.retryable) == ("ResourceInUse.RecordUserId", "conflict", False)
    assert "callback" in error.fix_en
    assert fake.started_count == 1
    assert [r.error_kind for r in records] == ["timeout", "conflict"]
    assert records[1].vendor_code == "ResourceInUse.RecordUserId"


def test_tiw_start_that_never_left_is_started_by_recover_start():
    fake = tiw_contract.FakeVendor()
    calls = {"n": 0}

    def flaky(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] == 1:
            raise httpx.ConnectTimeout("no route", request=request)
        return fake(request)

    adapter, _, _ = tiw(flaky)
    with pytest.raises(VendorError) as lost:
        adapter.start(SPEC)
    assert lost.value.kind == "connect" and not lost.value.request_may_have_arrived
    ref = adapter.recover_start(SPEC)
    assert ref.task_id in fake.tasks and ref.record_user_id == "tic_record_user_1234_555"
    assert fake.started_count == 1


def test_tic_lost_start_answer_is_recovered_without_a_second_recording():
    adapter, fake, records = tic()
    fake.drop_answers = {"start"}
    with pytest.raises(VendorError):
        adapter.start(SPEC)
    fake.drop_answers = set()
    with pytest.raises(VendorError) as recovered:
        adapter.recover_start(SPEC)
    assert (recovered.value.code, recovered.value.kind) == ("20013", "conflict")
    assert fake.started_count == 1
    # The `random` of each call is its request id, as seed 004 asks to quote it.
    sent_randoms = [r.url.params["random"] for r in fake.requests]
    assert [r.request_id for r in records] == sent_randoms
    assert [r.action for r in records] == ["online/start", "online/start"]


# ---------------------------------------------------------------- start bodies


def test_tiw_record_only_listed_streams_keeps_the_whiteboard():
    adapter, fake, _ = tiw()
    adapter.start(dataclasses.replace(SPEC, options={"record_only_streams": "teacher_1, assistant_2"}))
    assert _start_body(fake)["RecordControl"] == {
        "Enabled": True,
        "DisableRecord": True,
        "StreamControls": [
            {"StreamId": "teacher_1", "DisableRecord": False},
            {"StreamId": "assistant_2", "DisableRecord": False},
            {"StreamId": "tic_record_user", "DisableRecord": False},
        ],
    }


def test_tiw_skip_streams_switches_off_only_those():
    adapter, fake, _ = tiw()
    adapter.start(dataclasses.replace(SPEC, options={"skip_streams": ["student_"]}))
    assert _start_body(fake)["RecordControl"] == {
        "Enabled": True,
        "DisableRecord": False,
        "StreamControls": [{"StreamId": "student_", "DisableRecord": True}],
    }


def test_tiw_start_body_carries_concat_timeout_whiteboard_and_mix_stream():
    adapter, fake, _ = tiw()
    spec = StartSpec(
        room_id="1234",
        mode=Mode.MIXED,
        intent_key="9",
        options={
            "concat": True,
            "concat_image": "https://cdn.example/paused.png",
            "auto_stop_timeout": "900",
            "whiteboard_init_param": {"ratio": "4:3"},
            "mix_model_id": "2",
            "mix_teacher_id": "teacher_1",
            "mix_disable_audio": True,
        },
    )
    adapter.start(spec)
    request = next(r for r in fake.requests if r.headers["X-TC-Action"] == "StartOnlineRecord")
    body = json.loads(request.content)
    assert body["Concat"] == {"Enabled": True, "Image": "https://cdn.example/paused.png"}
    assert body["AutoStopTimeout"] == 900
    assert body["GroupId"] == "1234"
    assert body["Whiteboard"] == {"Width": 1280, "Height": 960, "InitParam": '{"ratio":"4:3"}'}
    # InitParam travels as a JSON string, its quotes escaped (seed 004 §4.1 note).
    assert b'"InitParam":"{\\"ratio\\":\\"4:3\\"}"' in request.content
    assert body["Extras"] == ["MIX_STREAM"]
    assert body["MixStream"] == {
        "Enabled": True,
        "DisableAudio": True,
        "ModelId": 2,
        "TeacherId": "teacher_1",
    }
    assert "RecordControl" not in body


def test_tiw_auto_stop_timeout_defaults_to_the_apps_idle_stop_within_tencents_range():
    adapter, fake, _ = tiw(idle_stop_seconds=60)
    adapter.start(SPEC)
    assert _start_body(fake)["AutoStopTimeout"] == 300
    adapter, fake, _ = tiw(idle_stop_seconds=1200)
    adapter.start(SPEC)
    assert _start_body(fake)["AutoStopTimeout"] == 1200


def test_tic_start_body_sends_init_param_as_a_string():
    adapter, fake, _ = tic()
    ref = adapter.start(
        dataclasses.replace(SPEC, group_id="", options={"whiteboard_init_param": '{"ratio": "16:9"}'})
    )
    body = json.loads(fake.requests[0].content)
    assert body["room_id"] == 1234 and body["group_id"] == "1234"
    assert body["user_id"] == ref.record_user_id == "tic_record_user_1234_555"
    assert body["whiteboard"] == {"width": 1280, "height": 960, "init_param": '{"ratio":"16:9"}'}
    assert fake.requests[0].url.path == "/record/v1/online/start"


# ---------------------------------------------------------------- options


@pytest.mark.parametrize(
    ("mode", "options", "field"),
    [
        (Mode.INDIVIDUAL, {"auto_stop_timeout": 299}, "auto_stop_timeout"),
        (Mode.INDIVIDUAL, {"auto_stop_timeout": 86401}, "auto_stop_timeout"),
        (Mode.INDIVIDUAL, {"auto_stop_timeout": "soon"}, "auto_stop_timeout"),
        (Mode.INDIVIDUAL, {"whiteboard_init_param": "{ratio: 16:9}"}, "whiteboard_init_param"),
        (Mode.INDIVIDUAL, {"whiteboard_init_param": "[1, 2]"}, "whiteboard_init_param"),
        (Mode.INDIVIDUAL, {"whiteboard_width": 0}, "whiteboard_width"),
        (Mode.INDIVIDUAL, {"record_only_streams": "a", "skip_streams": "a"}, "skip_streams"),
        (Mode.INDIVIDUAL, {"skip_streams": 5}, "skip_streams"),
        (Mode.INDIVIDUAL, {"concat": "maybe"}, "concat"),
        (Mode.INDIVIDUAL, {"concat_image": "ftp://x/y.png"}, "concat_image"),
        (Mode.MIXED, {"mix_model_id": "3"}, "mix_model_id"),
        (Mode.WEB_PAGE, {}, "mode"),
    ],
)
def test_tiw_clean_options_names_the_wrong_field(mode, options, field):
    adapter, _, _ = tiw(_refuse)
    with pytest.raises(ValueError, match=field):
        adapter.clean_options(mode, options)


def test_tiw_option_fields_offer_mix_stream_only_for_mixed():
    adapter, _, _ = tiw(_refuse)
    individual = {f.name for f in adapter.option_fields(Mode.INDIVIDUAL)}
    mixed = {f.name for f in adapter.option_fields(Mode.MIXED)}
    assert {
        "concat",
        "auto_stop_timeout",
        "record_only_streams",
        "skip_streams",
        "whiteboard_init_param",
    } <= individual
    assert mixed - individual == {"mix_model_id", "mix_teacher_id", "mix_disable_audio"}
    timeout = next(f for f in adapter.option_fields(Mode.INDIVIDUAL) if f.name == "auto_stop_timeout")
    assert (timeout.min_value, timeout.max_value) == (300, 86400)


def test_tic_clean_options_keeps_to_the_individual_mode_and_valid_json():
    adapter, _, _ = tic(_refuse)
    with pytest.raises(ValueError, match="mode"):
        adapter.clean_options(Mode.MIXED, {})
    with pytest.raises(ValueError, match="whiteboard_init_param"):
        adapter.clean_options(Mode.INDIVIDUAL, {"whiteboard_init_param": "not json"})
    assert {f.name for f in adapter.option_fields(Mode.INDIVIDUAL)} == {
        "whiteboard_width",
        "whiteboard_height",
        "whiteboard_init_param",
    }


# ---------------------------------------------------------------- callbacks registration and connection


def test_tiw_register_callback_sets_address_and_key():
    adapter, fake, records = tiw()
    message = adapter.register_callback("https://recdesk.example/hooks/tencent_tiw/3")
    assert [r.action for r in records] == ["SetOnlineRecordCallback", "SetOnlineRecordCallbackKey"]
    assert fake.callback == "https://recdesk.example/hooks/tencent_tiw/3"
    assert fake.callback_key == tiw_contract.CONFIG.secrets["callback_key"]
    assert "https://recdesk.example/hooks/tencent_tiw/3" in message
    assert tiw_contract.CONFIG.secrets["callback_key"] not in message


def test_tiw_register_callback_without_a_key_says_callbacks_will_be_rejected():
    secrets = {k: v for k, v in tiw_contract.CONFIG.secrets.items() if k != "callback_key"}
    adapter, fake, records = tiw(secrets=secrets)
    message = adapter.register_callback("https://recdesk.example/hooks/tencent_tiw/3")
    assert [r.action for r in records] == ["SetOnlineRecordCallback"]
    assert "reject" in message and fake.callback_key == ""


def test_tiw_check_connection_shows_the_callback_address_but_never_the_key():
    adapter, fake, _ = tiw()
    fake.callback, fake.callback_key = "https://recdesk.example/hooks/x", "the-key-itself"
    message = adapter.check_connection()
    assert "https://recdesk.example/hooks/x" in message and "the-key-itself" not in message


def test_tic_register_callback_posts_the_address():
    adapter, fake, _ = tic()
    adapter.register_callback("https://recdesk.example/hooks/tencent_tic/1")
    assert fake.callback == "https://recdesk.example/hooks/tencent_tic/1"
    with pytest.raises(VendorError) as caught:
        adapter.register_callback("recdesk.example/no-scheme")
    assert (caught.value.code, caught.value.kind) == ("20004", "invalid")


def test_tic_check_connection_reads_20005_as_accepted_credentials_and_20002_as_a_bad_key():
    adapter, fake, _ = tic()
    assert "accepted" in adapter.check_connection()
    assert json.loads(fake.requests[0].content) == {"task_id": tencent_tic.PROBE_TASK_ID}

    def wrong_key(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"error_code": 20002, "error_msg": "sign mismatch"})

    adapter, _, _ = tic(wrong_key)
    with pytest.raises(VendorError) as caught:
        adapter.check_connection()
    assert (caught.value.code, caught.value.kind) == ("20002", "auth")


# ---------------------------------------------------------------- state and recording errors


@pytest.mark.parametrize(
    ("code", "state", "reason"),
    [
        (40002, State.FINISHED, FinishReason.NO_FILE),
        (40004, State.FAILED, FinishReason.START_FAILED),
        (40005, State.FAILED, FinishReason.START_FAILED),
        (49999, State.FINISHED, FinishReason.EXCEPTION),
    ],
)
def test_tic_query_reports_a_recording_error_as_the_tasks_outcome(code, state, reason):
    def vendor(request: httpx.Request) -> httpx.Response:
        answer = tic_contract.fixture("tencent_tic", "query")
        answer.update(error_code=code, error_msg="recording error", video_info=[])
        return httpx.Response(200, json=answer)

    adapter, _, records = tic(vendor)
    status = adapter.query(TaskRef(task_id="g68cee8e90jcq4ogg8jb", room_id="1234", mode=Mode.INDIVIDUAL))
    assert (status.state, status.finish_reason, status.error_code) == (state, reason, str(code))
    assert records[0].error_kind == ""


def test_tiw_paused_running_task_reports_no_finish_reason_and_no_segments():
    adapter, fake, _ = tiw()
    ref = adapter.start(SPEC)
    adapter.pause(ref)
    status = adapter.query(ref)
    assert (status.state, status.vendor_state, status.finish_reason, status.segments) == (
        State.PAUSED,
        "PAUSED",
        None,
        (),
    )
    assert status.started_at == datetime.fromtimestamp(1558613140, tz=UTC) and status.stopped_at is None


def test_tiw_illegal_transitions_come_back_as_conflicts():
    adapter, _, _ = tiw()
    ref = adapter.start(SPEC)
    with pytest.raises(VendorError) as caught:
        adapter.resume(ref)
    assert (caught.value.code, caught.value.kind) == ("UnsupportedOperation.InvalidTaskStatus", "conflict")
    adapter.stop(ref)
    with pytest.raises(VendorError) as caught:
        adapter.stop(ref)
    assert caught.value.code == "UnsupportedOperation.TaskHasAlreadyStopped"


def test_segments_without_video_id_get_a_stable_id_from_their_url():
    adapter, _, _ = tiw()
    ref = adapter.start(dataclasses.replace(SPEC, mode=Mode.MIXED, intent_key="77"))
    adapter.stop(ref)
    adapter.query(ref)
    first, second = adapter.query(ref).segments, adapter.query(ref).segments
    whiteboard = [s for s in first if s.kind == SegmentKind.WHITEBOARD]
    assert whiteboard[0].file_id.startswith("url-") and [s.file_id for s in first] == [
        s.file_id for s in second
    ]
    assert whiteboard[0].width == 1280 and whiteboard[0].height == 960


@pytest.mark.parametrize("adapter_module", [tencent_tiw, tencent_tic])
def test_vocabulary_maps_speak_our_enums(adapter_module):
    assert all(isinstance(v, State) for v in adapter_module.STATES.values())
    assert all(isinstance(v, FinishReason) for v in adapter_module.FINISH_REASONS.values())
    assert set(VIDEO_TYPE_KINDS) == {0, 1, 2, 3, 4} and set(VIDEO_TYPE_KINDS.values()) == set(SegmentKind)


def test_tiw_state_and_finish_maps_are_the_documented_ones():
    assert tencent_tiw.STATES == {
        "PREPARED": State.STARTING,
        "RECORDING": State.RECORDING,
        "PAUSED": State.PAUSED,
        "STOPPED": State.PROCESSING,
        "FINISHED": State.FINISHED,
    }
    assert tencent_tiw.FINISH_REASONS == {
        "AUTO": FinishReason.IDLE,
        "USER_CALL": FinishReason.USER_CALL,
        "EXCEPTION": FinishReason.EXCEPTION,
        "FORCE_STOP": FinishReason.FORCE_STOP,
    }


# ---------------------------------------------------------------- error tables


def test_every_tiw_sdk_error_code_has_its_own_explanation():
    codes = [v for k, v in vars(errorcodes).items() if k.isupper() and isinstance(v, str)]
    assert len(codes) > 30
    for code in codes:
        explained = tencent_tiw.explain(code)
        assert explained is tencent_tiw.ERRORS[code], code
        assert explained.en and explained.zh and explained.fix_en and explained.fix_zh


def test_every_seed_004_error_code_has_its_own_explanation():
    documented = {20000, 20001, 20002, 20003, 20004, 20005, 20011, 20013, 20099}
    documented |= {40000, 40001, 40002, 40004, 40005, 49999}
    assert set(tencent_tic.ERRORS) == documented
    for code in documented:
        assert tencent_tic.explain(code) is tencent_tic.ERRORS[code]
    assert tencent_tic.explain(20077).en != tencent_tic.explain(47777).en


def test_update_layout_and_whiteboard_are_refused_without_a_call():
    for adapter in (tiw(_refuse)[0], tic(_refuse)[0]):
        ref = TaskRef(task_id="t", room_id="1234", mode=Mode.INDIVIDUAL)
        for method, argument in ((adapter.update_layout, {}), (adapter.update_whiteboard, {})):
            with pytest.raises(VendorError) as caught:
                method(ref, argument)
            assert caught.value.kind == "invalid"


# ---------------------------------------------------------------- callback edges


def _tiw_sample(name: str):
    return next(s for s in tiw_contract.CALLBACKS.samples if s.name == name)


def test_tiw_callback_is_rejected_when_the_app_has_no_callback_key():
    secrets = {k: v for k, v in tiw_contract.CONFIG.secrets.items() if k != "callback_key"}
    adapter, _, _ = tiw(_refuse, secrets=secrets)
    sample = _tiw_sample("started")
    with pytest.raises(CallbackRejected, match="no callback key"):
        adapter.verify(sample.body, {}, {}, sample.now)


def test_tiw_callback_for_another_app_is_rejected():
    adapter, _, _ = tiw(_refuse, app_id="1400000002")
    sample = _tiw_sample("started")
    with pytest.raises(CallbackRejected, match="SdkAppId"):
        adapter.verify(sample.body, {}, {}, sample.now)


@pytest.mark.parametrize("body", [b"", b"not json", b"[1, 2]"])
def test_a_callback_body_that_is_not_a_json_object_is_rejected(body):
    adapter, _, _ = tiw(_refuse)
    with pytest.raises(CallbackRejected):
        adapter.verify(body, {}, {}, datetime.now(tz=UTC))
    adapter, _, _ = tic(_refuse)
    with pytest.raises(CallbackRejected):
        adapter.parse(body, {}, {})


@pytest.mark.parametrize(
    ("finish_reason", "expected"),
    [
        ("EXCEPTION", FinishReason.EXCEPTION),
        ("FORCE_STOP", FinishReason.FORCE_STOP),
        ("", FinishReason.UNKNOWN),
    ],
)
def test_tiw_finished_callback_maps_its_finish_reason(finish_reason, expected):
    adapter, _, _ = tiw(_refuse)
    payload = json.loads(_tiw_sample("finished").body)
    payload["EventData"]["FinishReason"] = finish_reason
    [event] = adapter.parse(json.dumps(payload).encode(), {}, {})
    assert event.finish_reason == expected and event.record_user_id == "tic_record_user_1253_01"
    assert event.started_at == datetime.fromtimestamp(1558613140, tz=UTC)


def test_tiw_unknown_event_is_parsed_as_other_without_state():
    adapter, _, _ = tiw(_refuse)
    payload = json.loads(_tiw_sample("started").body)
    payload["EventType"] = "TranscodeFinished"
    [event] = adapter.parse(json.dumps(payload).encode(), {}, {})
    assert (event.kind, event.state) == (EventKind.OTHER, None)


def test_tic_finished_callback_with_an_im_login_error_is_a_failure():
    adapter, _, _ = tic(_refuse)
    payload = tic_contract.fixture("tencent_tic", "callback_record_finished")
    payload.update(error_code=40004, error_msg="im login failed", video_info=[])
    [event] = adapter.parse(json.dumps(payload).encode(), {}, {})
    assert (event.kind, event.state, event.finish_reason) == (
        EventKind.FAILED,
        State.FAILED,
        FinishReason.START_FAILED,
    )
    assert (event.error_code, event.error_message) == ("40004", "im login failed")


def test_tic_callback_for_another_app_is_rejected():
    adapter, _, _ = tic(_refuse)
    sample = tic_contract.CALLBACKS.samples[0]
    with pytest.raises(CallbackRejected, match="sdkappid"):
        adapter.verify(sample.body, {}, dict(sample.query, sdkappid="1400000009"), sample.now)
