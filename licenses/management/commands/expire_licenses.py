"""Run the expiry sweep by hand: what beat runs every few minutes."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from jobs.services import DEFAULT_BATCH_SIZE
from licenses.sweeps import licenses_due_for_expiry, licenses_expire_due, licenses_sweep_due
from lmo import clock


class Command(BaseCommand):
    help = (
        "Expire every trial and active license past its expires_at and its package's grace, "
        "one history row each (and record licenses entering grace). --dry-run lists what "
        "would expire and changes nothing."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="List what would expire; change nothing."
        )
        parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)

    def handle(self, *args, dry_run: bool, batch_size: int, **options) -> None:
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        now = clock.now()
        if dry_run:
            result = licenses_expire_due(now=now, batch_size=batch_size, dry_run=True)
        else:
            result = licenses_sweep_due(now=now, batch_size=batch_size)
        if not dry_run:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Expired {result.count} license(s) in {result.batches} batch(es) "
                    f"(due at {now:%Y-%m-%d %H:%M:%S} UTC)."
                )
            )
            return
        self.stdout.write(
            f"Dry run: {result.count} license(s) would expire "
            f"(due at {now:%Y-%m-%d %H:%M:%S} UTC); nothing was changed."
        )
        due = (
            licenses_due_for_expiry(now=now)
            .select_related("package")
            .only("pk", "org_id", "org_name", "status", "expires_at", "package__name")
            .order_by("expires_at", "pk")
        )
        for license in due.iterator(chunk_size=2000):
            self.stdout.write(
                f"  {license.name}  {license.org_name or license.org_id}  "
                f"{license.package.name}  {license.status}, "
                f"ended {license.expires_at:%Y-%m-%d %H:%M} UTC"
            )
