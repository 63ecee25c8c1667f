"""Reads about the clock: what /healthz reports and the console shows."""

from __future__ import annotations

from typing import Any

from lmo import clock


def clock_report() -> dict[str, Any]:
    """Whether the rules run on real time, and if not, how far the clock is moved."""
    offset = clock.offset()
    return {
        "simulated": clock.is_simulated(),
        "offset_seconds": int(offset.total_seconds()),
        "now": clock.now().isoformat(),
    }
