"""The license list's "Set feature values": chosen values on hand-picked licenses, previewed
before they are written. Both the preview and the change are the feature service's
`feature_values_apply`, so a license is counted and refused by the rules that then apply."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from features.choices import DataType, Direction
from features.models import FeatureParameter, FeatureParameterValue
from features.services import ParameterOutcome, feature_values_apply

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
    # Set once the preview has been shown: the next apply writes.
    confirmed = forms.BooleanField(required=False, widget=forms.HiddenInput)

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

    def confirmation(self) -> FeatureValuesForm:
        """The same values, carried hidden through the preview to the confirming apply."""
        data = self.data.copy()
        data["confirmed"] = "1"
        form = FeatureValuesForm(data, parameters=self.parameters)
        for form_field in form.fields.values():
            form_field.widget = form_field.hidden_widget()
        return form

    def chosen(self) -> list[tuple[FeatureParameter, Any]]:
        data = getattr(self, "cleaned_data", {})
        return [
            (p, data[f"param_{p.pk}"])
            for p in self.parameters
            if data.get(f"param_{p.pk}") is not None
        ]


class FeatureValuesActionMixin:
    """The "Set feature values" action of the license list (with IntermediateActionMixin:
    its form, then its preview, on the console's one confirm page)."""

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
        now = current_values(licenses, parameters)
        if not self.wants_apply(request):
            form = FeatureValuesForm(parameters=parameters, now=now)
            return self._feature_values_page(request, queryset, licenses, form)
        form = FeatureValuesForm(request.POST, parameters=parameters, now=now)
        if not form.is_valid():
            return self._feature_values_page(request, queryset, licenses, form)
        confirmed = form.cleaned_data["confirmed"]
        outcomes = feature_values_apply(
            licenses=licenses,
            values=form.chosen(),
            by=request.user,
            reason=form.cleaned_data["reason"],
            dry_run=not confirmed,
        )
        if confirmed:
            _report(request, outcomes)
            return self.back(request)
        return self._feature_values_page(request, queryset, licenses, form.confirmation(), outcomes)

    def _feature_values_page(
        self,
        request: HttpRequest,
        queryset: QuerySet,
        licenses: list[License],
        form: FeatureValuesForm,
        outcomes: list[ParameterOutcome] | None = None,
    ):
        previewing = outcomes is not None
        return self.confirm_page(
            request,
            queryset,
            action="set_feature_values",
            title=f"Set feature values on {len(licenses)} license(s)",
            form=form,
            intro=""
            if previewing
            else "Pick the values to set and leave the others as they are. The preview shows "
            "what each would change before anything is written; each change follows the "
            "license page's rules (an uninstalled license is refused) and goes to that "
            "license's history.",
            submit_label="Confirm and set the values" if previewing else "Preview",
            objects=licenses,
            preview_template="console/feature_values_preview.html" if previewing else "",
            extra_context={
                "licenses": licenses,
                "outcomes": outcomes,
                "package_count": len({lic.package_id for lic in licenses}),
                "refusal_slice": f":{MAX_LISTED_REFUSALS}",
            },
        )


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
