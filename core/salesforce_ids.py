"""Salesforce record ids: validation, and the 15 to 18 character conversion.

An 18-character id is the 15-character, case-sensitive id plus three characters that
encode which of its letters are upper case. Both name the same record, so we store the
18-character form and normalise every id that comes in, whichever form it arrives in.
"""

from __future__ import annotations

import functools
import string

from django.core.exceptions import ValidationError
from django.db import models

ORG_PREFIX = "00D"
PACKAGE_PREFIX = "033"
VERSION_PREFIX = "04t"

_SUFFIX_ALPHABET = string.ascii_uppercase + "012345"
_ALNUM = frozenset(string.ascii_letters + string.digits)


def _suffix(id15: str) -> str:
    chars = []
    for chunk_start in (0, 5, 10):
        bits = 0
        for offset, char in enumerate(id15[chunk_start : chunk_start + 5]):
            if char.isupper():
                bits |= 1 << offset
        chars.append(_SUFFIX_ALPHABET[bits])
    return "".join(chars)


def _restore_case(id18: str) -> str | None:
    """Rebuild the case of the first 15 characters from the suffix; None if inconsistent."""
    restored = []
    for chunk_index, suffix_char in enumerate(id18[15:].upper()):
        bits = _SUFFIX_ALPHABET.find(suffix_char)
        if bits < 0:
            return None
        for offset in range(5):
            char = id18[chunk_index * 5 + offset]
            upper = bool(bits & (1 << offset))
            if char.isdigit():
                if upper:
                    return None
                restored.append(char)
            else:
                restored.append(char.upper() if upper else char.lower())
    return "".join(restored)


def normalize_salesforce_id(value: str, *, prefix: str, field: str = "id") -> str:
    """Return the 18-character form of a 15 or 18 character id, or raise ValidationError."""
    if not isinstance(value, str):
        raise ValidationError(f"{field}: must be a string.", code="invalid_salesforce_id")
    value = value.strip()
    # Only id-length strings reach the memo, so it never holds anything large.
    normalized, problem = _normalize(value, prefix) if len(value) in (15, 18) else (None, "shape")
    if normalized is not None:
        return normalized
    if problem == "shape":
        message = f"{field}: a Salesforce id has 15 or 18 letters and digits; got {value!r}."
    elif problem == "suffix":
        message = (
            f"{field}: {value!r} is not a valid 18-character Salesforce id "
            "(its last three characters do not match the first fifteen)."
        )
    else:
        message = f"{field}: must start with {prefix!r}; got {value!r}."
    raise ValidationError(message, code="invalid_salesforce_id")


@functools.lru_cache(maxsize=8192)
def _normalize(value: str, prefix: str) -> tuple[str | None, str]:
    """(the 18-character id, "") or (None, the check it fails). Remembered: the same package,
    version and org ids are normalised several times per event, and again on every event."""
    if not set(value) <= _ALNUM:
        return None, "shape"
    if len(value) == 18:
        id15 = _restore_case(value)
        if id15 is None:
            return None, "suffix"
    else:
        id15 = value
    if not id15.startswith(prefix):
        return None, "prefix"
    return id15 + _suffix(id15), ""


def try_normalize(value: object, *, prefix: str) -> str | None:
    """Normalise for lookups: None for anything that cannot be an id of that kind."""
    if not isinstance(value, str):
        return None
    try:
        return normalize_salesforce_id(value, prefix=prefix)
    except ValidationError:
        return None


class SalesforceIdField(models.CharField):
    """A Salesforce id, stored in its 18-character form; lookups accept either form."""

    def __init__(self, *args, prefix: str, **kwargs):
        self.prefix = prefix
        kwargs["max_length"] = 18
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs["prefix"] = self.prefix
        del kwargs["max_length"]
        return name, path, args, kwargs

    def to_python(self, value):
        value = super().to_python(value)
        if value in (None, ""):
            return value
        return normalize_salesforce_id(value, prefix=self.prefix, field=self.name or "id")

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if isinstance(value, str) and value:
            # A lookup by the 15-character form finds the stored 18-character one.
            return try_normalize(value, prefix=self.prefix) or value
        return value
