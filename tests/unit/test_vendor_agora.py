"""Agora adapter edges beyond the shared contract: lost starts, storage codes, options, web-only pause,
connection check, console-only callback registration, NCS meanings."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime

import httpx
import pytest

from recordings.vendors.agora import AgoraAdapter, recorder_uid
from recordings.vendors.base import (
    CallbackRejected,
    EventKind,
    FinishReason,
    Mode,
    SegmentKind,
    State,
    StorageSpec,
    TaskRef,
    VendorError,
)
from recordings.vendors.http import CallRecord, VendorHttp, make_client
from tests.unit.contract import agora as contract


def _adapter(handler, config=contract.CONFIG):
    records: list[CallRecord] = []
    client = make_client(config.base_url, httpx.MockTransport(handler))
    return AgoraAdapter(config, VendorHttp(client, recorder=records.append)), records


def _spec(mode: Mode, **changes):
    spec = next(s for s in contract.START_SPECS if s.mode == mode)
    return dataclasses.replace(spec, **changes)


def test_recorder_uid_is_stable_per_intent_and_clear_of_small_user_ids():
    assert recorder_uid("42") == recorder_uid("42") != recorder_uid("43")
    assert all(2**31 <= int(recorder_uid(str(i))) < 2**32 for i in range(200))


def test_recover_start_after_a_start_that_never_arrived_makes_the_one_recording():
    fake = contract.FakeVendor()
    adapter, _ = _adapter(fake)
    ref = adapter.recover_start(_spec(Mode.MIXED))
    assert ref is not None and ref.sid and fake.started_count == 1
    assert ref.record_user_id == recorder_uid("202")


def test_recover_start_after_a_start_that_arrived_is_refused_by_uid_and_says_so():
    fake = contract.FakeVendor()
    adapter, records = _adapter(fake)
    adapter.start(_spec(Mode.INDIVIDUAL))
    with pytest.raises(VendorError) as caught:
        adapter.recover_start(_spec(Mode.INDIVIDUAL))
    assert (caught.value.code, caught.value.kind, caught.value.retryable) == ("53", "conflict", False)
    assert "sid" in caught.value.explanation_en and "NCS" in caught.value.fix_en
    assert fake.started_count == 1
    assert [r.action for r in records] == ["acquire", "start", "acquire", "start"]


def _start_body(storage: StorageSpec) -> dict:
    bodies = []

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/acquire"):
            return httpx.Response(200, json={"resourceId": "rid"})
        bodies.append(json.loads(request.content))
        return httpx.Response(200, json={"cname": "c", "uid": "1", "resourceId": "rid", "sid": "sid1"})

    adapter, _ = _adapter(answer)
    adapter.start(_spec(Mode.MIXED, storage=storage))
    return bodies[0]["clientRequest"]["storageConfig"]


def test_storage_s3_compatible_is_vendor_11_with_its_endpoint():
    storage = StorageSpec(provider="s3_compatible", region="", bucket="b", endpoint="minio.example:9000",
                          access_key="a", secret="s")  # fmt: skip
    config = _start_body(storage)
    assert config["vendor"] == 11 and config["region"] == 0
    assert config["extensionParams"] == {"endpoint": "minio.example:9000"}
    assert "fileNamePrefix" not in config


@pytest.mark.parametrize(
    ("provider", "region", "vendor", "number"),
    [("aliyun_oss", "oss-cn-shanghai", 2, 1), ("s3", "ap-southeast-1", 1, 8), ("tencent_cos", "3", 3, 3)],
)
def test_storage_regions_become_agoras_numbers(provider, region, vendor, number):
    config = _start_body(
        StorageSpec(provider=provider, region=region, bucket="b", access_key="a", secret="s")
    )
    assert (config["vendor"], config["region"]) == (vendor, number)


@pytest.mark.parametrize(
    ("storage", "code"),
    [
        (None, "storage_required"),
        (StorageSpec(provider="qiniu", region="0", bucket="b"), "storage_unsupported"),
        (StorageSpec(provider="tencent_cos", region="ap-guangzhou", bucket="b"), "storage_region"),
    ],
)
def test_storage_agora_cannot_use_is_a_config_error_before_any_call(storage, code):
    calls = []
    adapter, _ = _adapter(
        lambda request: calls.append(request) or httpx.Response(200, json={"resourceId": "r"})
    )
    with pytest.raises(VendorError) as caught:
        adapter.start(_spec(Mode.INDIVIDUAL, storage=storage))
    assert (caught.value.code, caught.value.kind) == (code, "config")
    assert caught.value.explanation_zh and caught.value.fix_en
    # acquire may have run; start never did.
    assert not any(r.url.path.endswith("/start") for r in calls)


@pytest.mark.parametrize(
    ("mode", "options", "field"),
    [
        (Mode.WEB_PAGE, {"url": "https://x.example", "videoWidth": 1920, "videoHeight": 1920}, "videoWidth"),
        (Mode.WEB_PAGE, {"url": "https://x.example", "maxRecordingHour": 721}, "maxRecordingHour"),
        (Mode.WEB_PAGE, {"url": "https://x.example", "maxVideoDuration": 20}, "maxVideoDuration"),
        (Mode.WEB_PAGE, {"url": "ftp://x.example"}, "url"),
        (Mode.WEB_PAGE, {}, "url"),
        (Mode.MIXED, {"avFileType": ["mp4"]}, "avFileType"),
        (Mode.MIXED, {"mixedVideoLayout": 3}, "layoutConfig"),
        (Mode.INDIVIDUAL, {"maxIdleTime": 2}, "maxIdleTime"),
    ],
)
def test_clean_options_names_the_field_it_refuses(mode, options, field):
    adapter, _ = _adapter(lambda request: httpx.Response(500))
    with pytest.raises(ValueError, match=field):
        adapter.clean_options(mode, options)


def test_clean_options_fills_the_web_defaults_from_the_app():
    config = dataclasses.replace(contract.CONFIG, max_duration_seconds=5 * 3600 + 1)
    adapter, _ = _adapter(lambda request: httpx.Response(500), config)
    cleaned = adapter.clean_options(Mode.WEB_PAGE, {"url": "https://x.example", "ignored": 1})
    assert cleaned["maxRecordingHour"] == 6 and cleaned["avFileType"] == ["hls", "mp4"]
    assert "ignored" not in cleaned


def test_pause_exists_only_for_web_pages_and_never_calls_agora():
    adapter, records = _adapter(lambda request: pytest.fail("no call expected"))
    ref = TaskRef(task_id="s", room_id="c", mode=Mode.MIXED, resource_id="r", sid="s", record_user_id="1")
    for action in (adapter.pause, adapter.resume):
        with pytest.raises(VendorError) as caught:
            action(ref)
        assert caught.value.kind == "invalid" and caught.value.explanation_zh
    assert records == []


def test_update_layout_sends_only_layout_fields_to_update_layout():
    fake = contract.FakeVendor()
    adapter, _ = _adapter(fake)
    ref = adapter.start(_spec(Mode.MIXED))
    adapter.update_layout(ref, {"mixedVideoLayout": 2, "backgroundColor": "#000000", "surprise": True})
    request = fake.requests[-1]
    assert request.url.path.endswith(f"/sid/{ref.sid}/mode/mix/updateLayout")
    assert json.loads(request.content)["clientRequest"] == {
        "mixedVideoLayout": 2,
        "backgroundColor": "#000000",
    }


def test_query_reads_a_string_file_list_with_its_slice_start():
    # Status 7: every component has stopped, so the listed playlist is whole.
    answer = {"resourceId": "r", "sid": "s", "serverResponse": {"status": 7, "fileListMode": "string",
              "fileList": "s_c.m3u8", "sliceStartTime": 1562724971626}}  # fmt: skip
    adapter, _ = _adapter(lambda request: httpx.Response(200, json=answer))
    status = adapter.query(TaskRef("s", "c", Mode.MIXED, resource_id="r", sid="s", record_user_id="1"))
    [segment] = status.segments
    assert (segment.file_id, segment.kind, segment.started_at_ms, segment.format, segment.object_key) == (
        "s_c.m3u8",
        SegmentKind.MIXED,
        1562724971626,
        "hls",
        "s_c.m3u8",
    )


def test_query_while_recording_lists_no_files_because_they_are_still_growing():
    answer = {"resourceId": "r", "sid": "s", "serverResponse": {"status": 5, "fileListMode": "string",
              "fileList": "s_c.m3u8", "sliceStartTime": 1562724971626}}  # fmt: skip
    adapter, _ = _adapter(lambda request: httpx.Response(200, json=answer))
    status = adapter.query(TaskRef("s", "c", Mode.MIXED, resource_id="r", sid="s", record_user_id="1"))
    assert status.state == State.RECORDING
    assert status.segments == ()


def test_stop_answer_names_the_objects_and_ends_each_lane_at_the_answer_time():
    answer = {"resourceId": "r", "sid": "s", "cname": "c", "uid": "1", "serverResponse": {
        "extensionServiceState": [{"serviceName": "web_recorder_service", "payload": {
            "uploadingStatus": "uploaded", "state": "exit", "fileList": [
                {"filename": "classes/s_c_1.mp4", "sliceStartTime": 1700000060000},
                {"filename": "classes/s_c_0.mp4", "sliceStartTime": 1700000000000},
            ]}}]}}  # fmt: skip
    date = "Tue, 14 Nov 2023 22:15:20 GMT"  # 1700000120000 ms
    adapter, _ = _adapter(lambda request: httpx.Response(200, json=answer, headers={"Date": date}))
    status = adapter.stop(TaskRef("s", "c", Mode.WEB_PAGE, resource_id="r", sid="s", record_user_id="1"))
    assert status is not None and status.state == State.PROCESSING
    assert status.stopped_at == datetime(2023, 11, 14, 22, 15, 20, tzinfo=UTC)
    # The first file ends where the next begins; the last by the answer's time, which bounds it.
    assert [(s.object_key, s.started_at_ms, s.duration_ms, s.duration_is_bound) for s in status.segments] == [
        ("classes/s_c_0.mp4", 1700000000000, 60000, False),
        ("classes/s_c_1.mp4", 1700000060000, 60000, True),
    ]


def test_abnormal_exit_is_failed():
    answer = {"resourceId": "r", "sid": "s", "serverResponse": {"status": 20, "fileList": []}}
    adapter, _ = _adapter(lambda request: httpx.Response(200, json=answer))
    status = adapter.query(TaskRef("s", "c", Mode.INDIVIDUAL, resource_id="r", sid="s", record_user_id="1"))
    assert (status.state, status.finish_reason) == (State.FAILED, FinishReason.EXCEPTION)


def test_check_connection_accepts_a_missing_recording_and_refuses_bad_credentials():
    adapter, _ = _adapter(contract.FakeVendor())
    assert "accepted" in adapter.check_connection()
    refused, records = _adapter(
        lambda r: httpx.Response(401, json={"message": "Invalid authentication credentials"})
    )
    with pytest.raises(VendorError) as caught:
        refused.check_connection()
    assert caught.value.kind == "auth" and records[0].http_status == 401


def test_register_callback_tells_the_admin_where_to_set_it():
    adapter, records = _adapter(lambda request: pytest.fail("no call expected"))
    with pytest.raises(VendorError) as caught:
        adapter.register_callback("https://recdesk.example/hooks/agora/1")
    assert caught.value.kind == "invalid" and "https://recdesk.example/hooks/agora/1" in caught.value.fix_en
    assert "https://recdesk.example/hooks/agora/1" in caught.value.fix_zh and records == []


def _notice(event_type: int, details: dict, **payload) -> bytes:
    body = {"noticeId": "n1", "productId": 3, "eventType": event_type, "notifyMs": 1611566412672,
            "payload": {"cname": "c", "uid": "1", "sid": "s", "sequence": 4, "sendts": 1611566412000,
                        "details": details, **payload}}  # fmt: skip
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    ("event_type", "details", "kind", "state", "reason"),
    [
        (41, {"msgName": "recorder_leave", "leaveCode": 4}, EventKind.STOPPED, State.PROCESSING, FinishReason.IDLE),
        (41, {"msgName": "recorder_leave", "leaveCode": 8}, EventKind.STOPPED, State.PROCESSING,
         FinishReason.EXCEPTION),
        (11, {"msgName": "session_exit", "exitStatus": 1}, EventKind.FAILED, State.FAILED, FinishReason.EXCEPTION),
        (71, {"msgName": "web_recorder_stopped", "code": 4}, EventKind.STOPPED, State.PROCESSING,
         FinishReason.START_FAILED),
        (33, {"msgName": "uploading_progress", "progress": 5000}, EventKind.OTHER, None, None),
    ],
)  # fmt: skip
def test_ncs_events_mean_what_agora_documents(event_type, details, kind, state, reason):
    adapter, _ = _adapter(lambda request: pytest.fail("no call expected"))
    [event] = adapter.parse(_notice(event_type, details), {}, {})
    assert (event.kind, event.state, event.finish_reason) == (kind, state, reason)
    assert event.delivery_key == "s:4" and event.record_user_id == "1" and event.room_id == "c"
    assert event.occurred_at == datetime.fromtimestamp(1611566412, tz=UTC)


def test_uploaded_files_of_a_mix_form_the_mixed_lane():
    files = [{"fileName": "s_c_0.mp4", "trackType": "audio_and_video", "uid": "0", "mixedAllUser": True,
              "sliceStartTime": 1611566213000}]  # fmt: skip
    adapter, _ = _adapter(lambda request: pytest.fail("no call expected"))
    [event] = adapter.parse(_notice(31, {"msgName": "uploaded", "fileList": files}), {}, {})
    [segment] = event.segments
    assert (segment.user_id, segment.kind, segment.format) == ("", SegmentKind.MIXED, "mp4")
    # The object key names the file in the bucket; it ends no later than the notice was sent.
    assert (segment.object_key, segment.duration_ms) == ("s_c_0.mp4", 199000)


@pytest.mark.parametrize("event_type", [40, 70])
def test_recorder_started_gives_the_recordings_origin(event_type):
    adapter, _ = _adapter(lambda request: pytest.fail("no call expected"))
    [event] = adapter.parse(_notice(event_type, {}), {}, {})
    assert event.state == State.RECORDING
    assert event.started_at == datetime.fromtimestamp(1611566412, tz=UTC)


def test_verify_refuses_when_the_app_has_no_ncs_secret():
    config = dataclasses.replace(contract.CONFIG, secrets={"customer_id": "c", "customer_secret": "s"})
    adapter, _ = _adapter(lambda request: pytest.fail("no call expected"), config)
    sample = contract.CALLBACKS.samples[0]
    with pytest.raises(CallbackRejected, match="NCS secret"):
        adapter.verify(sample.body, dict(sample.headers), {}, sample.now)
