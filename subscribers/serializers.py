"""The shape of a subscriber event body, checked field by field before anything is written."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from rest_framework import serializers

from licenses.choices import OrgType
from licenses.services import OrgDetails
from lmo.salesforce_ids import (
    ORG_PREFIX,
    PACKAGE_PREFIX,
    VERSION_PREFIX,
    normalize_salesforce_id,
)
from packages.models import parse_version_number

from .choices import EventType

# A subscriber clock may run a little ahead; a timestamp far in the future would otherwise
# make every later event look stale.
MAX_CLOCK_SKEW = dt.timedelta(hours=1)
MAX_USED_LICENSES = 2**31 - 1


class SalesforceIdField(serializers.Field):
    """A 15 or 18 character Salesforce id with a given prefix, returned in its 18-char form."""

    def __init__(self, *, prefix: str, **kwargs: Any) -> None:
        self.prefix = prefix
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        try:
            return normalize_salesforce_id(data, prefix=self.prefix, field=self.field_name)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from exc

    def to_representation(self, value: str) -> str:
        return value


class StrictIntegerField(serializers.IntegerField):
    """An integer that arrived as a JSON number: "12", 12.0 and true are refused."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            raise serializers.ValidationError("Expected an integer.")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """A JSON true or false, nothing that merely looks like one."""

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            raise serializers.ValidationError("Expected true or false.")
        return data


class TextField(serializers.CharField):
    """Text that arrived as a JSON string (numbers are not silently turned into text)."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            raise serializers.ValidationError("Expected a string.")
        return super().to_internal_value(data)


class OrgSerializer(serializers.Serializer):
    id = SalesforceIdField(prefix=ORG_PREFIX)
    name = TextField(max_length=255, required=False, allow_blank=True, default="")
    edition = TextField(max_length=100, required=False, allow_blank=True, default="")
    instance = TextField(max_length=40, required=False, allow_blank=True, default="")
    type = serializers.ChoiceField(choices=OrgType.choices, required=False)
    is_sandbox = StrictBooleanField(required=False, default=False)
    parent_org_id = SalesforceIdField(prefix=ORG_PREFIX, required=False, allow_null=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        org_type = attrs.get("type")
        if org_type is not None and (org_type == OrgType.SANDBOX) != attrs["is_sandbox"]:
            raise serializers.ValidationError(
                {"is_sandbox": f"Does not agree with type {org_type!r}."}
            )
        return attrs


class InstallerSerializer(serializers.Serializer):
    first_name = TextField(max_length=100, required=False, allow_blank=True, default="")
    last_name = TextField(max_length=100, required=False, allow_blank=True, default="")
    email = serializers.EmailField(max_length=254, required=False, allow_blank=True, default="")
    phone = TextField(max_length=40, required=False, allow_blank=True, default="")
    company = TextField(max_length=255, required=False, allow_blank=True, default="")


class _PackageOrgSerializer(serializers.Serializer):
    package_id = SalesforceIdField(prefix=PACKAGE_PREFIX)
    org = OrgSerializer()


class InstallDataSerializer(_PackageOrgSerializer):
    version_id = SalesforceIdField(prefix=VERSION_PREFIX)
    version_number = TextField(max_length=23)
    installer = InstallerSerializer(required=False, allow_null=True)

    def validate_version_number(self, value: str) -> str:
        try:
            major, minor, patch = parse_version_number(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from exc
        return f"{major}.{minor}.{patch}"


class UninstallDataSerializer(_PackageOrgSerializer):
    pass


class UsageDataSerializer(_PackageOrgSerializer):
    used_licenses = StrictIntegerField(
        min_value=0, max_value=MAX_USED_LICENSES, required=False, allow_null=True
    )
    parameters = serializers.DictField(required=False, default=dict)


DATA_SERIALIZERS: dict[str, type[serializers.Serializer]] = {
    EventType.INSTALLED: InstallDataSerializer,
    EventType.UPGRADED: InstallDataSerializer,
    EventType.UNINSTALLED: UninstallDataSerializer,
    EventType.USAGE_REPORTED: UsageDataSerializer,
}


class EventEnvelopeSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=EventType.choices)
    timestamp = serializers.DateTimeField()
    data = serializers.DictField()

    def validate_timestamp(self, value: dt.datetime) -> dt.datetime:
        if value > timezone.now() + MAX_CLOCK_SKEW:
            raise serializers.ValidationError("Lies in the future.")
        return value


@dataclass(frozen=True)
class IncomingEvent:
    """A subscriber event whose body passed validation: what the services work from."""

    event_id: str
    type: str
    occurred_at: dt.datetime
    package_id: str
    org: OrgDetails
    payload: dict[str, Any]
    version_id: str | None = None
    version_number: str | None = None
    installer: dict[str, str] | None = None
    used_licenses: int | None = None
    parameters: dict[str, Any] = field(default_factory=dict)


class EventInvalid(Exception):
    """The body is not a valid subscriber event; `fields` holds the errors by field path."""

    def __init__(self, fields: dict[str, list[str]]) -> None:
        self.fields = fields
        super().__init__("Invalid event: " + ", ".join(sorted(fields)) + ".")


def _flatten(errors: Any, path: str = "") -> dict[str, list[str]]:
    """DRF's nested errors as {"data.org.id": [...]}: one flat map a client can read."""
    if isinstance(errors, dict):
        flat: dict[str, list[str]] = {}
        for key, value in errors.items():
            child = path if key == "non_field_errors" else (f"{path}.{key}" if path else key)
            for name, messages in _flatten(value, child).items():
                flat.setdefault(name, []).extend(messages)
        return flat
    if isinstance(errors, list) and any(isinstance(e, (dict, list)) for e in errors):
        flat = {}
        for error in errors:
            for name, messages in _flatten(error, path).items():
                flat.setdefault(name, []).extend(messages)
        return flat
    messages = errors if isinstance(errors, list) else [errors]
    return {path or "non_field_errors": [str(m) for m in messages]}


def parse_event(event_id: str, body: Any) -> IncomingEvent:
    """Check a decoded JSON body against the event schema; raise EventInvalid with field errors."""
    if not isinstance(body, dict):
        raise EventInvalid({"non_field_errors": ["The body must be a JSON object."]})
    envelope = EventEnvelopeSerializer(data=body)
    if not envelope.is_valid():
        raise EventInvalid(_flatten(envelope.errors))
    event_type = envelope.validated_data["type"]
    data_serializer = DATA_SERIALIZERS[event_type](data=envelope.validated_data["data"])
    if not data_serializer.is_valid():
        raise EventInvalid(_flatten(data_serializer.errors, "data"))
    data = data_serializer.validated_data
    org = data["org"]
    installer = data.get("installer")
    return IncomingEvent(
        event_id=event_id,
        type=event_type,
        occurred_at=envelope.validated_data["timestamp"],
        package_id=data["package_id"],
        org=OrgDetails(
            org_id=org["id"],
            name=org["name"],
            edition=org["edition"],
            instance=org["instance"],
            is_sandbox=org["is_sandbox"],
            parent_org_id=org.get("parent_org_id"),
        ),
        payload=body,
        version_id=data.get("version_id"),
        version_number=data.get("version_number"),
        installer=dict(installer) if installer else None,
        used_licenses=data.get("used_licenses"),
        parameters=dict(data.get("parameters") or {}),
    )
