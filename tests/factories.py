"""Plain helpers that make rows for tests (tests may write the ORM directly; the product may not)."""

from __future__ import annotations

import itertools

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from dashboard.roles import ALL_ROLES
from recordings.models import Credential, RecordingTask, Room, VendorApp

_seq = itertools.count(1)

# Credential names per vendor (the adapters' credential_fields), with throwaway values.
TEST_SECRETS = {
    "tencent_tiw": {
        "secret_id": "AKIDtest",
        "secret_key": "sk-test",
        "usersig_key": "us-test",
        "callback_key": "cb-test",
    },
    "tencent_tic": {"tic_key": "TICKEYTEST", "usersig_key": "us-test"},
    "agora": {"customer_id": "cid", "customer_secret": "csecret", "ncs_secret": "ncs"},
    "zego": {"server_secret": "zsecret", "callback_secret": "zcb"},
    "volcengine": {"access_key_id": "AKLTtest", "secret_access_key": "vsecret", "callback_secret": "vcb"},
}


def ensure_roles() -> None:
    # Transactional tests flush the tables the data migration filled, so groups are made on demand.
    for name in ALL_ROLES:
        Group.objects.get_or_create(name=name)


def user(username: str, *roles: str, **extra):
    ensure_roles()
    account = get_user_model().objects.create_user(username=username, password="pw-" + username, **extra)
    account.groups.set(Group.objects.filter(name__in=roles))
    return account


def app(
    vendor: str = "tencent_tiw", *, base_url: str = "", secrets: dict | None = None, **fields
) -> VendorApp:
    n = next(_seq)
    defaults = {
        "app_id": str(1400000000 + n) if vendor in ("tencent_tiw", "tencent_tic", "zego") else f"app{n}"
    }
    defaults.update(fields)
    created = VendorApp.objects.create(
        vendor=vendor, name=f"{vendor} app {n}", api_base_url=base_url, **defaults
    )
    for name, value in (TEST_SECRETS[vendor] if secrets is None else secrets).items():
        Credential.objects.create(app=created, name=name, value=value)
    return created


def room(vendor_app: VendorApp, *teachers, room_id: str | None = None, title: str = "") -> Room:
    n = next(_seq)
    created = Room.objects.create(
        app=vendor_app, room_id=room_id or str(1000 + n), title=title or f"Room {n}"
    )
    created.teachers.add(*teachers)
    return created


def task(in_room: Room, **fields) -> RecordingTask:
    defaults = {"mode": "individual", "observed_state": "recording", "desired_state": "recording"}
    defaults.update(fields)
    return RecordingTask.objects.create(app=in_room.app, room=in_room, **defaults)
