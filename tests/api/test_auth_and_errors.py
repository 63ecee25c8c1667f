"""Tokens, sessions, throttling and the one error shape."""

import io
import re

from django.core.management import call_command
from rest_framework.test import APIClient

from core.api.throttling import EndpointRateThrottle


def test_drf_create_token__prints_a_token_that_authenticates(db, ops_user):
    # Given the management command run for a user
    out = io.StringIO()
    call_command("drf_create_token", "ops", stdout=out)
    token = re.search(r"Generated token ([0-9a-f]{64}) for user", out.getvalue()).group(1)

    # When a script uses the printed token
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    response = client.get("/api/v1/licenses/")

    # Then it is authenticated as that user
    assert response.status_code == 200


def test_bad_token__answers_401(db):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)

    response = client.get("/api/v1/licenses/")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


def test_session__reads_and_needs_csrf_for_writes(world, ops_user):
    # Given a browser session
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(ops_user)

    # When it reads, and writes without a CSRF token
    read = client.get("/api/v1/licenses/")
    write = client.post(
        f"/api/v1/licenses/{world['active'].pk}/suspend/", {"reason": "x"}, format="json"
    )

    # Then the read works and the write is refused in the error shape
    assert read.status_code == 200
    assert write.status_code == 403
    assert "CSRF" in write.json()["error"]["message"]
    world["active"].refresh_from_db()
    assert world["active"].status == "active"


def test_throttle__per_endpoint__answers_429_with_retry_after(world, ops_client, monkeypatch):
    # Given a reads allowance of 2 per minute per endpoint
    monkeypatch.setattr(
        EndpointRateThrottle,
        "THROTTLE_RATES",
        {"reads": "2/min", "writes": "2/min", "bulk": "1/min"},
    )

    # When ops read the licenses three times, then another endpoint
    statuses = [ops_client.get("/api/v1/licenses/").status_code for _ in range(3)]
    throttled = ops_client.get("/api/v1/licenses/")
    other = ops_client.get("/api/v1/packages/")

    # Then the third is refused with Retry-After, and the other endpoint still answers
    assert statuses == [200, 200, 429]
    assert throttled.json()["error"]["code"] == "throttled"
    assert int(throttled["Retry-After"]) > 0
    assert other.status_code == 200


def test_throttle__bulk_has_its_own_smaller_scope(world, ops_client, monkeypatch):
    monkeypatch.setattr(
        EndpointRateThrottle,
        "THROTTLE_RATES",
        {"reads": "50/min", "writes": "50/min", "bulk": "1/min"},
    )
    body = {"action": "reinstate", "ids": [world["suspended"].pk]}

    first = ops_client.post("/api/v1/licenses/bulk/", body, format="json")
    second = ops_client.post("/api/v1/licenses/bulk/", body, format="json")

    assert first.status_code == 200
    assert second.status_code == 429
    assert "Retry-After" in second


def test_malformed_json__answers_400_in_the_error_shape(world, ops_client):
    response = ops_client.generic(
        "POST",
        f"/api/v1/licenses/{world['active'].pk}/suspend/",
        "{not json",
        content_type="application/json",
    )

    assert response.status_code == 400
    assert set(response.json()["error"]) == {"code", "message", "fields"}


def test_form_encoded_body__answers_415(world, ops_client):
    response = ops_client.post(
        f"/api/v1/licenses/{world['active'].pk}/suspend/", {"reason": "x"}, format="multipart"
    )

    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"


def test_unknown_api_path__answers_json_404(db, ops_client):
    response = ops_client.get("/api/v1/no-such-thing/")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_unknown_body_field__answers_400_naming_it(world, ops_client):
    response = ops_client.post(
        f"/api/v1/licenses/{world['active'].pk}/suspend/",
        {"reason": "x", "force": True},
        format="json",
    )

    assert response.status_code == 400
    assert "force" in response.json()["error"]["fields"]
