"""Signed deliveries and event bodies for the subscriber tests."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import time
from typing import Any

from django.conf import settings

from subscribers.signatures import sign

WEBHOOK_URL = "/api/v1/webhooks/subscriber/"
CHECK_URL = "/api/v1/subscriber/license/"

_ids = itertools.count(1)


def new_event_id() -> str:
    return f"msg_test_{next(_ids)}"


def iso(when: dt.datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def install_body(
    *,
    package_id: str,
    org_id: str,
    at: dt.datetime,
    version_id: str = "04t000000000001",
    version_number: str = "1.0.0",
    event_type: str = "package.installed",
    email: str = "ada@acme.example",
    is_sandbox: bool = False,
    parent_org_id: str | None = None,
    installer: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "type": event_type,
        "timestamp": iso(at),
        "data": {
            "package_id": package_id,
            "version_id": version_id,
            "version_number": version_number,
            "org": {
                "id": org_id,
                "name": "Acme Corp",
                "edition": "Enterprise Edition",
                "instance": "NA135",
                "type": "sandbox" if is_sandbox else "production",
                "is_sandbox": is_sandbox,
                "parent_org_id": parent_org_id,
            },
            "installer": installer
            if installer is not None
            else {
                "first_name": "Ada",
                "last_name": "Byron",
                "email": email,
                "phone": "+1 555 0100",
                "company": "Acme Corp",
            },
        },
    }


def uninstall_body(*, package_id: str, org_id: str, at: dt.datetime) -> dict[str, Any]:
    return {
        "type": "package.uninstalled",
        "timestamp": iso(at),
        "data": {"package_id": package_id, "org": {"id": org_id}},
    }


def usage_body(
    *,
    package_id: str,
    org_id: str,
    at: dt.datetime,
    used_licenses: int | None = 5,
    parameters: dict[str, Any] | None = None,
) -> dict[str, Any]:
    data: dict[str, Any] = {"package_id": package_id, "org": {"id": org_id}}
    if used_licenses is not None:
        data["used_licenses"] = used_licenses
    if parameters is not None:
        data["parameters"] = parameters
    return {"type": "usage.reported", "timestamp": iso(at), "data": data}


def signed_headers(
    body: bytes,
    *,
    event_id: str,
    secret: str | None = None,
    timestamp: int | None = None,
) -> dict[str, str]:
    secret = secret or settings.LMO_WEBHOOK_SECRETS[0]
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, msg_id=event_id, timestamp=timestamp, body=body),
    }


def post_event(
    client, body: Any, *, event_id: str | None = None, remote_addr: str | None = None, **sign_kwargs
):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    event_id = event_id or new_event_id()
    headers = signed_headers(raw, event_id=event_id, **sign_kwargs)
    extra = {"REMOTE_ADDR": remote_addr} if remote_addr else {}
    return client.post(
        WEBHOOK_URL, data=raw, content_type="application/json", headers=headers, **extra
    )


def drain():
    """Run the workers' drain in this process, as a worker would after the trigger."""
    from subscribers.services import subscriber_events_drain

    return subscriber_events_drain()


def deliver(client, body: Any, *, event_id: str | None = None, **sign_kwargs) -> dict[str, Any]:
    """The asynchronous contract end to end: 202 queued, a drain, then the redelivery's
    answer (200, the event's status and license, duplicate: true)."""
    event_id = event_id or new_event_id()
    accepted = post_event(client, body, event_id=event_id, **sign_kwargs)
    assert accepted.status_code == 202, accepted.json()
    assert accepted.json() == {"event_id": event_id, "status": "queued"}
    drain()
    again = post_event(client, body, event_id=event_id, **sign_kwargs)
    assert again.status_code == 200, again.json()
    answer = again.json()
    assert answer["duplicate"] is True
    return answer
