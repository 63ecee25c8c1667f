"""The signed subscriber webhook and the license check that managed packages call."""

from __future__ import annotations

import json
import logging
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.views import APIView

from core.api.exceptions import django_validation_fields, error_body
from core.salesforce_ids import ORG_PREFIX, PACKAGE_PREFIX, try_normalize
from licenses.cache import license_check_cache_key
from licenses.exceptions import LicenseError
from licenses.models import access_allowed, access_code
from packages.models import SubscriberApiKey

from .selectors import license_check_payload, subscriber_key_package
from .serializers import EventInvalid, parse_event
from .services import subscriber_event_receive
from .signatures import SignatureInvalid, verify_signature

logger = logging.getLogger(__name__)

# Per process: which package a key hash belonged to when last seen. Only a hint that lets
# one cache round trip fetch both entries; the shared cache entry stays authoritative.
_KEY_HINTS: dict[str, tuple[int, str]] = {}
MAX_KEY_HINTS = 1000
MAX_EVENT_ID_LENGTH = 255


class JsonOnlyNegotiation(BaseContentNegotiation):
    """Always answer JSON, whatever Accept says: subscriber systems get one format."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


def _error(status: int, code: str, message: str, fields: dict | None = None) -> JsonResponse:
    """The API's error body (core.api.exceptions.error_body), without DRF's renderer."""
    return JsonResponse(error_body(code, message, fields), status=status)


def _reject(status: int, code: str, message: str, fields: dict | None = None) -> JsonResponse:
    logger.warning("Subscriber webhook rejected with %s (%s): %s", status, code, message)
    return _error(status, code, message, fields)


class SubscriberAPIView(APIView):
    """For the two endpoints subscriber systems call: documented in the OpenAPI schema like
    the rest of the API, but their own methods are served straight from Django's request.
    Neither uses DRF's authentication, permissions, throttles, parsers or renderers (the
    signature or the API key is checked in the view), and skipping its request wrapping
    and response finalising is a twentieth of a cached license check. Other methods get
    DRF's answers (405, OPTIONS) as before."""

    authentication_classes: list = []
    permission_classes: list = []
    throttle_classes: list = []
    content_negotiation_class = JsonOnlyNegotiation
    direct_methods: tuple[str, ...] = ()

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method not in self.direct_methods:
            return super().dispatch(request, *args, **kwargs)
        self.args, self.kwargs, self.request = args, kwargs, request
        return getattr(self, request.method.lower())(request, *args, **kwargs)


def _json_safe(value: Any) -> bool:
    """False for text the database cannot store (NUL, lone surrogates) anywhere in the tree."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return False
            try:
                item.encode()  # fails on unpaired surrogates, at C speed
            except UnicodeEncodeError:
                return False
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return True


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


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
    {"data.org.id": ["org.id: must start with '00D'; got '001000000000001'."]},
)


class SubscriberWebhookView(SubscriberAPIView):
    """Receives install, upgrade, uninstall and usage events signed per Standard Webhooks."""

    parser_classes: list = []
    direct_methods = ("POST",)

    @extend_schema(
        operation_id="subscriber_webhook",
        summary="Receive a signed subscriber event",
        description=(
            "Signed per the Standard Webhooks specification: `webhook-id`, `webhook-timestamp` "
            "(Unix seconds, at most 5 minutes off) and `webhook-signature` (`v1,<base64 "
            'HMAC-SHA256 of "{id}.{timestamp}.{raw body}">`, several space separated). The '
            "body is at most 64 KiB. Redeliveries of a webhook id return the first answer with "
            "outcome `duplicate`; events older than the last one applied are `ignored`; events "
            "for a package not linked to this LMO are kept as `unrouted`."
        ),
        tags=["subscriber"],
        auth=[],
        request={"application/json": OpenApiTypes.OBJECT},
        parameters=[
            OpenApiParameter("webhook-id", str, OpenApiParameter.HEADER, required=True),
            OpenApiParameter("webhook-timestamp", str, OpenApiParameter.HEADER, required=True),
            OpenApiParameter("webhook-signature", str, OpenApiParameter.HEADER, required=True),
        ],
        responses={
            200: OpenApiResponse(OpenApiTypes.OBJECT, description="Applied, duplicate, ignored"),
            400: OpenApiResponse(OpenApiTypes.OBJECT, description="Invalid event"),
            401: OpenApiResponse(OpenApiTypes.OBJECT, description="Bad signature"),
            413: OpenApiResponse(OpenApiTypes.OBJECT, description="Body over 64 KiB"),
        },
        examples=[
            OpenApiExample("Install", value=_EVENT_EXAMPLE, request_only=True),
            OpenApiExample(
                "Applied",
                value={"event_id": "msg_2Lw5", "outcome": "applied", "license_id": 42},
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
    def post(self, request: HttpRequest) -> JsonResponse:
        max_bytes = settings.LMO_WEBHOOK_MAX_BODY_BYTES
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        too_large = f"The body is larger than {max_bytes // 1024} KiB."
        if declared > max_bytes:
            return _reject(413, "payload_too_large", too_large)
        try:
            body = request.body
        except RequestDataTooBig:
            return _reject(413, "payload_too_large", too_large)
        if len(body) > max_bytes:
            return _reject(413, "payload_too_large", too_large)

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
        if len(event_id) > MAX_EVENT_ID_LENGTH or not _json_safe(event_id):
            return _reject(
                400,
                "invalid",
                "Invalid webhook-id.",
                {"webhook-id": [f"At most {MAX_EVENT_ID_LENGTH} printable characters."]},
            )
        try:
            data = json.loads(body, parse_constant=_refuse_constant)
        except (ValueError, RecursionError) as exc:
            return _reject(400, "invalid", "The body is not valid JSON.", {"body": [str(exc)]})
        if not _json_safe(data):
            return _reject(
                400,
                "invalid",
                "The body contains characters that cannot be stored.",
                {"body": ["NUL characters and unpaired surrogates are not allowed."]},
            )

        try:
            event = parse_event(event_id, data)
            result = subscriber_event_receive(event=event)
        except EventInvalid as exc:
            return _reject(400, "invalid", str(exc), exc.fields)
        except DjangoValidationError as exc:
            fields = django_validation_fields(exc)
            return _reject(400, "invalid", "Invalid event.", fields)
        except LicenseError as exc:
            return _reject(exc.http_status, exc.code, exc.message)
        logger.info(
            "Subscriber event %s %s: %s (license %s)",
            result.event_id,
            event.type,
            result.outcome,
            result.license_id,
        )
        # A plain JSON response, as for the license check: DRF's renderer costs more than
        # the answer is worth on the busiest write path.
        return JsonResponse(result.as_dict())


def _not_found(message: str) -> JsonResponse:
    body = error_body("not_found", message)
    body["code"] = "NOT_FOUND"
    return JsonResponse(body, status=404)


def _bearer_key(request: HttpRequest) -> str | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        return None
    return key.strip()


def _unauthorized(message: str) -> JsonResponse:
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
    "features": {"Premium_Scheduling": False, "Max_Technicians": 25},
}


class LicenseCheckView(SubscriberAPIView):
    """May this org run the package, and with which features? Called by the managed package."""

    direct_methods = ("GET",)

    @extend_schema(
        operation_id="subscriber_license_check",
        summary="License check for one subscriber org",
        description=(
            "Authenticated with the package's subscriber API key (`Authorization: Bearer "
            "lmo_sk_...`). A key only reads its own package's licenses: any other package id "
            "answers 404, like an org without a license. `access` is computed at request time; "
            "`features` holds the LMO-to-subscriber parameters only."
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
    def get(self, request: HttpRequest) -> JsonResponse:
        raw_key = _bearer_key(request)
        if raw_key is None:
            return _unauthorized("Send the package's subscriber API key as a Bearer token.")
        params = request.GET
        org_id = try_normalize(params.get("org_id"), prefix=ORG_PREFIX)
        requested_package = try_normalize(params.get("package_id"), prefix=PACKAGE_PREFIX)

        key_hash = SubscriberApiKey.hash_key(raw_key)
        key_cache_key = SubscriberApiKey.cache_key(key_hash)
        payload = None
        hint = _KEY_HINTS.get(key_hash)
        if hint is not None and org_id is not None:
            # One cache round trip for both: the key's entry must still be there (a revoke
            # deletes it), and the license payload under the package the hint names.
            found = cache.get_many([key_cache_key, license_check_cache_key(hint[0], org_id)])
            key_package = found.get(key_cache_key)
            if key_package == hint:
                payload = found.get(license_check_cache_key(hint[0], org_id))
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

        cache_key = license_check_cache_key(package_pk, org_id)
        if payload is None:
            payload = cache.get(cache_key) if hint != key_package else None
        if payload is None:
            payload = license_check_payload(
                package_pk=package_pk, package_id=package_id, org_id=org_id
            )
            if payload is None:
                # Not cached: packages check right after installing, and a "no license" read
                # just before the install committed, stored after its invalidation, would
                # refuse the new customer for the cache's lifetime. One indexed query instead.
                return _not_found("No license for this org and package.")
            cache.set(cache_key, payload, settings.LMO_LICENSE_CHECK_CACHE_SECONDS)
        # A plain JSON response: the hottest path in the product skips DRF's renderer.
        return JsonResponse(_license_answer(payload))


def _license_answer(payload: dict) -> dict:
    # Access depends on the clock, so it is decided now and never cached.
    status, expires_at = payload["status"], payload["expires_at"]
    now = timezone.now()
    return {
        "org_id": payload["org_id"],
        "package_id": payload["package_id"],
        "status": status,
        "access": access_allowed(status, expires_at, now),
        "code": access_code(status, expires_at, now),
        "seats": payload["seats"],
        "used_licenses": payload["used_licenses"],
        "expires_at": expires_at.isoformat().replace("+00:00", "Z") if expires_at else None,
        "version_number": payload["version_number"],
        "features": payload["features"],
    }
