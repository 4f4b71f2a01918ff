"""Durations for people: 1:02:03 rather than 3723 seconds."""

from __future__ import annotations

from datetime import timedelta

from django import template

register = template.Library()


@register.filter
def duration_hms(value) -> str:
    """A timedelta, or milliseconds as an int, as H:MM:SS (M:SS under an hour)."""
    if value is None or value == "":
        return ""
    seconds = int(value.total_seconds()) if isinstance(value, timedelta) else int(value) // 1000
    sign = "-" if seconds < 0 else ""
    hours, rest = divmod(abs(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{sign}{hours}:{minutes:02d}:{secs:02d}" if hours else f"{sign}{minutes}:{secs:02d}"
