from django.core.management.base import BaseCommand, CommandError

from core.salesforce_ids import PACKAGE_PREFIX, try_normalize
from subscribers.choices import REPLAYABLE
from subscribers.models import SubscriberEvent
from subscribers.services import subscriber_events_replay_pks


class Command(BaseCommand):
    help = (
        "Put failed (or unrouted) subscriber events back in the queue and apply them now, "
        "oldest first, through the same drain the workers run."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--status",
            choices=[str(s) for s in REPLAYABLE],
            default="failed",
            help="Which events to replay (default: failed).",
        )
        parser.add_argument("--package-id", help="Only this package's events (033...).")
        parser.add_argument("--event-id", action="append", default=[], help="Only these ids.")

    def handle(self, *args, status: str, package_id: str | None, event_id: list[str], **opts):
        events = SubscriberEvent.objects.filter(outcome=status)
        if package_id:
            normalized = try_normalize(package_id, prefix=PACKAGE_PREFIX)
            if normalized is None:
                raise CommandError(f"{package_id!r} is not a package id (033..., 15 or 18).")
            events = events.filter(package_id=normalized)
        if event_id:
            events = events.filter(event_id__in=event_id)
        pks = list(events.order_by("occurred_at", "id").values_list("pk", flat=True))
        if not pks:
            self.stdout.write(f"No {status} events to replay.")
            return
        self.stdout.write(str(subscriber_events_replay_pks(event_pks=pks)))
