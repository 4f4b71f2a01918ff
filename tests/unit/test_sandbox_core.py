"""The sandbox core in-process: segments, idle stop, faults, callbacks, persistence, clock, scenarios.

Driven through the real Tencent TIC protocol (``core.dispatch``), with the manual clock.
"""

from __future__ import annotations

import email.message
import hashlib
import json
import time
import urllib.parse

import pytest
import TLSSigAPIv2

from recordings.sandbox import model, scenarios
from recordings.sandbox.clock import SimClock
from recordings.sandbox.core import Sandbox
from recordings.sandbox.protocol import Request
from recordings.sandbox.server import load_protocols
from tests.sandbox_support import CallbackSink

APP = "1400127115"
TIC_KEY = "9016607A382749C69D4F4B00C61DD083"
USERSIG_KEY = "unit-usersig-key"
VENDOR = "tencent_tic"


def open_core(tmp_path) -> Sandbox:
    core = Sandbox(state_path=tmp_path / "state.sqlite3", media_dir=tmp_path / "media", manual=True)
    core.protocols = load_protocols(core)
    return core


@pytest.fixture
def core(tmp_path):
    sandbox = open_core(tmp_path)
    with sandbox.lock:
        sandbox.provision(VENDOR, APP, {"tic_key": TIC_KEY, "usersig_key": USERSIG_KEY})
    yield sandbox
    sandbox.close()


@pytest.fixture
def sink():
    receiver = CallbackSink()
    yield receiver
    receiver.close()


def tic(core: Sandbox, action: str, body: dict):
    expire = int(time.time()) + 60
    query = {
        "sdkappid": APP,
        "sign": hashlib.md5(f"{TIC_KEY}{expire}".encode()).hexdigest(),
        "expire_time": str(expire),
        "random": "7",
    }
    headers = email.message.Message()
    headers["Content-Type"] = "application/json"
    request = Request(
        method="POST",
        path=f"/record/v1/online/{action}",
        query_string=urllib.parse.urlencode(query),
        query=query,
        headers=headers,
        body=json.dumps(body).encode(),
    )
    return core.dispatch(VENDOR, request)


def tic_json(core: Sandbox, action: str, body: dict) -> dict:
    response = tic(core, action, body)
    assert response.status == 200
    return json.loads(response.body)


def start(core: Sandbox, room_id: int, scenario) -> str:
    with core.lock:
        core.set_room(VENDOR, APP, str(room_id), scenario)
    user = f"tic_record_user_{room_id}_1"
    sig = TLSSigAPIv2.TLSSigAPIv2(int(APP), USERSIG_KEY).gen_sig(user, 3600)
    reply = tic_json(core, "start", {"room_id": room_id, "user_id": user, "user_sig": sig})
    assert reply["error_code"] == 0
    return reply["task_id"]


def task_of(core: Sandbox, task_id: str) -> model.Task:
    return core.task(VENDOR, APP, task_id)


def test_segments_follow_presence_and_pauses(core):
    task_id = start(
        core,
        11,
        [
            {"user_id": "teacher", "kind": "camera", "intervals": [[0, None]]},
            {"user_id": "student", "kind": "camera", "intervals": [[30_000, 90_000]]},
            {"kind": "whiteboard", "intervals": [[0, None]]},
        ],
    )
    core.advance(2_000 + 58_000)
    assert tic_json(core, "pause", {"task_id": task_id})["error_code"] == 0
    core.advance(2_000 + 28_000)
    assert tic_json(core, "resume", {"task_id": task_id})["error_code"] == 0
    core.advance(2_000 + 30_000)
    assert tic_json(core, "stop", {"task_id": task_id})["error_code"] == 0
    core.advance(2_000)

    task = task_of(core, task_id)
    begin = task.intervals[0][0]
    # Each request takes effect 2 s after it was made; the student left when the pause ended.
    assert [[a - begin, b - begin] for a, b in task.intervals] == [[0, 60_000], [90_000, 122_000]]
    shape = [
        (s.user_id, s.kind, s.replay_offset_ms, s.duration_ms, s.start_ms - begin)
        for s in core.segments_of(task)
    ]
    assert shape == [
        ("teacher", "camera", 0, 60_000, 0),
        ("student", "camera", 30_000, 30_000, 30_000),
        ("", "whiteboard", 0, 60_000, 0),
        ("teacher", "camera", 60_000, 32_000, 90_000),
        ("", "whiteboard", 60_000, 32_000, 90_000),
    ]
    core.advance(10_000)
    result = tic_json(core, "query", {"task_id": task_id})
    assert result["status"] == "finished" and result["total_time"] == 92_000
    assert all(v["video_size"] > 0 for v in result["video_info"])


def test_a_file_keeps_its_id_from_the_first_listing_while_recording_to_the_last(core):
    # The teacher's second file appears before the student's in the listing, so the student's file
    # changes its place (and number) in the list while it records: its id must not change.
    task_id = start(
        core,
        12,
        [
            {"user_id": "teacher", "kind": "camera", "intervals": [[0, 20_000], [40_000, None]]},
            {"user_id": "student", "kind": "camera", "intervals": [[0, None]]},
        ],
    )
    listings = []
    for _ in range(3):
        core.advance(25_000)
        task = task_of(core, task_id)
        listings.append(
            {(s.user_id, s.start_ms): s.file_id for s in core.segments_of(task, include_open=True)}
        )
    assert tic_json(core, "stop", {"task_id": task_id})["error_code"] == 0
    core.advance(12_000)
    final = {(s.user_id, s.start_ms): s.file_id for s in core.segments_of(task_of(core, task_id))}

    assert [len(listing) for listing in listings] == [2, 3, 3] and len(final) == 3
    for listing in listings:
        assert all(final[file] == file_id for file, file_id in listing.items())
    assert len(set(final.values())) == 3


def test_an_empty_room_stops_the_recording_after_the_idle_timeout(core):
    task_id = start(core, 12, [{"user_id": "teacher", "kind": "camera", "intervals": [[0, 60_000]]}])
    core.advance(2_000)
    core.advance(60_000 + 299_000)
    assert task_of(core, task_id).state == model.RECORDING
    core.advance(1_000)
    task = task_of(core, task_id)
    assert (task.state, task.finish_reason) == (model.STOPPED, model.REASON_IDLE)
    core.advance(10_000)
    assert tic_json(core, "query", {"task_id": task_id})["finish_reason"] == "auto"


def test_idle_stop_fault_and_stuck_prepared(core):
    with core.lock:
        core.faults.set({"vendor": VENDOR, "idle_stop_after_ms": 10_000}, core.now_ms())
    task_id = start(core, 13, "classroom")
    core.advance(2_000 + 10_000)
    assert task_of(core, task_id).finish_reason == model.REASON_IDLE

    with core.lock:
        core.faults.clear()
        core.faults.set({"vendor": VENDOR, "stuck_prepared": True}, core.now_ms())
    stuck = start(core, 14, "classroom")
    core.advance(600_000)
    assert tic_json(core, "query", {"task_id": stuck})["status"] == "prepared"
    assert tic_json(core, "stop", {"task_id": stuck})["error_code"] == 0
    core.advance(12_000)
    task = task_of(core, stuck)
    assert (task.state, task.error, task.intervals) == (model.FINISHED, model.ERROR_NO_FILE, [])


def test_injected_errors_and_outages(core):
    with core.lock:
        core.faults.set(
            {"vendor": VENDOR, "action": "query", "error_rate": 1, "error_code": "20099"}, core.now_ms()
        )
    assert tic_json(core, "query", {"task_id": "x"})["error_code"] == 20099
    assert tic_json(core, "stop", {"task_id": "x"})["error_code"] == 20005  # other actions untouched

    with core.lock:
        core.faults.clear()
        core.faults.set({"vendor": VENDOR, "outage_for_ms": 60_000}, core.now_ms())
    assert tic(core, "query", {"task_id": "x"}).status == 503
    core.advance(60_000)
    assert tic_json(core, "query", {"task_id": "x"})["error_code"] == 20005


def test_seeded_error_rate_is_repeatable(core):
    def draws() -> list[int]:
        with core.lock:
            core.faults.set(
                {"vendor": VENDOR, "action": "query", "error_rate": 0.5, "error_code": "20099", "seed": 42},
                core.now_ms(),
            )
        return [tic_json(core, "query", {"task_id": "x"})["error_code"] for _ in range(20)]

    first = draws()
    assert set(first) == {20099, 20005}
    assert draws() == first


def test_callback_faults(core, sink):
    with core.lock:
        core.app(VENDOR, APP).callback_url = sink.url
        core.faults.set(
            {"vendor": VENDOR, "action": "record_started", "callbacks": {"drop": 1}}, core.now_ms()
        )
    dropped = start(core, 15, "classroom")
    core.advance(2_000)
    assert sink.received == []
    assert [c.status for c in core.callbacks_of(VENDOR, APP, dropped)] == ["dropped"]

    with core.lock:
        core.faults.clear()
        core.faults.set({"vendor": VENDOR, "callbacks": {"duplicate": 1}}, core.now_ms())
    doubled = start(core, 16, "classroom")
    core.advance(2_000)
    assert [r["json"]["task_id"] for r in sink.received] == [doubled, doubled]

    sink.received.clear()
    with core.lock:
        core.faults.clear()
        core.faults.set(
            {"vendor": VENDOR, "action": "record_started", "callbacks": {"reorder": 1}}, core.now_ms()
        )
    reordered = start(core, 17, [{"user_id": "t", "kind": "camera", "intervals": [[0, None]]}])
    core.advance(2_000 + 5_000)
    assert sink.received == []  # held back
    tic_json(core, "stop", {"task_id": reordered})
    core.advance(12_000)
    assert [r["json"]["callback_type"] for r in sink.received] == ["record_finished", "record_started"]


def test_state_and_pending_work_survive_a_reopen(tmp_path, sink):
    first = open_core(tmp_path)
    with first.lock:
        first.provision(VENDOR, APP, {"tic_key": TIC_KEY, "usersig_key": USERSIG_KEY}, sink.url)
    task_id = start(first, 18, [{"user_id": "t", "kind": "camera", "intervals": [[0, None]]}])
    first.advance(2_000 + 20_000)
    tic_json(first, "stop", {"task_id": task_id})
    clock = first.now_ms()
    first.close()

    second = open_core(tmp_path)
    try:
        assert second.now_ms() == clock
        assert task_of(second, task_id).pending == [model.STOP]
        second.advance(12_000)
        result = tic_json(second, "query", {"task_id": task_id})
        assert (result["status"], result["total_time"], len(result["video_info"])) == ("finished", 22_000, 1)
        assert [r["json"]["callback_type"] for r in sink.received] == ["record_started", "record_finished"]
    finally:
        second.close()


def test_clock_speed_and_manual_mode():
    clock = SimClock(0, speed=45)
    time.sleep(0.1)
    assert 4_000 <= clock.now_ms() <= 60_000
    clock.configure(manual=True)
    frozen = clock.now_ms()
    time.sleep(0.05)
    assert clock.now_ms() == frozen
    clock.jump_to(frozen + 1_000)
    assert clock.now_ms() == frozen + 1_000


def test_classroom_scenario_is_deterministic_per_room():
    assert scenarios.classroom("r1") == scenarios.classroom("r1")
    assert scenarios.classroom("r1") != scenarios.classroom("r2")
    streams = scenarios.classroom("r1")
    teacher_camera, screen, board = streams[:3]
    assert (teacher_camera.user_id, teacher_camera.kind, teacher_camera.intervals) == (
        "teacher_r1",
        "camera",
        [[0, None]],
    )
    assert (
        screen.kind == "screen"
        and 8 * 60_000 <= screen.intervals[0][0]
        and screen.intervals[0][1] <= 28 * 60_000
    )
    assert (board.kind, board.intervals) == ("whiteboard", [[0, None]])
    assert all(s.user_id.startswith("student_r1_") for s in streams[3:]) and 2 <= len(streams[3:]) <= 4


def test_custom_scenarios_are_validated():
    with pytest.raises(ValueError):
        scenarios.build("r", [{"user_id": "a", "kind": "hologram"}])
    with pytest.raises(ValueError):
        scenarios.build("r", [{"user_id": "a", "intervals": [[10, 5]]}])
    assert scenarios.build("r", "seed002")[0] == "seed002"
