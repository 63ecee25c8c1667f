"""Whatever arrives, the webhook answers 2xx or 4xx, and a rejected delivery writes nothing."""

import json

from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leads.models import Lead
from licenses.models import License
from subscribers.models import SubscriberEvent

from .helpers import WEBHOOK_URL, iso, signed_headers

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)

ORG_IDS = st.sampled_from(["00D5g000004AbCd", "00D5g000004AbCdEAK", "00Dbad", "", 7, None])
TYPES = st.sampled_from(
    ["package.installed", "package.upgraded", "package.uninstalled", "usage.reported", "x", 1]
)


@st.composite
def event_like(draw, package_id: str):
    """Bodies close to real events, with any part swapped for arbitrary JSON."""
    org = {"id": draw(ORG_IDS)}
    if draw(st.booleans()):
        org.update(
            draw(st.dictionaries(st.sampled_from(["name", "is_sandbox", "type"]), json_values))
        )
    data = {
        "package_id": draw(st.sampled_from([package_id, "033000000000999", "bad", None])),
        "org": draw(st.just(org) | json_values),
    }
    data.update(
        draw(
            st.dictionaries(
                st.sampled_from(
                    ["version_id", "version_number", "used_licenses", "parameters", "installer"]
                ),
                json_values
                | st.sampled_from(["04t000000000001", "1.2.3", {"Jobs_Run": 3}, {"Premium": 1}]),
                max_size=3,
            )
        )
    )
    body = {
        "type": draw(TYPES),
        "timestamp": draw(st.sampled_from([iso_now(), "2026-01-01T00:00:00Z", "nope", 0])),
        "data": draw(st.just(data) | json_values),
    }
    return draw(st.just(body) | json_values)


def iso_now() -> str:
    from django.utils import timezone

    return iso(timezone.now())


header_values = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=60)


def _counts():
    return SubscriberEvent.objects.count(), License.objects.count(), Lead.objects.count()


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_webhook__arbitrary_signed_bodies__no_5xx_and_rejections_write_nothing(pkg, data):
    # Given an arbitrary body, correctly signed so it reaches validation
    body = data.draw(event_like(pkg.package_id))
    raw = json.dumps(body).encode()
    event_id = data.draw(st.text(min_size=1, max_size=40).filter(lambda s: s.strip()))
    before = _counts()

    # When it is delivered
    response = Client().post(
        WEBHOOK_URL,
        data=raw,
        content_type="application/json",
        headers=signed_headers(raw, event_id=event_id),
    )

    # Then it is answered without a server error, and a refusal stores nothing
    assert response.status_code in (200, 202, 400, 401), response.content
    if response.status_code not in (200, 202):
        assert _counts() == before
        assert "error" in response.json()


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    raw=st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode()),
    headers=st.dictionaries(
        # Not content-length: the test client cannot send fewer bytes than it announces.
        st.sampled_from(["webhook-id", "webhook-timestamp", "webhook-signature", "accept"]),
        header_values,
    ),
)
def test_webhook__arbitrary_headers_and_bytes__401_or_4xx_never_5xx(db, raw, headers):
    before = _counts()

    response = Client().post(
        WEBHOOK_URL, data=raw, content_type="application/json", headers=headers
    )

    assert 400 <= response.status_code < 500, response.content
    assert response.status_code != 410
    assert _counts() == before
