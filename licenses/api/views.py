"""Licenses: read, filter, and change only through the License methods, one action each."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.db.models import Prefetch
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from core.api.bulk import bulk_results
from core.api.exceptions import error_response as api_error
from core.api.pagination import ApiCursorPagination
from core.api.schema import error_example, error_response
from core.api.views import StaffApiMixin
from features.models import FeatureParameter, FeatureParameterValue
from features.services import feature_value_set
from licenses.actions import ACTIONS, ACTIONS_BY_SLUG, CHANGE, LicenseAction
from licenses.models import License
from licenses.services import licenses_bulk_apply

from .filters import LicenseFilter
from .serializers import (
    ACTION_SERIALIZERS,
    BulkResponseSerializer,
    BulkSerializer,
    FeatureValuesSerializer,
    LicenseDetailSerializer,
    LicenseEventSerializer,
    LicensePatchSerializer,
    LicenseSerializer,
)

VIEW = "licenses.view_license"

LICENSE_EXAMPLE = {
    "id": 42,
    "name": "L-00042",
    "package": 1,
    "version": {
        "id": 7,
        "version_number": "1.4.0",
        "version_id": "04t0X000000XyZaQAK",
        "name": "Winter release",
        "release_date": "2026-10-15",
        "is_beta": False,
    },
    "org_id": "00D5g000004SbcdEAC",
    "org_name": "Globex",
    "org_edition": "Enterprise Edition",
    "org_instance": "NA135",
    "org_type": "production",
    "is_sandbox": False,
    "parent_org_id": None,
    "status": "active",
    "seats": 50,
    "used_licenses": 31,
    "installed_at": "2026-09-01T12:00:00Z",
    "trial_started_at": "2026-09-01T12:00:00Z",
    "activated_at": "2026-09-20T08:00:00Z",
    "expires_at": "2027-09-20T00:00:00Z",
    "uninstalled_at": None,
    "account": 12,
    "lead": 40,
    "previous_license": None,
    "last_event_at": "2026-11-20T07:00:00Z",
    "created_at": "2026-09-01T12:00:01Z",
    "updated_at": "2026-11-20T07:00:00Z",
}
DETAIL_EXAMPLE = {
    **LICENSE_EXAMPLE,
    "feature_values": [
        {
            "parameter": 4,
            "developer_name": "Max_Projects",
            "label": "Max projects",
            "data_type": "integer",
            "direction": "lmo_to_subscriber",
            "value": 25,
            "updated_at": "2026-10-01T09:00:00Z",
        }
    ],
    "available_actions": ["suspend", "set-seats", "set-expiration"],
}
HISTORY_EXAMPLE = {
    "next": None,
    "previous": None,
    "results": [
        {
            "id": 901,
            "at": "2026-09-20T08:00:00Z",
            "actor": "ops.jane",
            "kind": "status_changed",
            "before": {"status": "trial", "expires_at": "2026-10-01T12:00:00Z"},
            "after": {"status": "active", "expires_at": "2027-09-20T00:00:00Z"},
            "reason": "Invoice 2026-118 paid",
            "source_event_id": None,
        }
    ],
}
TRANSITION_409 = error_example(
    "Illegal move",
    409,
    "invalid_transition",
    "Cannot move L-00042 from uninstalled to active.",
)
LOCKED_409 = error_example(
    "Frozen",
    409,
    "license_locked",
    "L-00042 is uninstalled and can no longer be changed (tried to set seats).",
)
TRIAL_422 = error_example(
    "Past 90 days",
    422,
    "trial_limit_exceeded",
    "A trial can last at most 90 days from its start: it must end by 2026-11-30 12:00 UTC, "
    "not 2026-12-15 12:00 UTC.",
)


class HistoryPagination(ApiCursorPagination):
    ordering = ("-at", "-id")


def _action_schema(
    summary: str,
    description: str,
    request: type[serializers.Serializer],
    request_example: dict[str, Any],
    errors: tuple[OpenApiExample, ...] = (TRANSITION_409, LOCKED_409),
    codes: tuple[int, ...] = (409,),
) -> Callable:
    return extend_schema(
        summary=summary,
        description=description,
        request=request,
        responses={
            200: LicenseDetailSerializer,
            **{code: error_response(str(code)) for code in codes},
        },
        filters=False,
        examples=[
            OpenApiExample("Request", value=request_example, request_only=True),
            OpenApiExample("Changed license", value=DETAIL_EXAMPLE, response_only=True),
            *errors,
        ],
    )


def _detail_queryset(queryset):
    values = FeatureParameterValue.objects.select_related("parameter").order_by(
        "parameter__developer_name"
    )
    return queryset.prefetch_related(Prefetch("feature_values", queryset=values))


@extend_schema_view(
    list=extend_schema(
        summary="List licenses",
        description=(
            "Cursor-paginated (`page_size` up to 100). `org_id` takes the 15 or 18 character "
            "form. Order with `ordering`, e.g. `-installed_at`."
        ),
        examples=[
            OpenApiExample(
                "Licenses",
                value={
                    "next": "https://lmo.example/api/v1/licenses/?cursor=cD00Mg%3D%3D",
                    "previous": None,
                    "results": [LICENSE_EXAMPLE],
                },
            ),
            error_example(
                "Bad status",
                400,
                "invalid",
                "Invalid input: status.",
                {"status": ["Select a valid choice. paid is not one of the available choices."]},
            ),
        ],
    ),
    retrieve=extend_schema(
        summary="One license, with its version and feature values",
        examples=[
            OpenApiExample("License", value=DETAIL_EXAMPLE),
            error_example("Not visible", 404, "not_found", "No License matches the given query."),
        ],
    ),
    partial_update=extend_schema(
        summary="Direct edits are refused",
        description=(
            "Every license field is server-owned. A PATCH changes nothing and answers 400 "
            "naming each field sent; use the actions (activate, suspend, reinstate, "
            "extend-trial, set-seats, set-expiration, features)."
        ),
        request=LicensePatchSerializer,
        responses={400: error_response("400", "Always: license fields are read-only.")},
        filters=False,
        examples=[
            OpenApiExample("Tries to set status", value={"status": "active"}, request_only=True),
            error_example(
                "Read-only",
                400,
                "read_only",
                "License fields are read-only (status); nothing was changed. Use the actions: "
                "POST licenses/42/activate/, suspend/, reinstate/, extend-trial/, set-seats/, "
                "set-expiration/, or PATCH licenses/42/features/.",
                {"status": ["Read-only: change it with an action."]},
            ),
        ],
    ),
)
class LicenseViewSet(StaffApiMixin, viewsets.ReadOnlyModelViewSet):
    """Licenses, visible to roles that may view them; every change is one License method."""

    serializer_class = LicenseSerializer
    filterset_class = LicenseFilter
    ordering_fields = ("id", "installed_at", "org_name", "created_at", "updated_at")
    ordering = ("-id",)
    http_method_names = ["get", "post", "patch", "head", "options"]
    action_permissions = {
        "partial_update": [VIEW, CHANGE],
        # One endpoint per registry action, needing that action's permission.
        **{name: [VIEW, action.permission] for name, action in ACTIONS.items()},
        "features": [VIEW, CHANGE, "features.change_featureparametervalue"],
        "history": [VIEW, "licenses.view_licenseevent"],
        # The action's own permission is checked once the body names it.
        "bulk": [VIEW],
    }

    def get_queryset(self):
        queryset = License.objects.visible_to(self.request.user).select_related("version")
        if self.action == "retrieve":
            queryset = _detail_queryset(queryset)
        return queryset

    def get_serializer_class(self):
        if self.action == "retrieve":
            return LicenseDetailSerializer
        if self.action == "history":
            return LicenseEventSerializer
        return LicenseSerializer

    def _changed(self, license: License) -> Response:
        fresh = _detail_queryset(License.objects.select_related("version")).get(pk=license.pk)
        return Response(LicenseDetailSerializer(fresh, context=self.get_serializer_context()).data)

    def _run_action(self, action: LicenseAction) -> Response:
        license = self.get_object()
        body = self._body(ACTION_SERIALIZERS[action.name])
        action.run(license, by=self.request.user, data=body)
        return self._changed(license)

    def _body(self, serializer_class: type[serializers.Serializer]) -> dict[str, Any]:
        serializer = serializer_class(data=self.request.data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def partial_update(self, request, *args, **kwargs):
        license = self.get_object()
        sent = sorted(request.data) if isinstance(request.data, dict) else []
        named = f" ({', '.join(sent)})" if sent else ""
        return api_error(
            400,
            "read_only",
            f"License fields are read-only{named}; nothing was changed. Use the actions: "
            f"POST licenses/{license.pk}/activate/, suspend/, reinstate/, extend-trial/, "
            f"set-seats/, set-expiration/, or PATCH licenses/{license.pk}/features/.",
            {field: ["Read-only: change it with an action."] for field in sent},
        )

    @_action_schema(
        "Set feature values",
        "Typed values for the package's LMO-to-subscriber parameters, all or none. A "
        "subscriber-to-LMO parameter is read-only here (400).",
        FeatureValuesSerializer,
        {"values": {"Max_Projects": 25, "Premium_Until": "2027-01-31"}, "reason": "Pilot"},
        errors=(
            LOCKED_409,
            error_example(
                "Wrong direction",
                400,
                "wrong_direction",
                "Active_Users is set by the subscriber org only; it is read-only here.",
            ),
        ),
    )
    @action(detail=True, methods=["patch"])
    def features(self, request, pk=None):
        license = self.get_object()
        body = self._body(FeatureValuesSerializer)
        values = body["values"]
        parameters = {
            parameter.developer_name: parameter
            for parameter in FeatureParameter.objects.filter(
                package_id=license.package_id, developer_name__in=list(values)
            )
        }
        unknown = sorted(set(values) - set(parameters))
        if unknown:
            raise serializers.ValidationError(
                {name: ["No such parameter on this license's package."] for name in unknown}
            )
        with transaction.atomic():
            for name, value in values.items():
                feature_value_set(
                    license=license,
                    parameter=parameters[name],
                    value=value,
                    by=request.user,
                    reason=body.get("reason", ""),
                )
        return self._changed(license)

    @extend_schema(
        summary="History of a license",
        description="Newest first: who changed what, from what to what, and why.",
        responses={200: LicenseEventSerializer(many=True)},
        filters=False,
        examples=[OpenApiExample("History", value=HISTORY_EXAMPLE)],
    )
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=HistoryPagination)
    def history(self, request, pk=None):
        license = self.get_object()
        page = self.paginate_queryset(license.events.all())
        return self.get_paginated_response(LicenseEventSerializer(page, many=True).data)

    @extend_schema(
        summary="Apply one action to many licenses",
        description=(
            "Up to 1,000 ids. Each id gets its own result: `applied`, `refused` (with the "
            "rule's message) or `not_found`. One refusal does not stop the others. Needs the "
            "same permission as the single action."
        ),
        request=BulkSerializer,
        responses={200: BulkResponseSerializer},
        filters=False,
        examples=[
            OpenApiExample(
                "Extend trials",
                value={
                    "action": "extend-trial",
                    "ids": [41, 42, 99999],
                    "until": "2026-11-25T12:00:00Z",
                    "reason": "Holiday extension",
                },
                request_only=True,
            ),
            OpenApiExample(
                "Results",
                value={
                    "action": "extend-trial",
                    "applied": 1,
                    "refused": 2,
                    "results": [
                        {"id": 41, "license": "L-00041", "outcome": "applied", "message": ""},
                        {
                            "id": 42,
                            "license": "L-00042",
                            "outcome": "refused",
                            "message": "Cannot move L-00042 from active to trial: a license "
                            "that was bought cannot become a trial again.",
                        },
                        {
                            "id": 99999,
                            "license": None,
                            "outcome": "not_found",
                            "message": "No such license.",
                        },
                    ],
                },
                response_only=True,
            ),
        ],
    )
    @action(detail=False, methods=["post"])
    def bulk(self, request):
        body = self._body(BulkSerializer)
        spec = ACTIONS_BY_SLUG[body["action"]]
        if not spec.allowed_for(request.user):
            raise PermissionDenied(f"Your role may not {spec.slug} licenses.")
        ids = list(dict.fromkeys(body["ids"]))
        found = License.objects.visible_to(request.user).in_bulk(ids)
        outcomes = {
            outcome.license_id: outcome
            for outcome in licenses_bulk_apply(
                licenses=[found[pk] for pk in ids if pk in found],
                action=spec.slug,
                apply=lambda lic: spec.run(lic, by=request.user, data=body["arguments"]),
            )
        }
        return Response(
            {"action": spec.slug, **bulk_results(ids, outcomes, succeeded=lambda o: o.ok)}
        )


REFUSAL_EXAMPLES = {
    "invalid_transition": TRANSITION_409,
    "license_locked": LOCKED_409,
    "trial_limit_exceeded": TRIAL_422,
}


def _action_endpoint(spec: LicenseAction) -> Callable:
    """The POST licenses/{id}/<slug>/ endpoint of one registry action."""

    def endpoint(self: LicenseViewSet, request, pk=None) -> Response:
        return self._run_action(spec)

    endpoint.__name__ = spec.name
    endpoint.__doc__ = spec.description
    codes = tuple(sorted({REFUSAL_EXAMPLES[code].status_codes[0] for code in spec.refusals}))
    return _action_schema(
        spec.label,
        spec.description,
        ACTION_SERIALIZERS[spec.name],
        dict(spec.example),
        errors=tuple(REFUSAL_EXAMPLES[code] for code in spec.refusals),
        codes=tuple(int(code) for code in codes),
    )(action(detail=True, methods=["post"], url_path=spec.slug)(endpoint))


for _spec in ACTIONS.values():
    setattr(LicenseViewSet, _spec.name, _action_endpoint(_spec))
