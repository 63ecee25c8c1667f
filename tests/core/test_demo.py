from django.core.management import call_command

from leads.models import Lead
from licenses.models import License
from packages.models import Package


def test_bootstrap_demo__is_idempotent_and_prints_logins(db, capsys):
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
