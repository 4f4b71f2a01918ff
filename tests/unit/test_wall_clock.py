"""Placing files on the recording's wall clock: vendors' replay positions and absolute times."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from recordings import lifecycle
from recordings.models import Segment
from recordings.vendors.base import SegmentInfo
from tests import factories

# Seed 002's example: six files across a one-minute pause at 15:00 on the replay timeline.
SEED_002 = [
    ("ios_test1", "camera", 0, 900000),
    ("pc_test1", "camera", 300000, 600000),
    ("", "whiteboard", 120000, 780000),
    ("ios_test1", "camera", 900000, 300000),
    ("pc_test1", "camera", 900000, 210000),
    ("", "whiteboard", 900000, 540000),
]


def _infos(rows):
    return tuple(
        SegmentInfo(file_id=f"f{i}", user_id=user, kind=kind, play_offset_ms=offset, duration_ms=duration)
        for i, (user, kind, offset, duration) in enumerate(rows)
    )


@pytest.mark.django_db
def test_seed_002_files_land_around_the_pause_even_when_the_pause_was_observed_late():
    app = factories.app("tencent_tiw")
    task = factories.task(factories.room(app), started_at=datetime(2019, 5, 23, 12, 5, 40, tzinfo=UTC))
    # Polls saw the pause 4 s late and the resume 3 s late: 904000..963000 on the wall clock.
    task.pause_intervals = [[904000, 963000]]
    task.save()

    lifecycle._store_segments(task, _infos(SEED_002))

    task.refresh_from_db()
    assert task.pause_intervals == [[900000, 959000]]  # moved to where the files cut, length kept
    placed = sorted(Segment.objects.filter(task=task).values_list("user_id", "offset_ms", "duration_ms"))
    assert placed == sorted(
        [
            ("ios_test1", 0, 900000),
            ("pc_test1", 300000, 600000),
            ("", 120000, 780000),
            ("ios_test1", 959000, 300000),
            ("pc_test1", 959000, 210000),
            ("", 959000, 540000),
        ]
    )


@pytest.mark.django_db
def test_absolute_file_times_are_placed_from_the_recording_start():
    app = factories.app("zego")
    start = datetime(2026, 1, 1, 8, 0, tzinfo=UTC)
    task = factories.task(factories.room(app), started_at=start)
    start_ms = int(start.timestamp() * 1000)
    infos = (SegmentInfo(file_id="a", kind="mixed", duration_ms=60000, started_at_ms=start_ms + 5000),)
    lifecycle._store_segments(task, infos)
    lifecycle._store_segments(task, infos)  # the same file again: no second row
    assert list(Segment.objects.filter(task=task).values_list("offset_ms", "duration_ms")) == [(5000, 60000)]
