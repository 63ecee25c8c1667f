"""The per-(package, org) lock that serializes subscriber events for one org."""

from __future__ import annotations

import zlib

from django.db import connection

from packages.models import Package


def org_lock_key(package: Package, org_id: str) -> tuple[int, int]:
    """The two 32-bit keys of the org's advisory lock for this package."""
    return package.pk % 2**31, zlib.crc32(org_id.encode()) - 2**31


def lock_org(package: Package, org_id: str) -> None:
    """Serialize events for one org and package, also before its license exists."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            keys = list(org_lock_key(package, org_id))
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", keys)
