"""Filter fields shared by the staff API's lists."""

import datetime as dt

import django_filters
from django import forms
from django_filters.fields import IsoDateTimeField
from drf_spectacular.utils import extend_schema_field

from core.salesforce_ids import try_normalize

MAX_DB_ID = 2**63 - 1


@extend_schema_field({"type": "integer", "minimum": 1, "maximum": MAX_DB_ID})
class IdFilter(django_filters.NumberFilter):
    """A primary key: a whole number the database can hold, or 400."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_DB_ID)
        super().__init__(*args, **kwargs)


class UtcIsoDateTimeField(IsoDateTimeField):
    """An ISO 8601 date and time, moved to UTC before it reaches the database: any offset
    Python accepts (up to 23:59) is valid input, while PostgreSQL refuses offsets beyond
    15:59 and a moved instant can leave the years a datetime holds."""

    def to_python(self, value):
        value = super().to_python(value)
        if value is None:
            return None
        try:
            return value.astimezone(dt.UTC)
        except OverflowError:
            raise forms.ValidationError(
                "Enter a date and time between the years 1 and 9999 (UTC).", code="invalid"
            ) from None


class UtcIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    """A date-time filter whose value is compared in UTC (see UtcIsoDateTimeField)."""

    field_class = UtcIsoDateTimeField


def salesforce_id_filter(prefix: str):
    """A filter method matching a 15 or 18 character id; an id that cannot exist matches none."""

    def apply(queryset, name, value):
        normalized = try_normalize(value, prefix=prefix)
        return queryset.filter(**{name: normalized}) if normalized else queryset.none()

    return apply
