"""Workflows on feature parameters and their per-license values."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import transaction

from licenses.cache import license_checks_invalidate
from licenses.choices import Actor, EventKind
from licenses.exceptions import LicenseError
from licenses.models import License

from .choices import MAX_PARAMETERS_PER_PACKAGE, Direction
from .exceptions import ParameterImmutable, ParameterLimitReached, WrongDirection
from .models import IMMUTABLE_PARAMETER_FIELDS, FeatureParameter, FeatureParameterValue
from .values import coerce_feature_value, to_json

if TYPE_CHECKING:
    from packages.models import Package

VALUE_BATCH_SIZE = 1000


def feature_values_create_for_license(*, license: License) -> list[FeatureParameterValue]:
    """Give a new license one value per parameter of its package, each at its default."""
    values = []
    for parameter in FeatureParameter.objects.filter(package_id=license.package_id):
        value = FeatureParameterValue(
            license=license, parameter=parameter, data_type=parameter.data_type
        )
        value.value = parameter.default_value
        values.append(value)
    return FeatureParameterValue.objects.bulk_create(values)


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
    row, _ = FeatureParameterValue.objects.select_for_update().get_or_create(
        license=license,
        parameter=parameter,
        defaults={"data_type": parameter.data_type},
    )
    if row.value == typed:
        return False
    before = row.value
    row.value = typed
    row.updated_by = by if not isinstance(by, str) and by is not None else None
    row.save()
    license.record_event(
        EventKind.FEATURE_CHANGED,
        by=by if by is not None else Actor.SYSTEM,
        before={parameter.developer_name: to_json(before)},
        after={parameter.developer_name: to_json(typed)},
        source_event_id=source_event_id,
        reason=reason,
    )
    return True


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


def license_feature_map(license: License, *, direction: str | None = None) -> dict[str, Any]:
    """{developer_name: JSON value} of one license, optionally for one direction only."""
    rows = FeatureParameterValue.objects.filter(license=license).select_related("parameter")
    if direction:
        rows = rows.filter(parameter__direction=direction)
    return {row.parameter.developer_name: to_json(row.value) for row in rows}


__all__ = [
    "BulkResult",
    "feature_parameter_create",
    "feature_parameter_update",
    "feature_value_bulk_set",
    "feature_value_set",
    "feature_values_create_for_license",
    "license_feature_map",
]
