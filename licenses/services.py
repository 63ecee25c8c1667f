"""Multi-model workflows on licenses. Status changes themselves are License methods."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import models, transaction

from packages.choices import SITE_LICENSE, DefaultLicenseStatus

from .choices import Actor, EventKind, LicenseStatus, OrgType
from .exceptions import LicenseError
from .models import License, LicenseEvent
from .signals import LicenseChange, LicenseSnapshot, send_licenses_changed

if TYPE_CHECKING:
    from leads.models import Account, Lead
    from packages.models import Package, PackageVersion


@dataclass(frozen=True)
class OrgDetails:
    """What a subscriber org tells us about itself on install."""

    org_id: str
    name: str = ""
    edition: str = ""
    instance: str = ""
    is_sandbox: bool = False
    parent_org_id: str | None = None


def license_build(
    *,
    package: Package,
    version: PackageVersion | None,
    org: OrgDetails,
    installed_at: datetime,
    account: Account | None = None,
    lead: Lead | None = None,
    previous_license: License | None = None,
) -> License:
    """The unsaved license an install creates: the package defaults, or for a reinstall the
    state of the license it had before the uninstall."""
    license = License(
        package=package,
        version=version,
        org_id=org.org_id,
        org_name=org.name,
        org_edition=org.edition,
        org_instance=org.instance,
        org_type=OrgType.SANDBOX if org.is_sandbox else OrgType.PRODUCTION,
        is_sandbox=org.is_sandbox,
        parent_org_id=org.parent_org_id or None,
        installed_at=installed_at,
        account=account,
        lead=lead,
        previous_license=previous_license,
    )
    if previous_license is not None:
        # A reinstall carries over the state it had, so uninstalling never farms a new trial.
        _carry_over(license, previous_license, installed_at)
    else:
        _apply_package_defaults(license, package, installed_at)
    return license


def license_created_event(license: License) -> tuple[str, dict[str, Any]]:
    """The kind and `after` of the history row that records a license's creation."""
    previous = license.previous_license
    kind = EventKind.REINSTALLED if previous else EventKind.INSTALLED
    return kind, {
        "status": license.status,
        "seats": license.seats,
        "expires_at": license.expires_at,
        "version": license.version.version_number if license.version else None,
        "previous_license": previous.name if previous else None,
    }


@dataclass(frozen=True)
class NewLicense:
    """What `licenses_create` needs to create one license (see `license_create`)."""

    package: Package
    version: PackageVersion | None
    org: OrgDetails
    installed_at: datetime
    account: Account | None = None
    lead: Lead | None = None
    previous_license: License | None = None
    by: Any = Actor.SUBSCRIBER
    source_event_id: str | None = None
    last_event_at: datetime | None = None


def license_create(
    *,
    package: Package,
    version: PackageVersion | None,
    org: OrgDetails,
    installed_at: datetime,
    account: Account | None = None,
    lead: Lead | None = None,
    previous_license: License | None = None,
    by: Any = Actor.SUBSCRIBER,
    source_event_id: str | None = None,
    last_event_at: datetime | None = None,
) -> License:
    """Create a subscriber org's license from the package defaults, or carried over from the
    license it had before an uninstall, with its history row. The install workflow then
    gives it its feature values (features.services.feature_values_create_for_license).
    """
    new = NewLicense(
        package=package,
        version=version,
        org=org,
        installed_at=installed_at,
        account=account,
        lead=lead,
        previous_license=previous_license,
        by=by,
        source_event_id=source_event_id,
        last_event_at=last_event_at,
    )
    return licenses_create([new])[0]


def licenses_create(items: Sequence[NewLicense]) -> list[License]:
    """Create several licenses, each as `license_create` describes, in one INSERT per table.

    Every license is built and checked before anything is written, so a refusal (its
    `ValidationError`) leaves nothing behind and a caller may catch it and go on; with
    nothing to undo, no savepoint is needed. Once writing starts, an error aborts the
    caller's transaction (or this one, outside any).
    """
    licenses = [_license_checked(item) for item in items]
    if not licenses:
        return []
    _check_one_live_license(licenses)
    with transaction.atomic(savepoint=False):
        License.objects.bulk_create(licenses)
        events = []
        for license, item in zip(licenses, items, strict=True):
            kind, after = license_created_event(license)
            events.append(
                license.build_event(
                    kind,
                    by=item.by,
                    after=after,
                    source_event_id=item.source_event_id,
                    at=item.installed_at,
                )
            )
        LicenseEvent.record_many(events)
        send_licenses_changed(
            LicenseChange(None, LicenseSnapshot.of(license), item.installed_at)
            for license, item in zip(licenses, items, strict=True)
        )
    return licenses


def _license_checked(item: NewLicense) -> License:
    """The unsaved license for one item, its fields validated."""
    license = license_build(
        package=item.package,
        version=item.version,
        org=item.org,
        installed_at=item.installed_at,
        account=item.account,
        lead=item.lead,
        previous_license=item.previous_license,
    )
    license.last_event_at = item.last_event_at
    # The fields are checked here; of the table's constraints only the one-live-license rule
    # can be broken by a caller (an org installing twice), so only it is asked before the
    # INSERT (_check_one_live_license), to answer with its ValidationError. The CHECK
    # constraints hold for what license_build derives from the package and the database
    # enforces them on the INSERT; asking each first cost a SELECT apiece on every install.
    license.full_clean(
        exclude=["lead", "account", "version", "previous_license", "package"],
        validate_constraints=False,
    )
    return license


def _check_one_live_license(licenses: Sequence[License]) -> None:
    """Refuse, before any write, a license whose org already has a live one of its package
    (in the database or earlier in `licenses`): one query for all of them."""
    constraint = _one_live_license_constraint()
    seen: set[tuple[int, str]] = set()
    for license in licenses:
        key = (license.package_id, license.org_id)
        if key in seen:
            raise ValidationError(
                constraint.get_violation_error_message(), code=constraint.violation_error_code
            )
        seen.add(key)
    orgs_by_package: dict[int, list[str]] = {}
    for package_id, org_id in seen:
        orgs_by_package.setdefault(package_id, []).append(org_id)
    wanted = models.Q()
    for package_id, org_ids in orgs_by_package.items():
        wanted |= models.Q(package_id=package_id, org_id__in=org_ids)
    taken = set(
        License.objects.filter(wanted)
        .exclude(status=LicenseStatus.UNINSTALLED)
        .values_list("package_id", "org_id")
    )
    for license in licenses:
        if (license.package_id, license.org_id) in taken:
            # Asked again for this one license, so the refusal is the constraint's own.
            constraint.validate(License, license)


def _one_live_license_constraint() -> models.UniqueConstraint:
    return next(
        c for c in License._meta.constraints if c.name == "license_one_live_per_org_package"
    )


def _apply_package_defaults(license: License, package: Package, installed_at: datetime) -> None:
    license.seats = SITE_LICENSE if license.is_sandbox else package.default_seats
    license.expires_at = package.default_expiry(installed_at)
    if package.default_status == DefaultLicenseStatus.TRIAL:
        license.status = LicenseStatus.TRIAL
        license.trial_started_at = installed_at
    else:
        license.status = LicenseStatus.ACTIVE
        license.activated_at = installed_at


def _carry_over(license: License, previous: License, installed_at: datetime) -> None:
    license.status = previous.status_before_uninstall or LicenseStatus.EXPIRED
    license.seats = previous.seats
    license.expires_at = previous.expires_at
    license.trial_started_at = previous.trial_started_at
    license.activated_at = previous.activated_at
    license.account = license.account or previous.account
    license.lead = license.lead or previous.lead
    license.status_before_suspension = previous.status_before_suspension
    if (
        license.status == LicenseStatus.TRIAL
        and license.expires_at + license.package.grace <= installed_at
    ):
        # The trial and its grace ran out while the package was uninstalled; the sweep
        # would do the same.
        license.status = LicenseStatus.EXPIRED


@dataclass(frozen=True)
class BulkOutcome:
    license_id: int
    license_name: str
    ok: bool
    message: str = ""


def licenses_bulk_apply(*, licenses: list[License], action: str, apply: Any) -> list[BulkOutcome]:
    """Run one action per license; a refusal is reported for that license and the rest go on."""
    outcomes = []
    for license in licenses:
        try:
            apply(license)
        except LicenseError as exc:
            outcomes.append(BulkOutcome(license.pk, license.name, False, exc.message))
        except ValidationError as exc:
            outcomes.append(BulkOutcome(license.pk, license.name, False, " ".join(exc.messages)))
        else:
            outcomes.append(BulkOutcome(license.pk, license.name, True, f"{action}: done"))
    return outcomes
