class PackageError(Exception):
    """Base class for refusals in the packages app."""

    code = "package_error"
    http_status = 409


class LicenseManagerAlreadyLinked(PackageError):
    code = "license_manager_linked"
