"""The dashboards' figures as JSON: the same dataclasses the console pages render."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from dashboards import definitions as d
from dashboards.filters import Scope
from licenses.choices import LicenseStatus

R = {"read_only": True}


class FigureSerializer(serializers.Serializer):
    value = serializers.IntegerField(**R)
    previous = serializers.IntegerField(
        allow_null=True, help_text="At the start of the period; null when not kept.", **R
    )
    change = serializers.IntegerField(allow_null=True, help_text="value - previous.", **R)
    url = serializers.CharField(help_text="The console's license list behind the number.", **R)


class ScopeSerializer(serializers.Serializer):
    package = serializers.IntegerField(allow_null=True, help_text="Package id; null: all.", **R)
    period = serializers.IntegerField(help_text="Days looked back over.", **R)
    orgs = serializers.ChoiceField(choices=list(d.ORG_SCOPES), **R)
    sandboxes_excluded = serializers.BooleanField(**R)
    as_of = serializers.DateTimeField(**R)

    def to_representation(self, scope: Scope) -> dict[str, Any]:
        return {
            "package": scope.package.pk if scope.package else None,
            "period": scope.period_days,
            "orgs": scope.org_scope,
            "sandboxes_excluded": scope.sandboxes_excluded,
            "as_of": scope.now.isoformat(),
        }


class StatusFigureSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=LicenseStatus.choices, **R)
    label = serializers.CharField(**R)
    figure = FigureSerializer(**R)


class WeekSerializer(serializers.Serializer):
    week = serializers.DateField(help_text="The week's Monday (UTC).", **R)
    installs = FigureSerializer(**R)
    uninstalls = FigureSerializer(**R)
    net = serializers.IntegerField(**R)


class TrialsEndingSerializer(serializers.Serializer):
    days = serializers.IntegerField(**R)
    figure = FigureSerializer(**R)


class OverUseSerializer(serializers.Serializer):
    license = serializers.CharField(**R)
    url = serializers.CharField(**R)
    org_name = serializers.CharField(**R)
    org_id = serializers.CharField(**R)
    package = serializers.CharField(**R)
    status = serializers.ChoiceField(choices=LicenseStatus.choices, **R)
    seats = serializers.IntegerField(**R)
    used = serializers.IntegerField(**R)
    excess = serializers.IntegerField(**R)


class InGraceSerializer(serializers.Serializer):
    license = serializers.CharField(**R)
    url = serializers.CharField(**R)
    org_name = serializers.CharField(**R)
    org_id = serializers.CharField(**R)
    package = serializers.CharField(**R)
    status = serializers.ChoiceField(choices=LicenseStatus.choices, **R)
    expires_at = serializers.DateTimeField(**R)


class OverviewSerializer(serializers.Serializer):
    scope = ScopeSerializer(**R)
    live = FigureSerializer(**R)
    active_seats = FigureSerializer(**R)
    seats_used = FigureSerializer(**R)
    seats_used_share = serializers.FloatField(allow_null=True, **R)
    site_licenses = FigureSerializer(**R)
    over_use = FigureSerializer(**R)
    by_status = StatusFigureSerializer(many=True, **R)
    weeks = WeekSerializer(many=True, **R)
    trials_ending = TrialsEndingSerializer(many=True, **R)
    over_use_rows = OverUseSerializer(many=True, **R)
    in_grace = FigureSerializer(**R)
    in_grace_rows = InGraceSerializer(many=True, **R)


class OutcomeSerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(
        choices=["converted", "trial", "expired", "suspended", "uninstalled"], **R
    )
    label = serializers.CharField(**R)
    figure = FigureSerializer(**R)
    share = serializers.FloatField(allow_null=True, **R)


class CohortSerializer(serializers.Serializer):
    month = serializers.DateField(**R)
    started = FigureSerializer(**R)
    outcomes = OutcomeSerializer(many=True, **R)
    median_days_to_purchase = serializers.IntegerField(allow_null=True, **R)


class TrialConversionSerializer(serializers.Serializer):
    scope = ScopeSerializer(**R)
    started = serializers.IntegerField(**R)
    converted = serializers.IntegerField(**R)
    conversion = serializers.FloatField(allow_null=True, **R)
    median_days_to_purchase = serializers.IntegerField(allow_null=True, **R)
    cohorts = CohortSerializer(many=True, **R)


class RetentionSerializer(serializers.Serializer):
    days = serializers.IntegerField(**R)
    measurable = serializers.BooleanField(
        help_text="Every install of the month is this many days old.", **R
    )
    figure = FigureSerializer(help_text="Installs still installed after `days`.", **R)
    share = serializers.FloatField(allow_null=True, **R)


class ChurnMonthSerializer(serializers.Serializer):
    month = serializers.DateField(**R)
    uninstalls = FigureSerializer(**R)
    by_status = StatusFigureSerializer(many=True, help_text="By status at uninstall.", **R)
    installs = FigureSerializer(**R)
    retention = RetentionSerializer(many=True, **R)


class ChurnSerializer(serializers.Serializer):
    scope = ScopeSerializer(**R)
    uninstalls = serializers.IntegerField(**R)
    months = ChurnMonthSerializer(many=True, **R)


class VersionRowSerializer(serializers.Serializer):
    version_id = serializers.IntegerField(allow_null=True, **R)
    version_number = serializers.CharField(**R)
    is_beta = serializers.BooleanField(**R)
    is_latest = serializers.BooleanField(**R)
    figure = FigureSerializer(help_text="Live installs.", **R)
    share = serializers.FloatField(allow_null=True, **R)


class PackageRefSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk", **R)
    name = serializers.CharField(**R)
    namespace = serializers.CharField(**R)


class VersionRefSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk", **R)
    version_number = serializers.CharField(**R)


class PackageVersionsSerializer(serializers.Serializer):
    package = PackageRefSerializer(**R)
    live = FigureSerializer(**R)
    latest = VersionRefSerializer(allow_null=True, **R)
    on_latest_share = serializers.FloatField(allow_null=True, **R)
    versions = VersionRowSerializer(many=True, **R)


class OlderVersionsSerializer(serializers.Serializer):
    version = VersionRefSerializer(**R)
    url = serializers.CharField(help_text="The license list of those orgs.", **R)
    csv = serializers.CharField(help_text="The same orgs as CSV.", **R)


class VersionsSerializer(serializers.Serializer):
    scope = ScopeSerializer(**R)
    packages = PackageVersionsSerializer(many=True, **R)
    older = OlderVersionsSerializer(
        allow_null=True, help_text="Orgs on versions older than `older_than`.", **R
    )


class SwitchSerializer(serializers.Serializer):
    package = serializers.CharField(**R)
    developer_name = serializers.CharField(**R)
    label = serializers.CharField(**R)
    live = serializers.IntegerField(help_text="Live licenses.", **R)
    on = FigureSerializer(**R)
    share_on = serializers.FloatField(allow_null=True, **R)


class ReadingSerializer(serializers.Serializer):
    package = serializers.CharField(**R)
    developer_name = serializers.CharField(**R)
    label = serializers.CharField(**R)
    reported = FigureSerializer(help_text="Live licenses that reported a value.", **R)
    median = serializers.IntegerField(allow_null=True, **R)
    p90 = serializers.IntegerField(allow_null=True, **R)
    max = serializers.IntegerField(allow_null=True, **R)


class FeaturesSerializer(serializers.Serializer):
    scope = ScopeSerializer(**R)
    as_of = serializers.DateTimeField(help_text="When these figures were counted.", **R)
    switches = SwitchSerializer(many=True, **R)
    readings = ReadingSerializer(many=True, **R)


class DefinitionSerializer(serializers.Serializer):
    slug = serializers.CharField(**R)
    term = serializers.CharField(**R)
    meaning = serializers.CharField(**R)
