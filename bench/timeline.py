"""Benchmark 1: the class page and its timeline fragment at class scale, on PostgreSQL.

A finished class of 4 hours, 300 users, 3,000 segments and 3 pauses (and the same class shape at 30
and 300 segments, to show the query count does not grow with segments). Server time is measured in
this process through Django's full request path (middleware, session, view, template); the baseline
renders the same template from a context already built in memory, with no query. The full page is
measured again once every file of the class is archived (copied to our storage), its usual end state.
Peak RSS is taken from a gunicorn worker serving the same requests.

Run alone: `python bench/timeline.py`. While iterating, `BENCH_SMOKE_REQUESTS=5` times fewer requests
and `BENCH_SMOKE_NO_GUNICORN=1` skips the gunicorn pass; the class itself is never made smaller.
"""

from __future__ import annotations

import os
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common  # noqa: E402
from bench.common import Result, median, percentile  # noqa: E402

REQUESTS = int(os.environ.get("BENCH_SMOKE_REQUESTS") or 30)
WARMUP = 3
HOUR_MS = 3_600_000
DURATION_MS = 4 * HOUR_MS
PAUSES = [
    [HOUR_MS, HOUR_MS + 300_000],
    [2 * HOUR_MS, 2 * HOUR_MS + 300_000],
    [3 * HOUR_MS, 3 * HOUR_MS + 300_000],
]
SEGMENTS_PER_USER = 10


def make_class(users: int, *, label: str):
    """A finished class: `users` people with 10 files each (every fifth shares a screen), 3 pauses."""
    from django.utils import timezone

    from recordings.models import RecordingTask, Room, Segment, VendorApp

    app = VendorApp.objects.filter(vendor="tencent_tiw").first() or VendorApp.objects.create(
        vendor="tencent_tiw", name="bench timeline app", app_id="1400000001"
    )
    room = Room.objects.create(app=app, room_id=f"{9000 + users}", title=f"Bench class {label}")
    started = timezone.now() - timedelta(hours=5)
    task = RecordingTask.objects.create(
        app=app,
        room=room,
        mode="individual",
        desired_state="stopped",
        observed_state="finished",
        vendor_state="FINISHED",
        vendor_task_id=f"bench-task-{label}",
        started_at=started,
        stopped_at=started + timedelta(milliseconds=DURATION_MS),
        finished_at=started + timedelta(milliseconds=DURATION_MS + 60_000),
        pause_intervals=PAUSES,
    )
    base = (
        f"https://recordings-1250000000.cos.ap-shanghai.myqcloud.com/tiw/{app.app_id}/{task.vendor_task_id}/"
    )
    rows = []
    slot = (DURATION_MS - 15 * 60_000) // SEGMENTS_PER_USER
    for u in range(users):
        user_id = f"student_{u:04d}"
        join = (u * 2_017) % (10 * 60_000)
        for i in range(SEGMENTS_PER_USER):
            kind = "screen" if u % 5 == 0 and i % 2 else "camera"
            offset = join + i * slot
            rows.append(
                Segment(
                    task=task,
                    user_id=user_id,
                    kind=kind,
                    offset_ms=offset,
                    duration_ms=slot - 90_000 + (u * 37 + i * 11) % 60_000,
                    size_bytes=40_000_000 + (u * 7919 + i) % 9_000_000,
                    format="mp4",
                    vendor_url=f"{base}{user_id}/{kind}_{i:03d}.mp4",
                    vendor_file_id=f"{user_id}-{kind}-{i}",
                )
            )
    Segment.objects.bulk_create(rows, batch_size=1000)
    return task


def archive_all(task) -> None:
    """Mark every file of `task` copied to our storage, as archiving leaves it (recordings/archiving.py)."""
    from django.db.models import F, Value
    from django.db.models.functions import Concat
    from django.utils import timezone

    from recordings.archiving import copy_root
    from recordings.models import Segment

    now = timezone.now()
    Segment.objects.filter(task=task).update(
        archive_status="archived",
        archived_key=Concat(Value(copy_root(task.pk)), F("vendor_file_id"), Value(".mp4")),
        archived_checksum="md5:9e107d9d372bb6826bd81d3542a419d6",
        archived_bytes=F("size_bytes"),
        archive_attempts=1,
        archive_queued_at=now - timedelta(minutes=30),
        archive_started_at=now - timedelta(minutes=29),
        archive_progress_at=now - timedelta(minutes=20),
        archived_at=now - timedelta(minutes=20),
    )


def _request_once(client, url: str, headers: dict) -> tuple[float, int, int]:
    """One request through Django's full path: (ms, SQL queries, response bytes)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        started = time.perf_counter()
        response = client.get(url, headers=headers)
        elapsed = time.perf_counter() - started
    if response.status_code not in (200, 286):
        raise RuntimeError(f"{url}: HTTP {response.status_code}")
    return elapsed * 1000, len(captured.captured_queries), len(response.content)


def _timed_requests(client, url: str, headers: dict, n: int) -> tuple[list[float], list[int], int]:
    times, queries, size = [], [], 0
    for i in range(WARMUP + n):
        elapsed, count, size = _request_once(client, url, headers)
        if i >= WARMUP:
            times.append(elapsed)
            queries.append(count)
    return times, queries, size


def _captured_context(request, view, *args):
    """The template and context the view itself builds (whatever the page grows to hold), caught
    by standing in for the view module's `render` once, outside any timing."""
    from recordings.views import classes

    caught = {}
    real_render = classes.render

    def catch(request, template, context=None, *rest, **kwargs):
        caught["template"], caught["context"] = template, dict(context or {})
        return real_render(request, template, context, *rest, **kwargs)

    classes.render = catch
    try:
        view(request, *args)
    finally:
        classes.render = real_render
    return caught["template"], caught["context"]


def _baseline_render(user, task, path: str, *, fragment: bool):
    """The same template rendered from the view's own context built once, in memory; returns a
    function that renders it once and answers (ms, queries run while timed, bytes)."""
    from django.contrib.messages.storage.fallback import FallbackStorage
    from django.db import connection
    from django.shortcuts import render
    from django.test import RequestFactory
    from django.test.utils import CaptureQueriesContext
    from django_htmx.middleware import HtmxDetails

    from recordings.views import classes

    headers = {"HX-Request": "true", "HX-Target": "timeline"} if fragment else {}
    request = RequestFactory().get(path, headers=headers)
    request.user = user
    request.htmx = HtmxDetails(request)
    request.session = {}
    request._messages = FallbackStorage(request)
    view = classes.timeline_fragment if fragment else classes.detail
    template, context = _captured_context(request, view, task.pk)

    def once() -> tuple[float, int, int]:
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = render(request, template, context)
            elapsed = time.perf_counter() - started
        return elapsed * 1000, len(captured.captured_queries), len(response.content)

    return once


def _served_and_baseline(client, user, task, url: str, headers: dict, *, fragment: bool, n: int):
    """The served request and the baseline rendering taken in turn, request by request, so that the
    load of a shared machine falls on both alike (timed one after the other, a busy spell during
    one phase alone moved the ratio from 0.6× to 2.7× between runs).
    Returns (served ms, served bytes, baseline ms, baseline bytes, most queries the baseline ran)."""
    baseline = _baseline_render(user, task, url, fragment=fragment)
    served_t, base_t, served_size, base_size, base_q = [], [], 0, 0, 0
    for i in range(WARMUP + n):
        served_ms, _count, served_size = _request_once(client, url, headers)
        elapsed, queries, size = baseline()
        if i >= WARMUP:
            served_t.append(served_ms)
            base_t.append(elapsed)
            base_size = size
            base_q = max(base_q, queries)
    return served_t, served_size, base_t, base_size, base_q


def _gunicorn_pass(client, urls: list[tuple[str, dict]], n: int) -> tuple[float | None, dict[str, float]]:
    """The same requests served by a real gunicorn worker: its peak RSS and the wall times seen."""
    import httpx

    workdir = common.run_dir("timeline")
    server = common.Gunicorn(workdir, workers=1)
    try:
        cookie = client.cookies["sessionid"].value
        times: dict[str, float] = {}
        with httpx.Client(cookies={"sessionid": cookie}, timeout=60) as http:
            for url, headers in urls:
                samples = []
                for i in range(WARMUP + n):
                    started = time.perf_counter()
                    response = http.get(server.url(url), headers=headers)
                    if response.status_code != 200:
                        raise RuntimeError(f"gunicorn {url}: HTTP {response.status_code}")
                    if i >= WARMUP:
                        samples.append((time.perf_counter() - started) * 1000)
                times[url] = median(samples)
        peaks = [common.peak_rss_mb(pid) for pid in server.worker_pids()]
        peak = max((p for p in peaks if p is not None), default=None)
    finally:
        server.stop()
    return peak, times


def run() -> Result:
    common.setup_django()
    common.reset_tables()
    from django.test import Client

    result = Result("1 timeline")
    user = common.staff_user()
    client = Client()
    client.force_login(user)

    tasks = {n * SEGMENTS_PER_USER: make_class(n, label=str(n * SEGMENTS_PER_USER)) for n in (3, 30, 300)}
    # A zoom click: the fragment as HTMX asks for it (a poll of a finished class answers 286, also fine).
    hx = {"HX-Request": "true", "HX-Target": "timeline"}
    big = tasks[3000]

    query_counts = {}
    for segments, task in tasks.items():
        _t, page_q, _s = _timed_requests(client, f"/classes/{task.pk}/?show=300", {}, 5)
        _t, frag_q, _s = _timed_requests(client, f"/classes/{task.pk}/timeline/?zoom=fit&show=300", hx, 5)
        query_counts[segments] = (max(page_q), max(frag_q))
    flat = query_counts[3000][0] <= query_counts[30][0] and query_counts[3000][1] <= query_counts[30][1]
    for segments, (page_q, frag_q) in query_counts.items():
        result.add(
            f"SQL queries per request at {segments:,} segments (page / fragment)",
            max(page_q, frag_q),
            "q",
            goal="≤ 10, flat",
            passed=max(page_q, frag_q) <= 10 and flat,
            note=f"{page_q} / {frag_q}",
        )

    page_url = f"/classes/{big.pk}/?show=300"
    frag_url = f"/classes/{big.pk}/timeline/?zoom=fit&show=300"
    default_url = f"/classes/{big.pk}/"
    page_t, page_bytes, base_page_t, base_page_bytes, base_page_q = _served_and_baseline(
        client, user, big, page_url, {}, fragment=False, n=REQUESTS
    )
    frag_t, frag_bytes, base_frag_t, base_frag_bytes, base_frag_q = _served_and_baseline(
        client, user, big, frag_url, hx, fragment=True, n=REQUESTS
    )
    default_t, _q, default_bytes = _timed_requests(client, default_url, {}, REQUESTS)

    def page_against_baseline(name: str, served: list[float], base: list[float], note: str) -> None:
        result.add(
            name,
            median(served),
            "ms",
            baseline=median(base),
            goal="≤ 1.5× baseline",
            passed=median(served) <= 1.5 * median(base),
            note=note,
        )

    page_against_baseline(
        "full page, all 300 users drawn: median server time", page_t, base_page_t, f"{REQUESTS} requests"
    )
    result.add("full page, all 300 users drawn: p95 server time", percentile(page_t, 95), "ms",
               baseline=percentile(base_page_t, 95))  # fmt: skip
    result.add(
        "HTMX lane fragment, all users: median server time",
        median(frag_t),
        "ms",
        baseline=median(base_frag_t),
        note=f"{REQUESTS} requests",
    )
    result.add("HTMX lane fragment, all users: p95 server time", percentile(frag_t, 95), "ms",
               baseline=percentile(base_frag_t, 95))  # fmt: skip
    result.add(
        "full page as first opened (40 users drawn): median server time",
        median(default_t),
        "ms",
        note=f"{default_bytes:,} bytes",
    )
    # The spec's "HTML bytes per segment" is what a viewer downloads: the whole class page with every
    # segment drawn (archive, log and all), not the lane fragment alone.
    per_segment = page_bytes / 3000
    result.add(
        "HTML bytes per segment (full page with all 3,000 segments drawn)",
        per_segment,
        "B",
        goal="≤ 250",
        passed=per_segment <= 250,
        note=f"page {page_bytes:,} B; lane fragment alone {frag_bytes:,} B = {frag_bytes / 3000:.0f} B/segment",
    )
    # The same class once every file is copied to our storage: the usual end state of a finished
    # class, where each file's row also holds its copy's key, checksum and times.
    archive_all(big)
    done_t, done_bytes, base_done_t, _b, base_done_q = _served_and_baseline(
        client, user, big, page_url, {}, fragment=False, n=REQUESTS
    )
    page_against_baseline(
        "full page, all 300 users drawn, every file archived: median server time",
        done_t,
        base_done_t,
        f"{REQUESTS} requests, {done_bytes:,} bytes",
    )
    base_page_q = max(base_page_q, base_done_q)
    if base_page_q or base_frag_q:
        result.extra.append(f"warning: the baseline ran {base_page_q}/{base_frag_q} queries while timed")
    if abs(base_page_bytes - page_bytes) > 0.02 * page_bytes:
        result.extra.append(f"note: baseline page {base_page_bytes:,} B vs served {page_bytes:,} B")

    if os.environ.get("BENCH_SMOKE_NO_GUNICORN"):
        return result
    peak, served = _gunicorn_pass(client, [(page_url, {}), (frag_url, hx)], REQUESTS)
    result.add(
        "peak RSS of the gunicorn web worker serving the page and fragment",
        peak,
        "MB",
        goal="< 300 MB",
        passed=peak is not None and peak < 300,
        note=f"median wall time through gunicorn: page {served[page_url]:.0f} ms, fragment {served[frag_url]:.0f} ms",
    )
    return result


if __name__ == "__main__":
    common.print_result(run())
