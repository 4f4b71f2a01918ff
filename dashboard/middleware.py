from __future__ import annotations

import zoneinfo

from django.conf import settings
from django.utils import timezone


class UserTimezoneMiddleware:
    """Shows every time in the signed-in user's zone (their profile), else the organisation's default."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        name = settings.RECDESK_DEFAULT_USER_TIMEZONE
        profile = (
            getattr(getattr(request, "user", None), "profile", None)
            if request.user.is_authenticated
            else None
        )
        if profile is not None and profile.timezone:
            name = profile.timezone
        try:
            timezone.activate(zoneinfo.ZoneInfo(name))
        except zoneinfo.ZoneInfoNotFoundError:
            timezone.activate(zoneinfo.ZoneInfo(settings.RECDESK_DEFAULT_USER_TIMEZONE))
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
