"""The license list's "Set feature values": chosen values on hand-picked licenses, previewed
before they are written. Both the preview and the change go through the feature service's
bulk set, so a license is counted and refused by the same rules that then apply."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db import transaction
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse

from features.choices import DataType, Direction
from features.models import FeatureParameter, FeatureParameterValue
from features.services import BulkResult, feature_value_bulk_set

from .models import License

# Hand-picked means a customer's orgs, not the whole table: larger sets belong to the
# feature parameter's own bulk action (by status and version).
MAX_LICENSES = 1000
MAX_LISTED_REFUSALS = 50


def _value_field(parameter: FeatureParameter, label: str) -> forms.Field:
    if parameter.data_type == DataType.BOOLEAN:
        return forms.TypedChoiceField(
            label=label,
            required=False,
            choices=[("", "Leave as it is"), ("true", "On"), ("false", "Off")],
            coerce=lambda raw: raw == "true",
            empty_value=None,
        )
    if parameter.data_type == DataType.INTEGER:
        return forms.IntegerField(label=label, required=False, help_text="Empty: leave as it is.")
    return forms.DateField(
        label=label, required=False, help_text="YYYY-MM-DD. Empty: leave as it is."
    )


def _display(parameter: FeatureParameter, value: Any) -> str:
    if parameter.data_type == DataType.BOOLEAN:
        return "On" if value else "Off"
    return str(value)


def current_values(licenses: list[License], parameters: list[FeatureParameter]) -> dict[int, str]:
    """{parameter id: "now: On on 9, Off on 3"} over the chosen licenses, in one query."""
    counts: dict[int, list[tuple[str, int]]] = {}
    by_id = {p.pk: p for p in parameters}
    rows = (
        FeatureParameterValue.objects.filter(
            license_id__in=[lic.pk for lic in licenses], parameter_id__in=by_id
        )
        .values("parameter_id", "value_boolean", "value_integer", "value_date")
        .annotate(n=Count("pk"))
        .order_by("parameter_id", "-n")
    )
    for row in rows:
        parameter = by_id[row["parameter_id"]]
        value = row[f"value_{parameter.data_type}"]
        shown = "not set" if value is None else _display(parameter, value)
        counts.setdefault(parameter.pk, []).append((shown, row["n"]))
    summary = {}
    for parameter_id, pairs in counts.items():
        listed = ", ".join(f"{shown} on {n}" for shown, n in pairs[:4])
        summary[parameter_id] = f"Now: {listed}{', …' if len(pairs) > 4 else ''}."
    return summary


class FeatureValuesForm(forms.Form):
    """One optional value per LMO-to-subscriber parameter of the chosen licenses' packages."""

    reason = forms.CharField(
        required=False, max_length=500, label="Reason (written to each license's history)"
    )

    def __init__(
        self,
        *args: Any,
        parameters: list[FeatureParameter],
        now: dict[int, str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.parameters = parameters
        several_packages = len({p.package_id for p in parameters}) > 1
        fields = {}
        for parameter in parameters:
            label = f"{parameter.label} ({parameter.developer_name})"
            if several_packages:
                label = f"{parameter.package.name}: {label}"
            field = _value_field(parameter, label)
            field.help_text = " ".join(
                filter(None, [(now or {}).get(parameter.pk), field.help_text])
            )
            fields[f"param_{parameter.pk}"] = field
        self.fields = {**fields, **self.fields}

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if not self.errors and not self.chosen():
            raise forms.ValidationError("Choose a value for at least one parameter.")
        return data

    def chosen(self) -> list[tuple[FeatureParameter, Any]]:
        data = getattr(self, "cleaned_data", {})
        return [
            (p, data[f"param_{p.pk}"])
            for p in self.parameters
            if data.get(f"param_{p.pk}") is not None
        ]


@dataclass
class ParameterOutcome:
    """What setting one parameter did (or would do) to the chosen licenses of its package."""

    parameter: FeatureParameter
    value: Any
    results: list[BulkResult] = field(default_factory=list)

    @property
    def value_display(self) -> str:
        return _display(self.parameter, self.value)

    def _of(self, outcome: str) -> list[BulkResult]:
        return [r for r in self.results if r.outcome == outcome]

    @property
    def changed(self) -> int:
        return len(self._of("changed"))

    @property
    def unchanged(self) -> int:
        return len(self._of("unchanged"))

    @property
    def refused(self) -> list[BulkResult]:
        return self._of("refused")


def feature_values_apply(
    *,
    licenses: list[License],
    values: list[tuple[FeatureParameter, Any]],
    by: Any,
    reason: str = "",
    dry_run: bool = False,
) -> list[ParameterOutcome]:
    """Set each chosen value on the chosen licenses of its package, one history row per change.

    A dry run does the same work and rolls it back: the preview's counts are the service's
    own answers, not a second reading of its rules.
    """
    with transaction.atomic():
        outcomes = []
        for parameter, value in values:
            targets = [lic for lic in licenses if lic.package_id == parameter.package_id]
            results = feature_value_bulk_set(
                parameter=parameter, licenses=targets, value=value, by=by, reason=reason
            )
            outcomes.append(ParameterOutcome(parameter, value, results))
        if dry_run:
            transaction.set_rollback(True)
    return outcomes


class FeatureValuesActionMixin:
    """The "Set feature values" action of the license list."""

    def has_feature_values_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("features.change_featureparametervalue")

    @admin.action(description="Set feature values", permissions=["feature_values"])
    def set_feature_values(self, request: HttpRequest, queryset: QuerySet):
        licenses = list(queryset.select_related("package").order_by("pk")[: MAX_LICENSES + 1])
        if len(licenses) > MAX_LICENSES:
            messages.warning(
                request,
                f"Pick at most {MAX_LICENSES:,} licenses. To set a value on every license of a "
                "package, use the feature parameter's action “Set a value on many licenses”.",
            )
            return None
        parameters = list(
            FeatureParameter.objects.filter(
                package_id__in={lic.package_id for lic in licenses},
                direction=Direction.LMO_TO_SUBSCRIBER,
            )
            .select_related("package")
            .order_by("package__name", "developer_name")
        )
        if not parameters:
            messages.warning(
                request, "The chosen licenses' packages have no feature parameters set here."
            )
            return None
        stage = next((s for s in ("apply", "preview", "edit") if s in request.POST), "")
        form = FeatureValuesForm(
            request.POST if stage else None,
            parameters=parameters,
            now=current_values(licenses, parameters),
        )
        if stage == "edit":
            return self._feature_values_page(request, licenses, form, None)
        if stage and form.is_valid():
            outcomes = feature_values_apply(
                licenses=licenses,
                values=form.chosen(),
                by=request.user,
                reason=form.cleaned_data["reason"],
                dry_run=stage == "preview",
            )
            if stage == "apply":
                _report(request, outcomes)
                return None
            return self._feature_values_page(request, licenses, form, outcomes)
        return self._feature_values_page(request, licenses, form, None)

    def _feature_values_page(self, request, licenses, form, outcomes) -> TemplateResponse:
        packages = {lic.package_id for lic in licenses}
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Set feature values on {len(licenses)} license(s)",
            "licenses": licenses,
            "package_count": len(packages),
            "form": form,
            "outcomes": outcomes,
            "max_listed_refusals": MAX_LISTED_REFUSALS,
            "refusal_slice": f":{MAX_LISTED_REFUSALS}",
            "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
            "select_across": request.POST.get("select_across") in ("1", "True", "true"),
            "cancel_url": request.get_full_path(),
        }
        return TemplateResponse(request, "console/license_feature_values.html", context)


def _report(request: HttpRequest, outcomes: list[ParameterOutcome]) -> None:
    for outcome in outcomes:
        name = outcome.parameter.developer_name
        messages.success(
            request,
            f"{name} = {outcome.value_display}: {outcome.changed} license(s) changed, "
            f"{outcome.unchanged} already had it, {len(outcome.refused)} refused.",
        )
        for result in outcome.refused[:MAX_LISTED_REFUSALS]:
            messages.error(request, f"{name} on {result.license_name} refused: {result.message}")
