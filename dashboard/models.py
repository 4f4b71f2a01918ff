from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Profile(models.Model):
    """Per-user display preferences; the role lives in the user's groups."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile")
    timezone = models.CharField(_("time zone"), max_length=64, blank=True)

    def __str__(self) -> str:
        return f"profile of {self.user}"
