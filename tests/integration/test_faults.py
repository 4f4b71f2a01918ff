"""One named test per fault of reliability.md §5.3 that applies to RecDesk, on the real stack:
PostgreSQL, a Celery worker subprocess, the sandbox vendors over HTTP, callbacks to the live server."""

from __future__ import annotations

import contextlib
import hashlib
import json
import socket
import subprocess
import sys
import threading
import time

import httpx
import pytest

from recordings import lifecycle
from recordings.models import AuditEvent, CallbackDelivery, RecordingTask, VendorCall, VendorCommand
from recordings.vendors.registry import build_adapter
from tests import factories
from tests.stack_support import ROOT, wait_for

pytestmark = pytest.mark.integration

START_ACTION = {"tencent_tiw": "StartOnlineRecord", "agora": "start", "volcengine": "StartRecord"}


def start(stack, vendor="tencent_tiw", mode="individual", options=None):
    teacher = factories.user(f"t{time.monotonic_ns()}", "Teacher")
    app, room = stack.app(vendor, teacher=teacher)
    cleaned = build_adapter(app).clean_options(mode, options or {})
    task = lifecycle.start(app=app, room=room, mode=mode, options=cleaned, user=teacher)
    return task, teacher


def vendor_recordings(stack, task) -> list[dict]:
    """The recordings the sandbox holds for this task's app: the truth about duplicates."""
    return stack.sandbox.control("GET", f"/control/tasks?vendor={task.app.vendor}&app_id={task.app.app_id}")[
        "tasks"
    ]


def call_seen(task, **filters) -> bool:
    return VendorCall.objects.filter(task=task, **filters).exists()


def recording(stack, task):
    """Move the vendor's clock until the task records. A start whose answer was lost learns its
    vendor id only from the vendor's "started" callback, which the clock sends."""
    for _ in range(20):
        stack.advance(3)
        if stack.task(task.pk).observed_state == "recording":
            break
        time.sleep(0.5)
    return stack.wait_state(task.pk, "recording")


def finish(stack, task):
    """Move the vendor's clock while it processes the files, until the reconciler or a callback
    reports the end (polls back off while nothing changes, so give it real time too)."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and stack.task(task.pk).observed_state != "finished":
        stack.advance(10)
        time.sleep(0.5)
    return stack.wait_state(task.pk, "finished", timeout=5)


# ---------------------------------------------------------------- the vendor misbehaves


def test_vendor_internal_error_on_start_is_retried_into_one_recording(stack):
    stack.sandbox.faults(vendor="tencent_tiw", action="StartOnlineRecord", error_rate=1)
    task, _ = start(stack)
    wait_for(lambda: call_seen(task, vendor_code="InternalError"), what="the InternalError answer")
    stack.sandbox.faults(vendor="tencent_tiw", action="StartOnlineRecord", error_rate=0)
    recording(stack, task)
    assert len(vendor_recordings(stack, task)) == 1


@pytest.mark.parametrize("status", ["500", "429"])
def test_agora_http_error_is_retried(stack, status):
    stack.sandbox.faults(vendor="agora", action="acquire", error_rate=1, error_code=status)
    task, _ = start(stack, "agora", "individual")
    wait_for(lambda: call_seen(task, action="acquire", http_status=int(status)), what=f"an HTTP {status}")
    stack.sandbox.faults(vendor="agora", action="acquire", error_rate=0)
    recording(stack, task)
    assert len(vendor_recordings(stack, task)) == 1
    assert VendorCommand.objects.get(task=task, action="start").attempts >= 2


def test_vendor_outage_503_is_retried_after_it_ends(stack):
    stack.sandbox.faults(vendor="tencent_tiw", outage_for_ms=60_000)
    task, _ = start(stack)
    wait_for(lambda: call_seen(task, http_status=503), what="a 503 during the outage")
    stack.advance(61)
    recording(stack, task)
    assert len(vendor_recordings(stack, task)) == 1


@pytest.fixture
def blackhole():
    """A port whose accept queue is full: the kernel drops new SYNs, so connecting times out."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect(("127.0.0.1", port))
        fillers.append(filler)
    yield f"http://127.0.0.1:{port}"
    for sock in [*fillers, server]:
        sock.close()


def test_connect_timeout_is_retried(stack, blackhole):
    teacher = factories.user("tc", "Teacher")
    app, room = stack.app("tencent_tiw", teacher=teacher)
    real_url = app.api_base_url
    type(app).objects.filter(pk=app.pk).update(api_base_url=blackhole)
    task = lifecycle.start(app=app, room=room, mode="individual", options={}, user=teacher)
    wait_for(lambda: call_seen(task, error_kind="connect"), what="a connect timeout", timeout=30)
    type(app).objects.filter(pk=app.pk).update(api_base_url=real_url)
    recording(stack, task)
    assert len(vendor_recordings(stack, task)) == 1


@pytest.mark.parametrize("vendor", ["tencent_tiw", "volcengine"])
def test_read_timeout_after_start_was_sent_never_makes_two_recordings(stack, vendor):
    """The vendor started recording but its answer never came: RecDesk asks before starting again."""
    stack.sandbox.faults(vendor=vendor, action=START_ACTION[vendor], lose_answer=1, timeout_ms=4000)
    task, _ = start(stack, vendor)
    wait_for(lambda: call_seen(task, error_kind="timeout"), what="the lost answer", timeout=30)
    stack.sandbox.faults(vendor=vendor, action=START_ACTION[vendor], lose_answer=0)
    # Tencent cannot name the recording it refused to make twice; its "started" callback binds it.
    task = recording(stack, task)
    made = vendor_recordings(stack, task)
    assert len(made) == 1
    assert made[0]["task_id"] == task.vendor_task_id


def test_malformed_answer_is_retried(stack):
    stack.sandbox.faults(vendor="tencent_tiw", action="StartOnlineRecord", malformed=1)
    task, _ = start(stack)
    wait_for(lambda: call_seen(task, error_kind="malformed"), what="the malformed answer")
    stack.sandbox.faults(vendor="tencent_tiw", action="StartOnlineRecord", malformed=0)
    recording(stack, task)
    assert len(vendor_recordings(stack, task)) == 1


def test_404_on_stop_is_treated_as_stopped_and_reconciled(stack):
    task, teacher = start(stack, "agora", "individual")
    recording(stack, task)
    stack.sandbox.faults(vendor="agora", action="stop", error_rate=1, error_code="404")
    lifecycle.request(stack.task(task.pk), "stop", user=teacher)
    wait_for(lambda: call_seen(task, action="stop", http_status=404), what="the 404 on stop")
    assert wait_for(lambda: VendorCommand.objects.filter(task=task, action="stop", status="done").exists())
    stack.sandbox.faults(vendor="agora", action="stop", error_rate=0)
    # The vendor really still records: the reconciler sees it and sends the stop again.
    finish(stack, task)
    assert AuditEvent.objects.filter(task=task, action="stop.resend", actor_type="reconciler").exists()


def test_a_refused_start_fails_the_task_with_the_vendors_explanation(stack):
    stack.sandbox.faults(
        vendor="tencent_tiw",
        action="StartOnlineRecord",
        error_rate=1,
        error_code="ResourceUnavailable.ServiceExpired",
    )
    task, _ = start(stack)
    task = stack.wait_state(task.pk, "failed")
    assert task.finish_reason == "start_failed"
    assert task.error_code == "ResourceUnavailable.ServiceExpired"
    assert VendorCommand.objects.get(task=task, action="start").attempts == 1  # not retryable


# ---------------------------------------------------------------- callbacks misbehave


def _full_run(stack, vendor="tencent_tiw", mode="individual"):
    task, teacher = start(stack, vendor, mode)
    recording(stack, task)
    stack.advance(60)
    lifecycle.request(stack.task(task.pk), "stop", user=teacher)
    wait_for(lambda: VendorCommand.objects.filter(task=task, action="stop", status="done").exists())
    return finish(stack, task)


def test_duplicated_callbacks_have_one_effect(stack):
    stack.sandbox.faults(vendor="tencent_tiw", callbacks={"duplicate": 1.0}, seed=7)
    task = _full_run(stack)
    wait_for(
        lambda: not CallbackDelivery.objects.filter(task=task, outcome="pending").exists(),
        what="inbox drained",
    )
    sent = stack.truth(task)["callbacks"]
    keys = list(
        CallbackDelivery.objects.filter(app=task.app, signature_ok=True).values_list(
            "delivery_key", flat=True
        )
    )
    assert len(keys) == len(set(keys))  # each event stored once, however often it came
    assert len(keys) <= len(sent)
    transitions = AuditEvent.objects.filter(task=task, action="observed").values_list("after", flat=True)
    targets = [t["observed"] for t in transitions]
    assert len(targets) == len(set(targets))  # no state entered twice


def test_reordered_callbacks_never_move_state_backwards(stack):
    stack.sandbox.faults(vendor="zego", callbacks={"reorder": 1.0, "reorder_hold_ms": 20_000}, seed=3)
    task = _full_run(stack, "zego", "mixed")
    time.sleep(2)
    task.refresh_from_db()
    assert task.observed_state == "finished"
    assert not AuditEvent.objects.filter(task=task, action="observed", before__observed="finished").exists()
    held = [c for c in stack.truth(task)["callbacks"]]
    assert held  # the vendor did call back, late and out of order


@pytest.mark.parametrize(("vendor", "mode"), [("tencent_tiw", "individual"), ("agora", "individual")])
def test_dropped_callbacks_are_repaired_by_reconciliation(stack, vendor, mode):
    """Agora's query answers 404 once a stopped session has exited: that too is the end."""
    stack.sandbox.faults(vendor=vendor, callbacks={"drop": 1.0}, seed=1)
    task = _full_run(stack, vendor, mode)
    assert not CallbackDelivery.objects.filter(app=task.app).exists()  # nothing came, yet:
    assert task.observed_state == "finished"
    assert task.segments.exists()


def _tiw_callback(app, task_id: str, *, event="OnlineRecordStarted", expire=None, key=None) -> bytes:
    expire = expire if expire is not None else int(time.time()) + 600
    sign = hashlib.md5(
        f"{key if key is not None else app.secrets()['callback_key']}{expire}".encode()
    ).hexdigest()
    return json.dumps(
        {
            "Timestamp": int(time.time()),
            "SdkAppId": int(app.app_id),
            "ExpireTime": expire,
            "Sign": sign,
            "EventType": event,
            "EventData": {"TaskId": task_id, "RoomId": 1, "RecordUserId": "tic_record_user_1_1"},
        }
    ).encode()


def test_forged_callback_gets_401_and_changes_nothing(stack):
    task, _ = start(stack)
    task = recording(stack, task)
    body = _tiw_callback(task.app, task.vendor_task_id, event="OnlineRecordFinished", key="not-the-key")
    response = httpx.post(stack.live_server.url + task.app.callback_path, content=body)
    assert response.status_code == 401
    assert stack.task(task.pk).observed_state == "recording"
    rejected = CallbackDelivery.objects.get(app=task.app, signature_ok=False)
    assert rejected.outcome == "rejected" and rejected.delivery_key is None


def test_replayed_old_callback_is_rejected(stack):
    task, _ = start(stack)
    task = recording(stack, task)
    body = _tiw_callback(
        task.app, task.vendor_task_id, event="OnlineRecordStopped", expire=int(time.time()) - 60
    )
    response = httpx.post(stack.live_server.url + task.app.callback_path, content=body)
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]
    assert stack.task(task.pk).observed_state == "recording"


def test_oversize_callback_is_refused_unread(stack):
    vendor_app, _ = stack.app("tencent_tiw")
    response = httpx.post(
        stack.live_server.url + vendor_app.callback_path, content=b"{" + b" " * (600 * 1024) + b"}"
    )
    assert response.status_code == 413
    assert not CallbackDelivery.objects.filter(app=vendor_app).exists()


def test_authentic_callback_of_an_unknown_type_is_acknowledged_and_logged(stack):
    task, _ = start(stack)
    task = recording(stack, task)
    body = _tiw_callback(task.app, task.vendor_task_id, event="OnlineRecordSomethingNew")
    response = httpx.post(stack.live_server.url + task.app.callback_path, content=body)
    assert response.status_code == 200
    assert response.json() == {"error_code": 0}
    delivery = wait_for(
        lambda: (
            CallbackDelivery.objects.filter(app=task.app, event_type="OnlineRecordSomethingNew")
            .exclude(outcome="pending")
            .first()
            or CallbackDelivery.objects.filter(
                app=task.app, signature_ok=True, delivery_key__isnull=True
            ).first()
        ),
        what="the unknown event settled",
    )
    assert delivery.outcome == "ignored"
    assert stack.task(task.pk).observed_state == "recording"


# ---------------------------------------------------------------- the infrastructure fails


def run_with_broker_down(worker, script: str) -> subprocess.CompletedProcess:
    """Run `script` in a web process of its own whose broker is down (a dead broker URL)."""
    env = {**worker.env, "CELERY_BROKER_URL": "redis://127.0.0.1:1/0"}
    return subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_broker_down_at_enqueue_the_outbox_keeps_the_command(stack, worker):
    teacher = factories.user("tb", "Teacher")
    app, room = stack.app("tencent_tiw", teacher=teacher)
    # A web process whose broker is down accepts the intent.
    script = (
        "from recordings import lifecycle; from recordings.models import Room; from django.contrib.auth import get_user_model;"
        f"room = Room.objects.get(pk={room.pk});"
        f"task = lifecycle.start(app=room.app, room=room, mode='individual', options={{}}, user=get_user_model().objects.get(pk={teacher.pk}));"
        "print(task.pk)"
    )
    done = run_with_broker_down(worker, script)
    assert done.returncode == 0, done.stderr
    assert "command" in done.stderr and "stays in the outbox" in done.stderr
    task = RecordingTask.objects.get(pk=int(done.stdout.strip().splitlines()[-1]))
    # The sweeper in the worker's beat finds the pending command and sends it.
    recording(stack, task)
    assert len(vendor_recordings(stack, task)) == 1


def test_worker_killed_mid_command_the_intent_survives_and_runs_once(stack):
    stack.sandbox.faults(vendor="tencent_tiw", action="StartOnlineRecord", latency_ms=1500)
    task, _ = start(stack)
    wait_for(
        lambda: VendorCommand.objects.filter(task=task, status="sent").exists(), what="the start in flight"
    )
    time.sleep(0.5)  # the request is at the vendor now
    stack.worker.kill()
    stack.sandbox.faults(vendor="tencent_tiw", action="StartOnlineRecord", latency_ms=0)
    stack.worker.start()
    task = recording(stack, task)
    assert len(vendor_recordings(stack, task)) == 1


def test_two_reconciler_passes_at_once_query_each_task_once(stack):
    from recordings.tasks import POLL_LEASE

    tasks = [start(stack)[0] for _ in range(3)]
    for task in tasks:
        recording(stack, task)
    RecordingTask.objects.filter(pk__in=[t.pk for t in tasks]).update(next_poll_at="2000-01-01T00:00:00Z")
    results: list[list[int]] = []
    barrier = threading.Barrier(2)

    def one_pass():
        barrier.wait()
        results.append(lifecycle.lease_due_polls(POLL_LEASE))

    threads = [threading.Thread(target=one_pass) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # The worker's own beat competes too; whoever leased a task, nobody leased it twice.
    leased = results[0] + results[1]
    assert len(leased) == len(set(leased))
    assert not RecordingTask.objects.filter(
        pk__in=[t.pk for t in tasks], next_poll_at__lt="2001-01-01T00:00:00Z"
    ).exists()


# ---------------------------------------------------------------- people


def test_double_click_makes_one_vendor_command(stack):
    task, teacher = start(stack)
    task = recording(stack, task)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def click():
        from django.db import connection

        barrier.wait()
        try:
            lifecycle.request(RecordingTask.objects.get(pk=task.pk), "pause", user=teacher)
            outcomes.append("accepted")
        except lifecycle.Refused as exc:
            outcomes.append(exc.message)
        finally:
            connection.close()

    threads = [threading.Thread(target=click) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("accepted") == 1
    assert any(o.startswith("Already pausing, by") for o in outcomes if o != "accepted")
    assert VendorCommand.objects.filter(task=task, action="pause").count() == 1
    assert AuditEvent.objects.filter(task=task, action="pause").count() == 1
    wait_for(
        lambda: VendorCommand.objects.filter(task=task, action="pause", status="done").exists(),
        what="pause sent",
    )
    stack.advance(6)
    stack.wait_state(task.pk, "paused")
    assert VendorCall.objects.filter(task=task, action="PauseOnlineRecord").count() == 1


def test_conflicting_actions_the_second_is_told_who_did_what(stack):
    task, teacher = start(stack)
    task = recording(stack, task)
    colleague = factories.user("colleague", "Admin", first_name="Cora", last_name="Lee")
    lifecycle.request(task, "stop", user=colleague)
    with pytest.raises(lifecycle.Refused, match="Already stopping, by Cora Lee"):
        lifecycle.request(stack.task(task.pk), "pause", user=teacher)
    assert VendorCommand.objects.filter(task=task, action="pause").count() == 0


def test_broker_down_when_a_callback_arrives_the_inbox_keeps_it(stack, worker, tmp_path):
    task, _ = start(stack)
    task = recording(stack, task)
    body_file = tmp_path / "callback.json"
    body_file.write_bytes(_tiw_callback(task.app, task.vendor_task_id, event="OnlineRecordSomethingNew"))
    # A web process whose broker is down receives the callback.
    script = (
        "from django.test import RequestFactory; from recordings.webhooks import receive;"
        f"request = RequestFactory().post('{task.app.callback_path}', data=open('{body_file}', 'rb').read(),"
        " content_type='application/json');"
        f"print(receive(request, vendor='tencent_tiw', public_id='{task.app.public_id}').status_code)"
    )
    done = run_with_broker_down(worker, script)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "200"  # the vendor got its answer
    delivery = CallbackDelivery.objects.get(app=task.app, event_type="OnlineRecordSomethingNew")
    # Stored, and applied later by the sweeper in the worker's beat, not lost with the process.
    wait_for(
        lambda: CallbackDelivery.objects.exclude(outcome="pending").filter(pk=delivery.pk).exists(),
        what="the sweeper applied the stored callback",
        timeout=60,
    )
    assert CallbackDelivery.objects.get(pk=delivery.pk).outcome == "ignored"
