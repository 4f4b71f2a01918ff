"""Vendor key → adapter class, as a literal dict, and the factory that builds an adapter for an app."""

from __future__ import annotations

import threading
import time

from recordings.vendors.agora import AgoraAdapter
from recordings.vendors.base import AppConfig, VendorAdapter
from recordings.vendors.http import Recorder, VendorHttp
from recordings.vendors.tencent_tic import TencentTicAdapter
from recordings.vendors.tencent_tiw import TencentTiwAdapter
from recordings.vendors.volcengine import VolcengineAdapter
from recordings.vendors.zego import ZegoAdapter

ADAPTERS: dict[str, type[VendorAdapter]] = {
    "tencent_tiw": TencentTiwAdapter,
    "tencent_tic": TencentTicAdapter,
    "agora": AgoraAdapter,
    "zego": ZegoAdapter,
    "volcengine": VolcengineAdapter,
}


def adapter_class(vendor: str) -> type[VendorAdapter]:
    try:
        return ADAPTERS[vendor]
    except KeyError:
        raise LookupError(f"no adapter for vendor {vendor!r}; known: {', '.join(ADAPTERS)}") from None


def app_config(app) -> AppConfig:
    """The adapter's view of a VendorApp row (decrypts its credentials)."""
    cls = adapter_class(app.vendor)
    return AppConfig(
        vendor=app.vendor,
        app_id=app.app_id,
        base_url=(app.api_base_url or cls.default_base_url).rstrip("/"),
        region=app.region,
        secrets=app.secrets(),
        max_duration_seconds=app.max_duration_seconds,
        idle_stop_seconds=app.idle_stop_seconds,
    )


# app pk -> (monotonic expiry, config); see cached_app_config.
_configs: dict[int, tuple[float, AppConfig]] = {}
_configs_lock = threading.Lock()


def cached_app_config(app, max_age: float = 10.0) -> AppConfig:
    """`app_config`, kept per app for `max_age` seconds in this process: a reconciler pass queries
    thousands of tasks of a handful of apps, and each fresh config costs a credentials query and a
    decryption per secret (bench/reconcile.py). A changed secret takes effect within `max_age`."""
    now = time.monotonic()
    with _configs_lock:
        cached = _configs.get(app.pk)
    if cached and cached[0] > now:
        return cached[1]
    config = app_config(app)
    with _configs_lock:
        _configs[app.pk] = (now + max_age, config)
    return config


def build_adapter(
    app, *, task=None, http: VendorHttp | None = None, config: AppConfig | None = None, calls=None
) -> VendorAdapter:
    """An adapter for `app` whose every call leaves a VendorCall row (linked to `task` if given).
    `config` (from `cached_app_config`) skips reading and decrypting the app's credentials. With
    `calls` (a list), the rows are appended to it unsaved, for the caller to save in one INSERT."""
    config = config or app_config(app)
    if http is None:
        http = VendorHttp.for_base_url(config.base_url, recorder=call_recorder(app, task, into=calls))
    return adapter_class(app.vendor)(config, http)


def call_recorder(app, task=None, into: list | None = None) -> Recorder:
    from recordings.models import VendorCall

    # By id: a row needs only the keys, and assigning the related objects costs more per row.
    app_id, task_id = app.pk, task.pk if task is not None else None

    def record(call) -> None:
        row = VendorCall(
            app_id=app_id,
            task_id=task_id,
            action=call.action,
            request_id=call.request_id,
            http_status=call.http_status,
            vendor_code=call.vendor_code,
            vendor_message=call.vendor_message,
            error_kind=call.error_kind,
            latency_ms=call.latency_ms,
        )
        if into is None:
            row.save()
        else:
            into.append(row)

    return record
