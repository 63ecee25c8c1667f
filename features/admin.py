"""Feature parameters in the console: typed defaults per package, and bulk-setting a value
on many licenses at once through the same service the license page uses."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from core.console import IntermediateActionMixin
from core.salesforce_ids import ORG_PREFIX, try_normalize
from licenses.choices import TERMINAL_STATUSES, LicenseStatus
from licenses.models import License
from lmo import clock
from packages.models import PackageVersion

from .choices import DataType, Direction
from .models import FeatureParameter
from .services import (
    feature_override_bulk_set,
    feature_parameter_create,
    feature_parameter_update,
    feature_value_bulk_set,
)

DEFAULT_FIELDS = {data_type: f"default_{data_type}" for data_type in DataType.values}
MAX_REPORTED_REFUSALS = 50
MAX_PILOT_ORGS = 500


class FeatureParameterForm(forms.ModelForm):
    """Only the default matching the parameter's type may be given."""

    class Meta:
        model = FeatureParameter
        fields = (
            "package",
            "developer_name",
            "label",
            "data_type",
            "direction",
            "default_boolean",
            "default_integer",
            "default_date",
            "introduced_in_version",
        )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        data_type = data.get("data_type") or self.instance.data_type
        for other, field in DEFAULT_FIELDS.items():
            if other != data_type and data.get(field) is not None:
                self.add_error(field, f"Leave empty: this parameter is of type {data_type}.")
        return data


def value_field(parameter: FeatureParameter) -> forms.Field:
    if parameter.data_type == DataType.BOOLEAN:
        return forms.TypedChoiceField(
            choices=[("true", "On (true)"), ("false", "Off (false)")],
            coerce=lambda raw: raw == "true",
            label="Value",
        )
    if parameter.data_type == DataType.INTEGER:
        return forms.IntegerField(label="Value")
    return forms.DateField(label="Value", widget=forms.DateInput(attrs={"type": "date"}))


class BulkValueForm(forms.Form):
    statuses = forms.MultipleChoiceField(
        choices=[
            (s, LicenseStatus(s).label) for s in LicenseStatus.values if s not in TERMINAL_STATUSES
        ],
        initial=[LicenseStatus.ACTIVE],
        widget=forms.CheckboxSelectMultiple,
        label="Licenses with status",
    )
    version = forms.ModelChoiceField(
        queryset=PackageVersion.objects.none(),
        required=False,
        label="Only on version",
        help_text="Empty: every version.",
    )
    org_ids = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 40}),
        label="Only these orgs",
        help_text="Org ids (15 or 18 characters), one per line or comma separated, for a "
        f"pilot of up to {MAX_PILOT_ORGS} orgs. Empty: every license that matches above.",
    )
    until = forms.DateTimeField(
        required=False,
        label="Until (UTC)",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="Set: the value holds until then, and the sweep puts back what each license "
        "had (a pilot). Empty: the value stays.",
    )
    reason = forms.CharField(required=False, max_length=500, label="Reason (written to history)")

    def clean_org_ids(self) -> list[str]:
        raw = [part for part in re.split(r"[\s,;]+", self.cleaned_data["org_ids"]) if part]
        normalized, bad = [], []
        for part in raw:
            org_id = try_normalize(part, prefix=ORG_PREFIX)
            if org_id:
                normalized.append(org_id)
            else:
                bad.append(part)
        if bad:
            raise forms.ValidationError(f"Not org ids: {', '.join(bad[:10])}.")
        if len(set(normalized)) > MAX_PILOT_ORGS:
            raise forms.ValidationError(f"At most {MAX_PILOT_ORGS} orgs at once.")
        return list(dict.fromkeys(normalized))

    def clean_until(self):
        until = self.cleaned_data.get("until")
        if until is not None and until <= clock.now():
            raise forms.ValidationError("Give a time in the future.")
        return until

    def __init__(self, *args, parameter: FeatureParameter, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields = {"value": value_field(parameter), **self.fields}
        self.fields["version"].queryset = PackageVersion.objects.filter(
            package_id=parameter.package_id
        ).newest_first()


@admin.register(FeatureParameter)
class FeatureParameterAdmin(IntermediateActionMixin, admin.ModelAdmin):
    form = FeatureParameterForm
    list_display = (
        "developer_name",
        "label",
        "package",
        "data_type",
        "direction",
        "default",
        "introduced_in_version",
    )
    list_filter = ("package", "direction", "data_type")
    list_select_related = ("package", "introduced_in_version")
    search_fields = ("developer_name", "label")
    actions = ["bulk_set_value"]

    @admin.display(description="Default")
    def default(self, obj: FeatureParameter) -> str:
        return "-" if obj.default_value is None else str(obj.default_value)

    def get_fields(self, request, obj=None):
        if obj is None:
            return (
                "package",
                "developer_name",
                "label",
                "data_type",
                "direction",
                *DEFAULT_FIELDS.values(),
                "introduced_in_version",
            )
        return (
            "package",
            "developer_name",
            "data_type",
            "direction",
            "label",
            DEFAULT_FIELDS[obj.data_type],
            "introduced_in_version",
        )

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        # Type, direction and name travel to subscriber orgs: fixed once created.
        return ("package", "developer_name", "data_type", "direction")

    def has_delete_permission(self, request, obj=None):
        return False

    def has_bulk_value_permission(self, request) -> bool:
        return request.user.has_perm("features.change_featureparametervalue")

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            feature_parameter_update(
                parameter=obj,
                label=data["label"],
                default_value=data.get(DEFAULT_FIELDS[obj.data_type]),
                introduced_in_version=data.get("introduced_in_version"),
            )
            return
        created = feature_parameter_create(
            package=data["package"],
            developer_name=data["developer_name"],
            label=data["label"],
            data_type=data["data_type"],
            direction=data["direction"],
            default_value=data.get(DEFAULT_FIELDS[data["data_type"]]),
            introduced_in_version=data.get("introduced_in_version"),
        )
        # The admin logs and redirects with the object it handed in: give it the new row's id.
        obj.pk = created.pk
        obj._state.adding = False

    @admin.action(
        description="Set a value on many licenses (LMO-to-subscriber)",
        permissions=["bulk_value"],
    )
    def bulk_set_value(self, request: HttpRequest, queryset: QuerySet):
        parameters = list(queryset.select_related("package")[:2])
        if len(parameters) != 1:
            messages.warning(request, "Choose exactly one parameter to set.")
            return None
        parameter = parameters[0]
        if parameter.direction != Direction.LMO_TO_SUBSCRIBER:
            messages.error(
                request,
                f"{parameter.developer_name} is set by the subscriber org; it is read-only here.",
            )
            return None
        form = BulkValueForm(
            request.POST if self.wants_apply(request) else None, parameter=parameter
        )
        if self.wants_apply(request) and form.is_valid():
            data = form.cleaned_data
            licenses = License.objects.filter(package_id=parameter.package_id).filter(
                status__in=data["statuses"]
            )
            if data["version"] is not None:
                licenses = licenses.filter(version=data["version"])
            if data["org_ids"]:
                licenses = licenses.filter(org_id__in=data["org_ids"])
            chosen = licenses.order_by("pk").iterator(chunk_size=500)
            if data["until"] is not None:
                results = feature_override_bulk_set(
                    parameter=parameter,
                    licenses=chosen,
                    value=data["value"],
                    until=data["until"],
                    by=request.user,
                    reason=data["reason"],
                )
            else:
                results = feature_value_bulk_set(
                    parameter=parameter,
                    licenses=chosen,
                    value=data["value"],
                    by=request.user,
                    reason=data["reason"],
                )
            changed = sum(1 for r in results if r.outcome == "changed")
            unchanged = sum(1 for r in results if r.outcome == "unchanged")
            refused = [r for r in results if r.outcome == "refused"]
            until = f" until {data['until']:%Y-%m-%d %H:%M} UTC" if data["until"] else ""
            messages.success(
                request,
                f"{parameter.developer_name} = {data['value']}{until}: {changed} license(s) "
                f"changed, {unchanged} already had it, {len(refused)} refused.",
            )
            for result in refused[:MAX_REPORTED_REFUSALS]:
                messages.error(request, f"{result.license_name} refused: {result.message}")
            return None
        return self.confirm_page(
            request,
            queryset,
            action="bulk_set_value",
            title=f"Set {parameter.developer_name} on {parameter.package.name} licenses",
            intro=f"{parameter.label} ({parameter.get_data_type_display()}). Each license "
            "gets the value through the same service as its own page, with a history entry.",
            form=form,
            submit_label="Set the value",
            objects=[],
        )
