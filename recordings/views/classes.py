"""The staff pages of classes: home, start a recording, the class page with its timeline, review.

Views check permission, validate forms, call recordings.lifecycle and render. They never write the
ORM and never call a vendor. Fragments are inline partials of the page templates; every link in them points at a
full page (hx-get names the fragment), so navigation works without JavaScript.
"""

from __future__ import annotations

import csv
import re
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseStopPolling

from dashboard.roles import ADMIN, SUPPORT, TEACHER, role_required
from recordings import lifecycle, selectors
from recordings.choices import ObservedState
from recordings.forms.classes import LayoutForm, ReviewFilterForm, StartForm, WhiteboardForm
from recordings.models import RecordingTask, Room
from recordings.permissions import can_operate, visible_tasks
from recordings.views import archive

REVIEW_PAGE_SIZE = 50
CSV_MAX_ROWS = 50_000
STATE_ACTIONS = ("pause", "resume", "stop")

# The kinds of VendorError (recordings/vendors/base.py), in plain words, with what to do about each.
ERROR_KIND_HELP = {
    "timeout": (
        gettext_lazy("The vendor did not answer in time; the request may or may not have arrived."),
        gettext_lazy(
            "RecDesk checks with the vendor by itself. If the class stays stuck, stop it and start again."
        ),
    ),
    "connect": (
        gettext_lazy("RecDesk could not reach the vendor's API."),
        gettext_lazy("An admin checks the app's API base URL and the network; RecDesk retries by itself."),
    ),
    "auth": (
        gettext_lazy("The vendor refused the app's credentials."),
        gettext_lazy("An admin sets the app's credentials again on the app's page."),
    ),
    "not_found": (
        gettext_lazy("The vendor no longer knows this recording."),
        gettext_lazy(
            "It may have stopped on its own; the class page shows the last state the vendor reported."
        ),
    ),
    "conflict": (
        gettext_lazy("The vendor refused the request in the recording's current state."),
        gettext_lazy("Wait for the state to settle, then try again."),
    ),
    "rate_limited": (
        gettext_lazy("The vendor asked RecDesk to slow down."),
        gettext_lazy("RecDesk retries later by itself; nothing to do unless it persists."),
    ),
    "server": (
        gettext_lazy("The vendor's service failed."),
        gettext_lazy("RecDesk retries by itself; if it persists, check the vendor's status page."),
    ),
    "invalid": (
        gettext_lazy("The vendor rejected the request's parameters."),
        gettext_lazy(
            "Check the recording options (and the room ID); start a new recording with corrected options."
        ),
    ),
    "malformed": (
        gettext_lazy("The vendor's answer made no sense to RecDesk."),
        gettext_lazy("Report it to the RecDesk team with the raw code below."),
    ),
    "config": (
        gettext_lazy("The app's configuration in RecDesk is incomplete."),
        gettext_lazy("An admin completes the app's settings and credentials."),
    ),
    "vendor": (
        gettext_lazy("The vendor refused the request."),
        gettext_lazy("Look up the raw code below in the vendor's error list, or send it to support."),
    ),
}


def _ip(request) -> str | None:
    return request.META.get("REMOTE_ADDR")


# What the class page and its fragments read of a task's relations; acting on a recording also needs
# its storage target (lifecycle). Each join costs PostgreSQL planning time on every request.
PAGE_RELATED = ("app", "room", "requested_by", "desired_by")


def _visible_task(request, pk: int, related: tuple[str, ...] = PAGE_RELATED) -> RecordingTask:
    tasks = visible_tasks(request.user).select_related(*related)
    return get_object_or_404(tasks, pk=pk)


def _label(tasks):
    for task in tasks:
        task.label = lifecycle.state_label(task)
    return tasks


# ---------------------------------------------------------------- home


@require_GET
@role_required(ADMIN, TEACHER, SUPPORT)
def home(request):
    live = _label(selectors.live_tasks(request.user))
    context = {"live": live, "now": timezone.now()}
    if request.htmx:
        response = render(request, "recordings/home.html#live", context)
        # Nothing recording any more: the panel stops asking.
        if not live:
            response.status_code = HttpResponseStopPolling.status_code
        return response
    context["attention"] = selectors.needs_attention(request.user)
    context["recent"] = _label(selectors.recent_tasks(request.user))
    return render(request, "recordings/home.html", context)


# ---------------------------------------------------------------- start


@role_required(ADMIN, TEACHER)
def start(request):
    form = StartForm(request.POST or None, user=request.user, initial=request.GET.dict() or None)
    if request.method == "POST":
        room_pk = request.POST.get("room", "")
        room = Room.objects.filter(pk=int(room_pk)).first() if room_pk.isdigit() else None
        # A room that exists but is not the teacher's is a permission matter, not a typo.
        if room is not None and not can_operate(request.user, room):
            raise PermissionDenied
        if form.is_valid():
            data = form.cleaned_data
            try:
                task = lifecycle.start(
                    app=data["app"],
                    room=data["room"],
                    mode=data["mode"],
                    options=data["options"],
                    storage=data["storage"] or data["app"].default_storage,
                    user=request.user,
                    ip=_ip(request),
                )
            except lifecycle.Refused as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, _("Recording requested for %(room)s.") % {"room": task.room.title})
                return redirect("recording_detail", pk=task.pk)
    return render(request, "recordings/start.html", {"form": form})


@require_GET
@role_required(ADMIN, TEACHER)
def start_options(request):
    """HTMX: the room, mode and option inputs again, for the app or mode just chosen."""
    initial = {key: values[-1] for key, values in request.GET.lists()}
    form = StartForm(user=request.user, initial=initial)
    for name, field in form.fields.items():
        if name in request.GET and getattr(field.widget, "allow_multiple_selected", False):
            form.initial[name] = request.GET.getlist(name)
    template = "recordings/start.html#options" if request.htmx else "recordings/start.html"
    return render(request, template, {"form": form})


# ---------------------------------------------------------------- the class page


def explain(task: RecordingTask) -> dict | None:
    """Why a class failed or carries an error, in plain words, with the fix and the raw codes."""
    failed_call = (
        selectors.latest_failed_call(task) if task.error_code or task.observed_state == "failed" else None
    )
    if not (task.error_code or task.observed_state == ObservedState.FAILED or failed_call):
        return None
    kind = failed_call.error_kind if failed_call and failed_call.error_kind else ""
    what, fix = ERROR_KIND_HELP.get(kind, (None, None))
    if what is None:
        what = task.get_finish_reason_display() if task.finish_reason else _("The recording failed.")
        fix = _(
            "Read the event log below for the vendor's answers; start a new recording if the class is still on."
        )
    return {
        "what": what,
        "fix": fix,
        "reason": task.get_finish_reason_display() if task.finish_reason else "",
        "detail": task.finish_detail,
        "code": task.error_code or (failed_call.vendor_code if failed_call else ""),
        "message": task.error_message or (failed_call.vendor_message if failed_call else ""),
        "call": failed_call,
    }


def _status_context(request, task: RecordingTask, **extra) -> dict:
    operable = can_operate(request.user, task)
    actions = lifecycle.available_actions(task) if operable else {}
    context = {
        "task": task,
        "label": lifecycle.state_label(task),
        "operable": operable,
        "buttons": [(name, *actions[name]) for name in STATE_ACTIONS if name in actions],
        "explanation": explain(task),
        "log": selectors.event_log(task, limit=100),
        "now": timezone.now(),
    }
    context.update(extra)
    return context


def _live_controls(task: RecordingTask) -> dict:
    actions = lifecycle.available_actions(task)
    return {
        "layout_action": actions.get("update_layout", (False, "")),
        "whiteboard_action": actions.get("update_whiteboard", (False, "")),
    }


TIME_OF_DAY = re.compile(r"^\s*(\d{1,2}):(\d{2})(?::(\d{2}))?\s*$")


def _start_seconds(request, task: RecordingTask) -> float | None:
    """Where the player opens: `?t=` seconds from the recording's start, or `?at=HH:MM[:SS]` on the wall clock."""
    raw_t = request.GET.get("t")
    if raw_t:
        try:
            value = float(raw_t)
        except ValueError:
            return None
        return value if value >= 0 else None
    match = TIME_OF_DAY.match(request.GET.get("at", ""))
    if match:
        hour, minute, second = int(match[1]), int(match[2]), int(match[3] or 0)
        if hour < 24 and minute < 60 and second < 60:
            offset = selectors.offset_for_wall_time(
                task, hour, minute, second, tz=timezone.get_current_timezone()
            )
            if offset is not None:
                return offset / 1000
    return None


def _timeline_context(request, task: RecordingTask, *, archive: bool = False) -> dict:
    zoom = request.GET.get("zoom", "fit")
    try:
        show = int(request.GET.get("show", selectors.USERS_PER_PAGE))
    except ValueError:
        show = selectors.USERS_PER_PAGE
    tl = selectors.timeline(task, zoom=zoom, show=show, archive=archive)
    params = {"zoom": tl.zoom, "show": tl.show}
    return {
        "task": task,
        "tl": tl,
        "tl_query": urlencode(params),
        "zoom_links": [
            (value, label, urlencode({**params, "zoom": value}))
            for value, label in (("fit", _("Fit")), ("10m", _("10 min")), ("1m", _("1 min")))
        ],
        "more_query": urlencode({**params, "show": tl.next_show}),
    }


@require_GET
@role_required(ADMIN, TEACHER, SUPPORT)
def detail(request, pk: int):
    task = _visible_task(request, pk)
    context = _status_context(request, task)
    # The lanes and the archive card's totals come from one query on the class's files (the rate of
    # the copies under way, while there are any, from one more).
    context.update(_timeline_context(request, task, archive=True))
    context["archive"] = context["tl"].archive
    if context["operable"] and not task.is_terminal:
        # The while-recording controls, drawn only then.
        context.update(_live_controls(task))
        context["layout_form"] = LayoutForm(vendor=task.app.vendor)
        context["whiteboard_form"] = WhiteboardForm()
    context["start_t"] = _start_seconds(request, task)
    context["jump_error"] = bool(request.GET.get("at")) and context["start_t"] is None
    # ?files= opens the per-file archive list without JavaScript (the button's plain link).
    if request.GET.get("files"):
        status = request.GET["files"] if request.GET["files"] != "all" else ""
        context.update(archive.files_context(task, status, request.GET.get("files_page", 1)))
    return render(request, "recordings/detail.html", context)


def _status_response(request, task: RecordingTask, **extra) -> HttpResponse:
    """The status block, and the event log and the class facts as out-of-band swaps: one poll refreshes all;
    once the class has ended, the while-recording controls leave the page."""
    context = _status_context(request, task, **extra)
    status = render_to_string("recordings/detail.html#status", context, request=request)
    log = render_to_string("recordings/detail.html#log", {**context, "oob": True}, request=request)
    facts = render_to_string("recordings/detail.html#facts", {**context, "oob": True}, request=request)
    return HttpResponse(status + log + facts)


@require_GET
@role_required(ADMIN, TEACHER, SUPPORT)
def status_fragment(request, pk: int):
    """HTMX: the state, buttons, error and event log, polled until the class is finished or failed."""
    task = _visible_task(request, pk)
    response = _status_response(request, task)
    if task.is_terminal:
        response.status_code = HttpResponseStopPolling.status_code
    return response


@require_GET
@role_required(ADMIN, TEACHER, SUPPORT)
def timeline_fragment(request, pk: int):
    """HTMX: the lanes for a zoom and a number of users; while recording, polled so it grows live."""
    task = _visible_task(request, pk)
    context = _timeline_context(request, task)
    response = render(request, "recordings/detail.html#timeline", context)
    if request.htmx.trigger == "timeline" and not context["tl"].live:
        response.status_code = HttpResponseStopPolling.status_code
    return response


@require_POST
@role_required(ADMIN, TEACHER)
def act(request, pk: int, action: str):
    """Pause, resume, stop; or, while recording, change the mixed layout or the recorded whiteboard."""
    task = _visible_task(request, pk, (*PAGE_RELATED, "storage"))
    if action not in (*STATE_ACTIONS, "layout", "whiteboard"):
        raise Http404
    if not can_operate(request.user, task):
        raise PermissionDenied
    if action in ("layout", "whiteboard"):
        return _update_live(request, task, action)
    error = ""
    try:
        task = lifecycle.request(task, action, user=request.user, ip=_ip(request))
    except lifecycle.Refused as exc:
        error = exc.message
    if request.htmx:
        return _status_response(request, task, error=error)
    if error:
        messages.error(request, error)
    return redirect("recording_detail", pk=task.pk)


def _update_live(request, task, action):
    if action == "layout":
        form = LayoutForm(request.POST, vendor=task.app.vendor)
    else:
        form = WhiteboardForm(request.POST)
    result, error = "", ""
    if form.is_valid():
        try:
            if action == "layout":
                lifecycle.update_layout(task, form.cleaned_data["layout"], user=request.user, ip=_ip(request))
                result = _("Layout change sent to the vendor.")
            else:
                lifecycle.update_whiteboard(task, form.payload(), user=request.user, ip=_ip(request))
                result = _("Whiteboard change sent to the vendor.")
        except lifecycle.Refused as exc:
            error = exc.message
    if not request.htmx:
        if result:
            messages.success(request, result)
        elif error:
            messages.error(request, error)
        else:
            messages.error(request, "; ".join(str(e) for errors in form.errors.values() for e in errors))
        return redirect("recording_detail", pk=task.pk)
    context = {
        "task": task,
        "layout_form": form if action == "layout" and not result else LayoutForm(vendor=task.app.vendor),
        "whiteboard_form": form if action == "whiteboard" and not result else WhiteboardForm(),
        "live_result": result,
        "live_error": error,
        "operable": True,
        **_live_controls(task),
    }
    return render(request, "recordings/detail.html#live-controls", context)


# ---------------------------------------------------------------- review


def _review_rows(request):
    form = ReviewFilterForm(request.GET or None, user=request.user)
    form.is_valid()
    return form, selectors.review(request.user, form.filters())


@require_GET
@role_required(ADMIN, TEACHER, SUPPORT)
def review(request):
    form, tasks = _review_rows(request)
    page = Paginator(tasks, REVIEW_PAGE_SIZE).get_page(request.GET.get("page"))
    _label(page.object_list)
    query = request.GET.copy()
    query.pop("page", None)
    context = {"form": form, "page": page, "query": query.urlencode(), "sort": form.filters().sort}
    if request.htmx:
        return render(request, "recordings/review.html#results", context)
    return render(request, "recordings/review.html", context)


class _Echo:
    def write(self, value):
        return value


def _cell(value) -> str:
    text = "" if value is None else str(value)
    # A cell starting like a formula would run in a spreadsheet; prefix it so it stays text.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _local(moment) -> str:
    return timezone.localtime(moment).isoformat(timespec="seconds") if moment else ""


@require_GET
@role_required(ADMIN, TEACHER, SUPPORT)
def review_csv(request):
    form, tasks = _review_rows(request)
    writer = csv.writer(_Echo())
    header = [
        _("ID"),
        _("Room"),
        _("Room ID"),
        _("App"),
        _("Vendor"),
        _("Mode"),
        _("State"),
        _("Requested by"),
        _("Created"),
        _("Started"),
        _("Stopped"),
        _("Duration (s)"),
        _("Segments"),
        _("Finish reason"),
        _("Error code"),
        _("Link"),
    ]
    base = request.build_absolute_uri("/").rstrip("/")

    def rows():
        # The BOM lets spreadsheet programs read the UTF-8 (Chinese room titles) correctly.
        yield "\ufeff" + writer.writerow(header)
        for task in tasks[:CSV_MAX_ROWS].iterator(chunk_size=500):
            yield writer.writerow(
                [
                    _cell(v)
                    for v in (
                        task.pk,
                        task.room.title,
                        task.room.room_id,
                        task.app.name,
                        task.app.get_vendor_display(),
                        task.get_mode_display(),
                        task.get_observed_state_display(),
                        task.requested_by.get_username() if task.requested_by else "",
                        _local(task.created_at),
                        _local(task.started_at),
                        _local(task.stopped_at),
                        int(task.duration.total_seconds()) if task.duration is not None else "",
                        task.segment_count,
                        task.get_finish_reason_display() if task.finish_reason else "",
                        task.error_code,
                        base + reverse("recording_detail", args=[task.pk]),
                    )
                ]
            )

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="recdesk-classes-{stamp}.csv"'
    return response
