"""Workflows on feature parameters and their per-license values."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import transaction

from jobs.choices import SweepJob
from jobs.services import SweepResult, sweep_finish, sweep_start
from licenses.cache import license_checks_invalidate
from licenses.choices import Actor, EventKind
from licenses.exceptions import LicenseError
from licenses.models import License
from lmo import clock

from .choices import MAX_PARAMETERS_PER_PACKAGE, DataType, Direction
from .exceptions import (
    FeatureError,
    ParameterImmutable,
    ParameterLimitReached,
    WrongDirection,
)
from .models import (
    IMMUTABLE_PARAMETER_FIELDS,
    FeatureOverride,
    FeatureParameter,
    FeatureParameterValue,
)
from .signals import FeatureValueChange, send_feature_values_changed, send_feature_values_created
from .values import coerce_feature_value, to_json

if TYPE_CHECKING:
    from packages.models import Package

VALUE_BATCH_SIZE = 1000


def feature_values_create_for_license(*, license: License) -> list[FeatureParameterValue]:
    """Give a new license one value per parameter of its package, each at its default."""
    return feature_values_create_for_licenses(licenses=[license])


def feature_values_create_for_licenses(
    *,
    licenses: Sequence[License],
    parameters: Mapping[int, Sequence[FeatureParameter]] | None = None,
) -> list[FeatureParameterValue]:
    """Give new licenses one value per parameter of their package, each at its default, in
    one INSERT. `parameters` (package pk -> its parameters) saves the lookup when the caller
    has already read them."""
    if parameters is None:
        parameters = {}
        for parameter in FeatureParameter.objects.filter(
            package_id__in={license.package_id for license in licenses}
        ):
            parameters.setdefault(parameter.package_id, []).append(parameter)
    values = []
    for license in licenses:
        for parameter in parameters.get(license.package_id, ()):
            value = FeatureParameterValue(
                license=license, parameter=parameter, data_type=parameter.data_type
            )
            value.value = parameter.default_value
            values.append(value)
    created = FeatureParameterValue.objects.bulk_create(values)
    send_feature_values_created(created, licenses)
    return created


@transaction.atomic
def feature_parameter_create(
    *,
    package: Package,
    developer_name: str,
    label: str,
    data_type: str,
    direction: str,
    default_value: Any = None,
    introduced_in_version=None,
) -> FeatureParameter:
    """Add a parameter to a package and give every live license of it the default value."""
    # Lock the package row so two creations can't both pass the 200-parameter check.
    type(package).objects.select_for_update().filter(pk=package.pk).first()
    if FeatureParameter.objects.filter(package=package).count() >= MAX_PARAMETERS_PER_PACKAGE:
        raise ParameterLimitReached(
            f"{package.namespace} already has {MAX_PARAMETERS_PER_PACKAGE} feature parameters."
        )
    parameter = FeatureParameter(
        package=package,
        developer_name=developer_name,
        label=label,
        data_type=data_type,
        direction=direction,
        introduced_in_version=introduced_in_version,
    )
    parameter.default_value = default_value
    parameter.full_clean()
    parameter.save()
    live = License.objects.filter(package=package).live().values_list("pk", "org_id").iterator()
    batch: list[FeatureParameterValue] = []
    cache_keys: list[tuple[int, str]] = []
    for license_id, org_id in live:
        value = FeatureParameterValue(
            license_id=license_id, parameter=parameter, data_type=data_type
        )
        value.value = parameter.default_value
        batch.append(value)
        cache_keys.append((package.pk, org_id))
        if len(batch) >= VALUE_BATCH_SIZE:
            _values_create(batch, cache_keys)
            batch, cache_keys = [], []
    _values_create(batch, cache_keys)
    return parameter


def _values_create(values: list[FeatureParameterValue], cache_keys: list[tuple[int, str]]) -> None:
    FeatureParameterValue.objects.bulk_create(values, ignore_conflicts=True)
    # The parameter is new in this transaction: no other has values of it, so none conflicted.
    send_feature_values_created(values)
    # No history row is written for a new parameter's defaults, so drop the cached license
    # checks here: the next check shows the new parameter.
    license_checks_invalidate(cache_keys)


@transaction.atomic
def feature_parameter_update(*, parameter: FeatureParameter, **changes: Any) -> FeatureParameter:
    """Change a parameter's label, default or version; type, direction and name are fixed."""
    frozen = [f for f in changes if f in IMMUTABLE_PARAMETER_FIELDS or f == "package"]
    frozen = [
        f
        for f in frozen
        if changes[f] != getattr(parameter, f) and changes[f] != getattr(parameter, f"{f}_id", None)
    ]
    if frozen:
        raise ParameterImmutable(
            f"{', '.join(sorted(frozen))} cannot change once the parameter exists."
        )
    for field in ("label", "introduced_in_version"):
        if field in changes:
            setattr(parameter, field, changes[field])
    if "default_value" in changes:
        parameter.default_value = changes["default_value"]
    parameter.full_clean()
    parameter.save()
    return parameter


@transaction.atomic
def feature_value_set(
    *,
    license: License,
    parameter: FeatureParameter,
    value: Any,
    by: Any,
    from_subscriber: bool = False,
    source_event_id: str | None = None,
    reason: str = "",
) -> bool:
    """Set one license's value of one parameter; False when it already had that value.

    Staff set LMO-to-subscriber parameters; subscribers report subscriber-to-LMO ones.
    """
    license.lock_for_change(f"change {parameter.developer_name}")
    expected = Direction.SUBSCRIBER_TO_LMO if from_subscriber else Direction.LMO_TO_SUBSCRIBER
    if parameter.package_id != license.package_id:
        raise ValidationError(
            {parameter.developer_name: "This parameter belongs to another package."}
        )
    if parameter.direction != expected:
        who = (
            "the subscriber org"
            if parameter.direction == Direction.SUBSCRIBER_TO_LMO
            else "the LMO"
        )
        raise WrongDirection(
            f"{parameter.developer_name} is set by {who} only; it is read-only here."
        )
    typed = coerce_feature_value(parameter.data_type, value, field=parameter.developer_name)
    row, created = FeatureParameterValue.objects.select_for_update().get_or_create(
        license=license,
        parameter=parameter,
        defaults={"data_type": parameter.data_type},
    )
    running = _override_running(license=license, parameter=parameter)
    if running is not None:
        # A value set by hand replaces the pilot: nothing is put back when it would have ended.
        _override_end(running, reason="replaced by a value set directly")
        row.override_until = None
    if row.value == typed:
        if created:
            send_feature_values_created([row], [license])
        if running is not None:
            row.save(update_fields=["override_until", "updated_at"])
            license.record_event(
                EventKind.FEATURE_CHANGED,
                by=by if by is not None else Actor.SYSTEM,
                before={parameter.developer_name: to_json(typed)},
                after={parameter.developer_name: to_json(typed)},
                reason=_joined("override replaced by a value set directly", reason),
            )
        return False
    before = row.value
    row.value = typed
    row.updated_by = by if not isinstance(by, str) and by is not None else None
    row.save()
    _send_changed(row, before, created, license)
    if running is not None:
        reason = _joined("override replaced by a value set directly", reason)
    license.record_event(
        EventKind.FEATURE_CHANGED,
        by=by if by is not None else Actor.SYSTEM,
        before={parameter.developer_name: to_json(before)},
        after={parameter.developer_name: to_json(typed)},
        source_event_id=source_event_id,
        reason=reason,
    )
    return True


def _send_changed(row: FeatureParameterValue, before: Any, created: bool, license: License) -> None:
    send_feature_values_changed(
        [
            FeatureValueChange(
                license.pk, row.parameter_id, row.data_type, before, row.value, created
            )
        ],
        [license],
    )


def _joined(*parts: str) -> str:
    return "; ".join(part for part in parts if part)


def _override_running(*, license: License, parameter: FeatureParameter) -> FeatureOverride | None:
    return (
        FeatureOverride.objects.select_for_update()
        .filter(license=license, parameter=parameter, ended_at__isnull=True)
        .first()
    )


def _override_end(override: FeatureOverride, *, reason: str) -> None:
    override.ended_at = clock.now()
    override.end_reason = reason[:200]
    override.save(update_fields=["ended_at", "end_reason"])


def _check_settable(license: License, parameter: FeatureParameter) -> None:
    license.ensure_editable(f"change {parameter.developer_name}")
    if parameter.package_id != license.package_id:
        raise ValidationError(
            {parameter.developer_name: "This parameter belongs to another package."}
        )
    if parameter.direction != Direction.LMO_TO_SUBSCRIBER:
        raise WrongDirection(
            f"{parameter.developer_name} is set by the subscriber org only; it is read-only here."
        )


@transaction.atomic
def feature_override_set(
    *,
    license: License,
    parameter: FeatureParameter,
    value: Any,
    until: datetime,
    by: Any,
    reason: str = "",
) -> FeatureOverride:
    """Give one license an LMO-to-subscriber value until `until`; the sweep puts back what
    it replaced when it lapses. A second override of the same parameter replaces the first
    and keeps the value from before the first, so the pilot still ends where it began."""
    license._lock()
    _check_settable(license, parameter)
    now = clock.now()
    if until is None or until <= now:
        raise ValidationError(
            {"until": "An override must end in the future."}, code="until_in_past"
        )
    typed = coerce_feature_value(parameter.data_type, value, field=parameter.developer_name)
    row, created = FeatureParameterValue.objects.select_for_update().get_or_create(
        license=license, parameter=parameter, defaults={"data_type": parameter.data_type}
    )
    running = _override_running(license=license, parameter=parameter)
    override = FeatureOverride(
        license=license,
        parameter=parameter,
        data_type=parameter.data_type,
        until=until,
        created_at=now,
        created_by=by if not isinstance(by, str) and by is not None else None,
        reason=reason,
    )
    override.value = typed
    if running is not None:
        override.previous_value = running.previous_value
        override.previous_was_default = running.previous_was_default
        _override_end(running, reason=f"replaced by an override until {until.isoformat()}")
    else:
        override.previous_value = row.value
        override.previous_was_default = row.value == parameter.default_value
    override.save()
    before = row.value
    row.value = typed
    row.override_until = until
    row.updated_by = override.created_by
    row.save()
    _send_changed(row, before, created, license)
    license.record_event(
        EventKind.FEATURE_CHANGED,
        by=by if by is not None else Actor.SYSTEM,
        before={parameter.developer_name: to_json(before)},
        after={parameter.developer_name: to_json(typed), "until": until},
        reason=_joined(f"override until {until.isoformat()}", reason),
    )
    return override


def feature_override_bulk_set(
    *,
    parameter: FeatureParameter,
    licenses: Iterable[License],
    value: Any,
    until: datetime,
    by: Any,
    reason: str = "",
) -> list[BulkResult]:
    """The same override on many licenses (a pilot for 20 orgs); each succeeds or is
    refused alone."""
    results = []
    for license in licenses:
        try:
            feature_override_set(
                license=license,
                parameter=parameter,
                value=value,
                until=until,
                by=by,
                reason=reason,
            )
        except (LicenseError, FeatureError, ValidationError) as exc:
            results.append(BulkResult(license.pk, license.name, "refused", _message(exc)))
            continue
        results.append(BulkResult(license.pk, license.name, "changed"))
    return results


def _message(exc: Exception) -> str:
    return getattr(exc, "message", None) or "; ".join(getattr(exc, "messages", [str(exc)]))


def feature_overrides_due(*, now: datetime):
    """Running overrides whose end has come (served by the partial index on until)."""
    return FeatureOverride.objects.filter(ended_at__isnull=True, until__lte=now)


@transaction.atomic
def feature_override_end(*, override_id: int, now: datetime) -> bool:
    """Put back the value a lapsed override replaced, with a feature_changed row whose
    reason says the override ended. False if it had already ended (another sweep did it,
    or it was replaced): each override ends exactly once."""
    license = License.objects.get(feature_overrides__pk=override_id)
    # The license first, as every feature change locks it: no deadlock with a staff edit.
    license._lock()
    override = (
        FeatureOverride.objects.select_for_update()
        .select_related("parameter")
        .filter(pk=override_id, ended_at__isnull=True, until__lte=now)
        .first()
    )
    if override is None:
        return False
    parameter = override.parameter
    reason = f"override ended (set until {override.until.isoformat()})"
    if license.is_locked:
        # Uninstalled: its values are frozen, so nothing is put back.
        _override_end(override, reason="ended; license uninstalled, values frozen")
        return True
    _override_end(override, reason="ended")
    restored = parameter.default_value if override.previous_was_default else override.previous_value
    row = FeatureParameterValue.objects.select_for_update().get(
        license=license, parameter=parameter
    )
    before = row.value
    row.value = restored
    row.override_until = None
    row.updated_by = None
    row.save()
    _send_changed(row, before, False, license)
    license.record_event(
        EventKind.FEATURE_CHANGED,
        by=Actor.SYSTEM,
        before={parameter.developer_name: to_json(before)},
        after={parameter.developer_name: to_json(restored)},
        reason=reason,
        at=now,
    )
    return True


def feature_overrides_end_due(*, now: datetime, batch_size: int = VALUE_BATCH_SIZE) -> int:
    """End every override whose time has come; returns how many this run ended."""
    ended = 0
    while True:
        ids = list(
            feature_overrides_due(now=now)
            .order_by("until", "pk")
            .values_list("pk", flat=True)[:batch_size]
        )
        if not ids:
            return ended
        progressed = 0
        for override_id in ids:
            if feature_override_end(override_id=override_id, now=now):
                progressed += 1
        ended += progressed
        if progressed == 0:
            # Another sweep ended these between our read and our locks; it has the rest too.
            return ended


def feature_overrides_sweep(*, now: datetime) -> SweepResult:
    """The scheduled run that ends lapsed overrides, recorded like the license sweeps."""
    run = sweep_start(job=SweepJob.END_OVERRIDES)
    return sweep_finish(run, count=feature_overrides_end_due(now=now), batches=1)


@dataclass(frozen=True)
class BulkResult:
    license_id: int
    license_name: str
    outcome: str  # "changed", "unchanged" or "refused"
    message: str = ""


def feature_value_bulk_set(
    *,
    parameter: FeatureParameter,
    licenses: Iterable[License],
    value: Any,
    by: Any,
    reason: str = "",
) -> list[BulkResult]:
    """Set one LMO-to-subscriber value on many licenses; each succeeds or is refused alone."""
    results = []
    for license in licenses:
        try:
            changed = feature_value_set(
                license=license, parameter=parameter, value=value, by=by, reason=reason
            )
        except (LicenseError, WrongDirection, ValidationError) as exc:
            message = getattr(exc, "message", None) or "; ".join(
                getattr(exc, "messages", [str(exc)])
            )
            results.append(BulkResult(license.pk, license.name, "refused", message))
            continue
        results.append(BulkResult(license.pk, license.name, "changed" if changed else "unchanged"))
    return results


@dataclass
class ParameterOutcome:
    """What setting one parameter did (or would do) to the chosen licenses of its package."""

    parameter: FeatureParameter
    value: Any
    results: list[BulkResult] = dataclasses.field(default_factory=list)

    @property
    def value_display(self) -> str:
        if self.parameter.data_type == DataType.BOOLEAN:
            return "On" if self.value else "Off"
        return str(self.value)

    def _of(self, outcome: str) -> list[BulkResult]:
        return [r for r in self.results if r.outcome == outcome]

    @property
    def changed(self) -> int:
        return len(self._of("changed"))

    @property
    def unchanged(self) -> int:
        return len(self._of("unchanged"))

    @property
    def refused(self) -> list[BulkResult]:
        return self._of("refused")


def feature_values_apply(
    *,
    licenses: list[License],
    values: list[tuple[FeatureParameter, Any]],
    by: Any,
    reason: str = "",
    dry_run: bool = False,
) -> list[ParameterOutcome]:
    """Set each chosen value on the chosen licenses of its package, one history row per change.

    A dry run does the same work and rolls it back: the preview's counts are the service's
    own answers, not a second reading of its rules.
    """
    with transaction.atomic():
        outcomes = []
        for parameter, value in values:
            targets = [lic for lic in licenses if lic.package_id == parameter.package_id]
            results = feature_value_bulk_set(
                parameter=parameter, licenses=targets, value=value, by=by, reason=reason
            )
            outcomes.append(ParameterOutcome(parameter, value, results))
        if dry_run:
            transaction.set_rollback(True)
    return outcomes


def license_feature_map(license: License, *, direction: str | None = None) -> dict[str, Any]:
    """{developer_name: JSON value} of one license, optionally for one direction only."""
    rows = FeatureParameterValue.objects.filter(license=license).select_related("parameter")
    if direction:
        rows = rows.filter(parameter__direction=direction)
    return {row.parameter.developer_name: to_json(row.value) for row in rows}


__all__ = [
    "BulkResult",
    "ParameterOutcome",
    "feature_override_bulk_set",
    "feature_override_end",
    "feature_override_set",
    "feature_overrides_due",
    "feature_overrides_end_due",
    "feature_parameter_create",
    "feature_parameter_update",
    "feature_value_bulk_set",
    "feature_value_set",
    "feature_values_apply",
    "feature_values_create_for_license",
    "feature_values_create_for_licenses",
    "license_feature_map",
]
