"""The next poll is computed by the database, per row, on PostgreSQL and on SQLite (the demo's
database: there a wrong duration expression came out NULL, and a task was never polled again)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.utils import timezone

from recordings import lifecycle
from recordings.models import RecordingTask
from tests import factories

ROOT = Path(__file__).resolve().parents[2]

CHECK = """
import django
django.setup()
from django.core.management import call_command
from django.utils import timezone
from recordings import lifecycle
from recordings.models import RecordingTask, Room, VendorApp
call_command("migrate", verbosity=0)
app = VendorApp.objects.create(vendor="tencent_tiw", name="demo", app_id="1400000001")
room = Room.objects.create(app=app, room_id="1", title="demo room")
tasks = [RecordingTask.objects.create(app=app, room=room, mode="individual", observed_state="recording",
                                      desired_state="recording", poll_streak=2) for _ in range(3)]
lifecycle._reschedule(tasks, changed=False)
for task in RecordingTask.objects.all():
    print(task.poll_streak, (task.next_poll_at - timezone.now()).total_seconds())
"""


def _check_waits(lines: list[tuple[int, float]], streak: int) -> None:
    backoff = min(lifecycle.POLL_MAX_SECONDS, lifecycle.POLL_MIN_SECONDS * 2 ** min(streak, 6))
    assert lines and all(s == streak for s, _ in lines)
    assert all(0.8 * backoff - 1 <= wait <= 1.2 * backoff + 0.5 for _, wait in lines), lines


@pytest.mark.django_db
def test_unchanged_answers_back_off_with_jitter_and_a_change_polls_again_soon():
    room = factories.room(factories.app("tencent_tiw"))
    tasks = [factories.task(room, poll_streak=2) for _ in range(5)]
    lifecycle._reschedule(tasks, changed=False)
    rows = RecordingTask.objects.filter(pk__in=[t.pk for t in tasks])
    _check_waits([(t.poll_streak, (t.next_poll_at - timezone.now()).total_seconds()) for t in rows], 3)

    lifecycle._reschedule(tasks[:1], changed=True)
    moved = RecordingTask.objects.get(pk=tasks[0].pk)
    _check_waits([(moved.poll_streak, (moved.next_poll_at - timezone.now()).total_seconds())], 0)


def test_the_next_poll_on_sqlite(tmp_path):
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}",
        "DJANGO_SETTINGS_MODULE": "dashboard.settings",
        "PYTHONPATH": str(ROOT),
    }
    out = subprocess.run(
        [sys.executable, "-c", CHECK], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-3000:]
    lines = [
        (int(streak), float(wait)) for streak, wait in (line.split() for line in out.stdout.splitlines())
    ]
    _check_waits(lines, 3)
