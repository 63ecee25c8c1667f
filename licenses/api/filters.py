"""Filters of the license list."""

from __future__ import annotations

import django_filters

from core.api.filters import IdFilter, UtcIsoDateTimeFilter, salesforce_id_filter
from core.salesforce_ids import ORG_PREFIX
from licenses.choices import LicenseStatus
from licenses.models import License


class LicenseFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(
        choices=LicenseStatus.choices, help_text="Repeat for several: ?status=trial&status=active"
    )
    package = IdFilter(field_name="package_id")
    version = IdFilter(field_name="version_id")
    account = IdFilter(field_name="account_id")
    org_id = django_filters.CharFilter(
        method=salesforce_id_filter(ORG_PREFIX),
        help_text="15 or 18 characters, 00D...; an id that is not an org id matches nothing.",
    )
    sandbox = django_filters.BooleanFilter(field_name="is_sandbox")
    expires_before = UtcIsoDateTimeFilter(field_name="expires_at", lookup_expr="lt")
    expires_after = UtcIsoDateTimeFilter(field_name="expires_at", lookup_expr="gte")
    installed_after = UtcIsoDateTimeFilter(field_name="installed_at", lookup_expr="gte")

    class Meta:
        model = License
        fields = (
            "status",
            "package",
            "version",
            "account",
            "org_id",
            "sandbox",
            "expires_before",
            "expires_after",
            "installed_after",
        )
