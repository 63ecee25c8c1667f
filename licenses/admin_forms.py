"""Forms of the license console: each action's form, built from its registry entry."""

from __future__ import annotations

from typing import Any

from django import forms

from core.dates import INPUT_FORMATS, UtcDateTimeInput
from licenses.choices import MAX_RENEWAL_DAYS
from packages.choices import MAX_SEATS, SITE_LICENSE
from packages.models import validate_seats

from .actions import MAX_REASON_LENGTH, ActionField, LicenseAction
from .models import License

# Typed as shown (`2026-12-27 19:06 UTC`), with or without the zone and seconds.
DATETIME_INPUT_FORMATS = INPUT_FORMATS
NEVER_EXPIRES = "never_expires"


def _field(spec: ActionField) -> forms.Field:
    options: dict[str, Any] = {"label": spec.label, "help_text": spec.help_text}
    if spec.kind == "seats":
        return forms.IntegerField(
            required=spec.required,
            min_value=SITE_LICENSE,
            max_value=MAX_SEATS,
            validators=[validate_seats],
            **options,
        )
    if spec.kind == "days":
        return forms.IntegerField(
            required=spec.required, min_value=1, max_value=MAX_RENEWAL_DAYS, **options
        )
    if spec.kind == "datetime":
        return forms.DateTimeField(
            # A required "no date" is said with the box next to it.
            required=spec.required and not spec.nullable,
            input_formats=DATETIME_INPUT_FORMATS,
            widget=UtcDateTimeInput(),
            **options,
        )
    return forms.CharField(
        required=spec.required,
        max_length=MAX_REASON_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        **options,
    )


class LicenseActionForm(forms.Form):
    """What one registry action asks for. Given the one license an edit will run on, the
    form starts from that license's values."""

    def __init__(
        self, *args: Any, action: LicenseAction, license: License | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.action = action
        self.nullable_required = None
        for spec in action.fields:
            self.fields[spec.name] = _field(spec)
            if spec.kind == "datetime" and spec.nullable and spec.required:
                self.nullable_required = spec.name
                self.fields[NEVER_EXPIRES] = forms.BooleanField(
                    required=False, label="Does not expire", help_text="Remove the end date."
                )
        if license is not None:
            self._from_license(license)

    def _from_license(self, license: License) -> None:
        if not self.action.changes_status:
            # An edit starts from what the license has now.
            for name in ("seats", "expires_at"):
                if name in self.fields:
                    self.initial[name] = getattr(license, name)
            if NEVER_EXPIRES in self.fields:
                self.initial[NEVER_EXPIRES] = license.expires_at is None

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        name = self.nullable_required
        if name and not self.errors:
            if data.get(NEVER_EXPIRES) and data.get(name):
                raise forms.ValidationError("Give an end date or tick 'Does not expire', not both.")
            if not data.get(NEVER_EXPIRES) and not data.get(name):
                raise forms.ValidationError("Give an end date, or tick 'Does not expire'.")
        return data

    def arguments(self) -> dict[str, Any]:
        """The License method's arguments, from the cleaned data."""
        data = {spec.name: self.cleaned_data.get(spec.name) for spec in self.action.fields}
        for spec in self.action.fields:
            if data[spec.name] is None:
                data[spec.name] = spec.default
        if self.nullable_required and self.cleaned_data.get(NEVER_EXPIRES):
            data[self.nullable_required] = None
        return data


class LicenseChangeForm(forms.ModelForm):
    """The license page's only editable part: its lead and Account, each assigned through
    its model method (and so written to the license's history)."""

    assign_lead = forms.ModelChoiceField(
        queryset=None, required=False, label="Lead", help_text="Empty: no lead."
    )
    assign_account = forms.ModelChoiceField(
        queryset=None, required=False, label="Account", help_text="Empty: no account."
    )
    assign_reason = forms.CharField(required=False, max_length=500, label="Reason for the change")

    class Meta:
        model = License
        fields: list[str] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from django.contrib import admin
        from django.contrib.admin.widgets import AutocompleteSelect

        from leads.models import Account, Lead

        super().__init__(*args, **kwargs)
        for name, model_field, queryset, initial in (
            ("assign_lead", "lead", Lead.objects.all(), self.instance.lead_id),
            ("assign_account", "account", Account.objects.all(), self.instance.account_id),
        ):
            field = self.fields.get(name)
            if field is not None:
                # The widget first: setting the queryset hands its choices to the widget.
                field.widget = AutocompleteSelect(License._meta.get_field(model_field), admin.site)
                field.queryset = queryset
                field.initial = initial
