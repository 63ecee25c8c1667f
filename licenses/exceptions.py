"""The licenses app's domain errors. The API maps each to its HTTP status in one place."""

from __future__ import annotations

from datetime import datetime

from core.dates import format_utc
from core.exceptions import DomainError


class LicenseError(DomainError):
    """A change the license's rules refuse."""

    code = "license_error"


class InvalidTransition(LicenseError):
    """A status move the transition table or the license's state does not allow."""

    code = "invalid_transition"

    def __init__(self, current: str, target: str, message: str | None = None) -> None:
        self.current = current
        self.target = target
        super().__init__(message or f"Cannot move a license from {current} to {target}.")


class LicenseLocked(LicenseError):
    """The license is uninstalled: its record is frozen."""

    code = "license_locked"

    def __init__(self, license_name: str, action: str) -> None:
        super().__init__(
            f"{license_name} is uninstalled and can no longer be changed (tried to {action})."
        )


class TrialLimitExceeded(LicenseError):
    """A trial would run past 90 days from its start."""

    code = "trial_limit_exceeded"
    http_status = 422

    def __init__(self, requested: datetime, limit: datetime) -> None:
        self.requested = requested
        self.limit = limit
        shown_limit, shown_requested = format_utc(limit), format_utc(requested)
        if shown_limit == shown_requested:
            shown_requested = f"a few seconds later ({requested:%H:%M:%S})"
        super().__init__(
            f"A trial can last at most 90 days from its start: it must end by "
            f"{shown_limit}, not {shown_requested}."
        )
