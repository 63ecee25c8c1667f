"""Filter fields shared by the staff API's lists."""

import django_filters
from django import forms
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


def salesforce_id_filter(prefix: str):
    """A filter method matching a 15 or 18 character id; an id that cannot exist matches none."""

    def apply(queryset, name, value):
        normalized = try_normalize(value, prefix=prefix)
        return queryset.filter(**{name: normalized}) if normalized else queryset.none()

    return apply
