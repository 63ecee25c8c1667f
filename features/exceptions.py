class FeatureError(Exception):
    """Base class for refusals in the features app."""

    code = "feature_error"
    http_status = 409

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ParameterImmutable(FeatureError):
    code = "parameter_immutable"


class ParameterLimitReached(FeatureError):
    code = "parameter_limit_reached"


class WrongDirection(FeatureError):
    """An LMO-to-subscriber value set by a subscriber, or the other way round."""

    code = "wrong_direction"
    http_status = 400
