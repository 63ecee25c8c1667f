"""Typed feature values: the only three types that may travel between orgs."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import ValidationError

from .choices import DataType

FeatureValue = bool | int | dt.date | None

# Salesforce stores integer feature parameters as 32-bit signed integers.
INT_MIN, INT_MAX = -(2**31), 2**31 - 1


def coerce_feature_value(data_type: str, raw: Any, *, field: str = "value") -> FeatureValue:
    """Check a value against its parameter's type; text, floats and the like are refused."""
    if raw is None:
        return None
    if data_type == DataType.BOOLEAN:
        if isinstance(raw, bool):
            return raw
        raise ValidationError(f"{field}: expected true or false, got {raw!r}.", code="invalid_type")
    if data_type == DataType.INTEGER:
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise ValidationError(
                f"{field}: expected an integer, got {raw!r}.", code="invalid_type"
            )
        if not INT_MIN <= raw <= INT_MAX:
            raise ValidationError(
                f"{field}: {raw} is outside the 32-bit integer range.", code="out_of_range"
            )
        return raw
    if data_type == DataType.DATE:
        if isinstance(raw, dt.datetime):
            raise ValidationError(
                f"{field}: expected a date, got a date and time.", code="invalid_type"
            )
        if isinstance(raw, dt.date):
            return raw
        if isinstance(raw, str):
            try:
                return dt.date.fromisoformat(raw) if len(raw) == 10 else _bad_date(field, raw)
            except ValueError:
                return _bad_date(field, raw)
        return _bad_date(field, raw)
    raise ValidationError(f"{field}: unknown data type {data_type!r}.", code="invalid_type")


def _bad_date(field: str, raw: Any) -> FeatureValue:
    raise ValidationError(
        f"{field}: expected a date as YYYY-MM-DD, got {raw!r}.", code="invalid_type"
    )


def to_json(value: FeatureValue) -> bool | int | str | None:
    return value.isoformat() if isinstance(value, dt.date) else value
