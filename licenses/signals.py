"""What other apps may hear about license changes, without licenses knowing who listens.

`licenses_changed` is sent inside the transaction that changed the licenses (so what a
receiver writes commits or rolls back with the change), by every writer of licenses: the
License methods, license creation, the expiry sweep and the one-statement first install.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, NamedTuple

from django.dispatch import Signal

# Sent with `changes`: a list of LicenseChange.
licenses_changed = Signal()


class LicenseSnapshot(NamedTuple):
    """The fields of a license that figures about licenses are counted by."""

    package_id: int
    version_id: int | None
    org_type: str
    status: str
    seats: int
    used_licenses: int | None
    installed_at: datetime
    trial_started_at: datetime | None
    activated_at: datetime | None
    expires_at: datetime | None
    uninstalled_at: datetime | None
    previous_license_id: int | None
    # Which license (not counted by: equal before and after a change); last, with a
    # default, so a snapshot can still be built from the counted fields alone.
    id: int | None = None

    @classmethod
    def of(cls, license: Any) -> LicenseSnapshot:
        return cls(*(getattr(license, field) for field in cls._fields))

    def before(self, values: dict[str, Any]) -> LicenseSnapshot:
        """This snapshot as it was before a history row's `before` values (those named by a
        snapshot field; a history row names a version by its number, so not the version)."""
        return self._replace(
            **{k: v for k, v in values.items() if k in self._fields and k != "version_id"}
        )


class LicenseChange(NamedTuple):
    before: LicenseSnapshot | None  # None: the license was created
    after: LicenseSnapshot
    at: datetime


def send_licenses_changed(changes: Iterable[LicenseChange]) -> None:
    changes = [change for change in changes if change.before != change.after]
    if changes and licenses_changed.has_listeners():
        licenses_changed.send(sender=LicenseChange, changes=changes)


def send_licenses_changed_in_bulk(
    rows: list[tuple[int, dict[str, Any], dict[str, Any]]], at: datetime
) -> None:
    """For writers that change many licenses at once and write their history rows as
    (license id, before, after): one query reads the changed licenses as they are now."""
    rows = [row for row in rows if any(field in LicenseSnapshot._fields for field in row[1])]
    if not rows or not licenses_changed.has_listeners():
        return
    from .models import License

    now = {
        pk: LicenseSnapshot(*values)
        for pk, *values in License.objects.filter(pk__in=[pk for pk, _, _ in rows])
        .order_by()
        .values_list("pk", *LicenseSnapshot._fields)
    }
    send_licenses_changed(
        LicenseChange(now[pk].before(before), now[pk], at) for pk, before, _ in rows if pk in now
    )
