"""Every URL × every role (anonymous included) × the expected answer.

The table below is the access policy. A URL added to the project without a row here fails
`test_every_url_is_in_the_matrix`, so nobody forgets to decide who may use it.
"""

from __future__ import annotations

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from tests import factories

OK = {200}
DONE = {200, 302}  # a POST that succeeded: redirect, or a fragment for htmx
LOGIN = {302}  # anonymous: sent to the login page
DENY = {403, 404}  # a signed-in user without the right (404 where even existence is hidden)

ROLES = ("anonymous", "admin", "teacher", "support")

# (url name, kwargs key, method, {role: expected statuses}); kwargs keys are filled by the fixture.
MATRIX = [
    ("home", None, "get", {"admin": OK, "teacher": OK, "support": OK}),
    ("review", None, "get", {"admin": OK, "teacher": OK, "support": OK}),
    ("review_csv", None, "get", {"admin": OK, "teacher": OK, "support": OK}),
    ("recording_start", None, "get", {"admin": OK, "teacher": OK, "support": DENY}),
    ("recording_start_options", None, "get", {"admin": OK, "teacher": OK, "support": DENY}),
    ("recording_detail", "own_task", "get", {"admin": OK, "teacher": OK, "support": OK}),
    ("recording_detail", "foreign_task", "get", {"admin": OK, "teacher": DENY, "support": OK}),
    ("recording_status", "own_task", "get", {"admin": OK, "teacher": OK, "support": OK}),
    ("recording_timeline", "own_task", "get", {"admin": OK, "teacher": OK, "support": OK}),
    ("recording_timeline", "foreign_task", "get", {"admin": OK, "teacher": DENY, "support": OK}),
    ("recording_act", "own_task_stop", "post", {"admin": DONE, "teacher": DONE, "support": DENY}),
    ("recording_act", "foreign_task_stop", "post", {"admin": DONE, "teacher": DENY, "support": DENY}),
    ("recording_archive", "own_task", "get", {"admin": OK, "teacher": OK, "support": OK}),
    ("recording_archive", "foreign_task", "get", {"admin": OK, "teacher": DENY, "support": OK}),
    ("recording_archive_files", "own_task", "get", {"admin": OK, "teacher": OK, "support": OK}),
    ("recording_archive_files", "foreign_task", "get", {"admin": OK, "teacher": DENY, "support": OK}),
    ("archive_retry", "own_task", "post", {"admin": DONE, "teacher": DONE, "support": DONE}),
    ("archive_retry", "foreign_task", "post", {"admin": DONE, "teacher": DENY, "support": DONE}),
    ("app_list", None, "get", {"admin": OK, "teacher": DENY, "support": OK}),
    ("app_create", None, "get", {"admin": OK, "teacher": DENY, "support": DENY}),
    ("app_create_fields", None, "get", {"admin": OK, "teacher": DENY, "support": DENY}),
    ("app_detail", "app", "get", {"admin": OK, "teacher": DENY, "support": OK}),
    ("app_edit", "app", "get", {"admin": OK, "teacher": DENY, "support": DENY}),
    ("app_edit_fields", "app", "get", {"admin": OK, "teacher": DENY, "support": DENY}),
    ("app_toggle", "app", "post", {"admin": DONE, "teacher": DENY, "support": DENY}),
    ("app_check", "app", "post", {"admin": OK, "teacher": DENY, "support": DENY}),
    ("app_register_callback", "app", "post", {"admin": OK, "teacher": DENY, "support": DENY}),
    ("storage_list", None, "get", {"admin": OK, "teacher": DENY, "support": DENY}),
    ("storage_create", None, "get", {"admin": OK, "teacher": DENY, "support": DENY}),
    ("storage_edit", "storage", "get", {"admin": OK, "teacher": DENY, "support": DENY}),
    ("storage_validate", "storage", "post", {"admin": OK, "teacher": DENY, "support": DENY}),
    ("room_list", None, "get", {"admin": OK, "teacher": DENY, "support": OK}),
    ("room_create", None, "get", {"admin": OK, "teacher": DENY, "support": DENY}),
    ("room_edit", "room", "get", {"admin": OK, "teacher": DENY, "support": DENY}),
    ("user_list", None, "get", {"admin": OK, "teacher": DENY, "support": DENY}),
    ("user_create", None, "get", {"admin": OK, "teacher": DENY, "support": DENY}),
    ("user_edit", "user", "get", {"admin": OK, "teacher": DENY, "support": DENY}),
]

# Reachable by everyone by design, or checked elsewhere.
NOT_ROLE_GUARDED = {
    "login",  # the way in
    "logout",  # POST only; harmless for anyone
    "set_language",  # Django's language switch
    "vendor_callback",  # vendors sign, not users: tests/integration/test_webhooks.py
    "archived_media",  # checks the viewer's role per file: tests for archiving
}


def _cases():
    for name, key, method, expected in MATRIX:
        for role in ROLES:
            want = LOGIN if role == "anonymous" else expected[role]
            yield pytest.param(name, key, method, role, want, id=f"{name}[{key or '-'}]-{method}-{role}")


@pytest.fixture
def world(db):
    admin = factories.user("boss", "Admin")
    teacher = factories.user("tina", "Teacher")
    other_teacher = factories.user("otto", "Teacher")
    support = factories.user("sue", "Support")
    app = factories.app("tencent_tiw", base_url="http://127.0.0.1:9")  # nothing listens: calls fail fast
    own_room = factories.room(app, teacher)
    foreign_room = factories.room(app, other_teacher)
    own_task = factories.task(own_room, vendor_task_id="t-own")
    foreign_task = factories.task(foreign_room, vendor_task_id="t-foreign")
    from recordings.models import StorageTarget

    storage = StorageTarget.objects.create(name="disk", provider="local")
    users = {"admin": admin, "teacher": teacher, "support": support}
    kwargs = {
        "own_task": {"pk": own_task.pk},
        "foreign_task": {"pk": foreign_task.pk},
        "own_task_stop": {"pk": own_task.pk, "action": "stop"},
        "foreign_task_stop": {"pk": foreign_task.pk, "action": "stop"},
        "app": {"pk": app.pk},
        "storage": {"pk": storage.pk},
        "room": {"pk": own_room.pk},
        "user": {"pk": teacher.pk},
    }
    return users, kwargs


@pytest.mark.parametrize(("name", "key", "method", "role", "expected"), list(_cases()))
def test_access(client, world, name, key, method, role, expected):
    users, kwargs = world
    if role != "anonymous":
        client.force_login(users[role])
    url = reverse(name, kwargs=kwargs[key] if key else None)
    response = getattr(client, method)(url)
    assert response.status_code in expected, f"{role} {method.upper()} {url} -> {response.status_code}"
    if role == "anonymous":
        assert response["Location"].startswith(reverse("login"))


def _named_patterns(resolver: URLResolver, found: set[str]) -> set[str]:
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            if entry.namespace == "admin":
                continue
            _named_patterns(entry, found)
        elif isinstance(entry, URLPattern) and entry.name:
            found.add(entry.name)
    return found


def test_every_url_is_in_the_matrix():
    names = _named_patterns(get_resolver(), set())
    covered = {row[0] for row in MATRIX} | NOT_ROLE_GUARDED
    assert names - covered == set(), "add these URLs to the role matrix"


@pytest.mark.parametrize("role", ["teacher", "support"])
def test_django_admin_is_for_admins_only(client, world, role):
    users, _ = world
    client.force_login(users[role])
    response = client.get("/django-admin/")
    assert response.status_code == 302
    assert "/django-admin/login/" in response["Location"]


def test_django_admin_opens_for_a_staff_admin(client, world):
    users, _ = world
    users["admin"].is_staff = True
    users["admin"].is_superuser = True
    users["admin"].save()
    client.force_login(users["admin"])
    assert client.get("/django-admin/recordings/recordingtask/").status_code == 200
