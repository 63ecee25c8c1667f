class LeadError(Exception):
    """Base class for refusals in the leads app."""

    code = "lead_error"
    http_status = 409


class LeadAlreadyConverted(LeadError):
    code = "lead_already_converted"


class LeadMergeError(LeadError):
    code = "lead_merge_refused"
