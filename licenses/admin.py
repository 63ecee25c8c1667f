"""The license console: the list partner ops work in, each license's page, and its actions."""

from __future__ import annotations

import datetime as dt

from django.contrib import admin
from django.db.models import Q, QuerySet
from django.db.models.functions import Lower
from django.http import HttpRequest
from django.urls import path, reverse
from django.utils.html import format_html

from core.console import IntermediateActionMixin, truncated
from core.dates import expiry_html, format_utc
from core.paginator import EstimatedCountPaginator
from core.salesforce_ids import ORG_PREFIX, try_normalize
from dashboards.admin_filters import DashboardSegmentFilter, FeatureFilter
from leads.models import Account, Lead
from lmo import clock
from packages.models import PackageVersion

from .actions import ACTIONS, LicenseAction
from .admin_feature_values import FeatureValuesActionMixin
from .admin_forms import LicenseChangeForm
from .choices import EXPIRING_STATUSES, LicenseStatus
from .console import (
    ExportCsvView,
    FeatureValuesView,
    LicensePageFields,
    SubscribersView,
    event_change,
    license_page_context,
    run_license_action,
)
from .models import License, LicenseEvent, parse_license_name
from .seat_use import SeatLimitFilter, seats_used_html

MAX_SEARCHED_ACCOUNTS = 500


def status_badge(status: str, label: str | None = None) -> str:
    if label is None:
        label = LicenseStatus(status).label if status in LicenseStatus.values else status
    return format_html('<span class="lmo-badge lmo-badge--{}">{}</span>', status, label)


def expiry_display(expires_at: dt.datetime | None, now: dt.datetime | None = None) -> str:
    return expiry_html(expires_at, now or clock.now())


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
            now = clock.now()
            return queryset.filter(
                status__in=EXPIRING_STATUSES,
                expires_at__gt=now,
                expires_at__lte=now + dt.timedelta(days=int(self.value())),
            )
        return queryset


class GraceFilter(admin.SimpleListFilter):
    """Trials and active licenses past their end but within their package's grace: the
    customers still running who will be cut off unless someone acts."""

    title = "grace"
    parameter_name = "grace"

    def lookups(self, request, model_admin):
        return [("in", "in grace")]

    def queryset(self, request, queryset):
        if self.value() == "in":
            return queryset.in_grace(clock.now())
        return queryset


@admin.register(License)
class LicenseAdmin(
    LicensePageFields, FeatureValuesActionMixin, IntermediateActionMixin, admin.ModelAdmin
):
    form = LicenseChangeForm
    list_display = (
        "license_name",
        "org",
        "package_name",
        "version_number",
        "status_display",
        "seats_used",
        "expires_day",
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
        SeatLimitFilter,
        GraceFilter,
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
    actions = [*(f"action_{name}" for name in ACTIONS), "set_feature_values"]
    change_form_template = "admin/licenses/license/change_form.html"
    change_list_template = "admin/licenses/license/change_list.html"

    # --- Columns --------------------------------------------------------------------------

    @admin.display(description="License", ordering="-id")
    def license_name(self, obj: License) -> str:
        return obj.name

    @admin.display(description="Org", ordering="org_name")
    def org(self, obj: License) -> str:
        return format_html(
            '{} <span class="lmo-mono lmo-muted">{}</span>{}',
            truncated(obj.org_name or "(no name)"),
            obj.org_id,
            format_html(' <span class="lmo-muted">{}</span>', "sandbox") if obj.is_sandbox else "",
        )

    @admin.display(description="Package")
    def package_name(self, obj: License) -> str:
        return truncated(obj.package.name)

    @admin.display(description="Version")
    def version_number(self, obj: License) -> str:
        return obj.version.version_number if obj.version_id else "-"

    @admin.display(description="Status")
    def status_display(self, obj: License) -> str:
        access = obj.access()
        if access.grace_ends_at is not None:
            return format_html(
                '{} <span class="lmo-badge lmo-badge--grace">grace until {}</span>',
                status_badge(obj.status),
                f"{access.grace_ends_at:%Y-%m-%d %H:%M}",
            )
        return status_badge(obj.status)

    @admin.display(description="Seats / used")
    def seats_used(self, obj: License) -> str:
        return seats_used_html(obj)

    @admin.display(description="Expires")
    def expires(self, obj: License) -> str:
        return expiry_display(obj.expires_at)

    @admin.display(description="Expires")
    def expires_day(self, obj: License) -> str:
        return expiry_html(obj.expires_at, clock.now(), compact=True)

    @admin.display(description="Account")
    def account_name(self, obj: License) -> str:
        return truncated(obj.account.name) if obj.account_id else "-"

    @admin.display(description="Installed", ordering="installed_at")
    def installed(self, obj: License) -> str:
        return format_utc(obj.installed_at.astimezone(dt.UTC).date())

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

    def get_fieldsets(self, request, obj=None):
        customer: tuple[str, ...] = ("lead_link", "account_link")
        if obj is not None and self.has_change_permission(request, obj):
            customer = ("lead_link", "assign_lead", "assign_account", "assign_reason")
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
        return (
            super()
            .get_queryset(request)
            .select_related("package", "version", "account", "lead")
            .with_seat_use()
        )

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
        # Nothing on this form is written directly: lead and account go through the model.
        if not change:
            return
        if "assign_lead" in form.changed_data:
            obj.assign_lead(
                by=request.user,
                lead=form.cleaned_data["assign_lead"],
                reason=form.cleaned_data.get("assign_reason", ""),
            )
        if "assign_account" in form.changed_data:
            obj.assign_account(
                by=request.user,
                account=form.cleaned_data["assign_account"],
                reason=form.cleaned_data.get("assign_reason", ""),
            )

    def save_related(self, request, form, formsets, change):
        pass

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context.update(license_page_context(request, obj))
        return super().render_change_form(request, context, add, change, form_url, obj)

    # --- Extra pages -------------------------------------------------------------------------

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path(
                "export.csv",
                view(ExportCsvView.as_view(model_admin=self)),
                name="licenses_license_export",
            ),
            path(
                "subscribers/",
                view(SubscribersView.as_view(model_admin=self)),
                name="licenses_license_subscribers",
            ),
            path(
                "<int:pk>/features/",
                view(FeatureValuesView.as_view(model_admin=self)),
                name="licenses_license_features",
            ),
            *super().get_urls(),
        ]

    # --- Actions ------------------------------------------------------------------------------

    def get_actions(self, request):
        actions = super().get_actions(request)
        for name, action in ACTIONS.items():
            if not action.allowed_for(request.user):
                actions.pop(f"action_{name}", None)
        return actions


def _make_action(action: LicenseAction):
    def run(modeladmin: LicenseAdmin, request: HttpRequest, queryset: QuerySet):
        return run_license_action(modeladmin, request, queryset, action)

    run.__name__ = f"action_{action.name}"
    # Who may run it: get_actions() asks the registry.
    return admin.action(description=action.label)(run)


for _action in ACTIONS.values():
    setattr(LicenseAdmin, f"action_{_action.name}", _make_action(_action))


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
        return event_change(obj)

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
