"""Run the whole development stack in one terminal: the sandbox vendors, a Celery worker with beat,
and the web server; seed the demo data; print where to go. Ctrl-C stops everything."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import httpx
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from recordings.sandbox_client import control_url
from recordings.vendors.http import make_client


class Command(BaseCommand):
    help = "Start the sandbox, a Celery worker with beat, and the web server, with demo data."

    def add_arguments(self, parser):
        parser.add_argument("--addr", default="127.0.0.1:8000")
        parser.add_argument(
            "--speed",
            type=float,
            default=45.0,
            help="Sandbox clock speed (45 ≈ a 45-minute class in a minute).",
        )

    def handle(self, *args, addr: str, speed: float, **options):
        python = sys.executable
        children: list[subprocess.Popen] = []

        def spawn(*argv: str) -> subprocess.Popen:
            child = subprocess.Popen([python, *argv])
            children.append(child)
            return child

        def stop_all(*_):
            for child in children:
                if child.poll() is None:
                    child.terminate()
            for child in children:
                try:
                    child.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    child.kill()

        signal.signal(signal.SIGTERM, lambda *a: (stop_all(), sys.exit(0)))
        try:
            spawn(
                "manage.py",
                "sandbox",
                "--speed",
                str(speed),
                "--base-port",
                str(settings.RECDESK_SANDBOX_BASE_PORT),
            )
            self._wait_for(control_url() + "/control/health", "the sandbox")
            call_command("seed_demo")
            spawn(
                "-m",
                "celery",
                "-A",
                "dashboard",
                "worker",
                "--beat",
                "--loglevel",
                "INFO",
                "--concurrency",
                "2",
                "--schedule",
                settings.CELERY_BEAT_SCHEDULE_FILENAME,
            )
            spawn("manage.py", "runserver", addr, "--noreload")
            host = addr if ":" in addr else f"127.0.0.1:{addr}"
            self._wait_for(f"http://{host}/login/", "the web server", timeout=120)
            self.stdout.write(
                self.style.SUCCESS(
                    f"\nRecDesk is running at http://{host}/\n"
                    "  Sign in as admin/admin, teacher/teacher or support/support.\n"
                    f"  Sandbox vendors: {control_url()} (control API), ports "
                    f"{settings.RECDESK_SANDBOX_BASE_PORT + 1}–{settings.RECDESK_SANDBOX_BASE_PORT + 5}.\n"
                    "  Press Ctrl-C to stop.\n"
                )
            )
            while all(child.poll() is None for child in children):
                time.sleep(0.5)
            failed = [c.args for c in children if c.poll() not in (None, 0)]
            raise CommandError(f"a process stopped: {failed}")
        except KeyboardInterrupt:
            pass
        finally:
            stop_all()

    def _wait_for(self, url: str, what: str, timeout: float = 60.0) -> None:
        """Print the way in only once it answers."""
        deadline = time.monotonic() + timeout
        with make_client(url) as client:
            while time.monotonic() < deadline:
                try:
                    if client.get(url).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.3)
        raise CommandError(f"{what} did not come up at {url} within {timeout:.0f} s")
