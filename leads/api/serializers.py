"""Leads and customer accounts as the staff API shows and accepts them."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from core.api.serializers import StrictFieldsMixin, StrictSerializer
from core.salesforce_ids import ORG_PREFIX, normalize_salesforce_id
from leads.models import Account, Lead
from packages.models import Package


def _staff_users():
    return get_user_model().objects.filter(is_staff=True, is_active=True)


class AccountSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    """A customer company, with how many licenses are assigned to it."""

    owner = serializers.PrimaryKeyRelatedField(
        queryset=_staff_users(), allow_null=True, required=False
    )
    license_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Account
        fields = ("id", "name", "website", "owner", "license_count", "created_at", "updated_at")
        read_only_fields = ("id", "created_at", "updated_at")


class LeadSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    """A prospect. Status changes only by converting (or merging in the console)."""

    owner = serializers.PrimaryKeyRelatedField(
        queryset=_staff_users(), allow_null=True, required=False
    )
    package = serializers.PrimaryKeyRelatedField(
        queryset=Package.objects.all(), allow_null=True, required=False
    )
    org_id = serializers.CharField(max_length=18, allow_null=True, allow_blank=True, required=False)

    class Meta:
        model = Lead
        fields = (
            "id",
            "first_name",
            "last_name",
            "email",
            "phone",
            "company",
            "org_id",
            "package",
            "lead_source",
            "status",
            "owner",
            "converted_account",
            "converted_at",
            "merged_into",
            "created_at",
            "updated_at",
        )
        read_only_fields = (
            "id",
            "lead_source",
            "status",
            "converted_account",
            "converted_at",
            "merged_into",
            "created_at",
            "updated_at",
        )

    def validate_org_id(self, value: str | None) -> str | None:
        if not value:
            return None
        try:
            return normalize_salesforce_id(value, prefix=ORG_PREFIX, field="org_id")
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from exc


class LeadConvertSerializer(StrictSerializer):
    """Convert into an existing account, or a new one named `account_name`."""

    account = serializers.PrimaryKeyRelatedField(
        queryset=Account.objects.all(), required=False, allow_null=True
    )
    account_name = serializers.CharField(required=False, allow_blank=True, max_length=255)
    website = serializers.URLField(required=False, allow_blank=True, max_length=200)
    create_contact = serializers.BooleanField(required=False, default=True)


class LeadConvertResultSerializer(serializers.Serializer):
    lead = LeadSerializer()
    account = AccountSerializer()
