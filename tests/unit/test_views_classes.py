"""The staff pages of classes: each page, each HTMX fragment (full page versus fragment), polling that stops."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from recordings.models import (
    AuditEvent,
    CallbackDelivery,
    RecordingTask,
    Segment,
    VendorCall,
    VendorCommand,
)
from tests import factories

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
SHANGHAI = ZoneInfo(settings.RECDESK_DEFAULT_USER_TIMEZONE)


@pytest.fixture
def world():
    admin = factories.user("boss", "Admin")
    tina = factories.user("tina", "Teacher", first_name="Tina")
    otto = factories.user("otto", "Teacher")
    sue = factories.user("sue", "Support")
    tiw = factories.app("tencent_tiw")
    agora = factories.app("agora")
    zego = factories.app("zego")
    algebra = factories.room(tiw, tina, title="Algebra 1")
    physics = factories.room(agora, otto, title="Physics 2")
    chemistry = factories.room(zego, tina, title="Chemistry 3")
    return {
        "admin": admin,
        "tina": tina,
        "otto": otto,
        "sue": sue,
        "tiw": tiw,
        "agora": agora,
        "zego": zego,
        "algebra": algebra,
        "physics": physics,
        "chemistry": chemistry,
    }


def as_user(client, user):
    client.force_login(user)
    return client


def ago(**kw):
    return timezone.now() - timedelta(**kw)


# ---------------------------------------------------------------- home


def test_home_shows_what_records_now_and_polls_it(client, world):
    factories.task(world["algebra"], started_at=ago(minutes=12), requested_by=world["tina"])
    html = as_user(client, world["sue"]).get(reverse("home")).content.decode()
    assert "<html" in html
    live = html[html.index('id="live"') : html.index("</table>", html.index('id="live"'))]
    assert "Algebra 1" in live
    assert "Tina" in live
    assert "Tencent TIW" in live
    assert "12\xa0minutes" in live
    assert "state-recording" in live and ">Recording<" in live
    assert 'hx-trigger="every 5s"' in html


def test_home_live_fragment_is_only_the_panel(client, world):
    factories.task(world["algebra"], started_at=ago(minutes=1), desired_state="paused")
    response = as_user(client, world["sue"]).get(reverse("home"), headers=HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html and "Needs attention" not in html
    assert html.strip().startswith('<div id="live"')
    assert "Pausing…" in html


def test_home_polling_stops_when_nothing_is_live(client, world):
    factories.task(world["algebra"], observed_state="finished", desired_state="stopped")
    response = as_user(client, world["sue"]).get(reverse("home"), headers=HTMX)
    assert response.status_code == 286
    assert "hx-trigger" not in response.content.decode()
    assert "Nothing is recording right now." in response.content.decode()
    # And the full page does not start polling at all.
    assert "hx-trigger" not in client.get(reverse("home")).content.decode().split('id="live"')[1][:200]


def test_home_lists_what_needs_attention(client, world):
    failed = factories.task(
        world["algebra"], observed_state="failed", error_code="70005", finish_reason="start_failed"
    )
    stuck = factories.task(world["physics"], observed_state="starting", state_changed_at=ago(minutes=30))
    VendorCall.objects.create(
        app=world["agora"], action="acquire", http_status=401, error_kind="auth", vendor_code="401"
    )
    CallbackDelivery.objects.create(
        vendor="zego",
        app=world["zego"],
        raw_body=b"{}",
        signature_ok=False,
        outcome="rejected",
        rejection_reason="signature mismatch",
    )
    expiring = factories.task(world["chemistry"], observed_state="finished")
    Segment.objects.create(
        task=expiring,
        kind="camera",
        user_id="u1",
        offset_ms=0,
        duration_ms=1000,
        vendor_file_id="x1",
        vendor_expires_at=timezone.now() + timedelta(hours=5),
    )
    html = as_user(client, world["sue"]).get(reverse("home")).content.decode()
    attention = html[html.index("attention-title") : html.index("recent-title")]
    assert reverse("recording_detail", args=[failed.pk]) in attention and "70005" in attention
    assert "Stuck" in attention and reverse("recording_detail", args=[stuck.pk]) in attention
    assert "acquire" in attention and "401" in attention
    assert "signature mismatch" in attention
    assert "1 file not archived" in attention and reverse("recording_detail", args=[expiring.pk]) in attention


def test_a_teacher_sees_only_the_classes_of_their_rooms(client, world):
    factories.task(world["algebra"], started_at=ago(minutes=3))
    factories.task(world["physics"], started_at=ago(minutes=3))
    html = as_user(client, world["tina"]).get(reverse("home")).content.decode()
    assert "Algebra 1" in html and "Physics 2" not in html
    html = client.get(reverse("review")).content.decode()
    assert "Algebra 1" in html and "Physics 2" not in html


# ---------------------------------------------------------------- review


@pytest.fixture
def classes(world):
    now = timezone.now()
    yesterday = now - timedelta(days=1)
    made = {
        "failed_yesterday": factories.task(
            world["algebra"],
            observed_state="failed",
            error_code="AuthFailure",
            finish_reason="start_failed",
            requested_by=world["tina"],
        ),
        "fine_yesterday": factories.task(
            world["physics"],
            observed_state="finished",
            started_at=yesterday,
            stopped_at=yesterday + timedelta(minutes=50),
            requested_by=world["otto"],
        ),
        "long_today": factories.task(
            world["chemistry"],
            observed_state="finished",
            started_at=now - timedelta(hours=3),
            stopped_at=now - timedelta(minutes=30),
            requested_by=world["tina"],
        ),
    }
    # created_at is set on insert; move the first two to yesterday.
    RecordingTask.objects.filter(pk__in=[made["failed_yesterday"].pk, made["fine_yesterday"].pk]).update(
        created_at=yesterday
    )
    return made


def ids_in(html):
    return {int(n) for n in re.findall(r'href="/classes/(\d+)/"', html)}


def test_review_finds_yesterdays_failed_class(client, world, classes):
    # "Yesterday" is the support person's yesterday, in their zone (the organisation's default here).
    classes["failed_yesterday"].refresh_from_db()
    yesterday = timezone.localtime(classes["failed_yesterday"].created_at, SHANGHAI).date()
    url = reverse("review") + f"?state=failed&date_from={yesterday}&date_to={yesterday}"
    html = as_user(client, world["sue"]).get(url).content.decode()
    assert ids_in(html) == {classes["failed_yesterday"].pk}
    assert "AuthFailure" in html
    assert "The recording never started" in html


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("q=Physics", {"fine_yesterday"}),
        ("vendor=zego", {"long_today"}),
        ("has_errors=yes", {"failed_yesterday"}),
        ("has_errors=no", {"fine_yesterday", "long_today"}),
        ("min_minutes=60", {"long_today"}),
        ("max_minutes=60", {"fine_yesterday"}),
        ("state=finished", {"fine_yesterday", "long_today"}),
    ],
)
def test_review_filters(client, world, classes, query, expected):
    html = as_user(client, world["admin"]).get(reverse("review") + "?" + query).content.decode()
    assert ids_in(html) == {classes[name].pk for name in expected}


def test_review_filters_by_teacher_and_app(client, world, classes):
    as_user(client, world["admin"])
    html = client.get(reverse("review") + f"?teacher={world['otto'].pk}").content.decode()
    assert ids_in(html) == {classes["fine_yesterday"].pk}
    html = client.get(reverse("review") + f"?app={world['zego'].pk}").content.decode()
    assert ids_in(html) == {classes["long_today"].pk}


def test_review_sorts(client, world, classes):
    html = as_user(client, world["admin"]).get(reverse("review") + "?sort=longest").content.decode()
    order = [int(n) for n in re.findall(r'href="/classes/(\d+)/"', html)]
    assert order[:2] == [classes["long_today"].pk, classes["fine_yesterday"].pk]


def test_review_fragment_and_full_page(client, world, classes):
    as_user(client, world["sue"])
    full = client.get(reverse("review") + "?state=finished").content.decode()
    assert "<html" in full and 'hx-push-url="true"' in full
    fragment = client.get(reverse("review") + "?state=finished", headers=HTMX).content.decode()
    assert "<html" not in fragment and fragment.strip().startswith('<div id="results"')
    assert ids_in(fragment) == {classes["fine_yesterday"].pk, classes["long_today"].pk}


def test_review_pagination_keeps_the_filters_in_the_url(client, world):
    for _ in range(55):
        factories.task(world["algebra"], observed_state="finished")
    html = (
        as_user(client, world["sue"]).get(reverse("review") + "?state=finished&sort=oldest").content.decode()
    )
    assert len(ids_in(html)) == 50
    assert 'href="?state=finished&amp;sort=oldest&amp;page=2"' in html
    page2 = client.get(reverse("review") + "?state=finished&sort=oldest&page=2").content.decode()
    assert len(ids_in(page2)) == 5
    assert f'href="{reverse("review_csv")}?state=finished&amp;sort=oldest"' in html


def test_a_bad_filter_is_shown_and_the_others_still_apply(client, world, classes):
    html = (
        as_user(client, world["sue"])
        .get(reverse("review") + "?state=finished&min_minutes=abc")
        .content.decode()
    )
    assert "Enter a whole number." in html
    assert ids_in(html) == {classes["fine_yesterday"].pk, classes["long_today"].pk}


def test_csv_export_follows_the_filters(client, world, classes):
    RecordingTask.objects.filter(pk=classes["fine_yesterday"].pk).update(error_code="=HYPERLINK(1)")
    response = as_user(client, world["sue"]).get(reverse("review_csv") + "?vendor=agora")
    assert response["Content-Type"].startswith("text/csv")
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(body)))
    assert rows[0][:3] == ["ID", "Room", "Room ID"]
    assert len(rows) == 2
    assert rows[1][0] == str(classes["fine_yesterday"].pk)
    assert rows[1][11] == "3000"  # 50 minutes
    assert rows[1][14] == "'=HYPERLINK(1)"  # a formula stays text
    assert rows[1][15].endswith(reverse("recording_detail", args=[classes["fine_yesterday"].pk]))


# ---------------------------------------------------------------- start


def test_start_offers_a_teacher_only_their_rooms_and_shows_the_vendor(client, world):
    html = as_user(client, world["tina"]).get(reverse("recording_start")).content.decode()
    assert "Algebra 1" in html
    assert "Physics 2" not in html
    assert "Vendor: Tencent TIW" in html
    assert str(world["agora"]) not in html


def test_start_options_follow_the_vendor_and_the_mode(client, world):
    as_user(client, world["admin"])
    base = reverse("recording_start_options")
    tiw = client.get(base + f"?app={world['tiw'].pk}&mode=individual", headers=HTMX).content.decode()
    assert "<html" not in tiw and tiw.strip().startswith('<div id="start-options"')
    assert (
        'name="opt_concat"' in tiw
        and 'name="opt_auto_stop_timeout"' in tiw
        and 'name="opt_record_only_streams"' in tiw
    )
    assert '<option value="web_page"' not in tiw
    web = client.get(base + f"?app={world['agora'].pk}&mode=web_page", headers=HTMX).content.decode()
    assert "Physics 2" in web and "Algebra 1" not in web
    assert 'name="opt_url"' in web and 'name="opt_maxRecordingHour"' in web and 'name="opt_videoWidth"' in web
    assert '<option value="web_page" selected' in web
    mixed = client.get(base + f"?app={world['agora'].pk}&mode=mixed", headers=HTMX).content.decode()
    assert (
        'name="opt_mixedVideoLayout"' in mixed
        and 'name="opt_avFileType"' in mixed
        and 'name="opt_url"' not in mixed
    )
    # A mode the new vendor lacks falls back to its first one.
    switched = client.get(base + f"?app={world['tiw'].pk}&mode=web_page", headers=HTMX).content.decode()
    assert '<option value="individual" selected' in switched
    # Without htmx, the same address is the whole page.
    assert "<html" in client.get(base + f"?app={world['tiw'].pk}").content.decode()


def test_start_creates_the_recording_through_the_lifecycle(client, world):
    as_user(client, world["tina"])
    response = client.post(
        reverse("recording_start"),
        {
            "app": world["tiw"].pk,
            "room": world["algebra"].pk,
            "mode": "individual",
            "opt_concat": "on",
            "opt_auto_stop_timeout": "600",
            "opt_whiteboard_width": "1280",
            "opt_whiteboard_height": "960",
        },
    )
    task = RecordingTask.objects.get(room=world["algebra"])
    assert response.status_code == 302 and response["Location"] == reverse("recording_detail", args=[task.pk])
    assert task.requested_by == world["tina"] and task.desired_state == "recording"
    assert task.options["concat"] is True and task.options["auto_stop_timeout"] == 600
    assert VendorCommand.objects.filter(task=task, action="start").exists()


def test_start_validates_on_the_server_and_shows_errors_in_place(client, world):
    as_user(client, world["otto"])
    response = client.post(
        reverse("recording_start"),
        {
            "app": world["agora"].pk,
            "room": world["physics"].pk,
            "mode": "web_page",
            "opt_url": "",
            "opt_videoWidth": "3840",
            "opt_videoHeight": "2160",
        },
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "Please correct the fields marked below." in html
    assert re.search(r'id="id_opt_url_errors" role="alert"><li>This field is required', html)
    assert not RecordingTask.objects.exists()
    response = client.post(
        reverse("recording_start"),
        {
            "app": world["agora"].pk,
            "room": world["physics"].pk,
            "mode": "web_page",
            "opt_url": "https://class.example.com/board",
            "opt_videoWidth": "1920",
            "opt_videoHeight": "1920",
            "opt_maxRecordingHour": "2",
            "opt_maxVideoDuration": "120",
            "opt_audioProfile": "0",
            "opt_avFileType": ["hls"],
        },
    )
    html = response.content.decode()
    assert re.search(r'id="id_opt_videoWidth_errors" role="alert"><li>width × height must not exceed', html)
    assert not RecordingTask.objects.exists()


def test_start_refusal_by_the_lifecycle_is_shown(client, world):
    factories.task(world["algebra"], observed_state="recording", requested_by=world["otto"])
    as_user(client, world["tina"])
    html = client.post(
        reverse("recording_start"),
        {
            "app": world["tiw"].pk,
            "room": world["algebra"].pk,
            "mode": "individual",
            "opt_auto_stop_timeout": "300",
            "opt_whiteboard_width": "1280",
            "opt_whiteboard_height": "960",
        },
    ).content.decode()
    assert "already being recorded" in html
    assert RecordingTask.objects.count() == 1


def test_a_teacher_cannot_start_in_a_room_not_theirs(client, world):
    response = as_user(client, world["tina"]).post(
        reverse("recording_start"),
        {"app": world["agora"].pk, "room": world["physics"].pk, "mode": "individual"},
    )
    assert response.status_code == 403
    assert as_user(client, world["sue"]).get(reverse("recording_start")).status_code == 403


# ---------------------------------------------------------------- the class page


def test_the_class_page_shows_state_buttons_timeline_player_and_log(client, world):
    task = factories.task(
        world["algebra"], started_at=ago(minutes=5), vendor_state="RECORDING", requested_by=world["tina"]
    )
    AuditEvent.objects.create(
        actor_type="user", actor=world["tina"], action="start", task=task, after={"desired": "recording"}
    )
    VendorCall.objects.create(
        app=world["tiw"],
        task=task,
        action="StartOnlineRecord",
        http_status=200,
        latency_ms=183,
        request_id="req-1",
    )
    CallbackDelivery.objects.create(
        vendor="tencent_tiw",
        app=world["tiw"],
        task=task,
        raw_body=b"{}",
        signature_ok=True,
        event_type="OnlineRecordStarted",
        outcome="applied",
    )
    html = as_user(client, world["tina"]).get(reverse("recording_detail", args=[task.pk])).content.decode()
    assert 'id="status"' in html and 'hx-trigger="every 5s"' in html
    assert "vendor says RECORDING" in html
    assert re.search(r'<button type="submit" class="btn"\s*>\s*Pause', html)
    assert 'data-confirm="Stop the recording of Algebra 1?' in html
    assert 'id="timeline"' in html and 'id="player"' in html
    log = html[html.index('id="log"') :]
    assert "StartOnlineRecord" in log and "183 ms" in log and "req-1" in log and "HTTP 200" in log
    assert "OnlineRecordStarted" in log and "signature valid" in log
    assert "tina" in log and "desired=recording" in log


def test_an_absent_action_says_why(client, world):
    task = factories.task(world["physics"], mode="individual")
    html = as_user(client, world["otto"]).get(reverse("recording_detail", args=[task.pk])).content.decode()
    pause = re.search(r'<button[^>]*disabled aria-describedby="why-pause"[^>]*>\s*Pause', html)
    assert pause
    assert "Agora cannot pause or resume this kind of recording." in html


def test_support_follows_a_class_without_buttons(client, world):
    task = factories.task(world["algebra"])
    html = as_user(client, world["sue"]).get(reverse("recording_detail", args=[task.pk])).content.decode()
    assert "can follow this class but not operate it" in html
    assert "recording_act" not in html and "/pause/" not in html


def test_status_fragment_is_the_block_and_the_log_out_of_band(client, world):
    task = factories.task(world["algebra"], desired_state="paused", desired_by=world["tina"])
    response = as_user(client, world["tina"]).get(reverse("recording_status", args=[task.pk]), headers=HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert html.strip().startswith('<section id="status"')
    assert 'hx-trigger="every 2s"' in html  # desired differs from observed: poll faster
    assert "Pausing…" in html and "asked for: Paused, by tina" in html
    assert '<section id="log" class="card" aria-labelledby="log-title" hx-swap-oob="true">' in html


def test_status_polling_stops_once_the_class_has_ended(client, world):
    task = factories.task(world["algebra"], observed_state="finished", desired_state="stopped")
    response = as_user(client, world["tina"]).get(reverse("recording_status", args=[task.pk]), headers=HTMX)
    assert response.status_code == 286
    status = response.content.decode().split('id="log"')[0]
    assert "hx-trigger" not in status and ">Finished<" in status


def test_a_failure_is_explained_with_the_fix_and_the_raw_code(client, world):
    task = factories.task(
        world["algebra"],
        observed_state="failed",
        desired_state="stopped",
        finish_reason="start_failed",
        error_code="AuthFailure.SignatureFailure",
        error_message="The provided credentials could not be validated.",
    )
    VendorCall.objects.create(
        app=world["tiw"],
        task=task,
        action="StartOnlineRecord",
        http_status=200,
        error_kind="auth",
        vendor_code="AuthFailure.SignatureFailure",
        request_id="8d1c",
    )
    html = as_user(client, world["sue"]).get(reverse("recording_detail", args=[task.pk])).content.decode()
    explain = html[html.index('class="explain"') :]
    assert "The vendor refused the app&#x27;s credentials." in explain
    assert "The recording never started" in explain
    assert "What to do:" in explain and "sets the app&#x27;s credentials again" in explain
    assert "<code>AuthFailure.SignatureFailure</code>" in explain and "8d1c" in explain
    assert "The provided credentials could not be validated." in explain


def test_the_player_opens_at_a_linked_moment(client, world):
    start = timezone.now().replace(hour=2, minute=0, second=0, microsecond=0) - timedelta(
        days=1
    )  # 10:00 Shanghai
    task = factories.task(
        world["algebra"], observed_state="finished", started_at=start, stopped_at=start + timedelta(hours=1)
    )
    as_user(client, world["sue"])
    url = reverse("recording_detail", args=[task.pk])
    assert 'data-start="90.5"' in client.get(url + "?t=90.5").content.decode()
    assert 'data-start="300.0"' in client.get(url + "?at=10:05").content.decode()
    missed = client.get(url + "?at=15:00").content.decode()
    assert "data-start" not in missed and "That time is not within this recording." in missed


def test_the_open_the_player_button_shows_only_when_there_is_a_file_to_play(client, world):
    empty = factories.task(world["algebra"], observed_state="finished", started_at=ago(minutes=30))
    with_file = factories.task(world["algebra"], observed_state="finished", started_at=ago(minutes=30))
    Segment.objects.create(
        task=with_file,
        kind="camera",
        user_id="u1",
        offset_ms=0,
        duration_ms=60_000,
        vendor_url="https://media.example/a.mp4",
        vendor_file_id="a",
    )
    as_user(client, world["tina"])
    nothing = client.get(reverse("recording_detail", args=[empty.pk])).content.decode()
    assert "This recording has no file." in nothing
    assert "data-open-player" not in nothing and "Open the player" not in nothing
    playable = client.get(reverse("recording_detail", args=[with_file.pk])).content.decode()
    assert "data-open-player" in playable and "Open the player" in playable


# ---------------------------------------------------------------- acting


def test_pause_goes_through_the_lifecycle_and_answers_with_the_status(client, world):
    task = factories.task(world["algebra"], started_at=ago(minutes=2))
    as_user(client, world["tina"])
    response = client.post(reverse("recording_act", args=[task.pk, "pause"]), headers=HTMX)
    html = response.content.decode()
    task.refresh_from_db()
    assert task.desired_state == "paused" and task.desired_by == world["tina"]
    assert "Pausing…" in html and 'hx-swap-oob="true"' in html
    assert AuditEvent.objects.filter(task=task, action="pause", actor=world["tina"]).exists()
    again = client.post(reverse("recording_act", args=[task.pk, "pause"]), headers=HTMX).content.decode()
    assert 'role="alert">Already pausing, by Tina.' in again
    assert VendorCommand.objects.filter(task=task, action="pause").count() == 1


def test_acting_without_htmx_redirects_with_a_message(client, world):
    task = factories.task(
        world["algebra"], started_at=ago(minutes=2), observed_state="finished", desired_state="stopped"
    )
    as_user(client, world["tina"])
    response = client.post(reverse("recording_act", args=[task.pk, "stop"]), follow=True)
    assert response.redirect_chain[-1][0] == reverse("recording_detail", args=[task.pk])
    assert "The recording has ended." in response.content.decode()


def test_a_teacher_cannot_act_on_another_room_and_support_cannot_act(client, world):
    task = factories.task(world["physics"])
    task_tina_can_see = factories.task(world["physics"], requested_by=world["tina"], observed_state="paused")
    assert (
        as_user(client, world["tina"]).post(reverse("recording_act", args=[task.pk, "stop"])).status_code
        == 404
    )
    assert client.post(reverse("recording_act", args=[task_tina_can_see.pk, "stop"])).status_code == 403
    assert (
        as_user(client, world["sue"]).post(reverse("recording_act", args=[task.pk, "stop"])).status_code
        == 403
    )
    assert (
        as_user(client, world["admin"]).post(reverse("recording_act", args=[task.pk, "dance"])).status_code
        == 404
    )
    assert not VendorCommand.objects.exists()


def test_the_layout_and_whiteboard_change_while_recording_where_the_vendor_can(client, world):
    task = factories.task(world["chemistry"], mode="mixed", started_at=ago(minutes=3))
    as_user(client, world["tina"])
    page = client.get(reverse("recording_detail", args=[task.pk])).content.decode()
    assert 'name="layout"' in page and 'name="whiteboard_id"' in page
    bad = client.post(
        reverse("recording_act", args=[task.pk, "layout"]), {"layout": "[1, 2"}, headers=HTMX
    ).content.decode()
    assert bad.strip().startswith('<section id="live-controls"') and "Enter a valid JSON." in bad
    ignored = client.post(
        reverse("recording_act", args=[task.pk, "layout"]), {"layout": '{"mode": "grid"}'}, headers=HTMX
    ).content.decode()
    assert "The vendor would ignore all of these keys; use MixMode, MixInputList" in ignored
    ok = client.post(
        reverse("recording_act", args=[task.pk, "layout"]), {"layout": '{"MixMode": 3}'}, headers=HTMX
    ).content.decode()
    assert "Layout change sent to the vendor." in ok
    client.post(
        reverse("recording_act", args=[task.pk, "whiteboard"]), {"whiteboard_id": "wb-42"}, headers=HTMX
    )
    commands = {c.action: c.payload for c in VendorCommand.objects.filter(task=task)}
    assert commands == {
        "update_layout": {"layout": {"MixMode": 3}},
        "update_whiteboard": {"whiteboard": {"WhiteboardId": "wb-42"}},
    }


def test_the_layout_form_is_absent_where_the_vendor_cannot_and_says_why(client, world):
    task = factories.task(world["algebra"], started_at=ago(minutes=3))
    html = as_user(client, world["tina"]).get(reverse("recording_detail", args=[task.pk])).content.decode()
    assert 'name="layout"' not in html
    assert "Not supported by Tencent TIW (API 3.0) in this mode." in html
