"""Reads about staff users that forms across the console need."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet

from .roles import GROUP_NAMES, Role


def lead_owner_choices(*, current_id: int | None = None) -> QuerySet:
    """Active Partner Ops users, who work leads and accounts; a current owner stays listed."""
    allowed = Q(is_active=True, groups__name=GROUP_NAMES[Role.OPS])
    if current_id is not None:
        allowed |= Q(pk=current_id)
    return get_user_model().objects.filter(allowed).distinct().order_by("username")
