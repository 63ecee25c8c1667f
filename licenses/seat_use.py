"""Seat over-use in the console: the list's filter and mark, and the warning's wording."""

from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html

from packages.models import seats_display

from .models import License


class SeatLimitFilter(admin.SimpleListFilter):
    """Licenses whose org uses more seats than it bought."""

    title = "seat use"
    parameter_name = "seats"

    def lookups(self, request, model_admin):
        return [("over", "over seat limit")]

    def queryset(self, request, queryset):
        if self.value() == "over":
            return queryset.over_seat_limit()
        return queryset


def over_use_message(license: License) -> str:
    """`Uses 45 seats of 10 bought (35 over).` for a license over its limit."""
    over = license.used_licenses - license.seats
    return f"Uses {license.used_licenses:,} seats of {license.seats:,} bought ({over:,} over)."


def seats_used_html(license: License) -> str:
    """`10 / 45` with a mark and the explanation on hover when the org is over its seats."""
    used = "-" if license.used_licenses is None else f"{license.used_licenses:,}"
    text = f"{seats_display(license.seats)} / {used}"
    if getattr(license, "is_over_seat_limit", False):
        return format_html(
            '<span class="lmo-over" title="{}">{} <span class="lmo-over-mark">over</span></span>',
            over_use_message(license),
            text,
        )
    return text
