"""The reconciler applies a batch's news under the row locks of all its tasks at once. One answer
that cannot be stored must not cost the others theirs."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from recordings import lifecycle
from recordings.models import AuditEvent, RecordingTask, Segment
from recordings.vendors.base import SegmentInfo
from tests import factories

START = datetime(2026, 1, 1, 8, 0, tzinfo=UTC)


def _paused() -> lifecycle.Observation:
    return lifecycle.Observation(state="paused", vendor_state="PAUSED", asked_at=datetime.now(UTC))


@pytest.mark.django_db
def test_news_for_several_tasks_is_applied_together():
    room = factories.room(factories.app("tencent_tiw"))
    tasks = [factories.task(room, started_at=START) for _ in range(3)]

    applied = lifecycle._apply_each(
        {t.pk: t for t in tasks}, {t.pk: _paused() for t in tasks}, lifecycle.RECONCILER
    )

    assert {pk: outcome for pk, (outcome, _) in applied.items()} == {t.pk: "applied" for t in tasks}
    assert all(locked.observed_state == "paused" for _, locked in applied.values())
    assert set(RecordingTask.objects.filter(pk__in=[t.pk for t in tasks]).values_list("observed_state")) == {
        ("paused",)
    }
    assert AuditEvent.objects.filter(action="observed", actor_type="reconciler").count() == 3


@pytest.mark.django_db
def test_an_answer_that_cannot_be_stored_fails_alone(caplog):
    room = factories.room(factories.app("tencent_tiw"))
    good, bad, other = (factories.task(room, started_at=START) for _ in range(3))
    # A file id longer than any vendor's (and than the column): the database refuses the row.
    unstorable = SegmentInfo(file_id="f" * 300, kind="camera", duration_ms=1_000, play_offset_ms=0)
    observations = {
        good.pk: _paused(),
        bad.pk: lifecycle.Observation(state="paused", segments=(unstorable,), asked_at=datetime.now(UTC)),
        other.pk: _paused(),
    }

    tasks = {t.pk: t for t in (good, bad, other)}
    applied = lifecycle._apply_each(tasks, observations, lifecycle.RECONCILER)

    assert set(applied) == {good.pk, other.pk}
    states = dict(RecordingTask.objects.filter(pk__in=observations).values_list("pk", "observed_state"))
    # The refused answer left its task as it was: not half applied (paused without its file).
    assert states == {good.pk: "paused", bad.pk: "recording", other.pk: "paused"}
    assert not Segment.objects.filter(task=bad).exists()
    assert f"task {bad.pk}: observation from reconciler not applied" in caplog.text


@pytest.mark.django_db
def test_each_task_of_a_batch_is_written_with_its_own_news():
    """The batch's moves are written by one statement: each row must get its own values, and a row
    with nothing new must not be written at all (no version bump to fail a staff click)."""
    room = factories.room(factories.app("tencent_tiw"))
    first_look, pausing, known = (factories.task(room, started_at=START) for _ in range(3))
    RecordingTask.objects.filter(pk=known.pk).update(vendor_state="RECORDING")
    asked = datetime.now(UTC)
    observations = {
        first_look.pk: lifecycle.Observation(
            state="recording", vendor_state="RECORDING", started_at=START.replace(second=7), asked_at=asked
        ),
        pausing.pk: lifecycle.Observation(
            state="paused", vendor_state="PAUSED", occurred_at=asked, asked_at=asked
        ),
        known.pk: lifecycle.Observation(state="recording", vendor_state="RECORDING", asked_at=asked),
    }
    before = dict(RecordingTask.objects.filter(pk__in=observations).values_list("pk", "version"))

    tasks = {
        t.pk: t for t in RecordingTask.objects.select_related("app", "storage").filter(pk__in=observations)
    }
    applied = lifecycle._apply_each(tasks, observations, lifecycle.RECONCILER)

    assert {pk: outcome for pk, (outcome, _) in applied.items()} == {
        first_look.pk: "unchanged",
        pausing.pk: "applied",
        known.pk: "unchanged",
    }
    rows = {t.pk: t for t in RecordingTask.objects.filter(pk__in=observations)}
    assert (rows[first_look.pk].vendor_state, rows[first_look.pk].started_at) == (
        "RECORDING",
        START.replace(second=7),
    )
    assert rows[first_look.pk].observed_state == "recording"
    assert (rows[pausing.pk].observed_state, rows[pausing.pk].vendor_state) == ("paused", "PAUSED")
    assert rows[pausing.pk].started_at == START
    offset = int((asked - START).total_seconds() * 1000)
    assert rows[pausing.pk].pause_intervals == [[offset, None]]
    assert {pk: row.version - before[pk] for pk, row in rows.items()} == {
        first_look.pk: 1,
        pausing.pk: 1,
        known.pk: 0,
    }
    # The objects the batch holds are what it wrote.
    for pk, (_, task) in applied.items():
        assert (task.version, task.vendor_state, task.started_at) == (
            rows[pk].version,
            rows[pk].vendor_state,
            rows[pk].started_at,
        )


SQLITE_BATCH = """
import django
django.setup()
from datetime import UTC, datetime
from django.core.management import call_command
from recordings import lifecycle
from recordings.models import RecordingTask, Room, VendorApp
call_command("migrate", verbosity=0)
app = VendorApp.objects.create(vendor="tencent_tiw", name="demo", app_id="1400000001")
room = Room.objects.create(app=app, room_id="1", title="demo room")
tasks = {t.pk: t for t in (RecordingTask.objects.create(app=app, room=room, mode="individual",
         observed_state="recording", desired_state="recording") for _ in range(2))}
news = {pk: lifecycle.Observation(state="recording", vendor_state=f"R{pk}",
        started_at=datetime(2026, 1, 1, 8, 0, pk, tzinfo=UTC), asked_at=datetime.now(UTC)) for pk in tasks}
lifecycle._apply_each(tasks, news, lifecycle.RECONCILER)
for t in RecordingTask.objects.order_by("pk"):
    print(t.pk, t.vendor_state, t.started_at.second, t.version)
"""


def test_a_batch_is_written_on_sqlite_too(tmp_path):
    """The demo's database: the batch's one statement, sent once per row, works there as well."""
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}",
        "DJANGO_SETTINGS_MODULE": "dashboard.settings",
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }
    out = subprocess.run(
        [sys.executable, "-c", SQLITE_BATCH],
        cwd=env["PYTHONPATH"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split("\n")[:2] == ["1 R1 1 1", "2 R2 2 1"]
