"""Celery tasks: thin. They load by id, call a lifecycle service, and own the retry policy.

Every task is idempotent (a repeated delivery has no second effect) and acknowledged late, so a
worker killed mid-task leaves the message to be delivered again.
"""

from __future__ import annotations

import logging
import math
import random
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from kombu.exceptions import OperationalError

from recordings import lifecycle
from recordings.choices import CommandStatus, DeliveryOutcome
from recordings.models import CallbackDelivery, Segment, VendorCommand
from recordings.vendors.base import VendorError

log = logging.getLogger(__name__)

# How long a polled task is leased to its poll_task message before beat may enqueue it again.
POLL_LEASE = timedelta(seconds=30)


def backoff_seconds(retries: int, base: float = 1.0, cap: float = 60.0) -> float:
    """Exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter")."""
    return random.uniform(0, min(cap, base * (2**retries)))


def dispatch_command(command_id: int) -> None:
    """Enqueue a command after its transaction committed. If the broker is down the row stays
    pending and the sweeper enqueues it later: the intent is never lost."""
    try:
        run_command.delay(command_id)
    except OperationalError:
        log.warning("broker unavailable: command %s stays in the outbox for the sweeper", command_id)
        return
    VendorCommand.objects.filter(pk=command_id).update(enqueued_at=timezone.now())


@shared_task(name="recordings.run_command", bind=True, acks_late=True, max_retries=None)
def run_command(self, command_id: int) -> None:
    try:
        lifecycle.execute_command(command_id)
    except lifecycle.TryLater as exc:
        if self.request.retries > 300:
            log.error("command %s waited too long behind an earlier command", command_id)
            return
        raise self.retry(countdown=1.0 + random.random(), exc=exc) from exc
    except VendorError as exc:
        # execute_command re-raises only what a retry can help, and only while attempts remain.
        delay = backoff_seconds(self.request.retries, base=2.0)
        log.info("command %s: %s; retrying in %.1f s", command_id, exc, delay)
        lifecycle.release_for_retry(command_id, delay)
        raise self.retry(countdown=delay, exc=exc) from exc


def dispatch_deliveries(delivery_ids: list[int]) -> None:
    """Enqueue stored callbacks (recordings/inbox_relay.py batches them). If the broker is down they
    stay pending and the sweeper enqueues them later."""
    try:
        apply_deliveries.delay(delivery_ids)
    except OperationalError:
        log.warning("broker unavailable: %s callback deliveries wait for the sweeper", len(delivery_ids))


@shared_task(name="recordings.apply_deliveries", acks_late=True)
def apply_deliveries(delivery_ids: list[int]) -> dict[str, int]:
    outcomes: dict[str, int] = {}
    for delivery_id in delivery_ids:
        try:
            outcome = lifecycle.apply_delivery(delivery_id)
        except Exception:
            # One delivery that cannot be applied now must not hold back the rest of its batch; it
            # stays pending and the sweeper enqueues it again.
            log.exception("callback delivery %s not applied; it stays pending", delivery_id)
            outcome = "error"
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes


def poll_soon(task_id: int, delay: float) -> None:
    try:
        poll_task.apply_async((task_id,), countdown=delay)
    except OperationalError:
        log.info("broker unavailable: task %s waits for the reconciler's next pass", task_id)


@shared_task(name="recordings.poll_task", acks_late=True)
def poll_task(task_id: int) -> str:
    return lifecycle.reconcile_task(task_id)


# Due tasks one beat tick leases at most: a whole pass over thousands of active recordings, since
# ticks that find the worker still busy are dropped (dashboard/celery.py).
POLLS_PER_TICK = 10_000
# Due tasks per poll_tasks message, at most. With one message per task, publishing and consuming
# the messages took about a third of the worker's CPU in a pass over thousands, and a batch's
# database work is shared by its polls (bench/reconcile.py). A small pass is still cut into at
# least POLL_SPREAD messages, so that its queries run on several of the worker's threads at once.
POLL_BATCH = 50
POLL_SPREAD = 8


@shared_task(name="recordings.poll_tasks", acks_late=True)
def poll_tasks(task_ids: list[int]) -> int:
    return len(lifecycle.reconcile_tasks(task_ids))


@shared_task(name="recordings.reconcile")
def reconcile() -> int:
    """Beat: enqueue a query for every active task that is due, leasing it so it is not enqueued twice."""
    due = lifecycle.lease_due_polls(POLL_LEASE, limit=POLLS_PER_TICK)
    size = max(1, min(POLL_BATCH, math.ceil(len(due) / POLL_SPREAD)))
    for start in range(0, len(due), size):
        poll_tasks.delay(due[start : start + size])
    return len(due)


@shared_task(name="recordings.sweep_outbox")
def sweep_outbox() -> dict[str, int]:
    """Beat: enqueue again what a broker hiccup or a lost message left behind."""
    now = timezone.now()
    stale = now - timedelta(seconds=settings.RECDESK_REDISPATCH_SECONDS)
    # Unfinished, unclaimed (or its claim lapsed: the worker died), and its last message is old.
    commands = list(
        VendorCommand.objects.filter(status__in=[CommandStatus.PENDING, CommandStatus.SENT])
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .exclude(enqueued_at__gt=stale)
        .values_list("pk", flat=True)[:500]
    )
    for pk in commands:
        dispatch_command(pk)
    deliveries = _lost_deliveries(now)
    for start in range(0, len(deliveries), DELIVERY_BATCH):
        dispatch_deliveries(deliveries[start : start + DELIVERY_BATCH])
    return {"commands": len(commands), "deliveries": len(deliveries)}


# Re-enqueued callbacks per message: spread over the worker's threads, not one long batch.
DELIVERY_BATCH = 50


def _lost_deliveries(now) -> list[int]:
    """Pending callbacks whose message was lost, not merely waiting behind others. Every delivery's
    message was published when it was stored, and the queue is worked through in order: a pending
    one is lost if the worker has settled deliveries stored well after it, or if nothing waits in
    the queue. Re-enqueueing the whole backlog every sweep instead multiplied the worker's load
    when it fell behind (bench/callbacks.py)."""
    grace = timedelta(seconds=settings.RECDESK_REDISPATCH_SECONDS)
    pending = CallbackDelivery.objects.filter(outcome=DeliveryOutcome.PENDING, received_at__lt=now - grace)
    if _queued_messages():
        frontier = (
            CallbackDelivery.objects.exclude(outcome=DeliveryOutcome.PENDING)
            .order_by("-received_at")
            .values_list("received_at", flat=True)
            .first()
        )
        if frontier is None:
            return []
        pending = pending.filter(received_at__lt=frontier - grace)
    return list(pending.values_list("pk", flat=True)[:500])


def _queued_messages() -> int:
    """Messages waiting in our queue (0 if the broker cannot tell, so the sweep errs to re-enqueue)."""
    from dashboard.celery import app

    try:
        with app.connection_for_write() as conn:
            return conn.default_channel.queue_declare(
                queue=settings.CELERY_TASK_DEFAULT_QUEUE, passive=True
            ).message_count
    except Exception:  # noqa: BLE001 - any broker trouble: fall back to re-enqueueing
        log.info("broker queue length unknown; pending callbacks are enqueued again", exc_info=True)
        return 0


def after_finished(task_id: int) -> None:
    """Called on commit when a recording reaches `finished`: fetch its final file list once more."""
    try:
        # Archiving: once the final file list is in, copy every file to our own storage.
        collect_segments.apply_async((task_id,), link=archive_recording.si(task_id))
    except OperationalError:
        log.warning("broker unavailable: final file list of task %s not collected now", task_id)


@shared_task(name="recordings.collect_segments", acks_late=True)
def collect_segments(task_id: int) -> int:
    return lifecycle.collect_final_segments(task_id)


# ------------------------------------------------------------------ archiving (recordings/archiving.py)

# Waits between attempts grow from about 10 s to at most 10 min; after the last the file stays
# `failed`, with its reason on the class page, where staff can retry it.
ARCHIVE_MAX_RETRIES = 8


def dispatch_archive(segment_ids: list[int]) -> None:
    """Enqueue copies after their transaction committed; if the broker is down they stay pending
    for the sweeper."""
    sent: list[int] = []
    try:
        for segment_id in segment_ids:
            archive_segment.delay(segment_id)
            sent.append(segment_id)
    except OperationalError:
        log.warning("broker unavailable: %s file(s) wait for the archive sweeper", len(segment_ids))
    Segment.objects.filter(pk__in=sent).update(archive_queued_at=timezone.now())


@shared_task(name="recordings.archive_recording", acks_late=True)
def archive_recording(task_id: int) -> int:
    """Fan out: one archive_segment message per file still to copy."""
    from recordings import archiving

    segment_ids = archiving.start_task(task_id)
    dispatch_archive(segment_ids)
    return len(segment_ids)


@shared_task(name="recordings.archive_segment", bind=True, acks_late=True, max_retries=ARCHIVE_MAX_RETRIES)
def archive_segment(self, segment_id: int) -> str:
    from recordings import archiving

    try:
        return archiving.archive_segment(segment_id)
    except archiving.ArchiveFailed as exc:
        if not exc.retryable or self.request.retries >= ARCHIVE_MAX_RETRIES:
            return "failed"
        delay = 5.0 + backoff_seconds(self.request.retries, base=10.0, cap=600.0)
        raise self.retry(countdown=delay, exc=exc) from exc


@shared_task(name="recordings.archive_sweep")
def archive_sweep() -> int:
    """Beat: start archiving any finished recording left with files to copy (a lost message, a crash)."""
    from recordings import archiving

    task_ids = archiving.pending_tasks()
    for task_id in task_ids:
        archive_recording.delay(task_id)
    return len(task_ids)
