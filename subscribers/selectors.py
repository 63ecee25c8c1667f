"""Reads for the subscriber side: the license check's one query, and inbox search."""

from __future__ import annotations

from typing import Any

from django.db.models import Case, IntegerField, Value, When
from django.utils import timezone

from core.salesforce_ids import ORG_PREFIX, try_normalize
from features.choices import Direction
from features.values import to_json
from licenses.choices import LicenseStatus
from licenses.models import License
from packages.models import SubscriberApiKey

from .choices import Outcome
from .models import SubscriberEvent

_VALUE_COLUMNS = {
    "boolean": "feature_values__value_boolean",
    "integer": "feature_values__value_integer",
    "date": "feature_values__value_date",
}


def subscriber_key_package(*, key_hash: str) -> tuple[int, str] | None:
    """(package pk, package id) of an active subscriber API key, by its hash, or None."""
    return (
        SubscriberApiKey.objects.active()
        .filter(key_hash=key_hash)
        .values_list("package_id", "package__package_id")
        .first()
    )


def license_check_payload(*, package_pk: int, package_id: str, org_id: str) -> dict | None:
    """What the license check reports for an org, without the time-dependent access answer.

    One query: the org's live license (else its latest uninstalled one) with its version and
    feature values joined in. Only LMO-to-subscriber values are reported.
    """
    rows = (
        License.objects.filter(package_id=package_pk, org_id=org_id)
        .order_by(
            Case(
                When(status=LicenseStatus.UNINSTALLED, then=Value(1)),
                default=Value(0),
                output_field=IntegerField(),
            ),
            "-id",
        )
        .values(
            "id",
            "status",
            "seats",
            "used_licenses",
            "expires_at",
            "package__grace_days",
            "version__version_number",
            "feature_values__parameter__developer_name",
            "feature_values__parameter__direction",
            "feature_values__data_type",
            "feature_values__override_until",
            *_VALUE_COLUMNS.values(),
        )
    )
    payload: dict[str, Any] | None = None
    for row in rows:
        if payload is None:
            payload = {
                "license_id": row["id"],
                "org_id": org_id,
                "package_id": package_id,
                "status": row["status"],
                "seats": row["seats"],
                "used_licenses": row["used_licenses"],
                "expires_at": row["expires_at"],
                "grace_days": row["package__grace_days"],
                "version_number": row["version__version_number"],
                "features": {},
                "overrides": {},
            }
        elif row["id"] != payload["license_id"]:
            break
        name = row["feature_values__parameter__developer_name"]
        if name and row["feature_values__parameter__direction"] == Direction.LMO_TO_SUBSCRIBER:
            column = _VALUE_COLUMNS[row["feature_values__data_type"]]
            payload["features"][name] = to_json(row[column])
            if row["feature_values__override_until"] is not None:
                payload["overrides"][name] = row["feature_values__override_until"]
    return payload


def subscriber_event_find(*, query: str) -> list[SubscriberEvent]:
    """Inbox rows whose event id or org id (15 or 18 characters) is `query`, newest first."""
    query = query.strip()
    rows = SubscriberEvent.objects.filter(event_id=query)
    org_id = try_normalize(query, prefix=ORG_PREFIX)
    if org_id:
        rows = rows | SubscriberEvent.objects.filter(org_id=org_id)
    return list(rows.order_by("-received_at", "-id")[:200])


# Counting stops here: a backlog this large already says enough, and stays cheap.
BACKLOG_COUNT_CAP = 100_000


def subscriber_inbox_backlog() -> dict[str, Any]:
    """The queued events waiting for a worker (counted up to a cap) and the oldest's age."""
    queued = SubscriberEvent.objects.filter(outcome=Outcome.QUEUED)
    oldest = queued.order_by("id").values_list("received_at", flat=True).first()
    age = (timezone.now() - oldest).total_seconds() if oldest else None
    return {
        "queued": queued[:BACKLOG_COUNT_CAP].count(),
        "oldest_queued_at": oldest.isoformat() if oldest else None,
        "oldest_queued_age_seconds": round(age, 1) if age is not None else None,
        "failed": SubscriberEvent.objects.filter(outcome=Outcome.FAILED)[
            :BACKLOG_COUNT_CAP
        ].count(),
    }
