"""An open-loop HTTP load generator on a fixed schedule (the wrk2 idea, in asyncio).

Request i is due at start + i / rate whatever happened to earlier ones, and its latency counts from
that due time, not from when it was actually sent: a server that falls behind is charged for the
queue it causes (no coordinated omission). One connection per request, as gunicorn's sync workers
close each connection after answering anyway.

The generator's own pauses are charged to the server the same way, so it must not make any: a full
garbage collection of the benchmark process (Django, the step's prepared requests) took 40-100 ms,
about once per step, and every request due meanwhile counted it as latency. What exists before a
run is frozen out of the collector while it runs (`gc.freeze`), so a collection scans only the run's
own objects.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from bench.common import frozen_heap


@dataclass
class Outcome:
    latency_ms: float
    status: int  # 0: no answer (connection error or timeout)
    body: bytes


async def _post(
    host: str, port: int, path: str, body: bytes, headers: dict[str, str], timeout: float
) -> tuple[int, bytes]:
    head = [
        f"POST {path} HTTP/1.1",
        f"Host: {host}:{port}",
        "Connection: close",
        f"Content-Length: {len(body)}",
    ]
    head += [f"{k}: {v}" for k, v in headers.items()]
    request = ("\r\n".join(head) + "\r\n\r\n").encode() + body
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        writer.write(request)
        raw = await asyncio.wait_for(reader.read(-1), timeout)
        writer.close()
    except (TimeoutError, OSError):
        return 0, b""
    status_line, _, rest = raw.partition(b"\r\n")
    try:
        status = int(status_line.split()[1])
    except (IndexError, ValueError):
        return 0, b""
    _, _, payload = rest.partition(b"\r\n\r\n")
    return status, payload


async def _schedule(host, port, requests, rate, timeout) -> list[Outcome]:
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.05
    outcomes: list[Outcome | None] = [None] * len(requests)

    async def one(index: int, due: float) -> None:
        path, body, headers = requests[index]
        status, payload = await _post(host, port, path, body, headers, timeout)
        outcomes[index] = Outcome((loop.time() - due) * 1000, status, payload)

    pending = []
    for index in range(len(requests)):
        due = start + index / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        pending.append(asyncio.create_task(one(index, due)))
    await asyncio.gather(*pending)
    return [o for o in outcomes if o is not None]


def run(
    host: str, port: int, requests: list[tuple[str, bytes, dict]], rate: float, timeout: float = 5.0
) -> tuple[list[Outcome], float]:
    """Send `requests` at `rate` per second; returns the outcomes and the wall time taken."""
    with frozen_heap():
        started = time.perf_counter()
        outcomes = asyncio.run(_schedule(host, port, requests, rate, timeout))
        return outcomes, time.perf_counter() - started
