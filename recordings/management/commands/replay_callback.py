from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from recordings import lifecycle
from recordings.choices import DeliveryOutcome
from recordings.models import CallbackDelivery


class Command(BaseCommand):
    help = (
        "Apply a stored vendor callback again. Safe: a duplicate has no second effect and a stale "
        "event never moves a recording backwards. Rejected (forged) deliveries are never replayed."
    )

    def add_arguments(self, parser):
        parser.add_argument("delivery_id", type=int)

    def handle(self, *args, delivery_id: int, **options):
        delivery = CallbackDelivery.objects.filter(pk=delivery_id).first()
        if delivery is None:
            raise CommandError(f"No callback delivery #{delivery_id}.")
        if not delivery.signature_ok:
            raise CommandError(f"Delivery #{delivery_id} failed signature verification; it is not replayed.")
        if not delivery.delivery_key:
            raise CommandError(
                f"Delivery #{delivery_id} carried no event to apply ({delivery.rejection_reason})."
            )
        CallbackDelivery.objects.filter(pk=delivery_id).update(
            outcome=DeliveryOutcome.PENDING, applied_at=None
        )
        outcome = lifecycle.apply_delivery(delivery_id)
        self.stdout.write(self.style.SUCCESS(f"Delivery #{delivery_id}: {outcome}."))
