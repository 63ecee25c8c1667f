"""The features app's domain errors."""

from core.exceptions import DomainError


class FeatureError(DomainError):
    """Base class for refusals in the features app."""

    code = "feature_error"


class ParameterImmutable(FeatureError):
    code = "parameter_immutable"


class ParameterLimitReached(FeatureError):
    code = "parameter_limit_reached"


class WrongDirection(FeatureError):
    """An LMO-to-subscriber value set by a subscriber, or the other way round."""

    code = "wrong_direction"
    http_status = 400
