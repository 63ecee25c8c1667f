"""Licenses, their history, and the bodies of the license actions."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from core.api.serializers import FeatureValueField, StrictFieldsMixin, StrictSerializer
from features.api.serializers import FeatureValueSerializer
from licenses.models import License, LicenseEvent
from packages.api.serializers import PackageVersionSerializer
from packages.choices import MAX_SEATS, SITE_LICENSE
from packages.models import validate_seats

LICENSE_FIELDS = (
    "id",
    "name",
    "package",
    "version",
    "org_id",
    "org_name",
    "org_edition",
    "org_instance",
    "org_type",
    "is_sandbox",
    "parent_org_id",
    "status",
    "seats",
    "used_licenses",
    "installed_at",
    "trial_started_at",
    "activated_at",
    "expires_at",
    "uninstalled_at",
    "account",
    "lead",
    "previous_license",
    "last_event_at",
    "created_at",
    "updated_at",
)
MAX_REASON_LENGTH = 2000
MAX_BULK_IDS = 1000


class LicenseSerializer(serializers.ModelSerializer):
    """A license as lists show it. Every field is server-owned: change it with the actions."""

    name = serializers.CharField(read_only=True)
    version = PackageVersionSerializer(read_only=True, allow_null=True)

    class Meta:
        model = License
        fields = LICENSE_FIELDS
        read_only_fields = LICENSE_FIELDS


class LicenseDetailSerializer(LicenseSerializer):
    """A license with its feature values."""

    feature_values = FeatureValueSerializer(many=True, read_only=True)

    class Meta(LicenseSerializer.Meta):
        fields = (*LICENSE_FIELDS, "feature_values")
        read_only_fields = fields


class LicenseEventSerializer(serializers.ModelSerializer):
    """One row of a license's history."""

    before = serializers.DictField(child=serializers.JSONField(), read_only=True)
    after = serializers.DictField(child=serializers.JSONField(), read_only=True)

    class Meta:
        model = LicenseEvent
        fields = ("id", "at", "actor", "kind", "before", "after", "reason", "source_event_id")
        read_only_fields = fields


class LicensePatchSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    """Nothing on a license is written directly: every field sent is refused by name."""

    class Meta:
        model = License
        fields = LICENSE_FIELDS
        read_only_fields = LICENSE_FIELDS


def _reason_field(**kwargs: Any) -> serializers.CharField:
    kwargs.setdefault("required", False)
    kwargs.setdefault("allow_blank", True)
    return serializers.CharField(
        max_length=MAX_REASON_LENGTH, help_text="Recorded in the license history.", **kwargs
    )


def _seats_field(**kwargs: Any) -> serializers.IntegerField:
    return serializers.IntegerField(
        min_value=SITE_LICENSE,
        max_value=MAX_SEATS,
        help_text="1 to 99,000,000, or -1 for a site license.",
        validators=[validate_seats],
        **kwargs,
    )


class ActivateSerializer(StrictSerializer):
    seats = _seats_field(required=False)
    expires_at = serializers.DateTimeField(
        required=False, allow_null=True, help_text="Contract end; empty: does not expire."
    )
    reason = _reason_field()


class SuspendSerializer(StrictSerializer):
    reason = _reason_field(required=True, allow_blank=False)


class ReasonSerializer(StrictSerializer):
    reason = _reason_field()


class ExtendTrialSerializer(StrictSerializer):
    until = serializers.DateTimeField(help_text="New trial end, within 90 days of its start.")
    reason = _reason_field()


class SetSeatsSerializer(StrictSerializer):
    seats = _seats_field()
    reason = _reason_field()


class SetExpirationSerializer(StrictSerializer):
    expires_at = serializers.DateTimeField(
        allow_null=True, help_text="New end; null: does not expire (not for trials)."
    )
    reason = _reason_field()


class FeatureValuesSerializer(StrictSerializer):
    values = serializers.DictField(
        child=FeatureValueField(),
        allow_empty=False,
        help_text="{developer_name: value} for LMO-to-subscriber parameters of the package.",
    )
    reason = _reason_field()

    def validate_values(self, values: dict[str, Any]) -> dict[str, Any]:
        if len(values) > 200:
            raise serializers.ValidationError("At most 200 values at once.")
        return values


BULK_ACTIONS = (
    "activate",
    "suspend",
    "reinstate",
    "extend-trial",
    "set-seats",
    "set-expiration",
)
# Which arguments each bulk action needs.
BULK_REQUIRED = {
    "suspend": ("reason",),
    "extend-trial": ("until",),
    "set-seats": ("seats",),
    "set-expiration": ("expires_at",),
}


class BulkSerializer(StrictSerializer):
    """One action and up to 1,000 license ids, with the action's arguments."""

    action = serializers.ChoiceField(choices=BULK_ACTIONS)
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
        min_length=1,
        max_length=MAX_BULK_IDS,
    )
    seats = _seats_field(required=False)
    expires_at = serializers.DateTimeField(required=False, allow_null=True)
    until = serializers.DateTimeField(required=False)
    reason = _reason_field()

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        missing = {
            field: [f"Required for {attrs['action']}."]
            for field in BULK_REQUIRED.get(attrs["action"], ())
            if field not in attrs or (field == "reason" and not attrs[field].strip())
        }
        if missing:
            raise serializers.ValidationError(missing)
        return attrs


class BulkResultSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    license = serializers.CharField(allow_null=True, help_text="L-00042, or null if not found.")
    outcome = serializers.ChoiceField(choices=("applied", "refused", "not_found"))
    message = serializers.CharField(allow_blank=True)


class BulkResponseSerializer(serializers.Serializer):
    action = serializers.CharField()
    applied = serializers.IntegerField()
    refused = serializers.IntegerField()
    results = BulkResultSerializer(many=True)
