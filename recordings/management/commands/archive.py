from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from recordings import archiving
from recordings.choices import ObservedState
from recordings.models import RecordingTask, Segment


class Command(BaseCommand):
    help = (
        "Archive finished recordings to their storage, here and now (or hand them to the Celery worker "
        "with --enqueue): one recording with --task (its failed files included), or every recording "
        "with files never tried or abandoned mid-copy with --all-pending."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--task", type=int, action="append", help="This recording (its id in RecDesk); repeatable."
        )
        parser.add_argument(
            "--all-pending", action="store_true", help="Every finished recording with files left."
        )
        parser.add_argument(
            "--enqueue", action="store_true", help="Send the work to the Celery worker instead."
        )

    def handle(self, *args, task=None, all_pending=False, enqueue=False, **options):
        if not task and not all_pending:
            raise CommandError("Say which recordings: --task ID (repeatable) or --all-pending.")
        plan: list[tuple[int, bool]] = []
        for pk in task or []:
            state = RecordingTask.objects.filter(pk=pk).values_list("observed_state", flat=True).first()
            if state is None:
                raise CommandError(f"No recording #{pk}.")
            if state != ObservedState.FINISHED:
                raise CommandError(f"Recording #{pk} is {state}; only finished recordings are archived.")
            plan.append((pk, True))
        if all_pending:
            plan += [(pk, False) for pk in archiving.pending_tasks() if pk not in {p for p, _ in plan}]
        if not plan:
            self.stdout.write("Nothing to archive.")
            return
        failures = 0
        for pk, include_failed in plan:
            segment_ids = archiving.start_task(pk, include_failed=include_failed)
            if enqueue:
                from recordings import tasks

                tasks.dispatch_archive(segment_ids)
                self.stdout.write(f"#{pk}: {len(segment_ids)} file(s) sent to the worker.")
                continue
            for segment_id in segment_ids:
                try:
                    outcome = archiving.archive_segment(segment_id)
                except archiving.ArchiveFailed as exc:
                    failures += 1
                    self.stdout.write(self.style.ERROR(f"#{pk} file {segment_id}: failed: {exc.message}"))
                    continue
                key = Segment.objects.values_list("archived_key", flat=True).get(pk=segment_id)
                self.stdout.write(f"#{pk} file {segment_id}: {outcome}{f' as {key}' if key else ''}")
        if failures:
            raise CommandError(f"{failures} file(s) could not be archived; the class pages say why.")
        self.stdout.write(self.style.SUCCESS(f"Done: {len(plan)} recording(s)."))
