"""API tokens for scripts: stored as a hash (django-rest-knox), the key shown once."""

from __future__ import annotations

from datetime import datetime

from knox.models import AuthToken


def api_token_create(*, user, expires_at: datetime | None) -> tuple[AuthToken, str]:
    """Create a token acting as `user`; returns it and its key (never stored, never shown
    again). `expires_at` None: it lasts until revoked."""
    token, key = AuthToken.objects.create(user=user, expiry=None)
    if expires_at is not None:
        token.expiry = expires_at
        token.save(update_fields=["expiry"])
    return token, key
