import os
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from lmo.demo import load_demo_data
from staff.roles import GROUP_NAMES, Role


class Command(BaseCommand):
    help = (
        "Create the demo superuser, one demo user per role, and demo data (idempotent). "
        "Refuses to run with DEBUG off unless --allow-without-debug is given."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--allow-without-debug",
            action="store_true",
            help="Load the demo even though DEBUG is off (a staging copy, never production).",
        )

    @transaction.atomic
    def handle(self, *args, allow_without_debug: bool = False, **options) -> None:
        if not settings.DEBUG and not allow_without_debug:
            # Demo logins on a production database would be a way in for anyone.
            raise CommandError(
                "DEBUG is off: demo users and data are not loaded. "
                "Pass --allow-without-debug to load them anyway."
            )
        # No fixed fallback: without DEMO_PASSWORD the demo logins get a random password.
        password = os.environ.get("DEMO_PASSWORD") or secrets.token_urlsafe(12)
        User = get_user_model()
        logins = []
        admin, _ = User.objects.get_or_create(
            username="admin", defaults={"email": "admin@partner.example"}
        )
        admin.is_staff = admin.is_superuser = True
        admin.set_password(password)
        admin.save()
        logins.append(("admin", "superuser"))
        for role in Role:
            user, _ = User.objects.get_or_create(
                username=f"demo-{role.value}", defaults={"email": f"{role.value}@partner.example"}
            )
            user.is_staff = True
            user.set_password(password)
            user.save()
            user.groups.set([Group.objects.get(name=GROUP_NAMES[role])])
            logins.append((user.username, role.label))
        created = load_demo_data()
        self.stdout.write(self.style.SUCCESS("Demo ready."))
        self.stdout.write(
            f"  Licenses created now: {created} (0 means the demo data was already there)"
        )
        self.stdout.write(f"  Logins (password for all: {password}):")
        for username, label in logins:
            self.stdout.write(f"    {username:<14} {label}")
        webhook_secrets = (
            " ".join(settings.LMO_WEBHOOK_SECRETS) or "(none: set LMO_WEBHOOK_SECRETS)"
        )
        self.stdout.write(f"  Webhook secret: {webhook_secrets}")
        self.stdout.write("  Console: http://127.0.0.1:8000/admin/")
