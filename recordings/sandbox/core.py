"""The sandbox core: state, the generic recording state machine, segments, timed work and callbacks.

Protocol modules (``protocols/*.py``) call the public methods of ``Sandbox`` below; everything else
here is the core's own business. All public methods expect the caller to hold ``Sandbox.lock``
(protocol ``handle``/``on_state``/``on_timer`` hooks always run with it held).
"""

from __future__ import annotations

import collections
import concurrent.futures
import hashlib
import logging
import random
import re
import string
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from recordings.sandbox import model, scenarios
from recordings.sandbox.clock import SimClock, wall_ms, wall_seconds
from recordings.sandbox.faults import FaultRegistry
from recordings.sandbox.model import App, CallbackRecord, Room, Segment, Task, task_key
from recordings.sandbox.protocol import OutgoingCallback, Request, Response, VendorProtocol
from recordings.sandbox.store import Store

log = logging.getLogger("recordings.sandbox")

# Streams shorter than this inside a recording interval leave no file (a blip while joining).
MIN_SEGMENT_MS = 1_000
# How long a reordered callback is held back if no later callback of its task overtakes it.
DEFAULT_REORDER_HOLD_MS = 60_000
# Real seconds a "timeout" fault keeps the connection open without answering.
DEFAULT_TIMEOUT_FAULT_MS = 30_000
RENDER_WAIT_S = 600
_SAFE_PATH = re.compile(r"[^A-Za-z0-9_.@-]")


class Sandbox:
    def __init__(
        self,
        *,
        state_path: Path | str,
        media_dir: Path | str,
        public_host: str = "127.0.0.1",
        base_port: int = 18100,
        speed: float = 1.0,
        manual: bool = False,
        render_workers: int = 2,
    ) -> None:
        self.lock = threading.RLock()
        self.store = Store(state_path)
        self.media_dir = Path(media_dir)
        self.media_dir.mkdir(parents=True, exist_ok=True)
        self.public_host = public_host
        self.base_port = base_port
        saved_clock = self.store.get_meta("clock_ms")
        self.clock = SimClock(int(saved_clock) if saved_clock else None, speed=speed, manual=manual)
        self.protocols: dict[str, VendorProtocol] = {}
        self.faults = FaultRegistry()
        self.apps: dict[str, App] = {}
        self.rooms: dict[str, Room] = {}
        self.tasks: dict[str, Task] = {}
        self.segments: dict[str, list[Segment]] = {}
        self.callbacks: dict[int, CallbackRecord] = {}
        self.jobs: dict[int, tuple[int, dict[str, Any]]] = {}
        self.requests: collections.deque[dict[str, Any]] = collections.deque(maxlen=500)
        self._ids = random.Random()
        self._counter = int(self.store.get_meta("counter", "0") or 0)
        self._runner_lock = threading.Lock()
        self._render_pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=render_workers, thread_name_prefix="render"
        )
        self._render_futures: dict[str, concurrent.futures.Future[int]] = {}
        self._rendered: dict[str, int | None] = {}
        self._render_lock = threading.Lock()
        self._stop_event = threading.Event()
        self._ticker: threading.Thread | None = None
        self._load()

    # ==== lifecycle of the sandbox itself ==========================================================
    def _load(self) -> None:
        for data in self.store.all("app"):
            app = App.from_dict(data)
            self.apps[_app_key(app.vendor, app.app_id)] = app
        for data in self.store.all("room"):
            room = Room.from_dict(data)
            self.rooms[_room_key(room.vendor, room.app_id, room.room_id)] = room
        for data in self.store.all("task"):
            task = Task.from_dict(data)
            self.tasks[task.key] = task
        for data in self.store.all("segments"):
            items = [Segment.from_dict(s) for s in data["items"]]
            if items:
                self.segments[task_key(items[0].vendor, items[0].app_id, items[0].task_id)] = items
        for data in self.store.all("callback"):
            record = CallbackRecord.from_dict(data)
            self.callbacks[record.callback_id] = record
        for job_id, due_ms, data in self.store.jobs():
            self.jobs[job_id] = (due_ms, data)
        faults = self.store.all("faults")
        if faults:
            self.faults.load(faults[0])
        for items in self.segments.values():
            for segment in items:
                if segment.status == "rendering":
                    self._submit_render(segment)

    def start_ticker(self) -> None:
        """Run due work in the background while the clock is not manual."""
        self._ticker = threading.Thread(target=self._tick_loop, name="sandbox-clock", daemon=True)
        self._ticker.start()

    def close(self) -> None:
        self._stop_event.set()
        if self._ticker:
            self._ticker.join(timeout=5)
        with self.lock:
            self.store.set_meta("clock_ms", str(self.clock.now_ms()))
        self._render_pool.shutdown(wait=False, cancel_futures=True)
        self.store.close()

    def _tick_loop(self) -> None:
        last_saved = 0.0
        while not self._stop_event.wait(0.02):
            if not self.clock.manual:
                try:
                    self.run_due()
                except Exception:  # the ticker must survive one bad job
                    log.exception("sandbox job failed")
            if time.monotonic() - last_saved > 1:
                last_saved = time.monotonic()
                with self.lock:
                    self.store.set_meta("clock_ms", str(self.clock.now_ms()))

    def reset(self) -> None:
        with self.lock:
            self.apps.clear()
            self.rooms.clear()
            self.tasks.clear()
            self.segments.clear()
            self.callbacks.clear()
            self.jobs.clear()
            self.requests.clear()
            self.faults.clear()
            self.faults.reseed(0)
            self.store.wipe()

    # ==== clock ====================================================================================
    def now_ms(self) -> int:
        """Simulated epoch milliseconds: the vendor's notion of "now" for recordings and files."""
        return self.clock.now_ms()

    def wall_seconds(self) -> int:
        """Real Unix seconds: compare clients' signature timestamps and sign callback expiry with this,
        because clients and receivers use their own real clocks."""
        return wall_seconds()

    def wall_ms(self) -> int:
        """Real Unix milliseconds: delivery stamps that receivers check against their real clocks."""
        return wall_ms()

    def advance(self, ms: int) -> int:
        """Move simulated time forward by ``ms``, running every job that falls due, in order."""
        if ms < 0:
            raise ValueError("advance_ms must not be negative")
        target = self.now_ms() + ms
        self.run_due(until_ms=target)
        with self.lock:
            self.store.set_meta("clock_ms", str(self.now_ms()))
        return self.now_ms()

    # ==== apps and rooms ===========================================================================
    def provision(
        self,
        vendor: str,
        app_id: str,
        secrets: dict[str, str],
        callback_url: str = "",
        settings: dict[str, Any] | None = None,
    ) -> App:
        app = self.apps.get(_app_key(vendor, app_id)) or App(vendor=vendor, app_id=str(app_id))
        app.secrets = {str(k): str(v) for k, v in secrets.items()}
        app.callback_url = callback_url or ""
        if settings is not None:
            app.settings.update(settings)
        self.save_app(app)
        return app

    def app(self, vendor: str, app_id: str | int) -> App | None:
        return self.apps.get(_app_key(vendor, str(app_id)))

    def apps_of(self, vendor: str) -> list[App]:
        return [app for app in self.apps.values() if app.vendor == vendor]

    def save_app(self, app: App) -> None:
        self.apps[_app_key(app.vendor, app.app_id)] = app
        self.store.put("app", _app_key(app.vendor, app.app_id), app.to_dict())

    def room(self, vendor: str, app_id: str, room_id: str) -> Room:
        """The room's scenario; a room nobody set up gets the deterministic "classroom"."""
        key = _room_key(vendor, app_id, room_id)
        room = self.rooms.get(key)
        if room is None:
            room = Room(
                vendor=vendor,
                app_id=app_id,
                room_id=room_id,
                scenario="classroom",
                streams=scenarios.classroom(room_id),
            )
            self._save_room(room)
        return room

    def set_room(self, vendor: str, app_id: str, room_id: str, scenario: str | list[dict[str, Any]]) -> Room:
        name, streams = scenarios.build(str(room_id), scenario)
        room = Room(vendor=vendor, app_id=str(app_id), room_id=str(room_id), scenario=name, streams=streams)
        self._save_room(room)
        return room

    def _save_room(self, room: Room) -> None:
        key = _room_key(room.vendor, room.app_id, room.room_id)
        self.rooms[key] = room
        self.store.put("room", key, room.to_dict())

    # ==== tasks ====================================================================================
    def new_id(self, length: int = 20, alphabet: str = string.ascii_lowercase + string.digits) -> str:
        return "".join(self._ids.choice(alphabet) for _ in range(length))

    @staticmethod
    def request_id() -> str:
        return str(uuid.uuid4())

    def create_task(
        self,
        vendor: str,
        app_id: str,
        room_id: str,
        *,
        task_id: str | None = None,
        mode: str = "individual",
        record_user_id: str = "",
        params: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
        idle_timeout_ms: int | None = None,
    ) -> Task:
        """A task in "prepared"; the start takes effect after the protocol's transition delay."""
        task = Task(
            vendor=vendor,
            app_id=str(app_id),
            task_id=task_id or self.new_id(),
            room_id=str(room_id),
            mode=mode,
            record_user_id=record_user_id,
            created_ms=self.now_ms(),
            params=params or {},
            extra=extra or {},
            idle_timeout_ms=idle_timeout_ms,
        )
        self.tasks[task.key] = task
        self.room(vendor, task.app_id, task.room_id)  # fix the scenario now, not at first use
        self.request(task, model.START)
        return task

    def task(self, vendor: str, app_id: str | int, task_id: str) -> Task | None:
        return self.tasks.get(task_key(vendor, str(app_id), task_id))

    def find_tasks(
        self, vendor: str, *, app_id: str | None = None, room_id: str | None = None, active_only: bool = False
    ) -> list[Task]:
        found = [
            task
            for task in self.tasks.values()
            if task.vendor == vendor
            and (app_id is None or task.app_id == str(app_id))
            and (room_id is None or task.room_id == str(room_id))
            and (not active_only or task.active)
        ]
        return sorted(found, key=lambda t: t.created_ms)

    def save_task(self, task: Task) -> None:
        self.tasks[task.key] = task
        self.store.put("task", task.key, task.to_dict())

    def request(self, task: Task, transition: str) -> None:
        """Ask for start/pause/resume/stop; it takes effect after ``protocol.transition_delay``.

        The protocol has already checked the move is legal (against ``task.logical_state``).
        """
        delay = self.protocols[task.vendor].transition_delay(task, transition)
        task.pending.append(transition)
        self.save_task(task)
        if delay <= 0:
            self._apply(task, transition)
        else:
            self._add_job(
                self.now_ms() + delay, {"kind": "transition", "task": task.key, "transition": transition}
            )

    def stop_now(self, task: Task, reason: str = model.REASON_API) -> None:
        """Stop at once, without the vendor delay (idle timeout, max duration, resource expiry)."""
        self._stop(task, reason)

    def fail(self, task: Task, error: str) -> None:
        """End the task abnormally with ``error`` (a protocol-chosen word or vendor code)."""
        if task.state in model.TERMINAL_STATES:
            return
        now = self.now_ms()
        self._close_interval(task, now)
        task.state = model.FAILED
        task.error = error
        task.finish_reason = model.REASON_ERROR
        task.pending.clear()
        task.stopped_ms = task.stopped_ms or now
        task.finished_ms = now
        self.save_task(task)
        self.protocols[task.vendor].on_state(task, "failed")

    def schedule(
        self,
        vendor: str,
        name: str,
        delay_ms: int,
        payload: dict[str, Any] | None = None,
        task: Task | None = None,
    ) -> None:
        """Call ``protocol.on_timer(task, name, payload)`` after ``delay_ms`` of simulated time."""
        self._add_job(
            self.now_ms() + max(0, delay_ms),
            {
                "kind": "timer",
                "vendor": vendor,
                "task": task.key if task else None,
                "name": name,
                "payload": payload or {},
            },
        )

    # ---- the state machine -------------------------------------------------------------------------
    def _apply(self, task: Task, transition: str) -> None:
        if transition in task.pending:
            task.pending.remove(transition)
        protocol = self.protocols[task.vendor]
        now = self.now_ms()
        if transition == model.START:
            if task.state != model.PREPARED:
                self.save_task(task)
                return
            if self.faults.chance(self.faults.rule(task.vendor).get("stuck_prepared")):
                task.extra.setdefault("_sandbox", {})["stuck_prepared"] = True
                self.save_task(task)
                return
            error = protocol.before_recording(task)
            if error:
                self.fail(task, error)
                return
            room = self.room(task.vendor, task.app_id, task.room_id)
            if room.origin_ms is None:
                room.origin_ms = now
                self._save_room(room)
            task.state = model.RECORDING
            task.started_ms = now
            task.intervals.append([now, None])
            self.save_task(task)
            self._schedule_idle(task)
            protocol.on_state(task, "started")
        elif transition == model.PAUSE:
            if task.state != model.RECORDING:
                self.save_task(task)
                return
            self._close_interval(task, now)
            task.state = model.PAUSED
            self.save_task(task)
            protocol.on_state(task, "paused")
        elif transition == model.RESUME:
            if task.state != model.PAUSED:
                self.save_task(task)
                return
            task.state = model.RECORDING
            task.intervals.append([now, None])
            self.save_task(task)
            self._schedule_idle(task)
            protocol.on_state(task, "resumed")
        elif transition == model.STOP:
            self._stop(task, model.REASON_API)

    def _stop(self, task: Task, reason: str) -> None:
        if task.state in (model.STOPPED, model.FINISHED, model.FAILED):
            return
        now = self.now_ms()
        self._close_interval(task, now)
        task.state = model.STOPPED
        task.stopped_ms = now
        task.finish_reason = reason
        task.pending.clear()
        if self.faults.chance(self.faults.rule(task.vendor).get("no_file")):
            self.segments.pop(task.key, None)
            self.store.delete("segments", task.key)
        if not self.segments.get(task.key):
            task.error = model.ERROR_NO_FILE
        self.save_task(task)
        self.protocols[task.vendor].on_state(task, "stopped")
        self._add_job(now + self.protocols[task.vendor].processing_ms, {"kind": "finish", "task": task.key})

    def _finish(self, task: Task) -> None:
        if task.state != model.STOPPED:
            return
        if not self._renders_done(task):
            if self.clock.manual:
                # Deterministic tests: wait for the real files rather than needing another advance.
                for segment in self.segments.get(task.key, []):
                    future = self._render_futures.get(segment.key)
                    if future is not None:
                        concurrent.futures.wait([future], timeout=RENDER_WAIT_S)
            else:
                retry_in = max(1, int(250 * self.clock.speed))
                self._add_job(self.now_ms() + retry_in, {"kind": "finish", "task": task.key})
                return
        self._collect_renders()
        task.state = model.FINISHED
        task.finished_ms = self.now_ms()
        self.save_task(task)
        self.protocols[task.vendor].on_state(task, "finished")

    def _schedule_idle(self, task: Task) -> None:
        forced = self.faults.rule(task.vendor).get("idle_stop_after_ms")
        if forced:
            self._add_job(self.now_ms() + int(forced), {"kind": "idle", "task": task.key, "forced": True})
            return
        if not task.idle_timeout_ms:
            return
        due = self._idle_due(task, self.now_ms(), task.idle_timeout_ms)
        if due is not None:
            self._add_job(due, {"kind": "idle", "task": task.key, "forced": False})

    def _presence(self, task: Task) -> list[tuple[int, int | None]]:
        room = self.room(task.vendor, task.app_id, task.room_id)
        origin = room.origin_ms or 0
        return [(origin + a, None if b is None else origin + b) for s in room.streams for a, b in s.intervals]

    def _idle_due(self, task: Task, since_ms: int, timeout_ms: int) -> int | None:
        """When the room has been empty for ``timeout_ms`` starting no earlier than ``since_ms``."""
        presence = self._presence(task)
        candidates = sorted({since_ms} | {b for _, b in presence if b is not None and b >= since_ms})
        for gap_start in candidates:
            gap_end = gap_start + timeout_ms
            if not any(a < gap_end and (b is None or b > gap_start) for a, b in presence):
                return gap_end
        return None

    def _run_idle(self, task: Task, forced: bool) -> None:
        if task.state not in (model.RECORDING, model.PAUSED):
            return
        if not forced:
            now = self.now_ms()
            presence = self._presence(task)
            if any(a < now and (b is None or b > now - task.idle_timeout_ms) for a, b in presence):
                return
        self._stop(task, model.REASON_IDLE)

    # ==== segments and media =======================================================================
    def segments_of(self, task: Task, *, include_open: bool = False) -> list[Segment]:
        """The task's files; ``include_open`` adds the ones still being written (no file yet)."""
        self._collect_renders()
        closed = list(self.segments.get(task.key, []))
        if include_open and task.intervals and task.intervals[-1][1] is None:
            closed.extend(self._cut(task, len(task.intervals) - 1, self.now_ms(), persist=False))
        return closed

    def media_url(self, segment: Segment) -> str:
        return f"http://{self.public_host}:{self.base_port}/media/{segment.path}"

    def media_path(self, relative: str) -> Path | None:
        """The file under the media directory for a /media/ URL path, or None if outside it.

        Besides the sandbox's own tree (`/media/<segment path>`), the control port plays the
        customer's storage: `/media/<bucket>/<object key>` for every object a task "uploaded" (see
        `upload_to` and `object_key`).
        """
        root = self.media_dir.resolve()
        candidate = (root / relative).resolve()
        if root not in candidate.parents:
            return None
        if not candidate.is_file():
            uploaded = self._uploaded_path(relative)
            if uploaded is not None:
                return uploaded
        return candidate

    # ---- the customer's storage ----------------------------------------------------------------
    def upload_to(self, task: Task, bucket: str | None, prefix: str = "") -> None:
        """Mark `task` as uploading its files to the customer's `bucket` under the key `prefix`.

        `bucket=None` is storage configured in the vendor's console rather than in the request
        (Volcengine whiteboard recording): the sandbox does not know that bucket's name, so it
        serves the task's objects under any bucket name.
        """
        task.extra["upload"] = {"bucket": bucket, "prefix": prefix.strip("/")}
        self.save_task(task)

    def object_key(self, task: Task, segment: Segment) -> str:
        """The key under which `segment` lands in the task's bucket: the prefix, then the file's
        own path (so an HLS playlist's relative references resolve in the bucket too)."""
        prefix = (task.extra.get("upload") or {}).get("prefix") or ""
        return f"{prefix}/{segment.path}" if prefix else segment.path

    def _uploaded_path(self, relative: str) -> Path | None:
        bucket, _, key = relative.partition("/")
        if not key:
            return None
        root = self.media_dir.resolve()
        with self.lock:
            for task in self.tasks.values():
                upload = task.extra.get("upload")
                if not upload or upload.get("bucket") not in (bucket, None):
                    continue
                prefix = upload.get("prefix") or ""
                rest = key
                if prefix:
                    if not key.startswith(prefix + "/"):
                        continue
                    rest = key[len(prefix) + 1 :]
                folder = "/".join(
                    _SAFE_PATH.sub("_", part) for part in (task.vendor, task.app_id, task.task_id)
                )
                if not rest.startswith(folder + "/"):
                    continue
                candidate = (root / rest).resolve()
                if root in candidate.parents and candidate.is_file():
                    return candidate
        return None

    def _close_interval(self, task: Task, end_ms: int) -> None:
        if not task.intervals or task.intervals[-1][1] is not None:
            return
        index = len(task.intervals) - 1
        task.intervals[index][1] = end_ms
        if self.faults.chance(self.faults.rule(task.vendor).get("no_file")):
            return
        self._cut(task, index, end_ms, persist=True)

    def _cut(self, task: Task, index: int, end_ms: int, *, persist: bool) -> list[Segment]:
        begin = task.intervals[index][0]
        first = task.intervals[0][0]
        recorded_before = sum(b - a for a, b in task.intervals[:index])
        room = self.room(task.vendor, task.app_id, task.room_id)
        origin = room.origin_ms if room.origin_ms is not None else first
        existing = (
            self.segments.setdefault(task.key, []) if persist else list(self.segments.get(task.key, []))
        )
        made: list[Segment] = []
        for plan in self.protocols[task.vendor].plan_streams(task, room):
            for p_begin, p_end in plan.presence:
                start = max(begin, origin + p_begin)
                stop = end_ms if p_end is None else min(end_ms, origin + p_end)
                if stop - start < MIN_SEGMENT_MS:
                    continue
                slices = _slices(start, stop, plan.slice_ms)
                for slice_index, (s_begin, s_end) in enumerate(slices):
                    for fmt in plan.formats:
                        number = len(existing) + len(made) + 1
                        segment_id = f"{number:04d}"
                        folder = "/".join(
                            _SAFE_PATH.sub("_", part) for part in (task.vendor, task.app_id, task.task_id)
                        )
                        path = (
                            f"{folder}/{segment_id}/index.m3u8"
                            if fmt == "hls"
                            else f"{folder}/{segment_id}.mp4"
                        )
                        made.append(
                            Segment(
                                vendor=task.vendor,
                                app_id=task.app_id,
                                task_id=task.task_id,
                                segment_id=segment_id,
                                user_id=plan.user_id,
                                kind=plan.kind,
                                start_ms=s_begin,
                                duration_ms=s_end - s_begin,
                                replay_offset_ms=recorded_before + (s_begin - begin),
                                format=fmt,
                                path=path,
                                status="rendering" if persist else "recording",
                                file_id=_file_id(task.key, plan.user_id, plan.kind, fmt, s_begin),
                                interval_index=index,
                                slice_index=slice_index,
                            )
                        )
        if persist and made:
            existing.extend(made)
            self._save_segments(task.key)
            for segment in made:
                self._submit_render(segment)
        return made

    def _save_segments(self, key: str) -> None:
        self.store.put("segments", key, {"items": [s.to_dict() for s in self.segments.get(key, [])]})

    def _submit_render(self, segment: Segment) -> None:
        task = self.tasks.get(task_key(segment.vendor, segment.app_id, segment.task_id))
        room_id = task.room_id if task else "?"
        who = segment.user_id or segment.kind
        title = f"{who} · {segment.kind}"
        subtitle = (
            f"{segment.vendor} · room {room_id} · task {segment.task_id} · part {segment.interval_index + 1}"
        )
        target = self.media_dir / segment.path
        key = segment.key

        def render() -> int:
            from recordings.sandbox import media  # the media module renders; the core only schedules

            if segment.format == "hls":
                _, size = media.render_hls(
                    target.parent,
                    duration_ms=segment.duration_ms,
                    title=title,
                    subtitle=subtitle,
                    start_epoch_ms=segment.start_ms,
                )
            else:
                size = media.render_segment(
                    target,
                    duration_ms=segment.duration_ms,
                    title=title,
                    subtitle=subtitle,
                    start_epoch_ms=segment.start_ms,
                )
            return int(size)

        def done(future: concurrent.futures.Future[int]) -> None:
            if future.cancelled():
                return  # the sandbox is shutting down; a restart renders it again
            try:
                result: int | None = future.result()
            except Exception:
                log.exception("rendering %s failed", key)
                result = None
            with self._render_lock:
                self._rendered[key] = result

        future = self._render_pool.submit(render)
        self._render_futures[key] = future
        future.add_done_callback(done)

    def _renders_done(self, task: Task) -> bool:
        return all(
            self._render_futures.get(s.key) is None or self._render_futures[s.key].done()
            for s in self.segments.get(task.key, [])
        )

    def _collect_renders(self) -> None:
        with self._render_lock:
            results, self._rendered = self._rendered, {}
        touched: set[str] = set()
        for key, size in results.items():
            tkey, _, segment_id = key.rpartition("/")
            for segment in self.segments.get(tkey, []):
                if segment.segment_id == segment_id:
                    segment.status = "failed" if size is None else "ready"
                    segment.size = size or 0
                    touched.add(tkey)
            self._render_futures.pop(key, None)
        for tkey in touched:
            self._save_segments(tkey)

    # ==== callbacks ================================================================================
    def emit_callback(
        self,
        task: Task | None,
        event: str,
        payload: dict[str, Any],
        *,
        app: App | None = None,
        url: str = "",
        delay_ms: int = 0,
    ) -> CallbackRecord:
        """Queue a callback; the protocol's ``build_callback`` serializes and signs each attempt.

        Callback faults (drop / duplicate / reorder / delay) are applied here; retries follow the
        protocol's ``callback_policy``. ``url`` overrides the app's callback URL for this task.
        """
        vendor = task.vendor if task else app.vendor  # type: ignore[union-attr]
        app_id = task.app_id if task else app.app_id  # type: ignore[union-attr]
        faults = self.faults.rule(vendor, event).get("callbacks", {})
        due = self.now_ms() + delay_ms + int(faults.get("delay_ms") or 0)
        record = CallbackRecord(
            callback_id=self._next_counter(),
            vendor=vendor,
            app_id=app_id,
            task_id=task.task_id if task else "",
            event=event,
            payload=payload,
            created_ms=self.now_ms(),
            next_due_ms=due,
            url=url,
        )
        held_before = [
            c
            for c in self.callbacks.values()
            if c.status == "held"
            and c.vendor == vendor
            and c.app_id == app_id
            and c.task_id == record.task_id
        ]
        if self.faults.chance(faults.get("drop")):
            record.status = "dropped"
            self._save_callback(record)
            self._release_held(held_before, due)
            return record
        if self.faults.chance(faults.get("reorder")):
            record.status = "held"
            self._save_callback(record)
            hold = int(faults.get("reorder_hold_ms") or DEFAULT_REORDER_HOLD_MS)
            self._add_job(due + hold, {"kind": "release", "callback_id": record.callback_id})
        else:
            self._save_callback(record)
            self._add_job(due, {"kind": "callback", "callback_id": record.callback_id})
        if self.faults.chance(faults.get("duplicate")):
            twin = CallbackRecord.from_dict(
                {**record.to_dict(), "callback_id": self._next_counter(), "attempts": []}
            )
            twin.duplicate_of = record.callback_id
            twin.status = "pending"
            twin.next_due_ms = due
            self._save_callback(twin)
            self._add_job(twin.next_due_ms, {"kind": "callback", "callback_id": twin.callback_id})
        self._release_held(held_before, due)
        return record

    def _release_held(self, held: list[CallbackRecord], due: int) -> None:
        """A later callback of the same task has been queued: the held back ones follow it."""
        for record in held:
            record.status = "pending"
            record.next_due_ms = due  # same time, later job id: delivered right after the newer one
            self._save_callback(record)
            self._add_job(due, {"kind": "callback", "callback_id": record.callback_id})

    def callbacks_of(self, vendor: str, app_id: str, task_id: str) -> list[CallbackRecord]:
        return [
            c
            for c in sorted(self.callbacks.values(), key=lambda c: c.callback_id)
            if c.vendor == vendor and c.app_id == app_id and c.task_id == task_id
        ]

    def _save_callback(self, record: CallbackRecord) -> None:
        self.callbacks[record.callback_id] = record
        self.store.put("callback", str(record.callback_id), record.to_dict())

    def _prepare_delivery(self, callback_id: int) -> tuple[int, OutgoingCallback, float] | None:
        record = self.callbacks.get(callback_id)
        if record is None or record.status != "pending":
            return None
        app = self.app(record.vendor, record.app_id)
        url = record.url or (app.callback_url if app else "")
        if app is None or not url:
            record.status = "no_url"
            self._save_callback(record)
            return None
        protocol = self.protocols[record.vendor]
        return callback_id, protocol.build_callback(app, record, url), protocol.callback_policy.timeout_s

    @staticmethod
    def _send(outgoing: OutgoingCallback, timeout_s: float) -> tuple[int, bytes, str]:
        request = urllib.request.Request(  # noqa: S310 - the URL was provisioned by the test or demo
            outgoing.url, data=outgoing.body, headers=outgoing.headers, method=outgoing.method
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310 - URL set by the test or demo
                return response.status, response.read(65536), ""
        except urllib.error.HTTPError as error:
            return error.code, error.read(65536), ""
        except Exception as error:  # connection refused, timeout, bad URL: all a failed attempt
            return 0, b"", f"{type(error).__name__}: {error}"

    def _record_delivery(
        self, callback_id: int, outgoing: OutgoingCallback, result: tuple[int, bytes, str]
    ) -> None:
        record = self.callbacks.get(callback_id)
        if record is None:
            return
        status, body, error = result
        protocol = self.protocols[record.vendor]
        acknowledged = not error and protocol.callback_acknowledged(status, body)
        record.attempts.append(
            {
                "at_ms": self.now_ms(),
                "url": outgoing.url,
                "status": status,
                "response": body[:300].decode("utf-8", "replace"),
                "error": error,
                "acknowledged": acknowledged,
            }
        )
        delays = protocol.callback_policy.retry_delays_ms
        if acknowledged:
            record.status = "delivered"
        elif len(record.attempts) <= len(delays):
            record.next_due_ms = self.now_ms() + delays[len(record.attempts) - 1]
            self._add_job(record.next_due_ms, {"kind": "callback", "callback_id": callback_id})
        else:
            record.status = "failed"
        self._save_callback(record)

    # ==== timed work ===============================================================================
    def _next_counter(self) -> int:
        self._counter += 1
        self.store.set_meta("counter", str(self._counter))
        return self._counter

    def _add_job(self, due_ms: int, data: dict[str, Any]) -> None:
        job_id = self._next_counter()
        self.jobs[job_id] = (due_ms, data)
        self.store.add_job(job_id, due_ms, data)

    def run_due(self, until_ms: int | None = None) -> None:
        """Run every job due by ``until_ms`` (default: now) in (due, id) order.

        With a target (manual clock), the clock stands at each job's due time while it runs, so
        work a job schedules inside the window runs in the same call. Callback HTTP requests are
        sent without the core lock, so a receiver may call the sandbox back while handling them.
        """
        with self._runner_lock:
            while True:
                with self.lock:
                    target = self.now_ms() if until_ms is None else until_ms
                    due_jobs = [(due, job_id) for job_id, (due, _) in self.jobs.items() if due <= target]
                    if not due_jobs:
                        break
                    due, job_id = min(due_jobs)
                    _, data = self.jobs.pop(job_id)
                    self.store.remove_job(job_id)
                    if until_ms is not None:
                        self.clock.jump_to(due)
                    delivery = None
                    if data["kind"] == "callback":
                        delivery = self._prepare_delivery(data["callback_id"])
                    else:
                        self._run_job(data)
                if delivery is not None:
                    callback_id, outgoing, timeout_s = delivery
                    result = self._send(outgoing, timeout_s)
                    with self.lock:
                        self._record_delivery(callback_id, outgoing, result)
            if until_ms is not None:
                self.clock.jump_to(until_ms)

    def _run_job(self, data: dict[str, Any]) -> None:
        kind = data["kind"]
        task = self.tasks.get(data.get("task") or "")
        if kind == "transition" and task:
            self._apply(task, data["transition"])
        elif kind == "finish" and task:
            self._finish(task)
        elif kind == "idle" and task:
            self._run_idle(task, bool(data.get("forced")))
        elif kind == "release":
            record = self.callbacks.get(data["callback_id"])
            if record is not None and record.status == "held":
                record.status = "pending"
                self._save_callback(record)
                self._add_job(self.now_ms(), {"kind": "callback", "callback_id": record.callback_id})
        elif kind == "timer":
            protocol = self.protocols.get(data["vendor"])
            if protocol is not None:
                protocol.on_timer(task, data["name"], data.get("payload") or {})

    # ==== HTTP dispatch with request faults ========================================================
    def dispatch(self, vendor: str, request: Request) -> Response | None:
        """Answer a vendor request, or None to hang up without answering (the "timeout" fault)."""
        protocol = self.protocols[vendor]
        action = protocol.action_of(request)
        with self.lock:
            rule = self.faults.rule(vendor, action)
            now = self.now_ms()
            outage = bool(rule.get("outage_until_ms")) and now < int(rule["outage_until_ms"])
            hang = self.faults.chance(rule.get("timeout"))
            inject = self.faults.chance(rule.get("error_rate"))
            lose = self.faults.chance(rule.get("lose_answer"))
            garble = self.faults.chance(rule.get("malformed"))
        if outage:
            response = protocol.outage_response(action)
        else:
            if rule.get("latency_ms"):
                time.sleep(int(rule["latency_ms"]) / 1000)
            if hang:
                time.sleep(int(rule.get("timeout_ms") or DEFAULT_TIMEOUT_FAULT_MS) / 1000)
                self._log_request(vendor, action, request, None, "timeout")
                return None
            if inject:
                response = protocol.fault_response(action, rule.get("error_code"))
            else:
                with self.lock:
                    response = protocol.handle(request)
                if lose:
                    time.sleep(int(rule.get("timeout_ms") or DEFAULT_TIMEOUT_FAULT_MS) / 1000)
                    self._log_request(vendor, action, request, None, "answer lost")
                    return None
                if garble:
                    response = Response(
                        status=200,
                        body=b"<html>upstream gateway error</html>",
                        headers={"Content-Type": "text/html"},
                    )
        self._log_request(
            vendor, action, request, response, "outage" if outage else ("injected" if inject else "")
        )
        return response

    def _log_request(
        self, vendor: str, action: str, request: Request, response: Response | None, fault: str
    ) -> None:
        self.requests.append(
            {
                "vendor": vendor,
                "action": action,
                "method": request.method,
                "path": request.path,
                "status": response.status if response else None,
                "fault": fault,
                "at_ms": self.now_ms(),
            }
        )

    # ==== the truth, for tests =====================================================================
    def truth(self, task: Task) -> dict[str, Any]:
        segments = self.segments_of(task)
        return {
            **task.to_dict(),
            "logical_state": task.logical_state,
            "vendor_state": self.protocols[task.vendor].vendor_state(task),
            "recorded_ms": task.recorded_ms,
            "segments": [{**s.to_dict(), "url": self.media_url(s)} for s in segments],
            "callbacks": [c.to_dict() for c in self.callbacks_of(task.vendor, task.app_id, task.task_id)],
        }


def _app_key(vendor: str, app_id: str) -> str:
    return f"{vendor}/{app_id}"


def _room_key(vendor: str, app_id: str, room_id: str) -> str:
    return f"{vendor}/{app_id}/{room_id}"


def _file_id(*identity: object) -> str:
    """A 19-digit file id fixed by what the file is (its task, lane, format and start), as a vendor
    keeps one id for a file from the first listing while it is written to the last after upload."""
    digest = hashlib.sha256("/".join(map(str, identity)).encode()).digest()
    return f"{int.from_bytes(digest[:8]) % 10**19:019d}"


def _slices(begin: int, end: int, slice_ms: int | None) -> list[tuple[int, int]]:
    if not slice_ms:
        return [(begin, end)]
    out = []
    cursor = begin
    while cursor < end:
        out.append((cursor, min(end, cursor + slice_ms)))
        cursor += slice_ms
    return out
