"""The licenses app's domain errors. The API maps each to its HTTP status in one place."""

from __future__ import annotations

from datetime import datetime

from lmo.dates import format_utc_pair


class LicenseError(Exception):
    """A change the license's rules refuse."""

    code = "license_error"
    http_status = 409

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


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
        latest, asked = format_utc_pair(limit, requested)
        super().__init__(
            f"A trial can last at most 90 days from its start: it must end by {latest}, "
            f"not {asked}."
        )
