"""The license console: the list partner ops work in, each license's page, and its actions."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterator
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q, QuerySet
from django.db.models.functions import Lower
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme

from core.dates import format_utc
from core.salesforce_ids import ORG_PREFIX, try_normalize
from dashboards.admin_filters import DashboardSegmentFilter, FeatureFilter
from features.choices import DataType, Direction
from features.exceptions import FeatureError
from features.models import FeatureParameterValue
from leads.models import Account, Lead
from packages.models import PackageVersion, seats_display

from . import admin_views
from .actions import ACTIONS, LicenseAction, actions_available
from .admin_forms import LicenseActionForm, LicenseChangeForm
from .admin_paginator import EstimatedCountPaginator
from .choices import EXPIRING_STATUSES, LicenseStatus
from .exceptions import LicenseError
from .models import License, LicenseEvent, parse_license_name
from .services import licenses_bulk_apply

# How many refusals an action lists one by one before it summarises the rest.
MAX_REPORTED_REFUSALS = 50
HISTORY_ROWS = 200
PREVIEW_ROWS = 20
MAX_SEARCHED_ACCOUNTS = 500
CSV_CHUNK = 2000


def status_badge(status: str, label: str | None = None) -> str:
    if label is None:
        label = LicenseStatus(status).label if status in LicenseStatus.values else status
    return format_html('<span class="lmo-badge lmo-badge--{}">{}</span>', status, label)


def expiry_display(expires_at: dt.datetime | None, now: dt.datetime | None = None) -> str:
    if expires_at is None:
        return format_html('<span class="lmo-muted">{}</span>', "Does not expire")
    now = now or timezone.now()
    days = (expires_at - now).days
    if expires_at <= now:
        note, css = f"{-days} days ago" if days < 0 else "today", "lmo-late"
    else:
        note, css = ("today" if days == 0 else f"in {days} days"), ("lmo-soon" if days < 7 else "")
    return format_html(
        '{} <span class="{}">({})</span>', f"{expires_at:%Y-%m-%d %H:%M}", css or "lmo-muted", note
    )


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


def license_search(queryset: QuerySet, term: str) -> QuerySet:
    """Find licenses by org id (15 or 18), license name (L-00042), lead email, org or account."""
    term = term.strip()
    if not term:
        return queryset
    org_id = try_normalize(term, prefix=ORG_PREFIX)
    if org_id:
        return queryset.filter(org_id=org_id)
    pk = parse_license_name(term)
    if pk is not None:
        return queryset.filter(pk=pk)
    if "@" in term:
        # Served by the lower(email) index on leads.
        leads = Lead.objects.annotate(email_lower=Lower("email")).filter(email_lower=term.lower())
        return queryset.filter(lead__in=leads.values("pk"))
    # Account ids as literals rather than a join or subquery: PostgreSQL can then OR the
    # org name's trigram index with the account foreign key's index.
    account_ids = list(
        Account.objects.filter(name__icontains=term)
        .order_by("pk")
        .values_list("pk", flat=True)[:MAX_SEARCHED_ACCOUNTS]
    )
    return queryset.filter(Q(org_name__icontains=term) | Q(account_id__in=account_ids))


class VersionFilter(admin.SimpleListFilter):
    """Versions of the package chosen in the package filter, newest first."""

    title = "version"
    parameter_name = "version"

    def lookups(self, request, model_admin):
        package_id = request.GET.get("package__id__exact", "")
        if not package_id.isdigit():
            return []
        versions = PackageVersion.objects.filter(package_id=package_id).newest_first()
        return [(str(v.pk), v.version_number) for v in versions]

    def queryset(self, request, queryset):
        value = self.value()
        if value and value.isdigit():
            return queryset.filter(version_id=int(value))
        return queryset


class ExpiringFilter(admin.SimpleListFilter):
    """Trials and active licenses whose end falls within the next days."""

    title = "expiring"
    parameter_name = "expiring"

    def lookups(self, request, model_admin):
        return [("7", "within 7 days"), ("30", "within 30 days")]

    def queryset(self, request, queryset):
        if self.value() in ("7", "30"):
            now = timezone.now()
            return queryset.filter(
                status__in=EXPIRING_STATUSES,
                expires_at__gt=now,
                expires_at__lte=now + dt.timedelta(days=int(self.value())),
            )
        return queryset


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
    form.fields["reason"] = forms.CharField(
        required=False, max_length=500, label="Reason (written to history)"
    )
    return form


@admin.register(License)
class LicenseAdmin(admin.ModelAdmin):
    form = LicenseChangeForm
    list_display = (
        "license_name",
        "org",
        "package_name",
        "version_number",
        "status_display",
        "seats_used",
        "expires",
        "account_name",
        "installed",
    )
    list_display_links = ("license_name",)
    list_select_related = ("package", "version", "account")
    list_filter = (
        "status",
        "package",
        VersionFilter,
        ("is_sandbox", admin.BooleanFieldListFilter),
        ExpiringFilter,
        DashboardSegmentFilter,
        FeatureFilter,
    )
    # Only indexed columns sort: anything else would sort a million rows per page.
    sortable_by = ("license_name", "org", "installed")
    search_fields = ("org_name",)
    search_help_text = (
        "Org id (15 or 18 characters), license name (L-00042), lead email, org or account name."
    )
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    list_per_page = 50
    actions = [f"action_{name}" for name in ACTIONS]
    change_form_template = "admin/licenses/license/change_form.html"
    change_list_template = "admin/licenses/license/change_list.html"

    # --- Columns --------------------------------------------------------------------------

    @admin.display(description="License", ordering="-id")
    def license_name(self, obj: License) -> str:
        return obj.name

    @admin.display(description="Org", ordering="org_name")
    def org(self, obj: License) -> str:
        return format_html(
            '{}<br><span class="lmo-mono lmo-muted">{}</span>{}',
            obj.org_name or "(no name)",
            obj.org_id,
            format_html(' <span class="lmo-muted">{}</span>', "sandbox") if obj.is_sandbox else "",
        )

    @admin.display(description="Package")
    def package_name(self, obj: License) -> str:
        return obj.package.name

    @admin.display(description="Version")
    def version_number(self, obj: License) -> str:
        return obj.version.version_number if obj.version_id else "-"

    @admin.display(description="Status")
    def status_display(self, obj: License) -> str:
        return status_badge(obj.status)

    @admin.display(description="Seats / used")
    def seats_used(self, obj: License) -> str:
        used = "-" if obj.used_licenses is None else f"{obj.used_licenses:,}"
        return f"{seats_display(obj.seats)} / {used}"

    @admin.display(description="Expires")
    def expires(self, obj: License) -> str:
        return expiry_display(obj.expires_at)

    @admin.display(description="Account")
    def account_name(self, obj: License) -> str:
        return obj.account.name if obj.account_id else "-"

    @admin.display(description="Installed", ordering="installed_at")
    def installed(self, obj: License) -> str:
        return f"{obj.installed_at:%Y-%m-%d}"

    # --- The license page -------------------------------------------------------------------

    readonly_fields = (
        "license_name",
        "status_display",
        "package",
        "version_number",
        "org_name",
        "org_id",
        "org_edition",
        "org_instance",
        "org_type",
        "parent_org",
        "seats_display_field",
        "used_licenses",
        "expires",
        "installed_at",
        "trial_started_at",
        "activated_at",
        "uninstalled_at",
        "previous_license_link",
        "lead_link",
        "account_link",
    )

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

    def get_fieldsets(self, request, obj=None):
        customer: tuple[str, ...] = ("lead_link", "account_link")
        if obj is not None and self.has_change_permission(request, obj):
            customer = ("lead_link", "assign_account", "assign_reason")
        return [
            (
                "License",
                {
                    "fields": (
                        ("license_name", "status_display"),
                        ("package", "version_number"),
                        ("seats_display_field", "used_licenses"),
                        "expires",
                        ("installed_at", "trial_started_at"),
                        ("activated_at", "uninstalled_at"),
                        "previous_license_link",
                    )
                },
            ),
            (
                "Subscriber org",
                {
                    "fields": (
                        ("org_name", "org_id"),
                        ("org_edition", "org_instance"),
                        ("org_type", "parent_org"),
                    )
                },
            ),
            ("Customer", {"fields": customer}),
        ]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("package", "version", "account", "lead")

    def get_search_results(self, request, queryset, search_term):
        return license_search(queryset, search_term), False

    def has_add_permission(self, request):
        # Licenses come from installs only.
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.is_locked:
            return False
        return super().has_change_permission(request, obj)

    def save_model(self, request, obj, form, change):
        # Nothing on this form is written directly: the account goes through the model method.
        if change and "assign_account" in form.changed_data:
            obj.assign_account(
                by=request.user,
                account=form.cleaned_data["assign_account"],
                reason=form.cleaned_data.get("assign_reason", ""),
            )

    def save_related(self, request, form, formsets, change):
        pass

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context.update(self._license_page_context(request, obj))
        return super().render_change_form(request, context, add, change, form_url, obj)

    def _license_page_context(self, request: HttpRequest, obj: License) -> dict[str, Any]:
        user = request.user
        values = list(
            FeatureParameterValue.objects.filter(license=obj)
            .select_related("parameter", "updated_by")
            .order_by("parameter__direction", "parameter__developer_name")
        )
        editable_values = [v for v in values if v.parameter.is_lmo_to_subscriber]
        can_edit_features = not obj.is_locked and user.has_perm(
            "features.change_featureparametervalue"
        )
        events = list(
            LicenseEvent.objects.filter(license=obj)
            .select_related("actor_user")
            .order_by("-at", "-id")[: HISTORY_ROWS + 1]
        )
        return {
            "license": obj,
            "locked": obj.is_locked,
            "feature_values": values,
            "readonly_values": [
                v for v in values if not (can_edit_features and v.parameter.is_lmo_to_subscriber)
            ],
            "feature_form": feature_values_form(editable_values)
            if can_edit_features and editable_values
            else None,
            "events": [(event, _event_change(event)) for event in events[:HISTORY_ROWS]],
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

    # --- Extra pages -------------------------------------------------------------------------

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("export.csv", view(self.export_csv), name="licenses_license_export"),
            path(
                "subscribers/",
                view(admin_views.SubscribersView.as_view(model_admin=self)),
                name="licenses_license_subscribers",
            ),
            path(
                "<int:pk>/features/",
                view(self.feature_values_view),
                name="licenses_license_features",
            ),
            *super().get_urls(),
        ]

    def feature_values_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Save the license page's LMO-to-subscriber values, each through the feature service."""
        from features.services import feature_value_set

        if request.method != "POST":
            return HttpResponseRedirect(reverse("admin:licenses_license_change", args=[pk]))
        if not (
            self.has_view_permission(request)
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
        for value in values:
            new = form.cleaned_data[f"param_{value.parameter_id}"]
            if new == value.value:
                continue
            try:
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
                changed.append(value.parameter.developer_name)
        if changed:
            messages.success(request, f"{license.name}: set {', '.join(changed)}.")
        for message in refused:
            messages.error(request, message)
        if not changed and not refused:
            messages.info(request, "No feature value changed.")
        return HttpResponseRedirect(change_url)

    def export_csv(self, request: HttpRequest) -> HttpResponse:
        """The list as filtered and searched on screen, streamed as CSV."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            changelist = self.get_changelist_instance(request)
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

    # --- Actions ------------------------------------------------------------------------------

    def get_actions(self, request):
        actions = super().get_actions(request)
        for name, action in ACTIONS.items():
            if not action.allowed_for(request.user):
                actions.pop(f"action_{name}", None)
        return actions

    def _run_action(self, request: HttpRequest, queryset: QuerySet, action: LicenseAction):
        """Ask for what the action needs, then run it license by license. If the rules
        refuse it for every license, the form stays, with the input and the reasons."""
        next_url = request.POST.get("next", "")
        if not url_has_allowed_host_and_scheme(
            next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            next_url = ""
        selected = request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)
        select_across = request.POST.get("select_across") in ("1", "True", "true")
        preview = list(queryset.select_related("package")[:PREVIEW_ROWS])
        single = preview[0] if len(preview) == 1 and not select_across else None
        data = request.POST if "apply" in request.POST else None
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
                self._report(request, action, outcomes)
                return HttpResponseRedirect(next_url) if next_url else None
            for outcome in outcomes[:MAX_REPORTED_REFUSALS]:
                prefix = "" if single else f"{outcome.license_name}: "
                form.add_error(None, prefix + outcome.message)
            preview = list(queryset.select_related("package")[:PREVIEW_ROWS])
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"{action.label}: {_count_label(queryset, select_across, selected)}",
            "action": action,
            "action_name": f"action_{action.name}",
            "form": form,
            "selected": selected,
            "select_across": select_across,
            "preview": [license_limits(license) for license in preview],
            "more": max(0, len(selected) - len(preview)) if not select_across else None,
            "next": next_url,
            "cancel_url": next_url or request.get_full_path(),
        }
        return TemplateResponse(request, "admin/licenses/license/action_form.html", context)

    def _report(self, request: HttpRequest, action: LicenseAction, outcomes) -> None:
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


def _count_label(queryset: QuerySet, select_across: bool, selected: list[str]) -> str:
    if select_across:
        return "every license matching the list's filters"
    return f"{len(selected)} license(s)"


def _make_action(action: LicenseAction):
    def run(modeladmin: LicenseAdmin, request: HttpRequest, queryset: QuerySet):
        return modeladmin._run_action(request, queryset, action)

    run.__name__ = f"action_{action.name}"
    # Who may run it: get_actions() asks the registry.
    return admin.action(description=action.label)(run)


for _action in ACTIONS.values():
    setattr(LicenseAdmin, f"action_{_action.name}", _make_action(_action))


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


@admin.register(LicenseEvent)
class LicenseEventAdmin(admin.ModelAdmin):
    """The history across licenses: read-only for everyone."""

    list_display = ("at", "license_link", "kind", "actor", "change", "reason")
    list_filter = ("kind",)
    list_select_related = ("license",)
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    search_fields = ("source_event_id",)
    search_help_text = "License name (L-00042), org id, or subscriber event id."

    @admin.display(description="License")
    def license_link(self, obj: LicenseEvent) -> str:
        url = reverse("admin:licenses_license_change", args=[obj.license_id])
        return format_html('<a href="{}">{}</a>', url, obj.license.name)

    @admin.display(description="Change")
    def change(self, obj: LicenseEvent) -> str:
        return _event_change(obj)

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        pk = parse_license_name(term)
        if pk is not None:
            return queryset.filter(license_id=pk), False
        org_id = try_normalize(term, prefix=ORG_PREFIX)
        if org_id:
            return queryset.filter(license__org_id=org_id), False
        return queryset.filter(source_event_id=term), False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def _event_change(event: LicenseEvent) -> str:
    keys = list(dict.fromkeys([*event.before, *event.after]))
    parts = [f"{key}: {event.before.get(key, '-')} → {event.after.get(key, '-')}" for key in keys]
    return "; ".join(parts)
