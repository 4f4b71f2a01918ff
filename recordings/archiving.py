"""Archiving: copy every file of a finished recording from the vendor to the organisation's storage.

Vendors keep files only for a while (Tencent deletes real-time recording results after 3 days,
seed 002), and an upload that fails loses a recording. So, for each Segment:

1. claim it (a lease: the last progress time; a worker that died lets go once it is stale);
2. stream it from the vendor URL into the destination's backend, resuming with `Range` (and
   `If-Range`, so a file that changed is never spliced) when the connection breaks;
3. check the byte count against the vendor's Content-Length and file list, and the MD5 against the
   vendor's checksum where it gives one (Content-MD5, or a plain-MD5 ETag);
4. read the stored copy back and compare its size and SHA-256 with what was received;
5. only then mark it archived, with the key and the checksum.

A failure leaves the segment `failed` with the reason in plain words; recordings/tasks.py retries
with backoff, and staff can retry from the class page. This module is the only writer of a
Segment's archive fields. HLS recordings (a playlist and its slices) are copied slice by slice.

Agora, ZEGO and Volcengine upload into the customer's own bucket, which is usually the archive
too. A file whose URL names an object of the archive target (`in_place_key`) is not copied a
second time: it is verified where it is (its size against the vendor's file list and the store's
MD5 ETag, then read back whole for its SHA-256) and recorded as archived under its own key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import PurePosixPath
from urllib.parse import unquote, urljoin, urlsplit

import httpx
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from recordings.choices import ActorType, ArchiveStatus, ObservedState, StorageProvider, Vendor
from recordings.models import AuditEvent, RecordingTask, Segment, StorageTarget
from recordings.storage import (
    S3_PROVIDERS,
    Backend,
    StorageError,
    Writer,
    backend_for,
    can_archive_to,
    object_url,
)
from recordings.vendors.http import open_media

log = logging.getLogger(__name__)

# A copy that reported no progress this long is taken to be dead; another worker may claim it.
LEASE = timedelta(minutes=2)
# A pending file enqueued longer ago than this lost its message (a broker hiccup, a purged queue).
REQUEUE_AFTER = timedelta(minutes=10)
PROGRESS_EVERY_SECONDS = 1.0
CHUNK = 256 * 1024
# Broken connections resumed within one attempt before the attempt gives up (Celery retries it).
MAX_RESUMES = 5
# Seed 002: "实时录制结果文件只保存3天，3天后将被删除". The other vendors' documents state no
# retention for their own copies (Agora, ZEGO and Volcengine upload to the customer's storage; the
# TIC document, seed 004, is silent), so their files get no expiry.
VENDOR_RETENTION = {Vendor.TENCENT_TIW: timedelta(days=3)}
HLS_FORMATS = {"hls", "m3u8"}
SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


class ArchiveFailed(Exception):
    """One attempt failed. `message` is for the class page; `retryable` says whether waiting helps."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable


# ------------------------------------------------------------------------------ where and what


def destination(task: RecordingTask) -> StorageTarget | None:
    """The storage the archive goes to: the task's, else the app's default; None means local files.

    A target RecDesk cannot write (the vendor's own VOD) is passed over.
    """
    for target in (task.storage, task.app.default_storage):
        if target is not None and can_archive_to(target):
            return target
    return None


def file_name(segment: Segment) -> str:
    """A safe file name for the segment, from its URL or vendor file id."""
    candidates = [
        PurePosixPath(urlsplit(segment.vendor_url).path).name,
        segment.vendor_file_id.rsplit("/", 1)[-1],
    ]
    for candidate in candidates:
        name = SAFE_NAME.sub("_", candidate).strip("._")
        if name:
            return name[:120]
    return f"file.{SAFE_NAME.sub('', segment.format) or 'bin'}"


def copy_root(task_id: int) -> str:
    """Where in the archive a task's copies go (under the target's prefix). A file of the task
    archived under another key is the vendor's own upload, verified in place (selectors tell them
    apart by it)."""
    return f"recdesk/{task_id}/"


def copy_folder(task_id: int, segment_id: int) -> str:
    """The folder of a copied file's key: HLS slices stay together in it."""
    return f"{copy_root(task_id)}{segment_id}/"


def archive_key(segment: Segment, target: StorageTarget | None, name: str) -> str:
    """`<prefix>/recdesk/<task>/<segment>/<name>`: one directory per segment."""
    prefix = target.prefix.strip("/") + "/" if target is not None and target.prefix.strip("/") else ""
    return f"{prefix}{copy_folder(segment.task_id, segment.pk)}{name}"


def in_place_key(vendor_url: str, target: StorageTarget | None) -> str:
    """The key of the vendor's file if it already lives in the archive `target`, else "".

    Vendors that upload into the customer's bucket hand back an object key (Agora fileName,
    Volcengine ObjectKey; the lifecycle turns it into `object_url(target, key)`) or the object's URL
    (ZEGO FileUrl). Either way the file is in the archive when its URL lies under the target's
    bucket URL, as `object_url` names it: same endpoint, same bucket.
    """
    if target is None or target.provider not in S3_PROVIDERS or not vendor_url:
        return ""
    root = object_url(target, "_")[:-1]  # the bucket's own URL, ending in "/"
    if not root:
        return ""
    parts = urlsplit(vendor_url)
    url = f"{parts.scheme.lower()}://{parts.netloc.lower()}{parts.path}"
    root_parts = urlsplit(root)
    root = f"{root_parts.scheme.lower()}://{root_parts.netloc.lower()}{root_parts.path}"
    if not url.startswith(root):
        return ""
    key = unquote(url[len(root) :])
    if not key or key.endswith("/") or any(part in ("", ".", "..") for part in key.split("/")):
        return ""
    return key


def is_hls(segment: Segment) -> bool:
    return segment.format.lower() in HLS_FORMATS or urlsplit(segment.vendor_url).path.endswith(".m3u8")


# ------------------------------------------------------------------------------ starting


def start_task(task_id: int, *, include_failed: bool = False) -> list[int]:
    """Prepare a finished recording for archiving; return the segments still to copy (with
    `include_failed`, also those whose attempts failed).

    Sets each file's vendor expiry where the vendor documents one, so the home page can warn.
    """
    task = RecordingTask.objects.select_related("app").filter(pk=task_id).first()
    if task is None or task.observed_state != ObservedState.FINISHED:
        return []
    retention = VENDOR_RETENTION.get(task.app.vendor)
    if retention is not None:
        ended = task.finished_at or task.stopped_at or timezone.now()
        Segment.objects.filter(task=task, vendor_expires_at__isnull=True).update(
            vendor_expires_at=ended + retention
        )
    segments = to_archive(Segment.objects.filter(task=task), include_failed=include_failed)
    return list(segments.order_by("offset_ms", "pk").values_list("pk", flat=True))


def to_archive(segments, *, include_failed: bool = True):
    """Segments not archived and not being copied by a live worker."""
    stale = timezone.now() - LEASE
    waiting = [ArchiveStatus.PENDING, ArchiveStatus.FAILED] if include_failed else [ArchiveStatus.PENDING]
    return segments.filter(
        Q(archive_status__in=waiting)
        | Q(archive_status=ArchiveStatus.COPYING, archive_progress_at__lt=stale)
        | Q(archive_status=ArchiveStatus.COPYING, archive_progress_at__isnull=True)
    )


def pending_tasks(limit: int = 1000) -> list[int]:
    """Finished recordings with a file never tried or abandoned mid-copy (for the sweeper and
    `manage.py archive --all-pending`). Failed files wait for a person: their retries are spent.
    A file whose copy was enqueued within REQUEUE_AFTER is waiting in the queue, not lost: sweeping
    it again would only pile duplicate messages onto a busy worker (bench/callbacks.py)."""
    queued = Q(archive_status=ArchiveStatus.PENDING, archive_queued_at__gte=timezone.now() - REQUEUE_AFTER)
    segments = to_archive(
        Segment.objects.filter(task__observed_state=ObservedState.FINISHED), include_failed=False
    ).exclude(queued)
    return list(segments.order_by("task_id").values_list("task_id", flat=True).distinct()[:limit])


def _claim(segment_id: int) -> Segment | None:
    now = timezone.now()
    with transaction.atomic():
        segment = (
            Segment.objects.select_for_update(of=("self",))
            .select_related("task__app", "task__storage", "task__app__default_storage")
            .filter(pk=segment_id)
            .first()
        )
        if segment is None or not to_archive(Segment.objects.filter(pk=segment_id)).exists():
            return None
        segment.archive_attempts += 1
        Segment.objects.filter(pk=segment.pk).update(
            archive_status=ArchiveStatus.COPYING,
            archive_attempts=segment.archive_attempts,
            archive_started_at=now,
            archive_progress_at=now,
            archived_bytes=0,
            archive_error="",
        )
    return segment


# ------------------------------------------------------------------------------ one segment


@dataclass
class _Progress:
    segment_id: int
    attempt: int
    base: int = 0  # bytes of earlier HLS parts
    last_saved: float = 0.0

    def __call__(self, received: int, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last_saved < PROGRESS_EVERY_SECONDS:
            return
        self.last_saved = now
        # Conditional on the attempt: a worker that lost its lease cannot overwrite its successor.
        Segment.objects.filter(pk=self.segment_id, archive_attempts=self.attempt).update(
            archived_bytes=self.base + received, archive_progress_at=timezone.now()
        )


@dataclass
class _Received:
    size: int
    sha256: str
    md5: str
    vendor_md5: str = ""
    content_type: str = ""
    declared_size: int | None = None


@dataclass
class _Outcome:
    key: str
    size: int
    checksum: str
    parts: list[str] = field(default_factory=list)
    in_place: bool = False


def archive_segment(segment_id: int) -> str:
    """Copy one segment to the archive and verify it. Returns "archived" or "skipped".

    Raises ArchiveFailed after recording the reason on the segment.
    """
    segment = _claim(segment_id)
    if segment is None:
        return "skipped"
    attempt = segment.archive_attempts
    target = destination(segment.task)
    progress = _Progress(segment.pk, attempt)
    try:
        if not segment.vendor_url:
            raise ArchiveFailed(_("The vendor gave no address for this file."), retryable=False)
        try:
            backend = backend_for(target)
        except StorageError as exc:
            raise ArchiveFailed(
                _("The archive storage cannot be used: %(reason)s") % {"reason": exc}, retryable=False
            ) from None
        outcome = None
        key = in_place_key(segment.vendor_url, target)
        if key and is_hls(segment):
            outcome = _verify_hls_in_place(segment, key, backend, progress)
        elif key:
            outcome = _verify_in_place(segment, key, backend, progress)
        if outcome is None and is_hls(segment):
            outcome = _copy_hls(segment, target, backend, progress)
        elif outcome is None:
            outcome = _copy_file(segment, target, backend, progress)
    except ArchiveFailed as exc:
        _mark_failed(segment.pk, attempt, exc.message)
        raise
    except StorageError as exc:
        message = _("The archive storage failed: %(reason)s") % {"reason": exc}
        _mark_failed(segment.pk, attempt, message)
        raise ArchiveFailed(message, retryable=exc.retryable) from None
    updated = Segment.objects.filter(
        pk=segment.pk, archive_attempts=attempt, archive_status=ArchiveStatus.COPYING
    ).update(
        archive_status=ArchiveStatus.ARCHIVED,
        archived_key=outcome.key,
        archived_checksum=outcome.checksum,
        archived_bytes=outcome.size,
        archive_error="",
        archived_at=timezone.now(),
        archive_progress_at=timezone.now(),
    )
    if not updated:
        # Another worker took the segment over while this one was copying: its result counts.
        return "skipped"
    if not segment.size_bytes and not outcome.parts:
        Segment.objects.filter(pk=segment.pk, size_bytes=0).update(size_bytes=outcome.size)
    log.info(
        "segment %s archived as %s (%s bytes%s)",
        segment.pk,
        outcome.key,
        outcome.size,
        ", verified in place" if outcome.in_place else "",
    )
    return "archived"


def _mark_failed(segment_id: int, attempt: int, message: str) -> None:
    Segment.objects.filter(pk=segment_id, archive_attempts=attempt).update(
        archive_status=ArchiveStatus.FAILED, archive_error=message[:2000], archive_progress_at=timezone.now()
    )
    log.info("segment %s: archive attempt %s failed: %s", segment_id, attempt, message)


def _copy_file(segment: Segment, target, backend: Backend, progress: _Progress) -> _Outcome:
    key = archive_key(segment, target, file_name(segment))
    writer = backend.writer(key, content_type=_content_type(segment))
    try:
        received = _download(segment.vendor_url, writer, progress)
        expected = segment.size_bytes or None
        if expected is not None and received.size != expected:
            raise ArchiveFailed(
                _("The vendor's file list says %(expected)s bytes, but %(received)s bytes arrived.")
                % {"expected": expected, "received": received.size}
            )
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    _verify_stored(backend, key, received)
    progress(received.size, force=True)
    return _Outcome(key=key, size=received.size, checksum=f"sha256:{received.sha256}")


def _copy_hls(segment: Segment, target, backend: Backend, progress: _Progress) -> _Outcome:
    """Copy every slice of the playlist, then the playlist itself, rewritten to name them locally."""
    playlist_bytes = _fetch_small(segment.vendor_url)
    try:
        text = playlist_bytes.decode("utf-8")
    except UnicodeDecodeError:
        raise ArchiveFailed(_("The vendor's playlist is not text."), retryable=False) from None
    lines, names, manifest = [], set(), hashlib.sha256()
    total = 0
    for line in text.splitlines():
        uri = line.strip()
        if not uri or uri.startswith("#"):
            lines.append(line)
            continue
        name = SAFE_NAME.sub("_", PurePosixPath(urlsplit(uri).path).name).strip("._") or f"part{len(names)}"
        if name in names:
            name = f"{len(names)}-{name}"
        names.add(name)
        key = archive_key(segment, target, name)
        writer = backend.writer(key, content_type="video/mp2t")
        progress.base = total
        try:
            received = _download(urljoin(segment.vendor_url, uri), writer, progress)
            writer.commit()
        except BaseException:
            writer.abort()
            raise
        _verify_stored(backend, key, received)
        total += received.size
        manifest.update(f"{name} {received.sha256}\n".encode())
        lines.append(name)
    rewritten = ("\n".join(lines) + "\n").encode()
    playlist_name = file_name(segment) if file_name(segment).endswith(".m3u8") else "index.m3u8"
    playlist_key = archive_key(segment, target, playlist_name)
    backend.put(playlist_key, rewritten, content_type="application/vnd.apple.mpegurl")
    digest = hashlib.sha256(rewritten).hexdigest()
    _verify_stored(backend, playlist_key, _Received(len(rewritten), digest, ""))
    total += len(rewritten)
    manifest.update(f"{playlist_name} {digest}\n".encode())
    progress.base = 0
    return _Outcome(
        key=playlist_key, size=total, checksum=f"sha256-manifest:{manifest.hexdigest()}", parts=sorted(names)
    )


# ------------------------------------------------------------------------------ already in the archive


def _verify_in_place(segment: Segment, key: str, backend: Backend, progress: _Progress) -> _Outcome:
    """The vendor uploaded this file into the archive bucket: check it there instead of copying it.

    The object must exist, have the size the vendor's file list states, and read back whole with
    that size (and, where the store's ETag is a plain MD5, with that MD5). Its SHA-256 is recorded
    like a copy's, so later checks can tell if it changed.
    """
    stored = _head_in_place(key, backend)
    expected = segment.size_bytes or None
    if expected is not None and stored.size != expected:
        raise ArchiveFailed(
            _(
                "The vendor's file list says %(expected)s bytes, but the object %(key)s in the archive "
                "storage has %(stored)s bytes: it is incomplete or was changed."
            )
            % {"expected": expected, "key": key, "stored": stored.size}
        )
    digest, md5, size = _read_back(key, backend, progress)
    if size != stored.size:
        raise ArchiveFailed(
            _("The object %(key)s read back as %(size)s bytes, not the %(stored)s the storage states.")
            % {"key": key, "size": size, "stored": stored.size}
        )
    etag = stored.etag.strip('"').lower()
    if re.fullmatch(r"[0-9a-f]{32}", etag) and md5 != etag:
        raise ArchiveFailed(
            _("The object %(key)s reads back differently from the storage's own checksum (MD5 %(etag)s).")
            % {"key": key, "etag": etag}
        )
    progress(size, force=True)
    return _Outcome(key=key, size=size, checksum=f"sha256:{digest}", in_place=True)


def _verify_hls_in_place(
    segment: Segment, key: str, backend: Backend, progress: _Progress
) -> _Outcome | None:
    """Verify a playlist and every slice it names in the bucket. None when the slices do not all
    sit beside the playlist (playback serves them by plain name from its folder): then copy."""
    directory, _slash, playlist_name = key.rpartition("/")
    _head_in_place(key, backend)
    playlist = b"".join(backend.read(key))
    try:
        text = playlist.decode("utf-8")
    except UnicodeDecodeError:
        raise ArchiveFailed(_("The vendor's playlist is not text."), retryable=False) from None
    names = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    if not PLAIN_NAME.fullmatch(playlist_name) or not all(PLAIN_NAME.fullmatch(name) for name in names):
        return None
    manifest, total = hashlib.sha256(), 0
    for name in names:
        slice_key = f"{directory}/{name}" if directory else name
        stored = _head_in_place(slice_key, backend)
        progress.base = total
        digest, md5, size = _read_back(slice_key, backend, progress)
        etag = stored.etag.strip('"').lower()
        if size != stored.size or (re.fullmatch(r"[0-9a-f]{32}", etag) and md5 != etag):
            raise ArchiveFailed(
                _("The slice %(key)s reads back differently from what the storage states.")
                % {"key": slice_key}
            )
        total += size
        manifest.update(f"{name} {digest}\n".encode())
    total += len(playlist)
    manifest.update(f"{playlist_name} {hashlib.sha256(playlist).hexdigest()}\n".encode())
    progress.base = 0
    return _Outcome(
        key=key,
        size=total,
        checksum=f"sha256-manifest:{manifest.hexdigest()}",
        parts=sorted(names),
        in_place=True,
    )


def _head_in_place(key: str, backend: Backend):
    try:
        return backend.head(key)
    except StorageError as exc:
        if exc.code in ("404", "NoSuchKey"):
            raise ArchiveFailed(
                _(
                    "The vendor reported this file in the archive storage, but the object %(key)s is "
                    "not there (the upload may have failed or the object was deleted)."
                )
                % {"key": key}
            ) from None
        raise


def _read_back(key: str, backend: Backend, progress) -> tuple[str, str, int]:
    """Read the stored object whole: its SHA-256 and MD5 (hex) and its length."""
    sha, md5 = hashlib.sha256(), hashlib.md5()  # noqa: S324 - MD5 only to compare with the ETag
    size = 0
    for chunk in backend.read(key):
        sha.update(chunk)
        md5.update(chunk)
        size += len(chunk)
        progress(size)
    return sha.hexdigest(), md5.hexdigest(), size


def _content_type(segment: Segment) -> str:
    return {
        "mp4": "video/mp4",
        "m4a": "audio/mp4",
        "aac": "audio/aac",
        "mp3": "audio/mpeg",
        "flv": "video/x-flv",
    }.get(segment.format.lower(), "")


# ------------------------------------------------------------------------------ the transfer


def _download(url: str, writer: Writer, progress) -> _Received:
    """Stream `url` into `writer`, resuming after a broken connection; hash what arrives."""
    sha, md5 = hashlib.sha256(), hashlib.md5()  # noqa: S324 - MD5 only to compare with the vendor's
    received = 0
    declared: int | None = None
    validator = ""
    vendor_md5 = ""
    content_type = ""
    resumes = 0
    while True:
        try:
            with open_media(url, offset=received, if_range=validator) as response:
                if received == 0:
                    _check_status(response, expect=200)
                    declared = _int_header(response, "Content-Length")
                    validator = _validator(response)
                    vendor_md5 = _vendor_md5(response)
                    content_type = response.headers.get("Content-Type", "")
                else:
                    _check_resumed(response, received, declared)
                for chunk in response.iter_raw(CHUNK):
                    writer.write(chunk)
                    sha.update(chunk)
                    md5.update(chunk)
                    received += len(chunk)
                    progress(received)
            if declared is not None and received < declared:
                # The server closed cleanly but early: resume like any broken transfer.
                raise httpx.RemoteProtocolError("body ended early")
            break
        except httpx.TransportError as exc:
            resumes += 1
            if resumes > MAX_RESUMES:
                raise ArchiveFailed(
                    _(
                        "The connection to the vendor broke %(count)s times (last: %(kind)s); %(bytes)s bytes had arrived."
                    )
                    % {"count": resumes, "kind": type(exc).__name__, "bytes": received}
                ) from None
            log.info(
                "download of %s broke after %s bytes (%s); resuming", _safe(url), received, type(exc).__name__
            )
            time.sleep(min(0.2 * 2**resumes, 5.0))
    if declared is not None and received != declared:
        raise ArchiveFailed(
            _("The vendor announced %(declared)s bytes but sent %(received)s.")
            % {"declared": declared, "received": received}
        )
    if vendor_md5 and md5.hexdigest() != vendor_md5:
        raise ArchiveFailed(
            _("The bytes received do not match the vendor's checksum (MD5 %(theirs)s, received %(ours)s).")
            % {"theirs": vendor_md5, "ours": md5.hexdigest()}
        )
    progress(received, force=True)
    return _Received(received, sha.hexdigest(), md5.hexdigest(), vendor_md5, content_type, declared)


def _fetch_small(url: str, limit: int = 4 * 1024 * 1024) -> bytes:
    try:
        with open_media(url) as response:
            _check_status(response, expect=200)
            body = bytearray()
            for chunk in response.iter_raw(CHUNK):
                body += chunk
                if len(body) > limit:
                    raise ArchiveFailed(_("The vendor's playlist is too large."), retryable=False)
            return bytes(body)
    except httpx.TransportError as exc:
        raise ArchiveFailed(
            _("RecDesk could not fetch the file from the vendor (%(kind)s).") % {"kind": type(exc).__name__}
        ) from None


def _check_status(response: httpx.Response, *, expect: int) -> None:
    status = response.status_code
    if status == expect:
        return
    if status in (404, 410):
        raise ArchiveFailed(
            _("The vendor no longer has this file (HTTP %(status)s); it may have expired.")
            % {"status": status},
            retryable=False,
        )
    if status in (401, 403):
        raise ArchiveFailed(
            _("The vendor refused to hand over the file (HTTP %(status)s); its link may have expired.")
            % {"status": status},
            retryable=False,
        )
    raise ArchiveFailed(_("The vendor answered HTTP %(status)s for the file.") % {"status": status})


def _check_resumed(response: httpx.Response, received: int, declared: int | None) -> None:
    if response.status_code != 206:
        # 200 means the server ignored the range or the file changed (If-Range): start over.
        raise ArchiveFailed(
            _("The vendor could not resume the download (HTTP %(status)s); it starts again.")
            % {"status": response.status_code}
        )
    match = re.match(r"bytes (\d+)-(\d+)/(\d+|\*)", response.headers.get("Content-Range", ""))
    if (
        not match
        or int(match[1]) != received
        or (declared is not None and match[3] not in ("*", str(declared)))
    ):
        raise ArchiveFailed(_("The vendor resumed at the wrong place; the download starts again."))


def _int_header(response: httpx.Response, name: str) -> int | None:
    value = response.headers.get(name, "")
    return int(value) if value.isdigit() else None


def _validator(response: httpx.Response) -> str:
    etag = response.headers.get("ETag", "")
    if etag and not etag.startswith("W/"):
        return etag
    return response.headers.get("Last-Modified", "")


def _vendor_md5(response: httpx.Response) -> str:
    """The MD5 the vendor states for the whole file: Content-MD5, or an ETag that is a plain MD5
    (S3-style stores, COS and OSS use the MD5 as the ETag of objects uploaded in one piece)."""
    content_md5 = response.headers.get("Content-MD5", "")
    if content_md5:
        try:
            return base64.b64decode(content_md5, validate=True).hex()
        except (binascii.Error, ValueError):
            return ""
    etag = response.headers.get("ETag", "").strip('"')
    if re.fullmatch(r"[0-9a-fA-F]{32}", etag):
        return etag.lower()
    return ""


def _verify_stored(backend: Backend, key: str, received: _Received) -> None:
    stored = backend.head(key)
    if stored.size != received.size:
        raise ArchiveFailed(
            _("The stored copy has %(stored)s bytes, not the %(received)s received.")
            % {"stored": stored.size, "received": received.size}
        )
    digest, size = backend.sha256(key)
    if size != received.size or digest != received.sha256:
        raise ArchiveFailed(
            _("The stored copy reads back differently from what was received (SHA-256 mismatch).")
        )


def _safe(url: str) -> str:
    """A URL without its query, which may carry a signature."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


# ------------------------------------------------------------------------------ staff actions


def retry(task: RecordingTask, *, user=None, ip=None) -> list[int]:
    """Staff asked to try again: failed (and never-started) files go back to pending. Returns their ids."""
    with transaction.atomic():
        ids = list(
            Segment.objects.filter(
                task=task, archive_status__in=[ArchiveStatus.FAILED, ArchiveStatus.PENDING]
            )
            .select_for_update()
            .values_list("pk", flat=True)
        )
        Segment.objects.filter(pk__in=ids).update(archive_status=ArchiveStatus.PENDING, archive_error="")
        AuditEvent.objects.create(
            actor_type=ActorType.USER if user else ActorType.SYSTEM,
            actor=user,
            action="archive.retry",
            task=task,
            app_id=task.app_id,
            detail=f"{len(ids)} file(s)",
            ip=ip,
        )

        def enqueue() -> None:
            from recordings import tasks

            tasks.dispatch_archive(ids)

        transaction.on_commit(enqueue)
    return ids


@dataclass(frozen=True)
class ProbeStep:
    name: str
    ok: bool | None  # None: not run, because an earlier step failed
    message: str


@dataclass(frozen=True)
class ProbeResult:
    steps: list[ProbeStep]

    @property
    def ok(self) -> bool:
        return all(step.ok for step in self.steps)


def validate_storage(target: StorageTarget, *, user=None, ip=None) -> ProbeResult:
    """Put, read back and delete a small probe object; say how each step went, in plain words."""
    from recordings.config import record_admin_action

    steps: list[ProbeStep] = []
    stamp = timezone.now().isoformat(timespec="seconds")
    probe = f"RecDesk storage probe {stamp} {uuid.uuid4().hex}\n".encode()
    prefix = target.prefix.strip("/") + "/" if target.prefix.strip("/") else ""
    key = f"{prefix}recdesk/probe/{uuid.uuid4().hex}.txt"
    write_label, read_label, delete_label = _("Write a probe object"), _("Read it back"), _("Delete it")
    try:
        if target.provider == StorageProvider.VENDOR_VOD or not can_archive_to(target):
            raise StorageError(
                _("RecDesk cannot write to %(provider)s.") % {"provider": target.get_provider_display()},
                code="unsupported",
            )
        backend = backend_for(target, quick=True)
        backend.put(key, probe, content_type="text/plain")
        steps.append(
            ProbeStep(
                write_label, True, _("Wrote %(size)s bytes as %(key)s.") % {"size": len(probe), "key": key}
            )
        )
    except StorageError as exc:
        steps.append(ProbeStep(write_label, False, _describe(exc)))
        steps += [
            ProbeStep(read_label, None, _("Not tried.")),
            ProbeStep(delete_label, None, _("Not tried.")),
        ]
        return _audited(target, ProbeResult(steps), user, ip, record_admin_action)
    try:
        data = b"".join(backend.read(key))
        if data == probe:
            steps.append(
                ProbeStep(read_label, True, _("Read the same %(size)s bytes back.") % {"size": len(data)})
            )
        else:
            steps.append(
                ProbeStep(
                    read_label,
                    False,
                    _("Read %(size)s bytes back, but they differ from what was written.")
                    % {"size": len(data)},
                )
            )
    except StorageError as exc:
        steps.append(ProbeStep(read_label, False, _describe(exc)))
    try:
        backend.delete(key)
        steps.append(ProbeStep(delete_label, True, _("Deleted the probe object.")))
    except StorageError as exc:
        steps.append(
            ProbeStep(
                delete_label,
                False,
                _("%(reason)s The probe object %(key)s is left behind.")
                % {"reason": _describe(exc), "key": key},
            )
        )
    return _audited(target, ProbeResult(steps), user, ip, record_admin_action)


def _describe(exc: StorageError) -> str:
    return f"{exc.message} [{exc.code}]" if exc.code else exc.message


def _audited(target, result: ProbeResult, user, ip, record_admin_action) -> ProbeResult:
    failed = next((step for step in result.steps if step.ok is False), None)
    detail = f"{target.name}: ok" if result.ok else f"{target.name}: {failed.name if failed else '?'} failed"
    record_admin_action(user, "storage.validate", detail=detail[:500], ip=ip)
    return result


# ------------------------------------------------------------------------------ playback


@dataclass(frozen=True)
class Playback:
    """How to hand an archived file to a viewer: a redirect, a local file, or a rewritten playlist."""

    redirect: str = ""
    local_path: str = ""
    playlist: bytes = b""
    content_type: str = ""


PRESIGNED_SECONDS = 15 * 60


def playback(segment: Segment, name: str, *, media_url) -> Playback | None:
    """The archived file `name` of `segment` (its main file or, for HLS, a slice), or None.

    `media_url(name)` builds our own protected URL for another file of the segment: an archived
    playlist is served rewritten so that every slice also passes the viewer's permission check.
    """
    if segment.archive_status != ArchiveStatus.ARCHIVED or not segment.archived_key:
        return None
    if not PLAIN_NAME.fullmatch(name) or ".." in name:
        return None
    directory = segment.archived_key.rsplit("/", 1)[0]
    key = f"{directory}/{name}"
    target = destination(segment.task)
    backend = backend_for(target)
    if name.endswith(".m3u8"):
        text = b"".join(backend.read(key)).decode("utf-8", "replace")
        lines = [
            line if not line.strip() or line.startswith("#") else media_url(line.strip())
            for line in text.splitlines()
        ]
        return Playback(
            playlist=("\n".join(lines) + "\n").encode(), content_type="application/vnd.apple.mpegurl"
        )
    if hasattr(backend, "presigned_url"):
        return Playback(redirect=backend.presigned_url(key, PRESIGNED_SECONDS))
    path = backend.path(key)
    return Playback(local_path=str(path))


def archived_name(segment: Segment) -> str:
    return segment.archived_key.rsplit("/", 1)[-1]
