"""The support flow of the done-when: from the review list, find yesterday's failed class and read why it
failed; open a finished class and watch the teacher's camera, screen share and whiteboard play
together from any moment; in English and in Chinese."""

from __future__ import annotations

import zoneinfo
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from recordings import lifecycle
from recordings.models import RecordingTask, Segment, VendorCall
from recordings.vendors.registry import build_adapter
from tests import factories
from tests.browser.conftest import sign_in
from tests.browser.player_support import assert_stays_in_sync, in_language, wait_in_sync
from tests.stack_support import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.integration]

SCENARIO = [
    {"user_id": "ms_lin", "kind": "camera", "intervals": [[0, None]]},
    {"user_id": "ms_lin", "kind": "screen", "intervals": [[5_000, None]]},
    {"kind": "whiteboard", "intervals": [[0, None]]},
]
THREE_LANES = {"ms_lin/camera", "ms_lin/screen", "/whiteboard"}


def record_a_class(stack, teacher, room, app) -> RecordingTask:
    """A real 90-second recording through the worker and the sandbox, with real media files."""
    options = build_adapter(app).clean_options("individual", {})
    task = lifecycle.start(app=app, room=room, mode="individual", options=options, user=teacher)
    stack.record(task, 90)
    task = stack.stop_and_finish(task, teacher)
    wait_for(lambda: Segment.objects.filter(task=task).count() >= 3, what="the three files")
    return task


def seed_failed_class(app, room, teacher, when) -> RecordingTask:
    """A class whose start the vendor refused for the app's credentials, as the worker leaves it."""
    task = factories.task(
        room,
        observed_state="failed",
        desired_state="stopped",
        finish_reason="start_failed",
        error_code="AuthFailure.SignatureFailure",
        error_message="The provided credentials could not be validated.",
        requested_by=teacher,
    )
    VendorCall.objects.create(
        app=app,
        task=task,
        action="StartOnlineRecord",
        http_status=200,
        vendor_code="AuthFailure.SignatureFailure",
        vendor_message="The provided credentials could not be validated.",
        error_kind="auth",
        request_id="req-yesterday-1",
        created_at=when,
    )
    RecordingTask.objects.filter(pk=task.pk).update(created_at=when, state_changed_at=when, finished_at=when)
    return task


# A browser set to Chinese asks for zh-CN; RecDesk answers in Simplified Chinese without being told.
@pytest.mark.parametrize(("language", "browser_locale"), [("en", "en-US"), ("zh-hans", "zh-CN")])
def test_support_finds_a_failure_and_replays_a_class(
    stack, live_server, page, shots, language, browser_locale
):
    t = lambda text: in_language(language, text)  # noqa: E731 - a short alias reads better in asserts
    teacher = factories.user(f"ms_lin_{language}", "Teacher")
    support = factories.user(f"support_{language}", "Support")
    app, room = stack.app("tencent_tiw", teacher=teacher, scenario=SCENARIO)
    room.title = "Physics 9B"
    room.save(update_fields=["title"])
    other_room = factories.room(app, teacher, title="Chemistry 7A")

    yesterday = timezone.now() - timedelta(days=1)
    failed = seed_failed_class(app, room, teacher, yesterday)
    seed_failed_class(app, other_room, teacher, timezone.now())  # today's: the date filter leaves it out
    finished = record_a_class(stack, teacher, room, app)

    sign_in(page, live_server.url, support.username, "pw-" + support.username, t)
    assert page.locator("html").get_attribute("lang") == language

    # Review list: failed ones, from yesterday.
    page.locator("nav.mainnav a[href='/classes/']").click()
    page.get_by_label(t("State"), exact=True).select_option("failed")
    # "Yesterday" is the support person's: the dates of the list are in their time zone.
    their_zone = zoneinfo.ZoneInfo(settings.RECDESK_DEFAULT_USER_TIMEZONE)
    local_yesterday = timezone.localdate(yesterday, their_zone).isoformat()
    page.get_by_label(t("From"), exact=True).fill(local_yesterday)
    page.get_by_label(t("To"), exact=True).fill(local_yesterday)
    page.get_by_role("button", name=t("Apply")).click()
    rows = page.locator("#results tbody tr")
    page.wait_for_function("() => document.querySelectorAll('#results tbody tr').length === 1")
    assert "Physics 9B" in rows.first.inner_text()
    assert "state=failed" in page.url
    shots.take(page, "review failed yesterday")

    # Its page says why, in plain words, with what to do, and keeps the raw code for the vendor.
    rows.first.get_by_role("link", name="Physics 9B").click()
    page.wait_for_url(f"**/classes/{failed.pk}/")
    why = page.locator("#status .explain")
    assert t("The vendor refused the app's credentials.") in why.inner_text()
    assert t("An admin sets the app's credentials again on the app's page.") in why.inner_text()
    assert "AuthFailure.SignatureFailure" in why.inner_text()
    assert page.locator("#status .badge.state-failed").inner_text().strip() == t("Failed")
    shots.take(page, "why it failed")

    # The finished class, from the list, then its player at a moment.
    page.get_by_role("link", name=t("All classes")).click()
    page.get_by_label(t("State"), exact=True).select_option("finished")
    page.wait_for_function("() => document.querySelectorAll('#results tbody tr').length === 1")
    page.locator("#results tbody tr").first.get_by_role("link", name="Physics 9B").click()
    page.wait_for_url(f"**/classes/{finished.pk}/")
    assert sorted(
        page.locator("#timeline .lane").evaluate_all("rows => rows.map(r => r.dataset.lane)")
    ) == sorted(THREE_LANES)
    page.goto(page.url + "?t=40#player")
    player = page.locator("#player")
    player.wait_for()
    assert abs(page.evaluate("() => window.recdeskPlayer.time()") - 40_000) < 1
    shots.take(page, "player at 40 s")

    # Keyboard only: the Play button, by Enter.
    play = player.get_by_role("button", name=t("Play"))
    play.focus()
    page.keyboard.press("Enter")
    wait_in_sync(page, 3)
    assert_stays_in_sync(page, 3)
    shots.take(page, "playing together")

    # A seek with the keyboard on the labelled position slider, then the three agree again.
    seek = page.get_by_label(t("Position"), exact=True)
    before = page.evaluate("() => window.recdeskPlayer.time()")
    seek.focus()
    for _ in range(2):
        page.keyboard.press("PageDown")  # backwards, in steps the browser sizes
    after = page.evaluate("() => window.recdeskPlayer.time()")
    assert after < before - 1_000, (before, after)
    wait_in_sync(page, 3)
    assert_stays_in_sync(page, 3)
    shots.take(page, "after keyboard seek")

    # And by the time axis, to the middle of the class.
    axis = page.locator("#timeline .tl-axis .tl-track")
    box = axis.bounding_box()
    axis.click(position={"x": box["width"] * 0.5, "y": box["height"] / 2})
    wait_in_sync(page, 3)
    assert_stays_in_sync(page, 3)
    shots.take(page, "after axis seek")
