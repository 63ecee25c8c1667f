"""The webhook endpoint: every response code, and what is (not) written for each."""

import datetime as dt
import json

import pytest
from django.test import override_settings

from leads.models import Lead
from licenses.models import License, LicenseEvent
from subscribers.models import SubscriberEvent

from .helpers import (
    WEBHOOK_URL,
    install_body,
    post_event,
    signed_headers,
    uninstall_body,
    usage_body,
)

ORG_15 = "00D5g000004AbCd"


def _rows() -> tuple[int, int, int, int]:
    return (
        SubscriberEvent.objects.count(),
        License.objects.count(),
        Lead.objects.count(),
        LicenseEvent.objects.count(),
    )


def test_install__valid__200_applied_with_license_lead_and_inbox_row(client, pkg, t0):
    # When a signed install arrives
    response = post_event(
        client, install_body(package_id=pkg.package_id, org_id=ORG_15, at=t0), event_id="msg_1"
    )

    # Then it is applied: one license from the package defaults, one lead, one inbox row
    assert response.status_code == 200
    body = response.json()
    license = License.objects.get()
    assert body == {"event_id": "msg_1", "outcome": "applied", "license_id": license.pk}
    assert license.status == "trial"
    assert license.expires_at == t0 + dt.timedelta(days=30)
    assert license.seats == pkg.default_seats
    assert license.installed_at == t0
    assert license.last_event_at == t0
    assert len(license.org_id) == 18 and license.org_id.startswith(ORG_15)
    assert license.version.version_number == "1.0.0"
    assert license.feature_values.count() == 4
    lead = Lead.objects.get()
    assert (lead.email, lead.owner, lead.lead_source) == (
        "ada@acme.example",
        pkg.lead_manager,
        "Package Installation",
    )
    assert license.lead == lead
    inbox = SubscriberEvent.objects.get()
    assert (inbox.outcome, inbox.license_id, inbox.type) == (
        "applied",
        license.pk,
        "package.installed",
    )
    assert license.events.get().source_event_id == "msg_1"


def test_install__redelivered__200_duplicate_same_license_nothing_new(client, pkg, t0):
    body = install_body(package_id=pkg.package_id, org_id=ORG_15, at=t0)
    first = post_event(client, body, event_id="msg_dup").json()
    before = _rows()

    second = post_event(client, body, event_id="msg_dup")

    assert second.status_code == 200
    assert second.json() == {**first, "outcome": "duplicate"}
    assert _rows() == before


def test_install__unknown_package__200_unrouted_only_inbox_row(client, db, t0):
    response = post_event(client, install_body(package_id="033000000000999", org_id=ORG_15, at=t0))

    assert response.status_code == 200
    assert response.json()["outcome"] == "unrouted"
    assert response.json()["license_id"] is None
    assert _rows() == (1, 0, 0, 0)


@pytest.mark.parametrize(
    "mutate, field",
    [
        (lambda b: b.update(type="package.exploded"), "type"),
        (lambda b: b.update(timestamp="yesterday"), "timestamp"),
        (lambda b: b.pop("data"), "data"),
        (lambda b: b["data"].update(package_id="001000000000001"), "data.package_id"),
        (lambda b: b["data"]["org"].update(id="00D00000000012"), "data.org.id"),
        (lambda b: b["data"]["org"].update(id="00D000000000123AAA"), "data.org.id"),
        (lambda b: b["data"].update(version_id=42), "data.version_id"),
        (lambda b: b["data"].update(version_number="1.4"), "data.version_number"),
        (lambda b: b["data"]["org"].update(is_sandbox="yes"), "data.org.is_sandbox"),
        (lambda b: b["data"]["org"].update(name=12), "data.org.name"),
        (lambda b: b["data"]["installer"].update(email="not-an-email"), "data.installer.email"),
        (lambda b: b["data"].pop("org"), "data.org"),
    ],
)
def test_install__invalid_field__400_names_field_and_writes_nothing(client, pkg, t0, mutate, field):
    # Given an install with one bad field
    body = install_body(package_id=pkg.package_id, org_id=ORG_15, at=t0)
    mutate(body)

    # When it is delivered, correctly signed
    response = post_event(client, body)

    # Then it is refused with the field named, and nothing is stored
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert field in error["fields"], error
    assert _rows() == (0, 0, 0, 0)


@pytest.mark.parametrize(
    "raw",
    [b"{not json", b"[1, 2, 3]", b'"text"', b'{"type": NaN}', b"", b"[" * 5000 + b"]" * 5000],
)
def test_webhook__malformed_json__400_writes_nothing(client, db, raw):
    response = post_event(client, raw)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert _rows() == (0, 0, 0, 0)


def test_webhook__nul_character_in_text__400(client, pkg, t0):
    body = install_body(package_id=pkg.package_id, org_id=ORG_15, at=t0)
    body["data"]["org"]["name"] = "Acme\x00Corp"

    response = post_event(client, body)

    assert response.status_code == 400
    assert _rows() == (0, 0, 0, 0)


@pytest.mark.parametrize("escape", ["\\ud800", "\\udfff", "\\ud800x", "\\u0000"])
def test_webhook__unstorable_text_escape__400_writes_nothing(client, pkg, t0, escape):
    # An unpaired surrogate or NUL, as a JSON escape: valid JSON, but no database stores it
    body = install_body(package_id=pkg.package_id, org_id=ORG_15, at=t0)
    body["data"]["org"]["name"] = "ACME_NAME"
    raw = json.dumps(body).replace("ACME_NAME", f"Acme {escape} Corp").encode()

    response = post_event(client, raw)

    assert response.status_code == 400
    assert "body" in response.json()["error"]["fields"]
    assert _rows() == (0, 0, 0, 0)


def test_webhook__paired_surrogates_in_text__accepted(client, pkg, t0):
    body = install_body(package_id=pkg.package_id, org_id=ORG_15, at=t0)
    body["data"]["org"]["name"] = "ACME_NAME"
    raw = json.dumps(body).replace("ACME_NAME", "Acme \\ud83d\\ude80 Corp").encode()

    response = post_event(client, raw)

    assert response.status_code == 200
    assert License.objects.get().org_name == "Acme \U0001f680 Corp"


def test_usage__text_for_integer_parameter__400(client, pkg, t0):
    post_event(client, install_body(package_id=pkg.package_id, org_id=ORG_15, at=t0))
    before = _rows()

    response = post_event(
        client,
        usage_body(
            package_id=pkg.package_id,
            org_id=ORG_15,
            at=t0 + dt.timedelta(hours=1),
            parameters={"Jobs_Run": "twelve"},
        ),
    )

    assert response.status_code == 400
    assert "data.parameters.Jobs_Run" in response.json()["error"]["fields"]
    assert _rows() == before


def test_usage__lmo_to_subscriber_parameter__400(client, pkg, t0):
    post_event(client, install_body(package_id=pkg.package_id, org_id=ORG_15, at=t0))
    before = _rows()

    response = post_event(
        client,
        usage_body(
            package_id=pkg.package_id,
            org_id=ORG_15,
            at=t0 + dt.timedelta(hours=1),
            parameters={"Premium": True},
        ),
    )

    assert response.status_code == 400
    assert "data.parameters.Premium" in response.json()["error"]["fields"]
    assert _rows() == before


def test_usage__unknown_parameter_or_string_used_licenses__400(client, pkg, t0):
    for body in (
        usage_body(package_id=pkg.package_id, org_id=ORG_15, at=t0, parameters={"Nope": 1}),
        {
            **usage_body(package_id=pkg.package_id, org_id=ORG_15, at=t0),
            "data": {"package_id": pkg.package_id, "org": {"id": ORG_15}, "used_licenses": "7"},
        },
    ):
        assert post_event(client, body).status_code == 400
    assert _rows() == (0, 0, 0, 0)


def test_webhook__timestamp_far_in_future__400(client, pkg, t0):
    body = install_body(package_id=pkg.package_id, org_id=ORG_15, at=t0 + dt.timedelta(days=30))

    response = post_event(client, body)

    assert response.status_code == 400
    assert "timestamp" in response.json()["error"]["fields"]


def test_webhook__event_id_too_long__400(client, pkg, t0):
    body = install_body(package_id=pkg.package_id, org_id=ORG_15, at=t0)

    response = post_event(client, body, event_id="m" * 256)

    assert response.status_code == 400
    assert "webhook-id" in response.json()["error"]["fields"]


def test_webhook__declared_body_over_64k__413(client, db):
    raw = b"{}"
    headers = signed_headers(raw, event_id="msg_big")

    response = client.post(
        WEBHOOK_URL,
        data=raw,
        content_type="application/json",
        headers=headers,
        CONTENT_LENGTH=str(64 * 1024 + 1),
    )

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


def test_webhook__actual_body_over_64k__413_writes_nothing(client, pkg, t0):
    body = install_body(package_id=pkg.package_id, org_id=ORG_15, at=t0)
    body["padding"] = "x" * (64 * 1024)

    response = post_event(client, body)

    assert response.status_code == 413
    assert _rows() == (0, 0, 0, 0)


def test_webhook__body_of_exactly_64k__accepted(client, pkg, t0):
    body = install_body(package_id=pkg.package_id, org_id=ORG_15, at=t0)
    raw = json.dumps(body).encode()
    body["padding"] = "x" * (64 * 1024 - len(raw) - len(', "padding": ""'))
    raw = json.dumps(body).encode()
    assert len(raw) == 64 * 1024

    assert post_event(client, raw).status_code == 200


def test_webhook__without_trailing_slash__no_redirect(client, pkg, t0):
    raw = json.dumps(install_body(package_id=pkg.package_id, org_id=ORG_15, at=t0)).encode()
    headers = signed_headers(raw, event_id="msg_noslash")

    response = client.post(
        WEBHOOK_URL.rstrip("/"), data=raw, content_type="application/json", headers=headers
    )

    assert response.status_code == 200
    assert response.json()["outcome"] == "applied"


@override_settings(DEBUG=True)
def test_webhook__get__405_json_not_redirect(client, db):
    response = client.get(WEBHOOK_URL.rstrip("/"))

    assert response.status_code == 405
    assert "error" in response.json()


def test_webhook__no_csrf_token_needed(pkg, t0):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    response = post_event(strict, install_body(package_id=pkg.package_id, org_id=ORG_15, at=t0))

    assert response.status_code == 200


def test_uninstall__then_redelivered__duplicate(client, pkg, t0):
    post_event(client, install_body(package_id=pkg.package_id, org_id=ORG_15, at=t0))
    body = uninstall_body(package_id=pkg.package_id, org_id=ORG_15, at=t0 + dt.timedelta(days=1))

    first = post_event(client, body, event_id="msg_un")
    second = post_event(client, body, event_id="msg_un")

    assert first.json()["outcome"] == "applied"
    assert second.json()["outcome"] == "duplicate"
    assert License.objects.get().status == "uninstalled"


def test_usage__redelivered_after_its_parameter_was_removed__still_the_first_answer(
    client, pkg, t0
):
    # Given a usage report that was applied
    post_event(client, install_body(package_id=pkg.package_id, org_id=ORG_15, at=t0))
    body = usage_body(
        package_id=pkg.package_id,
        org_id=ORG_15,
        at=t0 + dt.timedelta(hours=1),
        parameters={"Jobs_Run": 3},
    )
    first = post_event(client, body, event_id="msg_usage").json()
    history = LicenseEvent.objects.count()

    # When the parameter it reported is removed, and the report is delivered again
    pkg.feature_parameters.get(developer_name="Jobs_Run").delete()
    again = post_event(client, body, event_id="msg_usage")

    # Then the redelivery gets the first answer (not a 400), and nothing changes
    assert again.status_code == 200
    assert again.json() == {**first, "outcome": "duplicate"}
    assert LicenseEvent.objects.count() == history


def test_webhook__in_openapi_schema(db):
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)

    assert "/api/v1/webhooks/subscriber/" in schema["paths"]
    assert "/api/v1/subscriber/license/" in schema["paths"]
