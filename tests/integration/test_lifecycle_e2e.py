"""A recording on each vendor, driven the way staff drive it, through the real worker and sandbox."""

from __future__ import annotations

import httpx
import pytest

from recordings import lifecycle
from recordings.models import AuditEvent, CallbackDelivery, Segment, VendorCall
from recordings.vendors.registry import build_adapter
from tests import factories
from tests.stack_support import wait_for

pytestmark = pytest.mark.integration

# vendor, mode, pausable
VENDOR_RUNS = [
    ("tencent_tiw", "individual", True),
    ("tencent_tic", "individual", True),
    ("agora", "web_page", True),
    ("agora", "individual", False),
    ("zego", "mixed", True),
    ("volcengine", "individual", False),
    ("volcengine", "whiteboard", False),
]

OPTIONS = {
    ("agora", "web_page"): {"url": "https://example.com/class", "maxRecordingHour": 2},
}


@pytest.mark.parametrize(
    ("vendor", "mode", "pausable"), VENDOR_RUNS, ids=[f"{v}-{m}" for v, m, _ in VENDOR_RUNS]
)
def test_a_recording_runs_from_start_to_finished_files(stack, vendor, mode, pausable):
    teacher = factories.user("teacher-" + vendor + mode, "Teacher")
    app, room = stack.app(vendor, teacher=teacher)
    options = build_adapter(app).clean_options(mode, OPTIONS.get((vendor, mode), {}))
    task = lifecycle.start(app=app, room=room, mode=mode, options=options, user=teacher)
    assert task.observed_state == "starting"

    task = stack.record(task, 120)  # the vendors take effect ~2 s (Tencent) to ~5 s (Agora web) after asked

    if pausable:
        lifecycle.request(task, "pause", user=teacher)
        stack.command_done(task, "pause")
        stack.advance(6)
        stack.wait_state(task.pk, "paused")
        stack.advance(60)
        lifecycle.request(stack.task(task.pk), "resume", user=teacher)
        stack.command_done(task, "resume")
        stack.advance(6)
        stack.wait_state(task.pk, "recording")
        stack.advance(120)

    task = stack.stop_and_finish(task, teacher)  # callbacks and polls carry the vendor's news
    wait_for(lambda: Segment.objects.filter(task=task).exists(), timeout=30, what="segments")

    truth = stack.truth(task)
    assert truth["state"] == "finished"
    segments = list(Segment.objects.filter(task=task))
    # Agora individual records HLS only; where a vendor writes MP4 and HLS of the same time, we keep the MP4.
    playable = [s for s in truth["segments"] if s.get("format", "mp4") == "mp4"] or truth["segments"]
    assert len(segments) >= len(playable) > 0
    first = segments[0]
    assert first.vendor_url
    response = httpx.get(first.vendor_url, headers={"Range": "bytes=0-99"})
    assert response.status_code == 206 and len(response.content) == 100

    # Every accepted action left one audit row, and every vendor call was recorded.
    actions = list(
        AuditEvent.objects.filter(task=task, actor_type="user")
        .order_by("created_at")
        .values_list("action", flat=True)
    )
    assert actions == (["start", "pause", "resume", "stop"] if pausable else ["start", "stop"])
    assert VendorCall.objects.filter(task=task, action__isnull=False).count() >= len(actions)
    assert CallbackDelivery.objects.filter(app=app, signature_ok=False).count() == 0
