"""/api/v1/dashboards/...: the managers' figures as JSON, for their own tools."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from django.utils.http import urlencode
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import UserRateThrottle
from rest_framework.views import APIView

from core.api.schema import StaffAutoSchema
from core.api.throttling import EndpointRateThrottle
from core.api.views import STAFF_AUTHENTICATION
from dashboards import definitions as d
from dashboards import selectors
from dashboards.filters import Scope, parse_scope
from dashboards.views import DASHBOARD_PERMISSION, DEFAULT_PERIODS
from packages.models import PackageVersion

from . import serializers as s


class CanViewDashboards(BasePermission):
    """Managers and Partner Ops (the role permission licenses.view_dashboard)."""

    message = "Your role may not see the dashboards (Managers and Partner Ops may)."

    def has_permission(self, request: Request, view: APIView) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.has_perm(DASHBOARD_PERMISSION))


def _scope_parameters(default_period: int) -> list[OpenApiParameter]:
    return [
        OpenApiParameter(
            "package", OpenApiTypes.INT, description="A package id; all packages when absent."
        ),
        OpenApiParameter(
            "period",
            OpenApiTypes.INT,
            enum=list(d.PERIODS),
            description=f"Days to look back over (default {default_period}).",
        ),
        OpenApiParameter(
            "orgs",
            OpenApiTypes.STR,
            enum=list(d.ORG_SCOPES),
            description="Which orgs count (default production: sandboxes excluded).",
        ),
    ]


def _example(name: str, value: dict[str, Any]) -> OpenApiExample:
    return OpenApiExample(name, value=value, response_only=True, status_codes=["200"])


SCOPE_EXAMPLE = {
    "package": 1,
    "period": 30,
    "orgs": "production",
    "sandboxes_excluded": True,
    "as_of": "2026-06-15T12:00:00+00:00",
}
LIST = "/admin/licenses/license/?package__id__exact=1&org_type__exact=production"


def _figure(value: int, previous: int | None = None, query: str = "") -> dict[str, Any]:
    return {
        "value": value,
        "previous": previous,
        "change": None if previous is None else value - previous,
        "url": LIST + query,
    }


class DashboardApiView(APIView):
    authentication_classes = STAFF_AUTHENTICATION
    permission_classes = [CanViewDashboards]
    throttle_classes = [UserRateThrottle, EndpointRateThrottle]
    schema = StaffAutoSchema()
    page = "overview"

    def get_throttle_scope(self) -> str:
        return "reads" if self.request.method in SAFE_METHODS else "writes"

    def scope(self, request: Request) -> Scope:
        scope, form = parse_scope(request.query_params, default_period=DEFAULT_PERIODS[self.page])
        if scope is None:
            raise ValidationError({k: list(v) for k, v in form.errors.items()})
        return scope


class OverviewView(DashboardApiView):
    page = "overview"

    @extend_schema(
        operation_id="dashboards_overview",
        summary="Seats, licenses by status, installs per week, trials ending, over-use",
        parameters=_scope_parameters(30),
        responses=s.OverviewSerializer,
        examples=[
            _example(
                "Overview",
                {
                    "scope": SCOPE_EXAMPLE,
                    "live": _figure(6, 4, "&segment=live"),
                    "active_seats": _figure(70, 70, "&segment=live&status__exact=active"),
                    "seats_used": _figure(65, 0, "&segment=live&status__exact=active"),
                    "seats_used_share": 0.9286,
                    "site_licenses": _figure(1, 0, "&seats__exact=-1"),
                    "over_use": _figure(2, 0, "&segment=over_limit"),
                    "by_status": [
                        {"status": "trial", "label": "Trial", "figure": _figure(4, 2)},
                    ],
                    "weeks": [
                        {
                            "week": "2026-06-01",
                            "installs": _figure(2),
                            "uninstalls": _figure(0),
                            "net": 2,
                        }
                    ],
                    "trials_ending": [{"days": 7, "figure": _figure(1)}],
                    "over_use_rows": [
                        {
                            "license": "L-00003",
                            "url": "/admin/licenses/license/3/change/",
                            "org_name": "Acme Corp",
                            "org_id": "00D000000000001EAA",
                            "package": "Field Service Pro",
                            "status": "active",
                            "seats": 50,
                            "used": 60,
                            "excess": 10,
                        }
                    ],
                },
            )
        ],
    )
    def get(self, request: Request) -> Response:
        return Response(s.OverviewSerializer(selectors.overview(self.scope(request))).data)


class TrialConversionView(DashboardApiView):
    page = "conversion"

    @extend_schema(
        operation_id="dashboards_trial_conversion",
        summary="Monthly trial cohorts: converted, in trial, expired, uninstalled",
        parameters=_scope_parameters(365),
        responses=s.TrialConversionSerializer,
        examples=[
            _example(
                "Trial conversion",
                {
                    "scope": {**SCOPE_EXAMPLE, "period": 365},
                    "started": 4,
                    "converted": 1,
                    "conversion": 0.25,
                    "median_days_to_purchase": 29,
                    "cohorts": [
                        {
                            "month": "2026-05-01",
                            "started": _figure(4),
                            "outcomes": [
                                {
                                    "outcome": "converted",
                                    "label": "Converted",
                                    "figure": _figure(1),
                                    "share": 0.25,
                                }
                            ],
                            "median_days_to_purchase": 29,
                        }
                    ],
                },
            )
        ],
    )
    def get(self, request: Request) -> Response:
        data = selectors.trial_conversion(self.scope(request))
        return Response(s.TrialConversionSerializer(data).data)


class ChurnView(DashboardApiView):
    page = "churn"

    @extend_schema(
        operation_id="dashboards_churn",
        summary="Uninstalls per month by status at uninstall; retention after 30/60/90 days",
        parameters=_scope_parameters(365),
        responses=s.ChurnSerializer,
        examples=[
            _example(
                "Churn and retention",
                {
                    "scope": {**SCOPE_EXAMPLE, "period": 365},
                    "uninstalls": 1,
                    "months": [
                        {
                            "month": "2026-03-01",
                            "uninstalls": _figure(1),
                            "by_status": [
                                {"status": "trial", "label": "Trial", "figure": _figure(1)}
                            ],
                            "installs": _figure(2),
                            "retention": [
                                {
                                    "days": 30,
                                    "measurable": True,
                                    "figure": _figure(1),
                                    "share": 0.5,
                                }
                            ],
                        }
                    ],
                },
            )
        ],
    )
    def get(self, request: Request) -> Response:
        return Response(s.ChurnSerializer(selectors.churn(self.scope(request))).data)


class VersionsView(DashboardApiView):
    page = "versions"

    @extend_schema(
        operation_id="dashboards_versions",
        summary="Live installs by version, share on the latest, orgs on older versions",
        parameters=[
            *_scope_parameters(30),
            OpenApiParameter(
                "older_than",
                OpenApiTypes.INT,
                description="A version id: also link the live orgs on older versions.",
            ),
        ],
        responses=s.VersionsSerializer,
        examples=[
            _example(
                "Versions",
                {
                    "scope": SCOPE_EXAMPLE,
                    "packages": [
                        {
                            "package": {"id": 1, "name": "Field Service Pro", "namespace": "fsp"},
                            "live": _figure(6),
                            "latest": {"id": 3, "version_number": "2.0.0"},
                            "on_latest_share": 0.6667,
                            "versions": [
                                {
                                    "version_id": 3,
                                    "version_number": "2.0.0",
                                    "is_beta": False,
                                    "is_latest": True,
                                    "figure": _figure(4, 2),
                                    "share": 0.6667,
                                }
                            ],
                        }
                    ],
                    "older": None,
                },
            )
        ],
    )
    def get(self, request: Request) -> Response:
        scope = self.scope(request)
        data = selectors.versions(scope)
        older = None
        raw = request.query_params.get("older_than")
        if raw is not None:
            version = self._version(raw, scope)
            older = {
                "version": version,
                "url": selectors.older_versions_url(scope, version),
                "csv": reverse("dashboards:versions-csv")
                + "?"
                + urlencode({**scope.params(), "older_than": version.pk}),
            }
        payload = {"scope": scope, "packages": data.packages, "older": older}
        return Response(s.VersionsSerializer(payload).data)

    def _version(self, raw: str, scope: Scope) -> PackageVersion:
        versions = PackageVersion.objects.all()
        if scope.package is not None:
            versions = versions.filter(package=scope.package)
        version = versions.filter(pk=int(raw)).first() if raw.isdigit() else None
        if version is None:
            raise ValidationError({"older_than": ["No such version (of the chosen package)."]})
        return version


class FeaturesView(DashboardApiView):
    page = "features"

    @extend_schema(
        operation_id="dashboards_features",
        summary="Feature adoption: switches on among live licenses; readings' median, p90, max",
        description="Counted at each request from the feature tally (`as_of` is the moment "
        "of the request); they describe the licenses as they are now, whatever the period. "
        "`refresh` is accepted and changes nothing (nothing is kept between requests).",
        parameters=[
            *_scope_parameters(30),
            OpenApiParameter(
                "refresh",
                OpenApiTypes.BOOL,
                description="Accepted for older callers; the figures are always current.",
            ),
        ],
        responses=s.FeaturesSerializer,
        examples=[
            _example(
                "Feature adoption",
                {
                    "scope": SCOPE_EXAMPLE,
                    "as_of": "2026-06-15T12:00:00+00:00",
                    "switches": [
                        {
                            "package": "Field Service Pro",
                            "developer_name": "Premium_Sync",
                            "label": "Premium sync",
                            "live": 6,
                            "on": _figure(2),
                            "share_on": 0.3333,
                        }
                    ],
                    "readings": [
                        {
                            "package": "Field Service Pro",
                            "developer_name": "Jobs_Run",
                            "label": "Jobs run",
                            "reported": _figure(4),
                            "median": 12,
                            "p90": 100,
                            "max": 100,
                        }
                    ],
                },
            )
        ],
    )
    def get(self, request: Request) -> Response:
        scope = self.scope(request)
        data = selectors.feature_adoption(scope)
        payload = {
            "scope": scope,
            "as_of": data.as_of,
            "switches": data.switches,
            "readings": data.readings,
        }
        return Response(s.FeaturesSerializer(payload).data)


class DefinitionsView(DashboardApiView):
    @extend_schema(
        operation_id="dashboards_definitions",
        summary="What the dashboards' words mean (used by every figure)",
        responses=s.DefinitionSerializer(many=True),
        examples=[
            _example(
                "Definitions",
                [{"slug": d.DEFINITIONS[0].slug, "term": "Live", "meaning": "A license in ..."}],
            )
        ],
    )
    def get(self, request: Request) -> Response:
        return Response(s.DefinitionSerializer(d.DEFINITIONS, many=True).data)
