"""Serializer building blocks shared by every staff API endpoint."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

READ_ONLY_MESSAGE = "Read-only: the server sets this field; nothing was changed."
UNKNOWN_MESSAGE = "Unknown field; nothing was changed."


# JSON types each field accepts. DRF would also take "5" for an integer or 5 for a
# string; scripts that send the wrong type should hear about it, not be guessed at.
_TEXT = (str,)
_JSON_TYPES: tuple[tuple[type[serializers.Field], tuple[type, ...], str], ...] = (
    (serializers.BooleanField, (bool,), "a boolean"),
    (serializers.IntegerField, (int,), "an integer"),
    (serializers.PrimaryKeyRelatedField, (int,), "an integer id"),
    (serializers.CharField, _TEXT, "a string"),
    (serializers.ChoiceField, _TEXT, "a string"),
    (serializers.DateTimeField, _TEXT, "a date-time string"),
    (serializers.DateField, _TEXT, "a date string"),
    (serializers.ListField, (list,), "a list"),
    (serializers.DictField, (dict,), "an object"),
)


def json_type_error(field: serializers.Field, value: Any) -> str | None:
    """The message for a value of the wrong JSON type for `field`, or None if it fits."""
    if value is None:
        return None
    for field_class, types, label in _JSON_TYPES:
        if isinstance(field, field_class):
            wrong_bool = isinstance(value, bool) and bool not in types
            if wrong_bool or not isinstance(value, types):
                return f"Expected {label}."
            if isinstance(field, serializers.ListField):
                for item in value:
                    message = json_type_error(field.child, item)
                    if message:
                        return f"Each item: {message}"
            return None
    return None


class StrictFieldsMixin:
    """Refuse read-only or unknown fields, and values of the wrong JSON type.

    A PATCH of `status` would otherwise answer 200 and change nothing, which reads like
    success; a 400 naming the field says what happened.
    """

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            writable = {name: field for name, field in self.fields.items() if not field.read_only}
            refused = {
                key: [READ_ONLY_MESSAGE if key in self.fields else UNKNOWN_MESSAGE]
                for key in data
                if key not in writable
            }
            for key, field in writable.items():
                message = json_type_error(field, data[key]) if key in data else None
                if message:
                    refused[key] = [message]
            if refused:
                raise serializers.ValidationError(refused)
        return super().to_internal_value(data)


class StrictSerializer(StrictFieldsMixin, serializers.Serializer):
    """A plain serializer for action bodies that refuses fields it does not know."""


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Machine-readable: invalid, invalid_transition, ...")
    message = serializers.CharField(help_text="What went wrong, for a person to read.")
    fields = serializers.DictField(
        child=serializers.JSONField(), help_text="Per-field messages for invalid input."
    )


class ErrorSerializer(serializers.Serializer):
    """The one error shape of the API."""

    error = ErrorDetailSerializer()


FEATURE_VALUE_SCHEMA = {
    "oneOf": [
        {"type": "boolean"},
        {"type": "integer", "minimum": -(2**31), "maximum": 2**31 - 1},
        {"type": "string", "format": "date"},
    ],
    "nullable": True,
    "description": "A boolean, an integer, or a date (YYYY-MM-DD), matching the data type.",
}


@extend_schema_field(FEATURE_VALUE_SCHEMA)
class FeatureValueField(serializers.Field):
    """A typed feature value; checked against the parameter's data type by the service."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("allow_null", True)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, (list, dict, float)):
            raise serializers.ValidationError("Expected a boolean, an integer or a date.")
        return data

    def to_representation(self, value: Any) -> Any:
        return value.isoformat() if hasattr(value, "isoformat") else value


def error_example_value(code: str, message: str, fields: dict | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}
