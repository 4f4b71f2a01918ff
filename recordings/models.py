"""The nouns of RecDesk (docs/ARCHITECTURE.md). State changes happen only in recordings/lifecycle.py."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from recordings.choices import (
    TERMINAL_STATES,
    ActorType,
    ArchiveStatus,
    CommandStatus,
    DeliveryOutcome,
    DesiredState,
    FinishReason,
    Mode,
    ObservedState,
    SegmentKind,
    StorageProvider,
    Vendor,
)
from recordings.crypto import EncryptedTextField


def _public_id() -> str:
    return secrets.token_urlsafe(12)


class StorageTarget(models.Model):
    name = models.CharField(_("name"), max_length=100, unique=True)
    provider = models.CharField(_("provider"), max_length=20, choices=StorageProvider.choices)
    region = models.CharField(_("region"), max_length=64, blank=True)
    bucket = models.CharField(_("bucket"), max_length=255, blank=True)
    endpoint = models.URLField(
        _("endpoint"), blank=True, help_text=_("Leave empty for the provider's default.")
    )
    path_style = models.BooleanField(_("path-style addressing"), default=False)
    access_key = models.CharField(_("access key ID"), max_length=255, blank=True)
    secret = EncryptedTextField(_("secret access key"), blank=True)
    secret_set_at = models.DateTimeField(null=True, blank=True, editable=False)
    prefix = models.CharField(_("key prefix"), max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class VendorApp(models.Model):
    """One application at one vendor (a Tencent SdkAppId, an Agora App ID, ...)."""

    public_id = models.CharField(max_length=32, unique=True, default=_public_id, editable=False)
    vendor = models.CharField(_("vendor"), max_length=20, choices=Vendor.choices)
    name = models.CharField(_("name"), max_length=100, unique=True)
    app_id = models.CharField(_("vendor app ID"), max_length=128)
    region = models.CharField(_("region"), max_length=64, blank=True)
    api_base_url = models.URLField(
        _("API base URL"), blank=True, help_text=_("Leave empty for the vendor's own endpoint.")
    )
    default_storage = models.ForeignKey(
        StorageTarget, verbose_name=_("default storage"), null=True, blank=True, on_delete=models.SET_NULL
    )
    enabled = models.BooleanField(_("enabled"), default=True)
    max_duration_seconds = models.PositiveIntegerField(_("maximum recording duration (s)"), default=24 * 3600)
    idle_stop_seconds = models.PositiveIntegerField(_("idle auto-stop (s)"), default=300)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=Q(vendor__in=Vendor.values), name="vendorapp_vendor_valid"),
            models.CheckConstraint(
                condition=Q(max_duration_seconds__gt=0), name="vendorapp_max_duration_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_vendor_display()})"

    @property
    def callback_path(self) -> str:
        return f"/hooks/{self.vendor}/{self.public_id}/"

    @property
    def callback_url(self) -> str:
        return settings.RECDESK_PUBLIC_URL + self.callback_path

    def secrets(self) -> dict[str, str]:
        """The decrypted credentials, by name. Only adapters should hold these."""
        return {c.name: c.value for c in self.credentials.all()}


class Credential(models.Model):
    """One named secret of an app (TicKey, SecretKey, customer secret, ServerSecret, callback key, ...)."""

    app = models.ForeignKey(VendorApp, on_delete=models.CASCADE, related_name="credentials")
    name = models.CharField(max_length=64)
    value = EncryptedTextField()
    set_at = models.DateTimeField(default=timezone.now)
    set_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["app", "name"], name="credential_one_per_name")]

    def __str__(self) -> str:
        return f"{self.app.name}: {self.name} (set {self.set_at:%Y-%m-%d})"


class Room(models.Model):
    app = models.ForeignKey(VendorApp, verbose_name=_("app"), on_delete=models.PROTECT, related_name="rooms")
    room_id = models.CharField(_("room ID"), max_length=128)
    group_id = models.CharField(_("whiteboard group ID"), max_length=128, blank=True)
    title = models.CharField(_("title"), max_length=200)
    teachers = models.ManyToManyField(
        settings.AUTH_USER_MODEL, verbose_name=_("teachers"), blank=True, related_name="rooms"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["title"]
        constraints = [models.UniqueConstraint(fields=["app", "room_id"], name="room_unique_per_app")]

    def __str__(self) -> str:
        return f"{self.title} ({self.room_id})"


class RecordingTask(models.Model):
    """One recording of one room. Written only by recordings/lifecycle.py."""

    app = models.ForeignKey(VendorApp, on_delete=models.PROTECT, related_name="tasks")
    room = models.ForeignKey(Room, on_delete=models.PROTECT, related_name="tasks")
    mode = models.CharField(max_length=20, choices=Mode.choices)
    options = models.JSONField(default=dict, blank=True)
    storage = models.ForeignKey(StorageTarget, null=True, blank=True, on_delete=models.SET_NULL)

    # The vendor's references: a task id everywhere; Agora adds resourceId + sid.
    vendor_task_id = models.CharField(max_length=128, blank=True, db_index=True)
    vendor_resource_id = models.CharField(max_length=512, blank=True)
    vendor_sid = models.CharField(max_length=128, blank=True)
    record_user_id = models.CharField(max_length=128, blank=True)

    desired_state = models.CharField(
        max_length=12, choices=DesiredState.choices, default=DesiredState.RECORDING
    )
    observed_state = models.CharField(
        max_length=12, choices=ObservedState.choices, default=ObservedState.STARTING
    )
    vendor_state = models.CharField(
        max_length=32, blank=True, help_text="The vendor's own word for the state."
    )
    finish_reason = models.CharField(max_length=16, choices=FinishReason.choices, blank=True)
    finish_detail = models.CharField(max_length=255, blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Who asked for the current desired state, to answer "already stopping, by <user>".
    desired_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True, help_text="When the vendor began recording.")
    stopped_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    state_changed_at = models.DateTimeField(default=timezone.now)
    # Vendor time of the newest applied event: older events never move state backwards.
    last_event_at = models.DateTimeField(null=True, blank=True)
    # The vendor's sequence number of the newest applied callback, where its callbacks carry one
    # (ZEGO): their timestamp is when a callback was sent, so a retry or a late one looks new.
    last_event_sequence = models.BigIntegerField(null=True, blank=True)
    # Pauses on the wall clock, as [[start_ms, end_ms or null], ...] from started_at.
    pause_intervals = models.JSONField(default=list, blank=True)
    # Reconciler bookkeeping: when to query the vendor next, and how many polls in a row found nothing new.
    next_poll_at = models.DateTimeField(null=True, blank=True, db_index=True)
    poll_streak = models.PositiveIntegerField(default=0)
    version = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["observed_state", "created_at"])]
        constraints = [
            models.CheckConstraint(condition=Q(mode__in=Mode.values), name="task_mode_valid"),
            models.CheckConstraint(
                condition=Q(observed_state__in=ObservedState.values), name="task_observed_valid"
            ),
            models.CheckConstraint(
                condition=Q(desired_state__in=DesiredState.values), name="task_desired_valid"
            ),
            models.CheckConstraint(
                condition=Q(finish_reason="") | Q(finish_reason__in=FinishReason.values),
                name="task_reason_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"recording #{self.pk} of {self.room}"

    @property
    def is_terminal(self) -> bool:
        return self.observed_state in TERMINAL_STATES


class Segment(models.Model):
    """One media file of a recording, placed on the recording's wall clock."""

    task = models.ForeignKey(RecordingTask, on_delete=models.CASCADE, related_name="segments")
    user_id = models.CharField(max_length=128, blank=True)
    kind = models.CharField(max_length=12, choices=SegmentKind.choices)
    offset_ms = models.BigIntegerField(
        help_text="From the recording's start on the wall clock (pauses included)."
    )
    duration_ms = models.BigIntegerField()
    size_bytes = models.BigIntegerField(default=0)
    format = models.CharField(max_length=16, blank=True)
    vendor_url = models.URLField(max_length=2000, blank=True)
    vendor_file_id = models.CharField(max_length=255)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    vendor_expires_at = models.DateTimeField(null=True, blank=True)
    archive_status = models.CharField(
        max_length=10, choices=ArchiveStatus.choices, default=ArchiveStatus.PENDING
    )
    archived_key = models.CharField(max_length=1024, blank=True)
    archived_checksum = models.CharField(max_length=80, blank=True)
    archived_bytes = models.BigIntegerField(default=0)
    archive_error = models.TextField(blank=True)
    archived_at = models.DateTimeField(null=True, blank=True)
    # Archiving bookkeeping (recordings/archiving.py): attempts so far, when the current one began,
    # and its last progress, which doubles as the lease a worker holds on the copy.
    archive_attempts = models.PositiveIntegerField(default=0)
    archive_started_at = models.DateTimeField(null=True, blank=True)
    archive_progress_at = models.DateTimeField(null=True, blank=True)
    # When a copy was last enqueued: the sweeper leaves a file whose message is still waiting alone.
    archive_queued_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["offset_ms", "user_id", "kind"]
        constraints = [
            models.UniqueConstraint(fields=["task", "vendor_file_id"], name="segment_file_once_per_task"),
            models.CheckConstraint(condition=Q(kind__in=SegmentKind.values), name="segment_kind_valid"),
            models.CheckConstraint(
                condition=Q(offset_ms__gte=0) & Q(duration_ms__gte=0), name="segment_times_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} of {self.user_id or '-'} at {self.offset_ms} ms"


class VendorCommand(models.Model):
    """The outbox: one accepted intent (start, pause, ...) to carry to the vendor, exactly once.

    Written in the same transaction as the state change that caused it; beat re-enqueues any
    command whose Celery message was lost.
    """

    task = models.ForeignKey(RecordingTask, on_delete=models.CASCADE, related_name="commands")
    action = models.CharField(max_length=24)
    payload = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=CommandStatus.choices, default=CommandStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    # Whoever runs the command holds it until then; nobody else runs it meanwhile (see lifecycle.execute_command).
    claimed_until = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [models.Index(fields=["status", "enqueued_at"])]

    def __str__(self) -> str:
        return f"{self.action} for task {self.task_id} ({self.status})"


class CallbackDelivery(models.Model):
    """The inbox: every callback a vendor sent us, stored before we answer it."""

    vendor = models.CharField(max_length=20, choices=Vendor.choices)
    app = models.ForeignKey(
        VendorApp, null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries"
    )
    task = models.ForeignKey(
        RecordingTask, null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries"
    )
    raw_body = models.BinaryField()
    headers = models.JSONField(default=dict)
    query = models.JSONField(default=dict)
    signature_ok = models.BooleanField()
    rejection_reason = models.CharField(max_length=255, blank=True)
    # Unique per vendor for authentic deliveries; forged ones get none, so they cannot squat a key.
    delivery_key = models.CharField(max_length=255, null=True, blank=True)
    event_type = models.CharField(max_length=64, blank=True)
    vendor_task_id = models.CharField(max_length=128, blank=True)
    event_time = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    applied_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(
        max_length=10, choices=DeliveryOutcome.choices, default=DeliveryOutcome.PENDING
    )
    outcome_detail = models.TextField(blank=True)

    class Meta:
        ordering = ["-received_at"]
        verbose_name_plural = "callback deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["vendor", "delivery_key"],
                condition=Q(delivery_key__isnull=False),
                name="delivery_key_once_per_vendor",
            )
        ]

    def __str__(self) -> str:
        return f"{self.vendor} {self.event_type or 'callback'} at {self.received_at:%Y-%m-%d %H:%M:%S}"


class VendorCall(models.Model):
    """Every request we sent a vendor. Holds no secret and no signature."""

    app = models.ForeignKey(VendorApp, null=True, on_delete=models.SET_NULL, related_name="calls")
    task = models.ForeignKey(
        RecordingTask, null=True, blank=True, on_delete=models.SET_NULL, related_name="calls"
    )
    action = models.CharField(max_length=64)
    request_id = models.CharField(max_length=128, blank=True)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    vendor_code = models.CharField(max_length=64, blank=True)
    vendor_message = models.TextField(blank=True)
    error_kind = models.CharField(max_length=32, blank=True)
    latency_ms = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.action} -> {self.http_status or self.error_kind}"

    @property
    def ok(self) -> bool:
        return not self.error_kind and not self.vendor_code


class AuditEvent(models.Model):
    actor_type = models.CharField(max_length=12, choices=ActorType.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    action = models.CharField(max_length=64)
    task = models.ForeignKey(
        RecordingTask, null=True, blank=True, on_delete=models.CASCADE, related_name="audit"
    )
    app = models.ForeignKey(VendorApp, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)
    detail = models.CharField(max_length=500, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.action} by {self.actor or self.actor_type}"
