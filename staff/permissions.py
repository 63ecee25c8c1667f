"""API permissions: the same role permissions the console uses, checked for every method."""

from rest_framework.permissions import DjangoModelPermissions


class HasRolePermission(DjangoModelPermissions):
    """Authenticated, and the user's role grants the model permission for the method.

    Unlike DRF's default, reads need the view permission too: license data is private,
    so a staff user with no role reads nothing.
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
