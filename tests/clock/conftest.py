import pytest


@pytest.fixture
def simulated_clock(settings, db):
    """LMO_SIMULATED_CLOCK on, starting at real time."""
    settings.LMO_SIMULATED_CLOCK = True
    return settings
