import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from staff.roles import GROUP_NAMES, Role


class Command(BaseCommand):
    help = "Create (or update) a staff user with one role, and print the login."

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=[role.value for role in Role])
        parser.add_argument("--email", default="")
        parser.add_argument("--password", help="Defaults to a random password, printed once.")

    @transaction.atomic
    def handle(self, *args, username: str, role: str, email: str, password: str | None, **options):
        User = get_user_model()
        try:
            group = Group.objects.get(name=GROUP_NAMES[Role(role)])
        except Group.DoesNotExist as exc:
            raise CommandError("Role groups are missing: run `manage.py migrate` first.") from exc
        password = password or secrets.token_urlsafe(12)
        user, created = User.objects.get_or_create(username=username, defaults={"email": email})
        user.is_staff = True
        if email:
            user.email = email
        user.set_password(password)
        user.save()
        user.groups.set([group])
        verb = "Created" if created else "Updated"
        self.stdout.write(f"{verb} {username} ({group.name}); password: {password}")
