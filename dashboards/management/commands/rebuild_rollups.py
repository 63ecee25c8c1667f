"""Recompute the dashboards' rollup from the licenses and their history."""

import time

from django.core.management.base import BaseCommand

from dashboards.rollup import rollup_rebuild


class Command(BaseCommand):
    help = (
        "Recompute every dashboard rollup table from the licenses and their history (after "
        "a restore, a bulk import, or to check the kept rollup)."
    )

    def handle(self, *args, **options) -> None:
        started = time.monotonic()
        written = rollup_rebuild()
        for table, rows in written.items():
            self.stdout.write(f"{table}: {rows} rows")
        self.stdout.write(self.style.SUCCESS(f"Rebuilt in {time.monotonic() - started:.1f}s."))
