"""The app page's "Check connection" and "Register callback" against the sandbox vendors over HTTP."""

from __future__ import annotations

import pytest
from django.urls import reverse

from recordings.models import AuditEvent, Credential, VendorCall
from tests import factories

pytestmark = pytest.mark.integration

VENDORS = ["tencent_tiw", "tencent_tic", "agora", "zego", "volcengine"]
# The credential that proves who we are, per vendor: spoil it and the vendor must refuse.
SIGNING_SECRET = {
    "tencent_tiw": "secret_key",
    "tencent_tic": "tic_key",
    "agora": "customer_secret",
    "zego": "server_secret",
    "volcengine": "secret_access_key",
}


@pytest.fixture
def admin_client(client, transactional_db):
    client.force_login(factories.user("root", "Admin"))
    return client


@pytest.mark.parametrize("vendor", VENDORS)
def test_check_connection_reports_success_with_good_credentials(stack, admin_client, vendor):
    app, _ = stack.app(vendor)
    response = admin_client.post(reverse("app_check", args=[app.pk]))
    page = response.content.decode()
    assert response.status_code == 200
    assert "result-ok" in page, page
    assert VendorCall.objects.filter(app=app).exists()
    assert AuditEvent.objects.filter(app=app, action="app.check_connection", detail="ok").exists()


@pytest.mark.parametrize("vendor", VENDORS)
def test_check_connection_explains_a_refusal_with_wrong_credentials(stack, admin_client, vendor):
    app, _ = stack.app(vendor)
    Credential.objects.filter(app=app, name=SIGNING_SECRET[vendor]).update(value="definitely-wrong")
    response = admin_client.post(reverse("app_check", args=[app.pk]))
    page = response.content.decode()
    assert response.status_code == 200
    assert "result-ok" not in page
    assert "The vendor refused." in page
    assert "Vendor code" in page  # the raw code is shown beside the explanation


@pytest.mark.parametrize("vendor", ["tencent_tiw", "tencent_tic"])
def test_register_callback_tells_tencent_our_address(stack, admin_client, vendor):
    app, _ = stack.app(vendor)
    stack.sandbox.provision(vendor, app.app_id, app.secrets(), "")  # the vendor knows no address yet
    response = admin_client.post(reverse("app_register_callback", args=[app.pk]))
    assert "result-ok" in response.content.decode(), response.content.decode()
    provisioned = next(
        a for a in stack.sandbox.control("GET", "/control/apps")["apps"] if a["app_id"] == app.app_id
    )
    assert provisioned["callback_url"] == app.callback_url
