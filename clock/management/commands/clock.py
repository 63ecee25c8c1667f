"""manage.py clock show | advance 30d | set 2027-03-01T09:00Z | reset"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from lmo import clock as lmo_clock

from ...exceptions import ClockError
from ...services import (
    clock_advance,
    clock_reset,
    clock_set,
    format_offset,
    parse_duration,
    parse_instant,
)


class Command(BaseCommand):
    help = "Show or move the simulated clock (needs LMO_SIMULATED_CLOCK=1)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="verb", required=True)
        sub.add_parser("show", help="Print the clock's time and offset.")
        advance = sub.add_parser("advance", help="Move forward by a duration: 30d, 12h, 2w.")
        advance.add_argument("duration")
        to = sub.add_parser("set", help="Move forward to a time: 2027-03-01T09:00Z.")
        to.add_argument("instant")
        sub.add_parser("reset", help="Back to real time.")

    def handle(self, *args, verb: str, **options) -> None:
        change = None
        try:
            if verb == "advance":
                change = clock_advance(
                    by="system",
                    delta=parse_duration(options["duration"]),
                    note=f"manage.py clock advance {options['duration']}",
                )
            elif verb == "set":
                change = clock_set(
                    by="system",
                    to=parse_instant(options["instant"]),
                    note=f"manage.py clock set {options['instant']}",
                )
            elif verb == "reset":
                change = clock_reset(by="system", note="manage.py clock reset")
        except ClockError as exc:
            raise CommandError(exc.message) from exc
        # What was just written, not a cached read that its commit has yet to refresh.
        offset = change.offset if change is not None else lmo_clock.offset()
        real = timezone.now()
        state = "on" if lmo_clock.simulated_clock_enabled() else "off (LMO_SIMULATED_CLOCK)"
        self.stdout.write(f"simulated clock: {state}")
        self.stdout.write(f"now:       {(real + offset).isoformat(timespec='seconds')}")
        self.stdout.write(f"real time: {real.isoformat(timespec='seconds')}")
        self.stdout.write(f"offset:    {format_offset(offset)} ({int(offset.total_seconds())} s)")
