"""The packages app's domain errors."""

from core.exceptions import DomainError


class PackageError(DomainError):
    """Base class for refusals in the packages app."""

    code = "package_error"


class LicenseManagerAlreadyLinked(PackageError):
    code = "license_manager_linked"
