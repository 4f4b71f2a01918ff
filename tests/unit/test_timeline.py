"""The class timeline: layout on one wall-clock axis, its cost for a big class, and its fragment."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from recordings import selectors
from recordings.models import Segment
from tests import factories

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
# 10:00:00 in Shanghai.
START = datetime(2026, 3, 2, 2, 0, 0, tzinfo=UTC)
# A realistic vendor URL length (Tencent VOD URLs are about this long).
URL = "https://1500000000.vod-qcloud.com/3a5e7f1dvodtranssh1500000000/6f4e2a1c{n:07d}/f0.mp4"


def seg(task, user_id, kind, offset_s, duration_s, n=[0], **extra):  # noqa: B006 - a counter on purpose
    n[0] += 1
    return Segment(
        task=task,
        user_id=user_id,
        kind=kind,
        offset_ms=int(offset_s * 1000),
        duration_ms=int(duration_s * 1000),
        size_bytes=extra.pop("size_bytes", 12_500_000),
        vendor_url=URL.format(n=n[0]),
        vendor_file_id=f"f{n[0]}",
        **extra,
    )


@pytest.fixture
def people():
    teacher = factories.user("tina", "Teacher")
    support = factories.user("sue", "Support")
    app = factories.app("tencent_tiw")
    room = factories.room(app, teacher, title="Algebra 1")
    return teacher, support, room


@pytest.fixture
def finished(people):
    """A 45-minute class: a teacher with camera, screen and whiteboard, two students, one pause."""
    _teacher, _support, room = people
    task = factories.task(
        room,
        observed_state="finished",
        desired_state="stopped",
        started_at=START,
        stopped_at=START + timedelta(minutes=45),
        pause_intervals=[[600_000, 720_000]],
    )
    Segment.objects.bulk_create(
        [
            seg(task, "", "whiteboard", 0, 2700),
            seg(task, "teacher", "camera", 0, 600),
            seg(task, "teacher", "camera", 720, 1980),  # resumes after the pause: not a gap
            seg(task, "teacher", "screen", 300, 120),
            seg(task, "student1", "camera", 60, 500),
            seg(task, "student1", "camera", 900, 300),  # 340 s missing, outside the pause: a gap
            seg(task, "student2", "audio", 30, 2600),
        ]
    )
    return task


def test_lanes_are_one_per_user_and_kind_grouped_by_user_room_first(finished):
    tl = selectors.timeline(finished)
    assert [g.user_id for g in tl.groups] == ["", "teacher", "student2", "student1"]
    teacher = tl.groups[1]
    assert [lane.kind for lane in teacher.lanes] == ["camera", "screen"]
    assert [len(lane.segments) for lane in teacher.lanes] == [2, 1]
    assert tl.segment_count == 7
    assert tl.user_count == 3  # teacher and two students; the room's whiteboard is nobody


def test_segments_are_placed_by_offset_and_duration_in_percent_of_the_class(finished):
    tl = selectors.timeline(finished)
    assert tl.duration_ms == 2_700_000
    screen = tl.groups[1].lanes[1].segments[0]
    assert (screen.left, screen.width) == (
        pytest.approx(300 / 2700 * 100, abs=0.001),
        pytest.approx(120 / 2700 * 100, abs=0.001),
    )
    assert screen.start == START + timedelta(seconds=300)
    assert screen.end == START + timedelta(seconds=420)


def test_pauses_are_bands_and_only_holes_outside_them_count_as_gaps(finished):
    tl = selectors.timeline(finished)
    [band] = tl.pauses
    assert band.left == pytest.approx(600 / 2700 * 100, abs=0.001)
    assert band.width == pytest.approx(120 / 2700 * 100, abs=0.001)
    assert band.start == START + timedelta(minutes=10)
    gaps = {(g.user_id, lane.kind): lane.gaps for g in tl.groups for lane in g.lanes}
    assert gaps[("teacher", "camera")] == 0
    assert gaps[("student1", "camera")] == 1


def test_an_open_pause_runs_to_the_end_of_the_axis(people):
    _t, _s, room = people
    task = factories.task(
        room,
        observed_state="paused",
        desired_state="paused",
        started_at=START,
        pause_intervals=[[60_000, None]],
    )
    now = START + timedelta(minutes=5)
    tl = selectors.timeline(task, now=now)
    [band] = tl.pauses
    assert band.end is None
    assert band.left + band.width == pytest.approx(100, abs=0.01)
    assert tl.live


def test_ticks_fall_on_round_wall_clock_times(people):
    _t, _s, room = people
    odd_start = START + timedelta(seconds=17)
    task = factories.task(
        room,
        observed_state="finished",
        started_at=odd_start,
        stopped_at=odd_start + timedelta(minutes=45),
    )
    tl = selectors.timeline(task)
    assert all(t.at.second == 0 and t.at.minute % 5 == 0 for t in tl.ticks)
    assert 5 <= len(tl.ticks) <= 11
    assert tl.ticks[0].at == START + timedelta(minutes=5)


def test_zoom_widens_the_track_and_tightens_the_ticks(finished):
    fit = selectors.timeline(finished, zoom="fit")
    ten = selectors.timeline(finished, zoom="10m")
    one = selectors.timeline(finished, zoom="1m")
    assert (fit.scale, ten.scale, one.scale) == (1.0, 4.5, 45.0)
    assert len(fit.ticks) < len(ten.ticks) < len(one.ticks)
    assert one.tick_seconds and not fit.tick_seconds
    assert selectors.timeline(finished, zoom="nonsense").zoom == "fit"


def test_a_live_class_grows_to_now(people):
    _t, _s, room = people
    task = factories.task(room, observed_state="recording", started_at=START)
    Segment.objects.bulk_create([seg(task, "teacher", "camera", 0, 60)])
    early = selectors.timeline(task, now=START + timedelta(minutes=2))
    later = selectors.timeline(task, now=START + timedelta(minutes=20))
    assert early.duration_ms == 120_000
    assert later.duration_ms == 1_200_000
    assert early.groups[0].lanes[0].segments[0].width > later.groups[0].lanes[0].segments[0].width


def test_a_wall_clock_time_maps_to_an_offset_even_across_midnight(people):
    _t, _s, room = people
    # 23:30 to 00:30 in Shanghai.
    late = datetime(2026, 3, 2, 15, 30, tzinfo=UTC)
    task = factories.task(
        room, observed_state="finished", started_at=late, stopped_at=late + timedelta(hours=1)
    )
    assert selectors.offset_for_wall_time(task, 23, 45, 0, tz=SHANGHAI) == 15 * 60_000
    assert selectors.offset_for_wall_time(task, 0, 10, 0, tz=SHANGHAI) == 40 * 60_000
    assert selectors.offset_for_wall_time(task, 12, 0, 0, tz=SHANGHAI) is None


# ---------------------------------------------------------------- the benchmark class


@pytest.fixture
def big_class(people):
    """300 users × 10 segments over 4 hours (camera and screen share alternating)."""
    _t, _s, room = people
    task = factories.task(
        room,
        observed_state="finished",
        desired_state="stopped",
        started_at=START,
        stopped_at=START + timedelta(hours=4),
        pause_intervals=[[3_600_000, 3_900_000], [7_200_000, 7_260_000]],
    )
    rows = []
    for u in range(300):
        for k in range(10):
            kind = "camera" if k % 2 == 0 else "screen"
            rows.append(seg(task, f"student{u:03d}", kind, k * 1440 + u, 1400))
    Segment.objects.bulk_create(rows, batch_size=1000)
    return task


def test_the_big_class_is_laid_out_in_a_bounded_number_of_queries(big_class, django_assert_max_num_queries):
    with django_assert_max_num_queries(1):
        tl = selectors.timeline(big_class)
    assert tl.segment_count == 3000
    assert tl.user_count == 300
    assert len(tl.shown_groups) == selectors.USERS_PER_PAGE


def test_the_big_class_fragment_with_every_user_stays_light_and_bounded(
    big_class, people, client, django_assert_max_num_queries
):
    _t, support, _room = people
    client.force_login(support)
    url = reverse("recording_timeline", args=[big_class.pk]) + "?show=300"
    with django_assert_max_num_queries(10):
        response = client.get(url, headers={"HX-Request": "true"})
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count("<i ") == 3000
    assert "<html" not in html
    assert len(response.content) / 3000 <= 250, f"{len(response.content) / 3000:.0f} bytes per segment"


def test_the_big_class_page_shows_the_first_users_and_offers_the_rest(big_class, people, client):
    _t, support, _room = people
    client.force_login(support)
    response = client.get(reverse("recording_detail", args=[big_class.pk]))
    html = response.content.decode()
    assert html.count("<i ") == selectors.USERS_PER_PAGE * 10
    assert "260 not shown" in html
    more = re.search(r'hx-get="([^"]*show=80[^"]*)"', html)
    assert more, "a 'show more participants' link loads the next users"
    page2 = client.get(more.group(1).replace("&amp;", "&"), headers={"HX-Request": "true"})
    assert page2.content.decode().count("<i ") == 800


def test_the_big_class_page_with_every_user_stays_light_and_sums_up_the_archive(
    big_class, people, client, django_assert_max_num_queries
):
    _t, support, _room = people
    client.force_login(support)
    Segment.objects.filter(task=big_class, user_id="student007").update(
        archive_status="failed", archive_error="bucket refused"
    )
    with django_assert_max_num_queries(10):
        response = client.get(reverse("recording_detail", args=[big_class.pk]) + "?show=300")
    html = response.content.decode()
    assert html.count("<i ") == 3000
    # The whole page, archive and log included, not only the lanes.
    assert len(response.content) / 3000 <= 250, f"{len(response.content) / 3000:.0f} bytes per segment"
    # The archive card sums up; each file's row waits until asked for.
    assert "0 of 3000 files archived" in html
    assert "Archiving failed</span> 10" in html and "Not archived yet</span> 2990" in html
    assert "10 files could not be archived." in html
    assert re.search(r"<li>bucket refused <span[^>]*>\(10 files\)</span></li>", html)
    assert 'id="archive-' not in html.replace('id="archive-title"', "").replace('id="archive-files"', "")
    assert "Show each of the 3000 files and its archive state" in html


def test_the_archive_card_sums_every_state_alike_on_the_class_page_and_in_its_poll(people, client):
    """The class page sums the archive from the rows its lanes are drawn from; the card's own poll
    (archive_progress) from a query of its own. Both read each state the same way."""
    from recordings.archiving import copy_root

    _t, support, room = people
    now = timezone.now()
    task = factories.task(
        room,
        observed_state="finished",
        desired_state="stopped",
        started_at=START,
        stopped_at=START + timedelta(hours=1),
    )
    ago = lambda seconds: now - timedelta(seconds=seconds)  # noqa: E731
    copies = copy_root(task.pk)
    Segment.objects.bulk_create(
        [
            seg(task, "a", "camera", 0, 60, size_bytes=1000, archive_status="archived", archived_bytes=1000,
                archived_key=f"school/{copies}1/a.mp4"),
            # The vendor's own upload into the archive bucket, verified there.
            seg(task, "a", "camera", 60, 60, size_bytes=2000, archive_status="archived", archived_bytes=2000,
                archived_key="tiw/1400000001/b.mp4"),
            # No size from the vendor: what was copied counts once archived, and only then.
            seg(task, "a", "camera", 120, 60, size_bytes=0, archive_status="archived", archived_bytes=500,
                archived_key=f"school/{copies}3/c.mp4"),
            seg(task, "b", "camera", 0, 60, size_bytes=0),
            # Copying: 1000 B in 5 s, moving now; 3000 B of a copy that stalled 10 minutes ago.
            seg(task, "b", "camera", 60, 60, size_bytes=4000, archive_status="copying", archived_bytes=1000,
                archive_started_at=ago(10), archive_progress_at=ago(5)),
            seg(task, "b", "camera", 120, 60, size_bytes=4000, archive_status="copying", archived_bytes=3000,
                archive_started_at=ago(900), archive_progress_at=ago(600)),
            # More copied than the vendor said: the done bytes stop at the size, the rate does not.
            seg(task, "c", "screen", 0, 60, size_bytes=1000, archive_status="copying", archived_bytes=1500,
                archive_started_at=ago(20), archive_progress_at=ago(5)),
            seg(task, "c", "camera", 0, 60, size_bytes=1000, archive_status="failed", archive_error="refused"),
            seg(task, "c", "camera", 60, 60, size_bytes=1000, archive_status="failed", archive_error="refused"),
            seg(task, "c", "camera", 120, 60, size_bytes=1000, archive_status="failed", archive_error="gone"),
        ]
    )  # fmt: skip
    polled = selectors.archive_progress(task, now=now)
    assert polled.counts == {"archived": 3, "pending": 1, "copying": 3, "failed": 3}
    assert (polled.total_bytes, polled.done_bytes) == (15_500, 8_500)
    assert polled.rate == pytest.approx(1000 / 5 + 1500 / 15)
    assert polled.in_place == 1
    assert polled.failure_reasons == [("refused", 2), ("gone", 1)]
    assert polled.active
    assert selectors.timeline(task, now=now, archive=True).archive == polled
    assert selectors.timeline(task, now=now).archive is None

    client.force_login(support)
    html = client.get(reverse("recording_detail", args=[task.pk])).content.decode()
    assert "3 of 10 files archived" in html
    assert "1 verified in place" in html
    assert re.search(r"<li>refused <span[^>]*>\(2 files\)</span></li>", html)


def test_copy_times_are_read_only_while_files_are_being_copied(people):
    """Every archived file keeps its copy's start and progress times, but only the rate of the copies
    under way reads them: the totals' query leaves them out, and a query of their own, on the files
    being copied, runs only while there are some."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    _t, _s, room = people
    now = timezone.now()
    task = factories.task(
        room, observed_state="finished", started_at=START, stopped_at=START + timedelta(hours=1)
    )
    times = {
        "archive_started_at": now - timedelta(minutes=10),
        "archive_progress_at": now - timedelta(minutes=9),
    }
    Segment.objects.bulk_create(
        [
            seg(task, "a", "camera", i * 60, 60, size_bytes=1000, archive_status="archived",
                archived_bytes=1000, archived_key=f"recdesk/{task.pk}/{i}.mp4", **times)
            for i in range(3)
        ]
    )  # fmt: skip

    def read():
        with CaptureQueriesContext(connection) as queries:
            progress = selectors.archive_progress(task, now=now)
            page = selectors.timeline(task, now=now, archive=True).archive
        assert page == progress
        return progress, [q["sql"] for q in queries.captured_queries]

    progress, sql = read()
    assert progress.rate == 0.0 and len(sql) == 2
    assert not [q for q in sql if "archive_started_at" in q]

    # 600 B in 5 s, moving now.
    Segment.objects.filter(task=task, offset_ms=60_000).update(
        archive_status="copying",
        archived_bytes=600,
        archive_started_at=now - timedelta(seconds=10),
        archive_progress_at=now - timedelta(seconds=5),
    )
    progress, sql = read()
    assert progress.rate == pytest.approx(600 / 5) and len(sql) == 4


@pytest.mark.parametrize("state", ["recording", "finished"])
def test_the_class_page_and_its_fragments_never_look_up_the_storage_target(people, client, state):
    """The page leaves the task's storage target out of its join (planning time on every request):
    nothing the page draws may reach for it."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from recordings.models import StorageTarget

    _t, support, room = people
    target = StorageTarget.objects.create(name="vod", provider="vendor_vod")
    task = factories.task(room, observed_state=state, started_at=START, storage=target)
    Segment.objects.bulk_create([seg(task, "teacher", "camera", 0, 60)])
    client.force_login(support)
    hx = {"HX-Request": "true"}
    with CaptureQueriesContext(connection) as queries:
        assert client.get(reverse("recording_detail", args=[task.pk])).status_code == 200
        assert client.get(reverse("recording_status", args=[task.pk]), headers=hx).status_code in (200, 286)
        assert client.get(reverse("recording_timeline", args=[task.pk]), headers=hx).status_code in (200, 286)
    assert not [q["sql"] for q in queries.captured_queries if "recordings_storagetarget" in q["sql"]]


def test_the_archive_file_list_comes_a_page_at_a_time_and_by_state(big_class, people, client):
    _t, support, _room = people
    client.force_login(support)
    Segment.objects.filter(task=big_class, user_id="student007").update(
        archive_status="failed", archive_error="bucket refused"
    )
    url = reverse("recording_archive_files", args=[big_class.pk])
    hx = {"HX-Request": "true"}
    first = client.get(url, headers=hx).content.decode()
    assert first.lstrip().startswith('<div id="archive-files"')
    assert first.count('<tr id="archive-') == selectors.ARCHIVE_FILES_PER_PAGE
    assert "Page 1 of 60" in first and "All (3000)" in first
    last = client.get(url + "?page=60", headers=hx).content.decode()
    assert last.count('<tr id="archive-') == 50 and "Page 60 of 60" in last
    failed = client.get(url + "?status=failed", headers=hx).content.decode()
    assert failed.count('<tr id="archive-') == 10 and failed.count("bucket refused") == 10
    assert "student007" in failed and "student008" not in failed
    # Closing the list leaves the button that opens it again.
    hidden = client.get(url + "?hide=1", headers=hx).content.decode()
    assert "<table" not in hidden and "Show each of the 3000 files" in hidden
    # Without JavaScript the links open the class page with the list in it.
    assert reverse("recording_detail", args=[big_class.pk]) + "?files=failed#archive-files" in first
    page = client.get(reverse("recording_detail", args=[big_class.pk]) + "?files=failed").content.decode()
    assert page.count('<tr id="archive-') == 10 and "bucket refused" in page


# ---------------------------------------------------------------- the fragment


def test_each_segment_carries_what_the_player_and_the_hover_need(finished, people, client):
    _t, support, _room = people
    client.force_login(support)
    with timezone.override(SHANGHAI):
        html = client.get(
            reverse("recording_timeline", args=[finished.pk]), headers={"HX-Request": "true"}
        ).content.decode()
    screen = re.search(
        r'<i style="left:([\d.]+)%;width:([\d.]+)%" data-o="300000" data-d="120000" data-u="([^"]+)" title="([^"]+)"',
        html,
    )
    assert screen, html[:2000]
    # The URL's shared start is sent once, on the timeline.
    base = re.search(r'data-base="([^"]*)"', html).group(1)
    assert (base + screen.group(3)).startswith("https://1500000000.vod-qcloud.com/")
    assert (base + screen.group(3)).endswith("/f0.mp4")
    # Hover: start–end in the user's zone (Shanghai, 10:05:00), size; who and which kind are the
    # lane's label and its group's name, said once per lane rather than on each of its files.
    assert screen.group(4) == "10:05:00–10:07:00 · 11.9\xa0MB"
    lane = html[: screen.start()].rsplit('<div class="tl-user"', 1)[1]
    assert 'aria-label="teacher"' in lane
    assert (
        'data-lane="teacher/screen"><label class="tl-label"><input type="checkbox" class="watch"> Screen share'
        in lane
    )
    assert "Paused 10:10:00–10:12:00" in html
    assert "1 gap" in html
    # The axis is labelled in wall-clock time of the user's zone.
    assert ">10:05<" in html and ">10:40<" in html


def test_the_fragment_of_a_live_class_polls_and_a_finished_one_stops_the_poll(people, finished, client):
    _t, support, room = people
    client.force_login(support)
    live = factories.task(factories.room(room.app), observed_state="recording", started_at=timezone.now())
    url = reverse("recording_timeline", args=[live.pk])
    response = client.get(url, headers={"HX-Request": "true", "HX-Trigger": "timeline"})
    assert response.status_code == 200
    assert 'hx-trigger="every 10s"' in response.content.decode()

    done = client.get(
        reverse("recording_timeline", args=[finished.pk]),
        headers={"HX-Request": "true", "HX-Trigger": "timeline"},
    )
    assert done.status_code == 286
    assert "hx-trigger" not in done.content.decode()


def test_zoom_links_work_as_plain_links_and_as_fragments(finished, people, client):
    _t, support, _room = people
    client.force_login(support)
    page = client.get(reverse("recording_detail", args=[finished.pk]) + "?zoom=1m")
    html = page.content.decode()
    assert "--z:45.0" in html
    assert f'href="{reverse("recording_detail", args=[finished.pk])}?zoom=10m&amp;show=40#timeline"' in html
    assert f'hx-get="{reverse("recording_timeline", args=[finished.pk])}?zoom=10m&amp;show=40"' in html
    fragment = client.get(
        reverse("recording_timeline", args=[finished.pk]) + "?zoom=10m", headers={"HX-Request": "true"}
    )
    assert fragment.status_code == 200
    assert "--z:4.5" in fragment.content.decode()


def test_a_teacher_cannot_read_the_timeline_of_another_room(finished):
    other = factories.user("otto", "Teacher")
    from django.test import Client

    client = Client()
    client.force_login(other)
    assert client.get(reverse("recording_timeline", args=[finished.pk])).status_code == 404


def test_hover_sizes_read_as_django_writes_them_in_both_languages():
    from django.template.defaultfilters import filesizeformat
    from django.utils import translation

    from recordings.templatetags.timeline import size_label

    sizes = [0, 1, 1023, 1024, 1536, 999_999, 12_500_000, 41_943_039, 41_943_040, 3 * 2**30 + 7, 2**41, 2**51]
    for language in ("en", "zh-hans"):
        with translation.override(language):
            seen: dict = {}
            for size in sizes + sizes:
                assert size_label(size, seen) == filesizeformat(size), (language, size)


def test_the_layouts_quick_rounding_is_pythons_round_to_three_places():
    import random

    rng = random.Random(7)
    for total in (1_000, 45 * 60_000, 4 * 3_600_000, 7 * 3_600_000 + 13, 86_400_000):
        percent = 100 / total
        values = [n * percent for n in range(0, 50_000)]
        values += [rng.randrange(0, total + 1) * percent for _ in range(50_000)]
        # Ties in decimal, and values a hair either side of them.
        values += [k / 1000 + 0.0005 + delta for k in range(0, 100_000, 7) for delta in (-1e-12, 0.0, 1e-12)]
        for x in values:
            assert repr(selectors._round3(x)) == repr(round(x, 3)), x
