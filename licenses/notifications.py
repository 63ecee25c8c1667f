"""What people hear about a license's history, and the email that tells them.

The history rows of one write that are of a kind in NOTIFY_KINDS queue one outbox message
in the same transaction; the outbox relays it to the task named NOTIFY_TASK
(licenses/tasks.py), which emails the package's lead manager and the account owner about
each row.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.core.mail import EmailMessage, get_connection

from jobs.outbox import deliver_once, outbox_enqueue

from .choices import EventKind

if TYPE_CHECKING:
    from .models import LicenseEvent

# History kinds that people are told about.
NOTIFY_KINDS = frozenset(
    {
        EventKind.INSTALLED,
        EventKind.REINSTALLED,
        EventKind.STATUS_CHANGED,
        EventKind.UNINSTALLED,
        EventKind.EXPIRING_SOON,
        EventKind.GRACE_STARTED,
        EventKind.RENEWED,
    }
)
# The Celery task the outbox hands these messages to.
NOTIFY_TASK = "licenses.notify_license_events"


def notify_written(events: Sequence[LicenseEvent]) -> int | None:
    """Queue one notification naming the history rows of one write that people hear about.

    One outbox message per write, not per row: a drain's chunk of first installs costs the
    consumer one lease, one read of the rows and one completion for the whole chunk; each
    row still gets its own email, recorded as sent on its own (`deliver_once`).
    """
    return _notify([event.pk for event in events if event.kind in NOTIFY_KINDS])


def notify_many(*, kind: str, event_ids: list[int]) -> int | None:
    """Queue one notification for a batch of history rows of one kind (a sweep's batch)."""
    return _notify(event_ids) if kind in NOTIFY_KINDS else None


def _notify(event_ids: list[int]) -> int | None:
    # The outbox runs on real time (its relay looks for messages pending a while), whatever
    # the simulated clock says the event's time is.
    if not event_ids:
        return None
    return outbox_enqueue(topic=NOTIFY_TASK, payload={"event_ids": event_ids})


def _recipients(event: LicenseEvent) -> list[str]:
    license = event.license
    people = [license.package.lead_manager, license.account.owner if license.account else None]
    return sorted({person.email for person in people if person is not None and person.email})


def _headline(event: LicenseEvent) -> str:
    after = event.after or {}
    before = event.before or {}
    if event.kind == EventKind.STATUS_CHANGED:
        return f"{before.get('status', '?')} -> {after.get('status', '?')}"
    if event.kind == EventKind.EXPIRING_SOON:
        return f"trial ends {str(after.get('expires_at', ''))[:10]}"
    if event.kind == EventKind.GRACE_STARTED:
        return f"in grace until {str(after.get('grace_ends_at', ''))[:10]}"
    if event.kind == EventKind.RENEWED:
        return f"renewed until {str(after.get('expires_at', ''))[:10]}"
    if event.kind == EventKind.GRACE_STARTED:
        return f"in grace until {str(after.get('grace_ends_at', ''))[:10]}"
    if event.kind == EventKind.RENEWED:
        return f"renewed until {str(after.get('expires_at', ''))[:10]}"
    if event.kind in (EventKind.INSTALLED, EventKind.REINSTALLED):
        return f"{event.get_kind_display().lower()} ({after.get('status', '?')})"
    return event.get_kind_display().lower()


def license_event_compose(event: LicenseEvent) -> tuple[str, str]:
    """Subject and body of the email about one history row."""
    license = event.license
    org = license.org_name or license.org_id
    subject = f"{license.name} {org} ({license.package.name}): {_headline(event)}"
    lines = [
        f"License {license.name} for {org} ({license.org_id}), package {license.package.name}.",
        "",
        f"What happened: {event.get_kind_display()} at {event.at:%Y-%m-%d %H:%M} UTC, "
        f"by {event.actor}.",
    ]
    if event.before:
        lines.append(f"Before: {_describe(event.before)}")
    if event.after:
        lines.append(f"After: {_describe(event.after)}")
    if event.reason:
        lines.append(f"Reason: {event.reason}")
    lines += ["", f"Status now: {license.status}; expires: {_when(license.expires_at)}."]
    return subject, "\n".join(lines)


def _describe(values: dict[str, Any]) -> str:
    return ", ".join(
        f"{key} {value if value is not None else '-'}" for key, value in values.items()
    )


def _when(value: Any) -> str:
    return f"{value:%Y-%m-%d %H:%M} UTC" if value else "never"


def license_event_notify(payload: dict[str, Any]) -> int:
    """Email the package's lead manager and the account owner about license events: the
    history rows of one write (`event_ids`; `event_id` in messages written by earlier
    versions), one email each, over one mail connection.

    Each email is recorded as sent right after it leaves (`deliver_once`), so a retry after a
    crash or a lost database connection sends only those not yet recorded. Returns the number
    of emails sent now (0 when nobody with an email address is concerned).
    """
    from .models import LicenseEvent

    event_ids = payload.get("event_ids") or [payload["event_id"]]
    events = LicenseEvent.objects.select_related(
        "license__package__lead_manager", "license__account__owner"
    ).filter(pk__in=event_ids)
    events = list(events.order_by("pk"))
    if len(events) != len(set(event_ids)):
        missing = sorted(set(event_ids) - {event.pk for event in events})
        raise LicenseEvent.DoesNotExist(f"License events not found: {missing}")
    emails = []
    for event in events:
        recipients = _recipients(event)
        if recipients:
            subject, body = license_event_compose(event)
            emails.append((event.pk, EmailMessage(subject, body, None, recipients)))
    if not emails:
        return 0
    sent = 0
    with get_connection(fail_silently=False) as connection:
        for event_pk, email in emails:
            email.connection = connection
            if deliver_once(f"license-event:{event_pk}", email.send, detail=",".join(email.to)):
                sent += 1
    return sent
