"""API tokens for scripts: stored as a hash (django-rest-knox), the key shown once."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone
from knox.auth import TokenAuthentication
from knox.models import AuthToken


def api_token_create(*, user, expires_at: datetime | None) -> tuple[AuthToken, str]:
    """Create a token acting as `user`; returns it and its key (never stored, never shown
    again). `expires_at` None: it lasts until revoked."""
    token, key = AuthToken.objects.create(user=user, expiry=None)
    if expires_at is not None:
        token.expiry = expires_at
        token.save(update_fields=["expiry"])
    return token, key


class ApiTokenAuthentication(TokenAuthentication):
    """`Authorization: Token <key>`, checked against the stored hash.

    Knox also sweeps the user's other expired tokens on every request (one more query per
    API call); here an expired token is refused and deleted when it is used, and the others
    wait for their own use or a revoke.
    """

    def _cleanup_token(self, auth_token: AuthToken) -> bool:
        if auth_token.expiry is not None and auth_token.expiry < timezone.now():
            auth_token.delete()
            return True
        return False
