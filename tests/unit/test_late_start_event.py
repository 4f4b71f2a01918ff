"""A vendor's "recording began" callback applied late: after a poll already saw the recording paused,
it is old news, not a resume (bench/callbacks.py found 28 tasks entering "recording" twice so)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from recordings import lifecycle
from recordings.models import AuditEvent
from recordings.vendors.base import EventKind, State, VendorEvent
from tests import factories

START = datetime(2026, 1, 1, 8, 0, tzinfo=UTC)


def _started_event(kind: EventKind = EventKind.STARTED) -> VendorEvent:
    return VendorEvent(
        delivery_key="T1:OnlineRecordStarted",
        kind=kind,
        vendor_event="OnlineRecordStarted",
        task_id="T1",
        occurred_at=START,
        state=State.RECORDING,
        started_at=START,
    )


def _task(observed_state: str):
    app = factories.app("tencent_tiw")
    room = factories.room(app, factories.user(f"teacher-{observed_state}", "Teacher"))
    return factories.task(room, vendor_task_id="T1", observed_state=observed_state)


def _entered(task) -> list[str]:
    rows = AuditEvent.objects.filter(task=task, action="observed").order_by("pk")
    return [after["observed"] for after in rows.values_list("after", flat=True)]


@pytest.mark.django_db
def test_a_start_event_after_a_poll_saw_the_pause_does_not_resume_the_recording():
    task = _task("starting")
    # The first poll answers after the teacher already paused: the vendor says "paused".
    poll = lifecycle.Observation(state=State.PAUSED, occurred_at=START + timedelta(seconds=5))
    assert lifecycle.apply_observation(task.pk, poll, lifecycle.RECONCILER) == "applied"

    late = lifecycle.Observation.from_event(_started_event())
    assert lifecycle.apply_observation(task.pk, late, lifecycle.CALLBACK) == "unchanged"
    task.refresh_from_db()
    assert task.observed_state == "paused"
    assert task.started_at == START  # what the event says of the start is still kept
    assert _entered(task) == ["paused"]


@pytest.mark.django_db
def test_a_start_event_still_starts_a_starting_recording_and_a_resume_still_resumes():
    task = _task("starting")
    started = lifecycle.Observation.from_event(_started_event())
    assert lifecycle.apply_observation(task.pk, started, lifecycle.CALLBACK) == "applied"

    paused = _task("paused")
    resumed = lifecycle.Observation.from_event(_started_event(EventKind.RESUMED))
    assert lifecycle.apply_observation(paused.pk, resumed, lifecycle.CALLBACK) == "applied"
    paused.refresh_from_db()
    assert paused.observed_state == "recording"
