"""Admin pages: vendor apps, storage targets, rooms. Support staff may read them; only admins change them."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from dashboard.roles import ADMIN, SUPPORT, role_required
from recordings import config
from recordings.forms.config import RoomForm, StorageTargetForm, VendorAppForm, describe_set_at
from recordings.models import Room, StorageTarget, VendorApp


def _ip(request) -> str | None:
    return request.META.get("REMOTE_ADDR")


@role_required(ADMIN, SUPPORT)
def app_list(request):
    apps = VendorApp.objects.select_related("default_storage").order_by("name")
    return render(request, "recordings/app_list.html", {"apps": apps})


@role_required(ADMIN, SUPPORT)
def app_detail(request, pk: int):
    app = get_object_or_404(VendorApp.objects.select_related("default_storage"), pk=pk)
    credentials = [
        (spec, describe_set_at(set_at), set_at is not None) for spec, set_at in config.credential_status(app)
    ]
    return render(
        request,
        "recordings/app_detail.html",
        {"app": app, "credentials": credentials, "recent_calls": app.calls.order_by("-created_at")[:10]},
    )


@role_required(ADMIN)
def app_edit(request, pk: int | None = None):
    app = get_object_or_404(VendorApp, pk=pk) if pk else None
    initial = {"vendor": request.GET.get("vendor")} if app is None and request.GET.get("vendor") else None
    form = VendorAppForm(request.POST or None, instance=app, initial=initial)
    if request.method == "POST" and form.is_valid():
        app = config.save_app(form, request.user, ip=_ip(request))
        messages.success(request, _("Saved %(name)s.") % {"name": app.name})
        return redirect("app_detail", pk=app.pk)
    return render(request, "recordings/app_form.html", {"form": form, "app": app})


@require_GET
@role_required(ADMIN)
def app_vendor_fields(request, pk: int | None = None):
    """HTMX: the form again for the vendor just picked, so its credential fields follow the vendor."""
    app = get_object_or_404(VendorApp, pk=pk) if pk else None
    form = VendorAppForm(initial={**request.GET.dict()}, instance=app)
    return render(request, "recordings/app_form.html#vendor-fields", {"form": form, "app": app})


@require_POST
@role_required(ADMIN)
def app_toggle(request, pk: int):
    app = get_object_or_404(VendorApp, pk=pk)
    config.set_app_enabled(app, not app.enabled, request.user, ip=_ip(request))
    if app.enabled:
        messages.success(request, _("%(name)s is enabled.") % {"name": app.name})
    else:
        messages.info(
            request, _("%(name)s is disabled: no new recording can start on it.") % {"name": app.name}
        )
    return redirect("app_detail", pk=app.pk)


@require_POST
@role_required(ADMIN)
def app_check(request, pk: int):
    app = get_object_or_404(VendorApp, pk=pk)
    result = config.check_connection(app, request.user, ip=_ip(request))
    return render(request, "recordings/app_detail.html#vendor-result", {"result": result, "app": app})


@require_POST
@role_required(ADMIN)
def app_register_callback(request, pk: int):
    app = get_object_or_404(VendorApp, pk=pk)
    result = config.register_callback(app, request.user, ip=_ip(request))
    return render(request, "recordings/app_detail.html#vendor-result", {"result": result, "app": app})


@role_required(ADMIN)
def storage_list(request):
    return render(request, "recordings/storage_list.html", {"targets": StorageTarget.objects.all()})


@role_required(ADMIN)
def storage_edit(request, pk: int | None = None):
    target = get_object_or_404(StorageTarget, pk=pk) if pk else None
    form = StorageTargetForm(request.POST or None, instance=target)
    if request.method == "POST" and form.is_valid():
        target = config.save_storage(form, request.user, ip=_ip(request))
        messages.success(request, _("Saved storage %(name)s.") % {"name": target.name})
        return redirect("storage_list")
    return render(
        request,
        "recordings/storage_form.html",
        {
            "form": form,
            "target": target,
            "secret_state": describe_set_at(target.secret_set_at) if target else "",
        },
    )


@require_POST
@role_required(ADMIN)
def storage_validate(request, pk: int):
    """Put, read back and delete a probe object; each step's result in place, in plain words."""
    from recordings import archiving

    target = get_object_or_404(StorageTarget, pk=pk)
    probe = archiving.validate_storage(target, user=request.user, ip=_ip(request))
    return render(request, "recordings/storage_form.html#validate-result", {"probe": probe, "target": target})


@role_required(ADMIN, SUPPORT)
def room_list(request):
    rooms = Room.objects.select_related("app").prefetch_related("teachers").order_by("app__name", "title")
    return render(request, "recordings/room_list.html", {"rooms": rooms})


@role_required(ADMIN)
def room_edit(request, pk: int | None = None):
    room = get_object_or_404(Room, pk=pk) if pk else None
    form = RoomForm(request.POST or None, instance=room)
    if request.method == "POST" and form.is_valid():
        room = config.save_room(form, request.user, ip=_ip(request))
        messages.success(request, _("Saved room %(title)s.") % {"title": room.title})
        return redirect("room_list")
    return render(request, "recordings/room_form.html", {"form": form, "room": room})
