"""What every benchmark shares: its own database, Django in this process, and the processes it starts
(gunicorn, the sandbox, a Celery worker) on free ports, each stopped again by the benchmark itself.

The machine is shared and noisy, so each figure is a ratio against a baseline measured in the same
run; absolute times are printed beside it.
"""

from __future__ import annotations

import gc
import os
import random
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
PY = sys.executable
RUN_DIR = ROOT / "var" / "bench"
VENDOR_OFFSETS = {"tencent_tiw": 1, "tencent_tic": 2, "agora": 3, "zego": 4, "volcengine": 5}
VENDORS = tuple(VENDOR_OFFSETS)

# Credential names per vendor (the adapters' credential_fields).
SECRET_NAMES = {
    "tencent_tiw": ("secret_id", "secret_key", "usersig_key", "callback_key"),
    "tencent_tic": ("tic_key", "usersig_key"),
    "agora": ("customer_id", "customer_secret", "ncs_secret"),
    "zego": ("server_secret", "callback_secret"),
    "volcengine": ("access_key_id", "secret_access_key", "callback_secret"),
}


# ---------------------------------------------------------------- results


@dataclass
class Row:
    """One line of the table: a measured value, its same-run baseline, and the goal it is held to."""

    metric: str
    value: float | None
    unit: str = ""
    baseline: float | None = None
    goal: str = ""
    passed: bool | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.value is None or not self.baseline:
            return None
        return self.value / self.baseline


@dataclass
class Result:
    name: str
    rows: list[Row] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)

    def add(self, *args, **kwargs) -> Row:
        row = Row(*args, **kwargs)
        self.rows.append(row)
        return row


def _fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "—"
    if isinstance(value, int) or float(value).is_integer() and abs(value) >= 10:
        text = f"{int(value):,}"
    elif abs(value) >= 100:
        text = f"{value:,.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.2f}"
    return f"{text} {unit}".strip()


def table(results: list[Result]) -> str:
    lines = [
        "| benchmark | metric | value | baseline | ratio | goal | result |",
        "|---|---|---|---|---|---|---|",
    ]
    for result in results:
        for row in result.rows:
            verdict = {True: "pass", False: "**FAIL**", None: "info"}[row.passed]
            ratio = f"{row.ratio:.2f}×" if row.ratio is not None else "—"
            metric = row.metric + (f" ({row.note})" if row.note else "")
            lines.append(
                f"| {result.name} | {metric} | {_fmt(row.value, row.unit)} | "
                f"{_fmt(row.baseline, row.unit)} | {ratio} | {row.goal} | {verdict} |"
            )
    return "\n".join(lines)


def print_result(result: Result) -> None:
    print(table([result]))
    for line in result.extra:
        print(line)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, int(round(q / 100 * (len(ordered) - 1)))))
    return ordered[index]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


# ---------------------------------------------------------------- environment and database


def bench_database_url() -> str:
    """The benchmark's own database: DATABASE_URL's server, with a name ending in `_bench`."""
    base = os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/recdesk"
    parts = urlsplit(base)
    if not parts.scheme.startswith("postgres"):
        raise SystemExit(f"the benchmarks need PostgreSQL; DATABASE_URL is {base!r}")
    name = parts.path.lstrip("/") or "recdesk"
    if not name.endswith("_bench"):
        name += "_bench"
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, "", ""))


def broker_url() -> str:
    return os.environ.get("CELERY_BROKER_URL") or "redis://127.0.0.1:6379/9"


_QUEUE = f"recdesk-bench-{uuid.uuid4().hex[:8]}"
_ENV: dict[str, str] = {}


def child_env(**extra: str) -> dict[str, str]:
    """The environment of every process a benchmark starts (and of Django in this process)."""
    if not _ENV:
        from cryptography.fernet import Fernet

        _ENV.update(
            DATABASE_URL=bench_database_url(),
            CELERY_BROKER_URL=broker_url(),
            CELERY_QUEUE=_QUEUE,
            DJANGO_SETTINGS_MODULE="bench.settings",
            DJANGO_DEBUG="false",
            # Persistent database connections, as a production deployment runs (settings.py's
            # production default); without them every request pays a PostgreSQL connect.
            DB_CONN_MAX_AGE="60",
            SECRET_KEY=os.environ.get("BENCH_SECRET_KEY") or secrets.token_urlsafe(40),
            RECDESK_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
            PYTHONUNBUFFERED="1",
            PYTHONPATH=str(ROOT),
        )
    env = {**os.environ, **_ENV}
    env.update(extra)
    return env


_DB_READY = False


def setup_django(fresh_db: bool = True) -> None:
    """Create (or recreate) the benchmark database, migrate it, and set Django up in this process."""
    global _DB_READY
    env = child_env()
    os.environ.update({k: env[k] for k in _ENV})
    if not _DB_READY:
        if fresh_db:
            _recreate_database(env["DATABASE_URL"])
            subprocess.run(
                [PY, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True
            )
        _DB_READY = True
    import logging

    import django

    django.setup()
    # Per-request INFO lines (logins, callbacks) would drown the table.
    logging.disable(logging.INFO)


def _recreate_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit((parts.scheme, parts.netloc, "/postgres", "", ""))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def reset_tables() -> None:
    """Empty the domain tables between benchmarks run in one process (users and groups stay)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE recordings_segment, recordings_callbackdelivery, recordings_vendorcall, "
            "recordings_auditevent, recordings_vendorcommand, recordings_recordingtask, "
            "recordings_room_teachers, recordings_room, recordings_credential, recordings_vendorapp, "
            "recordings_storagetarget RESTART IDENTITY CASCADE"
        )


def staff_user(username: str = "bench-admin"):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from dashboard.roles import ADMIN, ALL_ROLES

    for name in ALL_ROLES:
        Group.objects.get_or_create(name=name)
    user, created = get_user_model().objects.get_or_create(username=username)
    if created:
        user.set_password("bench-" + secrets.token_hex(8))
        user.save()
        user.groups.set(Group.objects.filter(name=ADMIN))
    return user


# ---------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def free_port_run(span: int = 6) -> int:
    """A base port whose next `span` ports are free, below Linux's ephemeral range (32768+), where
    the load generator's outgoing connections would race for them."""
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


def run_dir(name: str) -> Path:
    path = RUN_DIR / name
    path.mkdir(parents=True, exist_ok=True)
    return path


class Process:
    """A child process with its own log file, stopped by `stop()` (SIGTERM, then SIGKILL)."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], workdir: Path) -> None:
        self.name = name
        self.log_path = workdir / f"{name}.log"
        self.log_path.write_bytes(b"")
        log = open(self.log_path, "ab")  # noqa: SIM115 - lives as long as the process
        self.popen = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_until(self, ready: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.log()[-3000:]}")
            try:
                if ready():
                    return
            except (httpx.TransportError, OSError):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name}: {what} not ready in {timeout:.0f} s:\n{self.log()[-3000:]}")

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


@contextmanager
def frozen_heap() -> Iterator[None]:
    """While timing a loop in this process: what exists now is frozen out of the garbage collector, so
    the loop's collections scan only its own objects. Otherwise a full collection of the heap held by
    Django and by the benchmarks run before (`make bench`) pauses the loop for 30-100 ms at a time."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    try:
        return [int(p) for p in path.read_text().split()]
    except OSError:
        return []


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants (a prefork worker's pool processes, an embedded beat)."""
    tree = [pid]
    for parent in tree:
        try:
            for task in Path(f"/proc/{parent}/task").iterdir():
                tree += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue
    return tree


def peak_rss_mb(pid: int) -> float | None:
    """VmHWM: the most resident memory the process has had, in MB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def cpu_seconds(pids) -> dict[int, float]:
    """User and system CPU time each of the processes `pids` has used so far, in seconds; one that has
    ended is left out (its time leaves /proc with it)."""
    used = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        used[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime
    return used


def cpu_seconds_between(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU time used between two `cpu_seconds` readings. A process that ended in between (a database
    connection closed at its CONN_MAX_AGE) counts nothing: its last reading is gone with it."""
    return sum(used - before.get(pid, 0.0) for pid, used in after.items())


def machine_busy_seconds() -> float:
    """CPU time all the machine's cores have spent busy so far (/proc/stat), in seconds."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(
        int, Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]
    )
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


class Gunicorn(Process):
    def __init__(self, workdir: Path, *, workers: int = 1, extra_env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        argv = [
            PY, "-m", "gunicorn", "dashboard.wsgi:application",
            "--bind", f"127.0.0.1:{self.port}",
            "--workers", str(workers),
            "--worker-class", "sync",
            "--backlog", "2048",
            "--timeout", "120",
            "--log-level", "warning",
        ]  # fmt: skip
        super().__init__("gunicorn", argv, child_env(**(extra_env or {})), workdir)
        self.wait_until(lambda: httpx.get(self.url("/login/"), timeout=2).status_code == 200, 60, "gunicorn")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def worker_pids(self) -> list[int]:
        return children(self.pid)


class Sandbox(Process):
    def __init__(
        self, workdir: Path, *, manual_clock: bool = True, render_workers: int | None = None
    ) -> None:
        self.base_port = free_port_run()
        argv = [
            PY, "manage.py", "sandbox", "--host", "127.0.0.1", "--base-port", str(self.base_port),
            "--state", str(workdir / "sandbox-state.sqlite3"), "--media-dir", str(workdir / "media"),
        ]  # fmt: skip
        if manual_clock:
            argv.append("--manual-clock")
        for stale in workdir.glob("sandbox-state.sqlite3*"):
            stale.unlink()
        super().__init__("sandbox", argv, child_env(DJANGO_SETTINGS_MODULE="dashboard.settings"), workdir)
        self.client = httpx.Client(timeout=600)
        self.wait_until(
            lambda: self.client.get(self.control_url("/control/health")).status_code == 200, 60, "sandbox"
        )

    def control_url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.base_port}{path}"

    def base_url(self, vendor: str) -> str:
        return f"http://127.0.0.1:{self.base_port + VENDOR_OFFSETS[vendor]}"

    def control(self, method: str, path: str, json=None):
        response = self.client.request(method, self.control_url(path), json=json)
        if response.status_code >= 400:
            raise RuntimeError(f"sandbox {method} {path}: HTTP {response.status_code} {response.text[:500]}")
        return response.json()

    def advance(self, ms: int) -> None:
        self.control("POST", "/control/clock", {"advance_ms": int(ms)})

    def stop(self) -> None:
        self.client.close()
        super().stop()


class Worker(Process):
    """`celery worker` (threads pool unless told) on the benchmark's own queue; with `beat` when asked."""

    def __init__(
        self,
        workdir: Path,
        *,
        concurrency: int = 8,
        pool: str = "threads",
        beat: bool = False,
        loglevel: str = "WARNING",
        **env: str,
    ) -> None:
        argv = [
            PY, "-m", "celery", "-A", "dashboard", "worker", "--loglevel", loglevel,
            "--pool", pool, "--concurrency", str(concurrency), "--queues", _QUEUE,
            "--without-mingle", "--without-gossip", "--without-heartbeat",
        ]  # fmt: skip
        if beat:
            argv += ["--beat", "--schedule", str(workdir / "beat-schedule")]
        super().__init__("worker", argv, child_env(**env), workdir)
        self.wait_until(lambda: "ready" in self.log() or self._ping(), 90, "celery worker")

    def task_runtimes(self) -> dict[str, list[float]]:
        """Seconds per item of work, by task name, from the worker's INFO log ("... succeeded in
        0.05s: 3"). A batch task's time is shared by the items its result counts (an int, or the
        sum of a dict of counts)."""
        import re

        runtimes: dict[str, list[float]] = {}
        pattern = r"Task ([\w.]+)\[[^\]]+\] succeeded in ([\d.]+)s: ([^\n]*)"
        for name, seconds, result in re.findall(pattern, self.log()):
            counts = [int(n) for n in re.findall(r"(?:^|: )(\d+)(?=[,}]|$)", result.strip())]
            items = sum(counts) if counts else 1
            runtimes.setdefault(name, []).append(float(seconds) / max(items, 1))
        return runtimes

    def _ping(self) -> bool:
        from dashboard.celery import app

        replies = app.control.ping(timeout=0.5)
        return bool(replies)


def purge_queue() -> None:
    from dashboard.celery import app

    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge(_QUEUE)


def provision_app(sandbox: Sandbox, vendor: str, callback_base: str, **fields):
    """A VendorApp on the sandbox with fresh secrets, provisioned there with its callback URL."""
    from recordings.models import Credential, StorageTarget, VendorApp

    values = {name: secrets.token_hex(16) for name in SECRET_NAMES[vendor]}
    if vendor == "tencent_tic":
        values["tic_key"] = values["tic_key"].upper()
    n = VendorApp.objects.count() + 1
    app_id = str(1400000000 + n) if vendor in ("tencent_tiw", "tencent_tic", "zego") else f"app{n}"
    if vendor in ("agora", "zego", "volcengine") and "default_storage" not in fields:
        # Volcengine names no custom S3 endpoint: an Amazon S3 target stands for the sandbox bucket.
        provider = "s3" if vendor == "volcengine" else "s3_compatible"
        fields["default_storage"] = StorageTarget.objects.get_or_create(
            name=f"sandbox bucket ({provider})",
            defaults={
                "provider": provider,
                "bucket": "recordings",
                "region": "us-east-1",
                "endpoint": sandbox.control_url("/media"),
                "access_key": "sandbox",
                "secret": "sandbox",
            },
        )[0]
    app = VendorApp.objects.create(
        vendor=vendor,
        name=f"bench {vendor} {n}",
        app_id=app_id,
        api_base_url=sandbox.base_url(vendor),
        **fields,
    )
    for name, value in values.items():
        Credential.objects.create(app=app, name=name, value=value)
    sandbox.control(
        "POST",
        "/control/apps",
        {
            "vendor": vendor,
            "app_id": app.app_id,
            "secrets": values,
            "callback_url": callback_base + app.callback_path if callback_base else "",
        },
    )
    return app


def machine() -> str:
    import platform

    return f"{platform.platform()}, {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
