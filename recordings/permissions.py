"""Who may see and operate which recordings. Views and selectors call these; lifecycle trusts them."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from dashboard.roles import role_flags
from recordings.models import RecordingTask, Room


def operable_rooms(user) -> QuerySet[Room]:
    """Rooms whose recordings the user may start, pause, resume and stop."""
    flags = role_flags(user)
    rooms = Room.objects.select_related("app").filter(app__enabled=True)
    if flags.admin:
        return rooms
    if flags.teacher:
        return rooms.filter(teachers=user)
    return rooms.none()


def can_operate(user, task_or_room) -> bool:
    room = task_or_room.room if isinstance(task_or_room, RecordingTask) else task_or_room
    flags = role_flags(user)
    if flags.admin:
        return True
    return flags.teacher and room.teachers.filter(pk=user.pk).exists()


def visible_tasks(user) -> QuerySet[RecordingTask]:
    """Admins and support staff read every class; a teacher reads the classes of their rooms."""
    flags = role_flags(user)
    tasks = RecordingTask.objects.all()
    if flags.reads_everything:
        return tasks
    if flags.teacher:
        return tasks.filter(Q(room__teachers=user) | Q(requested_by=user)).distinct()
    return tasks.none()
