"""Email notifications about license history, sent by the outbox consumer."""

from __future__ import annotations

from typing import Any

from django.core.mail import EmailMessage, get_connection

from licenses.choices import EventKind
from licenses.models import LicenseEvent


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
    """Email the package's lead manager and the account owner about license events: one
    event (`event_id`) or a sweep's batch (`event_ids`), sent over one mail connection.

    Returns the number of emails sent (0 when nobody with an email address is concerned).
    """
    event_ids = payload.get("event_ids") or [payload["event_id"]]
    events = LicenseEvent.objects.select_related(
        "license__package__lead_manager", "license__account__owner"
    ).filter(pk__in=event_ids)
    events = list(events.order_by("pk"))
    if len(events) != len(set(event_ids)):
        missing = sorted(set(event_ids) - {event.pk for event in events})
        raise LicenseEvent.DoesNotExist(f"License events not found: {missing}")
    messages = []
    for event in events:
        recipients = _recipients(event)
        if recipients:
            subject, body = license_event_compose(event)
            messages.append(EmailMessage(subject, body, None, recipients))
    if not messages:
        return 0
    return get_connection(fail_silently=False).send_messages(messages) or 0
