"""The OpenAPI document and the docs pages: valid, complete, and served without a CDN."""

import re

from django.contrib.staticfiles import finders
from django.core.management import call_command
from drf_spectacular.generators import SchemaGenerator

from tests.api.conftest import token_client


def test_spectacular__validate_fail_on_warn__passes(db, tmp_path):
    # Raises SchemaGenerationError on any warning, and validates against the OpenAPI spec.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "s.yml"))

    assert (tmp_path / "s.yml").read_text().startswith("openapi:")


def test_schema__every_operation_has_response_examples_and_writes_request_examples(db):
    document = SchemaGenerator().get_schema(request=None, public=True)

    missing = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if not path.startswith("/api/v1/") or method == "parameters":
                continue
            responses = operation["responses"]
            # The direct license PATCH has no success: its documented answer is the 400.
            success = [code for code in responses if code.startswith("2")] or ["400"]
            has_response_example = any(
                "examples" in media
                for code in success
                for media in responses[code].get("content", {}).values()
            )
            has_request_example = method not in ("post", "patch") or any(
                "examples" in media
                for media in operation.get("requestBody", {}).get("content", {}).values()
            )
            if not (has_response_example and has_request_example):
                missing.append(f"{method.upper()} {path}")

    assert missing == []


def test_schema__documents_the_error_shape_and_retry_after(db):
    document = SchemaGenerator().get_schema(request=None, public=True)

    suspend = document["paths"]["/api/v1/licenses/{id}/suspend/"]["post"]["responses"]
    assert {"400", "401", "403", "404", "409", "429"} <= set(suspend)
    assert "Retry-After" in suspend["429"]["headers"]
    assert "webhooks/subscriber" in " ".join(document["paths"])
    assert "subscriber/license" in " ".join(document["paths"])


def test_schema_url__needs_authentication(db, ops_user):
    anonymous = token_client(None).get("/api/schema/")
    signed_in = token_client(ops_user).get("/api/schema/")

    assert anonymous.status_code == 401
    assert signed_in.status_code == 200
    assert b"/api/v1/licenses/" in signed_in.content


def test_docs__load_only_local_static_files(db, ops_user):
    # Given a signed-in browser
    client = token_client(None)
    client.force_login(ops_user)

    for url in ("/api/docs/",):
        # When the docs page loads
        response = client.get(url)
        html = response.content.decode()

        # Then every script, style and image comes from /static/, and the file exists
        assert response.status_code == 200, url
        references = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html)
        assert references, url
        assert not [ref for ref in references if re.match(r"(https?:)?//", ref)], url
        for ref in references:
            if ref.startswith("/static/"):
                assert finders.find(ref.removeprefix("/static/")), ref
        # And Swagger UI does not post the schema to its public validator
        assert re.search(r'"validatorUrl":\s*null', html), url


def test_docs__without_a_session__redirect_to_sign_in(db):
    response = token_client(None).get("/api/docs/")

    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
