"""Vendor key → adapter class, as a literal dict, and the factory that builds an adapter for an app."""

from __future__ import annotations

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


def build_adapter(app, *, task=None, http: VendorHttp | None = None) -> VendorAdapter:
    """An adapter for `app` whose every call leaves a VendorCall row (linked to `task` if given)."""
    config = app_config(app)
    if http is None:
        http = VendorHttp.for_base_url(config.base_url, recorder=call_recorder(app, task))
    return adapter_class(app.vendor)(config, http)


def call_recorder(app, task=None) -> Recorder:
    from recordings.models import VendorCall

    def record(call) -> None:
        VendorCall.objects.create(
            app=app,
            task=task,
            action=call.action,
            request_id=call.request_id,
            http_status=call.http_status,
            vendor_code=call.vendor_code,
            vendor_message=call.vendor_message,
            error_kind=call.error_kind,
            latency_ms=call.latency_ms,
        )

    return record
