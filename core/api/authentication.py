"""API tokens for scripts: `Authorization: Token <key>`, checked against a stored hash
(django-rest-knox); the key itself is shown once, when the token is created."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from knox.auth import TokenAuthentication
from knox.models import AuthToken


class ApiTokenAuthentication(TokenAuthentication):
    """Knox's token check. Knox also sweeps the user's other expired tokens on every request
    (one more query per API call); here an expired token is refused and deleted when it is
    used, and the others wait for their own use or a revoke."""

    def _cleanup_token(self, auth_token: AuthToken) -> bool:
        if auth_token.expiry is not None and auth_token.expiry < timezone.now():
            auth_token.delete()
            return True
        return False


class ApiTokenScheme(OpenApiAuthenticationExtension):
    """The token in the OpenAPI document."""

    target_class = "core.api.authentication.ApiTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return build_bearer_security_scheme_object(
            header_name="Authorization", token_prefix="Token"
        )
