from django.core.management.base import BaseCommand, CommandError

from core.salesforce_ids import PACKAGE_PREFIX, try_normalize
from packages.models import Package, SubscriberApiKey


class Command(BaseCommand):
    help = (
        "Create a subscriber API key for a package's license check and print it. "
        "The key is shown once; only its hash is stored."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("package_id", help="The package id (033..., 15 or 18 characters).")
        parser.add_argument("--name", default="", help="A label to recognise the key by.")

    def handle(self, *args, package_id: str, name: str, **options) -> None:
        normalized = try_normalize(package_id, prefix=PACKAGE_PREFIX)
        if normalized is None:
            raise CommandError(f"{package_id!r} is not a package id (033..., 15 or 18 characters).")
        package = Package.objects.filter(package_id=normalized).first()
        if package is None:
            raise CommandError(f"No package with id {normalized}.")
        key, raw_key = SubscriberApiKey.issue(package=package, name=name or "command line")
        self.stderr.write(
            f"Created subscriber API key {key.key_prefix}… for {package.namespace}. "
            "Copy it now: it is not shown again."
        )
        self.stdout.write(raw_key)
