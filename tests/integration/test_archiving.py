"""Archiving through the real worker: a class recorded on the sandbox is copied to an S3-compatible
server (moto, on loopback) once it finishes; a corrupted download is caught and retried by Celery;
a vendor that uploads into the archive bucket itself has its files verified there, not copied."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import httpx
import pytest
from django.utils import timezone

from recordings import archiving, lifecycle, tasks
from recordings.choices import ArchiveStatus
from recordings.models import Segment
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
    stack.record(task, 90)
    task = stack.stop_and_finish(task, teacher)

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


def bucket_keys(s3_server, bucket: str) -> list[str]:
    answer = s3_server.client().list_objects_v2(Bucket=bucket)
    return sorted(item["Key"] for item in answer.get("Contents", []))


def test_files_a_vendor_uploaded_into_the_archive_bucket_are_verified_in_place_by_the_worker(
    stack, s3_server
):
    """Volcengine uploads each file into the customer's bucket (here moto's) and lists its
    ObjectKey and Size. The sandbox keeps the bytes in its own bucket; this test carries them
    into moto, as the vendor's uploader would, first not at all, then one of them truncated."""
    teacher = factories.user("teacher-in-place", "Teacher")
    # Volcengine names Amazon S3 (its CustomConfig has no endpoint); RecDesk reaches it at moto.
    target = s3_target(s3_server, provider="s3", prefix="school")
    app, room = stack.app("volcengine", teacher=teacher, default_storage=target)
    task = lifecycle.start(app=app, room=room, mode="individual", options={}, user=teacher)
    stack.record(task, 120)
    task = stack.stop_and_finish(task, teacher)

    def states():
        return list(Segment.objects.filter(task=task).order_by("pk"))

    def diagnose() -> str:
        rows = [(s.pk, s.archive_status, s.archived_key, s.archive_error) for s in states()]
        return f"archive states: {rows}\n{stack.diagnose(task.pk)}"

    # 1. The vendor's upload has not arrived: every file fails, saying which object is missing.
    # The recording makes at least two files; the last can be stored after the first has already
    # failed (the final file list comes with the last query), so wait for both.
    def all_missing():
        segments = states()
        return (
            segments
            if len(segments) >= 2
            and all(
                s.archive_status == ArchiveStatus.FAILED and "is not there" in s.archive_error
                for s in segments
            )
            else None
        )

    try:
        segments = wait_for(all_missing, timeout=90, interval=0.5, what="every file reported missing")
    except AssertionError:
        raise AssertionError(diagnose()) from None
    assert len(segments) >= 2, diagnose()
    assert bucket_keys(s3_server, target.bucket) == []
    keys = {s.pk: archiving.in_place_key(s.vendor_url, target) for s in segments}
    assert all(key.startswith("school/") for key in keys.values()), keys
    for segment in segments:
        assert keys[segment.pk] in segment.archive_error

    # 2. The upload arrives, one file short by 100 bytes.
    originals = {}
    for segment in segments:
        url = stack.sandbox.control_url(f"/media/{target.bucket}/{keys[segment.pk]}")
        originals[segment.pk] = httpx.get(url, timeout=30).raise_for_status().content
        assert len(originals[segment.pk]) == segment.size_bytes > 100
    tampered, *whole = segments
    for segment in segments:
        body = originals[segment.pk][:-100] if segment == tampered else originals[segment.pk]
        s3_server.client().put_object(Bucket=target.bucket, Key=keys[segment.pk], Body=body)
    uploaded = bucket_keys(s3_server, target.bucket)
    assert uploaded == sorted(keys.values())

    archiving.retry(stack.task(task.pk))

    def settled():
        by_pk = {s.pk: s for s in states()}
        done = all(by_pk[s.pk].archive_status == ArchiveStatus.ARCHIVED for s in whole)
        refused = by_pk[tampered.pk]
        return (
            done and refused.archive_status == ArchiveStatus.FAILED and "incomplete" in refused.archive_error
        )

    try:
        wait_for(settled, timeout=90, interval=0.5, what="the whole files verified, the short one refused")
    except AssertionError:
        raise AssertionError(diagnose()) from None

    by_pk = {s.pk: s for s in states()}
    refused = by_pk[tampered.pk]
    assert refused.archived_key == "" and refused.archived_at is None
    assert f"says {tampered.size_bytes} bytes" in refused.archive_error
    assert f"has {tampered.size_bytes - 100} bytes" in refused.archive_error
    for segment in whole:
        done = by_pk[segment.pk]
        assert done.archived_key == keys[segment.pk]
        assert done.archived_checksum == "sha256:" + hashlib.sha256(originals[segment.pk]).hexdigest()
        assert done.archived_bytes == segment.size_bytes
    # Verified where the vendor put them: the archive wrote no second object.
    assert bucket_keys(s3_server, target.bucket) == uploaded

    # 3. Once the vendor's upload is whole, staff retry and it verifies too; still nothing copied.
    s3_server.client().put_object(Bucket=target.bucket, Key=keys[tampered.pk], Body=originals[tampered.pk])
    archiving.retry(stack.task(task.pk))
    try:
        wait_for(
            lambda: all(s.archive_status == ArchiveStatus.ARCHIVED for s in states()),
            timeout=90,
            interval=0.5,
            what="every file archived",
        )
    except AssertionError:
        raise AssertionError(diagnose()) from None
    assert bucket_keys(s3_server, target.bucket) == uploaded
    assert archiving.in_place_key(states()[0].vendor_url, target) == states()[0].archived_key
