"""The outbox sweeper enqueues again a callback whose message was lost, and leaves alone one that is
only waiting behind others in the queue (re-enqueueing a backlog multiplied it: bench/callbacks.py).
The broker is the real one; the queue is this test's own, which no worker reads."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from dashboard.celery import app as celery_app
from recordings import tasks
from recordings.models import CallbackDelivery
from tests import factories

pytestmark = pytest.mark.integration


@pytest.fixture
def own_queue(settings):
    """A queue of our own on the real broker; `put()` leaves a message waiting in it."""
    name = f"recdesk-sweep-test-{uuid.uuid4().hex[:8]}"
    settings.CELERY_TASK_DEFAULT_QUEUE = name

    class Queue:
        def put(self) -> None:
            with celery_app.connection_for_write() as conn, conn.SimpleQueue(name) as queue:
                queue.put({})

    yield Queue()
    with celery_app.connection_for_write() as conn:
        conn.default_channel.queue_delete(name)


def _delivery(app, key: str, seconds_ago: float, outcome: str = "pending") -> CallbackDelivery:
    return CallbackDelivery.objects.create(
        vendor=app.vendor,
        app=app,
        raw_body=b"{}",
        signature_ok=True,
        delivery_key=key,
        received_at=timezone.now() - timedelta(seconds=seconds_ago),
        outcome=outcome,
    )


@pytest.mark.django_db
def test_a_pending_callback_is_enqueued_again_when_newer_ones_were_applied_before_it(own_queue):
    app = factories.app("tencent_tiw")
    lost = _delivery(app, "lost", seconds_ago=300)
    waiting = _delivery(app, "waiting", seconds_ago=90)
    _delivery(app, "applied", seconds_ago=200, outcome="applied")
    own_queue.put()  # the worker has a backlog

    # The worker settled a callback stored 100 s after `lost`: its message is gone. `waiting` was
    # stored after everything settled so far: its message is still in the queue.
    found = tasks._lost_deliveries(timezone.now())
    assert found == [lost.pk]
    assert waiting.pk not in found


@pytest.mark.django_db
def test_every_old_pending_callback_is_enqueued_again_when_the_queue_is_empty(own_queue):
    app = factories.app("tencent_tiw")
    first = _delivery(app, "first", seconds_ago=300)
    second = _delivery(app, "second", seconds_ago=90)
    _delivery(app, "fresh", seconds_ago=5)  # within the grace: its message may be on its way

    assert sorted(tasks._lost_deliveries(timezone.now())) == sorted([first.pk, second.pk])
