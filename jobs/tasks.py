"""The retry policy every task uses, and the outbox's own tasks.

Tasks are thin and idempotent; each takes primary keys (or nothing) and calls a service.
Apps define their tasks in their own tasks.py with the option sets below.

Retries back off exponentially with jitter and are bounded; the longest countdown
(`LONGEST_COUNTDOWN`) stays below the Redis visibility timeout (checked by jobs.checks),
so a message waiting for its retry is never redelivered early.
"""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError
from django.db import OperationalError as DatabaseOperationalError
from django.utils import timezone

from .outbox import (
    MAX_ATTEMPTS,
    RETRY_BACKOFF_MAX_SECONDS,
    RETRY_BACKOFF_SECONDS,
    OutboxDeliveryError,
    outbox_process,
    outbox_prune,
)
from .outbox import outbox_relay_pending as _outbox_relay_pending
from .services import SweepConflict

# A database that is briefly away (restart, failover) is worth waiting for.
TRANSIENT = (DatabaseOperationalError, InterfaceError)

SWEEP_OPTIONS = {
    "acks_late": True,
    "autoretry_for": (*TRANSIENT, SweepConflict),
    "retry_backoff": 10,
    "retry_backoff_max": 300,
    "retry_jitter": True,
    "max_retries": 5,
    "soft_time_limit": 15 * 60,
    "time_limit": 16 * 60,
}

OUTBOX_OPTIONS = {
    "acks_late": True,
    "autoretry_for": (*TRANSIENT, OutboxDeliveryError),
    "retry_backoff": RETRY_BACKOFF_SECONDS,
    "retry_backoff_max": RETRY_BACKOFF_MAX_SECONDS,
    "retry_jitter": True,
    # The first run plus these retries give every message MAX_ATTEMPTS tries.
    "max_retries": MAX_ATTEMPTS - 1,
    # Room for a chunk of RELAY_CHUNK emails to a slow mail server.
    "soft_time_limit": 10 * 60,
    "time_limit": 11 * 60,
}

RELAY_OPTIONS = {
    "acks_late": True,
    "autoretry_for": TRANSIENT,
    "retry_backoff": 5,
    "retry_backoff_max": 30,
    "retry_jitter": True,
    "max_retries": 2,
    "soft_time_limit": 50,
    "time_limit": 60,
}

LONGEST_COUNTDOWN = max(
    options["retry_backoff_max"] for options in (SWEEP_OPTIONS, OUTBOX_OPTIONS, RELAY_OPTIONS)
)


@shared_task(name="jobs.process_outbox_messages", bind=True, **OUTBOX_OPTIONS)
def process_outbox_messages(self, message_ids: list[int]) -> dict[str, int]:
    """Do the side effect of each outbox message once. The task id (kept by its retries)
    holds the messages' leases."""
    return outbox_process(message_ids=message_ids, holder=self.request.id or "")


@shared_task(name="jobs.relay_pending_outbox", **RELAY_OPTIONS)
def relay_pending_outbox() -> int:
    """Relay outbox messages the relay after commit could not hand over; prune old ones."""
    now = timezone.now()
    relayed = _outbox_relay_pending(now=now)
    outbox_prune(now=now)
    return relayed
