"""Create an API token for a user and print its key once (only its hash is stored)."""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from staff.tokens import api_token_create


class Command(BaseCommand):
    help = "Create an API token for USERNAME and print it (it cannot be shown again)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")
        parser.add_argument(
            "--days",
            type=int,
            default=None,
            help="Expire the token after this many days (default: until revoked).",
        )

    def handle(self, *args, username: str, days: int | None, **options) -> None:
        User = get_user_model()
        try:
            user = User.objects.get(username=username)
        except User.DoesNotExist as exc:
            raise CommandError(f"No user named {username!r}.") from exc
        if days is not None and not 1 <= days <= 3650:
            raise CommandError("--days must be between 1 and 3650.")
        expires_at = timezone.now() + timedelta(days=days) if days else None
        _token, key = api_token_create(user=user, expires_at=expires_at)
        self.stdout.write(f"Generated token {key} for user {username}")
