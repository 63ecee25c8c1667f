"""Feature parameters as the staff API shows and accepts them."""

from __future__ import annotations

from rest_framework import serializers

from core.api.serializers import FeatureValueField, StrictFieldsMixin, StrictSerializer
from features.models import FeatureOverride, FeatureParameter, FeatureParameterValue
from packages.models import Package, PackageVersion

MAX_OVERRIDE_LICENSES = 500


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


class FeatureOverrideSerializer(serializers.ModelSerializer):
    """A value set on one license until a time, and what it replaced."""

    license_name = serializers.CharField(source="license.name", read_only=True)
    developer_name = serializers.CharField(source="parameter.developer_name", read_only=True)
    value = FeatureValueField(read_only=True)
    previous_value = FeatureValueField(read_only=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    running = serializers.BooleanField(source="is_running", read_only=True)

    class Meta:
        model = FeatureOverride
        fields = (
            "id",
            "license",
            "license_name",
            "parameter",
            "developer_name",
            "data_type",
            "value",
            "previous_value",
            "previous_was_default",
            "until",
            "running",
            "created_at",
            "created_by",
            "reason",
            "ended_at",
            "end_reason",
        )
        read_only_fields = fields


class FeatureOverrideCreateSerializer(StrictSerializer):
    """One LMO-to-subscriber value until a time, on one license or many (a pilot)."""

    parameter = serializers.PrimaryKeyRelatedField(queryset=FeatureParameter.objects.all())
    licenses = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        min_length=1,
        max_length=MAX_OVERRIDE_LICENSES,
        help_text=f"License ids, 1 to {MAX_OVERRIDE_LICENSES}.",
    )
    value = FeatureValueField()
    until = serializers.DateTimeField(help_text="When the value returns to what it was.")
    reason = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")
