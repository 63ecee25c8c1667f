"""Packages and their versions as the staff API shows and accepts them."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from core.api.serializers import StrictFieldsMixin
from core.salesforce_ids import ORG_PREFIX, PACKAGE_PREFIX, normalize_salesforce_id
from packages.models import Package, PackageVersion

PACKAGE_FIELDS = (
    "id",
    "name",
    "namespace",
    "package_id",
    "developer_org_id",
    "license_manager_linked",
    "linked_at",
    "lead_manager",
    "default_status",
    "trial_days",
    "license_days",
    "default_seats",
    "grace_days",
    "created_at",
    "updated_at",
)
# Set when the package is registered, then fixed: they name the package in Salesforce.
IDENTITY_FIELDS = ("namespace", "package_id", "developer_org_id")
SERVER_FIELDS = ("id", "linked_at", "created_at", "updated_at")


def _salesforce_id(value: str, prefix: str, field: str) -> str:
    try:
        return normalize_salesforce_id(value, prefix=prefix, field=field)
    except DjangoValidationError as exc:
        raise serializers.ValidationError(exc.messages) from exc


class PackageSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    """Create a package: its identity, the License Manager link and the install defaults."""

    lead_manager = serializers.PrimaryKeyRelatedField(
        queryset=get_user_model().objects.filter(is_staff=True, is_active=True),
        allow_null=True,
        required=False,
        help_text="Id of the staff user who owns the leads that installs create.",
    )

    class Meta:
        model = Package
        fields = PACKAGE_FIELDS
        read_only_fields = SERVER_FIELDS

    def validate_package_id(self, value: str) -> str:
        return _salesforce_id(value, PACKAGE_PREFIX, "package_id")

    def validate_developer_org_id(self, value: str) -> str:
        return _salesforce_id(value, ORG_PREFIX, "developer_org_id")


class PackageUpdateSerializer(PackageSerializer):
    """Change the defaults, the lead manager, or link the License Manager (never unlink)."""

    class Meta(PackageSerializer.Meta):
        read_only_fields = (*SERVER_FIELDS, *IDENTITY_FIELDS)


class PackageVersionSerializer(serializers.ModelSerializer):
    class Meta:
        model = PackageVersion
        fields = ("id", "version_number", "version_id", "name", "release_date", "is_beta")
        read_only_fields = fields
