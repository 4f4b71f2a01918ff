"""Archived copies on the class page: live progress, retry, and the protected playback of a file.

Views check permission and render; recordings/archiving.py does the work.
"""

from __future__ import annotations

import mimetypes
import os
import re

from django.contrib.auth.views import redirect_to_login
from django.http import FileResponse, Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseStopPolling

from dashboard.roles import ADMIN, SUPPORT, TEACHER, role_required
from recordings import archiving, selectors
from recordings.choices import ArchiveStatus
from recordings.models import RecordingTask, Segment
from recordings.permissions import visible_tasks
from recordings.storage import StorageError

RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def _visible_task(request, pk: int) -> RecordingTask:
    return get_object_or_404(visible_tasks(request.user).select_related("app", "room"), pk=pk)


def archive_context(task: RecordingTask, **extra) -> dict:
    return {"task": task, "archive": selectors.archive_progress(task), **extra}


@require_GET
@role_required(ADMIN, TEACHER, SUPPORT)
def archive_fragment(request, pk: int):
    """HTMX: the archive card, polled while files are being copied; 286 once nothing moves."""
    task = _visible_task(request, pk)
    context = archive_context(task)
    response = render(request, "recordings/detail.html#archive", context)
    if request.htmx and task.is_terminal and not context["archive"].active:
        response.status_code = HttpResponseStopPolling.status_code
    return response


def files_context(task: RecordingTask, status: str, page) -> dict:
    """One page of the class's files with their archive state, and the totals its filter links count."""
    status = status if status in ArchiveStatus.values else ""
    return {
        "task": task,
        "archive": selectors.archive_progress(task),
        "files": selectors.archive_files(task, status=status, page=page),
        "files_status": status,
    }


@require_GET
@role_required(ADMIN, TEACHER, SUPPORT)
def archive_files_fragment(request, pk: int):
    """HTMX: a page of the per-file archive list (or, with `hide`, the button that opens it). Its links
    without JavaScript go to the class page with `?files=`, which draws the same list in place."""
    task = _visible_task(request, pk)
    if request.GET.get("hide"):
        context = archive_context(task)
    else:
        context = files_context(task, request.GET.get("status", ""), request.GET.get("page", 1))
    return render(request, "recordings/detail.html#archive-files", context)


@require_POST
@role_required(ADMIN, TEACHER, SUPPORT)
def archive_retry(request, pk: int):
    """Try again to archive the files of a class that failed (or never started)."""
    task = _visible_task(request, pk)
    ids = archiving.retry(task, user=request.user, ip=request.META.get("REMOTE_ADDR"))
    message = (
        _("Archiving again: %(count)s file(s).") % {"count": len(ids)} if ids else _("Nothing to retry.")
    )
    if request.htmx:
        return render(
            request, "recordings/detail.html#archive", archive_context(task, archive_message=message)
        )
    return redirect("recording_detail", pk=task.pk)


def archived_media(request, pk: int, name: str):
    """An archived file, for a viewer who may see its class: a short-lived presigned URL for S3, the
    file itself (with byte ranges, for seeking) for local files."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    segment = get_object_or_404(
        Segment.objects.select_related("task__app__default_storage", "task__storage"),
        pk=pk,
        task__in=visible_tasks(request.user),
    )

    def media_url(other: str) -> str:
        return reverse("archived_media", kwargs={"pk": segment.pk, "name": other})

    try:
        playback = archiving.playback(segment, name, media_url=media_url)
    except StorageError:
        raise Http404 from None
    if playback is None:
        raise Http404
    if playback.redirect:
        response = HttpResponseRedirect(playback.redirect)
    elif playback.playlist:
        response = HttpResponse(playback.playlist, content_type=playback.content_type)
    else:
        response = _file_response(request, playback.local_path)
    # The URL grants access only through the viewer's session; no shared cache may keep the answer.
    response["Cache-Control"] = "private, no-store"
    return response


def _file_response(request, path: str) -> HttpResponse:
    try:
        handle = open(path, "rb")  # noqa: SIM115 - FileResponse closes it
    except OSError:
        raise Http404 from None
    size = os.fstat(handle.fileno()).st_size
    content_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
    match = RANGE.match(request.headers.get("Range", ""))
    if match and (match[1] or match[2]):
        if match[1]:
            start = int(match[1])
            end = min(int(match[2]), size - 1) if match[2] else size - 1
        else:
            start, end = max(0, size - int(match[2])), size - 1
        if start >= size or start > end:
            handle.close()
            response = HttpResponse(status=416)
            response["Content-Range"] = f"bytes */{size}"
            return response
        handle.seek(start)
        response = FileResponse(_limited(handle, end - start + 1), status=206, content_type=content_type)
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
        response["Content-Length"] = str(end - start + 1)
    else:
        response = FileResponse(handle, content_type=content_type)
    response["Accept-Ranges"] = "bytes"
    return response


def _limited(handle, length: int, chunk: int = 256 * 1024):
    try:
        while length > 0:
            data = handle.read(min(chunk, length))
            if not data:
                break
            length -= len(data)
            yield data
    finally:
        handle.close()
