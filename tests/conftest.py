"""Shared fixtures. Tests run on PostgreSQL (DATABASE_URL) with a real Celery worker where they need one."""

import pytest

pytest_plugins = ["tests.sandbox_support", "tests.stack_support"]


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # Django's PBKDF2 costs ~0.5 s a password by design; the tests make thousands of users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
