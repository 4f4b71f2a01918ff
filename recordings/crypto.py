"""Secrets at rest: Fernet tokens under a MultiFernet built from RECDESK_ENCRYPTION_KEYS.

The first key encrypts; every listed key decrypts, so a new key can be put first, the rows
re-encrypted with `manage.py rotate_keys`, and the old key dropped afterwards.
"""

from __future__ import annotations

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models


class SecretUnreadable(Exception):
    """A stored secret cannot be decrypted with any configured key."""


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    try:
        return MultiFernet([Fernet(k.encode()) for k in keys])
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(
            "RECDESK_ENCRYPTION_KEYS must be comma-separated Fernet keys "
            "(32 url-safe base64-encoded bytes each; make one with `manage.py generate_encryption_key`)."
        ) from exc


def fernet() -> MultiFernet:
    if not settings.RECDESK_ENCRYPTION_KEYS:
        raise ImproperlyConfigured("RECDESK_ENCRYPTION_KEYS is empty.")
    return _fernet(tuple(settings.RECDESK_ENCRYPTION_KEYS))


def encrypt(plaintext: str) -> str:
    return fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise SecretUnreadable("no configured encryption key opens this secret") from exc


class Sealed(str):
    """A decrypted secret. Its repr never shows the value, so it cannot leak through a traceback or log."""

    def __repr__(self) -> str:
        return "Sealed('***')"


class EncryptedTextField(models.TextField):
    """A text column that holds a Fernet token; Python code sees the plaintext (as a Sealed str).

    The empty string is stored as is: it means "not set".
    """

    def from_db_value(self, value, expression, connection):
        if not value:
            return value
        return Sealed(decrypt(value))

    def to_python(self, value):
        return value

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if not value:
            return value
        return encrypt(str(value))
