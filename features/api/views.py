"""Feature parameters: create, read, and change the label, default or version."""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.response import Response

from core.api.filters import IdFilter
from core.api.schema import error_example, error_response
from core.api.views import StaffApiMixin
from features.choices import DataType, Direction
from features.models import FeatureParameter
from features.services import feature_parameter_create, feature_parameter_update

from .serializers import FeatureParameterSerializer, FeatureParameterUpdateSerializer

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
