from __future__ import annotations

import zoneinfo

from django import forms
from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.models import Group
from django.utils.translation import gettext_lazy as _

from dashboard.roles import ALL_ROLES

ROLE_LABELS = {"Admin": _("Admin"), "Teacher": _("Teacher"), "Support": _("Support")}
TIMEZONE_CHOICES = [("", _("Organisation default"))] + [
    (name, name)
    for name in sorted(zoneinfo.available_timezones())
    if "/" in name and not name.startswith("Etc/")
]


class UserForm(forms.ModelForm):
    roles = forms.MultipleChoiceField(
        label=_("Roles"),
        choices=[(name, ROLE_LABELS[name]) for name in ALL_ROLES],
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    timezone = forms.ChoiceField(label=_("Time zone"), choices=TIMEZONE_CHOICES, required=False)
    password = forms.CharField(
        label=_("Password"),
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_("Leave empty to keep the current password."),
    )

    class Meta:
        model = get_user_model()
        fields = ["username", "first_name", "last_name", "email", "is_active"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["roles"].initial = list(self.instance.groups.values_list("name", flat=True))
            profile = getattr(self.instance, "profile", None)
            self.fields["timezone"].initial = profile.timezone if profile else ""
        else:
            self.fields["password"].required = True
            self.fields["password"].help_text = ""

    def clean_password(self):
        password = self.cleaned_data.get("password")
        if password:
            password_validation.validate_password(password, self.instance)
        return password

    def clean_roles(self):
        roles = self.cleaned_data["roles"]
        if not Group.objects.filter(name__in=roles).count() == len(roles):
            raise forms.ValidationError(_("Unknown role."))
        return roles
