"""Vendor callbacks: one receiver per vendor on a shared base, at /hooks/<vendor>/<app public id>/.

The receiver verifies the signature over the raw bytes (the adapter does it, with a constant-time
compare and the vendor's expiry check), stores each event in the inbox under its unique delivery
key, answers exactly what the vendor expects, and leaves applying the event to a Celery task (handed
over in batches by inbox_relay.py), so the answer is fast whatever the database is doing with the
recording.
"""

from __future__ import annotations

import logging
import time
from functools import partial

from django.db import transaction
from django.http import HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from recordings import inbox_relay, lifecycle
from recordings.choices import Vendor
from recordings.models import VendorApp
from recordings.vendors.base import CallbackRejected
from recordings.vendors.registry import build_adapter

log = logging.getLogger(__name__)

# Headers worth keeping with a delivery (for replay and diagnosis); nothing else is stored.
KEPT_HEADERS = ("content-type", "user-agent", "agora-signature", "agora-signature-v2", "x-request-id")
# Recording callbacks are small JSON documents (a long file list is tens of KB); anything far larger
# is refused before it is read, so a flood of big bodies cannot fill memory or the inbox.
MAX_CALLBACK_BYTES = 512 * 1024
APP_CACHE_SECONDS = 10.0


class CallbackReceiver:
    """The shared receive path. A vendor that needs something different subclasses it."""

    def __init__(self, vendor: str) -> None:
        self.vendor = vendor
        self._apps: dict[str, tuple[float, VendorApp, object]] = {}

    def _app_and_adapter(self, public_id: str):
        """The app and its adapter, kept for a few seconds: a busy app's callbacks then skip the
        lookup and the decryption of its secrets (bench/webhooks.py). A changed secret or a disabled
        app takes effect within APP_CACHE_SECONDS. (None, None) for an app that does not exist."""
        now = time.monotonic()
        cached = self._apps.get(public_id)
        if cached and cached[0] > now:
            return cached[1], cached[2]
        try:
            app = VendorApp.objects.get(vendor=self.vendor, public_id=public_id)
        except VendorApp.DoesNotExist:
            return None, None
        adapter = build_adapter(app)
        self._apps[public_id] = (now + APP_CACHE_SECONDS, app, adapter)
        return app, adapter

    def __call__(self, request, public_id: str):
        app, adapter = self._app_and_adapter(public_id)
        if app is None:
            return JsonResponse({"error": "unknown_app"}, status=404)
        declared = request.META.get("CONTENT_LENGTH") or "0"
        if not declared.isdigit() or int(declared) > MAX_CALLBACK_BYTES:
            log.warning("refused %s callback for app %s: body of %s bytes", self.vendor, app.pk, declared)
            return JsonResponse({"error": "body_too_large", "limit": MAX_CALLBACK_BYTES}, status=413)
        body = request.body
        headers = {k.lower(): v for k, v in request.headers.items()}
        query = request.GET.dict()
        kept = {k: v for k, v in headers.items() if k in KEPT_HEADERS}
        store = partial(
            lifecycle.record_delivery,
            app=app,
            vendor=self.vendor,
            body=body,
            headers=kept,
            query=_scrub(query),
        )
        try:
            adapter.verify(body, headers, query, timezone.now())
        except CallbackRejected as exc:
            log.warning(
                "rejected %s callback for app %s from %s: %s",
                self.vendor,
                app.pk,
                request.META.get("REMOTE_ADDR"),
                exc.reason,
            )
            store(event=None, signature_ok=False, rejection=exc.reason)
            return JsonResponse({"error": "invalid_signature", "detail": exc.reason}, status=401)
        try:
            events = adapter.parse(body, headers, query)
        except (CallbackRejected, ValueError, KeyError, TypeError) as exc:
            log.warning("authentic %s callback for app %s did not parse: %s", self.vendor, app.pk, exc)
            store(event=None, signature_ok=True, rejection=f"unparseable: {exc}")
            return self._ack(adapter)
        if not events:
            log.info("authentic %s callback for app %s carries no event we handle", self.vendor, app.pk)
            store(event=None, signature_ok=True, rejection="no event we handle")
        for event in events:
            delivery = store(event=event, signature_ok=True)
            if delivery is None:
                log.info("duplicate %s callback %s ignored", self.vendor, event.delivery_key)
                continue
            transaction.on_commit(partial(inbox_relay.submit, delivery.pk))
        return self._ack(adapter)

    @staticmethod
    def _ack(adapter) -> HttpResponse:
        ack = adapter.ack()
        return HttpResponse(ack.body, status=ack.status, content_type=ack.content_type)


def _scrub(query: dict) -> dict:
    """Signatures in a callback's query string are not kept: they prove nothing once checked."""
    return {k: ("…" if k.lower() in {"sign", "signature"} else v) for k, v in query.items()}


# One receiver per vendor; each is the shared path today.
RECEIVERS = {vendor: CallbackReceiver(vendor) for vendor in Vendor.values}


@csrf_exempt
@require_POST
def receive(request, vendor: str, public_id: str):
    if vendor not in RECEIVERS:
        return JsonResponse({"error": "unknown_vendor"}, status=404)
    return RECEIVERS[vendor](request, public_id=public_id)
