"""The outbox: side effects written in the same transaction as the change they follow.

A message is a row, so it commits or rolls back with the change. Its topic is the name of
the Celery task that does its work, called with its payload; the outbox knows nothing of
what that work means. After commit the message is handed to the worker (`outbox_relay`);
if the broker is down it stays pending and the relay job (beat, every few seconds) hands
it over later; the relay job hands pending messages over RELAY_CHUNK per broker round trip.
A write of many rows (a drain's chunk of first installs, a sweep's batch) writes one message
naming them all, so the consumer's bookkeeping is paid once per write.

Publishing is bounded (the broker's socket timeouts, no retry in the request, and a short
pause after a failure during which requests leave their messages to the relay job), so a
broker that is down or hangs never holds a request whose change has committed.

The consumer leases each message (a conditional UPDATE), so a message relayed twice is
worked on by one consumer at a time, and records each piece of work (each email) as done in
its own commit right after doing it (`deliver_once`): a consumer killed mid-message leaves
the rest to the next one, which redoes at most the piece that was in flight. A message a
dead consumer held is relayed again once its lease has run out, minutes later.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from itertools import islice
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import Case, F, Min, Q, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from .choices import OUTBOX_CLAIMABLE, OutboxStatus
from .models import OutboxDelivery, OutboxMessage

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
# Handed over this long ago, not done and held by nobody: the broker lost it, or the consumer
# that had it died (kill -9, out of memory). Minutes, so a crash delays email by minutes
# (LMO_OUTBOX_STUCK_AFTER_SECONDS, 5 minutes by default).
RERELAY_SENT_AFTER = timedelta(seconds=settings.LMO_OUTBOX_STUCK_AFTER_SECONDS)
# How long a consumer holds a message; renewed by each piece of work it records, so only a
# consumer that stopped making progress loses it (LMO_OUTBOX_LEASE_SECONDS, 2 minutes).
LEASE = timedelta(seconds=settings.LMO_OUTBOX_LEASE_SECONDS)
RERELAY_LIMIT = 2000
DONE_RETENTION = timedelta(days=30)
LAST_ERROR_MAX = 2000

# The consumer task's retry schedule (Celery's exponential backoff with full jitter): a failed
# message stays held for its retry's longest countdown, so the re-relay job leaves it alone.
RETRY_BACKOFF_SECONDS = 30
RETRY_BACKOFF_MAX_SECONDS = 30 * 60

# After a publish fails, requests in this process skip the broker for this long and leave
# their messages pending for the relay job, instead of each waiting on a broker that is down.
BROKER_PAUSE_SECONDS = 10.0
_broker_paused_until = 0.0


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
    message_ids = [message.pk]

    # A named function, not a partial: Django logs a failing robust callback by its
    # __qualname__, which a partial lacks.
    def relay() -> None:
        outbox_relay(message_ids=message_ids)

    transaction.on_commit(relay, robust=True)
    return message.pk


def outbox_relay(*, message_ids: Sequence[int]) -> int:
    """Hand messages to the worker; any the broker refuses stay pending for the re-relay job.

    Returns how many were handed over. Never raises for a broker error: this runs after a
    commit, and the change it follows has already happened. Each publish is bounded by the
    broker's socket timeouts and is not retried here.

    Nor for a database error: a connection lost between the change's commit and its relay
    must not turn the committed change into an error answer. The messages then stay
    pending (or marked sent without a task) and the relay job takes them over.
    """
    try:
        return _relay(message_ids)
    except DatabaseError as exc:
        logger.warning("Outbox relay of %d message(s) failed: %s", len(message_ids), exc)
        return 0


def _relay(message_ids: Sequence[int]) -> int:
    global _broker_paused_until
    from .tasks import process_outbox_messages

    if time.monotonic() < _broker_paused_until:
        # The broker failed moments ago: leave these pending (the relay job has them).
        return 0
    # Marked before publishing, so a fast consumer never waits for this UPDATE. Leases are
    # left alone: a consumer claims a message only once its holder's lease has run out.
    dispatched_at = timezone.now()
    OutboxMessage.objects.filter(pk__in=message_ids, status__in=OUTBOX_CLAIMABLE).update(
        status=OutboxStatus.SENT, dispatched_at=dispatched_at, relays=F("relays") + 1
    )
    relayed = 0
    chunks = list(chunked(message_ids, RELAY_CHUNK))
    for position, ids in enumerate(chunks):
        try:
            process_outbox_messages.apply_async(args=[ids], retry=False)
        except Exception as exc:
            # Broker down or hanging (or, with eager tasks, the consumer failed): back to
            # pending, with the reason, for the re-relay job.
            logger.warning("Outbox relay of %d message(s) failed: %s", len(ids), exc)
            OutboxMessage.objects.filter(
                pk__in=ids, status=OutboxStatus.SENT, dispatched_at=dispatched_at
            ).update(status=OutboxStatus.PENDING, last_error=f"relay: {exc}"[:LAST_ERROR_MAX])
            if process_outbox_messages.app.conf.task_always_eager:
                # The consumer's own failure, raised here instead of retried: nobody holds
                # these messages any more.
                OutboxMessage.objects.filter(pk__in=ids).update(lease_until=None, lease_holder="")
                continue
            # The broker: give the rest, and this process's next requests, to the relay job.
            _broker_paused_until = time.monotonic() + BROKER_PAUSE_SECONDS
            rest = [pk for later in chunks[position + 1 :] for pk in later]
            OutboxMessage.objects.filter(
                pk__in=rest, status=OutboxStatus.SENT, dispatched_at=dispatched_at
            ).update(status=OutboxStatus.PENDING)
            break
        relayed += len(ids)
    return relayed


def outbox_broker_resume() -> None:
    """Publish again at once (the relay job, which runs on a schedule, does not wait)."""
    global _broker_paused_until
    _broker_paused_until = 0.0


def stuck_filter(now: datetime) -> Q:
    """Handed over a while ago, not done, and held by no living consumer."""
    return Q(status=OutboxStatus.SENT, dispatched_at__lte=now - RERELAY_SENT_AFTER) & (
        Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    )


def outbox_relay_pending(*, now: datetime, limit: int = RERELAY_LIMIT) -> int:
    """Relay what is still pending a few seconds after commit, or was handed over minutes
    ago and is held by nobody (the broker lost it, or its consumer died)."""
    outbox_broker_resume()
    stale = Q(status=OutboxStatus.PENDING, created_at__lte=now - RERELAY_PENDING_AFTER) | (
        stuck_filter(now)
    )
    ids = list(
        OutboxMessage.objects.filter(stale)
        .order_by("created_at")
        .values_list("pk", flat=True)[:limit]
    )
    return outbox_relay(message_ids=ids) if ids else 0


def outbox_stuck(*, now: datetime) -> dict[str, Any]:
    """Messages handed over minutes ago that nobody holds: how many, and since when."""
    oldest = OutboxMessage.objects.filter(stuck_filter(now)).aggregate(oldest=Min("dispatched_at"))
    count = OutboxMessage.objects.filter(stuck_filter(now))[:RERELAY_LIMIT].count()
    oldest_at = oldest["oldest"]
    return {
        "count": count,
        "oldest_sent_at": oldest_at,
        "oldest_age_seconds": int((now - oldest_at).total_seconds()) if oldest_at else None,
    }


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


@dataclass
class _Work:
    """The message a consumer is working on, and what of it is already done."""

    message_id: int
    holder: str
    lease_until: datetime
    done: set[str] = field(default_factory=set)


_current_work: ContextVar[_Work | None] = ContextVar("outbox_current_work", default=None)


def deliver_once(key: str, deliver: Callable[[], Any], *, detail: str = "") -> bool:
    """Do one piece of the current message's work (`deliver`, e.g. send one email) unless an
    earlier attempt recorded `key` as done; record it in its own commit right after.

    Returns whether it was done now. Outside an outbox consumer it simply delivers.
    """
    work = _current_work.get()
    if work is None:
        deliver()
        return True
    if key in work.done:
        return False
    deliver()
    now = timezone.now()
    record = partial(
        OutboxDelivery.objects.create,
        message_id=work.message_id,
        key=key,
        detail=detail[:500],
        delivered_at=now,
    )
    try:
        if connection.in_atomic_block:
            with transaction.atomic():
                record()
        else:
            # One statement in autocommit: committed when it returns, one round trip.
            record()
    except IntegrityError:
        logger.warning("Outbox message %s: %s was already recorded", work.message_id, key)
    work.done.add(key)
    if work.lease_until - now < LEASE / 2:
        # Progress renews the lease once half of it has passed: a long batch is not taken
        # over while it advances, and most emails cost one write, not two.
        work.lease_until = now + LEASE
        OutboxMessage.objects.filter(pk=work.message_id, lease_holder=work.holder).update(
            lease_until=work.lease_until
        )
    return True


def _claim(pk: int, holder: str, now: datetime) -> bool:
    """Lease the message if it is not done and nobody else holds it (a retry of the same
    task holds it already)."""
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now) | Q(lease_holder=holder)
    return bool(
        OutboxMessage.objects.filter(Q(pk=pk, status__in=OUTBOX_CLAIMABLE) & free).update(
            status=OutboxStatus.SENT,
            lease_until=now + LEASE,
            lease_holder=holder,
            # Processed without a relay (called directly): it counts as handed over now.
            dispatched_at=Coalesce(F("dispatched_at"), Value(now)),
        )
    )


def outbox_process(*, message_ids: Sequence[int], holder: str = "") -> dict[str, int]:
    """Do each message's work once: lease it, do its pieces (each recorded as done right
    after), then mark it done. `holder` names the consumer (the task id, which its retries
    keep); a message leased by another living consumer is skipped.

    Returns counts of done, skipped (already done, failed, or held elsewhere) and
    failed-this-time messages; raises OutboxDeliveryError after trying them all if any
    failed, so the task retries.
    """
    holder = holder or f"direct-{time.monotonic_ns()}"
    counts = {"done": 0, "skipped": 0, "failed": 0}
    errors: list[str] = []
    for pk in message_ids:
        claimed_at = timezone.now()
        if not _claim(pk, holder, claimed_at):
            counts["skipped"] += 1
            continue
        done = set(OutboxDelivery.objects.filter(message_id=pk).values_list("key", flat=True))
        work = _Work(message_id=pk, holder=holder, lease_until=claimed_at + LEASE, done=done)
        token = _current_work.set(work)
        try:
            message = OutboxMessage.objects.only("topic", "payload").get(pk=pk)
            _task(message.topic).run(message.payload)
        except Exception as exc:
            counts["failed"] += 1
            errors.append(f"#{pk}: {exc}")
            _record_failure(pk, exc)
        else:
            OutboxMessage.objects.filter(pk=pk).update(
                status=OutboxStatus.DONE,
                processed_at=timezone.now(),
                lease_until=None,
                lease_holder="",
            )
            counts["done"] += 1
        finally:
            _current_work.reset(token)
    if errors:
        raise OutboxDeliveryError("; ".join(errors)[:LAST_ERROR_MAX])
    return counts


def retry_countdown_bound(attempts: int) -> timedelta:
    """The longest countdown Celery may pick before retry number `attempts` (1-based)."""
    seconds = min(RETRY_BACKOFF_MAX_SECONDS, RETRY_BACKOFF_SECONDS * 2 ** max(attempts - 1, 0))
    return timedelta(seconds=seconds)


def _record_failure(pk: int, exc: Exception) -> None:
    logger.warning("Outbox message %s failed: %s", pk, exc)
    now = timezone.now()
    attempts = (
        OutboxMessage.objects.filter(pk=pk).values_list("attempts", flat=True).first() or 0
    ) + 1
    OutboxMessage.objects.filter(pk=pk, status__in=OUTBOX_CLAIMABLE).update(
        attempts=F("attempts") + 1,
        last_error=f"{type(exc).__name__}: {exc}"[:LAST_ERROR_MAX],
        status=Case(
            When(attempts__gte=MAX_ATTEMPTS - 1, then=Value(OutboxStatus.FAILED)),
            default=F("status"),
        ),
        # Held for the scheduled retry (same holder); if that never comes, the lease runs
        # out and the re-relay job takes the message over.
        lease_until=now + retry_countdown_bound(attempts) + LEASE,
    )
