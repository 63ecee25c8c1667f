"""The outbox: side effects written in the same transaction as the change they follow.

A message is a row, so it commits or rolls back with the change. Its topic is the name of
the Celery task that does its work, called with its payload; the outbox knows nothing of
what that work means. After commit the message is handed to the worker (`outbox_relay`);
if the broker is down it stays pending and the relay job (beat, every few seconds) hands
it over later. First installs, the bulk of subscriber
traffic, skip the relay after commit altogether and are left to that job, which hands over
up to RELAY_CHUNK messages per broker round trip instead of one per request. The consumer
claims each row with a conditional UPDATE, so a message relayed twice does its work once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from functools import partial
from itertools import islice
from typing import Any

from celery import current_app
from django.db import transaction
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone

from .choices import OUTBOX_CLAIMABLE, OutboxStatus
from .models import OutboxMessage

logger = logging.getLogger(__name__)

# Messages per task: one broker round trip covers many rows, and a retry stays small
# (messages already done are skipped when a task is retried).
RELAY_CHUNK = 200
# The consumer gives up on a message after this many failed attempts (then: failed).
MAX_ATTEMPTS = 8
# Pending this long after commit: the relay after commit did not reach the broker, or the
# message was written without one (first installs). Long enough that the relay job does not
# race a relay after commit that is still under way.
RERELAY_PENDING_AFTER = timedelta(seconds=10)
# Sent this long ago and still not done: the broker lost it (e.g. restarted without a disk).
# Longer than the consumer's whole retry schedule, so a message still retrying is left alone.
RERELAY_SENT_AFTER = timedelta(hours=3)
RERELAY_LIMIT = 2000
DONE_RETENTION = timedelta(days=30)
LAST_ERROR_MAX = 2000

# A request must not hang on a broker that is down: one quick retry, then leave it pending.
PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.5}


class OutboxDeliveryError(Exception):
    """Some messages of a task failed; they are retried, the others are already done."""


def chunked(values: Iterable[int], size: int) -> Iterable[list[int]]:
    iterator = iter(values)
    while chunk := list(islice(iterator, size)):
        yield chunk


def outbox_enqueue(*, topic: str, payload: dict[str, Any], now: datetime | None = None) -> int:
    """Write one message in the caller's transaction; relay it to the worker after commit.
    `topic` names the Celery task that does the work, given `payload`."""
    message = OutboxMessage.objects.create(
        topic=topic, payload=payload, created_at=now or timezone.now()
    )
    transaction.on_commit(partial(outbox_relay, message_ids=[message.pk]), robust=True)
    return message.pk


def outbox_relay(*, message_ids: Sequence[int]) -> int:
    """Hand messages to the worker; any the broker refuses stay pending for the re-relay job.

    Returns how many were handed over. Never raises for a broker error: this runs after a
    commit, and the change it follows has already happened.
    """
    from .tasks import process_outbox_messages

    # Marked before publishing, so a fast consumer never waits for this UPDATE.
    dispatched_at = timezone.now()
    OutboxMessage.objects.filter(pk__in=message_ids, status__in=OUTBOX_CLAIMABLE).update(
        status=OutboxStatus.SENT, dispatched_at=dispatched_at, relays=F("relays") + 1
    )
    relayed = 0
    for ids in chunked(message_ids, RELAY_CHUNK):
        try:
            process_outbox_messages.apply_async(
                args=[ids], retry=True, retry_policy=PUBLISH_RETRY_POLICY
            )
        except Exception as exc:
            # Broker down (or, with eager tasks, the consumer failed): back to pending, with
            # the reason, for the re-relay job.
            logger.warning("Outbox relay of %d message(s) failed: %s", len(ids), exc)
            OutboxMessage.objects.filter(
                pk__in=ids, status=OutboxStatus.SENT, dispatched_at=dispatched_at
            ).update(status=OutboxStatus.PENDING, last_error=f"relay: {exc}"[:LAST_ERROR_MAX])
            continue
        relayed += len(ids)
    return relayed


def outbox_relay_pending(*, now: datetime, limit: int = RERELAY_LIMIT) -> int:
    """Relay what is still pending a few seconds after commit, or was sent but lost."""
    stale = Q(status=OutboxStatus.PENDING, created_at__lte=now - RERELAY_PENDING_AFTER) | Q(
        status=OutboxStatus.SENT, dispatched_at__lte=now - RERELAY_SENT_AFTER
    )
    ids = list(
        OutboxMessage.objects.filter(stale)
        .order_by("created_at")
        .values_list("pk", flat=True)[:limit]
    )
    return outbox_relay(message_ids=ids) if ids else 0


def outbox_prune(*, now: datetime, retention: timedelta = DONE_RETENTION) -> int:
    """Delete messages done long ago (a bounded number per call)."""
    ids = list(
        OutboxMessage.objects.filter(
            status=OutboxStatus.DONE, processed_at__lt=now - retention
        ).values_list("pk", flat=True)[:RERELAY_LIMIT]
    )
    if not ids:
        return 0
    deleted, _ = OutboxMessage.objects.filter(pk__in=ids).delete()
    return deleted


def _task(name: str) -> Any:
    """The registered Celery task called `name` (a web process imports the apps' task
    modules the first time, as a worker does when it starts)."""
    if name not in current_app.tasks:
        current_app.loader.import_default_modules()
    return current_app.tasks[name]


def outbox_process(*, message_ids: Sequence[int]) -> dict[str, int]:
    """Do each message's work once: claim it (pending or sent -> done) and act in one
    transaction, so a failure rolls the claim back and a second relay finds it done.

    Returns counts of done, skipped (already done or failed) and failed-this-time messages;
    raises OutboxDeliveryError after trying them all if any failed, so the task retries.
    """
    counts = {"done": 0, "skipped": 0, "failed": 0}
    errors: list[str] = []
    for pk in message_ids:
        try:
            with transaction.atomic():
                # A concurrent consumer of the same row waits here for our commit, then finds
                # it done and updates nothing.
                claimed = OutboxMessage.objects.filter(pk=pk, status__in=OUTBOX_CLAIMABLE).update(
                    status=OutboxStatus.DONE, processed_at=timezone.now()
                )
                if not claimed:
                    counts["skipped"] += 1
                    continue
                message = OutboxMessage.objects.only("topic", "payload").get(pk=pk)
                # Run here, in this transaction: a failure rolls the claim back.
                _task(message.topic).run(message.payload)
        except Exception as exc:
            counts["failed"] += 1
            errors.append(f"#{pk}: {exc}")
            _record_failure(pk, exc)
        else:
            counts["done"] += 1
    if errors:
        raise OutboxDeliveryError("; ".join(errors)[:LAST_ERROR_MAX])
    return counts


def _record_failure(pk: int, exc: Exception) -> None:
    logger.warning("Outbox message %s failed: %s", pk, exc)
    OutboxMessage.objects.filter(pk=pk, status__in=OUTBOX_CLAIMABLE).update(
        attempts=F("attempts") + 1,
        last_error=f"{type(exc).__name__}: {exc}"[:LAST_ERROR_MAX],
        status=Case(
            When(attempts__gte=MAX_ATTEMPTS - 1, then=Value(OutboxStatus.FAILED)),
            default=F("status"),
        ),
    )
