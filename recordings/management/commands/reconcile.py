from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from recordings import lifecycle
from recordings.choices import ACTIVE_STATES
from recordings.models import RecordingTask


class Command(BaseCommand):
    help = "Query the vendor for active recordings now and apply what it says (all active, or one task)."

    def add_arguments(self, parser):
        parser.add_argument("--task", type=int, help="Only this recording (its id in RecDesk).")

    def handle(self, *args, task=None, **options):
        if task is not None:
            if not RecordingTask.objects.filter(pk=task).exists():
                raise CommandError(f"No recording #{task}.")
            ids = [task]
        else:
            ids = list(
                RecordingTask.objects.filter(observed_state__in=ACTIVE_STATES).values_list("pk", flat=True)
            )
        for pk in ids:
            outcome = lifecycle.reconcile_task(pk)
            state = RecordingTask.objects.values_list("observed_state", flat=True).get(pk=pk)
            self.stdout.write(f"#{pk}: {outcome} → {state}")
        self.stdout.write(self.style.SUCCESS(f"Reconciled {len(ids)} recording(s)."))
