"""ZEGO adapter edges beyond the shared contract: lost starts through DescribeTasks, storage codes,
abnormal ends, layout and whiteboard updates, callback meanings."""

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
    SegmentKind,
    State,
    StorageSpec,
    TaskRef,
    VendorError,
)
from recordings.vendors.http import CallRecord, VendorHttp, make_client
from recordings.vendors.zego import ZegoAdapter, mix_stream_id
from tests.unit.contract import zego as contract


def _adapter(handler, config=contract.CONFIG):
    records: list[CallRecord] = []
    client = make_client(config.base_url, httpx.MockTransport(handler))
    return ZegoAdapter(config, VendorHttp(client, recorder=records.append)), records


def _spec(mode: Mode, **changes):
    spec = next(s for s in contract.START_SPECS if s.mode == mode)
    return dataclasses.replace(spec, **changes)


def _answer(data: dict | None = None, code: int = 0):
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, json={"Code": code, "Message": "m", "RequestId": "rq-1", "Data": data or {}}
        )

    return handler


def test_recover_start_finds_nothing_when_the_start_never_arrived():
    fake = contract.FakeVendor()
    adapter, records = _adapter(fake)
    assert adapter.recover_start(_spec(Mode.INDIVIDUAL)) is None
    assert fake.started_count == 0 and [r.action for r in records] == ["DescribeTasks"]


def test_recover_start_cannot_choose_between_two_running_tasks():
    fake = contract.FakeVendor()
    adapter, _ = _adapter(fake)
    adapter.start(_spec(Mode.INDIVIDUAL))
    adapter.start(_spec(Mode.INDIVIDUAL, intent_key="other"))
    with pytest.raises(VendorError) as caught:
        adapter.recover_start(_spec(Mode.INDIVIDUAL))
    assert (caught.value.code, caught.value.kind) == ("ambiguous_tasks", "conflict")
    assert caught.value.explanation_zh and fake.started_count == 2


def test_recover_start_ignores_tasks_of_other_rooms():
    fake = contract.FakeVendor()
    adapter, _ = _adapter(fake)
    adapter.start(_spec(Mode.INDIVIDUAL, room_id="another-room"))
    assert adapter.recover_start(_spec(Mode.INDIVIDUAL)) is None


def test_every_call_is_recorded_with_zegos_request_id():
    adapter, records = _adapter(_answer({"TaskId": "X3CgNeE4I1qAAABN"}))
    adapter.start(_spec(Mode.INDIVIDUAL))
    assert [(r.action, r.request_id) for r in records] == [("StartRecord", "rq-1")]


def test_resume_of_a_running_task_is_a_conflict():
    fake = contract.FakeVendor()
    adapter, _ = _adapter(fake)
    ref = adapter.start(_spec(Mode.INDIVIDUAL))
    with pytest.raises(VendorError) as caught:
        adapter.resume(ref)
    assert (caught.value.code, caught.value.kind) == ("300001004", "conflict")


def test_mixed_start_names_its_output_stream_and_records_the_whiteboard():
    fake = contract.FakeVendor()
    adapter, _ = _adapter(fake)
    adapter.start(_spec(Mode.MIXED))
    body = json.loads(fake.requests[-1].content)
    record_input = body["RecordInputParams"]
    assert record_input["MixConfig"]["MixOutputStreamId"] == mix_stream_id("302")
    assert record_input["HasWhiteboard"] is True and record_input["Whiteboard"]["WhiteboardId"] == "wb-123456"
    assert body["RecordOutputParams"]["OutputFolder"] == "record/"


def test_layout_and_whiteboard_updates_carry_the_task():
    fake = contract.FakeVendor()
    adapter, records = _adapter(fake)
    ref = adapter.start(_spec(Mode.MIXED))
    adapter.update_layout(ref, {"MixMode": 3, "Other": 1})
    assert json.loads(fake.requests[-1].content) == {"TaskId": ref.task_id, "MixMode": 3}
    adapter.update_whiteboard(ref, {"WhiteboardId": "wb-2"})
    assert json.loads(fake.requests[-1].content) == {"TaskId": ref.task_id, "WhiteboardId": "wb-2"}
    assert [r.action for r in records][-2:] == ["UpdateLayout", "UpdateWhiteboard"]


@pytest.mark.parametrize(
    ("storage", "expected"),
    [
        (StorageSpec(provider="s3_compatible", region="r", bucket="b", endpoint="https://s3.do.example"),
         {"Vendor": 10, "EndPoint": "https://s3.do.example"}),
        (StorageSpec(provider="qiniu", region="z0", bucket="b"), {"Vendor": 4}),
        (StorageSpec(provider="google_gcs", region="US", bucket="b"), {"Vendor": 8}),
    ],
)  # fmt: skip
def test_storage_providers_become_zegos_vendor_codes(storage, expected):
    bodies = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return _answer({"TaskId": "T"})(request)

    adapter, _ = _adapter(handler)
    adapter.start(_spec(Mode.INDIVIDUAL, storage=storage))
    assert expected.items() <= bodies[0]["StorageParams"].items()


@pytest.mark.parametrize("storage", [None, StorageSpec(provider="vendor_vod", bucket="b")])
def test_storage_zego_cannot_use_is_refused_before_any_call(storage):
    adapter, records = _adapter(lambda request: pytest.fail("no call expected"))
    with pytest.raises(VendorError) as caught:
        adapter.start(_spec(Mode.INDIVIDUAL, storage=storage))
    assert caught.value.kind == "config" and caught.value.explanation_zh and records == []


def test_abnormal_end_without_files_failed_and_with_files_finished():
    ref = TaskRef("T", "6677", Mode.INDIVIDUAL)
    adapter, _ = _adapter(_answer({"Status": 4, "RecordBeginTimestamp": 1601221452099}))
    status = adapter.query(ref)
    assert (status.state, status.finish_reason) == (State.FAILED, FinishReason.EXCEPTION)
    files = [{"UserId": "u", "StreamId": "u", "FileId": "f.mp4", "OutputFileFormat": "mp4", "Duration": 1000,
              "MediaTrackType": 3, "BeginTimestamp": 1601221459830, "Status": 4}]  # fmt: skip
    adapter, _ = _adapter(_answer({"Status": 4, "RecordFiles": files}))
    status = adapter.query(ref)
    assert (status.state, status.finish_reason) == (State.FINISHED, FinishReason.UNKNOWN)
    assert "status 4" in status.finish_detail


def test_snapshots_are_not_segments():
    files = [{"UserId": "u", "StreamId": "u", "FileId": "shot.jpg", "OutputFileFormat": "jpg", "Status": 3},
             {"UserId": "u", "StreamId": "u", "FileId": "a.mp4", "OutputFileFormat": "mp4", "Duration": 5,
              "MediaTrackType": 2, "BeginTimestamp": 7, "Status": 3}]  # fmt: skip
    adapter, _ = _adapter(_answer({"Status": 2, "RecordFiles": files}))
    [segment] = adapter.query(TaskRef("T", "r", Mode.INDIVIDUAL)).segments
    assert (segment.file_id, segment.kind, segment.started_at_ms) == ("a.mp4", SegmentKind.CAMERA, 7)


def test_a_file_still_being_recorded_is_not_a_segment_yet():
    """A query while recording lists the open file (Status 1) with a length that still grows; the
    final file comes later, and storing both made one file twice (bench/callbacks.py)."""
    files = [{"UserId": "", "StreamId": "mix_r", "FileId": "open", "OutputFileFormat": "mp4", "Duration": 2000,
              "MediaTrackType": 3, "BeginTimestamp": 7, "Status": 1},
             {"UserId": "", "StreamId": "mix_r", "FileId": "done", "OutputFileFormat": "mp4", "Duration": 6000,
              "MediaTrackType": 3, "BeginTimestamp": 1, "Status": 3}]  # fmt: skip
    adapter, _ = _adapter(_answer({"Status": 2, "RecordFiles": files}))
    [segment] = adapter.query(TaskRef("T", "r", Mode.MIXED)).segments
    assert (segment.file_id, segment.duration_ms) == ("done", 6000)


def test_check_connection_reports_what_zego_said():
    adapter, _ = _adapter(contract.FakeVendor())
    assert "0" in adapter.check_connection()
    refused, records = _adapter(_answer(code=100000005))
    with pytest.raises(VendorError) as caught:
        refused.check_connection()
    assert caught.value.kind == "auth" and records[0].vendor_code == "100000005"


def test_register_callback_tells_the_admin_where_to_set_it():
    adapter, _ = _adapter(lambda request: pytest.fail("no call expected"))
    with pytest.raises(VendorError) as caught:
        adapter.register_callback("https://recdesk.example/hooks/zego/1")
    assert caught.value.kind == "invalid" and "https://recdesk.example/hooks/zego/1" in caught.value.fix_en


def _callback(event_type: int, detail: dict, **fields) -> bytes:
    payload = {"app_id": 1234567890, "task_id": "T", "room_id": "r", "event_type": event_type, "message": "m",
               "nonce": "1", "timestamp": "1637753949", "sequence": 3, "detail": detail, **fields}  # fmt: skip
    return json.dumps(contract.sign(payload, contract.CONFIG.secrets["callback_secret"])).encode()


@pytest.mark.parametrize(
    ("event_type", "detail", "kind", "state", "reason"),
    [
        (2, {"quit_reason": 1}, EventKind.FAILED, State.FAILED, FinishReason.START_FAILED),
        (2, {"quit_reason": 4}, EventKind.STOPPED, State.PROCESSING, FinishReason.MAX_DURATION),
        (2, {"quit_reason": 1008}, EventKind.FAILED, State.FAILED, FinishReason.EXCEPTION),
        (5, {}, EventKind.STOPPED, State.PROCESSING, None),
        (4, {}, EventKind.OTHER, None, None),
        (102, {"stream_id": "s", "file_id": "f.m3u8", "file_url": "u", "media_track_type": 3}, EventKind.OTHER,
         None, None),
    ],
)  # fmt: skip
def test_callback_events_mean_what_zego_documents(event_type, detail, kind, state, reason):
    adapter, _ = _adapter(lambda request: pytest.fail("no call expected"))
    body = _callback(event_type, detail)
    adapter.verify(body, {}, {}, datetime.fromtimestamp(1637753950, tz=UTC))
    [event] = adapter.parse(body, {}, {})
    assert (event.kind, event.state, event.finish_reason) == (kind, state, reason)
    assert event.delivery_key == f"T:{event_type}:3"


def test_uploaded_mix_file_is_the_mixed_lane():
    info = [{"user_id": mix_stream_id("302"), "stream_id": mix_stream_id("302"), "file_id": "m.mp4",
             "output_file_format": "mp4", "duration": 9, "begin_timestamp": 11, "media_track_type": 3,
             "status": 3}]  # fmt: skip
    adapter, _ = _adapter(lambda request: pytest.fail("no call expected"))
    [event] = adapter.parse(_callback(1, {"upload_status": 1, "file_info": info}), {}, {})
    [segment] = event.segments
    assert (segment.user_id, segment.kind, segment.duration_ms, segment.started_at_ms) == (
        "", SegmentKind.MIXED, 9, 11,
    )  # fmt: skip


def test_verify_refuses_a_callback_from_the_future_and_a_missing_nonce():
    adapter, _ = _adapter(lambda request: pytest.fail("no call expected"))
    with pytest.raises(CallbackRejected, match="too far"):
        adapter.verify(_callback(5, {}), {}, {}, datetime.fromtimestamp(1637753949 - 3600, tz=UTC))
    payload = json.loads(_callback(5, {}))
    del payload["nonce"]
    with pytest.raises(CallbackRejected, match="nonce"):
        adapter.verify(json.dumps(payload).encode(), {}, {}, datetime.fromtimestamp(1637753949, tz=UTC))


def test_a_file_uploading_is_listed_without_url_or_size_until_uploaded():
    def file(status: int, duration: int, size: int) -> dict:
        return {"UserId": mix_stream_id("302"), "StreamId": mix_stream_id("302"), "FileId": "1234",
                "FileUrl": "https://bucket.example/rec/0001.mp4", "OutputFileFormat": "mp4",
                "FileSize": size, "Duration": duration, "MediaTrackType": 3, "BeginTimestamp": 7,
                "Status": status}  # fmt: skip

    ref = TaskRef("T", "r", Mode.MIXED)
    answers = [(3, file(2, 61_000, 1_800)), (3, file(3, 61_000, 2_000)),
               (3, file(4, 61_000, 2_000)), (3, file(5, 61_000, 0))]  # fmt: skip
    seen = []
    for task_status, entry in answers:
        adapter, _ = _adapter(_answer({"Status": task_status, "RecordFiles": [entry]}))
        status = adapter.query(ref)
        [segment] = status.segments
        seen.append((status.state, segment.file_id, segment.duration_ms, segment.size_bytes, segment.url))
    url = "https://bucket.example/rec/0001.mp4"
    assert seen == [
        (State.PROCESSING, "1234", 61_000, 0, ""),  # uploading: still not in the bucket
        (State.FINISHED, "1234", 61_000, 2_000, url),  # uploaded
        (State.FINISHED, "1234", 61_000, 2_000, url),  # on ZEGO's backup storage
        (State.FINISHED, "1234", 61_000, 0, url),  # upload failed: ZEGO's word, archiving will tell
    ]


def test_the_upload_callback_reads_each_files_status_too():
    info = [{"stream_id": mix_stream_id("302"), "file_id": "m.mp4", "file_url": "https://b.example/m.mp4",
             "output_file_format": "mp4", "file_size": 5, "duration": 9, "begin_timestamp": 11,
             "media_track_type": 3, "status": status} for status in (3, 2)]  # fmt: skip
    info[1]["file_id"] = "n.mp4"
    adapter, _ = _adapter(lambda request: pytest.fail("no call expected"))
    [event] = adapter.parse(_callback(1, {"upload_status": 2, "file_info": info}), {}, {})
    assert [(s.file_id, s.size_bytes, s.url) for s in event.segments] == [
        ("m.mp4", 5, "https://b.example/m.mp4"),
        ("n.mp4", 0, ""),
    ]
