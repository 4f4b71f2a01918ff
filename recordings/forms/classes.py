"""Forms of the staff pages: start a recording, change a live layout or whiteboard, filter the review list."""

from __future__ import annotations

import json

from django import forms
from django.contrib.auth import get_user_model
from django.forms.fields import InvalidJSONInput
from django.urls import reverse_lazy
from django.utils.translation import gettext_lazy as _

from dashboard.roles import TEACHER, role_flags
from recordings.choices import Mode, ObservedState, Vendor
from recordings.models import Room, StorageTarget, VendorApp
from recordings.permissions import operable_rooms
from recordings.selectors import ReviewFilters

OPTION_PREFIX = "opt_"


def adapter_for(app: VendorApp):
    """An adapter for the app, for its option fields and validation only: nothing here calls the vendor."""
    from recordings.vendors.registry import build_adapter

    return build_adapter(app)


def capabilities_of(vendor: str):
    from recordings.vendors.registry import adapter_class

    return adapter_class(vendor).capabilities


class _JsonOptionField(forms.JSONField):
    """An optional JSON option: empty shows as an empty box, not as the word null."""

    def prepare_value(self, value):
        return "" if value is None else super().prepare_value(value)


def _json_as_typed(text: str):
    # Redraws (htmx, the no-script button) carry the JSON as typed in the query string. Parsed here,
    # it is shown as typed; left a string, it would be quoted once more on every redraw.
    try:
        return json.loads(text)
    except ValueError:
        return InvalidJSONInput(text)


def _option_to_field(spec) -> forms.Field:
    common = {"label": spec.label, "help_text": spec.help, "required": spec.required}
    if spec.type == "int":
        field = forms.IntegerField(min_value=spec.min_value, max_value=spec.max_value, **common)
    elif spec.type == "bool":
        field = forms.BooleanField(**{**common, "required": False})
    elif spec.type == "json":
        field = _JsonOptionField(widget=forms.Textarea(attrs={"rows": 3}), **common)
    elif spec.type == "choice":
        choices = list(spec.choices)
        if not spec.required:
            choices = [("", _("(vendor default)")), *choices]
        field = forms.ChoiceField(choices=choices, **common)
    elif spec.type == "multichoice":
        field = forms.MultipleChoiceField(
            choices=list(spec.choices), widget=forms.CheckboxSelectMultiple, **common
        )
    elif spec.type == "url":
        field = forms.URLField(assume_scheme="https", **common)
    else:
        field = forms.CharField(**common)
    if spec.default not in (None, ""):
        field.initial = spec.default
    return field


class StartForm(forms.Form):
    """App, room, mode, storage, and the options the chosen vendor offers for the chosen mode.

    The option inputs are built from the adapter's `option_fields(mode)` and checked by its
    `clean_options`, so a vendor's limits are enforced in one place, the adapter.
    """

    app = forms.ModelChoiceField(queryset=VendorApp.objects.none(), label=_("App"), empty_label=None)
    room = forms.ModelChoiceField(queryset=Room.objects.none(), label=_("Room"))
    mode = forms.ChoiceField(label=_("What to record"), choices=Mode.choices)
    storage = forms.ModelChoiceField(
        queryset=StorageTarget.objects.all(),
        label=_("Storage"),
        required=False,
        help_text=_("Where the vendor uploads the files. Empty: the app's default storage."),
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        rooms = operable_rooms(user)
        self.fields["app"].queryset = VendorApp.objects.filter(enabled=True, pk__in=rooms.values("app_id"))
        source = self.data if self.is_bound else self.initial
        app = self._pick(self.fields["app"].queryset, source.get("app"))
        self.selected_app = app
        self.fields["room"].queryset = rooms.filter(app=app) if app else rooms.none()
        options_url = reverse_lazy("recording_start_options")
        htmx = {
            "hx-get": options_url,
            "hx-target": "#start-options",
            "hx-swap": "outerHTML",
            "hx-include": "closest form",
        }
        self.fields["app"].widget.attrs.update(htmx)
        self.fields["mode"].widget.attrs.update(htmx)
        self.option_names: list[str] = []
        self.capabilities = None
        self.adapter = None
        self.selected_mode = None
        if app is None:
            self.fields["mode"].choices = []
            return
        if not self.is_bound:
            self.initial.setdefault("app", app.pk)
        # Empty means the app's default, named here, so switching apps never keeps another app's store.
        if app.default_storage_id:
            self.fields["storage"].empty_label = _("The app's default: %(name)s") % {
                "name": app.default_storage.name
            }
        self.capabilities = capabilities_of(app.vendor)
        modes = [(value, label) for value, label in Mode.choices if value in self.capabilities.modes]
        self.fields["mode"].choices = modes
        mode = source.get("mode")
        if mode not in dict(modes):
            # A vendor without the mode asked for (the app just changed): show its first mode. A
            # posted form keeps its value, so the mode field reports the invalid choice.
            mode = modes[0][0] if modes else None
            if not self.is_bound:
                self.initial["mode"] = mode
        self.selected_mode = mode
        if mode is None:
            return
        self.adapter = adapter_for(app)
        for spec in self.adapter.option_fields(Mode(mode)):
            name = OPTION_PREFIX + spec.name
            self.fields[name] = _option_to_field(spec)
            if not self.is_bound and spec.type == "json" and isinstance(self.initial.get(name), str):
                self.initial[name] = _json_as_typed(self.initial[name])
            self.option_names.append(spec.name)

    @staticmethod
    def _pick(queryset, value):
        if value not in (None, ""):
            try:
                return queryset.filter(pk=int(value)).first()
            except (TypeError, ValueError):
                return None
        return queryset.first()

    @property
    def vendor_label(self) -> str:
        return self.selected_app.get_vendor_display() if self.selected_app else ""

    def option_bound_fields(self):
        return [self[OPTION_PREFIX + name] for name in self.option_names]

    def clean(self):
        cleaned = super().clean()
        cleaned["options"] = {}
        if self.errors or self.adapter is None:
            return cleaned
        options = {}
        for name in self.option_names:
            value = cleaned.get(OPTION_PREFIX + name)
            if value in (None, "", []):
                continue
            options[name] = value
        try:
            cleaned["options"] = self.adapter.clean_options(Mode(cleaned["mode"]), options)
        except ValueError as exc:
            # Adapters say "field: why"; the error goes beside that input, else on top of the form.
            name, _sep, why = str(exc).partition(":")
            if _sep and name.strip() in self.option_names:
                self.add_error(OPTION_PREFIX + name.strip(), why.strip())
            elif _sep and name.strip() == "mode":
                self.add_error("mode", why.strip())
            else:
                self.add_error(None, str(exc))
        return cleaned


# The keys each vendor's update_layout passes on (the adapters drop any other), for help and checking.
LAYOUT_KEYS = {
    Vendor.AGORA: (
        "mixedVideoLayout",
        "layoutConfig",
        "maxResolutionUid",
        "backgroundColor",
        "backgroundImage",
        "defaultUserBackgroundImage",
        "backgroundConfig",
    ),  # fmt: skip
    Vendor.ZEGO: ("MixMode", "MixInputList", "MixMaxResolutionStreamId"),
    Vendor.VOLCENGINE: ("Layout", "TargetStreams"),
}


class LayoutForm(forms.Form):
    layout = forms.JSONField(label=_("Mixed layout"), widget=forms.Textarea(attrs={"rows": 4}))

    def __init__(self, *args, vendor: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self.keys = LAYOUT_KEYS.get(vendor, ())
        if self.keys:
            self.fields["layout"].help_text = _(
                "A JSON object in the vendor's own words, with any of: %(keys)s."
            ) % {"keys": ", ".join(self.keys)}

    def clean_layout(self):
        value = self.cleaned_data["layout"]
        if not isinstance(value, dict) or not value:
            raise forms.ValidationError(_("Enter a JSON object."))
        if self.keys and not set(value) & set(self.keys):
            raise forms.ValidationError(
                _("The vendor would ignore all of these keys; use %(keys)s.") % {"keys": ", ".join(self.keys)}
            )
        return value


class WhiteboardForm(forms.Form):
    whiteboard_id = forms.CharField(
        label=_("Whiteboard to record"),
        max_length=128,
        help_text=_("The ID of the whiteboard the recording should show from now on."),
    )

    def payload(self) -> dict:
        # ZEGO is the one vendor that switches whiteboards mid-recording; its adapter reads its own key.
        return {"WhiteboardId": self.cleaned_data["whiteboard_id"]}


def _users_teaching():
    return get_user_model().objects.filter(groups__name=TEACHER, is_active=True).order_by("username")


class ReviewFilterForm(forms.Form):
    """Every filter lives in the query string, so a filtered list is a link one can send."""

    q = forms.CharField(label=_("Search"), required=False, help_text=_("Room, ID, teacher or error code"))
    vendor = forms.ChoiceField(label=_("Vendor"), required=False, choices=[("", _("Any")), *Vendor.choices])
    app = forms.ModelChoiceField(
        label=_("App"), required=False, queryset=VendorApp.objects.all(), empty_label=_("Any")
    )
    room = forms.ModelChoiceField(
        label=_("Room"), required=False, queryset=Room.objects.all(), empty_label=_("Any")
    )
    teacher = forms.ModelChoiceField(
        label=_("Teacher"), required=False, queryset=get_user_model().objects.none(), empty_label=_("Any")
    )
    state = forms.ChoiceField(
        label=_("State"), required=False, choices=[("", _("Any")), *ObservedState.choices]
    )
    date_from = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    date_to = forms.DateField(
        label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    has_errors = forms.ChoiceField(
        label=_("Errors"),
        required=False,
        choices=[("", _("Any")), ("yes", _("With errors")), ("no", _("Without errors"))],
    )
    min_minutes = forms.IntegerField(label=_("Min. minutes"), required=False, min_value=0)
    max_minutes = forms.IntegerField(label=_("Max. minutes"), required=False, min_value=0)
    sort = forms.ChoiceField(
        label=_("Sort by"),
        required=False,
        choices=[
            ("newest", _("Newest first")),
            ("oldest", _("Oldest first")),
            ("longest", _("Longest first")),
            ("shortest", _("Shortest first")),
            ("room", _("Room")),
            ("state", _("State")),
            ("vendor", _("Vendor")),
        ],
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        flags = role_flags(user)
        if not flags.reads_everything:
            self.fields["room"].queryset = Room.objects.filter(teachers=user)
            self.fields["app"].queryset = VendorApp.objects.filter(rooms__teachers=user).distinct()
            self.fields["teacher"].queryset = get_user_model().objects.filter(pk=user.pk)
        else:
            self.fields["teacher"].queryset = _users_teaching()
        self.fields["room"].queryset = self.fields["room"].queryset.select_related("app")

    def clean(self):
        cleaned = super().clean()
        low, high = cleaned.get("min_minutes"), cleaned.get("max_minutes")
        if low is not None and high is not None and low > high:
            self.add_error("max_minutes", _("The maximum is below the minimum."))
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", _("The end date is before the start date."))
        return cleaned

    def filters(self) -> ReviewFilters:
        """The filters to apply; an invalid field is ignored (and shown as an error), the rest still apply."""
        data = getattr(self, "cleaned_data", {}) or {}

        def good(name):
            return None if name in self.errors else data.get(name)

        errors = {"yes": True, "no": False}.get(good("has_errors") or "")
        return ReviewFilters(
            q=good("q") or "",
            vendor=good("vendor") or "",
            app=good("app").pk if good("app") else None,
            room=good("room").pk if good("room") else None,
            teacher=good("teacher").pk if good("teacher") else None,
            state=good("state") or "",
            date_from=good("date_from"),
            date_to=good("date_to"),
            has_errors=errors,
            min_minutes=good("min_minutes"),
            max_minutes=good("max_minutes"),
            sort=good("sort") or "newest",
        )
