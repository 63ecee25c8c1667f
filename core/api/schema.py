"""OpenAPI generation for the staff API: the error responses every operation can give."""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiExample, OpenApiResponse

from .serializers import ErrorSerializer, StrictFieldsMixin, error_example_value

ERROR_DESCRIPTIONS = {
    "400": "Invalid input; `fields` names each bad field. Nothing was written.",
    "401": "No credentials, or a token that is not valid.",
    "403": "Your role may not do this.",
    "404": "Not found, or not visible to your role.",
    "409": "Refused by the rules: an illegal status move or a frozen record.",
    "415": "Send JSON (`Content-Type: application/json`).",
    "422": "Understood but refused, e.g. a trial past its 90 days.",
    "429": "Too many requests; retry after `Retry-After` seconds.",
}
ALWAYS = ("400", "401", "403", "404", "429")
WRITES = ("415",)

RETRY_AFTER_HEADER = {
    "schema": {"type": "integer"},
    "description": "Seconds to wait before the next request.",
}


def error_response(code: str, description: str | None = None) -> OpenApiResponse:
    """An error response for `@extend_schema(responses=...)`, with the common shape."""
    return OpenApiResponse(ErrorSerializer, description=description or ERROR_DESCRIPTIONS[code])


def error_example(
    name: str, status: int, code: str, message: str, fields: dict | None = None
) -> OpenApiExample:
    return OpenApiExample(
        name,
        value=error_example_value(code, message, fields),
        response_only=True,
        status_codes=[str(status)],
    )


class StaffAutoSchema(AutoSchema):
    """Adds the error responses each staff endpoint can give, and forbids unknown fields."""

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        codes = [*ALWAYS, *(WRITES if self.method not in ("GET", "HEAD") else ())]
        for code in codes:
            if code not in responses:
                responses[code] = self._get_response_for_code(
                    error_response(code), code, direction=direction
                )
        responses["429"].setdefault("headers", {})["Retry-After"] = RETRY_AFTER_HEADER
        return dict(sorted(responses.items()))

    def _map_basic_serializer(self, serializer, direction):
        result = super()._map_basic_serializer(serializer, direction)
        if direction == "request" and isinstance(serializer, StrictFieldsMixin):
            result["additionalProperties"] = False
        return result
