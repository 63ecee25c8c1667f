"""Filter fields shared by the staff API's lists."""

import django_filters
from django import forms

MAX_DB_ID = 2**63 - 1


class IdFilter(django_filters.NumberFilter):
    """A primary key: a whole number the database can hold, or 400."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_DB_ID)
        super().__init__(*args, **kwargs)
