"""What other apps may hear about feature values changing, without features knowing who
listens.

`feature_values_changed` is sent inside the transaction that wrote the values (so what a
receiver writes commits or rolls back with them) by every writer of feature values: the
defaults a new license gets, the defaults a new parameter gives live licenses, a value set
by staff or reported by a subscriber, and an override set or ended.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, NamedTuple

from django.dispatch import Signal

if TYPE_CHECKING:
    from licenses.models import License

    from .models import FeatureParameterValue

# Sent with `changes` (a list of FeatureValueChange) and `licenses` ({id: License} of the
# licenses the writer already holds, so a receiver need not read them again; may be empty).
feature_values_changed = Signal()


class FeatureValueChange(NamedTuple):
    license_id: int
    parameter_id: int
    data_type: str
    before: Any  # the typed value before the change; None also when `created`
    after: Any
    created: bool = False  # the value row did not exist before


def send_feature_values_changed(
    changes: Iterable[FeatureValueChange], licenses: Iterable[License] = ()
) -> None:
    changes = [c for c in changes if c.created or c.before != c.after]
    if changes and feature_values_changed.has_listeners():
        feature_values_changed.send(
            sender=FeatureValueChange,
            changes=changes,
            licenses={license.pk: license for license in licenses},
        )


def send_feature_values_created(
    values: Iterable[FeatureParameterValue], licenses: Iterable[License] = ()
) -> None:
    """For writers that create value rows: each row is a change from nothing."""
    send_feature_values_changed(
        (
            FeatureValueChange(
                value.license_id, value.parameter_id, value.data_type, None, value.value, True
            )
            for value in values
        ),
        licenses,
    )
