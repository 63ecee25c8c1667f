"""Licenses (one per subscriber org and package) and their append-only history.

The methods on License are the only way to change a license's status, seats, expiry,
account or version: each one locks the row, re-checks the rules, saves only what changed
and writes exactly one LicenseEvent.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction
from django.db.models import Q

from core.dates import format_utc
from core.salesforce_ids import ORG_PREFIX, SalesforceIdField, try_normalize
from lmo import clock
from packages.choices import MAX_SEATS, SITE_LICENSE
from packages.models import seats_display, validate_seats

from .choices import (
    ALLOWED_TRANSITIONS,
    EXPIRING_STATUSES,
    GRACE_CODE,
    LIVE_STATUSES,
    MAX_RENEWAL_DAYS,
    REFUSAL_REASONS,
    TERMINAL_STATUSES,
    TRIAL_MAX_DAYS,
    Actor,
    EventKind,
    LicenseStatus,
    OrgType,
    is_allowed,
)
from .exceptions import InvalidTransition, LicenseLocked, TrialLimitExceeded
from .signals import LicenseChange, LicenseSnapshot, send_licenses_changed

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

    from leads.models import Account, Lead
    from packages.models import PackageVersion

    ActorLike = AbstractBaseUser | str | None


def format_license_name(pk: int | None) -> str:
    return f"L-{pk:05d}" if pk else "L-new"


def parse_license_name(value: str) -> int | None:
    """'L-00042' (or 'l-42') -> 42; None for anything else."""
    value = value.strip()
    if value[:2].upper() == "L-" and value[2:].isdigit():
        return int(value[2:])
    return None


def _actor(by: ActorLike) -> tuple[str, Any]:
    if by is None:
        return Actor.SYSTEM, None
    if isinstance(by, str):
        return by, None
    return by.get_username(), by


# Over seat limit: the org reports more users than the seats bought. A site license (-1)
# covers every user, and an uninstalled license grants nothing, so neither is ever over.
OVER_SEAT_LIMIT = (
    Q(used_licenses__gt=models.F("seats"))
    & ~Q(seats=SITE_LICENSE)
    & ~Q(status__in=TERMINAL_STATUSES)
)


class LicenseQuerySet(models.QuerySet):
    def for_org(self, org_id: str) -> LicenseQuerySet:
        """Licenses of an org, given its 15 or 18 character id."""
        normalized = try_normalize(org_id, prefix=ORG_PREFIX)
        return self.filter(org_id=normalized) if normalized else self.none()

    def live(self) -> LicenseQuerySet:
        """Licenses that are not frozen (still installed)."""
        return self.exclude(status__in=TERMINAL_STATUSES)

    def over_seat_limit(self) -> LicenseQuerySet:
        """Installed licenses whose org uses more seats than it bought (never a site license)."""
        return self.filter(OVER_SEAT_LIMIT)

    def with_seat_use(self) -> LicenseQuerySet:
        """Each license with `is_over_seat_limit`, by the same rule as `over_seat_limit()`."""
        return self.annotate(
            is_over_seat_limit=models.ExpressionWrapper(
                OVER_SEAT_LIMIT, output_field=models.BooleanField()
            )
        )

    def due_for_expiry(self, now: datetime) -> LicenseQuerySet:
        """Trials and active licenses whose end, and their package's grace after it, has
        passed (served by the status+expiry index, one range per grace length in use)."""
        return self.filter(status__in=EXPIRING_STATUSES).filter(
            _grace_windows_q(now, lambda grace: Q(expires_at__lte=now - grace))
        )

    def in_grace(self, now: datetime) -> LicenseQuerySet:
        """Trials and active licenses past their end but within their package's grace."""
        return self.filter(status__in=EXPIRING_STATUSES).filter(
            _grace_windows_q(
                now,
                lambda grace: Q(expires_at__lte=now, expires_at__gt=now - grace),
                skip_zero=True,
            )
        )

    def visible_to(self, user) -> LicenseQuerySet:
        """License data is private: only users whose role may view licenses see any."""
        if user is not None and user.is_active and user.has_perm("licenses.view_license"):
            return self
        return self.none()


def _grace_windows_q(
    now: datetime, window: Callable[[timedelta], Q], *, skip_zero: bool = False
) -> Q:
    """OR of `window(grace)` for each grace length packages use, limited to those packages
    (no join: the package ids are literals, and a single length needs no package filter)."""
    from packages.models import Package

    by_grace: dict[int, list[int]] = {}
    for pk, days in Package.objects.values_list("pk", "grace_days"):
        by_grace.setdefault(days, []).append(pk)
    if skip_zero:
        by_grace.pop(0, None)
    if not by_grace:
        return Q(pk__in=[]) if skip_zero else window(timedelta(0))
    if len(by_grace) == 1 and not skip_zero:
        return window(timedelta(days=next(iter(by_grace))))
    condition = Q(pk__in=[])
    for days, package_pks in sorted(by_grace.items()):
        condition |= Q(package_id__in=package_pks) & window(timedelta(days=days))
    return condition


@dataclass(frozen=True)
class Access:
    """The license check's verdict at one instant: may the org run the package, the code the
    managed package sees, and when its grace ends if it is in grace."""

    allowed: bool
    code: str
    grace_ends_at: datetime | None = None


def license_access(
    status: str, expires_at: datetime | None, now: datetime, *, grace_days: int = 0
) -> Access:
    """The one rule for access: trials and active licenses run until their end (no end: a
    bought license that does not expire), then for their package's grace days (code
    GRACE); every other status is refused. The license check answers from its cached
    columns with this, without loading a License."""
    if status not in LIVE_STATUSES:
        return Access(False, status.upper())
    if expires_at is None or expires_at > now:
        # A trial always has an end (a database constraint), so "no end" is a bought one.
        return Access(True, status.upper())
    grace_ends_at = expires_at + timedelta(days=grace_days)
    if grace_ends_at > now:
        return Access(True, GRACE_CODE, grace_ends_at)
    return Access(False, LicenseStatus.EXPIRED.upper())


def access_allowed(
    status: str, expires_at: datetime | None, now: datetime, *, grace_days: int = 0
) -> bool:
    """May an org whose license has this status and end use the package at `now`?"""
    return license_access(status, expires_at, now, grace_days=grace_days).allowed


def access_code(
    status: str, expires_at: datetime | None, now: datetime, *, grace_days: int = 0
) -> str:
    """ACTIVE / TRIAL / GRACE / EXPIRED / SUSPENDED / UNINSTALLED as the subscriber sees it."""
    return license_access(status, expires_at, now, grace_days=grace_days).code


def renewal_term_start(expires_at: datetime | None, now: datetime) -> datetime:
    """Where a renewal's new term starts (RENEWAL_RULE): the old end if it has not passed,
    otherwise now, so a late renewal never pays for days already lost."""
    if expires_at is not None and expires_at > now:
        return expires_at
    return now


class License(models.Model):
    """The record that governs one subscriber org's access to one package."""

    # Indexed by (package, version) and (package, status) below.
    package = models.ForeignKey(
        "packages.Package", on_delete=models.PROTECT, related_name="licenses", db_index=False
    )
    version = models.ForeignKey(
        "packages.PackageVersion",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="licenses",
    )
    org_id = SalesforceIdField(prefix=ORG_PREFIX, verbose_name="org id")
    org_name = models.CharField(max_length=255, blank=True)
    org_edition = models.CharField(max_length=100, blank=True)
    org_instance = models.CharField(max_length=40, blank=True)
    org_type = models.CharField(max_length=12, choices=OrgType.choices, default=OrgType.PRODUCTION)
    is_sandbox = models.BooleanField(default=False)
    parent_org_id = SalesforceIdField(
        prefix=ORG_PREFIX, null=True, blank=True, verbose_name="parent org id"
    )
    status = models.CharField(
        max_length=12, choices=LicenseStatus.choices, default=LicenseStatus.TRIAL, editable=False
    )
    status_before_suspension = models.CharField(
        max_length=12, choices=LicenseStatus.choices, blank=True, editable=False
    )
    status_before_uninstall = models.CharField(
        max_length=12, choices=LicenseStatus.choices, blank=True, editable=False
    )
    seats = models.IntegerField(default=SITE_LICENSE, validators=[validate_seats], editable=False)
    used_licenses = models.PositiveIntegerField(null=True, blank=True, editable=False)
    installed_at = models.DateTimeField(editable=False)
    trial_started_at = models.DateTimeField(null=True, blank=True, editable=False)
    activated_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="First time the license became active."
    )
    expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    uninstalled_at = models.DateTimeField(null=True, blank=True, editable=False)
    account = models.ForeignKey(
        "leads.Account",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="licenses",
        editable=False,
        db_index=False,  # a partial index below: most installs have no account yet
    )
    lead = models.ForeignKey(
        "leads.Lead", null=True, blank=True, on_delete=models.SET_NULL, related_name="licenses"
    )
    previous_license = models.OneToOneField(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="next_license",
        editable=False,
    )
    last_event_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="Newest subscriber event applied."
    )
    expiring_soon_notified_at = models.DateTimeField(null=True, blank=True, editable=False)
    grace_noted_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="When the sweep recorded that this license entered its grace period; "
        "cleared when its end moves.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = LicenseQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        permissions = [
            ("view_dashboard", "Can view license dashboards"),
            ("change_license_status", "Can activate, suspend, reinstate and extend licenses"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["org_id", "package"],
                condition=~Q(status=LicenseStatus.UNINSTALLED),
                name="license_one_live_per_org_package",
            ),
            models.CheckConstraint(
                condition=Q(status__in=LicenseStatus.values), name="license_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(seats=SITE_LICENSE) | Q(seats__gte=1, seats__lte=MAX_SEATS),
                name="license_seats_range",
            ),
            models.CheckConstraint(
                condition=~Q(status=LicenseStatus.TRIAL) | Q(expires_at__isnull=False),
                name="license_trial_has_expiry",
            ),
            models.CheckConstraint(
                condition=~Q(status=LicenseStatus.UNINSTALLED) | Q(uninstalled_at__isnull=False),
                name="license_uninstalled_has_date",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "expires_at"], name="license_status_expiry_idx"),
            # (org_id, id): "this org's licenses, newest first" reads the index in order
            # instead of walking the primary key backwards past every other org's rows.
            models.Index(fields=["org_id", "-id"], name="license_org_id_idx"),
            models.Index(fields=["package", "version"], name="license_package_version_idx"),
            models.Index(fields=["package", "status"], name="license_package_status_idx"),
            models.Index(fields=["installed_at"], name="license_installed_idx"),
            models.Index(fields=["org_name"], name="license_org_name_idx"),
            models.Index(
                fields=["account"],
                condition=Q(account__isnull=False),
                name="license_account_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.org_name or self.org_id}"

    # --- Derived values -------------------------------------------------------------------

    @property
    def name(self) -> str:
        return format_license_name(self.pk)

    @property
    def seats_display(self) -> str:
        return seats_display(self.seats)

    @property
    def is_locked(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def was_bought(self) -> bool:
        return self.activated_at is not None

    @property
    def is_trial_life(self) -> bool:
        """Started as a trial and never bought: the 90-day cap applies to its expiry."""
        return self.trial_started_at is not None and self.activated_at is None

    @property
    def trial_limit(self) -> datetime | None:
        if self.trial_started_at is None:
            return None
        return self.trial_started_at + timedelta(days=TRIAL_MAX_DAYS)

    @property
    def grace_ends_at(self) -> datetime | None:
        """End plus the package's grace, for trials and active licenses that end."""
        if self.status not in EXPIRING_STATUSES or self.expires_at is None:
            return None
        return self.expires_at + self.package.grace

    def access(self, now: datetime | None = None) -> Access:
        return license_access(
            self.status, self.expires_at, now or clock.now(), grace_days=self.package.grace_days
        )

    def access_allowed(self, now: datetime | None = None) -> bool:
        """What a managed package asks: may this org use the package right now?"""
        return self.access(now).allowed

    def access_code(self, now: datetime | None = None) -> str:
        """ACTIVE / TRIAL / GRACE / EXPIRED / SUSPENDED / UNINSTALLED as the subscriber sees."""
        return self.access(now).code

    def in_grace(self, now: datetime | None = None) -> bool:
        return self.access(now).code == GRACE_CODE

    def can(self, move: str, *, now: datetime | None = None) -> bool:
        """Would the transition table and this license's own state let `move` (a License
        method named in the table) succeed at `now`, for some input?"""
        if self.is_locked:
            return False
        now = now or clock.now()
        targets = [t for t, moves in ALLOWED_TRANSITIONS[self.status].items() if move in moves]
        return any(self._state_refusal(move, target, now) is None for target in targets)

    def available_actions(self) -> list[str]:
        """The staff actions that can succeed on this license (see licenses/actions.py)."""
        from .actions import actions_available

        return [action.name for action in actions_available(self)]

    # --- Plumbing shared by every change -----------------------------------------------------

    def _lock(self) -> None:
        """Re-read the row under a lock so the checks below see what other requests committed."""
        self.refresh_from_db(from_queryset=License.objects.select_for_update())

    def ensure_editable(self, action: str) -> None:
        if self.is_locked:
            raise LicenseLocked(self.name, action)

    def lock_for_change(self, action: str) -> None:
        """Lock the row and refuse if the license is frozen: the start of every change, here
        and in other apps' services that change what belongs to a license."""
        self._lock()
        self.ensure_editable(action)

    def _guard(self, target: str, *, move: str, now: datetime | None = None) -> None:
        """Refuse `move` to `target` unless the transition table allows it from the current
        status and this license's own state does not rule it out."""
        if is_allowed(self.status, target, move):
            why = self._state_refusal(move, target, now or clock.now())
            if why is None:
                return
        else:
            why = REFUSAL_REASONS.get((self.status, move)) or REFUSAL_REASONS.get(move)
        raise self._refuse(target, why)

    def _state_refusal(self, move: str, target: str, now: datetime) -> str | None:
        """Why this license's own history rules out a move the table allows, or None."""
        if move == "extend_trial" and self.status != LicenseStatus.TRIAL:
            if self.was_bought:
                return "a license that was bought cannot become a trial again"
            if not self.is_trial_life:
                return "it was never a trial"
        if (
            move == "activate"
            and self.status == LicenseStatus.SUSPENDED
            and self._status_after_suspension(now) == LicenseStatus.ACTIVE
        ):
            # Activating would only do what reinstating does; one way to lift a suspension.
            return "it was active before the suspension: reinstate it"
        if move == "renew":
            if not self.was_bought:
                return "a trial cannot be renewed; activate it instead"
            if self.expires_at is None:
                return "it does not expire, so there is no term to renew"
        if (
            move == "expire"
            and self.expires_at is not None
            and self.expires_at <= now < self.expires_at + self.package.grace
        ):
            return f"it is in its grace period until {format_utc(self.grace_ends_at)}"
        return None

    def _status_after_suspension(self, now: datetime) -> str:
        """What reinstating would make of this license at `now`: the status before the
        suspension, or expired if its end passed meanwhile."""
        target = self.status_before_suspension or (
            LicenseStatus.TRIAL if self.is_trial_life else LicenseStatus.ACTIVE
        )
        if (
            target in EXPIRING_STATUSES
            and self.expires_at is not None
            and self.expires_at + self.package.grace <= now
        ):
            # Its end and its grace passed meanwhile; within grace it goes back as it was.
            return LicenseStatus.EXPIRED
        return target

    def record_event(
        self,
        kind: str,
        *,
        by: ActorLike,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
        reason: str = "",
        source_event_id: str | None = None,
        at: datetime | None = None,
    ) -> LicenseEvent:
        """Append one history row; the cached license check is refreshed after commit, and
        the kinds people hear about queue a notification in the outbox (same transaction)."""
        event = self.build_event(
            kind,
            by=by,
            before=before,
            after=after,
            reason=reason,
            source_event_id=source_event_id,
            at=at,
        )
        return LicenseEvent.record_many([event])[0]

    def build_event(
        self,
        kind: str,
        *,
        by: ActorLike,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
        reason: str = "",
        source_event_id: str | None = None,
        at: datetime | None = None,
    ) -> LicenseEvent:
        """The unsaved history row of one change; `LicenseEvent.record_many` writes it."""
        actor, user = _actor(by)
        return LicenseEvent(
            license=self,
            at=at or clock.now(),
            actor=actor,
            actor_user=user,
            kind=kind,
            before=before or {},
            after=after or {},
            reason=reason,
            source_event_id=source_event_id,
        )

    def _apply(
        self,
        kind: str,
        changes: dict[str, Any],
        *,
        by: ActorLike,
        reason: str = "",
        source_event_id: str | None = None,
        at: datetime | None = None,
        quiet_changes: dict[str, Any] | None = None,
    ) -> LicenseEvent:
        """Save the changed fields and write one history row with their old and new values."""
        quiet_changes = dict(quiet_changes or {})
        if "expires_at" in changes and changes["expires_at"] != self.expires_at:
            # A new end: a later grace period is a new one, recorded again.
            quiet_changes["grace_noted_at"] = None
        before = {field: self._event_value(field) for field in changes}
        was = LicenseSnapshot.of(self)
        for field, value in {**changes, **quiet_changes}.items():
            setattr(self, field, value)
        after = {field: self._event_value(field) for field in changes}
        self.save(update_fields=[*changes, *quiet_changes, "updated_at"])
        event = self.record_event(
            kind,
            by=by,
            before=before,
            after=after,
            reason=reason,
            source_event_id=source_event_id,
            at=at,
        )
        send_licenses_changed([LicenseChange(was, LicenseSnapshot.of(self), event.at)])
        return event

    def _event_value(self, field: str) -> Any:
        if field == "account":
            return self.account.name if self.account_id else None
        if field == "version":
            return self.version.version_number if self.version_id else None
        if field == "lead":
            return str(self.lead) if self.lead_id else None
        return getattr(self, field)

    def _refuse(self, target: str, reason: str | None = None) -> InvalidTransition:
        message = f"Cannot move {self.name} from {self.status} to {target}"
        return InvalidTransition(
            self.status, target, f"{message}: {reason}." if reason else message + "."
        )

    def _check_expiry_ahead(self, expires_at: datetime, *, now: datetime) -> None:
        """An end date set by hand is after the license started and not already past."""
        start = self.trial_started_at or self.installed_at
        if start is not None and expires_at <= start:
            raise ValidationError(
                {
                    "expires_at": f"The expiry must be after the license's start "
                    f"({start:%Y-%m-%d %H:%M} UTC); got {expires_at:%Y-%m-%d %H:%M} UTC."
                },
                code="expiry_before_start",
            )
        if expires_at <= now:
            raise ValidationError(
                {"expires_at": f"The expiry must be in the future; got {expires_at:%Y-%m-%d}."},
                code="expiry_in_past",
            )

    def _check_trial_limit(self, until: datetime) -> None:
        limit = self.trial_limit
        if limit is not None and until > limit:
            raise TrialLimitExceeded(until, limit)

    # --- Transitions ----------------------------------------------------------------------

    @transaction.atomic
    def activate(
        self,
        *,
        by: ActorLike,
        seats: int | None = None,
        expires_at: datetime | None = None,
        reason: str = "",
        now: datetime | None = None,
    ) -> LicenseEvent:
        """The customer bought: trial, expired or suspended becomes active."""
        self.lock_for_change("activate")
        now = now or clock.now()
        self._guard(LicenseStatus.ACTIVE, move="activate", now=now)
        if seats is not None:
            validate_seats(seats)
        if expires_at is not None and expires_at <= now:
            raise ValidationError(
                {"expires_at": "An active license's expiry must be in the future."},
                code="expiry_in_past",
            )
        changes: dict[str, Any] = {"status": LicenseStatus.ACTIVE, "expires_at": expires_at}
        if seats is not None and seats != self.seats:
            changes["seats"] = seats
        quiet: dict[str, Any] = {"status_before_suspension": ""}
        if self.activated_at is None:
            quiet["activated_at"] = now
        return self._apply(
            EventKind.STATUS_CHANGED, changes, by=by, reason=reason, quiet_changes=quiet
        )

    @transaction.atomic
    def suspend(self, *, by: ActorLike, reason: str) -> LicenseEvent:
        """Block the subscriber org's access without uninstalling."""
        self.lock_for_change("suspend")
        if not (reason or "").strip():
            raise ValidationError({"reason": "Say why the license is suspended."}, code="required")
        self._guard(LicenseStatus.SUSPENDED, move="suspend")
        return self._apply(
            EventKind.STATUS_CHANGED,
            {"status": LicenseStatus.SUSPENDED},
            by=by,
            reason=reason.strip(),
            quiet_changes={"status_before_suspension": self.status},
        )

    @transaction.atomic
    def reinstate(
        self, *, by: ActorLike, reason: str = "", now: datetime | None = None
    ) -> LicenseEvent:
        """Lift a suspension: back to the status before it, or expired if its end passed."""
        self.lock_for_change("reinstate")
        now = now or clock.now()
        target = self._status_after_suspension(now)
        self._guard(target, move="reinstate", now=now)
        return self._apply(
            EventKind.STATUS_CHANGED,
            {"status": target},
            by=by,
            reason=reason,
            quiet_changes={"status_before_suspension": ""},
        )

    @transaction.atomic
    def extend_trial(
        self,
        *,
        by: ActorLike,
        until: datetime,
        reason: str = "",
        now: datetime | None = None,
    ) -> LicenseEvent:
        """Move a trial's end (or reopen an expired trial), never past 90 days from its start."""
        self.lock_for_change("extend the trial")
        now = now or clock.now()
        self._guard(LicenseStatus.TRIAL, move="extend_trial", now=now)
        if until is None or until <= now:
            raise ValidationError(
                {"until": "A trial can only be extended to a time in the future."},
                code="until_in_past",
            )
        self._check_trial_limit(until)
        changes: dict[str, Any] = {"expires_at": until}
        kind = EventKind.EXPIRATION_CHANGED
        if self.status != LicenseStatus.TRIAL:
            changes = {"status": LicenseStatus.TRIAL, **changes}
            kind = EventKind.STATUS_CHANGED
        return self._apply(kind, changes, by=by, reason=reason)

    @transaction.atomic
    def expire(self, *, by: ActorLike = None, now: datetime | None = None) -> LicenseEvent:
        """The trial or contract ended: only once expires_at has passed. The sweep expires
        many at once with `expire_due`, writing the same history row."""
        self.lock_for_change("expire")
        now = now or clock.now()
        self._guard(LicenseStatus.EXPIRED, move="expire", now=now)
        if self.expires_at is None or self.expires_at > now:
            when = format_utc(self.expires_at) if self.expires_at else "never"
            raise self._refuse(LicenseStatus.EXPIRED, f"it is not due (expires {when})")
        before, after = self.expired_history(self.status)
        was = LicenseSnapshot.of(self)
        self.status = LicenseStatus.EXPIRED
        self.save(update_fields=["status", "updated_at"])
        event = self.record_event(self.EXPIRED_KIND, by=by, before=before, after=after, at=now)
        send_licenses_changed([LicenseChange(was, LicenseSnapshot.of(self), event.at)])
        return event

    EXPIRED_KIND = EventKind.STATUS_CHANGED

    @staticmethod
    def expired_history(status: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """Before and after of the history row (EXPIRED_KIND) that records an expiry from
        `status`: written by expire() for one license and by the sweep for many."""
        return {"status": status}, {"status": LicenseStatus.EXPIRED}

    @transaction.atomic
    def renew(
        self,
        *,
        by: ActorLike,
        days: int | None = None,
        reason: str = "",
        now: datetime | None = None,
    ) -> LicenseEvent:
        """Add a term (`days`, else the package's license_days) to a license that was
        bought; RENEWAL_RULE says where it starts. An expired license becomes active."""
        self.lock_for_change("renew")
        now = now or clock.now()
        self._guard(LicenseStatus.ACTIVE, move="renew", now=now)
        term = days if days is not None else self.package.license_days
        if term is None:
            raise ValidationError(
                {"days": f"Give the term in days: {self.package.name} has no license_days."},
                code="term_required",
            )
        if not 1 <= term <= MAX_RENEWAL_DAYS:
            raise ValidationError(
                {"days": f"A term is 1 to {MAX_RENEWAL_DAYS} days; got {term}."},
                code="term_out_of_range",
            )
        start = renewal_term_start(self.expires_at, now)
        term_note = f"{term} days from {format_utc(start)}"
        return self._apply(
            EventKind.RENEWED,
            {"status": LicenseStatus.ACTIVE, "expires_at": start + timedelta(days=term)},
            by=by,
            reason=f"{reason}; {term_note}" if reason else f"renewed for {term_note}",
            quiet_changes={"status_before_suspension": ""},
        )

    @transaction.atomic
    def mark_uninstalled(
        self,
        at: datetime,
        *,
        by: ActorLike = Actor.SUBSCRIBER,
        source_event_id: str | None = None,
    ) -> LicenseEvent:
        """The customer uninstalled the package: the record is frozen from now on."""
        self.lock_for_change("mark it uninstalled")
        self._guard(LicenseStatus.UNINSTALLED, move="mark_uninstalled")
        return self._apply(
            EventKind.UNINSTALLED,
            {"status": LicenseStatus.UNINSTALLED, "uninstalled_at": at},
            by=by,
            source_event_id=source_event_id,
            at=at,
            # Kept so a reinstall can carry over the state the license had.
            quiet_changes={"status_before_uninstall": self.status},
        )

    # --- Other edits ----------------------------------------------------------------------

    @transaction.atomic
    def set_seats(self, *, by: ActorLike, seats: int, reason: str = "") -> LicenseEvent | None:
        """Change the seat count (-1 for a site license); None when it already had that many."""
        self.lock_for_change("set seats")
        validate_seats(seats)
        if seats == self.seats:
            return None
        return self._apply(EventKind.SEATS_CHANGED, {"seats": seats}, by=by, reason=reason)

    @transaction.atomic
    def set_expiration(
        self,
        *,
        by: ActorLike,
        expires_at: datetime | None,
        reason: str = "",
        now: datetime | None = None,
    ) -> LicenseEvent | None:
        """Move the end date (None: does not expire) to a time ahead, after the license's
        start; a trial stays within its 90 days."""
        self.lock_for_change("set the expiration")
        if expires_at is not None:
            self._check_expiry_ahead(expires_at, now=now or clock.now())
        if self.is_trial_life and self.status != LicenseStatus.EXPIRED:
            if expires_at is None:
                raise ValidationError(
                    {"expires_at": "A trial must have an end date."}, code="trial_needs_expiry"
                )
            self._check_trial_limit(expires_at)
        if expires_at == self.expires_at:
            return None
        return self._apply(
            EventKind.EXPIRATION_CHANGED, {"expires_at": expires_at}, by=by, reason=reason
        )

    @transaction.atomic
    def assign_account(
        self, *, by: ActorLike, account: Account | None, reason: str = ""
    ) -> LicenseEvent | None:
        """Assign the license to a customer Account in this LMO (None to unassign)."""
        self.lock_for_change("change the account")
        if (account.pk if account else None) == self.account_id:
            return None
        return self._apply(EventKind.ACCOUNT_CHANGED, {"account": account}, by=by, reason=reason)

    @transaction.atomic
    def assign_lead(
        self, *, by: ActorLike, lead: Lead | None, reason: str = ""
    ) -> LicenseEvent | None:
        """Point the license at another lead (a merge folds duplicates into one). The lead
        is not part of what an uninstall freezes, so an uninstalled license follows too."""
        self._lock()
        if (lead.pk if lead else None) == self.lead_id:
            return None
        return self._apply(EventKind.LEAD_CHANGED, {"lead": lead}, by=by, reason=reason)

    @transaction.atomic
    def set_version(
        self,
        version: PackageVersion,
        *,
        by: ActorLike = Actor.SUBSCRIBER,
        source_event_id: str | None = None,
        at: datetime | None = None,
    ) -> LicenseEvent | None:
        """The subscriber upgraded: record the old and new version; installed_at stays."""
        self.lock_for_change("upgrade")
        if version.package_id != self.package_id:
            raise ValidationError(
                {"version": "The version belongs to another package."}, code="wrong_package"
            )
        if version.pk == self.version_id:
            return None
        return self._apply(
            EventKind.UPGRADED,
            {"version": version},
            by=by,
            source_event_id=source_event_id,
            at=at,
        )

    def note_subscriber_event(self, at: datetime) -> None:
        """Remember the newest subscriber event applied, so late, older ones are ignored."""
        if self.last_event_at is None or at > self.last_event_at:
            self.last_event_at = at
            self.save(update_fields=["last_event_at", "updated_at"])

    @transaction.atomic
    def report_usage(
        self,
        used_licenses: int | None,
        *,
        source_event_id: str | None = None,
        at: datetime | None = None,
    ) -> LicenseEvent:
        """Store what the subscriber org reports it uses."""
        self.lock_for_change("report usage")
        if used_licenses is not None and used_licenses < 0:
            raise ValidationError({"used_licenses": "Must be zero or more."}, code="negative")
        changes = {} if used_licenses is None else {"used_licenses": used_licenses}
        return self._apply(
            EventKind.USAGE_REPORTED,
            changes,
            by=Actor.SUBSCRIBER,
            source_event_id=source_event_id,
            at=at,
        )


class LicenseEvent(models.Model):
    """One change to a license: who or what, when, from what to what, and why. Append-only."""

    # Indexed by (license, -at) below.
    license = models.ForeignKey(
        License, on_delete=models.PROTECT, related_name="events", db_index=False
    )
    at = models.DateTimeField()
    actor = models.CharField(max_length=150, help_text="A username, 'system' or 'subscriber'.")
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="license_events",
        db_index=False,  # a partial index below: subscriber and system rows have no user
    )
    kind = models.CharField(max_length=30, choices=EventKind.choices)
    before = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    after = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    reason = models.TextField(blank=True)
    source_event_id = models.CharField(max_length=255, null=True, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["license", "-at"], name="licenseevent_license_at_idx"),
            models.Index(fields=["kind", "-at"], name="licenseevent_kind_at_idx"),
            models.Index(fields=["source_event_id"], name="licenseevent_source_idx"),
            models.Index(
                fields=["actor_user"],
                condition=Q(actor_user__isnull=False),
                name="licenseevent_actor_user_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.license.name} {self.kind} at {self.at:%Y-%m-%d %H:%M}"

    def save(self, *args, **kwargs) -> None:
        # History is append-only: an existing row is never rewritten.
        if self.pk is not None and not kwargs.get("force_insert"):
            raise ValueError("License history is append-only.")
        super().save(*args, **kwargs)

    @classmethod
    def record_many(cls, events: Sequence[LicenseEvent]) -> list[LicenseEvent]:
        """Append history rows built by `License.build_event` in one INSERT; their licenses'
        cached checks are refreshed after commit, and the rows of kinds people hear about
        are named by one outbox notification (same transaction, one email per row). Writing
        one row is the same call."""
        from .cache import license_checks_invalidate
        from .notifications import notify_written

        if any(event.pk is not None for event in events):
            raise ValueError("License history is append-only.")
        created = cls.objects.bulk_create(events)
        license_checks_invalidate(
            dict.fromkeys((event.license.package_id, event.license.org_id) for event in created)
        )
        notify_written(created)
        return created
