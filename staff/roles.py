"""The partner team's roles: one Django group each, with the permissions the role grants.

This table is the single source of truth. A data migration creates the groups from it, and
`manage.py sync_roles` re-applies it after new models or permissions appear.
"""

from __future__ import annotations

from django.db import models


class Role(models.TextChoices):
    OPS = "ops", "Partner Ops"
    SUPPORT = "support", "Support"
    MANAGER = "manager", "Managers"
    ADMIN = "admin", "Administrators"


GROUP_NAMES = {role: role.label for role in Role}

_VIEW = ("view",)
_EDIT = ("view", "add", "change")
_FULL = ("view", "add", "change", "delete")

# {role: {"app_label.model": actions or custom codenames}}
ROLE_PERMISSIONS: dict[str, dict[str, tuple[str, ...]]] = {
    Role.OPS: {
        "licenses.license": (*_VIEW, "change", "change_license_status", "view_dashboard"),
        "licenses.licenseevent": _VIEW,
        "leads.lead": _EDIT,
        "leads.account": _EDIT,
        "leads.contact": _FULL,
        "features.featureparametervalue": ("view", "change"),
        "features.featureparameter": _VIEW,
        "packages.package": _VIEW,
        "packages.packageversion": _VIEW,
        "subscribers.subscriberevent": _VIEW,
        "jobs.sweeprun": _VIEW,
    },
    Role.SUPPORT: {
        "licenses.license": _VIEW,
        "licenses.licenseevent": _VIEW,
        "leads.lead": _VIEW,
        "leads.account": _VIEW,
        "leads.contact": _VIEW,
        "features.featureparametervalue": _VIEW,
        "features.featureparameter": _VIEW,
        "packages.package": _VIEW,
        "packages.packageversion": _VIEW,
        "subscribers.subscriberevent": _VIEW,
        "jobs.sweeprun": _VIEW,
    },
    Role.MANAGER: {
        "licenses.license": (*_VIEW, "view_dashboard"),
        "licenses.licenseevent": _VIEW,
        "leads.lead": _VIEW,
        "leads.account": _VIEW,
        "leads.contact": _VIEW,
        "features.featureparametervalue": _VIEW,
        "features.featureparameter": _VIEW,
        "packages.package": _VIEW,
        "packages.packageversion": _VIEW,
        "jobs.sweeprun": _VIEW,
    },
    Role.ADMIN: {
        "packages.package": _EDIT,
        "packages.packageversion": _EDIT,
        "packages.subscriberapikey": _FULL,
        "features.featureparameter": _EDIT,
        "subscribers.subscriberevent": ("view", "change"),
        "jobs.sweeprun": _VIEW,
        "jobs.outboxmessage": _VIEW,
        "auth.user": _FULL,
        "auth.group": _VIEW,
        # API tokens: Administrators create their own and revoke any but a superuser's.
        "knox.authtoken": ("view", "add", "delete"),
        # Sign-in lockouts: see them, and unlock by deleting the attempts.
        "axes.accessattempt": ("view", "delete"),
        "axes.accessfailurelog": _VIEW,
        "axes.accesslog": _VIEW,
        "django_celery_beat.periodictask": _FULL,
        "django_celery_beat.intervalschedule": _FULL,
        "django_celery_beat.crontabschedule": _FULL,
        "clock.clockchange": ("view", "move_clock"),
    },
}


def codenames_for(model_label: str, actions: tuple[str, ...]) -> list[str]:
    model = model_label.split(".", 1)[1]
    return [action if "_" in action else f"{action}_{model}" for action in actions]


def sync_role_groups(apps=None, *, verbosity: int = 0) -> None:
    """Create the role groups and set their permissions exactly to ROLE_PERMISSIONS."""
    from django.apps import apps as global_apps
    from django.contrib.auth.management import create_permissions

    apps = apps or global_apps
    # Permissions are normally created after all migrations; create them now so the
    # groups can be given them on a fresh database.
    for app_config in global_apps.get_app_configs():
        create_permissions(app_config, apps=apps, verbosity=verbosity)

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, table in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=GROUP_NAMES[role])
        wanted = []
        for model_label, actions in table.items():
            app_label, _model = model_label.split(".", 1)
            codenames = codenames_for(model_label, actions)
            wanted.extend(
                Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames)
            )
        group.permissions.set(wanted)
