"""Admin forms for vendor apps, storage targets and rooms. A stored secret is never rendered back."""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model
from django.utils.formats import date_format
from django.utils.translation import gettext_lazy as _

from dashboard.roles import TEACHER
from recordings.choices import StorageProvider, Vendor
from recordings.models import Room, StorageTarget, VendorApp

# What each vendor calls the app identifier, so the form speaks the vendor's language.
APP_ID_LABELS = {
    Vendor.TENCENT_TIW: _("SdkAppId"),
    Vendor.TENCENT_TIC: _("SdkAppId"),
    Vendor.AGORA: _("App ID"),
    Vendor.ZEGO: _("AppId"),
    Vendor.VOLCENGINE: _("AppId"),
}


def credential_fields_for(vendor: str):
    from recordings.vendors.registry import adapter_class

    return adapter_class(vendor).credential_fields


def secret_status(app: VendorApp | None) -> dict[str, object]:
    """name → set_at, for the credentials an app already has (never the values)."""
    if app is None or app.pk is None:
        return {}
    return dict(app.credentials.values_list("name", "set_at"))


class VendorAppForm(forms.ModelForm):
    """The app's fields plus one password input per credential its vendor needs.

    Credential inputs start empty. Left empty, the stored secret is kept; typed, it is replaced.
    """

    class Meta:
        model = VendorApp
        fields = [
            "vendor",
            "name",
            "app_id",
            "region",
            "api_base_url",
            "default_storage",
            "max_duration_seconds",
            "idle_stop_seconds",
            "enabled",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        vendor = self.data.get("vendor") if self.is_bound else None
        vendor = vendor or self.initial.get("vendor") or self.instance.vendor or Vendor.TENCENT_TIW
        if vendor not in Vendor.values:
            vendor = Vendor.TENCENT_TIW
        self.vendor = vendor
        if self.instance.pk:
            # Changing an app's vendor would orphan its recordings' vendor references.
            self.fields["vendor"].disabled = True
        self.fields["vendor"].widget.attrs.update(
            {
                "hx-get": "fields/",
                "hx-target": "#vendor-fields",
                "hx-select": "#vendor-fields",
                "hx-swap": "outerHTML",
                "hx-include": "closest form",
            }
        )
        self.fields["app_id"].label = APP_ID_LABELS.get(vendor, _("vendor app ID"))
        status = secret_status(self.instance)
        self.secret_fields = []
        for spec in credential_fields_for(vendor):
            name = f"secret_{spec.name}"
            set_at = status.get(spec.name)
            self.fields[name] = forms.CharField(
                label=spec.label,
                required=spec.required and set_at is None,
                strip=True,
                widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
                help_text=spec.help,
            )
            self.fields[name].set_at = set_at
            self.fields[name].credential = spec.name
            self.secret_fields.append(name)
            if not spec.required and set_at is not None:
                clear = f"clear_{spec.name}"
                self.fields[clear] = forms.BooleanField(label=_("Remove"), required=False)

    def secret_bound_fields(self):
        return [
            (self[name], self.fields[name].set_at, self._clear_field(name)) for name in self.secret_fields
        ]

    def _clear_field(self, name):
        clear = "clear_" + name.removeprefix("secret_")
        return self[clear] if clear in self.fields else None

    def new_secrets(self) -> dict[str, str]:
        return {
            self.fields[name].credential: self.cleaned_data[name]
            for name in self.secret_fields
            if self.cleaned_data.get(name)
        }

    def cleared_secrets(self) -> list[str]:
        return [
            name.removeprefix("clear_")
            for name in self.fields
            if name.startswith("clear_") and self.cleaned_data.get(name)
        ]

    def clean_app_id(self):
        value = self.cleaned_data["app_id"].strip()
        if self.vendor in (Vendor.TENCENT_TIW, Vendor.TENCENT_TIC) and not value.isdigit():
            raise forms.ValidationError(_("A Tencent SdkAppId is a number, such as 1400000001."))
        return value

    def clean_max_duration_seconds(self):
        value = self.cleaned_data["max_duration_seconds"]
        if not 60 <= value <= 7 * 24 * 3600:
            raise forms.ValidationError(_("Between 60 seconds and 7 days."))
        return value


def describe_set_at(set_at) -> str:
    return (
        _("set on %(date)s") % {"date": date_format(set_at, "SHORT_DATETIME_FORMAT")}
        if set_at
        else _("not set")
    )


class StorageTargetForm(forms.ModelForm):
    new_secret = forms.CharField(
        label=_("Secret access key"),
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_("Leave empty to keep the stored secret."),
    )
    secret_fields = ("new_secret",)

    class Meta:
        model = StorageTarget
        fields = ["name", "provider", "region", "bucket", "endpoint", "path_style", "access_key", "prefix"]

    def clean(self):
        data = super().clean()
        provider = data.get("provider")
        if provider and provider != StorageProvider.LOCAL:
            if not data.get("bucket"):
                self.add_error("bucket", _("A bucket is required for this provider."))
            if not data.get("access_key"):
                self.add_error("access_key", _("An access key ID is required for this provider."))
            if not data.get("new_secret") and not self.instance.secret:
                self.add_error("new_secret", _("A secret is required for this provider."))
        if provider == StorageProvider.S3_COMPATIBLE and not data.get("endpoint"):
            self.add_error("endpoint", _("An S3-compatible provider needs its endpoint URL."))
        return data


class RoomForm(forms.ModelForm):
    class Meta:
        model = Room
        fields = ["app", "room_id", "group_id", "title", "teachers"]
        widgets = {"teachers": forms.CheckboxSelectMultiple}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["teachers"].queryset = (
            get_user_model().objects.filter(groups__name=TEACHER).order_by("username")
        )

    def clean(self):
        data = super().clean()
        app, room_id = data.get("app"), (data.get("room_id") or "").strip()
        if app and room_id and app.vendor in (Vendor.TENCENT_TIW, Vendor.TENCENT_TIC):
            if not room_id.isdigit() or not 1 <= int(room_id) <= 4294967295:
                self.add_error("room_id", _("A Tencent room ID is a whole number from 1 to 4294967295."))
        return data
