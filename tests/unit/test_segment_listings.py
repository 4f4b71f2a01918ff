"""A file listed again and again (while it records, after its upload, late or out of order) stays one
segment that keeps the most complete thing the vendor said about it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from recordings import lifecycle
from recordings.models import Segment
from recordings.vendors.base import SegmentInfo
from tests import factories

START = datetime(2026, 1, 1, 8, 0, tzinfo=UTC)
START_MS = int(START.timestamp() * 1000)


def _file(file_id: str, duration_ms: int, *, size: int = 0, url: str = "") -> SegmentInfo:
    return SegmentInfo(
        file_id=file_id,
        kind="mixed",
        duration_ms=duration_ms,
        started_at_ms=START_MS + 2000,
        size_bytes=size,
        format="mp4",
        url=url,
    )


def _rows(task):
    return list(
        Segment.objects.filter(task=task)
        .order_by("vendor_file_id")
        .values_list("vendor_file_id", "offset_ms", "duration_ms", "size_bytes", "vendor_url")
    )


@pytest.mark.django_db
def test_a_file_listed_while_recording_grows_and_ends_with_its_final_answer():
    task = factories.task(factories.room(factories.app("zego")), mode="mixed", started_at=START)
    for duration in (6_000, 36_000, 66_000):
        lifecycle._store_segments(task, (_file("f1", duration),))
        assert _rows(task) == [("f1", 2000, duration, 0, "")]
    final = _file("f1", 90_000, size=4_096, url="https://bucket.example/f1.mp4")
    lifecycle._store_segments(task, (final, _file("f2", 1_000)))
    assert _rows(task) == [
        ("f1", 2000, 90_000, 4_096, "https://bucket.example/f1.mp4"),
        ("f2", 2000, 1_000, 0, ""),
    ]


@pytest.mark.django_db
def test_a_stale_listing_applied_after_the_final_one_changes_nothing():
    task = factories.task(factories.room(factories.app("zego")), mode="mixed", started_at=START)
    lifecycle._store_segments(task, (_file("f1", 90_000, size=4_096, url="https://bucket.example/f1.mp4"),))
    lifecycle._store_segments(task, (_file("f1", 36_000),))  # a query answered before the upload
    assert _rows(task) == [("f1", 2000, 90_000, 4_096, "https://bucket.example/f1.mp4")]


@pytest.mark.django_db
def test_a_file_being_archived_keeps_what_its_copy_was_made_from():
    task = factories.task(factories.room(factories.app("zego")), mode="mixed", started_at=START)
    lifecycle._store_segments(task, (_file("f1", 90_000, size=4_096, url="https://bucket.example/f1.mp4"),))
    Segment.objects.filter(task=task).update(archive_status="copying")
    lifecycle._store_segments(task, (_file("f1", 91_000, size=5_000, url="https://other.example/f1.mp4"),))
    assert _rows(task) == [("f1", 2000, 90_000, 4_096, "https://bucket.example/f1.mp4")]


@pytest.mark.django_db
def test_a_duration_that_is_only_a_bound_keeps_the_tightest_one():
    # Agora's stop answer ends the last file by its time; the upload notice, sent after the upload,
    # bounds it again but later. The earlier, tighter bound is the truer length.
    task = factories.task(factories.room(factories.app("agora")), mode="mixed", started_at=START)
    stop_answer = SegmentInfo(file_id="c.m3u8", kind="mixed", duration_ms=60_000, started_at_ms=START_MS,
                              duration_is_bound=True)  # fmt: skip
    uploaded_notice = SegmentInfo(file_id="c.m3u8", kind="mixed", duration_ms=66_000, started_at_ms=START_MS,
                                  duration_is_bound=True)  # fmt: skip
    lifecycle._store_segments(task, (stop_answer,))
    lifecycle._store_segments(task, (uploaded_notice,))
    assert Segment.objects.get(task=task).duration_ms == 60_000
