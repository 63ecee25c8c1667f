"""The license console's pages beyond the admin's own: the org-centric Subscribers page,
what a license's page shows, saving its feature values, the CSV export, and the form and
run of each license action (read from the action registry)."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import ModelAdmin, helpers
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Max, Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.views import View

from core.console import IntermediateActionMixin
from core.dates import format_history_value, format_utc
from core.salesforce_ids import ORG_PREFIX, try_normalize
from core.spreadsheet import csv_row
from features.choices import DataType, Direction
from features.exceptions import FeatureError
from features.models import FeatureOverride, FeatureParameterValue
from leads.models import Account, Lead
from packages.models import seats_display

from .actions import LicenseAction, actions_available
from .admin_forms import LicenseActionForm
from .exceptions import LicenseError
from .models import License, LicenseEvent
from .services import licenses_bulk_apply

MAX_ORGS_LISTED = 50
RECENT_EVENTS = 25
# How many refusals an action lists one by one before it summarises the rest.
MAX_REPORTED_REFUSALS = 50
HISTORY_ROWS = 200
PREVIEW_ROWS = 20
CSV_CHUNK = 2000


def orgs_matching(term: str) -> list[dict[str, Any]]:
    """Orgs whose name contains the term: one row per org, newest install first."""
    return list(
        License.objects.filter(org_name__icontains=term)
        .values("org_id", "org_name", "is_sandbox")
        .annotate(last_installed=Max("installed_at"))
        .order_by("-last_installed")[:MAX_ORGS_LISTED]
    )


def org_overview(org_id: str, *, with_inbox: bool) -> dict[str, Any] | None:
    """What support needs about one org: its details, licenses, account, leads, events."""
    licenses = list(
        License.objects.filter(org_id=org_id)
        .select_related("package", "version", "account", "lead")
        .with_seat_use()
        .order_by("package__name", "-installed_at")
    )
    if not licenses:
        return None
    newest = max(licenses, key=lambda lic: lic.installed_at)
    account_ids = {lic.account_id for lic in licenses if lic.account_id}
    lead_filter = Q(org_id=org_id) | Q(pk__in=[lic.lead_id for lic in licenses if lic.lead_id])
    overview: dict[str, Any] = {
        "org_id": org_id,
        "org_name": newest.org_name,
        "edition": newest.org_edition,
        "instance": newest.org_instance,
        "is_sandbox": newest.is_sandbox,
        "parent_org_id": newest.parent_org_id,
        "parent_name": License.objects.filter(org_id=newest.parent_org_id)
        .values_list("org_name", flat=True)
        .first()
        if newest.parent_org_id
        else None,
        "sandboxes": list(
            License.objects.filter(parent_org_id=org_id)
            .values("org_id", "org_name")
            .distinct()
            .order_by("org_id")[:MAX_ORGS_LISTED]
        ),
        "licenses": licenses,
        "over_seat_limit": [lic for lic in licenses if lic.is_over_seat_limit],
        "accounts": list(Account.objects.filter(pk__in=account_ids).order_by("name")),
        "leads": list(
            Lead.objects.filter(lead_filter).select_related("package").order_by("-created_at")[:50]
        ),
        "events": list(
            LicenseEvent.objects.filter(license__org_id=org_id)
            .select_related("license__package")
            .order_by("-at", "-id")[:RECENT_EVENTS]
        ),
        "inbox": None,
    }
    if with_inbox:
        from subscribers.models import SubscriberEvent

        overview["inbox"] = list(
            SubscriberEvent.objects.filter(org_id=org_id).order_by("-received_at", "-id")[
                :RECENT_EVENTS
            ]
        )
    return overview


class SubscribersView(View):
    """Search by org name or org id (15 or 18 characters) and see that org whole."""

    model_admin: ModelAdmin | None = None

    def get(self, request: HttpRequest) -> HttpResponse:
        admin = self.model_admin
        if not admin.has_view_permission(request):
            raise PermissionDenied
        term = (request.GET.get("q") or "").strip()
        org_param = (request.GET.get("org") or "").strip()
        org_id = try_normalize(org_param or term, prefix=ORG_PREFIX)
        matches: list[dict[str, Any]] = []
        overview = None
        if org_id:
            overview = org_overview(
                org_id, with_inbox=request.user.has_perm("subscribers.view_subscriberevent")
            )
        elif term:
            matches = orgs_matching(term)
            if len(matches) == 1:
                overview = org_overview(
                    matches[0]["org_id"],
                    with_inbox=request.user.has_perm("subscribers.view_subscriberevent"),
                )
        context = {
            **admin.admin_site.each_context(request),
            "opts": admin.model._meta,
            "title": overview["org_name"] or overview["org_id"] if overview else "Subscribers",
            "q": term,
            "searched": bool(term or org_param),
            "matches": matches,
            "org": overview,
        }
        return TemplateResponse(request, "console/subscribers.html", context)


def license_limits(license: License) -> dict[str, Any]:
    """What an action form shows of each license it will change: its current values and
    the limits that apply to them."""
    limit = license.trial_limit if license.is_trial_life else None
    return {
        "license": license,
        "seats": seats_display(license.seats),
        "used": "-" if license.used_licenses is None else f"{license.used_licenses:,}",
        "expires": format_utc(license.expires_at) if license.expires_at else "Does not expire",
        "trial_started": format_utc(license.trial_started_at) if license.trial_started_at else "",
        "latest_end": format_utc(limit) if limit else "",
    }


def _feature_field(value: FeatureParameterValue) -> forms.Field:
    parameter = value.parameter
    label = f"{parameter.label} ({parameter.developer_name})"
    if parameter.data_type == DataType.BOOLEAN:
        return forms.TypedChoiceField(
            label=label,
            required=False,
            choices=[("", "Not set"), ("true", "On"), ("false", "Off")],
            coerce=lambda raw: raw == "true",
            empty_value=None,
        )
    if parameter.data_type == DataType.INTEGER:
        return forms.IntegerField(label=label, required=False)
    return forms.DateField(
        label=label, required=False, widget=forms.DateInput(attrs={"type": "date"})
    )


def _initial(value: FeatureParameterValue) -> Any:
    if value.parameter.data_type == DataType.BOOLEAN and value.value is not None:
        return "true" if value.value else "false"
    return value.value


def feature_values_form(values: list[FeatureParameterValue], data=None) -> forms.Form:
    """One typed field per LMO-to-subscriber value of a license."""
    form = forms.Form(data)
    for value in values:
        form.fields[f"param_{value.parameter_id}"] = _feature_field(value)
        form.initial[f"param_{value.parameter_id}"] = _initial(value)
    form.fields["until"] = forms.DateTimeField(
        required=False,
        label="Until (UTC, optional)",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="Set: the values changed here hold until then, and the sweep puts back "
        "what they replaced (a pilot). Empty: they stay.",
    )
    form.fields["reason"] = forms.CharField(
        required=False, max_length=500, label="Reason (written to history)"
    )
    return form


class LicensePageFields:
    """The read-only fields of a license's page that link to other pages (a ModelAdmin
    mixin: they are named in its fieldsets)."""

    @admin.display(description="Seats")
    def seats_display_field(self, obj: License) -> str:
        return seats_display(obj.seats)

    @admin.display(description="Parent org (production)")
    def parent_org(self, obj: License) -> str:
        if not obj.parent_org_id:
            return "-"
        return format_html(
            '<a href="{}?org={}">{}</a>',
            reverse("admin:licenses_license_subscribers"),
            obj.parent_org_id,
            obj.parent_org_id,
        )

    @admin.display(description="Previous license (before a reinstall)")
    def previous_license_link(self, obj: License) -> str:
        if not obj.previous_license_id:
            return "-"
        url = reverse("admin:licenses_license_change", args=[obj.previous_license_id])
        return format_html('<a href="{}">{}</a>', url, obj.previous_license.name)

    @admin.display(description="Lead")
    def lead_link(self, obj: License) -> str:
        if not obj.lead_id:
            return "-"
        url = reverse("admin:leads_lead_change", args=[obj.lead_id])
        return format_html(
            '<a href="{}">{}</a> <span class="lmo-muted">{} · {}</span>',
            url,
            obj.lead,
            obj.lead.email or "no email",
            obj.lead.get_status_display(),
        )

    @admin.display(description="Account")
    def account_link(self, obj: License) -> str:
        if not obj.account_id:
            return "-"
        url = reverse("admin:leads_account_change", args=[obj.account_id])
        return format_html('<a href="{}">{}</a>', url, obj.account)


def license_page_context(request: HttpRequest, obj: License) -> dict[str, Any]:
    """What the license page shows besides its fields: feature values, history, the org's
    other licenses and the actions that can succeed on it."""
    user = request.user
    values = list(
        FeatureParameterValue.objects.filter(license=obj)
        .select_related("parameter", "updated_by")
        .order_by("parameter__direction", "parameter__developer_name")
    )
    editable_values = [v for v in values if v.parameter.is_lmo_to_subscriber]
    can_edit_features = not obj.is_locked and user.has_perm("features.change_featureparametervalue")
    events = list(
        LicenseEvent.objects.filter(license=obj)
        .select_related("actor_user")
        .order_by("-at", "-id")[: HISTORY_ROWS + 1]
    )
    return {
        "license": obj,
        "locked": obj.is_locked,
        "feature_values": values,
        "running_overrides": list(
            FeatureOverride.objects.filter(license=obj, ended_at__isnull=True)
            .select_related("parameter")
            .order_by("until")
        ),
        "readonly_values": [
            v for v in values if not (can_edit_features and v.parameter.is_lmo_to_subscriber)
        ],
        "feature_form": feature_values_form(editable_values)
        if can_edit_features and editable_values
        else None,
        "events": [(event, event_change(event)) for event in events[:HISTORY_ROWS]],
        "events_truncated": len(events) > HISTORY_ROWS,
        "other_licenses": list(
            License.objects.filter(org_id=obj.org_id)
            .exclude(pk=obj.pk)
            .select_related("package", "version", "account")
            .order_by("-installed_at")
        ),
        "license_actions": actions_available(obj, user=user),
        "org_page_url": reverse("admin:licenses_license_subscribers") + f"?org={obj.org_id}",
        "direction_lmo": Direction.LMO_TO_SUBSCRIBER,
    }


class FeatureValuesView(View):
    """Save the license page's LMO-to-subscriber values, each through the feature service."""

    model_admin: ModelAdmin | None = None

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        from features.services import feature_override_set, feature_value_set

        if not (
            self.model_admin.has_view_permission(request)
            and request.user.has_perm("features.change_featureparametervalue")
        ):
            raise PermissionDenied
        license = get_object_or_404(License, pk=pk)
        change_url = reverse("admin:licenses_license_change", args=[pk])
        if license.is_locked:
            messages.error(
                request, f"{license.name} is uninstalled: its feature values are frozen."
            )
            return HttpResponseRedirect(change_url)
        values = list(
            FeatureParameterValue.objects.filter(
                license=license, parameter__direction=Direction.LMO_TO_SUBSCRIBER
            ).select_related("parameter")
        )
        form = feature_values_form(values, request.POST)
        if not form.is_valid():
            for field, errors in form.errors.items():
                label = form.fields[field].label if field in form.fields else field
                messages.error(request, f"{label}: {' '.join(errors)}")
            return HttpResponseRedirect(change_url)
        changed, refused = [], []
        until = form.cleaned_data.get("until")
        until_note = f" until {until:%Y-%m-%d %H:%M}" if until else ""
        for value in values:
            new = form.cleaned_data[f"param_{value.parameter_id}"]
            if new == value.value:
                continue
            try:
                if until is not None:
                    feature_override_set(
                        license=license,
                        parameter=value.parameter,
                        value=new,
                        until=until,
                        by=request.user,
                        reason=form.cleaned_data["reason"],
                    )
                else:
                    feature_value_set(
                        license=license,
                        parameter=value.parameter,
                        value=new,
                        by=request.user,
                        reason=form.cleaned_data["reason"],
                    )
            except (LicenseError, FeatureError) as exc:
                refused.append(f"{value.parameter.developer_name}: {exc.message}")
            except ValidationError as exc:
                refused.append(f"{value.parameter.developer_name}: {' '.join(exc.messages)}")
            else:
                changed.append(value.parameter.developer_name + until_note)
        if changed:
            messages.success(request, f"{license.name}: set {', '.join(changed)}.")
        for message in refused:
            messages.error(request, message)
        if not changed and not refused:
            messages.info(request, "No feature value changed.")
        return HttpResponseRedirect(change_url)

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        return HttpResponseRedirect(reverse("admin:licenses_license_change", args=[pk]))


class ExportCsvView(View):
    """The list as filtered and searched on screen, streamed as CSV."""

    model_admin: ModelAdmin | None = None

    def get(self, request: HttpRequest) -> HttpResponse:
        admin = self.model_admin
        if not admin.has_view_permission(request):
            raise PermissionDenied
        try:
            changelist = admin.get_changelist_instance(request)
        except IncorrectLookupParameters:
            # As the list itself does with a filter it cannot apply.
            return HttpResponseRedirect(reverse("admin:licenses_license_changelist") + "?e=1")
        queryset = changelist.get_queryset(request).select_related(
            "package", "version", "account", "lead"
        )
        response = StreamingHttpResponse(_csv_rows(queryset), content_type="text/csv")
        stamp = timezone.now().strftime("%Y%m%d-%H%M")
        response["Content-Disposition"] = f'attachment; filename="licenses-{stamp}.csv"'
        return response


def run_license_action(
    model_admin: IntermediateActionMixin,
    request: HttpRequest,
    queryset: QuerySet,
    action: LicenseAction,
):
    """Ask for what the action needs, showing each license's values and limits, then run
    it license by license. If the rules refuse it for every license, the form stays, with
    the input and the reasons."""
    select_across = request.POST.get("select_across") in ("1", "True", "true")
    selected = request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)
    preview = list(queryset.select_related("package")[:PREVIEW_ROWS])
    single = preview[0] if len(preview) == 1 and not select_across else None
    data = request.POST if model_admin.wants_apply(request) else None
    form = LicenseActionForm(data, action=action, license=single)
    if data is not None and form.is_valid():
        arguments = form.arguments()
        ids = list(queryset.order_by("pk").values_list("pk", flat=True))
        outcomes = []
        for start in range(0, len(ids), 500):
            chunk = License.objects.filter(pk__in=ids[start : start + 500]).order_by("pk")
            outcomes += licenses_bulk_apply(
                licenses=list(chunk),
                action=action.done,
                apply=lambda lic: action.run(lic, by=request.user, data=arguments),
            )
        if any(outcome.ok for outcome in outcomes) or not outcomes:
            _report(request, action, outcomes)
            return model_admin.back(request)
        for outcome in outcomes[:MAX_REPORTED_REFUSALS]:
            prefix = "" if single else f"{outcome.license_name}: "
            form.add_error(None, prefix + outcome.message)
        preview = list(queryset.select_related("package")[:PREVIEW_ROWS])
    return model_admin.confirm_page(
        request,
        queryset,
        action=f"action_{action.name}",
        title=f"{action.label}: {single.name if single else _count_label(select_across, selected)}",
        form=form,
        submit_label=action.label,
        objects=[license_limits(license) for license in preview],
        preview_template="console/_license_limits.html",
        extra_context={
            "form_id": "license-action-form",
            "more": max(0, len(selected) - len(preview)) if not select_across else None,
        },
    )


def _report(request: HttpRequest, action: LicenseAction, outcomes) -> None:
    done = [o for o in outcomes if o.ok]
    refused = [o for o in outcomes if not o.ok]
    if done:
        names = ", ".join(o.license_name for o in done[:20])
        more = f" and {len(done) - 20} more" if len(done) > 20 else ""
        messages.success(request, f"{action.done}: {len(done)} license(s) ({names}{more}).")
    for outcome in refused[:MAX_REPORTED_REFUSALS]:
        messages.error(request, f"{outcome.license_name} refused: {outcome.message}")
    if len(refused) > MAX_REPORTED_REFUSALS:
        messages.error(
            request, f"{len(refused) - MAX_REPORTED_REFUSALS} more license(s) were refused."
        )


def _count_label(select_across: bool, selected: list[str]) -> str:
    if select_across:
        return "every license matching the list's filters"
    return f"{len(selected)} license(s)"


CSV_HEADER = [
    "license",
    "org_id",
    "org_name",
    "package",
    "version",
    "status",
    "seats",
    "used_licenses",
    "expires_at",
    "account",
    "lead_email",
    "installed_at",
    "is_sandbox",
]


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv_rows(queryset: QuerySet) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_HEADER)
    for lic in queryset.iterator(chunk_size=CSV_CHUNK):
        yield writer.writerow(
            csv_row(
                [
                    lic.name,
                    lic.org_id,
                    lic.org_name,
                    lic.package.namespace,
                    lic.version.version_number if lic.version_id else "",
                    lic.status,
                    lic.seats,
                    "" if lic.used_licenses is None else lic.used_licenses,
                    lic.expires_at.isoformat() if lic.expires_at else "",
                    lic.account.name if lic.account_id else "",
                    lic.lead.email if lic.lead_id else "",
                    lic.installed_at.isoformat(),
                    "yes" if lic.is_sandbox else "no",
                ]
            )
        )


def event_change(event: LicenseEvent) -> str:
    keys = list(dict.fromkeys([*event.before, *event.after]))
    parts = [
        f"{key}: {format_history_value(event.before.get(key))} → "
        f"{format_history_value(event.after.get(key))}"
        for key in keys
    ]
    return "; ".join(parts)
