"""The callback inbox's INSERT (prepared_insert.py) and the WSGI entry point's short middleware chain
for callbacks (dashboard/callback_handler.py), on PostgreSQL."""

from __future__ import annotations

import hashlib
import io
import json
import sys
import time
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from dashboard.callback_handler import CALLBACK_PREFIX
from recordings import inbox_relay, lifecycle
from recordings.models import CallbackDelivery
from recordings.vendors.base import EventKind, VendorEvent
from tests import factories

WHEN = datetime(2026, 1, 1, 8, 0, tzinfo=UTC)


def _event(task_id: str = "T1", kind: str = "OnlineRecordStarted") -> VendorEvent:
    return VendorEvent(
        delivery_key=f"{task_id}:{kind}",
        kind=EventKind.STARTED,
        vendor_event=kind,
        task_id=task_id,
        occurred_at=WHEN,
    )


def _store(app, event, **extra):
    fields = dict(
        app=app,
        vendor=app.vendor,
        body=b'{"EventType":"OnlineRecordStarted"}\x00\xff',
        headers={"content-type": "application/json", "user-agent": "vendor/1.0"},
        query={"sign": "…"},
        event=event,
        signature_ok=True,
    )
    fields.update(extra)
    return lifecycle.record_delivery(**fields)


@pytest.mark.django_db
def test_a_delivery_is_stored_with_every_field_and_its_key_only_once():
    app = factories.app("tencent_tiw")
    first = _store(app, _event())
    assert first is not None and first.pk
    stored = CallbackDelivery.objects.get(pk=first.pk)
    assert bytes(stored.raw_body) == b'{"EventType":"OnlineRecordStarted"}\x00\xff'
    assert stored.headers == {"content-type": "application/json", "user-agent": "vendor/1.0"}
    assert stored.query == {"sign": "…"}
    assert (stored.app_id, stored.vendor, stored.signature_ok) == (app.pk, "tencent_tiw", True)
    assert (stored.delivery_key, stored.event_type, stored.vendor_task_id) == (
        "T1:OnlineRecordStarted",
        "OnlineRecordStarted",
        "T1",
    )
    assert stored.event_time == WHEN and stored.received_at is not None
    assert stored.outcome == "pending" and stored.task_id is None

    # The same event again (a vendor's retry): nothing stored, and the transaction this test runs
    # in is still usable (no error, so no savepoint is needed).
    assert _store(app, _event()) is None
    assert CallbackDelivery.objects.filter(app=app).count() == 1
    # Another vendor may use the same key.
    other = factories.app("agora")
    assert _store(other, _event()) is not None


@pytest.mark.django_db
def test_rejected_and_ignored_callbacks_are_stored_every_time_without_a_key():
    app = factories.app("tencent_tiw")
    for _ in range(2):
        forged = _store(app, None, signature_ok=False, rejection="Sign does not match")
        assert forged is not None
    ignored = _store(app, None, rejection="no event we handle")
    rows = CallbackDelivery.objects.filter(app=app).order_by("pk")
    assert [(r.outcome, r.delivery_key, r.signature_ok) for r in rows] == [
        ("rejected", None, False),
        ("rejected", None, False),
        ("ignored", None, True),
    ]
    assert rows[0].rejection_reason == "Sign does not match" and rows[2].pk == ignored.pk


@pytest.mark.django_db
def test_the_insert_is_one_logged_query_and_postgresql_prepares_it():
    app = factories.app("tencent_tiw")
    with CaptureQueriesContext(connection) as queries:
        _store(app, _event("logged"))
    assert len(queries) == 1 and queries[0]["sql"].startswith('INSERT INTO "recordings_callbackdelivery"')
    for n in range(6):  # psycopg prepares a statement on its fifth run on a connection
        _store(app, _event(f"T{n}"))
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]
    assert any(s.startswith('INSERT INTO "recordings_callbackdelivery"') for s in prepared)


# ---------------------------------------------------------------- the WSGI entry point


def _tiw_body(app, *, key: str = "cb-test") -> bytes:
    expire = int(time.time()) + 600
    return json.dumps(
        {
            "Timestamp": int(time.time()),
            "SdkAppId": int(app.app_id),
            "ExpireTime": expire,
            "Sign": hashlib.md5(f"{key}{expire}".encode()).hexdigest(),  # noqa: S324 - Tencent's scheme
            "EventType": "OnlineRecordStarted",
            "EventData": {"TaskId": "wsgi-task", "RoomId": 1, "RecordUserId": "tic_record_user_1_1"},
        }
    ).encode()


def _call(path: str, body: bytes = b"", *, method: str = "POST", host: str = "testserver"):
    """One request through dashboard.wsgi.application, as gunicorn makes it."""
    from dashboard.wsgi import application

    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": host,
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.url_scheme": "http",
        "wsgi.version": (1, 0),
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    answer = {}

    def start_response(status, headers, exc_info=None):
        answer["status"] = int(status.split()[0])
        answer["headers"] = {k.lower(): v for k, v in headers}

    response = application(environ, start_response)
    try:
        answer["body"] = b"".join(response)
    finally:
        response.close()
    return answer


@pytest.fixture
def handed_over(monkeypatch):
    """The ids the receiver hands to the relay (the broker is another process)."""
    ids: list[int] = []
    monkeypatch.setattr(inbox_relay, "submit", ids.append)
    return ids


@pytest.mark.django_db(transaction=True)
def test_a_callback_through_the_wsgi_entry_point_is_stored_and_acknowledged(handed_over):
    app = factories.app("tencent_tiw")
    assert app.callback_path.startswith(CALLBACK_PREFIX)
    answer = _call(app.callback_path, _tiw_body(app))
    assert answer["status"] == 200 and json.loads(answer["body"]) == {"error_code": 0}
    stored = CallbackDelivery.objects.get(app=app)
    assert stored.signature_ok and stored.vendor_task_id == "wsgi-task"
    assert handed_over == [stored.pk]
    # The short chain: SecurityMiddleware's headers, none of the session, locale or frame headers.
    assert answer["headers"]["x-content-type-options"] == "nosniff"
    assert "x-frame-options" not in answer["headers"]
    assert "vary" not in answer["headers"] and "set-cookie" not in answer["headers"]

    again = _call(app.callback_path, _tiw_body(app))  # the vendor's retry
    assert again["status"] == 200 and CallbackDelivery.objects.filter(app=app).count() == 1


@pytest.mark.django_db(transaction=True)
def test_callbacks_still_get_clear_errors_and_host_checks(handed_over):
    app = factories.app("tencent_tiw")
    forged = _call(app.callback_path, _tiw_body(app, key="not-the-key"))
    assert forged["status"] == 401
    assert json.loads(forged["body"])["error"] == "invalid_signature"
    unknown = _call(f"{CALLBACK_PREFIX}tencent_tiw/no-such-app/", _tiw_body(app))
    assert unknown["status"] == 404 and json.loads(unknown["body"]) == {"error": "unknown_app"}
    # A path no callback route matches gets the site's 404 page (rendered without a user).
    nowhere = _call(f"{CALLBACK_PREFIX}tencent_tiw/", _tiw_body(app))
    assert nowhere["status"] == 404 and b"Not found" in nowhere["body"]
    refused = _call(app.callback_path, _tiw_body(app), host="evil.example")  # not in ALLOWED_HOSTS
    assert refused["status"] == 400
    assert list(CallbackDelivery.objects.values_list("signature_ok", flat=True)) == [False]
    assert handed_over == []


@pytest.mark.django_db(transaction=True)
def test_the_dashboard_keeps_its_full_middleware():
    answer = _call("/login/", method="GET")
    assert answer["status"] == 200
    assert answer["headers"]["x-frame-options"] == "DENY"
    assert "Cookie" in answer["headers"]["vary"] or "csrftoken" in answer["headers"].get("set-cookie", "")
