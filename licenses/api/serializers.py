"""Licenses, their history, and the bodies of the license actions."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.api.serializers import FeatureValueField, StrictFieldsMixin, StrictSerializer
from features.api.serializers import FeatureValueSerializer
from licenses.actions import (
    ACTIONS,
    ACTIONS_BY_SLUG,
    MAX_REASON_LENGTH,
    ActionField,
    LicenseAction,
    action_fields,
    actions_available,
)
from licenses.choices import MAX_RENEWAL_DAYS
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
    """A license with its feature values and the actions the caller can run on it."""

    feature_values = FeatureValueSerializer(many=True, read_only=True)
    available_actions = serializers.SerializerMethodField(
        help_text="The actions (as `bulk` names them) that can succeed on this license for "
        "some input and that your role may run, e.g. `reinstate` for a suspended license."
    )

    class Meta(LicenseSerializer.Meta):
        fields = (*LICENSE_FIELDS, "feature_values", "available_actions")
        read_only_fields = fields

    @extend_schema_field(
        serializers.ListField(child=serializers.ChoiceField(choices=list(ACTIONS_BY_SLUG)))
    )
    def get_available_actions(self, license: License) -> list[str]:
        request = self.context.get("request")
        user = getattr(request, "user", None)
        return [action.slug for action in actions_available(license, user=user)]


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


def action_field(spec: ActionField, *, required: bool | None = None) -> serializers.Field:
    """The API field for one input of a registry action."""
    required = spec.required if required is None else required
    if spec.kind == "seats":
        return _seats_field(required=required)
    if spec.kind == "days":
        return serializers.IntegerField(
            required=required,
            allow_null=True,
            min_value=1,
            max_value=MAX_RENEWAL_DAYS,
            help_text=spec.help_text,
        )
    if spec.kind == "datetime":
        return serializers.DateTimeField(
            required=required, allow_null=spec.nullable, help_text=spec.help_text
        )
    return _reason_field(required=required, allow_blank=not spec.required)


def action_serializer(action: LicenseAction) -> type[StrictSerializer]:
    """The body of one registry action: its fields, nothing else."""
    attrs: dict[str, Any] = {spec.name: action_field(spec) for spec in action.fields}
    attrs["__doc__"] = f"The body of the {action.slug} action."
    attrs["__module__"] = __name__
    name = "".join(part.capitalize() for part in action.name.split("_")) + "Serializer"
    return type(name, (StrictSerializer,), attrs)


ACTION_SERIALIZERS: dict[str, type[StrictSerializer]] = {
    name: action_serializer(action) for name, action in ACTIONS.items()
}


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


class BulkSerializer(StrictSerializer):
    """One action and up to 1,000 license ids, with the action's arguments."""

    action = serializers.ChoiceField(choices=list(ACTIONS_BY_SLUG))
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
        min_length=1,
        max_length=MAX_BULK_IDS,
    )

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        # Every action's arguments, optional here: validate() checks them per action.
        for name, spec in action_fields(ACTIONS.values()).items():
            fields[name] = action_field(spec, required=False)
        return fields

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        action = ACTIONS_BY_SLUG[attrs["action"]]
        taken = {spec.name for spec in action.fields}
        unused = sorted(set(self.initial_data) - taken - {"action", "ids"})
        if unused:
            raise serializers.ValidationError(
                {name: [f"Not used by {action.slug}; nothing was changed."] for name in unused}
            )
        missing = {
            spec.name: [f"Required for {action.slug}."]
            for spec in action.fields
            if spec.required
            and (spec.name not in attrs or (spec.kind == "text" and not attrs[spec.name].strip()))
        }
        if missing:
            raise serializers.ValidationError(missing)
        attrs["arguments"] = {name: attrs[name] for name in taken if name in attrs}
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
