"""The three roles, as Django groups (created by a data migration), and the checks views use."""

from __future__ import annotations

from dataclasses import dataclass
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied

ADMIN = "Admin"
TEACHER = "Teacher"
SUPPORT = "Support"
ALL_ROLES = (ADMIN, TEACHER, SUPPORT)


@dataclass(frozen=True)
class RoleFlags:
    admin: bool = False
    teacher: bool = False
    support: bool = False

    @property
    def reads_everything(self) -> bool:
        return self.admin or self.support

    @property
    def any(self) -> bool:
        return self.admin or self.teacher or self.support


def role_flags(user) -> RoleFlags:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return RoleFlags()
    cached = getattr(user, "_recdesk_roles", None)
    if cached is None:
        names = set(user.groups.values_list("name", flat=True))
        cached = RoleFlags(
            admin=user.is_superuser or ADMIN in names,
            teacher=TEACHER in names,
            support=SUPPORT in names,
        )
        user._recdesk_roles = cached
    return cached


def role_required(*allowed: str):
    """Let a view run only for users holding one of the allowed roles (Admin always passes).

    Anonymous users go to the login page; signed-in users without the role get 403.
    """

    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            flags = role_flags(request.user)
            permitted = (
                flags.admin
                or (TEACHER in allowed and flags.teacher)
                or (SUPPORT in allowed and flags.support)
            )
            if not permitted:
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapper

    return decorator
