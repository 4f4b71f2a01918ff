"""RecDesk's side of the sandbox's control API: hand it a demo app's secrets and callback URL.

This is how a vendor's console would be filled in by hand; the sandbox stands in for the console.
"""

from __future__ import annotations

from django.conf import settings

from recordings.vendors.http import make_client


class SandboxUnavailable(Exception):
    pass


def control_url() -> str:
    return f"http://{settings.RECDESK_SANDBOX_HOST}:{settings.RECDESK_SANDBOX_BASE_PORT}"


def provision_app(app) -> None:
    import httpx

    payload = {
        "vendor": app.vendor,
        "app_id": app.app_id,
        "secrets": app.secrets(),
        "callback_url": app.callback_url,
    }
    try:
        with make_client(control_url()) as client:
            response = client.post("/control/apps", json=payload)
    except httpx.TransportError as exc:
        raise SandboxUnavailable(
            f"cannot reach the sandbox at {control_url()}: {type(exc).__name__}"
        ) from exc
    if response.status_code >= 400:
        raise SandboxUnavailable(
            f"the sandbox refused app {app.name}: HTTP {response.status_code} {response.text[:200]}"
        )
