"""Archiving through the real worker: a class recorded on the sandbox is copied to an S3-compatible
server (moto, on loopback) once it finishes; a corrupted download is caught and retried by Celery."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import httpx
import pytest
from django.utils import timezone

from recordings import lifecycle, tasks
from recordings.choices import ArchiveStatus
from recordings.models import Segment, VendorCommand
from tests import archive_support, factories
from tests.archive_support import media_bytes, s3_target
from tests.stack_support import wait_for

pytestmark = pytest.mark.integration

s3_server = archive_support.s3_server
media_server = archive_support.media_server


def test_a_finished_class_is_archived_completely_by_the_worker(stack, s3_server):
    teacher = factories.user("teacher-archive", "Teacher")
    target = s3_target(s3_server, prefix="kept")
    app, room = stack.app("tencent_tiw", teacher=teacher, default_storage=target)
    task = lifecycle.start(app=app, room=room, mode="individual", options={}, user=teacher)
    task = stack.wait_vendor_id(task.pk)
    stack.advance(6)
    stack.wait_state(task.pk, "recording")
    stack.advance(90)
    lifecycle.request(stack.task(task.pk), "stop", user=teacher)
    wait_for(
        lambda: VendorCommand.objects.filter(task=task, action="stop", status="done").exists(),
        what="stop sent",
    )
    for _ in range(30):
        stack.advance(10)
        if stack.task(task.pk).observed_state == "finished":
            break
    stack.wait_state(task.pk, "finished", timeout=60)

    def all_archived():
        segments = list(Segment.objects.filter(task=task))
        return (
            segments
            if segments and all(s.archive_status == ArchiveStatus.ARCHIVED for s in segments)
            else None
        )

    try:
        segments = wait_for(all_archived, timeout=120, interval=0.5, what="every file archived")
    except AssertionError:
        states = list(Segment.objects.filter(task=task).values_list("archive_status", "archive_error"))
        raise AssertionError(f"archive states: {states}\n{stack.diagnose(task.pk)}") from None

    for segment in segments:
        original = httpx.get(segment.vendor_url, timeout=30).content
        stored = s3_server.read(target.bucket, segment.archived_key)
        assert stored == original and len(stored) > 0
        assert segment.archived_checksum == "sha256:" + hashlib.sha256(original).hexdigest()
        assert segment.archived_key.startswith(f"kept/recdesk/{task.pk}/{segment.pk}/")
        # Tencent deletes real-time recording results after 3 days (seed 002).
        assert segment.vendor_expires_at is not None


def test_the_worker_retries_a_checksum_mismatch_until_the_copy_verifies(
    transactional_db, worker, s3_server, media_server
):
    teacher = factories.user("teacher-retry", "Teacher")
    app = factories.app("tencent_tiw", base_url="http://127.0.0.1:9", default_storage=s3_target(s3_server))
    room = factories.room(app, teacher)
    now = timezone.now()
    task = factories.task(
        room,
        observed_state="finished",
        desired_state="stopped",
        started_at=now - timedelta(minutes=5),
        finished_at=now,
    )
    body = media_bytes(500_000, "worker")
    segment = Segment.objects.create(
        task=task,
        user_id="alice",
        kind="camera",
        offset_ms=0,
        duration_ms=60_000,
        size_bytes=len(body),
        format="mp4",
        vendor_url=media_server.add("w.mp4", body, md5_etag=True, corrupt_times=1),
        vendor_file_id="w.mp4",
    )

    tasks.archive_recording.delay(task.pk)

    def settled():
        segment.refresh_from_db()
        return segment.archive_status == ArchiveStatus.ARCHIVED

    try:
        wait_for(settled, timeout=60, interval=0.3, what="the retried copy")
    except AssertionError:
        raise AssertionError(
            f"{segment.archive_status}: {segment.archive_error}\n{worker.log()[-3000:]}"
        ) from None
    assert segment.archive_attempts == 2  # the corrupted first attempt, then the good one
    assert segment.archived_checksum == "sha256:" + hashlib.sha256(body).hexdigest()
    assert s3_server.read(app.default_storage.bucket, segment.archived_key) == body
    assert len(media_server.ranges_for("w.mp4")) == 2
