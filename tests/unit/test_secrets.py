"""Secrets at rest: a planted canary is encrypted in the database, never rendered, never logged,
never shown by Django admin; keys rotate; production refuses to start without its secrets."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.db import connection
from django.urls import reverse

from recordings.models import Credential, StorageTarget, VendorApp
from tests import factories

ROOT = Path(__file__).resolve().parents[2]


def _database_text() -> str:
    """Everything the database holds, as text: pg_dump on PostgreSQL, the file's bytes on SQLite."""
    settings = connection.settings_dict
    if connection.vendor == "postgresql":
        env = {**os.environ, "PGPASSWORD": settings.get("PASSWORD") or ""}
        dump = subprocess.run(
            [
                "pg_dump",
                "--data-only",
                "-h",
                settings["HOST"] or "127.0.0.1",
                "-p",
                str(settings["PORT"] or 5432),
                "-U",
                settings["USER"] or "postgres",
                settings["NAME"],
            ],
            capture_output=True,
            check=True,
            env=env,
        )
        return dump.stdout.decode("utf-8", "replace")
    return Path(settings["NAME"]).read_bytes().decode("latin-1")


@pytest.mark.django_db(transaction=True)
def test_canary_secret_is_nowhere_but_encrypted(client, caplog):
    caplog.set_level(logging.DEBUG)
    canary = f"CANARY-{uuid.uuid4().hex}"
    admin = factories.user("root", "Admin", is_staff=True, is_superuser=True)
    client.force_login(admin)

    # Plant it through the real forms, as an admin would.
    response = client.post(
        reverse("app_create"),
        {
            "vendor": "tencent_tiw",
            "name": "Canary app",
            "app_id": "1400000099",
            "region": "",
            "api_base_url": "http://127.0.0.1:9",
            "max_duration_seconds": 3600,
            "idle_stop_seconds": 300,
            "enabled": "on",
            "secret_secret_id": "AKIDcanary",
            "secret_secret_key": canary,
            "secret_usersig_key": canary,
            "secret_callback_key": canary,
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    app = VendorApp.objects.get(name="Canary app")
    response = client.post(
        reverse("storage_create"),
        {
            "name": "Canary bucket",
            "provider": "s3",
            "region": "us-east-1",
            "bucket": "b",
            "access_key": "AK",
            "new_secret": canary,
            "prefix": "",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    storage = StorageTarget.objects.get(name="Canary bucket")
    room = factories.room(app, room_id="77")
    task = factories.task(room, vendor_task_id="canary-task")

    # It was stored: the model gives it back decrypted...
    assert Credential.objects.get(app=app, name="secret_key").value == canary
    assert storage.secret == canary
    # ...and the database holds only ciphertext.
    assert canary not in _database_text()

    # No page shows it: every dashboard page an admin can open, and Django admin.
    pages = [
        reverse("home"),
        reverse("review"),
        reverse("app_list"),
        reverse("app_detail", args=[app.pk]),
        reverse("app_edit", args=[app.pk]),
        reverse("app_edit_fields", args=[app.pk]) + "?vendor=tencent_tiw",
        reverse("storage_list"),
        reverse("storage_edit", args=[storage.pk]),
        reverse("room_list"),
        reverse("recording_detail", args=[task.pk]),
        reverse("review_csv"),
        "/django-admin/recordings/vendorapp/",
        f"/django-admin/recordings/vendorapp/{app.pk}/change/",
        "/django-admin/recordings/credential/",
        f"/django-admin/recordings/credential/{Credential.objects.filter(app=app).first().pk}/change/",
        "/django-admin/recordings/storagetarget/",
        f"/django-admin/recordings/storagetarget/{storage.pk}/change/",
        "/django-admin/recordings/auditevent/",
    ]
    for page in pages:
        response = client.get(page)
        assert response.status_code == 200, page
        body = b"".join(response.streaming_content) if response.streaming else response.content
        assert canary not in body.decode(), page
    # A vendor call that fails (nothing listens on port 9) must not leak it into the page or the logs.
    response = client.post(reverse("app_check", args=[app.pk]))
    assert response.status_code == 200
    assert canary not in response.content.decode()

    logged = "\n".join(record.getMessage() + str(record.args) for record in caplog.records)
    assert canary not in logged
    assert canary not in caplog.text


@pytest.mark.django_db
def test_rotate_keys_reencrypts_every_row(settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.RECDESK_ENCRYPTION_KEYS = [old]
    app = factories.app("zego", secrets={"server_secret": "s1", "callback_secret": "s2"})
    StorageTarget.objects.create(name="s3", provider="s3", secret="s3-secret")

    settings.RECDESK_ENCRYPTION_KEYS = [new, old]
    call_command("rotate_keys")

    settings.RECDESK_ENCRYPTION_KEYS = [new]  # the old key is gone: every row must open with the new one
    assert app.secrets() == {"server_secret": "s1", "callback_secret": "s2"}
    assert StorageTarget.objects.get(name="s3").secret == "s3-secret"


@pytest.mark.django_db
def test_rotate_keys_with_a_missing_key_changes_nothing(settings):
    old = Fernet.generate_key().decode()
    settings.RECDESK_ENCRYPTION_KEYS = [old]
    app = factories.app("zego", secrets={"server_secret": "s1", "callback_secret": "s2"})
    before = list(Credential.objects.filter(app=app).values_list("pk", "set_at"))

    settings.RECDESK_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(CommandError, match="Nothing was changed"):
        call_command("rotate_keys")

    settings.RECDESK_ENCRYPTION_KEYS = [old]
    assert app.secrets()["server_secret"] == "s1"
    assert list(Credential.objects.filter(app=app).values_list("pk", "set_at")) == before


@pytest.mark.parametrize("missing", ["SECRET_KEY", "RECDESK_ENCRYPTION_KEYS"])
def test_production_refuses_to_start_without_a_secret(missing, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "RECDESK_ENCRYPTION_KEYS"}}
    env.update(
        RECDESK_MODE="production", SECRET_KEY="x" * 60, RECDESK_ENCRYPTION_KEYS=Fernet.generate_key().decode()
    )
    del env[missing]
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert f"{missing} is not set" in result.stderr


def test_production_values_pass_the_deploy_check():
    env = {
        **os.environ,
        "RECDESK_MODE": "production",
        "SECRET_KEY": "k" * 20 + uuid.uuid4().hex * 2,
        "RECDESK_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "ALLOWED_HOSTS": "recdesk.example.com",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.django_db
def test_logins_are_rate_limited_per_username_and_address(client):
    factories.user("lou", "Support")
    for _ in range(4):
        response = client.post(reverse("login"), {"username": "lou", "password": "wrong"})
        assert response.status_code == 200  # the form again, with an error
    # The fifth failure locks this username from this address...
    assert client.post(reverse("login"), {"username": "lou", "password": "wrong"}).status_code == 429
    # ...so even the right password is refused now.
    response = client.post(reverse("login"), {"username": "lou", "password": "pw-lou"})
    assert response.status_code == 429
    assert b"Too many failed sign-ins" in response.content
    assert "_auth_user_id" not in client.session
