"""The signed subscriber webhook and the license check that managed packages call.

Both are DRF views: errors come out of the API's exception handler in its error shape, and
each has its throttle. The webhook verifies, stores the event as `queued` and answers at
once; workers apply it (subscribers.services).
"""

from __future__ import annotations

import json
import logging
import math
import re
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, JsonResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.exceptions import error_body
from core.salesforce_ids import ORG_PREFIX, PACKAGE_PREFIX, try_normalize
from licenses.cache import (
    license_check_cached,
    license_check_keys,
    license_check_read,
    license_check_store,
)
from licenses.models import license_access
from lmo import clock
from packages.models import SubscriberApiKey

from .events import EventInvalid, event_json_schema, parse_event
from .selectors import license_check_payload, subscriber_key_package
from .services import TRANSIENT_ERRORS, subscriber_event_accept
from .signatures import SignatureInvalid, verify_signature
from .throttling import SubscriberKeyThrottle, WebhookSourceThrottle, bearer_key_hash

logger = logging.getLogger(__name__)

# Per process: which package a key hash belonged to when last seen. Only a hint that lets
# one cache round trip fetch both entries; the shared cache entry stays authoritative.
_KEY_HINTS: dict[str, tuple[int, str]] = {}
MAX_KEY_HINTS = 1000
MAX_EVENT_ID_LENGTH = 255
# Seconds a sender should wait after a 503 (the database is briefly unavailable).
RETRY_AFTER_SECONDS = 5


class JsonOnlyNegotiation(BaseContentNegotiation):
    """Always answer JSON, whatever Accept says: subscriber systems get one format."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


def _error(status: int, code: str, message: str, fields: dict | None = None) -> Response:
    return Response(error_body(code, message, fields), status=status)


def _reject(status: int, code: str, message: str, fields: dict | None = None) -> Response:
    logger.warning("Subscriber webhook rejected with %s (%s): %s", status, code, message)
    return _error(status, code, message, fields)


class SubscriberAPIView(APIView):
    """For the two endpoints subscriber systems call: no session or token authentication
    (the signature or the API key is checked in the view), JSON only, and transient
    database trouble answered 503 with Retry-After instead of a 500."""

    authentication_classes: list = []
    permission_classes: list = []
    renderer_classes = [JSONRenderer]
    content_negotiation_class = JsonOnlyNegotiation

    def perform_authentication(self, request) -> None:
        # Nothing to authenticate as (no authentication classes), and nothing reads
        # request.user: DRF's documented way to leave it lazy instead of building an
        # anonymous user per request.
        pass

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, TRANSIENT_ERRORS):
            # Locked, connection lost, serialization failure: the transaction rolled back,
            # nothing is half-written, and the same request will succeed shortly.
            logger.warning("Subscriber endpoint: database unavailable: %s", exc)
            response = _error(
                503, "unavailable", "The database is briefly unavailable; retry shortly."
            )
            response["Retry-After"] = str(RETRY_AFTER_SECONDS)
            return response
        return super().handle_exception(exc)


class BodyRefused(Exception):
    """The body cannot be read within the limits; carries the answer."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def read_body(request: HttpRequest, max_bytes: int) -> bytes:
    """The raw body, at most `max_bytes`, also when it arrives chunked.

    Django reads only Content-Length bytes, so a chunked body (no Content-Length) looks
    empty; servers that de-chunk (gunicorn) say so with `wsgi.input_terminated`, and the
    stream is then read to its end, up to the limit. Others get 411.
    """
    meta = request.META
    too_large = f"The body is larger than {max_bytes // 1024} KiB."
    if "chunked" in meta.get("HTTP_TRANSFER_ENCODING", "").lower() and not meta.get(
        "CONTENT_LENGTH"
    ):
        if not meta.get("wsgi.input_terminated"):
            raise BodyRefused(
                411,
                "length_required",
                "This server cannot read a chunked body: send Content-Length.",
            )
        body = meta["wsgi.input"].read(max_bytes + 1)
        if len(body) > max_bytes:
            raise BodyRefused(413, "payload_too_large", too_large)
        return body
    try:
        declared = int(meta.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > max_bytes:
        raise BodyRefused(413, "payload_too_large", too_large)
    try:
        body = request.body
    except RequestDataTooBig:
        raise BodyRefused(413, "payload_too_large", too_large) from None
    if len(body) > max_bytes:
        raise BodyRefused(413, "payload_too_large", too_large)
    return body


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:40]} is out of range")
    return value


# A surrogate escape (\uD800-\uDFFF) or a surrogate encoded raw (UTF-8 ED A0-BF).
_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]|\xed[\xa0-\xbf]")


def _cannot_break_a_rule(body: bytes, max_depth: int) -> bool:
    """True when a scan of the raw bytes (at C speed) proves the decoded body has no NUL,
    no surrogate and no nesting deeper than `max_depth`, so the walk below can be skipped.

    False positives (a bracket inside a string, an escaped backslash before "u0000") only
    send the body to the exact walk. UTF-16 and UTF-32 bodies contain NUL bytes, so they
    always take the walk.
    """
    return (
        body.count(b"{") + body.count(b"[") <= max_depth
        and b"\x00" not in body
        and b"\\u0000" not in body
        and _SURROGATE.search(body) is None
    )


def decode_body(body: bytes, *, max_depth: int) -> Any:
    """The JSON body as Python values; ValueError saying why it cannot be stored.

    Refused: invalid JSON, NaN/Infinity and numbers beyond a double (1e999), nesting deeper
    than `max_depth`, and text the database cannot store (NUL, unpaired surrogates).
    """
    try:
        data = json.loads(body, parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError:
        raise ValueError(f"nested deeper than {max_depth} levels") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8: {exc}") from None
    if _cannot_break_a_rule(body, max_depth):
        return data
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise ValueError("NUL characters are not allowed")
            try:
                item.encode()  # fails on unpaired surrogates, at C speed
            except UnicodeEncodeError:
                raise ValueError("unpaired surrogates are not allowed") from None
        elif isinstance(item, dict | list):
            if depth > max_depth:
                raise ValueError(f"nested deeper than {max_depth} levels")
            if isinstance(item, dict):
                stack.extend((key, depth) for key in item)
                stack.extend((value, depth + 1) for value in item.values())
            else:
                stack.extend((value, depth + 1) for value in item)
    return data


_EVENT_EXAMPLE = {
    "type": "package.installed",
    "timestamp": "2026-11-28T10:15:00Z",
    "data": {
        "package_id": "0330X000000AbCd",
        "version_id": "04t0X000000XyZa",
        "version_number": "1.4.0",
        "org": {
            "id": "00D5g000004AbCdEAK",
            "name": "Acme Corp",
            "edition": "Enterprise Edition",
            "instance": "NA135",
            "type": "production",
            "is_sandbox": False,
            "parent_org_id": None,
        },
        "installer": {
            "first_name": "Ada",
            "last_name": "Byron",
            "email": "ada@acme.example",
            "phone": "+1 555 0100",
            "company": "Acme Corp",
        },
    },
}

_ERROR_EXAMPLE_400 = error_body(
    "invalid",
    "Invalid event: data.org.id.",
    {"data.org.id": ["id: must start with '00D'; got '001000000000001'."]},
)
_QUEUED_SCHEMA = {
    "type": "object",
    "properties": {
        "event_id": {"type": "string"},
        "status": {"type": "string", "enum": ["queued"]},
    },
    "required": ["event_id", "status"],
}
_DUPLICATE_SCHEMA = {
    "type": "object",
    "properties": {
        "event_id": {"type": "string"},
        "status": {
            "type": "string",
            "enum": ["queued", "applied", "ignored", "unrouted", "failed"],
        },
        "license_id": {"type": "integer", "nullable": True},
        "duplicate": {"type": "boolean", "enum": [True]},
        "error": {"type": "string", "description": "Why the rules refused it (failed only)."},
    },
    "required": ["event_id", "status", "license_id", "duplicate"],
}


class SubscriberWebhookView(SubscriberAPIView):
    """Receives install, upgrade, uninstall and usage events signed per Standard Webhooks."""

    parser_classes: list = []
    throttle_classes = [WebhookSourceThrottle]

    @extend_schema(
        operation_id="subscriber_webhook",
        summary="Receive a signed subscriber event",
        description=(
            "Signed per the Standard Webhooks specification: `webhook-id`, `webhook-timestamp` "
            "(Unix seconds, at most 5 minutes off) and `webhook-signature` (`v1,<base64 "
            'HMAC-SHA256 of "{id}.{timestamp}.{raw body}">`, several space separated). The '
            "body is at most 64 KiB, nested at most 32 levels, with finite numbers only; a "
            "chunked body is read up to the same limit. A new event is stored and answered "
            "`202 queued`; a worker applies it shortly after. A redelivery of a webhook id "
            "writes nothing and answers `200` with the event's current status: `queued`, "
            "`applied`, `ignored` (older than the license's newest event), `unrouted` (the "
            "package is unknown or not linked to this LMO yet) or `failed` (the rules refused "
            "it; `error` says why). `503` with `Retry-After` when the database is briefly "
            "unavailable: deliver again."
        ),
        tags=["subscriber"],
        auth=[],
        request={"application/json": event_json_schema()},
        parameters=[
            OpenApiParameter("webhook-id", str, OpenApiParameter.HEADER, required=True),
            OpenApiParameter("webhook-timestamp", str, OpenApiParameter.HEADER, required=True),
            OpenApiParameter("webhook-signature", str, OpenApiParameter.HEADER, required=True),
        ],
        responses={
            202: OpenApiResponse(_QUEUED_SCHEMA, description="Stored; applied shortly"),
            200: OpenApiResponse(_DUPLICATE_SCHEMA, description="A redelivery: current status"),
            400: OpenApiResponse(description="Invalid event (fields by path)"),
            401: OpenApiResponse(description="Bad signature"),
            411: OpenApiResponse(description="Chunked body this server cannot read"),
            413: OpenApiResponse(description="Body over 64 KiB"),
            429: OpenApiResponse(description="Throttled (per source address)"),
            503: OpenApiResponse(description="Database briefly unavailable; Retry-After"),
        },
        examples=[
            OpenApiExample("Install", value=_EVENT_EXAMPLE, request_only=True),
            OpenApiExample(
                "Queued",
                value={"event_id": "msg_2Lw5", "status": "queued"},
                response_only=True,
                status_codes=["202"],
            ),
            OpenApiExample(
                "Redelivered",
                value={
                    "event_id": "msg_2Lw5",
                    "status": "applied",
                    "license_id": 42,
                    "duplicate": True,
                },
                response_only=True,
                status_codes=["200"],
            ),
            OpenApiExample(
                "Invalid", value=_ERROR_EXAMPLE_400, response_only=True, status_codes=["400"]
            ),
            OpenApiExample(
                "Bad signature",
                value=error_body("signature_invalid", "The webhook signature does not verify."),
                response_only=True,
                status_codes=["401"],
            ),
        ],
    )
    def post(self, request) -> Response:
        try:
            body = read_body(request._request, settings.LMO_WEBHOOK_MAX_BODY_BYTES)
        except BodyRefused as exc:
            return _reject(exc.status, exc.code, exc.message)
        try:
            verify_signature(
                body,
                request.headers,
                secrets=settings.LMO_WEBHOOK_SECRETS,
                tolerance_seconds=settings.LMO_WEBHOOK_TOLERANCE_SECONDS,
            )
        except SignatureInvalid as exc:
            return _reject(
                401, "signature_invalid", f"The webhook signature does not verify: {exc}."
            )
        event_id = request.headers["webhook-id"]
        if len(event_id) > MAX_EVENT_ID_LENGTH or "\x00" in event_id:
            return _reject(
                400,
                "invalid",
                "Invalid webhook-id.",
                {"webhook-id": [f"At most {MAX_EVENT_ID_LENGTH} printable characters."]},
            )
        try:
            data = decode_body(body, max_depth=settings.LMO_WEBHOOK_MAX_DEPTH)
        except ValueError as exc:
            return _reject(400, "invalid", "The body cannot be accepted.", {"body": [str(exc)]})
        try:
            event = parse_event(event_id, data)
        except EventInvalid as exc:
            return _reject(400, "invalid", str(exc), exc.fields)
        answer = subscriber_event_accept(event=event)
        # A plain JSON response, as the license check: DRF's renderer adds cost and nothing else.
        return JsonResponse(answer.as_dict(), status=200 if answer.duplicate else 202)


def _not_found(message: str) -> Response:
    body = error_body("not_found", message)
    body["code"] = "NOT_FOUND"
    return Response(body, status=404)


def _unauthorized(message: str) -> Response:
    response = _error(401, "not_authenticated", message)
    response["WWW-Authenticate"] = 'Bearer realm="license-check"'
    return response


_CHECK_EXAMPLE = {
    "org_id": "00D5g000004AbCdEAK",
    "package_id": "0330X000000AbCdQAK",
    "status": "trial",
    "access": True,
    "code": "TRIAL",
    "seats": 10,
    "used_licenses": 4,
    "expires_at": "2026-12-28T10:15:00Z",
    "version_number": "1.4.0",
    "features": {"Premium_Scheduling": True, "Max_Technicians": 25},
    "overrides": {"Premium_Scheduling": {"until": "2026-12-14T09:00:00Z"}},
    "grace_ends_at": None,
}


class LicenseCheckView(SubscriberAPIView):
    """May this org run the package, and with which features? Called by the managed package."""

    throttle_classes = [SubscriberKeyThrottle]

    @extend_schema(
        operation_id="subscriber_license_check",
        summary="License check for one subscriber org",
        description=(
            "Authenticated with the package's subscriber API key (`Authorization: Bearer "
            "lmo_sk_...`). A key only reads its own package's licenses: any other package id "
            "answers 404, like an org without a license. `access` is computed at request time: "
            "a trial or active license past its end but within its package's grace period "
            "answers `access: true`, `code: GRACE` and `grace_ends_at`. `features` holds the "
            "LMO-to-subscriber parameters only; `overrides` names those set until a time, "
            "which return to their previous value when it passes."
        ),
        tags=["subscriber"],
        auth=[],
        parameters=[
            OpenApiParameter("org_id", str, OpenApiParameter.QUERY, required=True),
            OpenApiParameter("package_id", str, OpenApiParameter.QUERY, required=True),
            OpenApiParameter(
                "Authorization",
                str,
                OpenApiParameter.HEADER,
                required=True,
                description="Bearer <subscriber API key>",
            ),
        ],
        responses={
            200: OpenApiResponse(OpenApiTypes.OBJECT, description="The org's license"),
            400: OpenApiResponse(OpenApiTypes.OBJECT, description="Bad ids"),
            401: OpenApiResponse(OpenApiTypes.OBJECT, description="Missing or invalid key"),
            404: OpenApiResponse(OpenApiTypes.OBJECT, description="No license (NOT_FOUND)"),
            429: OpenApiResponse(OpenApiTypes.OBJECT, description="Throttled (per API key)"),
        },
        examples=[
            OpenApiExample("Trial", value=_CHECK_EXAMPLE, response_only=True, status_codes=["200"]),
            OpenApiExample(
                "Not found",
                value={**error_body("not_found", "No license."), "code": "NOT_FOUND"},
                response_only=True,
                status_codes=["404"],
            ),
        ],
    )
    def get(self, request) -> Response | JsonResponse:
        key_hash = bearer_key_hash(request)
        if key_hash is None:
            return _unauthorized("Send the package's subscriber API key as a Bearer token.")
        params = request.query_params
        org_id = try_normalize(params.get("org_id"), prefix=ORG_PREFIX)
        requested_package = try_normalize(params.get("package_id"), prefix=PACKAGE_PREFIX)

        key_cache_key = SubscriberApiKey.cache_key(key_hash)
        payload = None
        generation = None
        hint = _KEY_HINTS.get(key_hash)
        if hint is not None and org_id is not None:
            # One cache round trip for all: the key's entry must still be there (a revoke
            # deletes it), and the license payload (with its generation) under the package
            # the hint names.
            found = cache.get_many([key_cache_key, *license_check_keys(hint[0], org_id)])
            key_package = found.get(key_cache_key)
            if key_package == hint:
                payload, generation = license_check_cached(found, hint[0], org_id)
        else:
            key_package = cache.get(key_cache_key)
        if key_package is None:
            key_package = subscriber_key_package(key_hash=key_hash)
            if key_package is None:
                return _unauthorized("The API key is not valid or has been revoked.")
            cache.set(key_cache_key, key_package, settings.LMO_LICENSE_CHECK_CACHE_SECONDS)
        if len(_KEY_HINTS) > MAX_KEY_HINTS:
            _KEY_HINTS.clear()
        _KEY_HINTS[key_hash] = key_package
        package_pk, package_id = key_package

        fields = {}
        if org_id is None:
            fields["org_id"] = ["A 15 or 18 character org id starting with 00D."]
        if requested_package is None:
            fields["package_id"] = ["A 15 or 18 character package id starting with 033."]
        if fields:
            return _error(400, "invalid", "Invalid query parameters.", fields)
        if requested_package != package_id:
            return _not_found("No license for this org and package.")

        if payload is None and hint != key_package:
            payload, generation = license_check_read(package_pk, org_id)
        if payload is None:
            payload = license_check_payload(
                package_pk=package_pk, package_id=package_id, org_id=org_id
            )
            if payload is None:
                # Not cached: packages check right after installing, and a "no license" read
                # just before the install committed, stored after its invalidation, would
                # refuse the new customer for the cache's lifetime. One indexed query instead.
                return _not_found("No license for this org and package.")
            # Tagged with the generation read before the database: if a change committed
            # meanwhile, this answer is already outdated and will not be served.
            license_check_store(package_pk, org_id, payload, generation)
        # A plain JSON response: on the hottest path DRF's renderer adds cost and nothing else.
        return JsonResponse(_license_answer(payload))


def _iso(value) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def _license_answer(payload: dict) -> dict:
    # Access depends on the clock, so it is decided now and never cached.
    status, expires_at = payload["status"], payload["expires_at"]
    access = license_access(status, expires_at, clock.now(), grace_days=payload["grace_days"])
    return {
        "org_id": payload["org_id"],
        "package_id": payload["package_id"],
        "status": status,
        "access": access.allowed,
        "code": access.code,
        "grace_ends_at": _iso(access.grace_ends_at),
        "seats": payload["seats"],
        "used_licenses": payload["used_licenses"],
        "expires_at": _iso(expires_at),
        "version_number": payload["version_number"],
        "features": payload["features"],
        "overrides": {name: {"until": _iso(until)} for name, until in payload["overrides"].items()},
    }
