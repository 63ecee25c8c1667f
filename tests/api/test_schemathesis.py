"""Schemathesis against the OpenAPI document: generated input for every operation, no 5xx,
and every response matches the schema."""

import json
import os

import pytest
import schemathesis
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.core.serializers.json import DjangoJSONEncoder
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from licenses.choices import LicenseStatus
from subscribers.choices import EventType, Outcome
from subscribers.models import SubscriberEvent
from tests.api.conftest import token_client
from tests.factories import (
    AccountFactory,
    FeatureParameterFactory,
    LeadFactory,
    PackageFactory,
    PackageVersionFactory,
    make_license,
)


def _load_schema():
    document = SchemaGenerator().get_schema(request=None, public=True)
    schema = schemathesis.openapi.from_dict(json.loads(json.dumps(document, cls=DjangoJSONEncoder)))
    schema.app = WSGIHandler()
    # The coverage phase (boundary values and type mutations of every parameter) sends about
    # five times the requests of the generated examples; LMO_FUZZ_COVERAGE=0 skips it.
    schema.config.phases.coverage.enabled = os.environ.get("LMO_FUZZ_COVERAGE") != "0"
    return schema


schema = _load_schema()


@pytest.fixture
def _keep_test_connection():
    """Requests go through the real WSGI handler; like Django's test client, keep it from
    closing the connection that holds the test's transaction."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def fuzz_world(db):
    """A small world: what every operation needs to find at least one object."""
    package = PackageFactory()
    version = PackageVersionFactory(package=package, version_number="1.0.0")
    FeatureParameterFactory(package=package, developer_name="Premium")
    trial = make_license(package=package, version=version)
    make_license(package=package, version=version, status=LicenseStatus.ACTIVE)
    AccountFactory()
    LeadFactory(package=package)
    SubscriberEvent.objects.create(
        event_id="msg_fuzz_1",
        type=EventType.INSTALLED,
        occurred_at=trial.installed_at,
        package_id=package.package_id,
        org_id=trial.org_id,
        payload={},
        outcome=Outcome.APPLIED,
        license=trial,
    )


@pytest.fixture
def ops_token(fuzz_world, ops_user, _keep_test_connection):
    client = token_client(ops_user)
    return client._credentials["HTTP_AUTHORIZATION"]


@schema.parametrize()
@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_api__generated_requests__never_5xx_and_conform_to_schema(case, ops_token):
    # Two checks do not fit this API: schema-valid input can still break a rule that
    # depends on state or time (an expiry in the past, a suspended license), so a 400/422
    # there is right; and an empty query value (`?status=`) means "no filter", not an error.
    case.call_and_validate(
        headers={"Authorization": ops_token},
        excluded_checks=[positive_data_acceptance, negative_data_rejection],
    )


@pytest.fixture
def admin_token(fuzz_world, admin_user_role, _keep_test_connection):
    client = token_client(admin_user_role)
    return client._credentials["HTTP_AUTHORIZATION"]


@schema.include(path_regex=r"^/api/v1/(packages|feature-parameters)/").parametrize()
@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_api__as_administrator__package_and_parameter_writes_never_5xx(case, admin_token):
    # Partner Ops may not write packages or parameters; administrators reach those paths.
    case.call_and_validate(
        headers={"Authorization": admin_token},
        excluded_checks=[positive_data_acceptance, negative_data_rejection],
    )
