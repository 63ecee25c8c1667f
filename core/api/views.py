"""What every staff API view shares: auth, role permissions, throttles, pagination, schema."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import SAFE_METHODS, IsAuthenticated
from rest_framework.throttling import UserRateThrottle

from .authentication import ApiTokenAuthentication
from .exceptions import error_body
from .pagination import ApiCursorPagination
from .permissions import HasRolePermission
from .schema import StaffAutoSchema
from .throttling import EndpointRateThrottle

# Token first: a request without credentials then gets 401 with `WWW-Authenticate: Token`
# (DRF answers 403 when the first class is session auth, which has no challenge).
STAFF_AUTHENTICATION = [ApiTokenAuthentication, SessionAuthentication]


class StaffApiMixin:
    """Token or session auth, the role's model permissions, per-endpoint throttles."""

    authentication_classes = STAFF_AUTHENTICATION
    permission_classes = [HasRolePermission]
    throttle_classes = [UserRateThrottle, EndpointRateThrottle]
    pagination_class = ApiCursorPagination
    schema = StaffAutoSchema()

    def get_throttle_scope(self) -> str:
        if getattr(self, "action", None) == "bulk":
            return "bulk"
        return "reads" if self.request.method in SAFE_METHODS else "writes"


class SchemaView(SpectacularAPIView):
    """The OpenAPI document; any signed-in staff user may read it."""

    authentication_classes = STAFF_AUTHENTICATION
    permission_classes = [IsAuthenticated]


_docs_options = {"url_name": "api-schema", "authentication_classes": STAFF_AUTHENTICATION}

# Browsers without a session are sent to the sign-in page rather than shown a JSON error.
swagger_view = login_required(
    SpectacularSwaggerView.as_view(permission_classes=[IsAuthenticated], **_docs_options)
)


@csrf_exempt
def api_not_found(request, *args, **kwargs):
    """JSON 404 for any /api/ path no route matches, so scripts never get an HTML page."""
    return JsonResponse(error_body("not_found", f"No API endpoint at {request.path}."), status=404)
