"""Who may raise whose access in the console: users, API tokens, sign-in lockouts."""

import re

import pytest
from django.contrib.auth.models import Group
from knox.models import AuthToken

from staff.roles import GROUP_NAMES, Role
from staff.tokens import api_token_create
from tests.factories import UserFactory


def _user_form(user, **overrides) -> dict:
    """What the user's change page posts back, with `overrides` applied."""
    data = {
        "username": user.username,
        "email": user.email,
        "first_name": "",
        "last_name": "",
        "is_active": "on",
        "is_staff": "on",
        "groups": [str(pk) for pk in user.groups.values_list("pk", flat=True)],
        "date_joined_0": user.date_joined.strftime("%Y-%m-%d"),
        "date_joined_1": user.date_joined.strftime("%H:%M:%S"),
        "last_login_0": "",
        "last_login_1": "",
    }
    data.update(overrides)
    return data


def _group(role: Role) -> Group:
    return Group.objects.get(name=GROUP_NAMES[role])


def test_user_admin__administrator_ticks_superuser_on_self__stays_administrator(
    client, admin_user_role
):
    # Given an Administrator signed in to the console
    client.force_login(admin_user_role)
    url = f"/admin/auth/user/{admin_user_role.pk}/change/"

    # When they post their own user with is_superuser ticked
    response = client.post(url, _user_form(admin_user_role, is_superuser="on"))

    # Then it is refused and they are still no superuser
    assert response.status_code == 403
    admin_user_role.refresh_from_db()
    assert not admin_user_role.is_superuser


def test_user_admin__administrator_changes_ops_user__cannot_grant_superuser_or_admin_group(
    client, admin_user_role, ops_user
):
    client.force_login(admin_user_role)
    url = f"/admin/auth/user/{ops_user.pk}/change/"
    admins = _group(Role.ADMIN)

    # When an Administrator posts an ops user as superuser in the Administrators group
    response = client.post(url, _user_form(ops_user, is_superuser="on", groups=[str(admins.pk)]))

    # Then the group is refused as an invalid choice and nothing changed
    assert response.status_code == 200
    assert "groups" in response.context["adminform"].form.errors
    ops_user.refresh_from_db()
    assert not ops_user.is_superuser
    assert not ops_user.groups.filter(pk=admins.pk).exists()


def test_user_admin__administrator_moves_ops_user_to_support__allowed_but_superuser_ignored(
    client, admin_user_role, ops_user
):
    client.force_login(admin_user_role)
    support = _group(Role.SUPPORT)

    response = client.post(
        f"/admin/auth/user/{ops_user.pk}/change/",
        _user_form(ops_user, is_superuser="on", groups=[str(support.pk)]),
    )

    # Then the role change is saved; the superuser flag is not theirs to set
    assert response.status_code == 302
    ops_user.refresh_from_db()
    assert list(ops_user.groups.all()) == [support]
    assert not ops_user.is_superuser


def test_user_admin__administrator__cannot_change_a_superuser_or_their_password(
    client, admin_user_role
):
    boss = UserFactory(username="boss", is_superuser=True)
    client.force_login(admin_user_role)

    response = client.post(
        f"/admin/auth/user/{boss.pk}/password/",
        {"password1": "N3w-pass-for-boss!", "password2": "N3w-pass-for-boss!"},
    )

    assert response.status_code == 403
    boss.refresh_from_db()
    assert boss.check_password("pw")


def test_user_admin__superuser__grants_the_administrators_group(client, ops_user):
    root = UserFactory(username="root", is_superuser=True)
    client.force_login(root)
    admins = _group(Role.ADMIN)

    response = client.post(
        f"/admin/auth/user/{ops_user.pk}/change/", _user_form(ops_user, groups=[str(admins.pk)])
    )

    assert response.status_code == 302
    assert ops_user.groups.filter(pk=admins.pk).exists()


# --- API tokens -----------------------------------------------------------------------------


def test_api_token__stored_hashed__the_key_is_nowhere_in_the_database(db, ops_user):
    token, key = api_token_create(user=ops_user, expires_at=None)

    stored = AuthToken.objects.get(pk=token.pk)
    assert key not in (stored.digest, stored.token_key)
    assert not AuthToken.objects.filter(digest=key).exists()


def test_token_admin__list__never_shows_a_key_and_hides_superusers_tokens(
    client, admin_user_role, ops_user
):
    # Given tokens of an ops user and of a superuser
    _, ops_key = api_token_create(user=ops_user, expires_at=None)
    root = UserFactory(username="root", is_superuser=True)
    _, root_key = api_token_create(user=root, expires_at=None)
    client.force_login(admin_user_role)

    # When an Administrator opens the token list
    page = client.get("/admin/knox/authtoken/").content.decode()

    # Then no key appears, and the superuser's token is not listed at all
    assert ops_key not in page and ops_key[:15] not in page
    assert root_key not in page
    assert "ops" in page
    assert ">root<" not in page


def test_token_admin__add__shows_the_key_once_and_it_authenticates(client, admin_user_role):
    client.force_login(admin_user_role)

    response = client.post(
        "/admin/knox/authtoken/add/",
        {"user": admin_user_role.pk, "expiry_0": "", "expiry_1": ""},
        follow=True,
    )

    message = " ".join(str(m) for m in response.context["messages"])
    key = re.search(r"API token for administrator: ([0-9a-f]{64})", message).group(1)
    api = client.__class__()
    assert api.get("/api/v1/packages/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 200
    # The list afterwards does not repeat it
    assert key not in client.get("/admin/knox/authtoken/").content.decode()


def test_token_admin__administrator__cannot_make_a_token_for_someone_else(client, admin_user_role):
    root = UserFactory(username="root", is_superuser=True)
    client.force_login(admin_user_role)

    response = client.post(
        "/admin/knox/authtoken/add/", {"user": root.pk, "expiry_0": "", "expiry_1": ""}
    )

    assert response.status_code == 200  # the form again, with the error
    assert "user" in response.context["adminform"].form.errors
    assert not AuthToken.objects.filter(user=root).exists()


# --- Sign-in throttling ----------------------------------------------------------------------


def _login(client, username: str, password: str, ip: str = "10.0.0.1"):
    return client.post(
        "/admin/login/?next=/admin/",
        {"username": username, "password": password},
        REMOTE_ADDR=ip,
    )


def test_login__after_five_wrong_passwords__the_right_one_is_refused(client, ops_user):
    for _ in range(4):
        assert _login(client, "ops", "wrong").status_code == 200
    assert _login(client, "ops", "wrong").status_code == 429

    response = _login(client, "ops", "pw")

    assert response.status_code == 429
    assert "locked" in response.content.decode().lower()
    assert "_auth_user_id" not in client.session


def test_login__lockout_per_user__holds_from_another_address(client, ops_user):
    for n in range(5):
        _login(client, "ops", "wrong", ip=f"10.0.1.{n}")

    assert _login(client, "ops", "pw", ip="10.9.9.9").status_code == 429


def test_login__lockout_per_address__covers_other_user_names(client, ops_user):
    for n in range(5):
        _login(client, f"guess{n}", "wrong", ip="10.0.2.1")

    assert _login(client, "ops", "pw", ip="10.0.2.1").status_code == 429
    # Another address still signs in
    assert _login(client, "ops", "pw", ip="10.0.2.2").status_code == 302


def test_login__under_the_limit__signs_in(client, ops_user):
    for _ in range(4):
        _login(client, "ops", "wrong")

    assert _login(client, "ops", "pw").status_code == 302


def test_lockouts__visible_to_administrators_in_the_console(client, admin_user_role, ops_user):
    for _ in range(5):
        _login(client, "ops", "wrong", ip="10.0.3.1")
    client.force_login(admin_user_role)

    page = client.get("/admin/axes/accessattempt/")

    assert page.status_code == 200
    assert "10.0.3.1" in page.content.decode()


@pytest.mark.parametrize("role", ["ops", "support", "manager"])
def test_lockouts__hidden_from_other_roles(client, users_by_role, role):
    client.force_login(users_by_role[role])

    assert client.get("/admin/axes/accessattempt/").status_code == 403
