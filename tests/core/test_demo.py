import re

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from leads.models import Lead
from licenses.models import License
from packages.models import Package


def test_bootstrap_demo__is_idempotent_and_prints_logins(db, capsys, settings):
    settings.DEBUG = True
    call_command("bootstrap_demo")
    first = capsys.readouterr().out
    licenses = License.objects.count()
    call_command("bootstrap_demo")
    second = capsys.readouterr().out

    assert licenses > 50
    assert License.objects.count() == licenses
    assert Package.objects.count() == 2
    assert Lead.objects.exists()
    for username in ("admin", "demo-ops", "demo-support", "demo-manager", "demo-admin"):
        assert username in first and username in second
    assert "Webhook secret: whsec_" in first
    assert set(License.objects.values_list("status", flat=True)) >= {"trial", "active"}


def test_demo_data__reads_like_real_customers(db):
    # Given the demo data loaded
    from lmo.demo import CUSTOMERS, load_demo_data

    load_demo_data(orgs=60)
    domains = dict(CUSTOMERS.values())
    leads = list(Lead.objects.all())

    # Then every lead's email is at its own company's domain
    assert leads
    for lead in leads:
        assert lead.email.endswith("@" + domains[lead.company]), (lead.email, lead.company)
    # And leads were created over the simulated months, not all at one moment
    created = sorted(lead.created_at for lead in leads)
    assert len(set(created)) > len(leads) // 2
    assert (created[-1] - created[0]).days > 60
    # And one customer runs several orgs, named after its divisions
    acme_orgs = set(
        License.objects.filter(org_name__startswith="Acme Corporation").values_list(
            "org_id", flat=True
        )
    )
    assert len(acme_orgs) > 1


def test_bootstrap_demo__debug_off__refuses_and_creates_nobody(db, settings):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="DEBUG is off"):
        call_command("bootstrap_demo")

    assert not get_user_model().objects.filter(username="admin").exists()


def test_bootstrap_demo__debug_off_with_flag__loads(db, settings, capsys, monkeypatch):
    settings.DEBUG = False
    monkeypatch.setenv("DEMO_PASSWORD", "given-demo-pass-1")

    call_command("bootstrap_demo", "--allow-without-debug")

    assert get_user_model().objects.get(username="demo-ops").check_password("given-demo-pass-1")


def test_bootstrap_demo__no_demo_password__random_password_never_the_old_default(
    db, settings, capsys, monkeypatch
):
    settings.DEBUG = True
    monkeypatch.delenv("DEMO_PASSWORD", raising=False)

    call_command("bootstrap_demo")

    admin = get_user_model().objects.get(username="admin")
    assert not admin.check_password("demo-password")
    printed = re.search(r"password for all: (\S+)\)", capsys.readouterr().out).group(1)
    assert admin.check_password(printed)
