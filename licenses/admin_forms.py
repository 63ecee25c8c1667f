"""Forms of the license console: what each action asks for before it runs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django import forms

from lmo.dates import UtcDateTimeInput
from packages.choices import MAX_SEATS, SITE_LICENSE

from .models import License

DATETIME_WIDGET = UtcDateTimeInput()


def seats_field(*, required: bool) -> forms.IntegerField:
    return forms.IntegerField(
        required=required,
        min_value=SITE_LICENSE,
        max_value=MAX_SEATS,
        help_text=f"1 to {MAX_SEATS:,}, or -1 for a site license (every user of the org).",
    )


def reason_field(*, required: bool) -> forms.CharField:
    return forms.CharField(
        required=required,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text="Written to each license's history.",
    )


class ActivateForm(forms.Form):
    seats = seats_field(required=False)
    expires_at = forms.DateTimeField(
        required=False,
        widget=DATETIME_WIDGET,
        label="Expires at (UTC)",
        help_text="Empty: the license does not expire.",
    )
    reason = reason_field(required=False)

    def clean_seats(self) -> int | None:
        seats = self.cleaned_data.get("seats")
        if seats == 0:
            raise forms.ValidationError("Seats must be at least 1, or -1 for a site license.")
        return seats


class SuspendForm(forms.Form):
    reason = reason_field(required=True)


class ReinstateForm(forms.Form):
    reason = reason_field(required=False)


class ExtendTrialForm(forms.Form):
    until = forms.DateTimeField(
        widget=DATETIME_WIDGET,
        label="Trial ends at (UTC)",
        help_text="At most 90 days after the trial started.",
    )
    reason = reason_field(required=False)


class SetSeatsForm(forms.Form):
    seats = seats_field(required=True)
    reason = reason_field(required=False)

    clean_seats = ActivateForm.clean_seats


class SetExpirationForm(forms.Form):
    expires_at = forms.DateTimeField(
        required=False, widget=DATETIME_WIDGET, label="Expires at (UTC)"
    )
    never_expires = forms.BooleanField(
        required=False, label="Does not expire", help_text="Remove the end date instead."
    )
    reason = reason_field(required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("never_expires") and data.get("expires_at"):
            raise forms.ValidationError("Give an end date or tick 'Does not expire', not both.")
        if not data.get("never_expires") and not data.get("expires_at") and not self.errors:
            raise forms.ValidationError("Give an end date, or tick 'Does not expire'.")
        return data


@dataclass(frozen=True)
class LicenseAction:
    """One console action: the form it asks, and the License method it calls per license."""

    name: str
    label: str
    verb: str
    form_class: type[forms.Form]
    apply: Callable[[License, Any, dict[str, Any]], Any]
    needs_status_permission: bool


LICENSE_ACTIONS: dict[str, LicenseAction] = {
    action.name: action
    for action in (
        LicenseAction(
            "activate",
            "Activate (customer bought)",
            "Activated",
            ActivateForm,
            lambda lic, by, d: lic.activate(
                by, seats=d["seats"], expires_at=d["expires_at"], reason=d["reason"]
            ),
            True,
        ),
        LicenseAction(
            "suspend",
            "Suspend",
            "Suspended",
            SuspendForm,
            lambda lic, by, d: lic.suspend(by, d["reason"]),
            True,
        ),
        LicenseAction(
            "reinstate",
            "Reinstate (lift suspension)",
            "Reinstated",
            ReinstateForm,
            lambda lic, by, d: lic.reinstate(by, reason=d["reason"]),
            True,
        ),
        LicenseAction(
            "extend_trial",
            "Extend trial",
            "Trial extended",
            ExtendTrialForm,
            lambda lic, by, d: lic.extend_trial(by, d["until"], reason=d["reason"]),
            True,
        ),
        LicenseAction(
            "set_seats",
            "Set seats",
            "Seats set",
            SetSeatsForm,
            lambda lic, by, d: lic.set_seats(by, d["seats"], reason=d["reason"]),
            False,
        ),
        LicenseAction(
            "set_expiration",
            "Set expiration",
            "Expiration set",
            SetExpirationForm,
            lambda lic, by, d: lic.set_expiration(
                by, None if d["never_expires"] else d["expires_at"], reason=d["reason"]
            ),
            False,
        ),
    )
}


class LicenseChangeForm(forms.ModelForm):
    """The license page's only editable part: its Account, assigned through the model method."""

    assign_account = forms.ModelChoiceField(
        queryset=None, required=False, label="Account", help_text="Empty: no account."
    )
    assign_reason = forms.CharField(
        required=False, max_length=500, label="Reason for the account change"
    )

    class Meta:
        model = License
        fields: list[str] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from django.contrib import admin
        from django.contrib.admin.widgets import AutocompleteSelect

        from leads.models import Account

        super().__init__(*args, **kwargs)
        field = self.fields.get("assign_account")
        if field is not None:
            # The widget first: setting the queryset hands its choices to the widget.
            field.widget = AutocompleteSelect(License._meta.get_field("account"), admin.site)
            field.queryset = Account.objects.all()
            field.initial = self.instance.account_id
