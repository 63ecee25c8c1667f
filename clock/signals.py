"""Sent after a move of the simulated clock commits, with `offset` and `offset_before`.

The clock knows nothing of what time drives; the apps that run scheduled work listen
(jobs runs the sweeps at once, so a jump of 30 days shows its effect straight away).
"""

from django.dispatch import Signal

clock_moved = Signal()
