"""Leads, accounts and contacts in the console: convert, merge, and accounts' licenses."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.widgets import AutocompleteSelect
from django.db import models
from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from core.console import IntermediateActionMixin
from core.salesforce_ids import ORG_PREFIX, try_normalize
from licenses.models import License
from packages.choices import SITE_LICENSE
from packages.models import seats_display
from staff.selectors import lead_owner_choices

from .choices import LeadStatus
from .exceptions import LeadError
from .models import Account, Contact, Lead
from .services import lead_convert, lead_merge


class ConvertLeadForm(forms.Form):
    account = forms.ModelChoiceField(
        queryset=Account.objects.none(),
        required=False,
        label="Existing account",
        help_text="Empty: a new account is created for each lead, named after its company.",
    )
    account_name = forms.CharField(
        required=False,
        max_length=255,
        label="New account name",
        help_text="Only for a single lead; defaults to the lead's company.",
    )
    website = forms.URLField(
        required=False, assume_scheme="https", label="Website of the new account"
    )
    create_contact = forms.BooleanField(
        required=False, initial=True, label="Create a contact from the lead"
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["account"]
        # The widget first: setting the queryset hands its choices to the widget.
        field.widget = AutocompleteSelect(Lead._meta.get_field("converted_account"), admin.site)
        field.queryset = Account.objects.order_by("name")


class MergeLeadsForm(forms.Form):
    primary = forms.ModelChoiceField(
        queryset=Lead.objects.none(),
        widget=forms.RadioSelect,
        label="Keep this lead",
        help_text="The others are closed as duplicates; their licenses point at this one.",
    )

    def __init__(self, *args, leads: QuerySet, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["primary"].queryset = leads


class LeadForm(forms.ModelForm):
    """A converted lead's status is set by conversion only, never picked from a list."""

    class Meta:
        model = Lead
        fields = (
            "first_name",
            "last_name",
            "email",
            "phone",
            "company",
            "org_id",
            "package",
            "owner",
            "status",
        )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        status = self.fields.get("status")
        if status is not None:
            status.choices = [c for c in status.choices if c[0] != LeadStatus.CONVERTED]
        limit_owner_choices(self)


def limit_owner_choices(form: forms.ModelForm) -> None:
    """Only users who work leads (Partner Ops) are offered as owner."""
    owner = form.fields.get("owner")
    if owner is not None:
        owner.queryset = lead_owner_choices(current_id=form.instance.owner_id)


class AccountForm(forms.ModelForm):
    website = forms.URLField(required=False, assume_scheme="https", max_length=200)

    class Meta:
        model = Account
        fields = ("name", "website", "owner")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        limit_owner_choices(self)


@admin.register(Lead)
class LeadAdmin(IntermediateActionMixin, admin.ModelAdmin):
    form = LeadForm
    list_display = (
        "lead_name",
        "email",
        "company",
        "package",
        "org_id_display",
        "status_display",
        "owner",
        "created_at",
    )
    list_filter = ("status", "package")
    list_select_related = ("package", "owner")
    search_fields = ("email", "company", "last_name", "first_name")
    search_help_text = "Email, company, name, or org id (15 or 18 characters)."
    show_full_result_count = False
    actions = ["convert_leads", "merge_leads"]
    readonly_fields = (
        "lead_source",
        "converted_account_link",
        "converted_contact",
        "converted_at",
        "merged_into",
        "licenses_list",
        "created_at",
    )
    fieldsets = [
        (None, {"fields": (("first_name", "last_name"), ("email", "phone"), "company")}),
        ("Source", {"fields": ("org_id", "package", "lead_source", "owner", "created_at")}),
        (
            "Status",
            {
                "fields": (
                    "status",
                    "converted_account_link",
                    "converted_contact",
                    "converted_at",
                    "merged_into",
                )
            },
        ),
        ("Licenses", {"fields": ("licenses_list",)}),
    ]

    @admin.display(description="Lead", ordering="last_name")
    def lead_name(self, obj: Lead) -> str:
        return f"{obj.first_name} {obj.last_name}".strip() or obj.email or f"Lead {obj.pk}"

    @admin.display(description="Org id")
    def org_id_display(self, obj: Lead) -> str:
        if not obj.org_id:
            return "-"
        return format_html(
            '<a class="lmo-mono" href="{}?org={}">{}</a>',
            reverse("admin:licenses_license_subscribers"),
            obj.org_id,
            obj.org_id,
        )

    @admin.display(description="Status", ordering="status")
    def status_display(self, obj: Lead) -> str:
        return format_html(
            '<span class="lmo-badge lmo-badge--{}">{}</span>', obj.status, obj.get_status_display()
        )

    @admin.display(description="Converted to account")
    def converted_account_link(self, obj: Lead) -> str:
        if not obj.converted_account_id:
            return "-"
        url = reverse("admin:leads_account_change", args=[obj.converted_account_id])
        return format_html('<a href="{}">{}</a>', url, obj.converted_account)

    @admin.display(description="Licenses of this lead")
    def licenses_list(self, obj: Lead) -> str:
        rows = License.objects.filter(lead=obj).select_related("package").order_by("-id")[:50]
        if not rows:
            return "-"
        return format_html(
            "<br>".join(["{}"] * len(rows)),
            *[
                format_html(
                    '<a href="{}">{}</a> {} ({})',
                    reverse("admin:licenses_license_change", args=[lic.pk]),
                    lic.name,
                    lic.package.name,
                    lic.get_status_display(),
                )
                for lic in rows
            ],
        )

    def get_readonly_fields(self, request, obj=None):
        fields = list(self.readonly_fields)
        if obj is not None and obj.status == LeadStatus.CONVERTED:
            fields.append("status")
        return fields

    change_form_template = "admin/leads/lead/change_form.html"

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context["can_convert"] = (
            obj is not None and obj.is_open and self.has_change_permission(request, obj)
        )
        return super().render_change_form(request, context, add, change, form_url, obj)

    def get_search_results(self, request, queryset, search_term):
        org_id = try_normalize(search_term.strip(), prefix=ORG_PREFIX)
        if org_id:
            return queryset.filter(org_id=org_id), False
        return super().get_search_results(request, queryset, search_term)

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Convert into an account (with a contact)", permissions=["change"])
    def convert_leads(self, request: HttpRequest, queryset: QuerySet):
        form = ConvertLeadForm(request.POST if self.wants_apply(request) else None)
        if self.wants_apply(request) and form.is_valid():
            data = form.cleaned_data
            leads = list(queryset.order_by("pk"))
            for lead in leads:
                try:
                    account = lead_convert(
                        lead=lead,
                        by=request.user,
                        account=data["account"],
                        account_name=data["account_name"] if len(leads) == 1 else "",
                        website=data["website"],
                        create_contact=data["create_contact"],
                    )
                except LeadError as exc:
                    messages.error(request, f"{lead}: {exc}")
                else:
                    assigned = License.objects.filter(account=account).count()
                    messages.success(
                        request,
                        f"{lead} converted to account {account.name}; "
                        f"the account has {assigned} license(s).",
                    )
            return None
        return self.confirm_page(
            request,
            queryset,
            action="convert_leads",
            title="Convert leads into accounts",
            form=form,
        )

    @admin.action(description="Merge duplicate leads", permissions=["change"])
    def merge_leads(self, request: HttpRequest, queryset: QuerySet):
        leads = queryset.order_by("-created_at")
        if leads.count() < 2:
            messages.warning(request, "Select at least two leads to merge.")
            return None
        form = MergeLeadsForm(request.POST if self.wants_apply(request) else None, leads=leads)
        if self.wants_apply(request) and form.is_valid():
            primary = form.cleaned_data["primary"]
            try:
                lead_merge(
                    primary=primary,
                    duplicates=[lead for lead in leads if lead.pk != primary.pk],
                    by=request.user,
                )
            except LeadError as exc:
                messages.error(request, str(exc))
            else:
                messages.success(request, f"Merged {leads.count() - 1} lead(s) into {primary}.")
            return None
        return self.confirm_page(
            request, queryset, action="merge_leads", title="Merge duplicate leads", form=form
        )


class ContactInline(admin.TabularInline):
    model = Contact
    extra = 0
    fields = ("first_name", "last_name", "email", "phone")


class AccountLicenseInline(admin.TabularInline):
    """The account's licenses across packages, read-only: licenses change on their own page."""

    model = License
    fk_name = "account"
    extra = 0
    can_delete = False
    show_change_link = True
    verbose_name_plural = "Licenses"
    fields = ("license_name", "package", "org", "status", "seats_used", "expires_at")
    readonly_fields = fields

    @admin.display(description="License")
    def license_name(self, obj: License) -> str:
        return obj.name

    @admin.display(description="Org")
    def org(self, obj: License) -> str:
        return f"{obj.org_name} ({obj.org_id})"

    @admin.display(description="Seats / used")
    def seats_used(self, obj: License) -> str:
        used = "-" if obj.used_licenses is None else obj.used_licenses
        return f"{seats_display(obj.seats)} / {used}"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("package").order_by("package__name")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    form = AccountForm
    list_display = ("name", "website", "owner", "license_count", "seat_total")
    search_fields = ("name",)
    list_select_related = ("owner",)
    inlines = [AccountLicenseInline, ContactInline]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    readonly_fields = ("license_count", "seat_total", "created_at")
    fields = ("name", "website", "owner", "license_count", "seat_total", "created_at")

    def get_queryset(self, request):
        # Correlated subqueries, so only the accounts on the page are totted up.
        live = License.objects.filter(account=OuterRef("pk")).live().order_by().values("account")

        def total(rows, aggregate):
            return Coalesce(
                Subquery(rows.annotate(v=aggregate).values("v"), output_field=IntegerField()), 0
            )

        return (
            super()
            .get_queryset(request)
            .annotate(
                _licenses=total(live, Count("pk")),
                _seats=total(live.exclude(seats=SITE_LICENSE), Sum("seats")),
                _sites=total(live.filter(seats=SITE_LICENSE), Count("pk")),
            )
        )

    @admin.display(description="Licenses (installed)", ordering="_licenses")
    def license_count(self, obj: Account) -> int:
        return obj._licenses

    @admin.display(description="Seats in total", ordering="_seats")
    def seat_total(self, obj: Account) -> str:
        seats = f"{obj._seats or 0:,}"
        return f"{seats} + {obj._sites} site license(s)" if obj._sites else seats

    def get_inlines(self, request, obj):
        # The licenses inline only for roles that may see licenses.
        if request.user.has_perm("licenses.view_license"):
            return self.inlines
        return [ContactInline]

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ("__str__", "email", "phone", "account")
    search_fields = ("last_name", "first_name", "email", "account__name")
    list_select_related = ("account",)
    autocomplete_fields = ("account",)
