"""A teacher records a class from the browser: start, pause, resume, stop on Tencent TIW (the sandbox),
then reads the timeline and plays it; once in English and once in Chinese."""

from __future__ import annotations

import re

import pytest

from recordings.models import RecordingTask, VendorCommand
from tests import factories
from tests.browser.conftest import sign_in
from tests.browser.player_support import assert_stays_in_sync, in_language, wait_in_sync
from tests.stack_support import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.integration]

# Who is in the room (sandbox scenario): the teacher's camera and screen share, the whiteboard, and
# a student who joins 30 s in.
SCENARIO = [
    {"user_id": "alice", "kind": "camera", "intervals": [[0, None]]},
    {"user_id": "alice", "kind": "screen", "intervals": [[0, None]]},
    {"kind": "whiteboard", "intervals": [[0, None]]},
    {"user_id": "bob", "kind": "camera", "intervals": [[30_000, None]]},
]
EXPECTED_LANES = ["/whiteboard", "alice/camera", "alice/screen", "bob/camera"]


def choose_language(page, language: str) -> None:
    """The language selector in the top bar, as a person uses it."""
    with page.expect_navigation():
        page.locator("#language-select").select_option(language)
    assert page.locator("html").get_attribute("lang") == language


def command_sent(task_pk: int, action: str) -> None:
    wait_for(
        lambda: VendorCommand.objects.filter(task_id=task_pk, action=action, status="done").exists(),
        timeout=30,
        what=f"the {action} command to reach the vendor",
    )


def badge(page, state: str):
    """The state badge; its words (not only its colour) say the state."""
    return page.locator(f"#status .badge.state-{state}")


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_teacher_records_pauses_resumes_stops_and_plays(stack, live_server, page, shots, language):
    teacher = factories.user(f"teacher-{language}", "Teacher", first_name="Alice")
    app, room = stack.app("tencent_tiw", teacher=teacher, scenario=SCENARIO)
    t = lambda text: in_language(language, text)  # noqa: E731 - a short alias reads better in asserts

    sign_in(page, live_server.url, teacher.username, "pw-" + teacher.username)
    if language != "en":
        choose_language(page, language)
    shots.take(page, "home")

    # Start: the top bar's link, the form, the teacher's room.
    page.locator("nav.mainnav a[href='/classes/new/']").click()
    page.get_by_label(t("Room")).select_option(str(room.pk))
    page.get_by_label(t("What to record")).select_option("individual")
    # The options were redrawn for the chosen mode; an optional JSON box stays empty through redraws.
    assert page.locator("#id_opt_whiteboard_init_param").input_value() == ""
    shots.take(page, "start form")
    page.locator("form.stacked button[type=submit].btn-primary").click()
    page.wait_for_url(re.compile(r"/classes/\d+/$"))
    task_pk = int(re.search(r"/classes/(\d+)/$", page.url)[1])
    assert RecordingTask.objects.get(pk=task_pk).room_id == room.pk

    stack.wait_vendor_id(task_pk)
    stack.advance(6)
    badge(page, "recording").wait_for()
    assert badge(page, "recording").inner_text().strip() == t("Recording")
    shots.take(page, "recording")

    # Pause. The button says so in the page's language.
    stack.advance(60)
    pause_button = page.locator("#status .act-pause button")
    assert pause_button.inner_text().strip() == t("Pause")
    pause_button.click()
    page.locator("#status .badge", has_text=t("Pausing…")).or_(badge(page, "paused")).wait_for()
    command_sent(task_pk, "pause")
    stack.advance(6)
    badge(page, "paused").wait_for()
    assert page.locator("#status .act-pause button").is_disabled()
    shots.take(page, "paused")

    # Resume.
    stack.advance(30)
    resume_button = page.locator("#status .act-resume button")
    assert resume_button.inner_text().strip() == t("Resume")
    resume_button.click()
    command_sent(task_pk, "resume")
    stack.advance(6)
    badge(page, "recording").wait_for()
    shots.take(page, "resumed")

    # Stop: it asks first, because a stopped recording cannot be resumed.
    stack.advance(60)
    dialogs = []
    page.once("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.accept()))
    stop_button = page.locator("#status .act-stop button")
    assert stop_button.inner_text().strip() == t("Stop")
    stop_button.click()
    command_sent(task_pk, "stop")
    assert dialogs and room.title in dialogs[0]
    for _ in range(30):  # the vendor processes its files; its callbacks carry the news
        stack.advance(10)
        if RecordingTask.objects.get(pk=task_pk).observed_state == "finished":
            break
    stack.wait_state(task_pk, "finished", timeout=60)
    badge(page, "finished").wait_for(timeout=30_000)
    assert badge(page, "finished").inner_text().strip() == t("Finished")
    # The rest of the page follows without a reload: when it was recorded, and no live controls.
    page.locator("#live-controls").wait_for(state="detached")
    assert t("not started yet") not in page.locator("#facts").inner_text()

    # The timeline grows into its final shape without a reload: the expected lanes and one pause band.
    lanes = page.locator("#timeline .lane")
    page.wait_for_function(
        "(n) => document.querySelectorAll('#timeline .lane').length === n && !document.querySelector('#timeline[hx-get]')",
        arg=len(EXPECTED_LANES),
        timeout=40_000,
    )
    assert sorted(lanes.evaluate_all("rows => rows.map(r => r.dataset.lane)")) == EXPECTED_LANES
    assert page.locator("#timeline .tl-label", has_text=t("Screen share")).count() == 1
    bands = page.locator("#timeline .tl-bands span")
    assert bands.count() == 1
    task = RecordingTask.objects.get(pk=task_pk)
    [(pause_start, pause_end)] = task.pause_intervals
    total = int(page.locator("#timeline").get_attribute("data-duration"))
    left = float(re.search(r"left:([\d.]+)%", bands.first.get_attribute("style"))[1])
    assert abs(left - 100 * pause_start / total) < 0.5
    # The pause is also said in words, not only drawn in colour.
    assert page.locator("#timeline .tl-pauses", has_text=t("Paused")).count() == 1
    page.locator("#timeline").scroll_into_view_if_needed()
    shots.take(page, "timeline")

    # Clicking the teacher's camera segment plays the video from there.
    camera = page.locator("#timeline .lane[data-lane='alice/camera'] .tl-track i").first
    box = camera.bounding_box()
    camera.click(position={"x": box["width"] * 0.25, "y": box["height"] / 2})
    page.locator("#player").wait_for()
    rows = wait_in_sync(page, 3)
    start = {row["lane"]: row["currentTime"] for row in rows}
    page.wait_for_function(
        "(args) => window.recdeskPlayer.positions().some(r => r.lane === args[0] && r.currentTime > args[1] + 1)",
        arg=["alice/camera", start["alice/camera"]],
    )
    shots.take(page, "playing")

    # A seek (a click on the time axis) keeps the lanes together: to the middle of the stretch after
    # the resume that every lane covers. (Read from the page: under the sandbox's manual clock the
    # pause RecDesk measured with its own clock is shorter than the sandbox's, and so is the axis.)
    after_resume = page.evaluate(
        """() => [...document.querySelectorAll('#timeline .lane')].map(row => {
             const last = [...row.querySelectorAll('i[data-o]')].pop();
             return [Number(last.dataset.o), Number(last.dataset.o) + Number(last.dataset.d)];
           })"""
    )
    begin, end = max(b for b, _e in after_resume), min(e for _b, e in after_resume)
    assert end - begin > 10_000, after_resume
    target = (begin + end) / 2
    axis = page.locator("#timeline .tl-axis .tl-track")
    box = axis.bounding_box()
    axis.click(position={"x": box["width"] * target / total, "y": box["height"] / 2})
    seeked_to = page.evaluate("() => window.recdeskPlayer.time()")
    assert abs(seeked_to - target) < total * 0.01
    rows = wait_in_sync(page, 4)
    assert {row["lane"] for row in rows} == set(EXPECTED_LANES)
    assert_stays_in_sync(page, 4)
    shots.take(page, "after seek")
