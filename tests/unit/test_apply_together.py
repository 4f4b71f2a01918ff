"""The reconciler applies a batch's news under the row locks of all its tasks at once. One answer
that cannot be stored must not cost the others theirs."""

from __future__ import annotations

from datetime import UTC, datetime

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
