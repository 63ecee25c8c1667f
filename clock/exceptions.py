"""The clock's domain errors."""

from __future__ import annotations


class ClockError(Exception):
    """A move of the simulated clock that is refused."""

    code = "clock_error"
    http_status = 422

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
