"""API permissions: the same role permissions the console uses, checked for every method."""

from django.http import Http404
from rest_framework.permissions import DjangoModelPermissions


class HasRolePermission(DjangoModelPermissions):
    """Authenticated, and the user's role grants the model permission for the method.

    Unlike DRF's default, reads need the view permission too: license data is private,
    so a staff user with no role reads nothing. A view can name the permissions an action
    needs in `action_permissions` ({action: [perm, ...]}); those replace the method's.

    A user who may not even read the model gets 404 for a single object, never 403, so
    the answer does not reveal whether the object exists.
    """

    perms_map = {
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "OPTIONS": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
        "POST": ["%(app_label)s.add_%(model_name)s"],
        "PUT": ["%(app_label)s.change_%(model_name)s"],
        "PATCH": ["%(app_label)s.change_%(model_name)s"],
        "DELETE": ["%(app_label)s.delete_%(model_name)s"],
    }

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not user or not user.is_authenticated:
            return False
        if getattr(view, "action_map", None) is not None and view.action is None:
            # No handler for this method: let the view answer 405 rather than 403.
            return True
        model = self._queryset(view).model
        action_permissions = getattr(view, "action_permissions", None) or {}
        action = getattr(view, "action", None)
        if action in action_permissions:
            perms = list(action_permissions[action])
        else:
            perms = self.get_required_permissions(request.method, model)
        if user.has_perms(perms):
            return True
        lookup = getattr(view, "lookup_url_kwarg", None) or getattr(view, "lookup_field", None)
        read_perm = f"{model._meta.app_label}.view_{model._meta.model_name}"
        if lookup and lookup in getattr(view, "kwargs", {}) and not user.has_perm(read_perm):
            raise Http404
        return False
