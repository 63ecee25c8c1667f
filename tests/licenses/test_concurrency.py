"""Racing requests on one license: the row lock makes the second one see the first."""

import pytest

from licenses.choices import EventKind, LicenseStatus
from licenses.exceptions import InvalidTransition
from licenses.models import License
from tests.concurrency import race
from tests.factories import UserFactory, make_license


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_activate__two_racing_requests__one_change_and_one_event():
    # Given a trial
    license = make_license()
    user = UserFactory(username="racer", role="ops")

    # When two requests activate it at the same moment
    results = race(lambda: License.objects.get(pk=license.pk).activate(by=user, seats=30))

    # Then exactly one went through and the other was refused by the re-check
    refused = [r for r in results if isinstance(r, InvalidTransition)]
    assert len(refused) == 1, results
    license.refresh_from_db()
    assert license.status == LicenseStatus.ACTIVE
    assert license.events.filter(kind=EventKind.STATUS_CHANGED).count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_set_seats__three_racing_requests__one_change_and_one_event():
    license = make_license()
    user = UserFactory(username="racer2", role="ops")
    results = race(lambda: License.objects.get(pk=license.pk).set_seats(by=user, seats=77), count=3)
    changed = [r for r in results if r is not None and not isinstance(r, Exception)]
    assert len(changed) == 1, results
    assert license.events.filter(kind=EventKind.SEATS_CHANGED).count() == 1
