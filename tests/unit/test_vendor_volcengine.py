"""Volcengine adapter edges beyond the shared contract: TaskIds chosen from the intent, repeated starts,
lost starts, storage configs, no pause, failures, callback time formats."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime

import httpx
import pytest

from recordings.vendors.base import (
    CallbackRejected,
    EventKind,
    FinishReason,
    Mode,
    StartSpec,
    State,
    StorageSpec,
    TaskRef,
    VendorError,
)
from recordings.vendors.http import CallRecord, VendorHttp, make_client
from recordings.vendors.volcengine import TASK_ID_PATTERN, VolcengineAdapter, task_id_for
from tests.unit.contract import volcengine as contract


def _adapter(handler, config=contract.CONFIG):
    records: list[CallRecord] = []
    client = make_client(config.base_url, httpx.MockTransport(handler))
    return VolcengineAdapter(config, VendorHttp(client, recorder=records.append)), records


def _spec(mode: Mode, **changes) -> StartSpec:
    spec = next(s for s in contract.START_SPECS if s.mode == mode)
    return dataclasses.replace(spec, **changes)


def test_task_ids_derive_from_the_intent_and_stay_legal():
    spec = _spec(Mode.MIXED)
    assert task_id_for(spec) == task_id_for(spec) == "rd-m-402"
    odd = _spec(Mode.INDIVIDUAL, intent_key="class 7/α")
    assert TASK_ID_PATTERN.match(task_id_for(odd)) and task_id_for(odd) != task_id_for(_spec(Mode.INDIVIDUAL))


def test_a_repeated_start_of_a_running_intent_returns_the_same_recording():
    fake = contract.FakeVendor()
    adapter, records = _adapter(fake)
    first = adapter.start(_spec(Mode.INDIVIDUAL))
    again = adapter.start(_spec(Mode.INDIVIDUAL))
    assert first == again and fake.started_count == 1
    assert [r.request_id for r in records] == ["Your_RequestId", "Your_RequestId"]


def test_recover_start_reads_the_intents_task_or_none():
    fake = contract.FakeVendor()
    adapter, _ = _adapter(fake)
    assert adapter.recover_start(_spec(Mode.MIXED)) is None
    ref = adapter.start(_spec(Mode.WHITEBOARD))
    recovered = adapter.recover_start(_spec(Mode.WHITEBOARD))
    assert recovered == ref and recovered.record_user_id.startswith("recdesk_wb_")
    assert fake.started_count == 1


def test_recover_start_reports_what_it_cannot_read():
    adapter, _ = _adapter(lambda request: httpx.Response(401, json=contract.fixture("volcengine", "error")))
    with pytest.raises(VendorError) as caught:
        adapter.recover_start(_spec(Mode.MIXED))
    assert caught.value.kind == "auth"


def test_whiteboard_stop_names_the_user_of_start():
    fake = contract.FakeVendor()
    adapter, _ = _adapter(fake)
    ref = adapter.start(_spec(Mode.WHITEBOARD))
    start_body = json.loads(fake.requests[0].content)
    assert start_body["SourceURL"] == "https://xxx.ui.rtc.com"
    adapter.stop(ref)
    assert json.loads(fake.requests[-1].content)["UserId"] == start_body["UserId"] == ref.record_user_id


def test_no_pause_and_layout_only_for_mixed_without_calls():
    adapter, records = _adapter(lambda request: pytest.fail("no call expected"))
    ref = TaskRef("rd-i-1", "r", Mode.INDIVIDUAL)
    for action in (adapter.pause, adapter.resume):
        with pytest.raises(VendorError) as caught:
            action(ref)
        assert caught.value.kind == "invalid" and caught.value.explanation_zh
    with pytest.raises(VendorError):
        adapter.update_layout(ref, {"Layout": {}})
    assert records == []


def test_update_layout_of_a_mix_is_update_record():
    fake = contract.FakeVendor()
    adapter, records = _adapter(fake)
    ref = adapter.start(_spec(Mode.MIXED))
    adapter.update_layout(ref, {"Layout": {"LayoutMode": 1}, "Other": 2})
    body = json.loads(fake.requests[-1].content)
    assert body == {"AppId": contract.CONFIG.app_id, "RoomId": "RoomId1", "TaskId": ref.task_id,
                    "Layout": {"LayoutMode": 1}}  # fmt: skip
    assert records[-1].action == "UpdateRecord"


@pytest.mark.parametrize(
    ("storage", "expected"),
    [
        (StorageSpec(provider="vendor_vod", bucket="my-space"), {"Type": 1, "VodConfig": {"Space": "my-space"}}),
        (StorageSpec(provider="aliyun_oss", region="cn-hangzhou", bucket="b", access_key="a", secret="s"),
         {"Type": 2, "CustomConfig": {"Vendor": 1, "Region": "cn-hangzhou", "Bucket": "b", "AccessKey": "a",
                                      "SecretKey": "s"}}),
        (None, None),
    ],
)  # fmt: skip
def test_storage_becomes_volcengines_storage_config(storage, expected):
    bodies = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return httpx.Response(200, json=contract.fixture("volcengine", "start_record"))

    adapter, _ = _adapter(handler)
    adapter.start(_spec(Mode.MIXED, storage=storage))
    assert bodies[0].get("StorageConfig") == expected


def test_storage_volcengine_cannot_use_is_refused_before_any_call():
    adapter, records = _adapter(lambda request: pytest.fail("no call expected"))
    with pytest.raises(VendorError) as caught:
        adapter.start(_spec(Mode.MIXED, storage=StorageSpec(provider="s3_compatible", bucket="b")))
    assert caught.value.kind == "config" and records == []


@pytest.mark.parametrize(
    ("status", "reason", "state", "finish"),
    [
        (4, "StartTaskFailed", State.FAILED, FinishReason.START_FAILED),
        (0, "", State.FAILED, FinishReason.EXCEPTION),
        (3, "IdleTimeOut", State.FINISHED, FinishReason.IDLE),
        (3, "UnknownStopReason", State.FINISHED, FinishReason.UNKNOWN),
        (1, "", State.STARTING, None),
    ],
)
def test_task_status_and_stop_reason_map_to_ours(status, reason, state, finish):
    answer = contract.fixture("volcengine", "get_record_task_mixed")
    answer["Result"]["RecordTask"].update(Status=status, StopReason=reason)
    adapter, _ = _adapter(lambda request: httpx.Response(200, json=answer))
    result = adapter.query(TaskRef("rd-m-1", "r", Mode.MIXED))
    assert (result.state, result.finish_reason) == (state, finish)


def test_check_connection_reaches_rtc_or_reports_the_key_problem():
    adapter, _ = _adapter(contract.FakeVendor())
    assert "accepted" in adapter.check_connection()
    refused, records = _adapter(
        lambda request: httpx.Response(401, json=contract.fixture("volcengine", "error"))
    )
    with pytest.raises(VendorError) as caught:
        refused.check_connection()
    assert caught.value.code == "SignatureDoesNotMatch" and records[0].http_status == 401


def test_register_callback_tells_the_admin_where_to_set_it():
    adapter, _ = _adapter(lambda request: pytest.fail("no call expected"))
    with pytest.raises(VendorError) as caught:
        adapter.register_callback("https://recdesk.example/hooks/volcengine/1")
    assert (
        caught.value.kind == "invalid" and "https://recdesk.example/hooks/volcengine/1" in caught.value.fix_en
    )


@pytest.mark.parametrize("event_time", ["1611736812853", "1611736812", "2021-01-27T16:40:12.853+08:00"])
def test_callback_event_time_in_any_of_the_plausible_formats(event_time):
    payload = contract.sign(
        {"EventType": "RecordStarted", "EventData": json.dumps({"TaskId": "rd-m-1", "RoomId": "r"}),
         "EventTime": event_time, "EventId": "e", "AppId": contract.CONFIG.app_id, "Version": "2020-12-01",
         "Nonce": "n"},
        contract.CONFIG.secrets["callback_secret"],
    )  # fmt: skip
    adapter, _ = _adapter(lambda request: pytest.fail("no call expected"))
    body = json.dumps(payload).encode()
    adapter.verify(body, {}, {}, datetime(2021, 1, 27, 8, 41, tzinfo=UTC))
    [event] = adapter.parse(body, {}, {})
    assert event.kind == EventKind.STARTED and abs(event.occurred_at.timestamp() - 1611736812) < 1


def test_verify_refuses_an_unreadable_event_time():
    payload = contract.sign(
        {"EventType": "RecordStarted", "EventData": "{}", "EventTime": "yesterday", "EventId": "e",
         "AppId": contract.CONFIG.app_id, "Version": "2020-12-01", "Nonce": "n"},
        contract.CONFIG.secrets["callback_secret"],
    )  # fmt: skip
    adapter, _ = _adapter(lambda request: pytest.fail("no call expected"))
    with pytest.raises(CallbackRejected, match="EventTime"):
        adapter.verify(json.dumps(payload).encode(), {}, {}, datetime(2021, 1, 27, tzinfo=UTC))
