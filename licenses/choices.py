"""License statuses and the one table of moves between them."""

from django.db import models


class LicenseStatus(models.TextChoices):
    TRIAL = "trial", "Trial"
    ACTIVE = "active", "Active"
    SUSPENDED = "suspended", "Suspended"
    EXPIRED = "expired", "Expired"
    UNINSTALLED = "uninstalled", "Uninstalled"


class OrgType(models.TextChoices):
    PRODUCTION = "production", "Production"
    SANDBOX = "sandbox", "Sandbox"


# The single source of truth for which status may follow which, and by which move (the
# License method that makes it). The model's `_guard` reads it before every move, the
# action registry (licenses/actions.py) reads it to offer an action only where it can
# succeed, and the sweep reads it to know what expires. The model methods add only the
# conditions that depend on the license itself (expiry passed, trial never bought, 90-day
# cap, the status before a suspension).
_S = LicenseStatus
ALLOWED_TRANSITIONS: dict[str, dict[str, frozenset[str]]] = {
    _S.TRIAL: {
        # A trial's end moves within its 90 days; it stays a trial.
        _S.TRIAL: frozenset({"extend_trial"}),
        _S.ACTIVE: frozenset({"activate"}),
        _S.SUSPENDED: frozenset({"suspend"}),
        _S.EXPIRED: frozenset({"expire"}),
        _S.UNINSTALLED: frozenset({"mark_uninstalled"}),
    },
    # Never back to trial: once bought, a license cannot become a trial again.
    _S.ACTIVE: {
        # A renewal adds a term; the license stays active.
        _S.ACTIVE: frozenset({"renew"}),
        _S.SUSPENDED: frozenset({"suspend"}),
        _S.EXPIRED: frozenset({"expire"}),
        _S.UNINSTALLED: frozenset({"mark_uninstalled"}),
    },
    # Trial and expired are reached from suspended only by reinstating (back to what it was).
    _S.SUSPENDED: {
        _S.TRIAL: frozenset({"reinstate"}),
        _S.ACTIVE: frozenset({"activate", "reinstate"}),
        _S.EXPIRED: frozenset({"reinstate"}),
        _S.UNINSTALLED: frozenset({"mark_uninstalled"}),
    },
    _S.EXPIRED: {
        # The customer buys (activate), or a license that was bought is renewed.
        _S.ACTIVE: frozenset({"activate", "renew"}),
        _S.TRIAL: frozenset({"extend_trial"}),
        _S.SUSPENDED: frozenset({"suspend"}),
        _S.UNINSTALLED: frozenset({"mark_uninstalled"}),
    },
    _S.UNINSTALLED: {},
}


# Why the table refuses a move, where "cannot move from X to Y" alone would not say:
# by (status, move), or by move for every status.
REFUSAL_REASONS: dict[tuple[str, str] | str, str] = {
    (_S.ACTIVE, "extend_trial"): "a license that was bought cannot become a trial again",
    "reinstate": "only a suspended license can be reinstated",
    (_S.TRIAL, "renew"): "a trial cannot be renewed; activate it instead",
    "renew": "only an active or expired license that was bought can be renewed",
}

# Renewal (License.renew): where the new term starts, said once for the model, the
# console's form and the API's description.
RENEWAL_RULE = (
    "The new term starts at the old end if it has not passed yet, otherwise now; "
    "an expired license becomes active again."
)
MAX_RENEWAL_DAYS = 3660


def is_allowed(current: str, target: str, move: str | None = None) -> bool:
    """May a license in `current` move to `target` (by `move`, when given)?"""
    moves = ALLOWED_TRANSITIONS.get(current, {}).get(target)
    return moves is not None and (move is None or move in moves)


def moves_from(status: str) -> frozenset[str]:
    """Every move the table allows from `status`."""
    return frozenset().union(*ALLOWED_TRANSITIONS.get(status, {}).values())


def statuses_allowing(move: str) -> frozenset[str]:
    """Every status from which the table allows `move`."""
    return frozenset(status for status in ALLOWED_TRANSITIONS if move in moves_from(status))


# Statuses a license never leaves (nothing in the table leads out of them): frozen records.
TERMINAL_STATUSES = frozenset(status for status, moves in ALLOWED_TRANSITIONS.items() if not moves)
# Statuses that grant access, until expires_at when it is set.
LIVE_STATUSES = frozenset({_S.TRIAL, _S.ACTIVE})
# Statuses the expiry sweep moves to expired once expires_at has passed.
EXPIRING_STATUSES = statuses_allowing("expire")


class Actor(models.TextChoices):
    """Who caused a history row when it was not a staff user."""

    SYSTEM = "system", "System"
    SUBSCRIBER = "subscriber", "Subscriber"
    USER = "user", "User"


class EventKind(models.TextChoices):
    INSTALLED = "installed", "Installed"
    REINSTALLED = "reinstalled", "Reinstalled"
    UPGRADED = "upgraded", "Upgraded"
    STATUS_CHANGED = "status_changed", "Status changed"
    SEATS_CHANGED = "seats_changed", "Seats changed"
    EXPIRATION_CHANGED = "expiration_changed", "Expiration changed"
    ACCOUNT_CHANGED = "account_changed", "Account changed"
    LEAD_CHANGED = "lead_changed", "Lead changed"
    FEATURE_CHANGED = "feature_changed", "Feature changed"
    USAGE_REPORTED = "usage_reported", "Usage reported"
    UNINSTALLED = "uninstalled", "Uninstalled"
    EXPIRING_SOON = "expiring_soon", "Expiring soon"
    GRACE_STARTED = "grace_started", "Grace period started"
    RENEWED = "renewed", "Renewed"


TRIAL_MAX_DAYS = 90
# What the license check answers for a trial or active license past its end, within grace.
GRACE_CODE = "GRACE"
