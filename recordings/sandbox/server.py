"""The sandbox's HTTP side: one port per vendor, and base+0 for the control API and media files."""

from __future__ import annotations

import email.message
import email.utils
import importlib
import logging
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from recordings.sandbox import model
from recordings.sandbox.core import Sandbox
from recordings.sandbox.protocol import Request, Response, VendorProtocol

log = logging.getLogger("recordings.sandbox")

# The one registry of vendor protocol modules: vendor key -> (port offset, "module:Class").
PROTOCOLS: dict[str, tuple[int, str]] = {
    "tencent_tiw": (1, "recordings.sandbox.protocols.tencent_tiw:TencentTiwProtocol"),
    "tencent_tic": (2, "recordings.sandbox.protocols.tencent_tic:TencentTicProtocol"),
    "agora": (3, "recordings.sandbox.protocols.agora:AgoraProtocol"),
    "zego": (4, "recordings.sandbox.protocols.zego:ZegoProtocol"),
    "volcengine": (5, "recordings.sandbox.protocols.volcengine:VolcengineProtocol"),
}


def load_protocols(core: Sandbox) -> dict[str, VendorProtocol]:
    """Instantiate every registered protocol whose module exists (vendors land one at a time)."""
    loaded: dict[str, VendorProtocol] = {}
    for vendor, (_, target) in PROTOCOLS.items():
        module_name, class_name = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name != module_name:
                raise
            log.warning("sandbox: no protocol module for %s yet", vendor)
            continue
        protocol_class = getattr(module, class_name, None)
        if protocol_class is None:
            log.warning("sandbox: %s has no %s yet", module_name, class_name)
            continue
        loaded[vendor] = protocol_class(core)
    return loaded


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "RecDeskSandbox/1"
    # TCP_NODELAY: the headers and the body leave in two writes, and with Nagle on the body waits for
    # the client's delayed ACK of the headers (~40 ms on Linux) on every keep-alive request.
    disable_nagle_algorithm = True
    sandbox: Sandbox
    vendor: str | None = None  # None = the control port

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("%s %s", self.address_string(), format % args)

    def date_time_string(self, timestamp: float | None = None) -> str:
        # A vendor's Date header is its clock, and the sandbox's clock is the simulated one (the
        # Agora adapter ends a stop's last files at the stop answer's Date).
        if timestamp is None:
            timestamp = self.sandbox.now_ms() / 1000
        return email.utils.formatdate(timestamp, usegmt=True)

    def _request(self) -> Request:
        parsed = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        query = {k: v[0] for k, v in urllib.parse.parse_qs(parsed.query, keep_blank_values=True).items()}
        headers = email.message.Message()
        for name, value in self.headers.items():
            headers[name] = value
        return Request(
            method=self.command,
            path=parsed.path,
            query_string=parsed.query,
            query=query,
            headers=headers,
            body=body,
            client=self.client_address[0],
        )

    def _write(self, response: Response) -> None:
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def _serve(self) -> None:
        if self.vendor is None and self.path.startswith("/media/") and self.command in ("GET", "HEAD"):
            self._serve_media()
            return
        request = self._request()
        try:
            if self.vendor is None:
                response = control(self.sandbox, request)
            else:
                response = self.sandbox.dispatch(self.vendor, request)
        except Exception:
            log.exception("sandbox request failed")
            response = Response.json({"error": "sandbox internal error"}, status=500)
        if response is None:
            self.close_connection = True
            return
        self._write(response)

    def _serve_media(self) -> None:
        from recordings.sandbox import media

        relative = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path[len("/media/") :])
        path = self.sandbox.media_path(relative)
        if path is None or not path.is_file():
            self._write(Response.text("Not Found", status=404))
            return
        media.send_file(self, path, head=self.command == "HEAD")

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _serve


class SandboxServer:
    """Owns the core and the six listening sockets."""

    def __init__(self, core: Sandbox, host: str = "127.0.0.1", base_port: int = 18100) -> None:
        self.core = core
        self.host = host
        self.base_port = base_port
        core.protocols = load_protocols(core)
        self.servers: list[ThreadingHTTPServer] = []
        self.threads: list[threading.Thread] = []

    def port_of(self, vendor: str | None) -> int:
        return self.base_port if vendor is None else self.base_port + PROTOCOLS[vendor][0]

    def start(self) -> None:
        for vendor in [None, *PROTOCOLS]:
            if vendor is not None and vendor not in self.core.protocols:
                continue
            handler = type("Handler", (_Handler,), {"sandbox": self.core, "vendor": vendor})
            server = ThreadingHTTPServer((self.host, self.port_of(vendor)), handler)
            server.daemon_threads = True
            thread = threading.Thread(
                target=server.serve_forever, name=f"sandbox-{vendor or 'control'}", daemon=True
            )
            thread.start()
            self.servers.append(server)
            self.threads.append(thread)
        self.core.start_ticker()

    def stop(self) -> None:
        for server in self.servers:
            server.shutdown()
            server.server_close()
        self.core.close()


# ==== the control API ==============================================================================
def control(core: Sandbox, request: Request) -> Response:
    parts = [p for p in request.path.split("/") if p]
    if not parts or parts[0] != "control":
        return Response.json({"error": "not found"}, status=404)
    try:
        body = request.json() if request.body else {}
    except ValueError:
        return Response.json({"error": "body must be JSON"}, status=400)
    route = (request.method, "/".join(parts[1:2]))
    try:
        if route == ("GET", "health"):
            return Response.json(
                {
                    "ok": True,
                    "vendors": {v: core.base_port + PROTOCOLS[v][0] for v in core.protocols},
                    "clock": core.clock.describe(),
                }
            )
        if route == ("POST", "apps"):
            with core.lock:
                app = core.provision(
                    str(body["vendor"]),
                    str(body["app_id"]),
                    body.get("secrets") or {},
                    body.get("callback_url") or "",
                    body.get("settings"),
                )
                return Response.json(app.public_dict(), status=201)
        if route == ("GET", "apps"):
            with core.lock:
                return Response.json({"apps": [a.public_dict() for a in core.apps.values()]})
        if route == ("GET", "clock"):
            return Response.json(core.clock.describe())
        if route == ("POST", "clock"):
            if "speed" in body or "manual" in body:
                core.clock.configure(speed=body.get("speed"), manual=body.get("manual"))
            if "advance_ms" in body:
                core.advance(int(body["advance_ms"]))
            return Response.json(core.clock.describe())
        if route == ("POST", "faults"):
            with core.lock:
                rule = core.faults.set(body, core.now_ms())
                core.store.put("faults", "faults", core.faults.to_dict())
                return Response.json({"rule": rule, "seed": core.faults.seed})
        if route == ("GET", "faults"):
            with core.lock:
                return Response.json(core.faults.to_dict())
        if route == ("DELETE", "faults"):
            with core.lock:
                core.faults.clear(request.query.get("vendor"))
                core.store.put("faults", "faults", core.faults.to_dict())
                return Response.json(core.faults.to_dict())
        if route == ("POST", "rooms"):
            with core.lock:
                room = core.set_room(
                    str(body["vendor"]),
                    str(body["app_id"]),
                    str(body["room_id"]),
                    body.get("scenario", "classroom"),
                )
                return Response.json(room.to_dict(), status=201)
        if route == ("GET", "rooms") and len(parts) == 5:
            with core.lock:
                return Response.json(core.room(parts[2], parts[3], parts[4]).to_dict())
        if route == ("GET", "tasks"):
            with core.lock:
                if len(parts) == 4:
                    found = [t for t in core.tasks.values() if t.vendor == parts[2] and t.task_id == parts[3]]
                    if not found:
                        return Response.json({"error": "no such task"}, status=404)
                    return Response.json(core.truth(found[0]))
                vendor = request.query.get("vendor")
                app_id = request.query.get("app_id")
                tasks = [
                    core.truth(t)
                    for t in sorted(core.tasks.values(), key=lambda t: t.created_ms)
                    if (not vendor or t.vendor == vendor) and (not app_id or t.app_id == app_id)
                ]
                return Response.json({"tasks": tasks})
        if route == ("GET", "requests"):
            with core.lock:
                return Response.json({"requests": list(core.requests)})
        if route == ("POST", "reset"):
            core.reset()
            return Response.json({"ok": True})
    except (KeyError, TypeError, ValueError) as error:
        return Response.json({"error": f"bad request: {error}"}, status=400)
    return Response.json({"error": "not found"}, status=404)


__all__ = ["PROTOCOLS", "SandboxServer", "control", "load_protocols", "model"]
