"""The one way RecDesk talks HTTP to vendors: pooled httpx clients with explicit timeouts, and a
record of every call (action, request id, status, vendor code, latency; never a secret).

Adapters use it like this:

    with self.http.call("StartOnlineRecord", request_id=rid) as call:
        response = call.send("POST", "/", content=body, headers=headers)
        ...parse; set call.vendor_code / call.vendor_message on a vendor refusal, or raise VendorError

The body is serialised once by the adapter and passed as bytes, so the bytes signed are the bytes sent.
Nothing here retries: whether a retry is safe is the lifecycle's decision (recordings/tasks.py).
"""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from functools import cache

import httpx

from recordings.vendors.base import VendorError

LIMITS = httpx.Limits(max_connections=50, max_keepalive_connections=20, keepalive_expiry=30.0)


@dataclass(frozen=True)
class CallRecord:
    action: str
    request_id: str
    http_status: int | None
    vendor_code: str
    vendor_message: str
    error_kind: str
    latency_ms: int


Recorder = Callable[[CallRecord], None]


def _date_header(response: httpx.Response) -> datetime | None:
    try:
        return parsedate_to_datetime(response.headers["date"])
    except (KeyError, TypeError, ValueError):
        return None


def timeout() -> httpx.Timeout:
    from django.conf import settings

    read = settings.RECDESK_VENDOR_READ_TIMEOUT
    return httpx.Timeout(connect=settings.RECDESK_VENDOR_CONNECT_TIMEOUT, read=read, write=read, pool=5.0)


@cache
def tls_context() -> ssl.SSLContext:
    """One TLS context for every client in this process. Each httpx.Client otherwise builds its own
    and loads the CA bundle into it: about 20 ms of CPU per client, paid by every pool process of a
    prefork worker for each vendor's base URL on its first call."""
    return httpx.create_ssl_context()


_clients: dict[str, httpx.Client] = {}
_clients_lock = threading.Lock()


def shared_client(base_url: str) -> httpx.Client:
    """A pooled client per base URL, reused across tasks in one worker process."""
    with _clients_lock:
        client = _clients.get(base_url)
        if client is None or client.is_closed:
            client = httpx.Client(
                base_url=base_url,
                timeout=timeout(),
                limits=LIMITS,
                follow_redirects=False,
                verify=tls_context(),
            )
            _clients[base_url] = client
        return client


def make_client(base_url: str, transport: httpx.BaseTransport | None = None) -> httpx.Client:
    """A private client, for tests that plug in a MockTransport and for one-off tools."""
    return httpx.Client(
        base_url=base_url, timeout=timeout(), limits=LIMITS, transport=transport, verify=tls_context()
    )


# Media files are big: a longer read timeout (between two chunks, not for the whole body), and
# redirects followed, because vendors hand out CDN links that redirect to the file.
MEDIA_TIMEOUT = httpx.Timeout(connect=5.0, read=30.0, write=10.0, pool=10.0)
_media_client: httpx.Client | None = None


def media_client() -> httpx.Client:
    """One pooled client for downloading vendors' media files (archiving)."""
    global _media_client
    with _clients_lock:
        if _media_client is None or _media_client.is_closed:
            _media_client = httpx.Client(
                timeout=MEDIA_TIMEOUT, limits=LIMITS, follow_redirects=True, verify=tls_context()
            )
        return _media_client


@contextmanager
def open_media(
    url: str, *, offset: int = 0, if_range: str = "", client: httpx.Client | None = None
) -> Iterator[httpx.Response]:
    """Stream a media file from `offset`; with `if_range`, a changed file comes back whole (200).

    The body is asked for unencoded, so byte offsets mean the same on both ends.
    """
    headers = {"Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
        if if_range:
            headers["If-Range"] = if_range
    with (client or media_client()).stream("GET", url, headers=headers) as response:
        yield response


class Call:
    def __init__(self, client: httpx.Client, action: str, request_id: str) -> None:
        self._client = client
        self.action = action
        self.request_id = request_id
        self.http_status: int | None = None
        self.vendor_code = ""
        self.vendor_message = ""
        self.error_kind = ""
        self.latency_ms = 0
        self.server_time: datetime | None = None

    def send(
        self,
        method: str,
        url: str,
        *,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | list[tuple[str, str]] | None = None,
        auth: tuple[str, str] | None = None,
    ) -> httpx.Response:
        started = time.monotonic()
        try:
            response = self._client.request(
                method, url, content=content, headers=headers, params=params, auth=auth
            )
        except httpx.TimeoutException as exc:
            # A connect timeout means the request never left; any other timeout means it may have arrived.
            sent = not isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout)
            raise VendorError(
                "timeout" if sent else "connect_timeout",
                f"{self.action}: no answer in time ({type(exc).__name__})",
                kind="timeout" if sent else "connect",
                retryable=True,
                explanation_en="The vendor did not answer in time.",
                explanation_zh="供应商未及时响应。",
                fix_en="RecDesk retries by itself; if it keeps happening, check the vendor's status page.",
                fix_zh="RecDesk 会自动重试；若持续发生，请查看供应商的服务状态。",
                request_id=self.request_id,
            ) from exc
        except httpx.TransportError as exc:
            raise VendorError(
                "connect_error",
                f"{self.action}: cannot reach the vendor ({type(exc).__name__})",
                kind="connect",
                retryable=True,
                explanation_en="RecDesk could not reach the vendor's API.",
                explanation_zh="RecDesk 无法连接到供应商的 API。",
                fix_en="Check the app's API base URL and the network; RecDesk retries by itself.",
                fix_zh="请检查应用的 API 地址和网络；RecDesk 会自动重试。",
                request_id=self.request_id,
            ) from exc
        finally:
            self.latency_ms = int((time.monotonic() - started) * 1000)
        self.http_status = response.status_code
        self.server_time = _date_header(response)
        return response


class VendorHttp:
    def __init__(self, client: httpx.Client, recorder: Recorder | None = None) -> None:
        self.client = client
        self._recorder = recorder
        # The vendor's clock at its latest answer (HTTP Date): "now" in the vendor's time, the same
        # clock its own timestamps use.
        self.last_server_time: datetime | None = None

    @classmethod
    def for_base_url(cls, base_url: str, recorder: Recorder | None = None) -> VendorHttp:
        return cls(shared_client(base_url), recorder)

    @contextmanager
    def call(self, action: str, request_id: str = "") -> Iterator[Call]:
        call = Call(self.client, action, request_id)
        try:
            yield call
        except VendorError as exc:
            call.vendor_code = call.vendor_code or exc.code
            call.vendor_message = call.vendor_message or exc.message
            call.error_kind = exc.kind
            raise
        except Exception as exc:
            call.error_kind = "malformed"
            call.vendor_message = f"{type(exc).__name__}"
            raise
        finally:
            self.last_server_time = call.server_time or self.last_server_time
            if self._recorder is not None:
                self._recorder(
                    CallRecord(
                        action=call.action,
                        request_id=call.request_id,
                        http_status=call.http_status,
                        vendor_code=call.vendor_code,
                        vendor_message=call.vendor_message[:500],
                        error_kind=call.error_kind,
                        latency_ms=call.latency_ms,
                    )
                )
