"""The webhook endpoint: every response code, and what is (not) written for each."""

import datetime as dt
import json

import pytest
from django.test import override_settings

from leads.models import Lead
from licenses.models import License, LicenseEvent
from subscribers.models import SubscriberEvent
from subscribers.views import decode_body

from .helpers import (
    WEBHOOK_URL,
    deliver,
    drain,
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


def test_install__valid__202_queued_then_applied_by_a_drain(client, pkg, t0):
    # When a signed install arrives
    response = post_event(
        client, install_body(package_id=pkg.package_id, org_id=ORG_15, at=t0), event_id="msg_1"
    )

    # Then it is stored as queued and answered at once, before anything is applied
    assert response.status_code == 202
    assert response.json() == {"event_id": "msg_1", "status": "queued"}
    assert _rows() == (1, 0, 0, 0)
    assert SubscriberEvent.objects.get().outcome == "queued"

    # When a worker drains the queue
    drain()

    # Then it is applied: one license from the package defaults, one lead
    license = License.objects.get()
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
    assert inbox.processed_at is not None
    assert license.events.get().source_event_id == "msg_1"


@pytest.mark.django_db(transaction=True)
def test_install__committed__on_commit_trigger_applies_it(client, pkg, t0):
    # With eager Celery (tests), the drain the commit triggers runs at once
    response = post_event(client, install_body(package_id=pkg.package_id, org_id=ORG_15, at=t0))

    assert response.status_code == 202
    assert SubscriberEvent.objects.get().outcome == "applied"
    assert License.objects.count() == 1


def test_install__redelivered__200_current_status_nothing_new(client, pkg, t0):
    body = install_body(package_id=pkg.package_id, org_id=ORG_15, at=t0)
    post_event(client, body, event_id="msg_dup")

    # Redelivered while still queued: its status, nothing written
    queued = post_event(client, body, event_id="msg_dup")
    assert queued.status_code == 200
    assert queued.json() == {
        "event_id": "msg_dup",
        "status": "queued",
        "license_id": None,
        "duplicate": True,
    }
    assert _rows() == (1, 0, 0, 0)

    drain()
    before = _rows()
    applied = post_event(client, body, event_id="msg_dup")

    assert applied.status_code == 200
    assert applied.json() == {
        "event_id": "msg_dup",
        "status": "applied",
        "license_id": License.objects.get().pk,
        "duplicate": True,
    }
    drain()
    assert _rows() == before


def test_install__unknown_package__unrouted_only_inbox_row(client, db, t0):
    body = install_body(package_id="033000000000999", org_id=ORG_15, at=t0)

    answer = deliver(client, body)

    assert (answer["status"], answer["license_id"]) == ("unrouted", None)
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


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        # The surrogate's own bytes (ED A0 80): JSON decoding of bytes lets them pass
        ('{"name": "Acme \ud800 Corp"}'.encode("utf-8", "surrogatepass"), "surrogates"),
        ('{"name": "Acme \\u0000 Corp"}'.encode("utf-16-le"), "NUL"),
        (b'{"a": "{{{{ [[[[ braces in text only"}', None),
        (b'{"a": "Acme \\\\u0000 is a backslash and text"}', None),
    ],
)
def test_decode_body__what_the_quick_scan_lets_through_is_what_the_walk_allows(raw, reason):
    if reason is None:
        assert decode_body(raw, max_depth=2)["a"]
    else:
        with pytest.raises(ValueError, match=reason):
            decode_body(raw, max_depth=32)


def test_webhook__nul_escape_in_a_utf16_body__400_writes_nothing(client, pkg, t0):
    body = install_body(package_id=pkg.package_id, org_id=ORG_15, at=t0)
    body["data"]["org"]["name"] = "Acme\x00Corp"

    response = post_event(client, json.dumps(body).encode("utf-16-le"))

    assert response.status_code == 400
    assert "NUL" in response.json()["error"]["fields"]["body"][0]
    assert _rows() == (0, 0, 0, 0)


def test_webhook__paired_surrogates_in_text__accepted(client, pkg, t0):
    body = install_body(package_id=pkg.package_id, org_id=ORG_15, at=t0)
    body["data"]["org"]["name"] = "ACME_NAME"
    raw = json.dumps(body).replace("ACME_NAME", "Acme \\ud83d\\ude80 Corp").encode()

    response = post_event(client, raw)
    drain()

    assert response.status_code == 202
    assert License.objects.get().org_name == "Acme \U0001f680 Corp"


def test_usage__text_for_integer_parameter__failed_with_reason_nothing_changed(client, pkg, t0):
    deliver(client, install_body(package_id=pkg.package_id, org_id=ORG_15, at=t0))
    license_rows = (License.objects.count(), LicenseEvent.objects.count())

    answer = deliver(
        client,
        usage_body(
            package_id=pkg.package_id,
            org_id=ORG_15,
            at=t0 + dt.timedelta(hours=1),
            parameters={"Jobs_Run": "twelve"},
        ),
    )

    # The body is well formed, so it is accepted; the package's rules refuse it when applied
    assert answer["status"] == "failed"
    assert "data.parameters.Jobs_Run" in answer["error"]
    assert (License.objects.count(), LicenseEvent.objects.count()) == license_rows
    assert License.objects.get().used_licenses is None


def test_usage__lmo_to_subscriber_parameter__failed_with_reason_nothing_changed(client, pkg, t0):
    deliver(client, install_body(package_id=pkg.package_id, org_id=ORG_15, at=t0))
    license_rows = (License.objects.count(), LicenseEvent.objects.count())

    answer = deliver(
        client,
        usage_body(
            package_id=pkg.package_id,
            org_id=ORG_15,
            at=t0 + dt.timedelta(hours=1),
            parameters={"Premium": True},
        ),
    )

    # The body is well formed, so it is accepted; the package's rules refuse it when applied
    assert answer["status"] == "failed"
    assert "data.parameters.Premium" in answer["error"]
    assert (License.objects.count(), LicenseEvent.objects.count()) == license_rows
    assert License.objects.get().used_licenses is None


def test_usage__string_used_licenses__400(client, pkg, t0):
    body = {
        **usage_body(package_id=pkg.package_id, org_id=ORG_15, at=t0),
        "data": {"package_id": pkg.package_id, "org": {"id": ORG_15}, "used_licenses": "7"},
    }

    response = post_event(client, body)

    assert response.status_code == 400
    assert "data.used_licenses" in response.json()["error"]["fields"]
    assert _rows() == (0, 0, 0, 0)


def test_usage__unknown_parameter__failed_with_reason(client, pkg, t0):
    body = usage_body(package_id=pkg.package_id, org_id=ORG_15, at=t0, parameters={"Nope": 1})

    answer = deliver(client, body)

    assert answer["status"] == "failed" and "Nope" in answer["error"]
    assert License.objects.count() == 0


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

    assert post_event(client, raw).status_code == 202


def test_webhook__without_trailing_slash__no_redirect(client, pkg, t0):
    raw = json.dumps(install_body(package_id=pkg.package_id, org_id=ORG_15, at=t0)).encode()
    headers = signed_headers(raw, event_id="msg_noslash")

    response = client.post(
        WEBHOOK_URL.rstrip("/"), data=raw, content_type="application/json", headers=headers
    )

    assert response.status_code == 202
    assert response.json()["status"] == "queued"


@override_settings(DEBUG=True)
def test_webhook__get__405_json_not_redirect(client, db):
    response = client.get(WEBHOOK_URL.rstrip("/"))

    assert response.status_code == 405
    assert "error" in response.json()


def test_webhook__no_csrf_token_needed(pkg, t0):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    response = post_event(strict, install_body(package_id=pkg.package_id, org_id=ORG_15, at=t0))

    assert response.status_code == 202


def test_uninstall__then_redelivered__duplicate(client, pkg, t0):
    deliver(client, install_body(package_id=pkg.package_id, org_id=ORG_15, at=t0))
    body = uninstall_body(package_id=pkg.package_id, org_id=ORG_15, at=t0 + dt.timedelta(days=1))

    first = deliver(client, body, event_id="msg_un")
    second = post_event(client, body, event_id="msg_un")

    assert first["status"] == "applied"
    assert second.json() == first
    assert License.objects.get().status == "uninstalled"


def test_usage__redelivered_after_its_parameter_was_removed__still_the_first_answer(
    client, pkg, t0
):
    # Given a usage report that was applied
    deliver(client, install_body(package_id=pkg.package_id, org_id=ORG_15, at=t0))
    body = usage_body(
        package_id=pkg.package_id,
        org_id=ORG_15,
        at=t0 + dt.timedelta(hours=1),
        parameters={"Jobs_Run": 3},
    )
    first = deliver(client, body, event_id="msg_usage")
    history = LicenseEvent.objects.count()

    # When the parameter it reported is removed, and the report is delivered again
    pkg.feature_parameters.get(developer_name="Jobs_Run").delete()
    again = post_event(client, body, event_id="msg_usage")
    drain()

    # Then the redelivery gets the first answer (not a 400), and nothing changes
    assert again.status_code == 200
    assert again.json() == first
    assert LicenseEvent.objects.count() == history


def test_webhook__in_openapi_schema(db):
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)

    assert "/api/v1/webhooks/subscriber/" in schema["paths"]
    assert "/api/v1/subscriber/license/" in schema["paths"]


# --- Numbers, nesting, chunked bodies --------------------------------------------------------


@pytest.mark.parametrize("number", ["1e999", "-1e999", "1E400", "NaN", "Infinity", "-Infinity"])
@pytest.mark.parametrize("where", ["extra", "parameters"])
def test_webhook__non_finite_number_anywhere__400_writes_nothing(client, pkg, t0, number, where):
    # Given a body whose extra field (or a reported parameter) holds a number beyond a double
    body = usage_body(package_id=pkg.package_id, org_id=ORG_15, at=t0, parameters={})
    if where == "extra":
        body["data"]["extra"] = {"reading": "NUMBER"}
    else:
        body["data"]["parameters"] = {"Jobs_Run": "NUMBER"}
    raw = json.dumps(body).replace('"NUMBER"', number).encode()

    response = post_event(client, raw)

    # Then it is refused as a bad body, and nothing reaches the database
    assert response.status_code == 400
    assert "body" in response.json()["error"]["fields"]
    assert _rows() == (0, 0, 0, 0)


def test_webhook__large_finite_numbers__accepted(client, pkg, t0):
    body = install_body(package_id=pkg.package_id, org_id=ORG_15, at=t0)
    body["extra"] = {"big": 1.7976931348623157e308, "small": 5e-324, "int": 10**30}

    assert post_event(client, body).status_code == 202


def _nested(depth: int) -> object:
    value: object = 1
    for _ in range(depth):
        value = [value]
    return value


def test_webhook__nested_deeper_than_the_limit__400_writes_nothing(client, pkg, t0):
    # The body is level 1 and the list in "extra" level 2: 32 nested lists reach level 33
    body = install_body(package_id=pkg.package_id, org_id=ORG_15, at=t0)
    body["extra"] = _nested(32)

    response = post_event(client, body)

    assert response.status_code == 400
    assert "32 levels" in response.json()["error"]["fields"]["body"][0]
    assert _rows() == (0, 0, 0, 0)


def test_webhook__nested_exactly_at_the_limit__accepted(client, pkg, t0):
    body = install_body(package_id=pkg.package_id, org_id=ORG_15, at=t0)
    body["extra"] = _nested(31)

    assert post_event(client, body).status_code == 202


def test_webhook__nested_900_levels__400_not_500(client, pkg, t0):
    raw = json.dumps(install_body(package_id=pkg.package_id, org_id=ORG_15, at=t0))
    raw = raw[:-1] + ', "extra": ' + "[" * 900 + "]" * 900 + "}"

    response = post_event(client, raw.encode())

    assert response.status_code == 400
    assert _rows() == (0, 0, 0, 0)


def _chunked_post(client, raw: bytes, *, terminated: bool, event_id: str = "msg_chunked"):
    import io

    headers = signed_headers(raw, event_id=event_id)
    # As a server that de-chunks (gunicorn) hands it over: no Content-Length, the stream
    # ends with the body, and wsgi.input_terminated says so.
    extra = {
        "CONTENT_LENGTH": "",
        "HTTP_TRANSFER_ENCODING": "chunked",
        "wsgi.input": io.BytesIO(raw),
    }
    if terminated:
        extra["wsgi.input_terminated"] = True
    return client.generic(
        "POST", WEBHOOK_URL, data=b"", content_type="application/json", headers=headers, **extra
    )


def test_webhook__chunked_body__read_and_queued(client, pkg, t0):
    raw = json.dumps(install_body(package_id=pkg.package_id, org_id=ORG_15, at=t0)).encode()

    response = _chunked_post(client, raw, terminated=True)

    assert response.status_code == 202, response.json()
    assert SubscriberEvent.objects.get().event_id == "msg_chunked"


def test_webhook__chunked_body_over_64k__413_writes_nothing(client, pkg, t0):
    body = install_body(package_id=pkg.package_id, org_id=ORG_15, at=t0)
    body["padding"] = "x" * (64 * 1024)

    response = _chunked_post(client, json.dumps(body).encode(), terminated=True)

    assert response.status_code == 413
    assert _rows() == (0, 0, 0, 0)


def test_webhook__chunked_body_server_cannot_read__411_says_so(client, pkg, t0):
    raw = json.dumps(install_body(package_id=pkg.package_id, org_id=ORG_15, at=t0)).encode()

    response = _chunked_post(client, raw, terminated=False)

    assert response.status_code == 411
    assert "Content-Length" in response.json()["error"]["message"]
    assert _rows() == (0, 0, 0, 0)


# --- Database trouble, unexpected errors, throttles ------------------------------------------


@pytest.mark.parametrize(
    "error",
    ["database is locked", "server closed the connection unexpectedly"],
)
def test_webhook__database_unavailable__503_retry_after_nothing_written(
    client, pkg, t0, monkeypatch, error
):
    from django.db import OperationalError

    from subscribers.models import SubscriberEvent as Model

    def unavailable(*args, **kwargs):
        raise OperationalError(error)

    monkeypatch.setattr(Model, "save", unavailable)

    response = post_event(client, install_body(package_id=pkg.package_id, org_id=ORG_15, at=t0))

    assert response.status_code == 503
    assert response["Retry-After"].isdigit()
    assert response.json()["error"]["code"] == "unavailable"
    monkeypatch.undo()
    assert _rows() == (0, 0, 0, 0)


def test_webhook__unexpected_error__500_in_the_api_error_shape(client, pkg, t0, monkeypatch):
    import subscribers.views

    def broken(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(subscribers.views, "subscriber_event_accept", broken)
    client.raise_request_exception = False

    response = post_event(client, install_body(package_id=pkg.package_id, org_id=ORG_15, at=t0))

    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "server_error"
    assert "boom" not in response.content.decode()


def test_webhook__over_the_rate_for_one_address__429_retry_after(client, pkg, t0, monkeypatch):
    from subscribers.throttling import WebhookSourceThrottle

    monkeypatch.setattr(WebhookSourceThrottle, "THROTTLE_RATES", {"subscriber_webhook": "2/min"})
    body = install_body(package_id=pkg.package_id, org_id=ORG_15, at=t0)

    answers = [post_event(client, body) for _ in range(3)]
    other_address = post_event(client, body, remote_addr="10.0.0.9")

    assert [a.status_code for a in answers] == [202, 202, 429]
    assert answers[2]["Retry-After"].isdigit()
    assert answers[2].json()["error"]["code"] == "throttled"
    assert other_address.status_code == 202
    assert SubscriberEvent.objects.count() == 3


def test_webhook__openapi_request_body_comes_from_the_event_models(db):
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    operation = schema["paths"]["/api/v1/webhooks/subscriber/"]["post"]

    body = operation["requestBody"]["content"]["application/json"]["schema"]
    types = sorted(option["properties"]["type"]["enum"][0] for option in body["oneOf"])
    assert types == [
        "package.installed",
        "package.uninstalled",
        "package.upgraded",
        "usage.reported",
    ]
    install = next(o for o in body["oneOf"] if o["title"] == "PackageInstalled")
    org = install["properties"]["data"]["properties"]["org"]
    assert org["required"] == ["id"]
    assert set(operation["responses"]) >= {"200", "202", "400", "401", "413", "503"}
