"""Feature parameters: create, read, and change the label, default or version."""

from __future__ import annotations

import django_filters
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.response import Response

from core.api.bulk import bulk_results
from core.api.filters import IdFilter
from core.api.schema import error_example, error_response
from core.api.views import StaffApiMixin
from features.choices import DataType, Direction
from features.models import FeatureOverride, FeatureParameter
from features.services import (
    feature_override_bulk_set,
    feature_parameter_create,
    feature_parameter_update,
)
from features.values import coerce_feature_value
from licenses.models import License
from lmo import clock

from .serializers import (
    FeatureOverrideCreateSerializer,
    FeatureOverrideSerializer,
    FeatureParameterSerializer,
    FeatureParameterUpdateSerializer,
)

VIEW_VALUES = "features.view_featureparametervalue"
CHANGE_VALUES = "features.change_featureparametervalue"

PARAMETER_EXAMPLE = {
    "id": 4,
    "package": 1,
    "developer_name": "Max_Projects",
    "label": "Max projects",
    "data_type": "integer",
    "direction": "lmo_to_subscriber",
    "default_value": 5,
    "introduced_in_version": 7,
    "created_at": "2026-11-01T09:00:00Z",
    "updated_at": "2026-11-02T10:30:00Z",
}


class FeatureParameterFilter(django_filters.FilterSet):
    package = IdFilter(field_name="package_id")
    direction = django_filters.ChoiceFilter(choices=Direction.choices)
    data_type = django_filters.ChoiceFilter(choices=DataType.choices)
    developer_name = django_filters.CharFilter(lookup_expr="iexact")

    class Meta:
        model = FeatureParameter
        fields = ("package", "direction", "data_type", "developer_name")


@extend_schema_view(
    list=extend_schema(
        summary="List feature parameters",
        examples=[
            OpenApiExample(
                "Parameters", value={"next": None, "previous": None, "results": [PARAMETER_EXAMPLE]}
            )
        ],
    ),
    retrieve=extend_schema(
        summary="One feature parameter",
        examples=[OpenApiExample("Parameter", value=PARAMETER_EXAMPLE)],
    ),
    create=extend_schema(
        summary="Add a feature parameter to a package",
        description=(
            "Every live license of the package gets the default value. At most 200 "
            "parameters per package (409 beyond)."
        ),
        responses={201: FeatureParameterSerializer, 409: error_response("409")},
        examples=[
            OpenApiExample(
                "Integer switch",
                value={
                    "package": 1,
                    "developer_name": "Max_Projects",
                    "label": "Max projects",
                    "data_type": "integer",
                    "direction": "lmo_to_subscriber",
                    "default_value": 5,
                },
                request_only=True,
            ),
            OpenApiExample("Created", value=PARAMETER_EXAMPLE, response_only=True),
            error_example(
                "Wrong type",
                400,
                "invalid",
                "value: expected an integer, got 'five'.",
                {"non_field_errors": ["value: expected an integer, got 'five'."]},
            ),
        ],
    ),
    partial_update=extend_schema(
        summary="Change a parameter's label, default or version",
        description="`data_type`, `direction`, `developer_name` and `package` are fixed: 409.",
        responses={200: FeatureParameterSerializer, 409: error_response("409")},
        examples=[
            OpenApiExample("New default", value={"default_value": 10}, request_only=True),
            OpenApiExample("Updated", value=PARAMETER_EXAMPLE, response_only=True),
            error_example(
                "Type is fixed",
                409,
                "parameter_immutable",
                "data_type cannot change once the parameter exists.",
            ),
        ],
    ),
)
class FeatureParameterViewSet(
    StaffApiMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Typed feature parameters per package; administrators create and change them."""

    queryset = FeatureParameter.objects.all()
    filterset_class = FeatureParameterFilter
    ordering_fields = ("id", "developer_name", "created_at")
    ordering = ("-id",)
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_serializer_class(self):
        if self.action == "partial_update":
            return FeatureParameterUpdateSerializer
        return FeatureParameterSerializer

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        parameter = feature_parameter_create(**serializer.validated_data)
        return Response(FeatureParameterSerializer(parameter).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        parameter = self.get_object()
        serializer = self.get_serializer(parameter, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        parameter = feature_parameter_update(parameter=parameter, **serializer.validated_data)
        return Response(FeatureParameterSerializer(parameter).data)


OVERRIDE_EXAMPLE = {
    "id": 12,
    "license": 42,
    "license_name": "L-00042",
    "parameter": 4,
    "developer_name": "Premium_Scheduling",
    "data_type": "boolean",
    "value": True,
    "previous_value": False,
    "previous_was_default": True,
    "until": "2026-12-18T09:00:00Z",
    "running": True,
    "created_at": "2026-12-04T09:00:00Z",
    "created_by": "demo-ops",
    "reason": "Two-week pilot",
    "ended_at": None,
    "end_reason": "",
}


class FeatureOverrideFilter(django_filters.FilterSet):
    license = IdFilter(field_name="license_id")
    parameter = IdFilter(field_name="parameter_id")
    running = django_filters.BooleanFilter(field_name="ended_at", lookup_expr="isnull")

    class Meta:
        model = FeatureOverride
        fields = ("license", "parameter", "running")


@extend_schema_view(
    list=extend_schema(
        summary="List feature overrides",
        description="`running=true`: those still in force. Newest first.",
        examples=[
            OpenApiExample(
                "Overrides", value={"next": None, "previous": None, "results": [OVERRIDE_EXAMPLE]}
            )
        ],
    ),
    retrieve=extend_schema(
        summary="One feature override", examples=[OpenApiExample("One", value=OVERRIDE_EXAMPLE)]
    ),
)
class FeatureOverrideViewSet(
    StaffApiMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """LMO-to-subscriber values set until a time; the sweep puts back what they replaced."""

    queryset = FeatureOverride.objects.select_related("license", "parameter", "created_by")
    serializer_class = FeatureOverrideSerializer
    filterset_class = FeatureOverrideFilter
    ordering_fields = ("id", "until")
    ordering = ("-id",)
    action_permissions = {
        "list": [VIEW_VALUES],
        "retrieve": [VIEW_VALUES],
        "create": [VIEW_VALUES, CHANGE_VALUES],
        "metadata": [VIEW_VALUES],
    }

    def get_queryset(self):
        visible = License.objects.visible_to(self.request.user)
        return super().get_queryset().filter(license__in=visible.values("pk"))

    @extend_schema(
        summary="Set a value until a time on one license or many",
        description=(
            "Each license gets `value` until `until` (a pilot of a premium feature for 20 "
            "orgs is one call); when `until` passes, the sweep puts back the value each had "
            "before, or the package default if it had the default and that changed since. "
            "A refusal (uninstalled license, subscriber-to-LMO parameter, another package) "
            "is reported for that license and the others go through; ids you cannot see "
            "are `not_found`. A value of the wrong type or an `until` in the past is a 400 "
            "and changes nothing."
        ),
        request=FeatureOverrideCreateSerializer,
        responses={200: OpenApiTypes.OBJECT, 400: error_response("400")},
        examples=[
            OpenApiExample(
                "Pilot",
                value={
                    "parameter": 4,
                    "licenses": [41, 42],
                    "value": True,
                    "until": "2026-12-18T09:00:00Z",
                    "reason": "Two-week pilot",
                },
                request_only=True,
            ),
            OpenApiExample(
                "Results",
                value={
                    "applied": 1,
                    "refused": 1,
                    "results": [
                        {"id": 41, "license": "L-00041", "outcome": "applied", "message": ""},
                        {
                            "id": 42,
                            "license": "L-00042",
                            "outcome": "refused",
                            "message": "L-00042 is uninstalled and can no longer be changed "
                            "(tried to change Premium_Scheduling).",
                        },
                    ],
                },
                response_only=True,
            ),
        ],
    )
    def create(self, request, *args, **kwargs):
        serializer = FeatureOverrideCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        body = serializer.validated_data
        parameter = body["parameter"]
        # Refused before any license is touched: the same for every license.
        coerce_feature_value(parameter.data_type, body["value"], field="value")
        if body["until"] <= clock.now():
            raise DjangoValidationError({"until": "An override must end in the future."})
        ids = list(dict.fromkeys(body["licenses"]))
        found = License.objects.visible_to(request.user).in_bulk(ids)
        outcomes = {
            result.license_id: result
            for result in feature_override_bulk_set(
                parameter=parameter,
                licenses=[found[pk] for pk in ids if pk in found],
                value=body["value"],
                until=body["until"],
                by=request.user,
                reason=body["reason"],
            )
        }
        return Response(
            bulk_results(ids, outcomes, succeeded=lambda outcome: outcome.outcome != "refused")
        )
