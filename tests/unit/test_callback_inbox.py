"""The callback inbox's INSERT (prepared_insert.py), on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from recordings import lifecycle
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
