from django.core.management.base import BaseCommand

from staff.roles import GROUP_NAMES, sync_role_groups


class Command(BaseCommand):
    help = "Create the role groups and reset their permissions to the roles table."

    def handle(self, *args, **options) -> None:
        sync_role_groups(verbosity=options["verbosity"])
        self.stdout.write(f"Synced groups: {', '.join(GROUP_NAMES.values())}")
