"""A reconciler batch asks every vendor first, then writes: an answer that repeats what a task
already says only reschedules it (no row change, no version bump), and an answer with news is
applied under the row lock as any other, in the same batch. Real worker, sandbox and PostgreSQL."""

from __future__ import annotations

import pytest
from django.utils import timezone

from recordings import lifecycle
from recordings.models import AuditEvent, RecordingTask, VendorCall
from recordings.vendors.registry import build_adapter
from tests import factories

pytestmark = pytest.mark.integration

MODES = {"tencent_tiw": "individual", "agora": "individual", "zego": "mixed"}


def _recording(stack, teacher) -> list[RecordingTask]:
    tasks = []
    for vendor, mode in MODES.items():
        app, room = stack.app(vendor, teacher=teacher)
        options = build_adapter(app).clean_options(mode, {})
        tasks.append(lifecycle.start(app=app, room=room, mode=mode, options=options, user=teacher))
    return [stack.record(task, 0) for task in tasks]


@pytest.fixture
def quiet_worker(stack):
    """The test polls by itself: the worker (and its beat) stop, after finishing what it was doing."""
    yield
    stack.worker.start()


def _rows(tasks) -> dict[int, RecordingTask]:
    return RecordingTask.objects.in_bulk([t.pk for t in tasks])


def _calls(tasks) -> dict[int, int]:
    return {t.pk: VendorCall.objects.filter(task=t).count() for t in tasks}


def test_answers_that_repeat_what_is_known_only_reschedule_and_news_is_applied(stack, quiet_worker):
    teacher = factories.user("teacher-batch", "Teacher")
    tasks = _recording(stack, teacher)
    stack.worker.stop()
    ids = [t.pk for t in tasks]
    lifecycle.reconcile_tasks(ids)  # whatever the first look brings (the vendor's state name, files)

    before, calls_before = _rows(tasks), _calls(tasks)
    asked = timezone.now()
    outcomes = lifecycle.reconcile_tasks(ids)

    assert outcomes == {pk: "unchanged" for pk in ids}
    after = _rows(tasks)
    for pk in ids:
        # Nothing but the next poll was written: the version a staff click compares is untouched.
        assert after[pk].version == before[pk].version
        assert after[pk].observed_state == "recording"
        assert after[pk].poll_streak == before[pk].poll_streak + 1
        streak = after[pk].poll_streak
        backoff = min(lifecycle.POLL_MAX_SECONDS, lifecycle.POLL_MIN_SECONDS * 2 ** min(streak, 6))
        wait = (after[pk].next_poll_at - asked).total_seconds()
        assert 0.8 * backoff - 1 <= wait <= 1.2 * backoff + 1, (streak, wait)
    # Each question left its VendorCall row, saved with the batch.
    assert _calls(tasks) == {pk: n + 1 for pk, n in calls_before.items()}

    # Behind RecDesk's back, the Tencent recording is paused at the vendor.
    tiw = next(t for t in tasks if t.app.vendor == "tencent_tiw")
    build_adapter(tiw.app).pause(lifecycle._ref(tiw))
    stack.advance(3)  # the vendor carries the pause out
    outcomes = lifecycle.reconcile_tasks(ids)

    assert outcomes[tiw.pk] == "applied"
    assert all(outcomes[pk] == "unchanged" for pk in ids if pk != tiw.pk)
    after_news = _rows(tasks)
    assert after_news[tiw.pk].observed_state == "paused"
    assert after_news[tiw.pk].version == after[tiw.pk].version + 1
    assert after_news[tiw.pk].poll_streak == 0
    assert AuditEvent.objects.filter(task_id=tiw.pk, action="observed", actor_type="reconciler").exists()
    for pk in ids:
        if pk != tiw.pk:
            assert after_news[pk].version == after[pk].version
            assert after_news[pk].poll_streak == after[pk].poll_streak + 1


def test_a_task_a_callback_ended_meanwhile_gets_no_next_poll(stack, quiet_worker):
    teacher = factories.user("teacher-batch-ended", "Teacher")
    task = _recording(stack, teacher)[0]
    stack.worker.stop()
    # The batch read the task as recording; a callback ends it before the batch reschedules it.
    idle = [RecordingTask.objects.get(pk=task.pk)]
    RecordingTask.objects.filter(pk=task.pk).update(observed_state="finished", next_poll_at=None)
    lifecycle._reschedule(idle, changed=False)

    assert RecordingTask.objects.get(pk=task.pk).next_poll_at is None
    assert lifecycle.reconcile_tasks([task.pk]) == {task.pk: "terminal"}
