"""Drawing a lane's segments: thousands of boxes on a big class, so they are written in one pass of
Python rather than a template loop (a loop with filters cost about half a millisecond per box)."""

from __future__ import annotations

from datetime import timedelta
from html import escape

from django import template
from django.template.defaultfilters import filesizeformat
from django.utils import timezone
from django.utils.safestring import SafeString

register = template.Library()

_UNITS = (1 << 50, 1 << 40, 1 << 30, 1 << 20, 1 << 10)


def _size_key(size: int) -> tuple:
    """What filesizeformat's text depends on: the unit and the value rounded to one decimal."""
    for unit in _UNITS:
        if abs(size) >= unit:
            return (unit, round(size / unit, 1))
    return (1, size)


def size_label(size: int, seen: dict) -> str:
    """Django's filesizeformat (translated units, local decimal mark), asked once per distinct label:
    a class's files mostly share a handful of them."""
    key = _size_key(size)
    label = seen.get(key)
    if label is None:
        label = seen[key] = filesizeformat(size)
    return label


@register.simple_tag(takes_context=True)
def lane_boxes(context, lane) -> SafeString:
    """The lane's segments as <i> boxes: position in percent of the class, offset, duration and URL
    (after the timeline's shared base) for the player, and a hover title with the wall-clock times
    in the viewer's zone and the size. Who and which kind are on the lane's label, not repeated."""
    tz = timezone.get_current_timezone()
    origin = lane.origin
    # Size labels shared by every lane of this rendering.
    sizes = context.render_context.setdefault("lane_box_sizes", {})
    parts = []
    for offset, duration, left, width, size, url in lane.boxes:
        start = (origin + timedelta(milliseconds=offset)).astimezone(tz)
        end = (origin + timedelta(milliseconds=offset + duration)).astimezone(tz)
        parts.append(
            f'<i style="left:{left}%;width:{width}%" data-o="{offset}" '
            f'data-d="{duration}" data-u="{escape(url)}" '
            f'title="{start:%H:%M:%S}–{end:%H:%M:%S} · {escape(size_label(size, sizes))}"></i>'
        )
    return SafeString("".join(parts))
