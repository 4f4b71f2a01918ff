from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.views import LoginView
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _

from dashboard import services
from dashboard.forms import UserForm
from dashboard.roles import ADMIN, role_required

DEMO_LOGINS = (("admin", "Admin"), ("teacher", "Teacher"), ("support", "Support"))


class RecDeskLoginView(LoginView):
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        # Only a development instance advertises its demo accounts, and only while they exist.
        if not settings.PRODUCTION:
            existing = set(
                get_user_model()
                .objects.filter(username__in=[n for n, _ in DEMO_LOGINS])
                .values_list("username", flat=True)
            )
            context["demo_logins"] = [(name, role) for name, role in DEMO_LOGINS if name in existing]
        return context


@role_required(ADMIN)
def user_list(request):
    users = get_user_model().objects.prefetch_related("groups").order_by("username")
    return render(request, "dashboard/user_list.html", {"users": users})


@role_required(ADMIN)
def user_edit(request, pk: int | None = None):
    user = get_object_or_404(get_user_model(), pk=pk) if pk else None
    form = UserForm(request.POST or None, instance=user)
    if request.method == "POST" and form.is_valid():
        user = services.save_user(form, request.user, ip=request.META.get("REMOTE_ADDR"))
        messages.success(request, _("Saved user %(name)s.") % {"name": user.get_username()})
        return redirect("user_list")
    return render(request, "dashboard/user_form.html", {"form": form, "edited": user})
