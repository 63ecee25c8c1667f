"""Standard Webhooks signatures: the known-answer vector, rotation, and malformed headers."""

import base64
import hashlib
import hmac
import json

import pytest
import time_machine
from django.test import override_settings

from subscribers.models import SubscriberEvent
from subscribers.signatures import SignatureInvalid, sign, verify_signature

from .helpers import WEBHOOK_URL, install_body, new_event_id, post_event, signed_headers

# The vector published with the Standard Webhooks reference libraries.
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TIMESTAMP = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_sign__known_answer_vector__matches_library_and_hand_hmac():
    # Given the published vector
    key = base64.b64decode(VECTOR_SECRET.removeprefix("whsec_"))
    to_sign = f"{VECTOR_ID}.{VECTOR_TIMESTAMP}.".encode() + VECTOR_BODY
    by_hand = "v1," + base64.b64encode(hmac.new(key, to_sign, hashlib.sha256).digest()).decode()

    # When the library signs it
    by_library = sign(VECTOR_SECRET, msg_id=VECTOR_ID, timestamp=VECTOR_TIMESTAMP, body=VECTOR_BODY)

    # Then both give the published signature
    assert by_library == by_hand == VECTOR_SIGNATURE


@override_settings(LMO_WEBHOOK_SECRETS=[VECTOR_SECRET])
def test_webhook__known_answer_vector_at_its_time__passes_verification(client, db):
    # Given the clock at the vector's timestamp
    with time_machine.travel(VECTOR_TIMESTAMP + 10, tick=False):
        # When the vector is delivered as is
        response = client.post(
            WEBHOOK_URL,
            data=VECTOR_BODY,
            content_type="application/json",
            headers={
                "webhook-id": VECTOR_ID,
                "webhook-timestamp": str(VECTOR_TIMESTAMP),
                "webhook-signature": VECTOR_SIGNATURE,
            },
        )

    # Then the signature is accepted and only the body (not an event) is refused
    assert response.status_code == 400
    assert "type" in response.json()["error"]["fields"]


def test_verify__several_signatures_one_valid__accepts():
    body = b"{}"
    headers = signed_headers(body, event_id="msg_1", secret=VECTOR_SECRET)
    headers["webhook-signature"] = "v1,AAAA v2,whatever " + headers["webhook-signature"]

    verify_signature(body, headers, secrets=[VECTOR_SECRET], tolerance_seconds=300)


def test_verify__rotated_secrets__either_verifies():
    old, new = VECTOR_SECRET, "whsec_" + base64.b64encode(b"n" * 24).decode()
    body = b"{}"

    for secret in (old, new):
        headers = signed_headers(body, event_id="msg_1", secret=secret)
        verify_signature(body, headers, secrets=[new, old], tolerance_seconds=300)


def test_verify__no_secret_configured__refuses():
    body = b"{}"
    headers = signed_headers(body, event_id="msg_1", secret=VECTOR_SECRET)

    with pytest.raises(SignatureInvalid):
        verify_signature(body, headers, secrets=[], tolerance_seconds=300)


def _valid_headers(body: bytes) -> dict[str, str]:
    return signed_headers(body, event_id=new_event_id())


MALFORMED = {
    "no headers": lambda h: {},
    "missing id": lambda h: {k: v for k, v in h.items() if k != "webhook-id"},
    "missing timestamp": lambda h: {k: v for k, v in h.items() if k != "webhook-timestamp"},
    "missing signature": lambda h: {k: v for k, v in h.items() if k != "webhook-signature"},
    "timestamp not a number": lambda h: {**h, "webhook-timestamp": "yesterday"},
    "timestamp nan": lambda h: {**h, "webhook-timestamp": "nan"},
    "timestamp huge": lambda h: {**h, "webhook-timestamp": "9" * 40},
    "timestamp 6 minutes old": lambda h: {
        **h,
        "webhook-timestamp": str(int(h["webhook-timestamp"]) - 360),
    },
    "timestamp 6 minutes ahead": lambda h: {
        **h,
        "webhook-timestamp": str(int(h["webhook-timestamp"]) + 360),
    },
    "signature without comma": lambda h: {**h, "webhook-signature": "v1"},
    "signature not base64": lambda h: {**h, "webhook-signature": "v1,@@@not-base64@@@"},
    "signature too many commas": lambda h: {**h, "webhook-signature": "v1,a,b"},
    "signature of another id": lambda h: {**h, "webhook-id": "msg_other"},
    "signature wrong version": lambda h: {
        **h,
        "webhook-signature": h["webhook-signature"].replace("v1,", "v2,"),
    },
    "signature by another secret": lambda h: {
        **h,
        "webhook-signature": sign(
            "whsec_" + base64.b64encode(b"x" * 24).decode(),
            msg_id=h["webhook-id"],
            timestamp=int(h["webhook-timestamp"]),
            body=b"{}",
        ),
    },
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_webhook__malformed_or_wrong_signature__401_and_nothing_written(client, package, case):
    # Given a valid install body with broken signature headers
    body = json.dumps(
        install_body(package_id=package.package_id, org_id="00D000000000123", at=_now())
    ).encode()
    headers = MALFORMED[case](_valid_headers(body))

    # When it is delivered
    response = client.post(WEBHOOK_URL, data=body, content_type="application/json", headers=headers)

    # Then it is refused as unauthenticated, in the API's error shape, and nothing is stored
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "signature_invalid"
    assert not SubscriberEvent.objects.exists()


def test_webhook__body_not_utf8_but_correctly_signed__401_not_500(client, db):
    # Given bytes that are not UTF-8, signed by hand over the raw bytes
    from django.conf import settings

    body = b"\xff\xfe\x00garbage"
    key = base64.b64decode(settings.LMO_WEBHOOK_SECRETS[0].removeprefix("whsec_"))
    timestamp = str(int(_now().timestamp()))
    mac = hmac.new(key, f"msg_bytes.{timestamp}.".encode() + body, hashlib.sha256).digest()
    headers = {
        "webhook-id": "msg_bytes",
        "webhook-timestamp": timestamp,
        "webhook-signature": "v1," + base64.b64encode(mac).decode(),
    }

    # When it is delivered
    response = client.post(WEBHOOK_URL, data=body, content_type="application/json", headers=headers)

    # Then the library's decoding error becomes a 401
    assert response.status_code == 401
    assert not SubscriberEvent.objects.exists()


def test_webhook__tampered_body__401(client, package):
    body = install_body(package_id=package.package_id, org_id="00D000000000123", at=_now())
    raw = json.dumps(body).encode()
    headers = _valid_headers(raw)

    response = client.post(
        WEBHOOK_URL,
        data=raw.replace(b"Acme", b"Acne"),
        content_type="application/json",
        headers=headers,
    )

    assert response.status_code == 401


def test_webhook__signed_with_second_configured_secret__accepted(client, package):
    second = "whsec_" + base64.b64encode(b"s" * 24).decode()
    body = install_body(package_id=package.package_id, org_id="00D000000000123", at=_now())
    with override_settings(LMO_WEBHOOK_SECRETS=[VECTOR_SECRET, second]):
        response = post_event(client, body, secret=second)
    assert response.status_code == 202


def _now():
    from django.utils import timezone

    return timezone.now()
