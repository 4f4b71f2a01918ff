"""The running sandbox for tests: ``manage.py sandbox --manual-clock`` in a subprocess on free ports."""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]
VENDOR_OFFSETS = {"tencent_tiw": 1, "tencent_tic": 2, "agora": 3, "zego": 4, "volcengine": 5}


def _free_base_port(span: int = 6) -> int:
    """A base port whose next ``span`` ports are all free right now. Taken below Linux's ephemeral
    range (32768+): there, a busy machine's outgoing connections took a port between this probe
    and the sandbox binding it."""
    for _ in range(200):
        base = random.randrange(20_000, 32_000 - span)
        sockets = []
        try:
            for port in range(base, base + span):
                s = socket.socket()
                s.bind(("127.0.0.1", port))
                sockets.append(s)
            return base
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
    raise RuntimeError("no run of free ports found")


class SandboxProcess:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.host = "127.0.0.1"
        self.base_port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.client = httpx.Client(timeout=30)

    # ---- process ---------------------------------------------------------------------------------
    def start(self, base_port: int | None = None) -> None:
        self.base_port = base_port or _free_base_port()
        log = open(self.workdir / "sandbox.log", "ab")  # noqa: SIM115 - lives as long as the process
        self.process = subprocess.Popen(
            [
                sys.executable,
                "manage.py",
                "sandbox",
                "--manual-clock",
                "--host",
                self.host,
                "--base-port",
                str(self.base_port),
                "--state",
                str(self.workdir / "state.sqlite3"),
                "--media-dir",
                str(self.workdir / "media"),
            ],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"sandbox exited: {(self.workdir / 'sandbox.log').read_text()[-2000:]}")
            try:
                if self.client.get(self.control_url("/control/health")).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError("sandbox did not become healthy in 30 s")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def restart(self) -> None:
        """Stop and start again on the same ports and state file (the persistence check)."""
        self.stop()
        self.start(self.base_port)

    # ---- helpers the tests use ------------------------------------------------------------------
    def control_url(self, path: str) -> str:
        return f"http://{self.host}:{self.base_port}{path}"

    def base_url(self, vendor: str) -> str:
        return f"http://{self.host}:{self.base_port + VENDOR_OFFSETS[vendor]}"

    def endpoint(self, vendor: str) -> str:
        """host:port, as the Tencent SDK's HttpProfile wants it."""
        return f"{self.host}:{self.base_port + VENDOR_OFFSETS[vendor]}"

    def control(self, method: str, path: str, json: Any = None) -> Any:
        response = self.client.request(method, self.control_url(path), json=json)
        response.raise_for_status()
        return response.json()

    def advance(self, ms: int) -> dict[str, Any]:
        return self.control("POST", "/control/clock", {"advance_ms": ms})

    def now_ms(self) -> int:
        return self.control("GET", "/control/clock")["now_ms"]

    def provision(
        self, vendor: str, app_id: str, secrets: dict[str, str], callback_url: str = ""
    ) -> dict[str, Any]:
        return self.control(
            "POST",
            "/control/apps",
            {"vendor": vendor, "app_id": app_id, "secrets": secrets, "callback_url": callback_url},
        )

    def room(self, vendor: str, app_id: str, room_id: str, scenario: Any = "classroom") -> dict[str, Any]:
        return self.control(
            "POST",
            "/control/rooms",
            {"vendor": vendor, "app_id": app_id, "room_id": room_id, "scenario": scenario},
        )

    def faults(self, **spec: Any) -> dict[str, Any]:
        return self.control("POST", "/control/faults", spec)

    def truth(self, vendor: str, task_id: str) -> dict[str, Any]:
        return self.control("GET", f"/control/tasks/{vendor}/{task_id}")

    def reset(self) -> None:
        self.control("POST", "/control/reset")


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    process = SandboxProcess(tmp_path_factory.mktemp("sandbox"))
    process.start()
    try:
        yield process
    finally:
        process.stop()
        process.client.close()


@pytest.fixture
def sandbox_fresh(sandbox: SandboxProcess) -> SandboxProcess:
    sandbox.reset()
    return sandbox


class CallbackSink:
    """A loopback HTTP receiver for the sandbox's callbacks; replies are scripted per test."""

    def __init__(self) -> None:
        import json as _json
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.received: list[dict[str, Any]] = []
        self.replies: list[tuple[int, bytes]] = []  # consumed in order; then default_reply
        self.default_reply: tuple[int, bytes] = (200, b'{"error_code":0}')
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                try:
                    parsed = _json.loads(body)
                except ValueError:
                    parsed = None
                sink.received.append(
                    {"path": self.path, "headers": dict(self.headers), "body": body, "json": parsed}
                )
                status, reply = sink.replies.pop(0) if sink.replies else sink.default_reply
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/sandbox"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def callback_sink() -> Iterator[CallbackSink]:
    sink = CallbackSink()
    try:
        yield sink
    finally:
        sink.close()
