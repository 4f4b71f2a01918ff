"""The real stack for integration and browser tests: PostgreSQL, a Celery worker (with beat) in its own
process on the test database, the sandbox vendors over HTTP, and the live server receiving their callbacks.

A plugin of tests/conftest.py, not a conftest of one folder, so that tests/integration and tests/browser
share one worker per session instead of each starting its own."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection

from dashboard.celery import app as celery_app
from recordings.models import Credential, RecordingTask, Room, StorageTarget, VendorApp
from tests import factories

ROOT = Path(__file__).resolve().parents[1]

# Fresh secrets per app, by credential name (the adapters' credential_fields).
SECRET_NAMES = {vendor: tuple(names) for vendor, names in factories.TEST_SECRETS.items()}


def _database_url() -> str:
    db = connection.settings_dict
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return (
        f"postgres://{user}{password}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"
    )


class Worker:
    """A `celery worker --beat` subprocess consuming this test session's own queue."""

    def __init__(self, workdir: Path, env: dict[str, str], queue: str) -> None:
        self.workdir = workdir
        self.env = env
        self.queue = queue
        self.process: subprocess.Popen | None = None
        self.log_path = workdir / "worker.log"

    def start(self) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115 - lives as long as the process
        # A restarted worker appends to the log: only what this start wrote says it is ready.
        earlier = len(self.log())
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "dashboard",
                "worker",
                "--beat",
                "--loglevel",
                "INFO",
                "--pool",
                "threads",
                "--concurrency",
                "8",
                "--queues",
                self.queue,
                "--schedule",
                str(self.workdir / "beat-schedule"),
                "--without-mingle",
                "--without-gossip",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            # Its own process group: the embedded beat is a child process, which a signal to the
            # worker alone would leave running after the session (seen after CI runs).
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if "ready." in self.log()[earlier:]:
                return
            if self.process.poll() is not None:
                raise RuntimeError(f"celery worker exited:\n{self.log()[-3000:]}")
            time.sleep(0.2)
        raise RuntimeError(f"celery worker not ready in 60 s:\n{self.log()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL, as a crash would: no chance to finish or acknowledge anything."""
        self._signal_group(signal.SIGKILL)
        if self.process:
            self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                pass
        self.kill()  # whatever of the group is left, beat included

    def _signal_group(self, sig: int) -> None:
        if self.process:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@pytest.fixture(scope="session")
def celery_queue() -> str:
    queue = f"recdesk-test-{uuid.uuid4().hex[:10]}"
    celery_app.conf.task_default_queue = queue
    return queue


@pytest.fixture(scope="session")
def worker(
    django_db_setup, django_db_blocker, live_server, celery_queue, tmp_path_factory
) -> Iterator[Worker]:
    with django_db_blocker.unblock():
        database_url = _database_url()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": django_settings.CELERY_BROKER_URL,
        "CELERY_QUEUE": celery_queue,
        "RECDESK_PUBLIC_URL": live_server.url,
        "RECDESK_SWEEP_SECONDS": "1",
        "RECDESK_RECONCILE_SECONDS": "1",
        # Short enough that the fault tests (timeouts, a killed worker) finish in seconds.
        "RECDESK_VENDOR_CONNECT_TIMEOUT": "1",
        "RECDESK_VENDOR_READ_TIMEOUT": "2",
        "RECDESK_COMMAND_CLAIM_SECONDS": "8",
        "RECDESK_REDISPATCH_SECONDS": "3",
        "RECDESK_ENCRYPTION_KEYS": ",".join(django_settings.RECDESK_ENCRYPTION_KEYS),
        "SECRET_KEY": django_settings.SECRET_KEY,
        "PYTHONUNBUFFERED": "1",
    }
    process = Worker(tmp_path_factory.mktemp("worker"), env, celery_queue)
    process.start()
    try:
        yield process
    finally:
        process.stop()


def wait_for(
    predicate: Callable[[], object], timeout: float = 30.0, interval: float = 0.1, what: str = ""
) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what or predicate}")


class Stack:
    """What an integration test drives: apps on the sandbox, the clock, and waiting for state."""

    def __init__(self, sandbox, worker: Worker, live_server) -> None:
        self.sandbox = sandbox
        self.worker = worker
        self.live_server = live_server

    def app(self, vendor: str, *, room_id: str = "", scenario: object = "classroom", teacher=None, **fields):
        values = {name: secrets.token_hex(16) for name in SECRET_NAMES[vendor]}
        if vendor == "tencent_tic":
            values["tic_key"] = values["tic_key"].upper()
        if vendor in ("agora", "zego", "volcengine") and "default_storage" not in fields:
            # These vendors upload only to the customer's own storage; the sandbox plays that bucket.
            # Volcengine cannot name a self-hosted S3 endpoint (CustomConfig has none): its target is
            # an Amazon S3 bucket that RecDesk reads through the sandbox's endpoint.
            provider = "s3" if vendor == "volcengine" else "s3_compatible"
            fields["default_storage"] = StorageTarget.objects.get_or_create(
                name=f"sandbox bucket ({provider})",
                defaults={
                    "provider": provider,
                    "bucket": "recordings",
                    "region": "us-east-1",
                    "endpoint": self.sandbox.control_url("/media"),
                    "access_key": "sandbox",
                    "secret": "sandbox",
                },
            )[0]
        vendor_app = factories.app(vendor, base_url=self.sandbox.base_url(vendor), secrets=values, **fields)
        self.sandbox.provision(
            vendor, vendor_app.app_id, values, self.live_server.url + vendor_app.callback_path
        )
        room_id = room_id or (
            str(2000 + vendor_app.pk) if vendor.startswith("tencent") else f"room-{vendor_app.pk}"
        )
        room = factories.room(vendor_app, *([teacher] if teacher else []), room_id=room_id)
        self.sandbox.room(vendor, vendor_app.app_id, room_id, scenario)
        return vendor_app, room

    def task(self, pk: int) -> RecordingTask:
        return RecordingTask.objects.select_related("app", "room").get(pk=pk)

    def wait_state(self, pk: int, *states: str, timeout: float = 30.0) -> RecordingTask:
        def reached():
            task = self.task(pk)
            return task if task.observed_state in states else None

        try:
            return wait_for(reached, timeout, what=f"task {pk} to reach {states}")
        except AssertionError as exc:
            task = self.task(pk)
            raise AssertionError(
                f"{exc}; it is {task.observed_state} (desired {task.desired_state}, vendor {task.vendor_state!r}, "
                f"error {task.error_code!r} {task.error_message!r})\n{self.diagnose(pk)}"
            ) from None

    def wait_vendor_id(self, pk: int, timeout: float = 30.0) -> RecordingTask:
        try:
            return wait_for(
                lambda: (t := self.task(pk)).vendor_task_id and t, timeout, what=f"task {pk} vendor id"
            )
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.diagnose(pk)}") from None

    def diagnose(self, pk: int) -> str:
        from recordings.models import VendorCall, VendorCommand

        task = self.task(pk)
        commands = list(
            VendorCommand.objects.filter(task=task).values_list(
                "action", "status", "attempts", "error_code", "error_message"
            )
        )
        calls = list(
            VendorCall.objects.filter(task=task).values_list(
                "action", "http_status", "vendor_code", "error_kind", "vendor_message"
            )
        )
        lines = [
            line
            for line in self.worker.log().splitlines()
            if "reconcile" not in line and "sweep_outbox" not in line
        ]
        return (
            f"task: observed={task.observed_state} desired={task.desired_state} error={task.error_code} {task.error_message}\n"
            f"commands: {commands}\ncalls: {calls}\n--- worker log tail ---\n" + "\n".join(lines[-40:])
        )

    def advance(self, seconds: float) -> None:
        self.sandbox.advance(int(seconds * 1000))

    def command_done(self, task: RecordingTask, action: str) -> None:
        """Wait until the worker has sent `action` and the vendor answered it."""
        from recordings.models import VendorCommand

        wait_for(
            lambda: VendorCommand.objects.filter(task=task, action=action, status="done").exists(),
            what=f"{action} sent",
        )

    def record(self, task: RecordingTask, seconds: float) -> RecordingTask:
        """From a start just requested: wait for it to record, then let the vendor record `seconds`."""
        self.wait_vendor_id(task.pk)
        self.advance(6)
        self.wait_state(task.pk, "recording")
        self.advance(seconds)
        return self.task(task.pk)

    def stop_and_finish(self, task: RecordingTask, user) -> RecordingTask:
        """Stop as `user`, then move the vendor's clock while it processes the files until finished."""
        from recordings import lifecycle

        lifecycle.request(self.task(task.pk), "stop", user=user)
        self.command_done(task, "stop")
        for _ in range(30):
            self.advance(10)
            if self.task(task.pk).observed_state == "finished":
                break
        return self.wait_state(task.pk, "finished", timeout=60)

    def truth(self, task: RecordingTask) -> dict:
        return self.sandbox.truth(task.app.vendor, task.vendor_task_id)


@pytest.fixture
def stack(transactional_db, worker, sandbox_fresh, live_server, settings) -> Iterator[Stack]:
    settings.RECDESK_PUBLIC_URL = live_server.url
    factories.ensure_roles()
    yield Stack(sandbox_fresh, worker, live_server)
    _let_the_worker_settle()


def _let_the_worker_settle(timeout: float = 5.0) -> None:
    """Before the test database is emptied: no more polls, and no worker transaction open. The
    TRUNCATE that empties it locks table after table, and a worker transaction that touches two of
    them meanwhile (a reconciler batch applying news) deadlocks with it (seen once in CI)."""
    RecordingTask.objects.update(next_poll_at=None)
    quiet_checks = 0
    deadline = time.monotonic() + timeout
    while quiet_checks < 3 and time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid() AND xact_start IS NOT NULL"
            )
            busy = cursor.fetchone()[0]
        quiet_checks = 0 if busy else quiet_checks + 1
        time.sleep(0.05)


__all__ = ["Stack", "wait_for", "Credential", "Room", "VendorApp"]
