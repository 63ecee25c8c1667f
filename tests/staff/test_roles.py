import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command

from licenses.models import License
from staff.roles import GROUP_NAMES
from tests.factories import UserFactory, make_license


def test_role_groups__exist_after_migrate(db):
    assert set(Group.objects.values_list("name", flat=True)) >= set(GROUP_NAMES.values())


@pytest.mark.parametrize(
    ("role", "can_view", "can_change_status"),
    [
        ("ops", True, True),
        ("support", True, False),
        ("manager", True, False),
        ("admin", False, False),
        (None, False, False),
    ],
)
def test_role_permissions__on_licenses(db, role, can_view, can_change_status):
    user = UserFactory(username=f"u-{role}", role=role)
    assert user.has_perm("licenses.view_license") is can_view
    assert user.has_perm("licenses.change_license_status") is can_change_status


def test_license_visibility__user_without_role_sees_none(db):
    make_license()
    assert License.objects.visible_to(UserFactory(username="nobody")).count() == 0
    assert License.objects.visible_to(UserFactory(username="ops1", role="ops")).count() == 1


def test_create_user_command__creates_staff_user_with_role(db, capsys):
    call_command("create_user", "jane", "--role", "support", "--password", "s3cret-pass")
    out = capsys.readouterr().out
    assert "Created jane (Support)" in out
    user = UserFactory._meta.model.objects.get(username="jane")
    assert user.is_staff and user.check_password("s3cret-pass")
    assert list(user.groups.values_list("name", flat=True)) == ["Support"]


def test_sync_roles_command__restores_removed_permissions(db):
    group = Group.objects.get(name="Support")
    group.permissions.clear()
    call_command("sync_roles")
    assert group.permissions.filter(codename="view_license").exists()
