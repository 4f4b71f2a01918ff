"""The Celery application. Tasks live in recordings/tasks.py; the beat schedule is here."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")

app = Celery("recdesk")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_finalize.connect
def _schedule(sender: Celery, **kwargs) -> None:
    from django.conf import settings

    sender.add_periodic_task(settings.RECDESK_SWEEP_SECONDS, sender.signature("recordings.sweep_outbox"))
    sender.add_periodic_task(settings.RECDESK_RECONCILE_SECONDS, sender.signature("recordings.reconcile"))
    # Archive copies whose message was lost or whose worker died are started again.
    sender.add_periodic_task(60.0, sender.signature("recordings.archive_sweep"))
