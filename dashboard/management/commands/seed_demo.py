"""Demo users for each role, one demo app per vendor pointing at the sandbox, and a room on each.

Development only. Safe to run again: it updates what exists. Each checkout gets its own random
demo secrets, stored encrypted like any other, and handed to the sandbox when it is running.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from dashboard.models import Profile
from dashboard.roles import ADMIN, SUPPORT, TEACHER
from recordings.models import Credential, Room, StorageTarget, VendorApp

DEMO_USERS = (
    ("admin", ADMIN, "Ada", "Admin"),
    ("teacher", TEACHER, "Tom", "Teacher"),
    ("support", SUPPORT, "Sam", "Support"),
)

# vendor, sandbox port offset, app name, vendor app id, room id, room title
DEMO_APPS = (
    ("tencent_tiw", 1, "Demo Tencent TIW", "1400000001", "1001", "Algebra I · Tencent TIW"),
    ("tencent_tic", 2, "Demo Tencent TIC (legacy)", "1400000002", "1002", "Physics · Tencent TIC"),
    ("agora", 3, "Demo Agora", "a1b2c3d4e5f60718293a4b5c6d7e8f90", "physics-2", "Chemistry · Agora"),
    ("zego", 4, "Demo ZEGO", "1234567890", "zego-room-1", "Biology · ZEGO"),
    ("volcengine", 5, "Demo Volcengine", "demo-volc-app", "volc-room-1", "History · Volcengine"),
)


def demo_secret_values(vendor: str, app_id: str) -> dict[str, str]:
    def token(n: int = 24) -> str:
        return secrets.token_hex(n)

    return {
        "tencent_tiw": {
            "secret_id": "AKID" + token(16),
            "secret_key": token(16),
            "usersig_key": token(32),
            "callback_key": token(16),
        },
        "tencent_tic": {"tic_key": token(16).upper(), "usersig_key": token(32)},
        "agora": {"customer_id": token(16), "customer_secret": token(16), "ncs_secret": token(16)},
        "zego": {"server_secret": token(16), "callback_secret": token(16)},
        "volcengine": {
            "access_key_id": "AKLT" + token(16),
            "secret_access_key": token(24),
            "callback_secret": token(16),
        },
    }[vendor]


class Command(BaseCommand):
    help = "Create demo users, demo vendor apps on the sandbox, and demo rooms (development only)."

    def add_arguments(self, parser):
        parser.add_argument("--no-sandbox", action="store_true", help="Do not provision the running sandbox.")

    def handle(self, *args, no_sandbox=False, **options):
        if settings.PRODUCTION:
            raise CommandError(
                "seed_demo creates well-known passwords; it refuses to run in production mode."
            )
        with transaction.atomic():
            users = self._users()
            apps = self._apps(users["teacher"])
        if not no_sandbox:
            self._provision_sandbox(apps)
        self.stdout.write(
            self.style.SUCCESS("Demo data ready: users admin, teacher, support (password = username).")
        )

    def _users(self):
        users = {}
        for username, role, first, last in DEMO_USERS:
            user, _ = get_user_model().objects.get_or_create(
                username=username, defaults={"first_name": first, "last_name": last}
            )
            user.set_password(username)
            user.is_staff = role == ADMIN  # Django admin is for admins only
            user.save()
            user.groups.set([Group.objects.get(name=role)])
            Profile.objects.get_or_create(user=user)
            users[username] = user
        return users

    def _storage_targets(self) -> dict[str, StorageTarget]:
        """The storage each demo app records to, by vendor.

        Tencent stores in its own VOD and keeps the local archive. Agora, ZEGO and Volcengine upload
        only to the customer's bucket; the sandbox plays that bucket at /media/<bucket>/ on its
        control port, answering reads (HEAD, GET) the way a path-style S3 endpoint does. Agora and
        ZEGO name a self-hosted S3 endpoint; Volcengine cannot (its CustomConfig has no endpoint),
        so its target is Amazon S3 read through the sandbox's endpoint. That bucket is also their
        archive: archiving finds the vendors' files already there and verifies them in place.
        """
        local, _ = StorageTarget.objects.get_or_create(
            name="Local archive", defaults={"provider": "local", "prefix": "recordings/"}
        )
        endpoint = f"http://{settings.RECDESK_SANDBOX_HOST}:{settings.RECDESK_SANDBOX_BASE_PORT}/media"
        buckets = {}
        for provider, name in (
            ("s3_compatible", "Sandbox bucket (S3-compatible)"),
            ("s3", "Sandbox bucket (Amazon S3)"),
        ):
            buckets[provider], _ = StorageTarget.objects.update_or_create(
                name=name,
                defaults={
                    "provider": provider,
                    "bucket": "recordings",
                    "region": "us-east-1",
                    "endpoint": endpoint,
                    # The endpoint is an address with a path (/media), not a bucket host name.
                    "path_style": True,
                    "access_key": "sandbox",
                    "secret": "sandbox",
                },
            )
        return {
            "tencent_tiw": local,
            "tencent_tic": local,
            "agora": buckets["s3_compatible"],
            "zego": buckets["s3_compatible"],
            "volcengine": buckets["s3"],
        }

    def _apps(self, teacher):
        storage_of = self._storage_targets()
        apps = []
        for vendor, port_offset, name, app_id, room_id, title in DEMO_APPS:
            base_url = (
                f"http://{settings.RECDESK_SANDBOX_HOST}:{settings.RECDESK_SANDBOX_BASE_PORT + port_offset}"
            )
            app, created = VendorApp.objects.update_or_create(
                name=name,
                defaults={
                    "vendor": vendor,
                    "app_id": app_id,
                    "api_base_url": base_url,
                    "default_storage": storage_of[vendor],
                    "region": "ap-singapore" if vendor == "tencent_tiw" else "",
                },
            )
            if created or not app.credentials.exists():
                for cred_name, value in demo_secret_values(vendor, app_id).items():
                    Credential.objects.update_or_create(app=app, name=cred_name, defaults={"value": value})
            room, _ = Room.objects.get_or_create(app=app, room_id=room_id, defaults={"title": title})
            room.teachers.add(teacher)
            apps.append(app)
        return apps

    def _provision_sandbox(self, apps):
        from recordings.sandbox_client import SandboxUnavailable, provision_app

        for app in apps:
            try:
                provision_app(app)
            except SandboxUnavailable as exc:
                self.stdout.write(
                    self.style.WARNING(f"Sandbox not provisioned ({exc}); run seed_demo again once it is up.")
                )
                return
        self.stdout.write("Sandbox provisioned with the demo apps.")
