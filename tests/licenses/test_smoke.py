from licenses.choices import LicenseStatus
from tests.factories import make_license


def test_license_create__trial_package__starts_trial_with_expiry(db):
    license = make_license()
    assert license.status == LicenseStatus.TRIAL
    assert license.expires_at is not None
    assert license.name == f"L-{license.pk:05d}"
    assert license.events.count() == 1
