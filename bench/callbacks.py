"""Benchmark 4: callback correctness under mishaps.

Recordings on the five sandbox vendors are started, paused and resumed where the vendor can, and
stopped, through the adapters, in waves, until the sandbox has emitted at least 10,000 callbacks.
The sandbox duplicates 30% of them, holds 30% back so that later ones overtake them, and drops 2%.
They go to the real receiver under gunicorn; a real Celery worker (with beat, so the reconciler
repairs what a dropped callback left undone) applies them. At the end:
- lost: callbacks the receiver acknowledged that never reached a settled inbox row, or were
  settled as "ignored" for want of their recording, or tasks with fewer inbox rows than the
  distinct events the sandbox delivered to them;
- double-applied: a state entered more often than the sandbox's truth entered it, more pause bands
  than the truth's pauses, or one file stored twice;
- wrong final state: tasks whose observed state differs from the sandbox's truth.

Run alone: `python bench/callbacks.py`; `BENCH_SMOKE_CALLBACKS=1000` stops after the first wave
that reaches 1,000 callbacks (each wave: 300 recordings, about 1,000 callbacks), to iterate.
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common  # noqa: E402
from bench.common import Result  # noqa: E402

# The smoke-test knobs exist to try the script quickly; `make bench` never sets them, and the table
# prints how many callbacks were really emitted.
TARGET_CALLBACKS = int(os.environ.get("BENCH_SMOKE_CALLBACKS") or 10_000)
WAVE_TASKS_PER_VENDOR = int(os.environ.get("BENCH_SMOKE_WAVE") or 60)
FAULTS = {"drop": 0.02, "duplicate": 0.30, "reorder": 0.30, "reorder_hold_ms": 5_000}
SEED = 20_260_401
CONCURRENCY = 8
SETTLE_TIMEOUT_S = 420.0
# Modes where each vendor can pause (ZEGO pauses mixed recordings only; Agora only web pages).
MODES = {"tencent_tiw": "individual", "tencent_tic": "individual", "agora": "individual", "zego": "mixed",
         "volcengine": "individual"}  # fmt: skip
PAUSES = {"tencent_tiw", "tencent_tic", "zego"}
TRUTH_STATE = {"finished": "finished", "failed": "failed", "stopped": "processing", "recording": "recording",
               "paused": "paused", "prepared": "starting"}  # fmt: skip
ONE_PERSON = [{"user_id": "u1", "kind": "camera", "intervals": [[0, None]]}]


def _wave(sandbox, apps, adapters, wave: int) -> list[int]:
    from django.utils import timezone

    from recordings.lifecycle import POLL_MIN_SECONDS, _ref, _start_spec
    from recordings.models import RecordingTask, Room

    created = []
    for vendor, app in apps.items():
        for i in range(WAVE_TASKS_PER_VENDOR):
            n = wave * WAVE_TASKS_PER_VENDOR + i
            room_id = str(40_000 + n) if vendor.startswith("tencent") else f"cb-room-{n}"
            sandbox.control("POST", "/control/rooms",
                            {"vendor": vendor, "app_id": app.app_id, "room_id": room_id, "scenario": ONE_PERSON})  # fmt: skip
            room = Room.objects.create(app=app, room_id=room_id, title=f"{vendor} {n}")
            created.append(
                RecordingTask.objects.create(
                    app=app,
                    room=room,
                    mode=MODES[vendor],
                    storage=app.default_storage,
                    desired_state="recording",
                    observed_state="starting",
                    next_poll_at=timezone.now() + timezone.timedelta(seconds=POLL_MIN_SECONDS),
                )  # fmt: skip
            )
    tasks = list(
        RecordingTask.objects.filter(pk__in=[t.pk for t in created]).select_related("app", "room", "storage")
    )

    def start(task):
        ref = adapters[task.app.vendor].start(_start_spec(task))
        RecordingTask.objects.filter(pk=task.pk).update(
            vendor_task_id=ref.task_id, vendor_resource_id=ref.resource_id, vendor_sid=ref.sid,
            record_user_id=ref.record_user_id,
        )  # fmt: skip

    def act(action):
        def run(task):
            task.refresh_from_db()
            getattr(adapters[task.app.vendor], action)(_ref(task))

        return run

    with ThreadPoolExecutor(CONCURRENCY) as pool:
        list(pool.map(start, tasks))
        sandbox.advance(6_000)
        pausing = [t for t in tasks if t.app.vendor in PAUSES]
        list(pool.map(act("pause"), pausing))
        sandbox.advance(3_000)
        list(pool.map(act("resume"), pausing))
        sandbox.advance(3_000)
        list(pool.map(act("stop"), tasks))
    sandbox.advance(15_000)
    return [t.pk for t in tasks]


def _sandbox_truth(sandbox, apps) -> dict[str, dict]:
    truth = {}
    for vendor, app in apps.items():
        for item in sandbox.control("GET", f"/control/tasks?vendor={vendor}&app_id={app.app_id}")["tasks"]:
            truth[item["task_id"]] = item
    return truth


def _callback_counts(truth: dict[str, dict]) -> Counter:
    counts: Counter = Counter()
    for item in truth.values():
        for cb in item["callbacks"]:
            counts["emitted" if not cb.get("duplicate_of") else "duplicates"] += 1
            counts[cb["status"]] += 1
    return counts


def run() -> Result:
    common.setup_django()
    common.reset_tables()
    from recordings.models import AuditEvent, CallbackDelivery, RecordingTask

    result = Result("4 callbacks")
    workdir = common.run_dir("callbacks")
    sandbox = common.Sandbox(workdir)
    server = worker = None
    try:
        server = common.Gunicorn(workdir, workers=4)
        worker = common.Worker(
            workdir,
            concurrency=CONCURRENCY,
            beat=True,
            loglevel="INFO",  # each task's run time, for the apply-time rows
            RECDESK_RECONCILE_SECONDS="1",
            RECDESK_SWEEP_SECONDS="5",
        )
        from bench.reconcile import _plain_http

        apps = {v: common.provision_app(sandbox, v, server.url("")) for v in common.VENDORS}
        adapters = {v: _plain_http(app) for v, app in apps.items()}
        for vendor in common.VENDORS:
            sandbox.control("POST", "/control/faults", {"vendor": vendor, "seed": SEED, "callbacks": FAULTS})
        started = time.perf_counter()
        pks: list[int] = []
        wave, emitted = 0, 0
        while emitted < TARGET_CALLBACKS:
            pks += _wave(sandbox, apps, adapters, wave)
            wave += 1
            emitted = _callback_counts(_sandbox_truth(sandbox, apps))["emitted"]
            print(f"  wave {wave}: {len(pks)} recordings, {emitted:,} callbacks emitted", flush=True)
        # Release what is still held back and let every retry fall due.
        for _ in range(20):
            sandbox.advance(60_000)
        truth = _sandbox_truth(sandbox, apps)
        settle_deadline = time.perf_counter() + SETTLE_TIMEOUT_S
        by_vendor_id = {}
        while time.perf_counter() < settle_deadline:
            tasks = list(RecordingTask.objects.filter(pk__in=pks))
            by_vendor_id = {t.vendor_task_id: t for t in tasks}
            pending = CallbackDelivery.objects.filter(outcome="pending").count()
            wrong = sum(
                1
                for t in tasks
                if TRUTH_STATE.get(truth.get(t.vendor_task_id, {}).get("state")) != t.observed_state
            )
            if not pending and not wrong:
                break
            time.sleep(2)
        wall = time.perf_counter() - started
        rss = common.peak_rss_mb(worker.pid)
        runtimes = worker.task_runtimes()
    finally:
        if worker:
            worker.stop()
            common.purge_queue()
        if server:
            server.stop()
        sandbox.stop()

    counts = _callback_counts(truth)
    # Lost: an acknowledged callback whose inbox row never settled, or a task short of inbox rows.
    # An inbox row is bound to its task only when applied, so unsettled rows are found by app.
    unsettled = CallbackDelivery.objects.filter(
        app__in=apps.values(), signature_ok=True, outcome__in=["pending", "error"]
    ).count()
    # An event settled as "ignored" because no recording was found for it is lost as well.
    unbound = CallbackDelivery.objects.filter(
        app__in=apps.values(), outcome="ignored", outcome_detail__startswith="no recording"
    ).count()
    rows_per_task = Counter(
        CallbackDelivery.objects.filter(app__in=apps.values(), signature_ok=True).values_list(
            "vendor_task_id", flat=True
        )
    )
    short = 0
    for vendor_id, item in truth.items():
        delivered = {
            cb.get("duplicate_of") or cb["callback_id"]
            for cb in item["callbacks"]
            if cb["status"] == "delivered"
        }
        if rows_per_task.get(vendor_id, 0) < len(delivered):
            short += len(delivered) - rows_per_task.get(vendor_id, 0)
    lost = unsettled + unbound + short
    # Double-applied: a state entered more often than the truth entered it, or extra pause bands.
    entered = Counter()
    for task_id, after in AuditEvent.objects.filter(task_id__in=pks, action="observed").values_list(
        "task_id", "after"
    ):
        entered[(task_id, (after or {}).get("observed"))] += 1
    double = 0
    wrong_state, wrong_files = 0, 0
    from recordings.models import Segment

    files = Counter(Segment.objects.filter(task_id__in=pks).values_list("task_id", flat=True))
    # A file stored twice (by a callback and a query naming it differently) is applied twice too.
    stored = Counter(
        Segment.objects.filter(task_id__in=pks).values_list(
            "task_id", "user_id", "kind", "format", "offset_ms"
        )
    )
    double_files = sum(n - 1 for n in stored.values() if n > 1)
    for vendor_id, item in truth.items():
        task = by_vendor_id.get(vendor_id)
        if task is None:
            continue
        pauses = max(0, len(item.get("intervals") or []) - 1)
        allowed = {"recording": 1 + pauses, "paused": pauses}
        for state in ("recording", "paused", "stopping", "processing", "finished", "failed"):
            double += max(0, entered[(task.pk, state)] - allowed.get(state, 1))
        double += max(0, len(task.pause_intervals or []) - pauses)
        if TRUTH_STATE.get(item["state"]) != task.observed_state:
            wrong_state += 1
        truth_files = len({(s["user_id"], s["kind"], s["start_ms"]) for s in item.get("segments", [])})
        if files.get(task.pk, 0) < truth_files:
            wrong_files += 1

    note = (
        f"{counts['emitted']:,} emitted + {counts['duplicates']:,} duplicates, {counts['dropped']:,} dropped, "
        f"{len(pks):,} recordings"
    )
    result.add("callbacks lost", lost, "", goal="0", passed=lost == 0, note=note)
    double += double_files
    result.add(
        "callbacks double-applied",
        double,
        "",
        goal="0",
        passed=double == 0,
        note=f"{double_files} files stored twice",
    )
    result.add(
        "tasks whose final state differs from the sandbox",
        wrong_state,
        "",
        goal="0",
        passed=wrong_state == 0,
        note=f"{wrong_files} with fewer files than the sandbox",
    )
    result.add("wall time, first start to all settled", wall, "s")
    for names, label in (
        (["recordings.apply_deliveries"], "apply one callback"),
        (["recordings.poll_tasks", "recordings.poll_task"], "one poll"),
    ):
        seconds = [s for name in names for s in runtimes.get(name, [])]
        if seconds:
            result.add(
                f"worker time to {label}: median",
                common.median(seconds) * 1000,
                "ms",
                note=f"p95 {common.percentile(seconds, 95) * 1000:.1f} ms, {len(seconds):,} runs",
            )
    result.add(
        "peak RSS of the Celery worker", rss, "MB", goal="< 300 MB", passed=rss is not None and rss < 300
    )
    return result


if __name__ == "__main__":
    common.print_result(run())
