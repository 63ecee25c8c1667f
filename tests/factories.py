"""factory-boy factories shared by the whole suite."""

from __future__ import annotations

import datetime as dt
import random
import string

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from core.salesforce_ids import normalize_salesforce_id
from features.choices import DataType, Direction
from features.models import FeatureParameter
from features.services import feature_values_create_for_license
from leads.models import Account, Lead
from licenses.choices import LicenseStatus
from licenses.models import License
from licenses.services import OrgDetails, license_create
from packages.models import Package, PackageVersion
from staff.roles import GROUP_NAMES, Role, sync_role_groups

_rng = random.Random(1234)


def salesforce_id(prefix: str) -> str:
    """A random, valid 18-character id with the given prefix."""
    body = "".join(_rng.choice(string.ascii_letters + string.digits) for _ in range(12))
    return normalize_salesforce_id(prefix + body, prefix=prefix)


def org_id() -> str:
    return salesforce_id("00D")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@partner.example")
    is_staff = True
    password = factory.PostGenerationMethodCall("set_password", "pw")

    @factory.post_generation
    def role(self, create, extracted, **kwargs):
        if extracted:
            name = GROUP_NAMES[Role(extracted)]
            if not Group.objects.filter(name=name).exists():
                # transaction=True tests flush the tables the data migration filled.
                sync_role_groups()
            self.groups.add(Group.objects.get(name=name))
        if create:
            self.save()


class PackageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Package

    name = factory.Sequence(lambda n: f"Package {n}")
    namespace = factory.Sequence(lambda n: f"pkg{n}")
    package_id = factory.LazyFunction(lambda: salesforce_id("033"))
    developer_org_id = factory.LazyFunction(org_id)
    license_manager_linked = True
    linked_at = factory.LazyFunction(timezone.now)
    default_status = "trial"
    trial_days = 30
    default_seats = 10


class PackageVersionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PackageVersion

    package = factory.SubFactory(PackageFactory)
    version_number = factory.Sequence(lambda n: f"1.{n}.0")
    version_id = factory.LazyFunction(lambda: salesforce_id("04t"))
    name = factory.LazyAttribute(lambda o: f"Release {o.version_number}")
    release_date = factory.LazyFunction(lambda: dt.date(2026, 1, 1))


class FeatureParameterFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = FeatureParameter

    package = factory.SubFactory(PackageFactory)
    developer_name = factory.Sequence(lambda n: f"Feature_{n}")
    label = factory.LazyAttribute(lambda o: o.developer_name.replace("_", " "))
    data_type = DataType.BOOLEAN
    direction = Direction.LMO_TO_SUBSCRIBER
    default_boolean = factory.LazyAttribute(
        lambda o: False if o.data_type == DataType.BOOLEAN else None
    )


class AccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Account

    name = factory.Sequence(lambda n: f"Customer {n} Inc")
    website = factory.LazyAttribute(lambda o: f"https://customer{o.name.split()[1]}.example")


class LeadFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Lead

    first_name = "Ada"
    last_name = factory.Sequence(lambda n: f"Byron{n}")
    email = factory.LazyAttribute(lambda o: f"{o.last_name.lower()}@customer.example")
    company = factory.Sequence(lambda n: f"Prospect {n}")
    org_id = factory.LazyFunction(org_id)


def make_license(
    *,
    package: Package | None = None,
    version: PackageVersion | None = None,
    org_id_value: str | None = None,
    status: str = LicenseStatus.TRIAL,
    installed_at: dt.datetime | None = None,
    is_sandbox: bool = False,
    account: Account | None = None,
    lead: Lead | None = None,
    org_name: str = "Acme Corp",
    **overrides,
) -> License:
    """A license created the way an install creates one, then moved to `status` directly.

    The direct status write is for setting up test states only; production code goes
    through the License methods.
    """
    package = package or PackageFactory(
        default_status="active" if status == LicenseStatus.ACTIVE else "trial"
    )
    if version is None:
        version = PackageVersionFactory(package=package)
    license = license_create(
        package=package,
        version=version,
        org=OrgDetails(
            org_id=org_id_value or org_id(),
            name=org_name,
            edition="Enterprise Edition",
            instance="NA135",
            is_sandbox=is_sandbox,
        ),
        installed_at=installed_at or timezone.now(),
        account=account,
        lead=lead,
    )
    feature_values_create_for_license(license=license)
    fields = dict(overrides)
    if status != license.status:
        fields["status"] = status
        if status == LicenseStatus.ACTIVE and license.activated_at is None:
            fields.setdefault("activated_at", license.installed_at)
            fields.setdefault("expires_at", None)
        if status == LicenseStatus.UNINSTALLED:
            fields.setdefault("uninstalled_at", timezone.now())
        if status == LicenseStatus.SUSPENDED:
            fields.setdefault("status_before_suspension", license.status)
    if fields:
        License.objects.filter(pk=license.pk).update(**fields)
        license.refresh_from_db()
    return license
