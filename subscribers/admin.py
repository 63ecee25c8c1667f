"""The subscriber event inbox in the console: read-only, searchable by org id and event id."""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from core.salesforce_ids import ORG_PREFIX, PACKAGE_PREFIX, try_normalize
from licenses.admin_paginator import EstimatedCountPaginator

from .models import SubscriberEvent


class PackageIdFilter(admin.SimpleListFilter):
    """Lets the package page link to its unrouted events (package_id is not a foreign key)."""

    title = "package id"
    parameter_name = "package_id"

    def lookups(self, request, model_admin):
        value = self.value()
        return [(value, value)] if value else []

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(
                package_id=try_normalize(self.value(), prefix=PACKAGE_PREFIX) or self.value()
            )
        return queryset


@admin.register(SubscriberEvent)
class SubscriberEventAdmin(admin.ModelAdmin):
    list_display = (
        "received_at",
        "event_id",
        "type",
        "package_id",
        "org_id",
        "outcome_badge",
        "license_link",
        "error",
    )
    list_filter = ("outcome", "type", PackageIdFilter)
    list_select_related = ("license",)
    search_fields = ("event_id",)
    search_help_text = "Event id, or org id (15 or 18 characters)."
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    readonly_fields = (
        "event_id",
        "type",
        "occurred_at",
        "received_at",
        "package_id",
        "org_id",
        "outcome",
        "license_link",
        "error",
        "replayed_at",
        "payload",
    )
    fields = readonly_fields

    @admin.display(description="Outcome")
    def outcome_badge(self, obj: SubscriberEvent) -> str:
        return format_html(
            '<span class="lmo-badge lmo-badge--{}">{}</span>',
            obj.outcome,
            obj.get_outcome_display(),
        )

    @admin.display(description="License")
    def license_link(self, obj: SubscriberEvent) -> str:
        if not obj.license_id:
            return "-"
        url = reverse("admin:licenses_license_change", args=[obj.license_id])
        return format_html('<a href="{}">{}</a>', url, obj.license.name)

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        org_id = try_normalize(term, prefix=ORG_PREFIX)
        if org_id:
            return queryset.filter(org_id=org_id), False
        return queryset.filter(event_id=term), False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        # The inbox is a record of what arrived: replays go through the package page.
        return False

    def has_delete_permission(self, request, obj=None):
        return False
