"""Cache keys for the license check, and their invalidation after commit."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.core.cache import cache
from django.db import transaction

if TYPE_CHECKING:
    from .models import License

LICENSE_CHECK_PREFIX = "license-check:v1"


def license_check_cache_key(package_pk: int, org_id: str) -> str:
    """Key of one org's cached license for one package (org_id in its 18-character form)."""
    return f"{LICENSE_CHECK_PREFIX}:{package_pk}:{org_id}"


def invalidate_license_check(license: License) -> None:
    """Drop the cached check once the change is committed, so the next check reads it."""
    key = license_check_cache_key(license.package_id, license.org_id)
    transaction.on_commit(lambda: cache.delete(key))
