"""Lead workflows: converting a lead into a customer Account, merging duplicates."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import transaction
from django.db.models import Q

from licenses.models import License
from lmo import clock

from .choices import LeadStatus
from .exceptions import LeadAlreadyConverted, LeadMergeError
from .models import Account, Contact, Lead


@transaction.atomic
def lead_convert(
    *,
    lead: Lead,
    by: Any,
    account: Account | None = None,
    account_name: str = "",
    website: str = "",
    create_contact: bool = True,
) -> Account:
    """Turn a lead into a customer: an Account (new or existing), a Contact, and the org's
    live licenses assigned to that Account."""
    lead = Lead.objects.select_for_update().get(pk=lead.pk)
    if lead.status == LeadStatus.CONVERTED:
        raise LeadAlreadyConverted(
            f"Lead {lead} was already converted to {lead.converted_account}."
        )
    if lead.status == LeadStatus.DISQUALIFIED:
        raise LeadAlreadyConverted(f"Lead {lead} is disqualified and cannot be converted.")
    if account is None:
        account = Account.objects.create(
            name=account_name or lead.company or f"{lead.first_name} {lead.last_name}".strip(),
            website=website,
            owner=by if getattr(by, "pk", None) else lead.owner,
        )
    contact = None
    if create_contact and (lead.last_name or lead.email):
        contact = Contact.objects.create(
            account=account,
            first_name=lead.first_name,
            last_name=lead.last_name or lead.email,
            email=lead.email,
            phone=lead.phone,
        )
    lead.status = LeadStatus.CONVERTED
    lead.converted_account = account
    lead.converted_contact = contact
    lead.converted_at = clock.now()
    lead.save(
        update_fields=[
            "status",
            "converted_account",
            "converted_contact",
            "converted_at",
            "updated_at",
        ]
    )
    belongs_to_lead = Q(lead=lead) | Q(org_id=lead.org_id) if lead.org_id else Q(lead=lead)
    for license in License.objects.live().filter(belongs_to_lead, account__isnull=True):
        license.assign_account(by=by, account=account, reason=f"Lead {lead.pk} converted")
    return account


@transaction.atomic
def lead_merge(*, primary: Lead, duplicates: Sequence[Lead], by: Any) -> Lead:
    """Fold duplicate leads into one: their licenses point at the primary, they are closed."""
    ids = [lead.pk for lead in duplicates if lead.pk != primary.pk]
    if not ids:
        raise LeadMergeError("Choose at least one other lead to merge into the primary lead.")
    locked = {
        lead.pk: lead for lead in Lead.objects.select_for_update().filter(pk__in=[primary.pk, *ids])
    }
    primary = locked[primary.pk]
    if primary.status in (LeadStatus.DISQUALIFIED,):
        raise LeadMergeError(f"The primary lead {primary} is disqualified; choose an open one.")
    for lead_id in ids:
        duplicate = locked[lead_id]
        if duplicate.status == LeadStatus.CONVERTED:
            raise LeadMergeError(f"Lead {duplicate} is converted; it cannot be merged away.")
        for field in ("first_name", "last_name", "email", "phone", "company", "org_id"):
            if not getattr(primary, field) and getattr(duplicate, field):
                setattr(primary, field, getattr(duplicate, field))
        for license in License.objects.filter(lead=duplicate).order_by("pk"):
            license.assign_lead(by=by, lead=primary, reason=f"Lead {duplicate.pk} merged")
        duplicate.status = LeadStatus.DISQUALIFIED
        duplicate.merged_into = primary
        duplicate.save(update_fields=["status", "merged_into", "updated_at"])
    primary.save()
    return primary
