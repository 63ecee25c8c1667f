"""What beat runs every few minutes, at a chosen instant."""

from features.services import feature_overrides_sweep
from licenses.sweeps import licenses_sweep_due


def sweep_due(*, now):
    """The license sweep (grace noted, expiries) and the end of lapsed feature overrides."""
    feature_overrides_sweep(now=now)
    return licenses_sweep_due(now=now)
