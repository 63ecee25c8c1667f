"""Subscriber events: install, upgrade, uninstall and usage, applied once and in time order.

Every accepted event is written to the inbox (`SubscriberEvent`, unique on the webhook id)
in the same transaction as the change it makes, so a redelivery, even one that arrives at
the same moment on another worker, finds the first copy and changes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Case, IntegerField, Value, When
from django.db.models.functions import Lower
from django.utils import timezone

from features.choices import Direction
from features.models import FeatureParameter
from features.services import feature_value_set, feature_values_create_for_license
from features.values import coerce_feature_value
from leads.models import Account, Lead
from licenses.choices import Actor, LicenseStatus
from licenses.models import License
from licenses.services import OrgDetails, license_create
from packages.models import Package, PackageVersion

from .choices import EventType, Outcome
from .first_install import first_install_apply, installer_lead
from .models import SubscriberEvent
from .org_lock import lock_org
from .serializers import EventInvalid, IncomingEvent, parse_event

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EventResult:
    """The answer to one delivery, the same for every copy of the event."""

    event_id: str
    outcome: str
    license_id: int | None

    def as_dict(self) -> dict[str, Any]:
        return {"event_id": self.event_id, "outcome": self.outcome, "license_id": self.license_id}


@dataclass(frozen=True)
class _Applied:
    outcome: str
    license: License | None
    note: str = ""


def subscriber_event_receive(*, event: IncomingEvent) -> EventResult:
    """Apply one verified event and store it in the inbox, exactly once per webhook id.

    The inbox row is written last, in the same transaction as the change: a concurrent copy
    of the same id waits on its unique index until we commit, then fails, rolls back
    whatever it did and reads our answer.

    Raises EventInvalid (nothing written) when the event does not fit the package, e.g. an
    LMO-to-subscriber parameter in a usage report.
    """
    try:
        license_id = first_install_apply(event)
        if license_id is not None:
            return EventResult(event.event_id, Outcome.APPLIED, license_id)
        # A redelivery gets the first answer even if applying it again would now be refused
        # (a parameter it reported has since been removed, say).
        duplicate = _first_answer(event)
        if duplicate is not None:
            return duplicate
        with transaction.atomic():
            applied = _route_and_apply(event)
            _inbox_create(event, applied)
    except IntegrityError:
        duplicate = _first_answer(event)
        if duplicate is None:
            raise
        return duplicate
    license_id = applied.license.pk if applied.license else None
    return EventResult(event.event_id, applied.outcome, license_id)


def _first_answer(event: IncomingEvent) -> EventResult | None:
    """The answer to a webhook id already in the inbox, as a duplicate; None if it is new."""
    first = SubscriberEvent.objects.filter(event_id=event.event_id).values("license_id").first()
    if first is None:
        return None
    return EventResult(event.event_id, Outcome.DUPLICATE, first["license_id"])


def _inbox_create(event: IncomingEvent, applied: _Applied) -> SubscriberEvent:
    return SubscriberEvent.objects.create(
        event_id=event.event_id,
        type=event.type,
        occurred_at=event.occurred_at,
        package_id=event.package_id,
        org_id=event.org.org_id,
        payload=event.payload,
        outcome=applied.outcome,
        license=applied.license,
        error=applied.note,
    )


def _route_and_apply(event: IncomingEvent) -> _Applied:
    package = Package.objects.filter(package_id=event.package_id).first()
    if package is None:
        return _Applied(Outcome.UNROUTED, None, "No package with this id in this LMO.")
    if not package.license_manager_linked:
        return _Applied(
            Outcome.UNROUTED, None, "This LMO is not yet the package's License Manager."
        )
    return _apply(event, package)


def _apply(event: IncomingEvent, package: Package) -> _Applied:
    """Apply a routed event to the org's license under a per-(package, org) lock."""
    usage_values = _usage_values(event, package) if event.type == EventType.USAGE_REPORTED else {}
    version = _register_version(event, package) if event.version_id else None
    lock_org(package, event.org.org_id)
    current = _current_license(package, event.org.org_id)
    at = event.occurred_at

    if current is not None:
        watermark = _watermark(current)
        if watermark is not None and at < watermark:
            return _Applied(
                Outcome.IGNORED,
                current,
                f"Stale: happened at {at.isoformat()}, before the last event applied to "
                f"{current.name} ({watermark.isoformat()}).",
            )

    if event.type == EventType.UNINSTALLED:
        if current is None:
            # Uninstalled before its install reached us: keep the record, frozen, so the
            # late install cannot bring it back.
            current = _create(event, package, version=None, previous=None)
        elif current.is_locked:
            return _Applied(Outcome.IGNORED, current, f"{current.name} is already uninstalled.")
        current.mark_uninstalled(at, source_event_id=event.event_id)
        current.note_subscriber_event(at)
        return _Applied(Outcome.APPLIED, current)

    if current is not None and current.is_locked:
        if at <= _watermark(current):
            return _Applied(
                Outcome.IGNORED,
                current,
                f"{current.name} was uninstalled at {current.uninstalled_at.isoformat()}; "
                "an event from before that does not reinstall it.",
            )
        # Anything newer than the uninstall means the package is installed again.
        current = _create(event, package, version=version, previous=current)
    elif current is None:
        current = _create(event, package, version=version, previous=None)
    elif version is not None:
        current.set_version(version, source_event_id=event.event_id, at=at)

    if event.type == EventType.USAGE_REPORTED:
        current.report_usage(event.used_licenses, source_event_id=event.event_id, at=at)
        for parameter, value in usage_values.items():
            feature_value_set(
                license=current,
                parameter=parameter,
                value=value,
                by=Actor.SUBSCRIBER,
                from_subscriber=True,
                source_event_id=event.event_id,
            )
    current.note_subscriber_event(at)
    return _Applied(Outcome.APPLIED, current)


def _watermark(license: License) -> datetime | None:
    """The time before which events for this license are stale."""
    times = [t for t in (license.last_event_at, license.uninstalled_at) if t is not None]
    return max(times) if times else None


def _current_license(package: Package, org_id: str) -> License | None:
    """The org's live license of the package, else its most recent uninstalled one."""
    return (
        License.objects.select_for_update()
        .filter(package=package, org_id=org_id)
        .order_by(
            Case(
                When(status=LicenseStatus.UNINSTALLED, then=Value(1)),
                default=Value(0),
                output_field=IntegerField(),
            ),
            "-id",
        )
        .first()
    )


def _register_version(event: IncomingEvent, package: Package) -> PackageVersion:
    """The version the event names, registered if this LMO has not seen it yet."""
    version = PackageVersion.objects.filter(version_id=event.version_id).first()
    if version is None:
        # Same number under another id: the number is what orders versions, so keep the one.
        version = PackageVersion.objects.filter(
            package=package, version_number=event.version_number
        ).first()
    if version is None:
        try:
            with transaction.atomic():
                version = PackageVersion.objects.create(
                    package=package,
                    version_id=event.version_id,
                    version_number=event.version_number,
                    name=f"{package.name} {event.version_number}",
                    release_date=event.occurred_at.date(),
                )
        except IntegrityError:
            # Another org's upgrade registered it (or its number) a moment ago.
            version = (
                PackageVersion.objects.filter(version_id=event.version_id).first()
                or PackageVersion.objects.filter(
                    package=package, version_number=event.version_number
                ).first()
            )
            if version is None:
                raise
    if version.package_id != package.pk:
        raise EventInvalid({"data.version_id": ["This version belongs to another package."]})
    return version


def _usage_values(event: IncomingEvent, package: Package) -> dict[FeatureParameter, Any]:
    """Check every reported parameter against the package: known, subscriber-set, typed."""
    if not event.parameters:
        return {}
    parameters = {
        p.developer_name: p
        for p in FeatureParameter.objects.filter(
            package=package, developer_name__in=list(event.parameters)
        )
    }
    errors: dict[str, list[str]] = {}
    values: dict[FeatureParameter, Any] = {}
    for name, raw in event.parameters.items():
        path = f"data.parameters.{name}"
        parameter = parameters.get(name)
        if parameter is None:
            errors[path] = [f"{package.namespace} has no feature parameter {name!r}."]
            continue
        if parameter.direction != Direction.SUBSCRIBER_TO_LMO:
            errors[path] = [f"{name} is set by the LMO; a subscriber cannot report it."]
            continue
        try:
            values[parameter] = coerce_feature_value(parameter.data_type, raw, field=name)
        except ValidationError as exc:
            errors[path] = exc.messages
    if errors:
        raise EventInvalid(errors)
    return values


def _create(
    event: IncomingEvent,
    package: Package,
    *,
    version: PackageVersion | None,
    previous: License | None,
) -> License:
    """A new license as an install creates it, or a reinstall carrying over `previous`."""
    org = event.org
    account: Account | None = None
    lead: Lead | None = None
    if previous is not None:
        # Events other than installs may carry only the org id: keep what we knew.
        org = OrgDetails(
            org_id=org.org_id,
            name=org.name or previous.org_name,
            edition=org.edition or previous.org_edition,
            instance=org.instance or previous.org_instance,
            is_sandbox=org.is_sandbox or previous.is_sandbox,
            parent_org_id=org.parent_org_id or previous.parent_org_id,
        )
    else:
        account, lead = _account_or_lead(event, package)
    license = license_create(
        package=package,
        version=version,
        org=org,
        installed_at=event.occurred_at,
        account=account,
        lead=lead,
        previous_license=previous,
        by=Actor.SUBSCRIBER,
        source_event_id=event.event_id,
        # _apply holds the per-(package, org) lock, and the database enforces the rest.
        check_constraints=False,
        last_event_at=event.occurred_at,
    )
    feature_values_create_for_license(license=license)
    return license


def _account_or_lead(event: IncomingEvent, package: Package) -> tuple[Account | None, Lead | None]:
    """Who a new install belongs to, creating a Lead only when nobody is known yet."""
    org = event.org
    known = (
        License.objects.filter(org_id=org.org_id, account__isnull=False)
        .select_related("account")
        .order_by("-id")
        .first()
    )
    if known is not None:
        return known.account, None
    if org.is_sandbox and org.parent_org_id:
        parent = (
            License.objects.filter(org_id=org.parent_org_id)
            .select_related("account", "lead")
            .order_by("-id")
            .first()
        )
        if parent is not None:
            return parent.account, (None if parent.account_id else parent.lead)
    email = (event.installer or {}).get("email", "")
    if email:
        # lower(email) = ... rather than iexact (UPPER on PostgreSQL): it matches the
        # lead_email_status_idx expression index instead of scanning every open lead.
        existing = (
            Lead.objects.open()
            .annotate(email_lower=Lower("email"))
            .filter(email_lower=email.lower())
            .order_by("created_at")
            .first()
        )
        if existing is not None:
            return None, existing
    lead = installer_lead(event, package)
    if lead is not None:
        lead.save()
    return None, lead


@dataclass(frozen=True)
class ReplayResult:
    """How a replay of a package's unrouted events went."""

    package_id: str
    replayed: int = 0
    applied: int = 0
    ignored: int = 0
    still_unrouted: int = 0
    failed: int = 0
    message: str = ""

    def __str__(self) -> str:
        if self.message:
            return self.message
        return (
            f"Replayed {self.replayed} unrouted event(s) for {self.package_id}: "
            f"{self.applied} applied, {self.ignored} ignored (stale), {self.failed} rejected, "
            f"{self.still_unrouted} still unrouted."
        )


def subscriber_events_replay(*, package: Package) -> ReplayResult:
    """Apply a package's unrouted events, oldest first, now that it is linked to this LMO."""
    pending = SubscriberEvent.objects.filter(
        outcome=Outcome.UNROUTED, package_id=package.package_id
    ).order_by("occurred_at", "id")
    if not package.license_manager_linked:
        count = pending.count()
        return ReplayResult(
            package.package_id,
            still_unrouted=count,
            message=f"{package.namespace} is not linked to this LMO yet: link it first; "
            f"{count} event(s) stay unrouted.",
        )
    counts = {Outcome.APPLIED: 0, Outcome.IGNORED: 0, Outcome.UNROUTED: 0, "failed": 0}
    for pk in list(pending.values_list("pk", flat=True)):
        counts[_replay_one(pk)] += 1
    return ReplayResult(
        package.package_id,
        replayed=sum(counts.values()),
        applied=counts[Outcome.APPLIED],
        ignored=counts[Outcome.IGNORED],
        still_unrouted=counts[Outcome.UNROUTED],
        failed=counts["failed"],
    )


def _replay_one(pk: int) -> str:
    try:
        with transaction.atomic():
            inbox = SubscriberEvent.objects.select_for_update().get(pk=pk)
            if inbox.outcome != Outcome.UNROUTED:
                return inbox.outcome
            event = parse_event(inbox.event_id, inbox.payload)
            applied = _route_and_apply(event)
            inbox.outcome = applied.outcome
            inbox.license = applied.license
            inbox.error = applied.note
            inbox.replayed_at = timezone.now()
            inbox.save(update_fields=["outcome", "license", "error", "replayed_at"])
            return applied.outcome
    except EventInvalid as exc:
        message = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.fields.items())
        logger.warning("Replay of subscriber event %s refused: %s", pk, message)
        SubscriberEvent.objects.filter(pk=pk).update(
            error=f"Replay refused: {message}", replayed_at=timezone.now()
        )
        return "failed"
