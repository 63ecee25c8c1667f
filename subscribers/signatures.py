"""Standard Webhooks verification against every configured secret (rotation)."""

from __future__ import annotations

import functools
import time
from collections.abc import Iterable, Mapping

from standardwebhooks.webhooks import Webhook

SIGNATURE_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")


class SignatureInvalid(Exception):
    """The delivery is not signed by any of our secrets (or its headers are unusable)."""


@functools.lru_cache(maxsize=16)
def _webhook(secret: str) -> Webhook:
    return Webhook(secret)


def verify_signature(
    body: bytes,
    headers: Mapping[str, str],
    *,
    secrets: Iterable[str],
    tolerance_seconds: int,
) -> None:
    """Return if any secret verifies the delivery; raise SignatureInvalid otherwise."""
    values = {name: headers.get(name) or "" for name in SIGNATURE_HEADERS}
    if not all(values.values()):
        raise SignatureInvalid("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        sent_at = int(values["webhook-timestamp"])
    except ValueError:
        raise SignatureInvalid("webhook-timestamp is not Unix seconds") from None
    # The library also allows 5 minutes; checking here keeps the setting authoritative.
    if abs(time.time() - sent_at) > tolerance_seconds:
        raise SignatureInvalid("webhook-timestamp outside the allowed window")
    secrets = [s for s in secrets if s]
    if not secrets:
        raise SignatureInvalid("no webhook secret is configured (LMO_WEBHOOK_SECRETS)")
    # Unparseable entries are dropped so they cannot hide a valid signature next to them.
    parts = [p for p in values["webhook-signature"].split(" ") if p.count(",") == 1]
    if not parts:
        raise SignatureInvalid("webhook-signature has no version,signature entry")
    values["webhook-signature"] = " ".join(parts)
    for secret in secrets:
        try:
            _webhook(secret).verify(body, values, json_parse=False)
        # Malformed headers make the library raise ValueError, binascii.Error and more.
        except Exception:
            continue
        return
    raise SignatureInvalid("no signature matches")


def sign(secret: str, *, msg_id: str, timestamp: int, body: bytes) -> str:
    """The webhook-signature header value for a body (what a subscriber system sends)."""
    from datetime import UTC, datetime

    when = datetime.fromtimestamp(timestamp, tz=UTC)
    return _webhook(secret).sign(msg_id=msg_id, timestamp=when, data=body.decode())
