"""Django admin for every model. Secrets are never displayed: credential values and storage secrets
are excluded from every admin form and list, and replaced by when they were set."""

from __future__ import annotations

from django.contrib import admin

from recordings import models


@admin.register(models.VendorApp)
class VendorAppAdmin(admin.ModelAdmin):
    list_display = ["name", "vendor", "app_id", "enabled", "api_base_url"]
    list_filter = ["vendor", "enabled"]
    search_fields = ["name", "app_id"]
    readonly_fields = ["public_id", "created_at", "updated_at"]


@admin.register(models.Credential)
class CredentialAdmin(admin.ModelAdmin):
    """Read-only view of which credentials exist; values are set on the app's page in the dashboard."""

    list_display = ["app", "name", "set_at", "set_by"]
    list_filter = ["app__vendor"]
    fields = ["app", "name", "set_at", "set_by"]
    readonly_fields = fields

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(models.StorageTarget)
class StorageTargetAdmin(admin.ModelAdmin):
    list_display = ["name", "provider", "bucket", "region", "secret_set_at"]
    exclude = ["secret"]
    readonly_fields = ["secret_set_at"]


@admin.register(models.Room)
class RoomAdmin(admin.ModelAdmin):
    list_display = ["title", "room_id", "app"]
    list_filter = ["app"]
    search_fields = ["title", "room_id"]
    filter_horizontal = ["teachers"]


class SegmentInline(admin.TabularInline):
    model = models.Segment
    extra = 0
    fields = ["user_id", "kind", "offset_ms", "duration_ms", "size_bytes", "archive_status"]
    readonly_fields = fields
    can_delete = False


@admin.register(models.RecordingTask)
class RecordingTaskAdmin(admin.ModelAdmin):
    """Read-only: task state is written only by recordings/lifecycle.py."""

    list_display = ["pk", "room", "app", "mode", "desired_state", "observed_state", "created_at"]
    list_filter = ["observed_state", "app__vendor", "mode"]
    search_fields = ["vendor_task_id", "room__title", "room__room_id"]
    inlines = [SegmentInline]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class ReadOnlyAdmin(admin.ModelAdmin):
    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(models.Segment)
class SegmentAdmin(ReadOnlyAdmin):
    list_display = ["task", "user_id", "kind", "offset_ms", "duration_ms", "archive_status"]
    list_filter = ["kind", "archive_status"]


@admin.register(models.CallbackDelivery)
class CallbackDeliveryAdmin(ReadOnlyAdmin):
    list_display = ["vendor", "event_type", "vendor_task_id", "signature_ok", "outcome", "received_at"]
    list_filter = ["vendor", "outcome", "signature_ok"]
    exclude = ["raw_body"]


@admin.register(models.VendorCall)
class VendorCallAdmin(ReadOnlyAdmin):
    list_display = ["action", "app", "task", "http_status", "vendor_code", "latency_ms", "created_at"]
    list_filter = ["action", "error_kind"]


@admin.register(models.VendorCommand)
class VendorCommandAdmin(ReadOnlyAdmin):
    list_display = ["task", "action", "status", "attempts", "created_at", "completed_at"]
    list_filter = ["status", "action"]


@admin.register(models.AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "actor_type", "actor", "action", "task", "detail"]
    list_filter = ["actor_type", "action"]
