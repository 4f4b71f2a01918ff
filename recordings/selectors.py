"""Reads for the staff pages: what is live, what needs attention, the review list, a class's timeline.

Nothing here writes. Each function runs a small, fixed number of queries whatever the data size:
the timeline of a 300-user, 3,000-segment class is laid out from one query on segments.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from operator import itemgetter

from django.core.paginator import Paginator
from django.db.models import (
    Count,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    Max,
    Min,
    OuterRef,
    Q,
    QuerySet,
)
from django.db.models.functions import Coalesce, Now
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from dashboard.roles import role_flags
from recordings.archiving import copy_root
from recordings.choices import (
    ACTIVE_STATES,
    ArchiveStatus,
    DeliveryOutcome,
    DesiredState,
    ObservedState,
    SegmentKind,
)
from recordings.lifecycle import STUCK_AFTER
from recordings.models import (
    AuditEvent,
    CallbackDelivery,
    RecordingTask,
    Room,
    Segment,
    VendorCall,
)
from recordings.permissions import visible_tasks

# How long staff's wish (pause, resume, stop) may go unobserved before it counts as stuck.
UNANSWERED_AFTER = timedelta(minutes=2)
ATTENTION_WINDOW = timedelta(days=7)
EXPIRY_WARNING = timedelta(hours=24)

KIND_ORDER = [
    SegmentKind.CAMERA,
    SegmentKind.SCREEN,
    SegmentKind.WHITEBOARD,
    SegmentKind.MIXED,
    SegmentKind.AUDIO,
]
KIND_LABELS = dict(SegmentKind.choices)


def _with_people(tasks: QuerySet[RecordingTask]) -> QuerySet[RecordingTask]:
    return tasks.select_related("app", "room", "requested_by", "desired_by")


# ---------------------------------------------------------------- home


def live_tasks(user) -> list[RecordingTask]:
    """Recordings not yet finished or failed, oldest first (the longest-running on top)."""
    tasks = visible_tasks(user).filter(observed_state__in=ACTIVE_STATES).order_by("created_at")
    return list(_with_people(tasks)[:200])


def recent_tasks(user, limit: int = 10) -> list[RecordingTask]:
    return list(_with_people(visible_tasks(user)).order_by("-created_at")[:limit])


@dataclass(frozen=True)
class Attention:
    failed: list[RecordingTask]
    stuck: list[RecordingTask]
    vendor_errors: list[dict]
    rejected_callbacks: list[dict]
    expiring: list[dict]

    @property
    def count(self) -> int:
        return (
            len(self.failed)
            + len(self.stuck)
            + len(self.vendor_errors)
            + len(self.rejected_callbacks)
            + len(self.expiring)
        )


def needs_attention(user, *, now: datetime | None = None) -> Attention:
    """Five lists, five queries: failed, stuck, vendor errors, rejected callbacks, files about to expire."""
    now = now or timezone.now()
    since = now - ATTENTION_WINDOW
    visible = visible_tasks(user)
    flags = role_flags(user)

    failed = list(
        _with_people(visible.filter(observed_state=ObservedState.FAILED, created_at__gte=since)).order_by(
            "-created_at"
        )[:20]
    )

    stuck_q = Q()
    for state, limit in STUCK_AFTER.items():
        stuck_q |= Q(observed_state=state, state_changed_at__lt=now - limit)
    unanswered = (
        Q(desired_state=DesiredState.PAUSED, observed_state=ObservedState.RECORDING)
        | Q(desired_state=DesiredState.RECORDING, observed_state=ObservedState.PAUSED)
        | Q(
            desired_state=DesiredState.STOPPED,
            observed_state__in=[ObservedState.RECORDING, ObservedState.PAUSED],
        )
    )
    stuck_q |= unanswered & Q(state_changed_at__lt=now - UNANSWERED_AFTER)
    stuck = list(_with_people(visible.filter(stuck_q)).order_by("state_changed_at")[:20])

    calls = VendorCall.objects.filter(created_at__gte=now - timedelta(hours=24)).filter(
        ~Q(error_kind="") | ~Q(vendor_code="")
    )
    if not flags.reads_everything:
        calls = calls.filter(task__in=visible)
    vendor_errors = list(
        calls.values("app__name", "app__vendor", "action", "vendor_code", "error_kind")
        .annotate(count=Count("id"), latest=Max("created_at"))
        .order_by("-count")[:10]
    )

    rejected: list[dict] = []
    if flags.reads_everything:
        rejected = list(
            CallbackDelivery.objects.filter(
                outcome=DeliveryOutcome.REJECTED, received_at__gte=now - timedelta(hours=24)
            )
            .values("vendor", "app__name", "rejection_reason")
            .annotate(count=Count("id"), first=Min("received_at"))
            .order_by("-count")[:10]
        )

    expiring = list(
        Segment.objects.filter(
            task__in=visible,
            vendor_expires_at__gte=now,
            vendor_expires_at__lt=now + EXPIRY_WARNING,
        )
        .exclude(archive_status=ArchiveStatus.ARCHIVED)
        .values("task_id", "task__room__title")
        .annotate(count=Count("id"), expires=Min("vendor_expires_at"))
        .order_by("expires")[:20]
    )
    return Attention(failed, stuck, vendor_errors, rejected, expiring)


# ---------------------------------------------------------------- review


SORTS = {
    "newest": ("-created_at",),
    "oldest": ("created_at",),
    "longest": (F("duration").desc(nulls_last=True), "-created_at"),
    "shortest": (F("duration").asc(nulls_last=True), "-created_at"),
    "room": ("room__title", "-created_at"),
    "state": ("observed_state", "-created_at"),
    "vendor": ("app__vendor", "app__name", "-created_at"),
}


@dataclass(frozen=True)
class ReviewFilters:
    q: str = ""
    vendor: str = ""
    app: int | None = None
    room: int | None = None
    teacher: int | None = None
    state: str = ""
    date_from: date | None = None
    date_to: date | None = None
    has_errors: bool | None = None
    min_minutes: int | None = None
    max_minutes: int | None = None
    sort: str = "newest"


def _errors_exist():
    return Exists(
        VendorCall.objects.filter(task=OuterRef("pk")).filter(~Q(error_kind="") | ~Q(vendor_code=""))
    )


def review(user, filters: ReviewFilters) -> QuerySet[RecordingTask]:
    """The classes the user may read, filtered and sorted; one query per page (plus the count)."""
    tasks = visible_tasks(user).annotate(
        duration=ExpressionWrapper(
            Coalesce("stopped_at", Now()) - F("started_at"), output_field=DurationField()
        ),
        segment_count=Count("segments", distinct=True),
        archived_count=Count(
            "segments", filter=Q(segments__archive_status=ArchiveStatus.ARCHIVED), distinct=True
        ),
        archive_failed_count=Count(
            "segments", filter=Q(segments__archive_status=ArchiveStatus.FAILED), distinct=True
        ),
        has_vendor_errors=_errors_exist(),
    )
    if filters.q:
        q = filters.q.strip()
        match = (
            Q(room__title__icontains=q)
            | Q(room__room_id__icontains=q)
            | Q(vendor_task_id__icontains=q)
            | Q(requested_by__username__icontains=q)
            | Q(error_code__icontains=q)
        )
        if q.lstrip("#").isdigit():
            match |= Q(pk=int(q.lstrip("#")))
        tasks = tasks.filter(match)
    if filters.vendor:
        tasks = tasks.filter(app__vendor=filters.vendor)
    if filters.app:
        tasks = tasks.filter(app_id=filters.app)
    if filters.room:
        tasks = tasks.filter(room_id=filters.room)
    if filters.teacher:
        teaches = Room.teachers.through.objects.filter(room_id=OuterRef("room_id"), user_id=filters.teacher)
        tasks = tasks.filter(Q(requested_by_id=filters.teacher) | Q(Exists(teaches)))
    if filters.state:
        tasks = tasks.filter(observed_state=filters.state)
    # __date compares in the active time zone: "yesterday" means the user's yesterday.
    if filters.date_from:
        tasks = tasks.filter(created_at__date__gte=filters.date_from)
    if filters.date_to:
        tasks = tasks.filter(created_at__date__lte=filters.date_to)
    if filters.has_errors is True:
        tasks = tasks.filter(
            Q(observed_state=ObservedState.FAILED) | ~Q(error_code="") | Q(has_vendor_errors=True)
        )
    elif filters.has_errors is False:
        tasks = tasks.exclude(observed_state=ObservedState.FAILED).filter(
            error_code="", has_vendor_errors=False
        )
    if filters.min_minutes is not None:
        tasks = tasks.filter(duration__gte=timedelta(minutes=filters.min_minutes))
    if filters.max_minutes is not None:
        tasks = tasks.filter(duration__lte=timedelta(minutes=filters.max_minutes))
    order = SORTS.get(filters.sort, SORTS["newest"])
    return _with_people(tasks).order_by(*order, "-pk")


# ---------------------------------------------------------------- the class page


@dataclass(frozen=True)
class LogEntry:
    at: datetime
    source: str  # "audit" | "call" | "callback"
    item: object


def event_log(task: RecordingTask, limit: int = 300) -> list[LogEntry]:
    """Who did what, every vendor call and every callback of one class, newest first (three queries)."""
    entries = [
        LogEntry(e.created_at, "audit", e)
        for e in AuditEvent.objects.filter(task=task).select_related("actor").order_by("-created_at")[:limit]
    ]
    entries += [
        LogEntry(c.created_at, "call", c)
        for c in VendorCall.objects.filter(task=task).order_by("-created_at")[:limit]
    ]
    entries += [
        LogEntry(d.received_at, "callback", d)
        for d in CallbackDelivery.objects.filter(task=task)
        .defer("raw_body", "headers", "query")
        .order_by("-received_at")[:limit]
    ]
    entries.sort(key=lambda entry: entry.at, reverse=True)
    return entries[:limit]


def latest_failed_call(task: RecordingTask) -> VendorCall | None:
    return (
        VendorCall.objects.filter(task=task)
        .filter(~Q(error_kind="") | ~Q(vendor_code=""))
        .order_by("-created_at")
        .first()
    )


# ---------------------------------------------------------------- archiving

# A copy with no progress this long shows no rate: it has stalled or its worker died.
RATE_FRESH = timedelta(seconds=30)


@dataclass
class ArchiveRow:
    pk: int
    user_id: str
    kind: str
    offset_ms: int
    size_bytes: int
    done_bytes: int
    status: str
    error: str
    attempts: int
    percent: float | None
    rate: float | None  # bytes per second, while copying (average of the attempt once archived)
    key: str
    # The vendor uploaded the file into the archive storage; it was verified there, not copied.
    in_place: bool = False

    @property
    def kind_label(self):
        return KIND_LABELS.get(self.kind, self.kind)

    @property
    def status_label(self):
        return ArchiveStatus(self.status).label


@dataclass
class ArchiveProgress:
    """A class's archive in totals: files and bytes per state, and the rate of the copies under way."""

    counts: dict[str, int]
    total_bytes: int
    done_bytes: int
    rate: float
    finished_task: bool
    # (reason, files) of the failed files, the most common first.
    failure_reasons: list[tuple[str, int]] = field(default_factory=list)
    # Archived files that are the vendor's own upload into the archive storage, verified there.
    in_place: int = 0

    @property
    def file_count(self) -> int:
        return sum(self.counts.values())

    @property
    def percent(self) -> float | None:
        return round(100 * self.done_bytes / self.total_bytes, 1) if self.total_bytes else None

    @property
    def active(self) -> bool:
        """Still moving: the page keeps polling while this is true."""
        return self.finished_task and bool(
            self.counts.get(ArchiveStatus.PENDING) or self.counts.get(ArchiveStatus.COPYING)
        )

    @property
    def all_archived(self) -> bool:
        return bool(self.file_count) and self.counts.get(ArchiveStatus.ARCHIVED, 0) == self.file_count

    @property
    def failed(self) -> int:
        return self.counts.get(ArchiveStatus.FAILED, 0)

    @property
    def states(self) -> list[tuple[str, str, int]]:
        """(state, label, files) for each state some file is in, in the order files move through them."""
        return [
            (value, label, self.counts[value])
            for value, label in ArchiveStatus.choices
            if value in self.counts
        ]


# What a class's archive totals are summed from, per file (the class page fetches these with the
# timeline's own columns, so its one query on segments serves both).
ARCHIVE_COLUMNS = (
    "size_bytes",
    "archived_bytes",
    "archive_status",
    "archived_key",
    "archive_error",
)


def archive_progress(task: RecordingTask, *, now: datetime | None = None) -> ArchiveProgress:
    """Files and bytes per archive state, and the summed rate of the fresh copies: one query on the
    class's files, a few short columns each, summed here (and one more while files are being copied,
    for the rate). Each file's own row is in archive_files()."""
    rows = Segment.objects.filter(task=task).order_by().values_list(*ARCHIVE_COLUMNS)
    return archive_totals(rows, task, now=now)


def archive_totals(
    rows, task: RecordingTask, *, now: datetime | None = None, at: tuple[int, ...] = tuple(range(5))
) -> ArchiveProgress:
    """The archive totals of a class from its files' rows, which hold ARCHIVE_COLUMNS at the positions
    `at` (in that order). Summed in Python: grouping in SQL by state, failure reason and "verified in
    place" cost more in compiling the query and sorting 3,000 rows than this one pass does.

    A file's size is the vendor's figure, or what was copied once archived; its copied bytes never
    exceed that size. Failed files are counted per reason as well, so the card can say why without
    listing them. An archived file whose key is outside the task's copies (archiving.copy_root) was
    verified in place. While some file is being copied, _copy_rate() adds the rate."""
    size_at, copied_at, status_at, key_at, error_at = at
    archived, failed, copying = (
        ArchiveStatus.ARCHIVED.value,
        ArchiveStatus.FAILED.value,
        ArchiveStatus.COPYING.value,
    )
    root = copy_root(task.pk)
    counts: dict[str, int] = {}
    reasons: dict[str, int] = {}
    total = done = in_place = 0
    under_way = False
    for row in rows:
        status = row[status_at]
        counts[status] = counts.get(status, 0) + 1
        size = row[size_at]
        copied = row[copied_at]
        if size > 0:
            total += size
            done += copied if copied < size else size
        elif status == archived:
            total += copied
            done += copied
        if status == archived:
            if root not in row[key_at]:
                in_place += 1
        elif status == failed:
            why = row[error_at]
            reasons[why] = reasons.get(why, 0) + 1
        elif status == copying and copied > 0:
            under_way = True
    return ArchiveProgress(
        counts=counts,
        total_bytes=total,
        done_bytes=done,
        rate=_copy_rate(task, now=now) if under_way else 0.0,
        finished_task=task.observed_state == ObservedState.FINISHED,
        failure_reasons=sorted(reasons.items(), key=lambda item: (-item[1], item[0])),
        in_place=in_place,
    )


def _copy_rate(task: RecordingTask, *, now: datetime | None = None) -> float:
    """The summed rate of a class's copies under way that moved lately, each its bytes over the time
    since its attempt began. A query of its own on the files being copied: every file keeps its start
    and progress times once archived, and reading them with the totals' columns (6,000 timestamps for
    a class of 3,000 files, each parsed in Python by the loader Django gives psycopg) cost ~18 ms of
    the class page, for a rate that only copies have."""
    now = now or timezone.now()
    copies = (
        Segment.objects.filter(
            task=task,
            archive_status=ArchiveStatus.COPYING,
            archived_bytes__gt=0,
            archive_progress_at__gt=now - RATE_FRESH,
        )
        .filter(archive_progress_at__gt=F("archive_started_at"))
        .order_by("pk")
        .values_list("archived_bytes", "archive_started_at", "archive_progress_at")
    )
    return sum((copied / (moved - started).total_seconds() for copied, started, moved in copies), 0.0)


ARCHIVE_FILES_PER_PAGE = 50


def archive_files(task: RecordingTask, *, status: str = "", page=1, now: datetime | None = None):
    """One page of a class's files with each one's archive state, bytes, percent and rate (a count
    and a page query), optionally only the files in one state."""
    now = now or timezone.now()
    files = Segment.objects.filter(task=task).order_by("offset_ms", "pk")
    if status in ArchiveStatus.values:
        files = files.filter(archive_status=status)
    fields = (
        "pk",
        "user_id",
        "kind",
        "offset_ms",
        "size_bytes",
        "archived_bytes",
        "archive_status",
        "archive_error",
        "archive_attempts",
        "archive_started_at",
        "archive_progress_at",
        "archived_at",
        "archived_key",
    )
    files_page = Paginator(files.values_list(*fields), ARCHIVE_FILES_PER_PAGE).get_page(page)
    files_page.object_list = [_archive_row(row, task.pk, now) for row in files_page.object_list]
    return files_page


def _archive_row(row: tuple, task_id: int, now: datetime) -> ArchiveRow:
    (
        pk,
        user_id,
        kind,
        offset,
        size,
        done_bytes,
        status,
        error,
        attempts,
        started,
        progress_at,
        archived_at,
        key,
    ) = row
    known = size or (done_bytes if status == ArchiveStatus.ARCHIVED else 0)
    percent = None
    if status == ArchiveStatus.ARCHIVED:
        percent = 100.0
    elif known:
        percent = min(99.9, round(100 * done_bytes / known, 1))
    rate = None
    end = archived_at if status == ArchiveStatus.ARCHIVED else progress_at
    if started and end and end > started and done_bytes:
        fresh = status == ArchiveStatus.ARCHIVED or (
            status == ArchiveStatus.COPYING and now - end < RATE_FRESH
        )
        if fresh:
            rate = done_bytes / (end - started).total_seconds()
    in_place = status == ArchiveStatus.ARCHIVED and copy_root(task_id) not in key
    return ArchiveRow(
        pk, user_id, kind, offset, known, done_bytes, status, error, attempts, percent, rate, key, in_place
    )


# ---------------------------------------------------------------- the timeline

ZOOM_WINDOWS_MS = {"10m": 10 * 60_000, "1m": 60_000}
# Tick spacings to choose from, in ms; the timeline takes the first that leaves room for a label.
TICK_STEPS_MS = [
    5_000,
    10_000,
    15_000,
    30_000,
    60_000,
    2 * 60_000,
    5 * 60_000,
    10 * 60_000,
    15 * 60_000,
    30 * 60_000,
    3_600_000,
    2 * 3_600_000,
    6 * 3_600_000,
]
TICKS_PER_SCREEN = 10
USERS_PER_PAGE = 40
# Gaps shorter than this are the vendor's file boundaries, not holes worth pointing at.
GAP_MIN_MS = 2_000


@dataclass(slots=True)
class SegmentBox:
    """One file on a lane, for readers of a lane's `segments`: wall-clock times are worked out when
    asked for."""

    offset_ms: int
    duration_ms: int
    left: float
    width: float
    size_bytes: int
    url: str
    origin: datetime

    @property
    def start(self) -> datetime:
        return self.origin + timedelta(milliseconds=self.offset_ms)

    @property
    def end(self) -> datetime:
        return self.origin + timedelta(milliseconds=self.offset_ms + self.duration_ms)


@dataclass
class Lane:
    user_id: str
    kind: str
    origin: datetime
    # One plain tuple per file, (offset_ms, duration_ms, left, width, size_bytes, url after the
    # timeline's base), as the tag that draws lanes reads them. A big class has 3,000: the garbage
    # collector stops tracking a tuple of numbers and strings at its first pass, where as many
    # objects stayed tracked, were promoted into the old generation and made its full sweeps
    # (tens of ms each) come more often.
    boxes: list[tuple] = field(default_factory=list)
    gaps: int = 0

    @property
    def segments(self) -> list[SegmentBox]:
        return [SegmentBox(*box, self.origin) for box in self.boxes]

    @property
    def kind_label(self):
        return KIND_LABELS.get(self.kind, self.kind)

    @property
    def key(self) -> str:
        return f"{self.user_id}/{self.kind}"


@dataclass
class UserGroup:
    user_id: str
    lanes: list[Lane]

    @property
    def label(self):
        return self.user_id or _("Whole room")


@dataclass
class Tick:
    left: float
    at: datetime


@dataclass
class Band:
    left: float
    width: float
    start: datetime
    end: datetime | None


@dataclass
class Timeline:
    origin: datetime
    duration_ms: int
    zoom: str
    scale: float  # track width in screens
    ticks: list[Tick]
    pauses: list[Band]
    groups: list[UserGroup]
    shown_groups: list[UserGroup]
    segment_count: int
    live: bool
    show: int
    tick_seconds: bool
    # The start shared by every file URL, sent once; each segment carries only the rest.
    url_base: str = ""
    # The archive totals, when asked for with the lanes (the class page): from the same rows.
    archive: ArchiveProgress | None = None

    @property
    def user_count(self) -> int:
        """Participants: the people, not the room-wide lanes (whiteboard, mix)."""
        return sum(1 for group in self.groups if group.user_id)

    @property
    def hidden_users(self) -> int:
        return len(self.groups) - len(self.shown_groups)

    @property
    def next_show(self) -> int:
        return self.show + USERS_PER_PAGE

    @property
    def origin_ms(self) -> int:
        return int(self.origin.timestamp() * 1000)


def _round3(x: float) -> float:
    """round(x, 3), in a third of its time for the 6,000 calls of a big class's layout.

    round(x, 3) rounds x's exact value to 3 decimals and returns the double nearest that decimal.
    x * 1000 carries at most half an ulp of error, so unless it lands within that of a half (the
    guard leaves a wide margin), round() of it is the same integer k; and k / 1000, a correctly
    rounded division of exact integers, is that same nearest double. Near a half, round(x, 3)
    decides."""
    scaled = x * 1000.0
    k = round(scaled)
    if -0.4999 < scaled - k < 0.4999:
        return k / 1000
    return round(x, 3)


def _pct(value_ms: int, total_ms: int) -> float:
    return round(100 * value_ms / total_ms, 3) if total_ms else 0.0


def _tick_step(window_ms: int) -> int:
    for step in TICK_STEPS_MS:
        if window_ms / step <= TICKS_PER_SCREEN:
            return step
    return TICK_STEPS_MS[-1]


# The columns a lane needs of each file, in the order timeline() reads them.
TIMELINE_COLUMNS = (
    "user_id",
    "kind",
    "offset_ms",
    "duration_ms",
    "size_bytes",
    "vendor_url",
    "pk",
    "archive_status",
    "archived_key",
)
# With the archive totals: the archive's columns not already among the timeline's, and where each of
# ARCHIVE_COLUMNS then sits in a row.
_ARCHIVE_EXTRA = tuple(name for name in ARCHIVE_COLUMNS if name not in TIMELINE_COLUMNS)
_ARCHIVE_AT = tuple((TIMELINE_COLUMNS + _ARCHIVE_EXTRA).index(name) for name in ARCHIVE_COLUMNS)


def timeline(
    task: RecordingTask,
    *,
    zoom: str = "fit",
    show: int = USERS_PER_PAGE,
    now: datetime | None = None,
    archive: bool = False,
) -> Timeline:
    """Lanes (one per user and kind, grouped by user), ticks and pause bands on one wall-clock axis;
    with `archive`, the class's archive totals too (archive_totals over the same rows).

    One query (the segments, as tuples), whatever the segment count (with `archive`, one more while
    files are being copied: _copy_rate()); `task` comes with its row.
    Every user is laid out so the counts are right, but only the first `show` users are returned for
    drawing, so a 300-user class starts light and loads more on request.
    """
    now = now or timezone.now()
    origin = task.started_at or task.created_at
    columns = TIMELINE_COLUMNS + _ARCHIVE_EXTRA if archive else TIMELINE_COLUMNS
    rows = list(Segment.objects.filter(task=task).order_by().values_list(*columns))
    # By offset, then id. PostgreSQL sorting a big class's 3,000 rows, URLs and all, added ~0.8 ms to
    # the query; two stable sorts here, on one integer each, take 0.1-0.3 ms.
    rows.sort(key=itemgetter(6))
    rows.sort(key=itemgetter(2))
    # Playback prefers the archived copy, through our own permission-checked URL.
    archived = ArchiveStatus.ARCHIVED.value
    urls = [row[5] for row in rows]
    media_base = None
    for i, row in enumerate(rows):
        if row[7] == archived:
            if media_base is None:
                media_base = reverse("archived_media", kwargs={"pk": 1, "name": "f"})[: -len("1/f")]
            urls[i] = _playback_url(media_base, row[6], row[8], row[5])
    live = not task.is_terminal
    if task.stopped_at:
        wall_end_ms = int((task.stopped_at - origin).total_seconds() * 1000)
    elif live:
        wall_end_ms = int((now - origin).total_seconds() * 1000)
    else:
        wall_end_ms = 0
    media_end_ms = max([row[2] + row[3] for row in rows], default=0)
    pause_end_ms = max((end or start for start, end in _pauses(task)), default=0)
    total = max(wall_end_ms, media_end_ms, pause_end_ms, 1_000)

    window = ZOOM_WINDOWS_MS.get(zoom)
    if window is None:
        zoom, window = "fit", total
    scale = max(1.0, total / window)
    step = _tick_step(min(window, total))
    # Ticks fall on round wall-clock times (10:05, 10:10), not on round offsets from an odd start.
    origin_ms = int(origin.timestamp() * 1000)
    first = -(origin_ms % step) + (step if origin_ms % step else 0)
    ticks = [Tick(_pct(t, total), origin + timedelta(milliseconds=t)) for t in range(first, total + 1, step)]

    pauses = []
    for start, end in _pauses(task):
        stop = end if end is not None else total
        pauses.append(
            Band(
                _pct(start, total),
                _pct(max(stop - start, 0), total),
                origin + timedelta(milliseconds=start),
                origin + timedelta(milliseconds=end) if end is not None else None,
            )
        )
    pause_spans = [(start, end if end is not None else total) for start, end in _pauses(task)]

    # The loop below runs once per file (3,000 on a big class): _pct and the pause check inlined,
    # URLs cut as boxes are made, lanes found by user then kind (no key tuple made per file).
    url_base = _common_url_base(urls)
    cut = len(url_base)
    percent = 100 / total
    lanes: dict[str, dict[str, Lane]] = {}
    first_seen: dict[str, int] = {}
    for row, url in zip(rows, urls, strict=True):
        user_id = row[0]
        offset = row[2]
        duration = row[3]
        user_lanes = lanes.get(user_id)
        if user_lanes is None:
            user_lanes = lanes[user_id] = {}
            first_seen[user_id] = offset
        lane = user_lanes.get(row[1])
        if lane is None:
            lane = user_lanes[row[1]] = Lane(user_id, row[1], origin)
        else:
            previous = lane.boxes[-1]
            gap_start = previous[0] + previous[1]
            if offset - gap_start >= GAP_MIN_MS:
                # A gap the recording was paused for is expected, not a hole.
                for p_start, p_end in pause_spans:
                    if p_start <= gap_start + GAP_MIN_MS and offset - GAP_MIN_MS <= p_end:
                        break
                else:
                    lane.gaps += 1
        width = _round3(duration * percent)
        lane.boxes.append(
            (offset, duration, _round3(offset * percent), width if width > 0.05 else 0.05, row[4], url[cut:])
        )
    # Room-wide lanes (whiteboard, mix) first, then people in the order they joined.
    groups = [
        UserGroup(user_id, sorted(lanes[user_id].values(), key=lambda lane: _kind_rank(lane.kind)))
        for user_id in sorted(first_seen, key=lambda u: (u != "", first_seen[u], u))
    ]
    show = max(USERS_PER_PAGE, show)
    return Timeline(
        origin=origin,
        duration_ms=total,
        zoom=zoom,
        scale=round(scale, 3),
        ticks=ticks,
        pauses=pauses,
        groups=groups,
        shown_groups=groups[:show],
        segment_count=len(rows),
        live=live,
        show=show,
        tick_seconds=step < 60_000,
        url_base=url_base,
        archive=archive_totals(rows, task, now=now, at=_ARCHIVE_AT) if archive else None,
    )


def _playback_url(media_base: str, pk: int, key: str, vendor_url: str) -> str:
    """An archived file's URL (the vendor's while the copy has no key)."""
    if key:
        return f"{media_base}{pk}/{key.rsplit('/', 1)[-1]}"
    return vendor_url


def _common_url_base(urls: list[str]) -> str:
    """The longest shared prefix of the URLs, up to and including a "/" after the host (or, when
    every URL is a path on this site, such as archived copies, a "/" of the path)."""
    if not urls:
        return ""
    if all(url.startswith("/") and not url.startswith("//") for url in urls):
        prefix = os.path.commonprefix(urls)
        return prefix[: prefix.rfind("/") + 1]
    if any("://" not in url for url in urls):
        return ""
    prefix = os.path.commonprefix(urls)
    cut = prefix.rfind("/")
    if cut < prefix.find("://") + 3:
        return ""
    return prefix[: cut + 1]


# Plain strings: list.index over the enum members cost ~20 µs a lane.
KIND_RANK = {str(kind.value): rank for rank, kind in enumerate(KIND_ORDER)}


def _kind_rank(kind: str) -> int:
    return KIND_RANK.get(kind, len(KIND_ORDER))


def _pauses(task: RecordingTask) -> list[tuple[int, int | None]]:
    spans = []
    for item in task.pause_intervals or []:
        if not item:
            continue
        start = int(item[0])
        end = int(item[1]) if len(item) > 1 and item[1] is not None else None
        spans.append((start, end))
    return spans


def offset_for_wall_time(task: RecordingTask, hour: int, minute: int, second: int, *, tz) -> int | None:
    """The offset (ms) of a wall-clock time of day in `tz` within the recording, or None if outside.

    A class may run over midnight, so the day is the one that puts the time inside the recording.
    """
    origin = task.started_at or task.created_at
    local_start = timezone.localtime(origin, tz)
    candidates = []
    for day_shift in (0, 1, -1):
        day = local_start.date() + timedelta(days=day_shift)
        naive = datetime(day.year, day.month, day.day, hour, minute, second)
        candidates.append(timezone.make_aware(naive, tz))
    for moment in candidates:
        offset = int((moment - origin).total_seconds() * 1000)
        if offset >= 0:
            end = task.stopped_at or timezone.now()
            if moment <= end + timedelta(seconds=1):
                return offset
    return None


__all__ = [
    "ArchiveProgress",
    "Attention",
    "LogEntry",
    "archive_files",
    "archive_progress",
    "ReviewFilters",
    "Timeline",
    "event_log",
    "latest_failed_call",
    "live_tasks",
    "needs_attention",
    "offset_for_wall_time",
    "recent_tasks",
    "review",
    "timeline",
]
