"""The license check's cache: keys, generations, and invalidation after commit.

A check that misses the cache reads the database and stores what it read. If a change
commits between that read and that store, the change's invalidation runs first and the
store would then put the old answer back for the cache's whole lifetime (a suspended org
keeping access for minutes). So each (package, org) has a *generation*, a token replaced by
every invalidation: a check reads the generation before the database (in the same cache
round trip as the answer) and stores the answer tagged with it, and a cached answer counts
only while its tag is still the current generation. An answer read before a change is
tagged with the generation the change replaced, and is never served.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

if TYPE_CHECKING:
    from .models import License

LICENSE_CHECK_PREFIX = "license-check:v2"
GENERATION_PREFIX = "license-check-generation:v1"
# Far longer than any cached answer lives: an answer is never left without its generation.
GENERATION_SECONDS = 24 * 60 * 60


def license_check_cache_key(package_pk: int, org_id: str) -> str:
    """Key of one org's cached license for one package (org_id in its 18-character form)."""
    return f"{LICENSE_CHECK_PREFIX}:{package_pk}:{org_id}"


def license_check_generation_key(package_pk: int, org_id: str) -> str:
    return f"{GENERATION_PREFIX}:{package_pk}:{org_id}"


def license_check_keys(package_pk: int, org_id: str) -> tuple[str, str]:
    """(answer key, generation key): read both in one round trip (`cache.get_many`)."""
    return license_check_cache_key(package_pk, org_id), license_check_generation_key(
        package_pk, org_id
    )


def license_check_cached(
    found: Mapping[str, Any], package_pk: int, org_id: str
) -> tuple[dict | None, str | None]:
    """From a `get_many` of `license_check_keys`: (the cached answer if it is current, the
    generation to tag a fresh answer with). Read the generation *before* the database."""
    answer_key, generation_key = license_check_keys(package_pk, org_id)
    generation = found.get(generation_key)
    entry = found.get(answer_key)
    if isinstance(entry, tuple) and len(entry) == 2 and entry[0] == generation:
        return entry[1], generation
    return None, generation


def license_check_read(package_pk: int, org_id: str) -> tuple[dict | None, str | None]:
    """One cache round trip: the current cached answer (or None) and the generation."""
    return license_check_cached(
        cache.get_many(list(license_check_keys(package_pk, org_id))), package_pk, org_id
    )


def license_check_store(
    package_pk: int, org_id: str, payload: dict, generation: str | None
) -> None:
    """Cache an answer read from the database under the generation read before it."""
    cache.set(
        license_check_cache_key(package_pk, org_id),
        (generation, payload),
        settings.LMO_LICENSE_CHECK_CACHE_SECONDS,
    )


def license_checks_invalidate_now(pairs: Iterable[tuple[int, str]]) -> None:
    """Start a new generation for each (package pk, org id) and drop the cached answers."""
    pairs = list(pairs)
    if not pairs:
        return
    generations = {
        license_check_generation_key(package_pk, org_id): uuid.uuid4().hex
        for package_pk, org_id in pairs
    }
    cache.set_many(generations, GENERATION_SECONDS)
    cache.delete_many([license_check_cache_key(package_pk, org_id) for package_pk, org_id in pairs])


def license_checks_invalidate(pairs: Iterable[tuple[int, str]]) -> None:
    """Invalidate these licenses' cached checks once the current transaction commits."""
    pairs = list(pairs)
    if pairs:
        transaction.on_commit(lambda: license_checks_invalidate_now(pairs), robust=True)


def invalidate_license_check(license: License) -> None:
    """Drop the cached check once the change is committed, so the next check reads it."""
    license_checks_invalidate([(license.package_id, license.org_id)])
