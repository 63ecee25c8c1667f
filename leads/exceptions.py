"""The leads app's domain errors."""

from core.exceptions import DomainError


class LeadError(DomainError):
    """Base class for refusals in the leads app."""

    code = "lead_error"


class LeadAlreadyConverted(LeadError):
    code = "lead_already_converted"


class LeadMergeError(LeadError):
    code = "lead_merge_refused"
