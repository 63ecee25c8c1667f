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


# Statuses that can grant access (subject to expires_at).
LIVE_STATUSES = frozenset({LicenseStatus.TRIAL, LicenseStatus.ACTIVE})
# Statuses a license never leaves.
TERMINAL_STATUSES = frozenset({LicenseStatus.UNINSTALLED})
# Statuses the expiry sweep looks at.
EXPIRING_STATUSES = frozenset({LicenseStatus.TRIAL, LicenseStatus.ACTIVE})

# The single source of truth for which status may follow which. The model methods add
# the conditions that depend on the license itself (expiry passed, trial never bought,
# 90-day cap, the status before a suspension).
ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    LicenseStatus.TRIAL: frozenset(
        {
            LicenseStatus.ACTIVE,
            LicenseStatus.SUSPENDED,
            LicenseStatus.EXPIRED,
            LicenseStatus.UNINSTALLED,
        }
    ),
    LicenseStatus.ACTIVE: frozenset(
        {LicenseStatus.SUSPENDED, LicenseStatus.EXPIRED, LicenseStatus.UNINSTALLED}
    ),
    # trial and expired are reached from suspended only by reinstating (back to what it was).
    LicenseStatus.SUSPENDED: frozenset(
        {
            LicenseStatus.TRIAL,
            LicenseStatus.ACTIVE,
            LicenseStatus.EXPIRED,
            LicenseStatus.UNINSTALLED,
        }
    ),
    LicenseStatus.EXPIRED: frozenset(
        {
            LicenseStatus.ACTIVE,
            LicenseStatus.TRIAL,
            LicenseStatus.SUSPENDED,
            LicenseStatus.UNINSTALLED,
        }
    ),
    LicenseStatus.UNINSTALLED: frozenset(),
}


# A renewal adds a term to a license that was bought: an active one keeps its status, an
# expired one moves to active (a move the table above must allow).
RENEWABLE_STATUSES = frozenset({LicenseStatus.ACTIVE, LicenseStatus.EXPIRED})
RENEWAL_RULE = (
    "The new term starts at the old end if it has not passed yet, otherwise now; "
    "an expired license becomes active again."
)
MAX_RENEWAL_DAYS = 3660


def is_allowed(current: str, target: str) -> bool:
    return target in ALLOWED_TRANSITIONS.get(current, frozenset())


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
    FEATURE_CHANGED = "feature_changed", "Feature changed"
    USAGE_REPORTED = "usage_reported", "Usage reported"
    UNINSTALLED = "uninstalled", "Uninstalled"
    EXPIRING_SOON = "expiring_soon", "Expiring soon"
    GRACE_STARTED = "grace_started", "Grace period started"
    RENEWED = "renewed", "Renewed"


TRIAL_MAX_DAYS = 90
# What the license check answers for a trial or active license past its end, within grace.
GRACE_CODE = "GRACE"
