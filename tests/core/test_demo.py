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
