"""Packages and versions as the first-install fast path looks them up: remembered per process.

Every subscriber event names its package, and installs a version; these rows change a few
times a year but are read on every event. Each process remembers what it last read, and the
statement that uses a remembered row checks in the database that what it uses of the row is
unchanged (the package's defaults, link and lead manager; the version's id and number), so a
stale entry is never acted on: the caller forgets it and takes the path that reads the
database.
"""

from __future__ import annotations

from .models import Package, PackageVersion

# Packages and versions are few; the bound only keeps a process with a runaway number of
# unknown ids from growing without end.
MAX_ENTRIES = 2000

_packages: dict[str, Package] = {}
_versions: dict[str, PackageVersion] = {}


def catalog_lookup(
    *, package_id: str, version_id: str | None = None
) -> tuple[Package | None, PackageVersion | None]:
    """The package with this id and the version with that id (None where unknown), as this
    process last read them. Unknown ids are not remembered."""
    package = _packages.get(package_id)
    if package is None:
        package = Package.objects.filter(package_id=package_id).first()
        if package is not None:
            _remember(_packages, package_id, package)
    version = None
    if version_id:
        version = _versions.get(version_id)
        if version is None:
            version = PackageVersion.objects.filter(version_id=version_id).first()
            if version is not None:
                _remember(_versions, version_id, version)
    return package, version


def catalog_forget(*, package_id: str, version_id: str | None = None) -> None:
    """Drop what this process remembers of a package (and a version) found to be stale."""
    _packages.pop(package_id, None)
    if version_id:
        _versions.pop(version_id, None)


def catalog_clear() -> None:
    _packages.clear()
    _versions.clear()


def _remember(entries: dict, key: str, value) -> None:
    if len(entries) >= MAX_ENTRIES:
        entries.clear()
    entries[key] = value
