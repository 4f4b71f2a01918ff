"""A file the vendor lists while it is still being written is one segment that grows to its final
length: queries during a live class neither duplicate it nor freeze its partial duration."""

from __future__ import annotations

import pytest

from recordings import lifecycle
from recordings.models import Segment
from recordings.vendors.registry import build_adapter
from tests import factories
from tests.stack_support import wait_for

pytestmark = pytest.mark.integration


def test_zego_files_queried_while_recording_end_as_one_segment_each_with_the_final_duration(stack):
    teacher = factories.user("teacher-live-files", "Teacher")
    app, room = stack.app("zego", teacher=teacher)
    options = build_adapter(app).clean_options("mixed", {})
    task = lifecycle.start(app=app, room=room, mode="mixed", options=options, user=teacher)
    task = stack.record(task, 0)

    # The staff keep the class page open: RecDesk asks ZEGO about the recording again and again
    # while its file is still being written (file Status 1, each answer a little longer): no row
    # is frozen at a partial length.
    for _ in range(4):
        stack.advance(30)
        assert lifecycle.reconcile_task(task.pk) in ("applied", "unchanged")
        assert not Segment.objects.filter(task=task).exists()

    task = stack.stop_and_finish(task, teacher)

    truth = stack.truth(task)
    final = {s["file_id"]: s for s in truth["segments"]}
    assert final and all(s["status"] == "ready" for s in final.values())

    def stored():
        return {s.vendor_file_id: s for s in Segment.objects.filter(task=task)}

    # The final answer (the upload callback, the last query) reaches every row.
    wait_for(
        lambda: (
            {k: s.duration_ms for k, s in stored().items()} == {k: s["duration_ms"] for k, s in final.items()}
        ),
        timeout=30,
        what=f"one segment per file with its final duration: {final}",
    )
    for file_id, segment in stored().items():
        assert segment.size_bytes == final[file_id]["size"] > 0
        assert segment.vendor_url.endswith(final[file_id]["path"].rsplit("/", 1)[-1])
    # The final file is the one archived (verified in the bucket ZEGO uploaded it to), in full.
    wait_for(
        lambda: all(s.archive_status == "archived" for s in stored().values()),
        timeout=60,
        what="the files archived",
    )
    assert all(s.archived_bytes == final[k]["size"] for k, s in stored().items())
