from django.core.management.base import BaseCommand, CommandError

from core.salesforce_ids import PACKAGE_PREFIX, try_normalize
from packages.models import Package
from subscribers.services import subscriber_events_replay


class Command(BaseCommand):
    help = "Apply a package's unrouted subscriber events, oldest first, once it is linked."

    def add_arguments(self, parser) -> None:
        parser.add_argument("package_id", help="The package id (033..., 15 or 18 characters).")

    def handle(self, *args, package_id: str, **options) -> None:
        normalized = try_normalize(package_id, prefix=PACKAGE_PREFIX)
        if normalized is None:
            raise CommandError(f"{package_id!r} is not a package id (033..., 15 or 18 characters).")
        package = Package.objects.filter(package_id=normalized).first()
        if package is None:
            raise CommandError(f"No package with id {normalized}.")
        result = subscriber_events_replay(package=package)
        if not package.license_manager_linked:
            raise CommandError(str(result))
        self.stdout.write(str(result))
