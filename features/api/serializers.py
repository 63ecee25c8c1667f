"""Feature parameters as the staff API shows and accepts them."""

from __future__ import annotations

from rest_framework import serializers

from core.api.serializers import FeatureValueField, StrictFieldsMixin
from features.models import FeatureParameter, FeatureParameterValue
from packages.models import Package, PackageVersion


class FeatureParameterSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    """A typed switch or reading of one package. Type, direction and name are fixed."""

    package = serializers.PrimaryKeyRelatedField(queryset=Package.objects.all())
    default_value = FeatureValueField(required=False)
    introduced_in_version = serializers.PrimaryKeyRelatedField(
        queryset=PackageVersion.objects.all(), allow_null=True, required=False
    )

    class Meta:
        model = FeatureParameter
        fields = (
            "id",
            "package",
            "developer_name",
            "label",
            "data_type",
            "direction",
            "default_value",
            "introduced_in_version",
            "created_at",
            "updated_at",
        )
        read_only_fields = ("id", "created_at", "updated_at")
        # Uniqueness is the database's job; the service turns a clash into a clear 400.
        validators: list = []


class FeatureParameterUpdateSerializer(FeatureParameterSerializer):
    """Everything optional: a change of type, direction, name or package is refused (409)."""

    package = serializers.PrimaryKeyRelatedField(queryset=Package.objects.all(), required=False)


class FeatureValueSerializer(serializers.ModelSerializer):
    """One license's value of one parameter."""

    developer_name = serializers.CharField(source="parameter.developer_name", read_only=True)
    label = serializers.CharField(source="parameter.label", read_only=True)
    direction = serializers.CharField(source="parameter.direction", read_only=True)
    value = FeatureValueField(read_only=True)

    class Meta:
        model = FeatureParameterValue
        fields = (
            "parameter",
            "developer_name",
            "label",
            "data_type",
            "direction",
            "value",
            "updated_at",
        )
        read_only_fields = fields
