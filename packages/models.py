"""Managed packages the partner publishes, their released versions, and subscriber API keys."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone

from core.salesforce_ids import (
    ORG_PREFIX,
    PACKAGE_PREFIX,
    VERSION_PREFIX,
    SalesforceIdField,
)

from .choices import (
    MAX_GRACE_DAYS,
    MAX_LICENSE_DAYS,
    MAX_SEATS,
    MAX_TRIAL_DAYS,
    SITE_LICENSE,
    DefaultLicenseStatus,
)
from .exceptions import LicenseManagerAlreadyLinked

VERSION_NUMBER_RE = re.compile(r"^(0|[1-9]\d{0,5})\.(0|[1-9]\d{0,5})\.(0|[1-9]\d{0,5})$")


def validate_seats(value: int) -> None:
    if value != SITE_LICENSE and not 1 <= value <= MAX_SEATS:
        raise ValidationError(
            f"Seats must be between 1 and {MAX_SEATS:,}, or -1 for a site license; got {value}.",
            code="invalid_seats",
        )


def parse_version_number(value: str) -> tuple[int, int, int]:
    match = VERSION_NUMBER_RE.match(value or "")
    if not match:
        raise ValidationError(
            f"version_number: expected major.minor.patch (e.g. 1.4.0); got {value!r}.",
            code="invalid_version_number",
        )
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


def seats_display(seats: int) -> str:
    return "Site license" if seats == SITE_LICENSE else f"{seats:,}"


class Package(models.Model):
    """A managed package published on AppExchange, with the defaults new installs get."""

    name = models.CharField(max_length=255)
    namespace = models.CharField(
        max_length=15,
        unique=True,
        help_text="The package's namespace prefix.",
        validators=[
            # Salesforce namespace prefixes: letters, digits, single underscores, a letter first.
            models.fields.validators.RegexValidator(
                r"^[A-Za-z][A-Za-z0-9]*(_[A-Za-z0-9]+)*$",
                "A namespace starts with a letter; letters, digits and single underscores follow.",
            )
        ],
    )
    package_id = SalesforceIdField(prefix=PACKAGE_PREFIX, unique=True, verbose_name="package id")
    developer_org_id = SalesforceIdField(prefix=ORG_PREFIX, verbose_name="developer org id")
    license_manager_linked = models.BooleanField(
        default=False,
        help_text="Whether this LMO is the package's License Manager. Until it is, installs "
        "create no licenses. Once set it cannot be undone.",
    )
    linked_at = models.DateTimeField(null=True, blank=True, editable=False)
    lead_manager = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="managed_package_leads",
        help_text="The staff user who owns the leads that installs create.",
    )
    default_status = models.CharField(
        max_length=10, choices=DefaultLicenseStatus.choices, default=DefaultLicenseStatus.TRIAL
    )
    trial_days = models.PositiveSmallIntegerField(
        default=30, validators=[MinValueValidator(1), MaxValueValidator(MAX_TRIAL_DAYS)]
    )
    license_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_LICENSE_DAYS)],
        help_text="For an active default: days until expiry (1 to 36,500), or empty for "
        "'does not expire'.",
    )
    default_seats = models.IntegerField(default=10, validators=[validate_seats])
    grace_days = models.PositiveSmallIntegerField(
        default=0,
        validators=[MaxValueValidator(MAX_GRACE_DAYS)],
        help_text=f"0 to {MAX_GRACE_DAYS}: days a trial or active license past its end keeps "
        "access (the license check answers GRACE) before the sweep expires it.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(trial_days__gte=1, trial_days__lte=MAX_TRIAL_DAYS),
                name="package_trial_days_1_to_90",
            ),
            models.CheckConstraint(
                condition=Q(license_days__isnull=True)
                | Q(license_days__gte=1, license_days__lte=MAX_LICENSE_DAYS),
                name="package_license_days_range",
            ),
            models.CheckConstraint(
                condition=Q(default_seats=SITE_LICENSE)
                | Q(default_seats__gte=1, default_seats__lte=MAX_SEATS),
                name="package_default_seats_range",
            ),
            models.CheckConstraint(
                condition=Q(grace_days__gte=0, grace_days__lte=MAX_GRACE_DAYS),
                name="package_grace_days_0_to_30",
            ),
            models.CheckConstraint(
                condition=Q(default_status__in=DefaultLicenseStatus.values),
                name="package_default_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.namespace})"

    @property
    def default_seats_display(self) -> str:
        return seats_display(self.default_seats)

    def default_expiry(self, installed_at) -> timezone.datetime | None:
        """When a license installed at `installed_at` expires under this package's defaults."""
        if self.default_status == DefaultLicenseStatus.TRIAL:
            return installed_at + timedelta(days=self.trial_days)
        if self.license_days:
            return installed_at + timedelta(days=self.license_days)
        return None

    @property
    def grace(self) -> timedelta:
        return timedelta(days=self.grace_days)

    def link_license_manager(self, *, at=None) -> None:
        """Make this LMO the package's License Manager: set once, never moved."""
        if self.license_manager_linked:
            raise LicenseManagerAlreadyLinked(
                f"Package {self.namespace} is already linked to this License Management Org."
            )
        self.license_manager_linked = True
        self.linked_at = at or timezone.now()
        self.save(update_fields=["license_manager_linked", "linked_at", "updated_at"])

    def latest_version(self) -> PackageVersion | None:
        return self.versions.released().order_by("-major", "-minor", "-patch").first()


class PackageVersionQuerySet(models.QuerySet):
    def released(self) -> PackageVersionQuerySet:
        return self.filter(is_beta=False)

    def newest_first(self) -> PackageVersionQuerySet:
        return self.order_by("-major", "-minor", "-patch")


class PackageVersion(models.Model):
    """A released (or beta) version of a package; ordered numerically by major.minor.patch."""

    package = models.ForeignKey(Package, on_delete=models.PROTECT, related_name="versions")
    version_number = models.CharField(max_length=23)
    major = models.PositiveIntegerField(editable=False)
    minor = models.PositiveIntegerField(editable=False)
    patch = models.PositiveIntegerField(editable=False)
    version_id = SalesforceIdField(prefix=VERSION_PREFIX, unique=True, verbose_name="version id")
    name = models.CharField(max_length=255, blank=True)
    release_date = models.DateField(null=True, blank=True)
    is_beta = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = PackageVersionQuerySet.as_manager()

    class Meta:
        ordering = ["package", "-major", "-minor", "-patch"]
        constraints = [
            models.UniqueConstraint(
                fields=["package", "major", "minor", "patch"], name="package_version_number_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.package.namespace} {self.version_number}"

    def save(self, *args, **kwargs) -> None:
        # The numeric parts are derived, never set by hand, so ordering can't drift from the text.
        self.set_version_number(self.version_number)
        super().save(*args, **kwargs)

    def set_version_number(self, version_number: str) -> None:
        self.major, self.minor, self.patch = parse_version_number(version_number)
        self.version_number = f"{self.major}.{self.minor}.{self.patch}"

    def clean(self) -> None:
        super().clean()
        try:
            self.set_version_number(self.version_number)
        except ValidationError as exc:
            raise ValidationError({"version_number": exc.messages}) from exc


def _hash_key(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


class SubscriberApiKeyQuerySet(models.QuerySet):
    def active(self) -> SubscriberApiKeyQuerySet:
        return self.filter(revoked_at__isnull=True)


class SubscriberApiKey(models.Model):
    """A bearer key a package's managed code uses to call the license check; stored hashed."""

    KEY_PREFIX = "lmo_sk_"

    package = models.ForeignKey(Package, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, blank=True)
    key_prefix = models.CharField(max_length=16, editable=False, help_text="First characters.")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = SubscriberApiKeyQuerySet.as_manager()

    class Meta:
        verbose_name = "subscriber API key"

    def __str__(self) -> str:
        state = "revoked" if self.revoked_at else "active"
        return f"{self.key_prefix}… ({self.package.namespace}, {state})"

    @classmethod
    def hash_key(cls, raw_key: str) -> str:
        return _hash_key(raw_key)

    @classmethod
    def issue(
        cls, *, package: Package, name: str = "", created_by=None
    ) -> tuple[SubscriberApiKey, str]:
        """Create a key and return it with the raw secret, which is shown once and not stored."""
        raw_key = cls.KEY_PREFIX + secrets.token_urlsafe(32)
        key = cls.objects.create(
            package=package,
            name=name,
            key_prefix=raw_key[: len(cls.KEY_PREFIX) + 6],
            key_hash=_hash_key(raw_key),
            created_by=created_by,
        )
        return key, raw_key

    def revoke(self, *, at=None) -> None:
        """Stop accepting the key; the license check's cached copy is dropped after commit."""
        if self.revoked_at is None:
            self.revoked_at = at or timezone.now()
            self.save(update_fields=["revoked_at"])
            cache_key = self.cache_key(self.key_hash)
            transaction.on_commit(lambda: cache.delete(cache_key))

    @staticmethod
    def cache_key(key_hash: str) -> str:
        """Where the license check caches which package a key belongs to."""
        return f"subscriber-key:v1:{key_hash}"
