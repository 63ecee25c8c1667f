"""Customer accounts, their contacts, and the leads that package installs create."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower

from core.salesforce_ids import ORG_PREFIX, SalesforceIdField

from .choices import LEAD_SOURCE_PACKAGE_INSTALLATION, OPEN_LEAD_STATUSES, LeadStatus


class Account(models.Model):
    """A customer company; licenses are assigned to it once the customer is known."""

    name = models.CharField(max_length=255)
    website = models.URLField(blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_accounts",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(Lower("name"), name="account_name_lower_idx")]

    def __str__(self) -> str:
        return self.name


class Contact(models.Model):
    """A person at a customer Account, usually the installer of a converted lead."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="contacts")
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=40, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["last_name", "first_name"]

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class LeadQuerySet(models.QuerySet):
    def open(self) -> LeadQuerySet:
        return self.filter(status__in=OPEN_LEAD_STATUSES)


class Lead(models.Model):
    """A prospect created from the installer's details when a package is installed."""

    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=40, blank=True)
    company = models.CharField(max_length=255, blank=True)
    # Indexed in Meta: a field's db_index would add a LIKE (pattern) index ids never need.
    org_id = SalesforceIdField(prefix=ORG_PREFIX, blank=True, null=True)
    package = models.ForeignKey(
        "packages.Package", null=True, blank=True, on_delete=models.SET_NULL, related_name="leads"
    )
    lead_source = models.CharField(max_length=60, default=LEAD_SOURCE_PACKAGE_INSTALLATION)
    status = models.CharField(max_length=15, choices=LeadStatus.choices, default=LeadStatus.OPEN)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_leads",
    )
    # Empty until a lead is converted or merged: partial indexes in Meta, so the leads every
    # install creates add nothing to them.
    converted_account = models.ForeignKey(
        Account,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="converted_leads",
        db_index=False,
    )
    converted_contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    converted_at = models.DateTimeField(null=True, blank=True)
    merged_into = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="merged_leads",
        db_index=False,
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = LeadQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=LeadStatus.values), name="lead_status_valid"
            ),
            models.CheckConstraint(
                condition=~Q(status=LeadStatus.CONVERTED) | Q(converted_account__isnull=False),
                name="lead_converted_has_account",
            ),
        ]
        indexes = [
            models.Index(Lower("email"), "status", name="lead_email_status_idx"),
            models.Index(fields=["status", "-created_at"], name="lead_status_created_idx"),
            models.Index(fields=["org_id"], name="lead_org_id_idx"),
            models.Index(
                fields=["converted_account"],
                condition=Q(converted_account__isnull=False),
                name="lead_converted_account_idx",
            ),
            models.Index(
                fields=["converted_contact"],
                condition=Q(converted_contact__isnull=False),
                name="lead_converted_contact_idx",
            ),
            models.Index(
                fields=["merged_into"],
                condition=Q(merged_into__isnull=False),
                name="lead_merged_into_idx",
            ),
        ]

    def __str__(self) -> str:
        name = f"{self.first_name} {self.last_name}".strip() or self.email or f"Lead {self.pk}"
        return f"{name} ({self.company})" if self.company else name

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_LEAD_STATUSES
