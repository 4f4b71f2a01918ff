"""Archiving against real servers on loopback: moto's S3 server (real boto3 calls) and a vendor media
server that breaks connections and corrupts bytes. The services are called directly; the worker
path is in tests/integration/test_archiving.py."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import httpx
import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from recordings import archiving, selectors
from recordings.choices import ArchiveStatus
from recordings.models import AuditEvent, Segment, StorageTarget
from tests import archive_support, factories
from tests.archive_support import media_bytes, s3_target

pytestmark = pytest.mark.django_db

s3_server = archive_support.s3_server
media_server = archive_support.media_server


@pytest.fixture
def people():
    return {
        "teacher": factories.user("tina", "Teacher"),
        "other": factories.user("otto", "Teacher"),
        "support": factories.user("sue", "Support"),
    }


def finished_task(teacher, storage=None, vendor="tencent_tiw"):
    app = factories.app(vendor, base_url="http://127.0.0.1:9", default_storage=storage)
    room = factories.room(app, teacher)
    now = timezone.now()
    return factories.task(
        room,
        vendor_task_id=f"t-{room.pk}",
        observed_state="finished",
        desired_state="stopped",
        started_at=now - timedelta(minutes=10),
        stopped_at=now - timedelta(minutes=1),
        finished_at=now,
    )


def add_segment(
    task, url: str, *, size: int = 0, user_id: str = "alice", offset_ms: int = 0, fmt: str = "mp4"
):
    return Segment.objects.create(
        task=task,
        user_id=user_id,
        kind="camera",
        offset_ms=offset_ms,
        duration_ms=60_000,
        size_bytes=size,
        format=fmt,
        vendor_url=url,
        vendor_file_id=url.rsplit("/", 1)[-1] + f"-{offset_ms}",
    )


def archive_all(task) -> list[str]:
    return [archiving.archive_segment(pk) for pk in archiving.start_task(task.pk)]


def test_a_class_archives_completely_to_s3(people, s3_server, media_server):
    target = s3_target(s3_server, prefix="school-a")
    task = finished_task(people["teacher"], storage=target)
    bodies = {
        "small.mp4": media_bytes(300_000, "a"),
        "big.mp4": media_bytes(9 * 1024 * 1024 + 17, "b"),
        "tiny.mp4": b"x",
    }
    segments = [
        add_segment(task, media_server.add(name, body), size=len(body), offset_ms=i * 60_000)
        for i, (name, body) in enumerate(bodies.items())
    ]

    assert archive_all(task) == ["archived"] * 3

    for segment, (name, body) in zip(segments, bodies.items(), strict=True):
        segment.refresh_from_db()
        assert segment.archive_status == ArchiveStatus.ARCHIVED
        assert segment.archived_key == f"school-a/recdesk/{task.pk}/{segment.pk}/{name}"
        assert segment.archived_checksum == "sha256:" + hashlib.sha256(body).hexdigest()
        assert segment.archived_bytes == len(body)
        assert segment.archive_error == ""
        assert segment.archived_at is not None
        assert s3_server.read(target.bucket, segment.archived_key) == body
        # Tencent deletes real-time recording results after 3 days (seed 002).
        assert segment.vendor_expires_at == task.finished_at + timedelta(days=3)

    progress = selectors.archive_progress(task)
    assert progress.all_archived and not progress.active
    assert progress.done_bytes == progress.total_bytes == sum(map(len, bodies.values()))
    assert progress.percent == 100.0
    assert progress.counts == {"archived": 3}
    assert progress.in_place == 0  # copies, each in its own folder
    assert [row.percent for row in selectors.archive_files(task)] == [100.0] * 3
    assert not any(row.in_place for row in selectors.archive_files(task))
    # A second run finds nothing to do.
    assert archiving.start_task(task.pk) == []


def test_a_connection_cut_mid_file_resumes_where_it_broke(people, s3_server, media_server):
    body = media_bytes(3 * 1024 * 1024, "cut")
    cut = 1024 * 1024 + 123
    task = finished_task(people["teacher"], storage=s3_target(s3_server))
    segment = add_segment(task, media_server.add("cut.mp4", body, cut_after=cut, cut_times=1), size=len(body))

    assert archiving.archive_segment(segment.pk) == "archived"

    segment.refresh_from_db()
    assert segment.archive_status == ArchiveStatus.ARCHIVED
    assert segment.archive_attempts == 1  # resumed inside the attempt, not retried from zero
    first, resumed = media_server.ranges_for("cut.mp4")
    # Resumed from the bytes that had arrived (the client may hold back a partial chunk), not from 0.
    assert first == "" and resumed.startswith("bytes=") and resumed.endswith("-")
    assert 0 < int(resumed[len("bytes=") : -1]) <= cut
    assert s3_server.read(task.app.default_storage.bucket, segment.archived_key) == body
    assert segment.archived_checksum == "sha256:" + hashlib.sha256(body).hexdigest()


def test_a_checksum_mismatch_is_caught_and_the_retry_succeeds(people, s3_server, media_server):
    body = media_bytes(200_000, "sum")
    task = finished_task(people["teacher"], storage=s3_target(s3_server))
    segment = add_segment(
        task, media_server.add("sum.mp4", body, md5_etag=True, corrupt_times=1), size=len(body)
    )

    with pytest.raises(archiving.ArchiveFailed) as failure:
        archiving.archive_segment(segment.pk)
    assert failure.value.retryable

    segment.refresh_from_db()
    assert segment.archive_status == ArchiveStatus.FAILED
    assert "checksum" in segment.archive_error
    assert hashlib.md5(body).hexdigest() in segment.archive_error  # noqa: S324
    assert segment.archived_key == "" and segment.archived_at is None
    listed = s3_server.client().list_objects_v2(Bucket=task.app.default_storage.bucket)
    assert listed.get("KeyCount", 0) == 0  # nothing unverified was left in the archive

    assert archiving.archive_segment(segment.pk) == "archived"
    segment.refresh_from_db()
    assert segment.archive_status == ArchiveStatus.ARCHIVED
    assert segment.archive_attempts == 2
    assert segment.archive_error == ""
    assert s3_server.read(task.app.default_storage.bucket, segment.archived_key) == body


def test_a_file_the_vendor_no_longer_has_fails_at_once_with_the_reason(people, s3_server, media_server):
    task = finished_task(people["teacher"], storage=s3_target(s3_server))
    segment = add_segment(task, media_server.add("gone.mp4", b"", status=404))

    with pytest.raises(archiving.ArchiveFailed) as failure:
        archiving.archive_segment(segment.pk)

    assert not failure.value.retryable
    segment.refresh_from_db()
    assert segment.archive_status == ArchiveStatus.FAILED
    assert "no longer has this file" in segment.archive_error
    assert "HTTP 404" in segment.archive_error


def test_a_size_that_disagrees_with_the_vendors_file_list_is_not_archived(people, s3_server, media_server):
    body = media_bytes(10_000, "short")
    task = finished_task(people["teacher"], storage=s3_target(s3_server))
    segment = add_segment(task, media_server.add("short.mp4", body), size=len(body) + 5)

    with pytest.raises(archiving.ArchiveFailed):
        archiving.archive_segment(segment.pk)

    segment.refresh_from_db()
    assert segment.archive_status == ArchiveStatus.FAILED
    assert f"{len(body) + 5} bytes" in segment.archive_error
    assert segment.archived_key == ""


def test_validate_storage_reports_a_wrong_secret_clearly(people, s3_server):
    admin = factories.user("boss", "Admin")
    wrong = s3_target(s3_server, secret="not-the-secret-" + "x" * 20)

    with s3_server.signatures_checked():
        result = archiving.validate_storage(wrong, user=admin)

    assert not result.ok
    write, read, delete = result.steps
    assert write.ok is False
    assert "secret access key" in write.message and "signature does not match" in write.message
    assert "SignatureDoesNotMatch" in write.message
    assert (read.ok, delete.ok) == (None, None)
    assert all("not-the-secret" not in step.message for step in result.steps)
    assert AuditEvent.objects.filter(action="storage.validate", detail__contains="failed").exists()


def test_validate_storage_writes_reads_and_deletes_a_probe(people, s3_server, client):
    admin = factories.user("boss", "Admin")
    target = s3_target(s3_server)
    client.force_login(admin)

    with s3_server.signatures_checked():
        response = client.post(reverse("storage_validate", args=[target.pk]), HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html and 'id="validate-result"' in html
    assert html.count('class="probe-ok"') == 3
    assert "The storage works" in html
    assert s3_server.client().list_objects_v2(Bucket=target.bucket).get("KeyCount", 0) == 0


def test_validate_storage_page_names_the_failed_step(people, s3_server, client):
    admin = factories.user("boss", "Admin")
    target = s3_target(s3_server, bucket="no-such-bucket-" + "q" * 8)
    client.force_login(admin)

    response = client.post(reverse("storage_validate", args=[target.pk]), HTTP_HX_REQUEST="true")

    html = response.content.decode()
    assert 'class="probe-failed"' in html and html.count('class="probe-skipped"') == 2
    assert "The bucket does not exist" in html


def test_a_teacher_cannot_fetch_another_teachers_archived_file(people, s3_server, media_server, client):
    body = media_bytes(50_000, "mine")
    task = finished_task(people["teacher"], storage=s3_target(s3_server))
    segment = add_segment(task, media_server.add("mine.mp4", body), size=len(body))
    archiving.archive_segment(segment.pk)
    segment.refresh_from_db()
    url = reverse("archived_media", kwargs={"pk": segment.pk, "name": "mine.mp4"})

    assert client.get(url).status_code == 302  # anonymous: to the login page
    client.force_login(people["other"])
    assert client.get(url).status_code == 404

    client.force_login(people["teacher"])
    response = client.get(url)
    assert response.status_code == 302
    assert response["Cache-Control"] == "private, no-store"
    presigned = response["Location"]
    assert presigned.startswith(s3_server.url) and "X-Amz-Expires=900" in presigned
    assert httpx.get(presigned).content == body

    client.force_login(people["support"])
    assert client.get(url).status_code == 302
    # A name outside the segment's own directory is refused.
    assert (
        client.get(reverse("archived_media", kwargs={"pk": segment.pk, "name": "..mine.mp4"})).status_code
        == 404
    )


def test_local_files_are_served_only_to_viewers_of_the_class_with_byte_ranges(
    people, media_server, client, settings, tmp_path
):
    settings.RECDESK_ARCHIVE_ROOT = tmp_path / "archive"
    body = media_bytes(70_000, "local")
    task = finished_task(people["teacher"], storage=None)
    segment = add_segment(task, media_server.add("local.mp4", body), size=len(body))
    assert archiving.archive_segment(segment.pk) == "archived"
    segment.refresh_from_db()
    stored = tmp_path / "archive" / segment.archived_key
    assert stored.read_bytes() == body
    url = reverse("archived_media", kwargs={"pk": segment.pk, "name": "local.mp4"})

    client.force_login(people["other"])
    assert client.get(url).status_code == 404

    client.force_login(people["teacher"])
    whole = client.get(url)
    assert whole.status_code == 200 and b"".join(whole.streaming_content) == body
    part = client.get(url, HTTP_RANGE="bytes=1000-1999")
    assert part.status_code == 206
    assert part["Content-Range"] == f"bytes 1000-1999/{len(body)}"
    assert b"".join(part.streaming_content) == body[1000:2000]
    assert client.get(url, HTTP_RANGE=f"bytes={len(body)}-").status_code == 416


def test_the_player_is_handed_the_archived_copy(people, s3_server, media_server):
    task = finished_task(people["teacher"], storage=s3_target(s3_server))
    archived = add_segment(task, media_server.add("one.mp4", b"one"), size=3, offset_ms=0)
    waiting = add_segment(task, media_server.add("two.mp4", b"two"), size=3, offset_ms=60_000)
    archiving.archive_segment(archived.pk)

    tl = selectors.timeline(task)
    urls = {
        box.offset_ms: tl.url_base + box.url for g in tl.groups for lane in g.lanes for box in lane.segments
    }

    assert urls[0] == reverse("archived_media", kwargs={"pk": archived.pk, "name": "one.mp4"})
    assert urls[60_000] == waiting.vendor_url


def test_an_hls_recording_is_archived_slice_by_slice_and_plays_through_the_protected_view(
    people, media_server, client, settings, tmp_path
):
    settings.RECDESK_ARCHIVE_ROOT = tmp_path / "archive"
    slices = {f"hls/s{i}.ts": media_bytes(5000 + i, f"ts{i}") for i in range(3)}
    for path, body in slices.items():
        media_server.add(path, body, content_type="video/mp2t")
    playlist = (
        "#EXTM3U\n#EXT-X-TARGETDURATION:10\n"
        + "".join(f"#EXTINF:10,\n{p.split('/')[1]}\n" for p in slices)
        + "#EXT-X-ENDLIST\n"
    )
    task = finished_task(people["teacher"], storage=None, vendor="agora")
    segment = add_segment(task, media_server.add("hls/index.m3u8", playlist.encode()), fmt="hls")

    assert archiving.archive_segment(segment.pk) == "archived"

    segment.refresh_from_db()
    directory = tmp_path / "archive" / segment.archived_key.rsplit("/", 1)[0]
    for path, body in slices.items():
        assert (directory / path.split("/")[1]).read_bytes() == body
    assert segment.archived_checksum.startswith("sha256-manifest:")
    client.force_login(people["teacher"])
    served = client.get(
        reverse("archived_media", kwargs={"pk": segment.pk, "name": "index.m3u8"})
    ).content.decode()
    slice_url = reverse("archived_media", kwargs={"pk": segment.pk, "name": "s1.ts"})
    assert slice_url in served
    assert b"".join(client.get(slice_url).streaming_content) == slices["hls/s1.ts"]


def test_staff_retry_from_the_class_page_puts_failed_files_back(people, s3_server, media_server, client):
    task = finished_task(people["teacher"], storage=s3_target(s3_server))
    segment = add_segment(task, media_server.add("flaky.mp4", b"", status=503))
    with pytest.raises(archiving.ArchiveFailed):
        archiving.archive_segment(segment.pk)
    client.force_login(people["teacher"])

    page = client.get(reverse("recording_detail", args=[task.pk])).content.decode()
    assert "1 file could not be archived." in page and "HTTP 503" in page
    assert reverse("archive_retry", args=[task.pk]) in page

    response = client.post(reverse("archive_retry", args=[task.pk]), HTTP_HX_REQUEST="true")

    assert response.status_code == 200 and 'id="archive"' in response.content.decode()
    segment.refresh_from_db()
    assert segment.archive_status == ArchiveStatus.PENDING and segment.archive_error == ""
    assert AuditEvent.objects.filter(action="archive.retry", task=task, actor=people["teacher"]).exists()
    client.force_login(people["other"])
    assert client.post(reverse("archive_retry", args=[task.pk])).status_code == 404


def test_the_archive_card_polls_while_copying_and_stops_when_done(people, s3_server, media_server, client):
    task = finished_task(people["teacher"], storage=s3_target(s3_server))
    segment = add_segment(task, media_server.add("poll.mp4", b"abc"), size=3)
    client.force_login(people["support"])
    url = reverse("recording_archive", args=[task.pk])

    polling = client.get(url, HTTP_HX_REQUEST="true")
    assert polling.status_code == 200 and "every 3s" in polling.content.decode()

    archiving.archive_segment(segment.pk)
    done = client.get(url, HTTP_HX_REQUEST="true")
    assert done.status_code == 286
    assert "1 of 1 files archived" in done.content.decode()


def test_review_and_home_show_the_archive(people, s3_server, media_server, client):
    task = finished_task(people["teacher"], storage=s3_target(s3_server))
    done = add_segment(task, media_server.add("r1.mp4", b"1"), size=1, offset_ms=0)
    add_segment(task, media_server.add("r2.mp4", b"2"), size=1, offset_ms=60_000)
    archiving.archive_segment(done.pk)
    archiving.start_task(task.pk)  # sets the vendor expiry of the Tencent files
    Segment.objects.filter(task=task).update(vendor_expires_at=timezone.now() + timedelta(hours=5))
    client.force_login(people["teacher"])

    review = client.get(reverse("review")).content.decode()
    assert "1/2" in review

    home = client.get(reverse("home")).content.decode()
    assert "1 file not archived" in home  # the archived one is not counted
    Segment.objects.filter(task=task).update(vendor_expires_at=timezone.now() + timedelta(hours=30))
    assert "not archived" not in client.get(reverse("home")).content.decode()


def test_the_archive_command_archives_a_task_and_reports_failures(people, s3_server, media_server, capsys):
    task = finished_task(people["teacher"], storage=s3_target(s3_server))
    add_segment(task, media_server.add("c1.mp4", b"cmd"), size=3)
    broken = finished_task(
        people["teacher"], storage=StorageTarget.objects.create(name="vod", provider="vendor_vod")
    )
    add_segment(broken, "")

    call_command("archive", "--task", str(task.pk))
    assert Segment.objects.get(task=task).archive_status == ArchiveStatus.ARCHIVED
    assert "archived as" in capsys.readouterr().out

    assert archiving.pending_tasks() == [broken.pk]
    with pytest.raises(Exception, match="could not be archived"):
        call_command("archive", "--all-pending")
    assert "gave no address" in Segment.objects.get(task=broken).archive_error


# ------------------------------------------------------------------ files the vendor uploaded into the archive


def vendor_upload(s3_server, target, key: str, body: bytes, **extra) -> str:
    """What Agora, ZEGO and Volcengine do: put the file into the customer's bucket. Returns its URL
    as the lifecycle records it (recordings.storage.object_url)."""
    from recordings.storage import object_url

    s3_server.client().put_object(Bucket=target.bucket, Key=key, Body=body, **extra)
    return object_url(target, key)


def bucket_keys(s3_server, bucket: str) -> list[str]:
    answer = s3_server.client().list_objects_v2(Bucket=bucket)
    return sorted(item["Key"] for item in answer.get("Contents", []))


def test_a_file_the_vendor_uploaded_into_the_archive_is_verified_in_place_not_copied(
    people, s3_server, client
):
    target = s3_target(s3_server, prefix="school-a")
    task = finished_task(people["teacher"], storage=target, vendor="agora")
    body = media_bytes(300_000, "agora")
    key = "school-a/sid_abc/sid_abc_room.mp4"
    segment = add_segment(task, vendor_upload(s3_server, target, key, body), size=len(body))
    before = bucket_keys(s3_server, target.bucket)

    assert archive_all(task) == ["archived"]

    segment.refresh_from_db()
    assert segment.archive_status == ArchiveStatus.ARCHIVED
    assert segment.archived_key == key
    assert segment.archived_checksum == "sha256:" + hashlib.sha256(body).hexdigest()
    assert segment.archived_bytes == len(body)
    assert bucket_keys(s3_server, target.bucket) == before == [key]  # no second copy
    assert selectors.archive_progress(task).in_place == 1
    client.force_login(people["teacher"])
    page = client.get(reverse("recording_detail", args=[task.pk])).content.decode()
    assert "1 verified in place" in page
    files = client.get(reverse("recording_archive_files", args=[task.pk])).content.decode()
    assert "verified in place" in files and key in files
    # Playback hands out the vendor's own object.
    served = client.get(reverse("archived_media", kwargs={"pk": segment.pk, "name": "sid_abc_room.mp4"}))
    assert served.status_code == 302
    assert httpx.get(served["Location"]).content == body


def test_a_changed_or_missing_file_in_place_fails_with_the_reason_and_is_never_archived(people, s3_server):
    target = s3_target(s3_server)
    task = finished_task(people["teacher"], storage=target, vendor="volcengine")
    body = media_bytes(50_000, "volc")
    truncated = add_segment(
        task, vendor_upload(s3_server, target, "rec/a.mp4", body[:-10]), size=len(body), offset_ms=0
    )
    missing = add_segment(
        task, vendor_upload(s3_server, target, "rec/b.mp4", body), size=len(body), offset_ms=60_000
    )
    s3_server.client().delete_object(Bucket=target.bucket, Key="rec/b.mp4")

    for segment in (truncated, missing):
        with pytest.raises(archiving.ArchiveFailed):
            archiving.archive_segment(segment.pk)
    truncated.refresh_from_db()
    missing.refresh_from_db()
    assert truncated.archive_status == missing.archive_status == ArchiveStatus.FAILED
    assert truncated.archived_key == missing.archived_key == ""
    assert f"says {len(body)} bytes" in truncated.archive_error
    assert f"has {len(body) - 10} bytes" in truncated.archive_error
    assert "rec/b.mp4 is not there" in missing.archive_error
    assert bucket_keys(s3_server, target.bucket) == ["rec/a.mp4"]  # nothing written by the archive

    # Once the vendor's upload is whole, a retry verifies it in place.
    vendor_upload(s3_server, target, "rec/a.mp4", body)
    archiving.retry(task)
    assert archiving.archive_segment(truncated.pk) == "archived"
    truncated.refresh_from_db()
    assert truncated.archived_key == "rec/a.mp4"


def test_an_hls_recording_in_place_is_verified_slice_by_slice(people, s3_server, client):
    target = s3_target(s3_server)
    task = finished_task(people["teacher"], storage=target, vendor="agora")
    slices = {f"s{i}.ts": media_bytes(4000 + i, f"hls{i}") for i in range(3)}
    for name, body in slices.items():
        vendor_upload(s3_server, target, f"sid/{name}", body)
    playlist = "#EXTM3U\n" + "".join(f"#EXTINF:10,\n{name}\n" for name in slices) + "#EXT-X-ENDLIST\n"
    url = vendor_upload(s3_server, target, "sid/index.m3u8", playlist.encode())
    segment = add_segment(task, url, fmt="hls")
    before = bucket_keys(s3_server, target.bucket)

    assert archiving.archive_segment(segment.pk) == "archived"

    segment.refresh_from_db()
    assert segment.archived_key == "sid/index.m3u8"
    assert segment.archived_checksum.startswith("sha256-manifest:")
    assert segment.archived_bytes == sum(map(len, slices.values())) + len(playlist)
    assert bucket_keys(s3_server, target.bucket) == before
    client.force_login(people["teacher"])
    served = client.get(reverse("archived_media", kwargs={"pk": segment.pk, "name": "index.m3u8"}))
    assert reverse("archived_media", kwargs={"pk": segment.pk, "name": "s1.ts"}) in served.content.decode()

    # A slice that went missing fails the whole recording's check.
    s3_server.client().delete_object(Bucket=target.bucket, Key="sid/s2.ts")
    other = add_segment(task, url, fmt="hls", offset_ms=60_000)
    with pytest.raises(archiving.ArchiveFailed):
        archiving.archive_segment(other.pk)
    other.refresh_from_db()
    assert other.archive_status == ArchiveStatus.FAILED and "sid/s2.ts is not there" in other.archive_error


def test_a_file_in_another_bucket_is_copied_not_taken_for_the_archive(people, s3_server):
    target = s3_target(s3_server)
    elsewhere = s3_target(s3_server)  # same endpoint, another bucket
    task = finished_task(people["teacher"], storage=target, vendor="agora")
    body = media_bytes(1000, "else")
    # Readable without a signature, as a vendor's download link is.
    url = vendor_upload(s3_server, elsewhere, "x/y.mp4", body, ACL="public-read")

    assert archiving.in_place_key(url, target) == ""
    assert archiving.in_place_key(url, elsewhere) == "x/y.mp4"
    segment = add_segment(task, url, size=len(body))
    assert archiving.archive_segment(segment.pk) == "archived"
    segment.refresh_from_db()
    assert segment.archived_key == f"recdesk/{task.pk}/{segment.pk}/y.mp4"
    assert s3_server.read(target.bucket, segment.archived_key) == body


def test_in_place_keys_are_taken_only_from_urls_under_the_targets_bucket():
    target = StorageTarget(provider="s3_compatible", bucket="rec", endpoint="http://st.example:9000/base")
    assert archiving.in_place_key("http://st.example:9000/base/rec/a/b%20c.mp4?sig=1", target) == "a/b c.mp4"
    assert archiving.in_place_key("HTTP://ST.example:9000/base/rec/a.mp4", target) == "a.mp4"
    assert archiving.in_place_key("http://st.example:9000/base/record/a.mp4", target) == ""
    assert archiving.in_place_key("http://st.example:9000/base/rec/../x.mp4", target) == ""
    assert archiving.in_place_key("http://st.example:9000/base/rec/", target) == ""
    assert archiving.in_place_key("https://cdn.vod.example/rec/a.mp4", target) == ""
    amazon = StorageTarget(provider="s3", bucket="rec", region="eu-west-1")
    assert archiving.in_place_key("https://rec.s3.eu-west-1.amazonaws.com/k/a.mp4", amazon) == "k/a.mp4"
    local = StorageTarget(provider="local", bucket="rec")
    assert archiving.in_place_key("http://st.example:9000/base/rec/a.mp4", local) == ""
    assert archiving.in_place_key("http://st.example:9000/base/rec/a.mp4", None) == ""


def test_the_sweeper_leaves_files_whose_copy_waits_in_the_queue_and_takes_lost_ones(people):
    waiting = finished_task(people["teacher"])
    add_segment(waiting, "http://127.0.0.1:9/w.mp4")
    lost = finished_task(people["teacher"])
    add_segment(lost, "http://127.0.0.1:9/l.mp4")
    never = finished_task(people["teacher"])
    add_segment(never, "http://127.0.0.1:9/n.mp4")
    now = timezone.now()
    Segment.objects.filter(task=waiting).update(archive_queued_at=now - timedelta(minutes=1))
    Segment.objects.filter(task=lost).update(
        archive_queued_at=now - archiving.REQUEUE_AFTER - timedelta(minutes=1)
    )

    assert sorted(archiving.pending_tasks()) == sorted([lost.pk, never.pk])
