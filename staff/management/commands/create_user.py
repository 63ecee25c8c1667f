import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from staff.roles import GROUP_NAMES, Role

# A staff user who may sign in but sees no license data until a role is given.
NO_ROLE = "none"


class Command(BaseCommand):
    help = "Create (or update) a staff user with one role, and print the login."

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")
        parser.add_argument(
            "--role",
            required=True,
            choices=[*(role.value for role in Role), NO_ROLE],
            help=f"'{NO_ROLE}': a staff login that sees no license data until given a role.",
        )
        parser.add_argument("--email", default="")
        parser.add_argument("--password", help="Defaults to a random password, printed once.")

    @transaction.atomic
    def handle(self, *args, username: str, role: str, email: str, password: str | None, **options):
        User = get_user_model()
        groups = []
        if role != NO_ROLE:
            try:
                groups = [Group.objects.get(name=GROUP_NAMES[Role(role)])]
            except Group.DoesNotExist as exc:
                raise CommandError(
                    "Role groups are missing: run `manage.py migrate` first."
                ) from exc
        password = password or secrets.token_urlsafe(12)
        user, created = User.objects.get_or_create(username=username, defaults={"email": email})
        user.is_staff = True
        if email:
            user.email = email
        user.set_password(password)
        user.save()
        user.groups.set(groups)
        verb = "Created" if created else "Updated"
        label = groups[0].name if groups else "no role"
        self.stdout.write(f"{verb} {username} ({label}); password: {password}")
