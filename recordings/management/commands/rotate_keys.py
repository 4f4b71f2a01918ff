"""Re-encrypt every stored secret under the newest key of RECDESK_ENCRYPTION_KEYS.

Rotation: put a new key first in RECDESK_ENCRYPTION_KEYS (keep the old ones after it), restart,
run this command, then drop the old keys. Rows are rewritten in one transaction.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from recordings import crypto
from recordings.models import Credential, StorageTarget

# (model, encrypted column) pairs: every EncryptedTextField in the project.
ENCRYPTED_COLUMNS = ((Credential, "value"), (StorageTarget, "secret"))


class Command(BaseCommand):
    help = "Re-encrypt every stored secret with the newest encryption key."

    def handle(self, *args, **options):
        total = 0
        try:
            with transaction.atomic():
                for model, column in ENCRYPTED_COLUMNS:
                    # Reading decrypts with whichever key opens the token; writing encrypts with the first.
                    for pk, secret in (
                        model.objects.select_for_update().exclude(**{column: ""}).values_list("pk", column)
                    ):
                        model.objects.filter(pk=pk).update(**{column: secret})
                        total += 1
        except crypto.SecretUnreadable as exc:
            raise CommandError(
                f"{exc}. Nothing was changed. Keep every key still in use in RECDESK_ENCRYPTION_KEYS."
            ) from exc
        self.stdout.write(self.style.SUCCESS(f"Re-encrypted {total} secret(s) with the newest key."))
