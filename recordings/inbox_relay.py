"""Hands stored callbacks to the worker without making the vendor wait for the broker.

The receiver answers once a callback is committed to the inbox. Publishing a Celery message cost
about 1 ms of CPU, more than the rest of the receiver put together (bench/webhooks.py), so it is not
done per request: one thread per web process collects the ids that arrive within
LINGER of the first and publishes them as one `apply_deliveries` message. A callback waits at most
that long for the worker, which no vendor's retry schedule notices.

Nothing is lost if the process dies with ids in hand: they name committed, `pending` inbox rows, and
the outbox sweeper (tasks.sweep_outbox) enqueues them RECDESK_REDISPATCH_SECONDS after they arrived.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import threading
import time

log = logging.getLogger(__name__)

# A process publishes one message per LINGER_SECONDS (more only past MAX_BATCH ids) however many
# callbacks arrive. At bench/webhooks.py's rates (200-300 callbacks/s per web worker) 50 ms still
# meant some 20 messages a second per worker, whose publishing was a tenth of the worker's CPU time
# (py-spy --gil) and 0.17 M of its 2.6 M instructions per callback (perf stat). A quarter of a second
# makes batches of 50-75; the vendor's answer does not wait for it, the worker gets a callback that
# much later.
LINGER_SECONDS = 0.25
# A message stays small (the ids only) and one bad batch holds up few callbacks.
MAX_BATCH = 200

_pending: queue.SimpleQueue[int] = queue.SimpleQueue()
_thread: threading.Thread | None = None
_owner_pid = 0
_start_lock = threading.Lock()


def submit(delivery_id: int) -> None:
    """Queue a committed delivery for the worker; returns at once."""
    _ensure_running()
    _pending.put(delivery_id)


def flush() -> None:
    """Publish everything queued now, in the calling thread (process exit, tests)."""
    while batch := _take_batch():
        _publish(batch)


def _ensure_running() -> None:
    global _thread, _owner_pid
    # A forked child (gunicorn's workers) inherits no running thread, so each process starts its own.
    if _thread is not None and _owner_pid == os.getpid() and _thread.is_alive():
        return
    with _start_lock:
        if _thread is None or _owner_pid != os.getpid() or not _thread.is_alive():
            _owner_pid = os.getpid()
            _thread = threading.Thread(target=_run, name="inbox-relay", daemon=True)
            _thread.start()


def _run() -> None:
    while True:
        _publish(_take_batch(linger=LINGER_SECONDS))


def _take_batch(*, linger: float | None = None) -> list[int]:
    """The next batch: with `linger`, wait for a first id, then for more until `linger` has passed;
    without, only what is queued already."""
    batch: list[int] = []
    try:
        batch.append(_pending.get(block=linger is not None))
        if linger:
            # Sleep rather than wait on the queue: a waiting thread would be woken by every id.
            time.sleep(linger)
        while len(batch) < MAX_BATCH:
            batch.append(_pending.get_nowait())
    except queue.Empty:
        pass
    return batch


def _publish(batch: list[int]) -> None:
    from recordings import tasks

    try:
        tasks.dispatch_deliveries(batch)
    except Exception:  # the thread must survive anything; the rows stay pending for the sweeper
        log.exception("could not hand %s callback deliveries to the worker; the sweeper will", len(batch))


atexit.register(flush)
