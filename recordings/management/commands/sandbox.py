"""``manage.py sandbox``: run the vendor emulators (recordings/sandbox) in this process."""

from __future__ import annotations

import signal
import threading

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run the sandbox vendors: local emulators of the five vendor recording APIs."
    # The sandbox is its own stdlib program; the dashboard's URL and model checks are not its concern.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--base-port", type=int, default=18100)
        parser.add_argument("--speed", type=float, default=1.0, help="simulated seconds per real second")
        parser.add_argument(
            "--manual-clock", action="store_true", help="time moves only by POST /control/clock"
        )
        parser.add_argument("--state", default="var/sandbox/state.sqlite3")
        parser.add_argument("--media-dir", default="var/sandbox/media")
        parser.add_argument("--public-host", default=None, help="host put in media URLs (default: --host)")

    def handle(self, *args, **options) -> None:
        from recordings.sandbox.core import Sandbox
        from recordings.sandbox.server import PROTOCOLS, SandboxServer

        core = Sandbox(
            state_path=options["state"],
            media_dir=options["media_dir"],
            public_host=options["public_host"] or options["host"],
            base_port=options["base_port"],
            speed=options["speed"],
            manual=options["manual_clock"],
        )
        server = SandboxServer(core, host=options["host"], base_port=options["base_port"])
        server.start()
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        ports = ", ".join(f"{v} :{server.port_of(v)}" for v in PROTOCOLS if v in core.protocols)
        self.stdout.write(f"sandbox control :{server.port_of(None)}; {ports}; clock {core.clock.describe()}")
        self.stdout.flush()
        stop.wait()
        server.stop()
        self.stdout.write("sandbox stopped")
