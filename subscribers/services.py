"""Subscriber events: accepted at once into the inbox, then applied by workers in time order.

The webhook only stores a verified event (`subscriber_event_accept`, one INSERT, unique on
the webhook id) and answers `queued`. Workers (`subscriber_events_drain`) take queued events
in batches, one (package, org) at a time in event-time order. What the events look up is
read once per batch (`BatchContext`). The installs of orgs new to a package are applied
together, a chunk at a time, through the same function that applies one
(`_create_many` -> `licenses.services.licenses_create`: one INSERT per table); every other
event is applied through the License methods in its own savepoint. An event that raises is
marked `failed` with the reason and the rest of the batch goes on (a chunk that raises is
applied again one event at a time). This module is the one write path for events.
"""

from __future__ import annotations

import logging
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.db.models import Case, IntegerField, Q, Value, When
from django.db.models.functions import Lower
from django.utils import timezone

from features.choices import Direction
from features.models import FeatureParameter
from features.services import feature_value_set, feature_values_create_for_licenses
from features.values import coerce_feature_value
from leads.models import Account, Lead
from licenses.choices import Actor, LicenseStatus
from licenses.models import License
from licenses.services import NewLicense, OrgDetails, licenses_create
from packages.models import Package, PackageVersion

from .choices import REPLAYABLE, EventType, Outcome
from .events import EventInvalid, IncomingEvent, parse_event
from .models import SubscriberEvent

logger = logging.getLogger(__name__)

# Set while a drain task is on its way; requests seeing it need not send another.
DRAIN_PENDING_KEY = "subscribers:drain-pending"
# Set while a second drain task, asked for by a drain that found a backlog, is running.
DRAIN_HELPER_KEY = "subscribers:drain-helper"
# Errors that say "try again later", never "this event is wrong".
TRANSIENT_ERRORS = (OperationalError, InterfaceError)


@dataclass(frozen=True)
class Acceptance:
    """The webhook's answer for one delivery: queued when new, the stored status otherwise."""

    event_id: str
    status: str
    license_id: int | None = None
    duplicate: bool = False
    error: str = ""

    def as_dict(self) -> dict[str, Any]:
        if not self.duplicate:
            return {"event_id": self.event_id, "status": self.status}
        answer: dict[str, Any] = {
            "event_id": self.event_id,
            "status": self.status,
            "license_id": self.license_id,
            "duplicate": True,
        }
        if self.status == Outcome.FAILED:
            answer["error"] = self.error
        return answer


def subscriber_event_accept(*, event: IncomingEvent) -> Acceptance:
    """Store a verified event in the inbox as `queued` and have a worker apply it soon.

    A webhook id already in the inbox (a redelivery, even one racing the first copy) writes
    nothing and answers that event's current status.
    """
    row = SubscriberEvent(
        event_id=event.event_id,
        type=event.type,
        occurred_at=event.occurred_at,
        package_id=event.package_id,
        org_id=event.org.org_id,
        payload=event.payload,
        outcome=Outcome.QUEUED,
    )
    try:
        if connection.in_atomic_block:
            with transaction.atomic():
                row.save(force_insert=True)
        else:
            # One statement: in autocommit it is its own transaction, committed when it
            # returns, without the two round trips of BEGIN and COMMIT around it.
            row.save(force_insert=True)
        transaction.on_commit(_drain_after_accept)
    except IntegrityError:
        first = subscriber_event_status(event_id=event.event_id)
        if first is None:
            raise
        return first
    return Acceptance(event.event_id, Outcome.QUEUED)


def subscriber_event_status(*, event_id: str) -> Acceptance | None:
    """The stored status of a webhook id, as a duplicate's answer; None if it is unknown."""
    row = (
        SubscriberEvent.objects.filter(event_id=event_id)
        .values("outcome", "license_id", "error")
        .first()
    )
    if row is None:
        return None
    return Acceptance(event_id, row["outcome"], row["license_id"], True, row["error"])


# Per web process: the monotonic time until which a drain is known to be pending, so each
# acceptance does not ask the cache again. The drain keeps looking at the queue for
# LMO_SUBSCRIBER_DRAIN_ASK_SECONDS after clearing its key (`keep_looking_until`), so an event
# accepted while a process skipped asking is still seen by that drain's last look.
_drain_pending_until = 0.0


def _drain_after_accept() -> None:
    global _drain_pending_until
    # Taken before the cache is asked: the window must end before the last look of any
    # drain that clears the key after this process saw it.
    asked_at = time.monotonic()
    if asked_at < _drain_pending_until:
        return
    subscriber_events_drain_soon()
    _drain_pending_until = asked_at + settings.LMO_SUBSCRIBER_DRAIN_ASK_SECONDS


def subscriber_events_drain_soon() -> None:
    """Ask a worker to drain the queue, unless a drain is already on its way.

    Beat's periodic drain is the safety net: a publish that fails (broker away) loses
    nothing, the events wait in the inbox.
    """
    from .tasks import drain_subscriber_events

    timeout = settings.LMO_SUBSCRIBER_DRAIN_INTERVAL_SECONDS
    if not cache.add(DRAIN_PENDING_KEY, 1, timeout=timeout):
        return
    try:
        drain_subscriber_events.apply_async(retry=False)
    except Exception:
        if settings.CELERY_TASK_ALWAYS_EAGER:
            raise
        logger.warning("Could not publish a drain; beat's periodic drain will apply the queue.")


def subscriber_events_drain_help() -> None:
    """A drain found a backlog: ask another worker process to drain beside it (at most one
    at a time). PostgreSQL only: there the two take different (package, org) groups; on
    SQLite one writing transaction at a time would make the second only wait."""
    from .tasks import drain_subscriber_events

    if connection.vendor != "postgresql" or not settings.LMO_SUBSCRIBER_DRAIN_HELPER:
        return
    if not cache.add(DRAIN_HELPER_KEY, 1, timeout=settings.LMO_SUBSCRIBER_DRAIN_MAX_SECONDS):
        return
    try:
        drain_subscriber_events.apply_async(kwargs={"helper": True}, retry=False)
    except Exception:
        cache.delete(DRAIN_HELPER_KEY)
        logger.warning("Could not publish a helper drain; the running drain goes on alone.")


@dataclass
class DrainResult:
    """What one drain did, by outcome."""

    batches: int = 0
    applied: int = 0
    ignored: int = 0
    unrouted: int = 0
    failed: int = 0

    @property
    def processed(self) -> int:
        return self.applied + self.ignored + self.unrouted + self.failed

    def add(self, outcome: str) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)


def subscriber_events_drain(
    *,
    batch_size: int | None = None,
    max_seconds: float | None = None,
    on_backlog: Callable[[], None] | None = None,
    keep_looking_until: float | None = None,
) -> DrainResult:
    """Apply queued events until none is left that this worker may take (or time is up).

    Safe to run in several workers at once: each (package, org) is applied by one worker
    at a time, its events in event-time order, each exactly once. `on_backlog` is called
    after each full batch (more is likely waiting), to bring in another worker. A queue
    found empty before `keep_looking_until` (monotonic) is looked at once more then.
    """
    if batch_size is None:
        batch_size = settings.LMO_SUBSCRIBER_DRAIN_BATCH
    result = DrainResult()
    deadline = None if max_seconds is None else time.monotonic() + max_seconds
    while deadline is None or time.monotonic() < deadline:
        claimed = _drain_batch(batch_size, result)
        if not claimed:
            wait = 0.0 if keep_looking_until is None else keep_looking_until - time.monotonic()
            if wait <= 0:
                return result
            if deadline is not None:
                wait = min(wait, max(deadline - time.monotonic(), 0.0))
            time.sleep(wait)
            keep_looking_until = None
            continue
        result.batches += 1
        if claimed >= batch_size and on_backlog is not None:
            on_backlog()
    # Time is up with work left: hand the rest to the next task rather than hold a worker.
    subscriber_events_drain_soon()
    return result


def _group_key(package_id: str, org_id: str) -> tuple[int, int]:
    """The two signed 32-bit keys of a (package, org)'s advisory lock."""
    return zlib.crc32(package_id.encode()) - 2**31, zlib.crc32(org_id.encode()) - 2**31


def _lock_groups(groups: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The (package, org) groups this transaction could lock; others are being applied."""
    if connection.vendor != "postgresql":
        # SQLite runs one writing transaction at a time (transaction_mode IMMEDIATE), so the
        # transaction around the batch already excludes every other worker.
        return groups
    keys = [_group_key(*group) for group in groups]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_try_advisory_xact_lock(k.a, k.b) "
            "FROM unnest(%s::int[], %s::int[]) WITH ORDINALITY AS k(a, b, n) ORDER BY k.n",
            [[a for a, _ in keys], [b for _, b in keys]],
        )
        locked = [row[0] for row in cursor.fetchall()]
    return [group for group, ok in zip(groups, locked, strict=True) if ok]


def _claim_groups(queued, batch_size: int) -> list[tuple[str, str]]:
    """Up to `batch_size` (package, org) groups with queued events, locked for this
    transaction, oldest first; groups another worker holds are passed over."""
    claimed: list[tuple[str, str]] = []
    seen: set[tuple[str, str]] = set()
    after_id = 0
    page_size = batch_size * 4
    more = True
    while more and len(claimed) < batch_size:
        page = list(
            queued.filter(id__gt=after_id)
            .order_by("id")
            .values_list("id", "package_id", "org_id")[:page_size]
        )
        if not page:
            break
        more = len(page) == page_size
        after_id = page[-1][0]
        fresh = [g for g in dict.fromkeys((p, o) for _, p, o in page) if g not in seen]
        seen.update(fresh)
        # Try only as many as still wanted: a lock taken is held until the commit.
        while fresh and len(claimed) < batch_size:
            want = batch_size - len(claimed)
            claimed += _lock_groups(fresh[:want])
            fresh = fresh[want:]
    return claimed


def _drain_batch(batch_size: int, result: DrainResult) -> int:
    """Apply one batch; returns the number of (package, org) groups it took (0: none left
    that this worker could take)."""
    with transaction.atomic():
        queued = SubscriberEvent.objects.filter(outcome=Outcome.QUEUED)
        groups = _claim_groups(queued, batch_size)
        if not groups:
            return 0
        by_package: dict[str, list[str]] = {}
        for package_id, org_id in groups:
            by_package.setdefault(package_id, []).append(org_id)
        rows: list[SubscriberEvent] = []
        for package_id, org_ids in by_package.items():
            # Only the holder of a group's lock ever locks its queued rows, so SKIP LOCKED
            # skips nothing here; it keeps a worker from ever waiting on another.
            rows += (
                queued.filter(package_id=package_id, org_id__in=org_ids)
                .select_for_update(skip_locked=True)
                .order_by("org_id", "occurred_at", "id")
            )
        if not rows:
            return 0
        packages = {p.package_id: p for p in Package.objects.filter(package_id__in=by_package)}
        parsed = {row.pk: _parse(row) for row in rows}
        context = BatchContext(
            packages, [e for e in parsed.values() if isinstance(e, IncomingEvent)]
        )
        new_installs, rest = _first_installs(rows, parsed, context)
        for package_id, pairs in new_installs.items():
            for start in range(0, len(pairs), INSTALL_CHUNK):
                _apply_new_installs(
                    pairs[start : start + INSTALL_CHUNK], packages[package_id], context
                )
        for row in rest:
            _apply_row(row, parsed[row.pk], packages.get(row.package_id), context)
        _record_outcomes(rows)
        for row in rows:
            result.add(row.outcome)
    return len(groups)


def _record_outcomes(rows: list[SubscriberEvent]) -> None:
    """Store each row's outcome, license and error: one UPDATE per outcome, each row written
    once (a CASE only for the columns whose values differ between its rows)."""
    now = timezone.now()
    by_outcome: dict[str, list[SubscriberEvent]] = {}
    for row in rows:
        row.processed_at = now
        by_outcome.setdefault(row.outcome, []).append(row)
    for outcome, group in by_outcome.items():
        SubscriberEvent.objects.filter(pk__in=[row.pk for row in group]).update(
            outcome=outcome,
            processed_at=now,
            license=_per_row(group, "license_id", "license"),
            error=_per_row(group, "error", "error"),
        )


def _per_row(rows: list[SubscriberEvent], attname: str, field: str) -> Any:
    """The one value these rows share for a column, or a CASE giving each row its own."""
    values = {getattr(row, attname) for row in rows}
    if len(values) == 1:
        return values.pop()
    return Case(
        *(When(pk=row.pk, then=Value(getattr(row, attname))) for row in rows),
        output_field=SubscriberEvent._meta.get_field(field).target_field
        if field == "license"
        else SubscriberEvent._meta.get_field(field),
    )


# First installs applied together (one INSERT per table); a chunk that raises is applied
# again one event at a time, so a bad event fails alone.
INSTALL_CHUNK = 100


def _parse(row: SubscriberEvent) -> IncomingEvent | EventInvalid:
    try:
        return parse_event(row.event_id, row.payload)
    except EventInvalid as exc:
        return exc


def _first_installs(
    rows: list[SubscriberEvent],
    parsed: dict[int, IncomingEvent | EventInvalid],
    context: BatchContext,
) -> tuple[dict[str, list[tuple[SubscriberEvent, IncomingEvent]]], list[SubscriberEvent]]:
    """Split a batch into the installs of orgs that never had the package, each the first
    event of its (package, org) in the batch, by package (applied first, together), and the
    rest (applied after, one by one, each group in event-time order)."""
    new_installs: dict[str, list[tuple[SubscriberEvent, IncomingEvent]]] = {}
    rest: list[SubscriberEvent] = []
    seen: set[tuple[str, str]] = set()
    for row in rows:
        group = (row.package_id, row.org_id)
        first_of_group = group not in seen
        seen.add(group)
        event = parsed[row.pk]
        package = context.packages.get(row.package_id)
        if (
            first_of_group
            and isinstance(event, IncomingEvent)
            and event.type == EventType.INSTALLED
            and package is not None
            and package.license_manager_linked
            and context.never_licensed(package, event.org.org_id)
            # A sandbox may take its owner from its parent org's license, which this batch
            # may be creating: applied after the new installs, as one by one.
            and not (event.org.is_sandbox and event.org.parent_org_id)
        ):
            new_installs.setdefault(row.package_id, []).append((row, event))
        else:
            rest.append(row)
    return new_installs, rest


def _apply_new_installs(
    pairs: list[tuple[SubscriberEvent, IncomingEvent]], package: Package, context: BatchContext
) -> None:
    """Apply first installs of one package together, in one savepoint; if anything raises,
    apply them again one by one so only the bad event fails."""
    try:
        with transaction.atomic():
            items = [(event, _version(event, package, context), None) for _, event in pairs]
            licenses = _create_many(items, package, context)
    except TRANSIENT_ERRORS:
        raise
    except Exception:
        logger.info("A chunk of %d installs raised; applying them one by one.", len(pairs))
        context.reload()
        for row, event in pairs:
            _apply_row(row, event, package, context)
        return
    for (row, _), license in zip(pairs, licenses, strict=True):
        row.outcome, row.license, row.error = Outcome.APPLIED, license, ""


def _apply_row(
    row: SubscriberEvent,
    event: IncomingEvent | EventInvalid,
    package: Package | None,
    context: BatchContext,
) -> None:
    """Apply one inbox row in its own savepoint and record the outcome on the row."""
    if isinstance(event, EventInvalid):
        row.outcome, row.license, row.error = Outcome.FAILED, None, event.message
        return
    try:
        with transaction.atomic():
            applied = _route_and_apply(event, package, context)
    except TRANSIENT_ERRORS:
        raise
    except Exception as exc:
        # The savepoint undid what the event wrote; what the batch knew may include it.
        context.reload()
        if not isinstance(exc, EventInvalid):
            logger.warning("Subscriber event %s failed: %r", row.event_id, exc, exc_info=True)
        row.outcome, row.license, row.error = Outcome.FAILED, None, _error_message(exc)
    else:
        row.outcome, row.license, row.error = applied.outcome, applied.license, applied.note


def _error_message(exc: Exception) -> str:
    message = getattr(exc, "message", None) or "; ".join(
        getattr(exc, "messages", None) or [str(exc)]
    )
    return str(message)[:2000]


class BatchContext:
    """What the events of one batch look up, read once for the batch (one query each)
    instead of once per event, and kept current as the batch writes: the licenses of its
    (package, org) groups (locked), the versions, feature parameters and open leads its
    events name, and the licenses of the orgs that may get their first license.

    After an event or chunk fails, its savepoint undid its writes: `reload` reads it all
    again rather than guess what the failure left in memory.
    """

    def __init__(self, packages: dict[str, Package], events: list[IncomingEvent]) -> None:
        self.packages = packages
        self.events = events
        self.reload()

    def reload(self) -> None:
        routed = {
            package.pk: package
            for package in self.packages.values()
            if package.license_manager_linked
        }
        events = [e for e in self.events if e.package_id in self.packages]
        events = [e for e in events if self.packages[e.package_id].pk in routed]
        self.current = self._load_current(events)
        unlicensed = [
            e for e in events if (self.packages[e.package_id].pk, e.org.org_id) not in self.current
        ]
        self.org_licenses = self._load_org_licenses(unlicensed)
        self.open_leads = self._load_open_leads(unlicensed)
        self.versions_by_id, self.versions_by_number = self._load_versions(events)
        self.parameters: dict[int, list[FeatureParameter]] = {pk: [] for pk in routed}
        for parameter in FeatureParameter.objects.filter(package_id__in=list(routed)):
            self.parameters[parameter.package_id].append(parameter)

    # --- Loading ---------------------------------------------------------------------------

    def _load_current(self, events: list[IncomingEvent]) -> dict[tuple[int, str], License]:
        """Each group's live license, else its most recent uninstalled one; locked."""
        orgs_by_package: dict[int, set[str]] = {}
        for event in events:
            package = self.packages[event.package_id]
            orgs_by_package.setdefault(package.pk, set()).add(event.org.org_id)
        self.loaded_groups = {(p, o) for p, orgs in orgs_by_package.items() for o in orgs}
        if not orgs_by_package:
            return {}
        wanted = Q()
        for package_pk, org_ids in orgs_by_package.items():
            wanted |= Q(package_id=package_pk, org_id__in=sorted(org_ids))
        current: dict[tuple[int, str], License] = {}
        for license in _current_first(License.objects.select_for_update().filter(wanted)):
            current.setdefault((license.package_id, license.org_id), license)
        return current

    def _load_org_licenses(self, events: list[IncomingEvent]) -> dict[str, list[License]]:
        """Every license, newest first, of the orgs that may get their first license here and
        of their sandboxes' parent orgs: who owns the new license is read from them."""
        orgs = {e.org.org_id for e in events}
        orgs |= {e.org.parent_org_id for e in events if e.org.is_sandbox and e.org.parent_org_id}
        found: dict[str, list[License]] = {org: [] for org in orgs}
        if orgs:
            query = License.objects.filter(org_id__in=sorted(orgs)).select_related(
                "account", "lead"
            )
            for license in query.order_by("-id"):
                found.setdefault(license.org_id, []).append(license)
        return found

    def _load_open_leads(self, events: list[IncomingEvent]) -> dict[str, Lead]:
        """The oldest open lead per installer email (lower case) these events name."""
        emails = {(e.installer or {}).get("email", "").lower() for e in events} - {""}
        self.loaded_emails = emails
        leads: dict[str, Lead] = {}
        if emails:
            # lower(email) IN (...) rather than iexact (UPPER on PostgreSQL): it matches the
            # lead_email_status_idx expression index instead of scanning every open lead.
            query = (
                Lead.objects.open()
                .annotate(email_lower=Lower("email"))
                .filter(email_lower__in=sorted(emails))
                .order_by("created_at", "id")
            )
            for lead in query:
                leads.setdefault(lead.email_lower, lead)
        return leads

    def _load_versions(
        self, events: list[IncomingEvent]
    ) -> tuple[dict[str, PackageVersion], dict[tuple[int, str], PackageVersion]]:
        ids = {e.version_id for e in events if e.version_id}
        numbers = {e.version_number for e in events if e.version_id and e.version_number}
        by_id: dict[str, PackageVersion] = {}
        by_number: dict[tuple[int, str], PackageVersion] = {}
        if ids:
            package_pks = [self.packages[e.package_id].pk for e in events]
            query = PackageVersion.objects.filter(
                Q(version_id__in=sorted(ids))
                | Q(package_id__in=package_pks, version_number__in=sorted(numbers))
            )
            for version in query:
                self.note_version(version, by_id, by_number)
        return by_id, by_number

    # --- Lookups and what the batch wrote ----------------------------------------------------

    def current_license(self, package: Package, org_id: str) -> License | None:
        if (package.pk, org_id) not in self.loaded_groups:
            return _current_license(package, org_id)
        return self.current.get((package.pk, org_id))

    def never_licensed(self, package: Package, org_id: str) -> bool:
        return (package.pk, org_id) in self.loaded_groups and (
            package.pk,
            org_id,
        ) not in self.current

    def newest_license(self, org_id: str, *, with_account: bool = False) -> License | None:
        """The org's newest license of any package (with an account, if asked)."""
        licenses = self.org_licenses.get(org_id)
        if licenses is None:
            query = License.objects.filter(org_id=org_id).select_related("account", "lead")
            if with_account:
                query = query.filter(account__isnull=False)
            return query.order_by("-id").first()
        return next((lic for lic in licenses if lic.account_id or not with_account), None)

    def open_lead(self, email: str) -> Lead | None:
        key = email.lower()
        if key not in self.loaded_emails:
            return (
                Lead.objects.open()
                .annotate(email_lower=Lower("email"))
                .filter(email_lower=key)
                .order_by("created_at")
                .first()
            )
        return self.open_leads.get(key)

    def note_lead(self, lead: Lead) -> None:
        """A new open lead: later installs by the same email in this batch join it."""
        key = lead.email.lower()
        if key:
            self.loaded_emails.add(key)
            self.open_leads.setdefault(key, lead)

    def note_license(self, license: License) -> None:
        self.current[(license.package_id, license.org_id)] = license
        self.loaded_groups.add((license.package_id, license.org_id))
        if license.org_id in self.org_licenses:
            self.org_licenses[license.org_id].insert(0, license)

    def note_version(
        self,
        version: PackageVersion,
        by_id: dict[str, PackageVersion] | None = None,
        by_number: dict[tuple[int, str], PackageVersion] | None = None,
    ) -> None:
        by_id = self.versions_by_id if by_id is None else by_id
        by_number = self.versions_by_number if by_number is None else by_number
        by_id[version.version_id] = version
        by_number.setdefault((version.package_id, version.version_number), version)


@dataclass(frozen=True)
class _Applied:
    outcome: str
    license: License | None
    note: str = ""


def _route_and_apply(
    event: IncomingEvent, package: Package | None, context: BatchContext
) -> _Applied:
    if package is None:
        return _Applied(Outcome.UNROUTED, None, "No package with this id in this LMO.")
    if not package.license_manager_linked:
        return _Applied(
            Outcome.UNROUTED, None, "This LMO is not yet the package's License Manager."
        )
    return _apply(event, package, context)


def _apply(event: IncomingEvent, package: Package, context: BatchContext) -> _Applied:
    """Apply a routed event to the org's license (its group's lock is held)."""
    usage_values = (
        _usage_values(event, package, context) if event.type == EventType.USAGE_REPORTED else {}
    )
    version = _version(event, package, context)
    current = context.current_license(package, event.org.org_id)
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
            current = _create(event, package, context, version=None, previous=None)
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
        current = _create(event, package, context, version=version, previous=current)
    elif current is None:
        current = _create(event, package, context, version=version, previous=None)
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


def _current_first(query):
    """Licenses ordered live first, then newest first."""
    return query.order_by(
        Case(
            When(status=LicenseStatus.UNINSTALLED, then=Value(1)),
            default=Value(0),
            output_field=IntegerField(),
        ),
        "-id",
    )


def _current_license(package: Package, org_id: str) -> License | None:
    """The org's live license of the package, else its most recent uninstalled one."""
    return _current_first(
        License.objects.select_for_update().filter(package=package, org_id=org_id)
    ).first()


def _version(
    event: IncomingEvent, package: Package, context: BatchContext
) -> PackageVersion | None:
    """The version the event names, registered if this LMO has not seen it yet."""
    if not event.version_id:
        return None
    version = context.versions_by_id.get(event.version_id) or context.versions_by_number.get(
        (package.pk, event.version_number)
    )
    if version is None:
        version = _register_version(event, package)
        context.note_version(version)
    if version.package_id != package.pk:
        raise EventInvalid({"data.version_id": ["This version belongs to another package."]})
    return version


def _register_version(event: IncomingEvent, package: Package) -> PackageVersion:
    """The version the event names from the database, registered if it is not there."""
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
    return version


def _usage_values(
    event: IncomingEvent, package: Package, context: BatchContext
) -> dict[FeatureParameter, Any]:
    """Check every reported parameter against the package: known, subscriber-set, typed."""
    if not event.parameters:
        return {}
    parameters = {p.developer_name: p for p in context.parameters.get(package.pk, [])}
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
    context: BatchContext,
    *,
    version: PackageVersion | None,
    previous: License | None,
) -> License:
    """A new license as an install creates it, or a reinstall carrying over `previous`."""
    return _create_many([(event, version, previous)], package, context)[0]


def _create_many(
    items: list[tuple[IncomingEvent, PackageVersion | None, License | None]],
    package: Package,
    context: BatchContext,
) -> list[License]:
    """New licenses of one package as installs create them, or reinstalls carrying over the
    license given with them, with their leads and feature values: one INSERT per table
    whether there is one item or a hundred."""
    new_leads: dict[int, Lead] = {}
    news: list[NewLicense] = []
    for event, version, previous in items:
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
            account, lead = _account_or_lead(event, package, context)
            if lead is not None and lead.pk is None:
                new_leads[id(lead)] = lead
        news.append(
            NewLicense(
                package=package,
                version=version,
                org=org,
                installed_at=event.occurred_at,
                account=account,
                lead=lead,
                previous_license=previous,
                by=Actor.SUBSCRIBER,
                source_event_id=event.event_id,
                last_event_at=event.occurred_at,
            )
        )
    Lead.objects.bulk_create(list(new_leads.values()))
    licenses = licenses_create(news)
    feature_values_create_for_licenses(licenses=licenses, parameters=context.parameters)
    for license in licenses:
        context.note_license(license)
    return licenses


def _account_or_lead(
    event: IncomingEvent, package: Package, context: BatchContext
) -> tuple[Account | None, Lead | None]:
    """Who a new install belongs to; a new Lead (unsaved) only when nobody is known yet."""
    org = event.org
    known = context.newest_license(org.org_id, with_account=True)
    if known is not None:
        return known.account, None
    if org.is_sandbox and org.parent_org_id:
        parent = context.newest_license(org.parent_org_id)
        if parent is not None:
            return parent.account, (None if parent.account_id else parent.lead)
    email = (event.installer or {}).get("email", "")
    if email:
        existing = context.open_lead(email)
        if existing is not None:
            return None, existing
    lead = _installer_lead(event, package)
    if lead is not None:
        context.note_lead(lead)
    return None, lead


def _installer_lead(event: IncomingEvent, package: Package) -> Lead | None:
    """The unsaved Lead for an install's installer; None when the event names nobody."""
    installer = event.installer or {}
    if not any(installer.get(k) for k in ("first_name", "last_name", "email", "company")):
        return None
    return Lead(
        first_name=installer.get("first_name", ""),
        last_name=installer.get("last_name", ""),
        email=installer.get("email", ""),
        phone=installer.get("phone", ""),
        company=installer.get("company", "") or event.org.name,
        org_id=event.org.org_id,
        package=package,
        owner_id=package.lead_manager_id,
    )


@dataclass(frozen=True)
class ReplayResult:
    """How a replay went: the events put back in the queue and where they ended."""

    package_id: str = ""
    replayed: int = 0
    applied: int = 0
    ignored: int = 0
    still_unrouted: int = 0
    failed: int = 0
    queued: int = 0
    message: str = ""

    def __str__(self) -> str:
        if self.message:
            return self.message
        what = f" for {self.package_id}" if self.package_id else ""
        text = (
            f"Replayed {self.replayed} event(s){what}: {self.applied} applied, "
            f"{self.ignored} ignored (stale), {self.failed} failed, "
            f"{self.still_unrouted} unrouted."
        )
        if self.queued:
            text += f" {self.queued} still queued (a worker is applying them)."
        return text


def subscriber_events_requeue(*, event_pks: Iterable[int]) -> list[int]:
    """Put failed or unrouted events back in the queue; returns the pks requeued."""
    with transaction.atomic():
        rows = SubscriberEvent.objects.filter(pk__in=list(event_pks), outcome__in=REPLAYABLE)
        pks = list(rows.select_for_update().values_list("pk", flat=True))
        SubscriberEvent.objects.filter(pk__in=pks).update(
            outcome=Outcome.QUEUED, error="", license=None, replayed_at=timezone.now()
        )
    return pks


def subscriber_events_replay_pks(*, event_pks: Iterable[int], package_id: str = "") -> ReplayResult:
    """Requeue these failed or unrouted events and apply them now, through the drain."""
    pks = subscriber_events_requeue(event_pks=event_pks)
    if pks:
        subscriber_events_drain()
    counts = dict.fromkeys(Outcome.values, 0)
    for outcome in SubscriberEvent.objects.filter(pk__in=pks).values_list("outcome", flat=True):
        counts[outcome] += 1
    return ReplayResult(
        package_id,
        replayed=len(pks),
        applied=counts[Outcome.APPLIED],
        ignored=counts[Outcome.IGNORED],
        still_unrouted=counts[Outcome.UNROUTED],
        failed=counts[Outcome.FAILED],
        queued=counts[Outcome.QUEUED],
    )


def subscriber_events_replay(*, package: Package) -> ReplayResult:
    """Apply a package's unrouted events, oldest first, now that it is linked to this LMO."""
    pending = SubscriberEvent.objects.filter(
        outcome=Outcome.UNROUTED, package_id=package.package_id
    )
    if not package.license_manager_linked:
        count = pending.count()
        return ReplayResult(
            package.package_id,
            still_unrouted=count,
            message=f"{package.namespace} is not linked to this LMO yet: link it first; "
            f"{count} event(s) stay unrouted.",
        )
    return subscriber_events_replay_pks(
        event_pks=pending.values_list("pk", flat=True), package_id=package.package_id
    )
