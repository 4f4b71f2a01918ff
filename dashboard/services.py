"""User management writes (the views stay thin)."""

from __future__ import annotations

from django.contrib.auth.models import Group
from django.db import transaction

from dashboard.models import Profile
from recordings.choices import ActorType
from recordings.models import AuditEvent


@transaction.atomic
def save_user(form, actor, ip=None):
    creating = form.instance.pk is None
    user = form.save(commit=False)
    if form.cleaned_data.get("password"):
        user.set_password(form.cleaned_data["password"])
    user.save()
    before = sorted(user.groups.values_list("name", flat=True)) if not creating else []
    roles = sorted(form.cleaned_data["roles"])
    user.groups.set(Group.objects.filter(name__in=roles))
    Profile.objects.update_or_create(
        user=user, defaults={"timezone": form.cleaned_data.get("timezone") or ""}
    )
    AuditEvent.objects.create(
        actor_type=ActorType.USER,
        actor=actor,
        action="user.create" if creating else "user.update",
        detail=user.get_username(),
        before={"roles": before},
        after={"roles": roles, "active": user.is_active},
        ip=ip,
    )
    return user
