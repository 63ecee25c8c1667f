"""The one family of domain errors: a rule refused a change.

Every app's errors derive from DomainError, so the API's exception handler and the console
know only this class: its `code` (machine-readable), `http_status` (409 for a conflict with
the record's state, 422 for a request understood but refused, 400 for bad input) and
`message` (for a person to read).
"""

from __future__ import annotations


class DomainError(Exception):
    """A change the domain's rules refuse; nothing was written."""

    code = "domain_error"
    http_status = 409

    def __init__(
        self, message: str, *, code: str | None = None, http_status: int | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if http_status is not None:
            self.http_status = http_status
