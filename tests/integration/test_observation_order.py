"""What the vendor tells us arrives out of order: a poll's answer is applied after a callback (or
another poll's answer) that is newer than it, and a callback is delivered after a newer one. None
of them may move a recording back along recording <-> paused, nor make it enter a state twice
(bench/callbacks.py's "double-applied").

Each test plays one interleaving against the real sandbox over HTTP and the real webhook receiver,
calling the lifecycle functions the Celery tasks call, in the order the race produced in the
benchmark (a poll's query is made, and its answer applied, in two steps, as reconcile_task does).
"""

from __future__ import annotations

import itertools
import time

import pytest
from django.test import Client
from django.utils import timezone

from recordings import lifecycle
from recordings.models import AuditEvent, CallbackDelivery, RecordingTask, StorageTarget, VendorCommand
from recordings.vendors.registry import build_adapter
from tests import factories
from tests.stack_support import SECRET_NAMES

pytestmark = pytest.mark.integration

_ids = itertools.count(1)
MODES = {"tencent_tiw": "individual", "zego": "mixed"}


class Recording:
    """One recording on a sandbox vendor whose callbacks wait in the sink until delivered."""

    def __init__(self, sandbox, sink, vendor: str, settings) -> None:
        # ZEGO is told the callback URL with each start: the sink's address stands for ours.
        settings.RECDESK_PUBLIC_URL = sink.url.removesuffix("/hooks/sandbox")
        self.sandbox, self.sink, self.client = sandbox, sink, Client()
        n = next(_ids)
        teacher = factories.user(f"order-teacher-{vendor}-{n}", "Teacher")
        secrets = {name: f"{name}-{n}-secret" for name in SECRET_NAMES[vendor]}
        storage = None
        if vendor == "zego":  # ZEGO uploads only to the customer's storage: the sandbox's bucket
            storage = StorageTarget.objects.create(
                name=f"sandbox bucket {n}",
                provider="s3_compatible",
                bucket="recordings",
                region="us-east-1",
                endpoint=sandbox.control_url("/media"),
                access_key="sandbox",
                secret="sandbox",
            )
        self.app = factories.app(
            vendor, base_url=sandbox.base_url(vendor), secrets=secrets, default_storage=storage
        )
        sandbox.provision(vendor, self.app.app_id, secrets, sink.url)
        room = factories.room(self.app, teacher, room_id=str(7000 + n))
        sandbox.room(vendor, self.app.app_id, room.room_id, "classroom")
        self.teacher = teacher
        task = lifecycle.start(app=self.app, room=room, mode=MODES[vendor], options={}, user=teacher)
        self.pk = task.pk
        self.run_commands()
        sandbox.advance(6_000)
        self.deliver(self.arrived())
        self.poll_now()
        assert self.task().observed_state == "recording"

    def task(self) -> RecordingTask:
        return RecordingTask.objects.select_related("app", "room").get(pk=self.pk)

    def run_commands(self) -> None:
        for pk in VendorCommand.objects.filter(task_id=self.pk, status="pending").values_list(
            "pk", flat=True
        ):
            lifecycle.execute_command(pk)

    def ask(self, action: str) -> None:
        lifecycle.request(self.task(), action, user=self.teacher)
        self.run_commands()

    def query(self) -> lifecycle.Observation:
        """The first half of a poll: the vendor's answer, stamped with its Date, not yet applied."""
        task = self.task()
        adapter = build_adapter(task.app, task=task)
        asked_at = timezone.now()
        status = adapter.query(lifecycle._ref(task))
        return lifecycle.Observation.from_status(status, at=adapter.http.last_server_time, asked_at=asked_at)

    def apply(self, answer: lifecycle.Observation) -> str:
        """The second half of a poll."""
        return lifecycle.apply_observation(self.pk, answer, lifecycle.RECONCILER)

    def poll_now(self) -> str:
        return self.apply(self.query())

    def arrived(self, expected: int = 0) -> list[dict]:
        """The callbacks the sandbox sent (it sends from its own thread: wait for `expected`)."""
        deadline = time.monotonic() + 10
        while len(self.sink.received) < expected and time.monotonic() < deadline:
            time.sleep(0.05)
        arrived = list(self.sink.received)
        self.sink.received.clear()
        return arrived

    def deliver(self, callbacks: list[dict]) -> list[str]:
        outcomes = []
        for callback in callbacks:
            query = callback["path"].partition("?")[2]
            response = self.client.post(
                self.app.callback_path + (f"?{query}" if query else ""),
                data=callback["body"],
                content_type="application/json",
            )
            assert response.status_code == 200, response.content
            for pk in CallbackDelivery.objects.filter(app=self.app, outcome="pending").values_list(
                "pk", flat=True
            ):
                outcomes.append(lifecycle.apply_delivery(pk))
        return outcomes

    def entered(self) -> list[str]:
        return [
            after["observed"]
            for after in AuditEvent.objects.filter(task_id=self.pk, action="observed")
            .order_by("pk")
            .values_list("after", flat=True)
        ]


@pytest.mark.django_db
def test_a_poll_answered_before_the_pause_callback_does_not_undo_the_pause(
    sandbox_fresh, callback_sink, settings
):
    rec = Recording(sandbox_fresh, callback_sink, "zego", settings)
    sandbox_fresh.advance(3_000)
    answered_before_pause = rec.query()  # "recording", with the vendor's Date
    assert answered_before_pause.state == "recording"
    sandbox_fresh.advance(2_000)
    rec.ask("pause")
    sandbox_fresh.advance(1_000)
    assert rec.deliver(rec.arrived(1)) == ["applied"]  # ZEGO's "paused" callback
    assert rec.task().observed_state == "paused"

    # The poll's answer, older than the pause, is applied only now.
    assert rec.apply(answered_before_pause) == "stale"
    assert rec.task().observed_state == "paused"
    assert rec.entered() == ["recording", "paused"]


@pytest.mark.django_db
def test_two_poll_answers_applied_in_the_wrong_order_enter_no_state_twice(
    sandbox_fresh, callback_sink, settings
):
    rec = Recording(
        sandbox_fresh, callback_sink, "tencent_tiw", settings
    )  # its pauses are seen by polls only
    sandbox_fresh.advance(3_000)
    rec.ask("pause")
    sandbox_fresh.advance(1_000)
    earlier = rec.query()  # before the pause takes effect (Tencent's ~2 s)
    sandbox_fresh.advance(3_000)
    later = rec.query()
    assert (earlier.state, later.state) == ("recording", "paused")

    assert rec.apply(later) == "applied"
    assert rec.apply(earlier) == "stale"
    assert rec.task().observed_state == "paused"
    sandbox_fresh.advance(2_000)
    assert rec.poll_now() == "unchanged"
    assert rec.entered() == ["recording", "paused"]


@pytest.mark.django_db
def test_a_pause_callback_delivered_after_its_resume_is_stale(sandbox_fresh, callback_sink, settings):
    """ZEGO stamps a callback when it sends it (and again on each retry): a pause held back, or
    retried, arrives with a timestamp as new as the resume's. Its sequence tells it is older."""
    rec = Recording(sandbox_fresh, callback_sink, "zego", settings)
    sandbox_fresh.advance(3_000)
    rec.ask("pause")
    sandbox_fresh.advance(3_000)
    (paused,) = rec.arrived(1)
    rec.ask("resume")
    sandbox_fresh.advance(3_000)
    (resumed,) = rec.arrived(1)

    assert rec.deliver([resumed]) == ["applied"]  # recording -> recording: nothing to move
    assert rec.deliver([paused]) == ["stale"]
    assert rec.task().observed_state == "recording"
    assert rec.entered() == ["recording"]
