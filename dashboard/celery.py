"""The Celery application. Tasks live in recordings/tasks.py; the beat schedule is here."""

from __future__ import annotations

import os

from celery import Celery
from celery.signals import task_postrun, task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")

app = Celery("recdesk")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_finalize.connect
def _schedule(sender: Celery, **kwargs) -> None:
    from django.conf import settings

    sender.add_periodic_task(settings.RECDESK_SWEEP_SECONDS, sender.signature("recordings.sweep_outbox"))
    # A tick that waited in the queue longer than one interval is dropped: the worker is still busy
    # with earlier polls, and a burst of stale ticks would lease more tasks than it can poll within
    # their lease, so that they lapse and are enqueued (and queried) twice.
    sender.add_periodic_task(
        settings.RECDESK_RECONCILE_SECONDS,
        sender.signature("recordings.reconcile"),
        expires=settings.RECDESK_RECONCILE_SECONDS,
    )
    # Archive copies whose message was lost or whose worker died are started again.
    sender.add_periodic_task(60.0, sender.signature("recordings.archive_sweep"))


@task_prerun.connect
@task_postrun.connect
def _close_old_connections(**kwargs) -> None:
    """Around each task, what Django does around each request: a connection past CONN_MAX_AGE, or
    broken, is closed; a healthy one is kept for the next task. (Celery's own Django fixup closes
    every connection around every task unless CELERY_DB_REUSE_MAX is set; see settings.py.)"""
    from django.db import close_old_connections

    close_old_connections()
