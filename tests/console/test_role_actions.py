"""Every console action for every role: it takes effect for the roles allowed to run it,
and changes nothing for the others."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from features.models import FeatureParameter, FeatureParameterValue
from leads.models import Lead
from licenses.models import License
from packages.models import Package, SubscriberApiKey
from subscribers.models import SubscriberEvent
from tests.factories import AccountFactory, LeadFactory

OPS = {"ops"}
ADMIN = {"admin"}


def _changelist_action(url_name, action, objs, **fields):
    def post(client, w):
        data = {
            "action": action,
            "_selected_action": [o(w).pk for o in objs],
            "select_across": "0",
            "apply": "1",
            **{k: (v(w) if callable(v) else v) for k, v in fields.items()},
        }
        return client.post(reverse(url_name), data)

    return post


def _lic(name):
    return lambda w: License.objects.get(pk=w[name].pk)


def _when(w, days):
    return (w["trial"].trial_started_at + dt.timedelta(days=days)).strftime("%Y-%m-%dT%H:%M")


LICENSES = "admin:licenses_license_changelist"

# (name, who may, do it, read the state it changes)
ACTIONS = [
    (
        "set seats",
        OPS,
        _changelist_action(LICENSES, "action_set_seats", [_lic("active")], seats="33"),
        lambda w: _lic("active")(w).seats,
    ),
    (
        "set expiration",
        OPS,
        _changelist_action(
            LICENSES,
            "action_set_expiration",
            [_lic("active")],
            expires_at=lambda w: (timezone.now() + dt.timedelta(days=200)).strftime(
                "%Y-%m-%dT%H:%M"
            ),
        ),
        lambda w: _lic("active")(w).expires_at,
    ),
    (
        "extend trial",
        OPS,
        _changelist_action(
            LICENSES, "action_extend_trial", [_lic("trial")], until=lambda w: _when(w, 40)
        ),
        lambda w: _lic("trial")(w).expires_at,
    ),
    (
        "suspend",
        OPS,
        _changelist_action(LICENSES, "action_suspend", [_lic("trial")], reason="Terms"),
        lambda w: _lic("trial")(w).status,
    ),
    (
        "reinstate",
        OPS,
        _changelist_action(LICENSES, "action_reinstate", [_lic("trial")]),
        lambda w: _lic("trial")(w).status,
    ),
    (
        "activate",
        OPS,
        _changelist_action(LICENSES, "action_activate", [_lic("trial")], seats="5"),
        lambda w: _lic("trial")(w).status,
    ),
    (
        "assign account",
        OPS,
        lambda client, w: client.post(
            reverse("admin:licenses_license_change", args=[w["trial"].pk]),
            {"assign_account": w["new_account"].pk, "_save": "Save"},
        ),
        lambda w: _lic("trial")(w).account_id,
    ),
    (
        "feature value",
        OPS,
        lambda client, w: client.post(
            reverse("admin:licenses_license_features", args=[w["active"].pk]),
            {f"param_{w['premium'].pk}": "true"},
        ),
        lambda w: (
            FeatureParameterValue.objects.get(license=w["active"], parameter=w["premium"]).value
        ),
    ),
    (
        "bulk feature value",
        OPS,
        _changelist_action(
            "admin:features_featureparameter_changelist",
            "bulk_set_value",
            [lambda w: w["premium"]],
            value="true",
            statuses=["trial", "active"],
        ),
        lambda w: (
            FeatureParameterValue.objects.get(license=w["trial"], parameter=w["premium"]).value
        ),
    ),
    (
        "convert lead",
        OPS,
        _changelist_action(
            "admin:leads_lead_changelist", "convert_leads", [lambda w: w["lead"]], account_name="X"
        ),
        lambda w: Lead.objects.get(pk=w["lead"].pk).status,
    ),
    (
        "merge leads",
        OPS,
        _changelist_action(
            "admin:leads_lead_changelist",
            "merge_leads",
            [lambda w: w["dup1"], lambda w: w["dup2"]],
            primary=lambda w: w["dup1"].pk,
        ),
        lambda w: Lead.objects.get(pk=w["dup2"].pk).status,
    ),
    (
        "link license manager",
        ADMIN,
        _changelist_action(
            "admin:packages_package_changelist",
            "link_license_manager",
            [lambda w: w["unlinked"]],
        ),
        lambda w: Package.objects.get(pk=w["unlinked"].pk).license_manager_linked,
    ),
    (
        "replay unrouted events",
        ADMIN,
        _changelist_action(
            "admin:packages_package_changelist",
            "replay_unrouted_events",
            [lambda w: w["unlinked"]],
        ),
        lambda w: SubscriberEvent.objects.get(pk=w["inbox"].pk).replayed_at is not None,
    ),
    (
        "create api key",
        ADMIN,
        lambda client, w: client.post(
            reverse("admin:packages_subscriberapikey_add"), {"package": w["package"].pk}
        ),
        lambda w: SubscriberApiKey.objects.count(),
    ),
    (
        "revoke api key",
        ADMIN,
        _changelist_action(
            "admin:packages_subscriberapikey_changelist", "revoke_keys", [lambda w: w["key"]]
        ),
        lambda w: SubscriberApiKey.objects.get(pk=w["key"].pk).revoked_at is not None,
    ),
    (
        "create feature parameter",
        ADMIN,
        lambda client, w: client.post(
            reverse("admin:features_featureparameter_add"),
            {
                "package": w["package"].pk,
                "developer_name": "Extra",
                "label": "Extra",
                "data_type": "boolean",
                "direction": "lmo_to_subscriber",
                "default_boolean": "true",
            },
        ),
        lambda w: FeatureParameter.objects.count(),
    ),
]


@pytest.mark.parametrize("role", ["ops", "support", "manager", "admin", "none"])
def test_console_actions__for_each_role__take_effect_only_where_allowed(
    world, users_by_role, client, role
):
    # Given the console's data, and a staff user with this role
    world["new_account"] = AccountFactory(name="Assigned Account")
    world["dup1"] = LeadFactory(email="dup@x.example")
    world["dup2"] = LeadFactory(email="dup@x.example")
    world["key"], _ = SubscriberApiKey.issue(package=world["package"])
    client.force_login(users_by_role[role])

    # When they run every action of the console in turn
    wrong = []
    for name, allowed_roles, run, state in ACTIONS:
        before = state(world)
        response = run(client, world)
        changed = state(world) != before
        if changed is not (role in allowed_roles):
            wrong.append(f"{name}: changed={changed} (HTTP {response.status_code})")

    # Then each took effect exactly for the roles allowed to run it
    assert wrong == []
