"""Services for the admin configuration: vendor apps, credentials, storage targets, rooms.

Views validate with forms and call these; every change leaves an AuditEvent. Secrets are written
encrypted (the model field does it) and never echoed back.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone, translation

from recordings.choices import ActorType
from recordings.models import AuditEvent, Credential, Room, StorageTarget, VendorApp


def _audit(
    user, action: str, *, app: VendorApp | None = None, detail: str = "", before=None, after=None, ip=None
):
    AuditEvent.objects.create(
        actor_type=ActorType.USER,
        actor=user if getattr(user, "is_authenticated", False) else None,
        action=action,
        app=app,
        detail=detail[:500],
        before=before or {},
        after=after or {},
        ip=ip,
    )


def _changes(form) -> tuple[dict, dict]:
    """Before/after of the non-secret fields a ModelForm changed, for the audit log."""
    before, after = {}, {}
    for name in form.changed_data:
        if name in getattr(form, "secret_fields", ()):
            before[name], after[name] = "…", "(new secret)"
            continue
        before[name] = str(form.initial.get(name, ""))
        after[name] = str(form.cleaned_data.get(name, ""))
    return before, after


@transaction.atomic
def save_app(form, user, ip=None) -> VendorApp:
    """Save a VendorAppForm: the app's fields and any credential the admin typed anew."""
    creating = form.instance.pk is None
    before, after = _changes(form)
    app = form.save()
    changed = set_credentials(app, form.new_secrets(), user)
    cleared = clear_credentials(app, form.cleared_secrets())
    detail = ", ".join([f"set {name}" for name in changed] + [f"cleared {name}" for name in cleared])
    _audit(
        user,
        "app.create" if creating else "app.update",
        app=app,
        detail=detail,
        before=before,
        after=after,
        ip=ip,
    )
    return app


def set_credentials(app: VendorApp, values: dict[str, str], user) -> list[str]:
    now = timezone.now()
    for name, value in values.items():
        Credential.objects.update_or_create(
            app=app, name=name, defaults={"value": value, "set_at": now, "set_by": user}
        )
    return sorted(values)


def clear_credentials(app: VendorApp, names: list[str]) -> list[str]:
    Credential.objects.filter(app=app, name__in=names).delete()
    return sorted(names)


@transaction.atomic
def set_app_enabled(app: VendorApp, enabled: bool, user, ip=None) -> VendorApp:
    VendorApp.objects.filter(pk=app.pk).update(enabled=enabled, updated_at=timezone.now())
    app.enabled = enabled
    _audit(user, "app.enable" if enabled else "app.disable", app=app, ip=ip)
    return app


@transaction.atomic
def save_storage(form, user, ip=None) -> StorageTarget:
    creating = form.instance.pk is None
    before, after = _changes(form)
    target = form.save(commit=False)
    new_secret = form.cleaned_data.get("new_secret")
    if new_secret:
        target.secret = new_secret
        target.secret_set_at = timezone.now()
    target.save()
    _audit(
        user,
        "storage.create" if creating else "storage.update",
        detail=target.name,
        before=before,
        after=after,
        ip=ip,
    )
    return target


@transaction.atomic
def save_room(form, user, ip=None) -> Room:
    creating = form.instance.pk is None
    before, after = _changes(form)
    room = form.save()
    _audit(
        user,
        "room.create" if creating else "room.update",
        app=room.app,
        detail=str(room),
        before=before,
        after=after,
        ip=ip,
    )
    return room


def record_admin_action(
    user, action: str, *, app: VendorApp | None = None, detail: str = "", ip=None
) -> None:
    """For actions that change nothing here but talk to a vendor (check connection, register callback)."""
    _audit(user, action, app=app, detail=detail, ip=ip)


def credential_status(app: VendorApp):
    """(credential spec, set_at or None) for every credential the app's vendor needs."""
    from recordings.vendors.registry import adapter_class

    stored = dict(app.credentials.values_list("name", "set_at"))
    return [(spec, stored.get(spec.name)) for spec in adapter_class(app.vendor).credential_fields]


@dataclass(frozen=True)
class VendorResult:
    """The outcome of an admin's call to a vendor, in words for the page."""

    ok: bool
    message: str
    code: str = ""
    fix: str = ""
    raw: str = ""


def _vendor_result(call) -> VendorResult:
    from recordings.vendors.base import VendorError

    try:
        return VendorResult(ok=True, message=call())
    except VendorError as exc:
        zh = translation.get_language() and translation.get_language().startswith("zh")
        return VendorResult(
            ok=False,
            message=exc.explanation_zh if zh else exc.explanation_en,
            fix=exc.fix_zh if zh else exc.fix_en,
            code=exc.code,
            raw=exc.message,
        )


def check_connection(app: VendorApp, user, ip=None) -> VendorResult:
    """A harmless authenticated call that proves the app's credentials (the adapter picks which)."""
    from recordings.vendors.registry import build_adapter

    result = _vendor_result(lambda: build_adapter(app).check_connection())
    record_admin_action(
        user, "app.check_connection", app=app, detail=("ok" if result.ok else f"failed: {result.code}"), ip=ip
    )
    return result


def register_callback(app: VendorApp, user, ip=None) -> VendorResult:
    """Tell the vendor our callback URL (and key), where its API allows it."""
    from recordings.vendors.registry import build_adapter

    result = _vendor_result(lambda: build_adapter(app).register_callback(app.callback_url))
    record_admin_action(
        user,
        "app.register_callback",
        app=app,
        detail=("ok" if result.ok else f"failed: {result.code}"),
        ip=ip,
    )
    return result
