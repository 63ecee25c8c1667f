"""Packages in the console: versions, license defaults, the License Manager link, API keys,
and the unrouted events waiting for that link."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from core.console import IntermediateActionMixin
from licenses.choices import TERMINAL_STATUSES
from staff.selectors import lead_owner_choices
from subscribers.choices import Outcome
from subscribers.models import SubscriberEvent

from .exceptions import PackageError
from .models import Package, PackageVersion, SubscriberApiKey


def unrouted_count_subquery() -> Subquery:
    """Unrouted inbox events per package, served by the (outcome, package_id) index."""
    return Coalesce(
        Subquery(
            SubscriberEvent.objects.filter(
                outcome=Outcome.UNROUTED, package_id=OuterRef("package_id")
            )
            .order_by()
            .values("package_id")
            .annotate(n=Count("id"))
            .values("n"),
            output_field=IntegerField(),
        ),
        0,
    )


class PackageVersionInline(admin.TabularInline):
    """Versions newest first, with how many live installs run each."""

    model = PackageVersion
    extra = 0
    can_delete = False
    fields = ("version_number", "version_id", "name", "release_date", "is_beta", "installs")
    readonly_fields = ("installs",)
    ordering = ("-major", "-minor", "-patch")

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                _installs=Count("licenses", filter=~Q(licenses__status__in=TERMINAL_STATUSES))
            )
        )

    @admin.display(description="Installs")
    def installs(self, obj: PackageVersion) -> int:
        return getattr(obj, "_installs", 0)


class SubscriberApiKeyInline(admin.TabularInline):
    model = SubscriberApiKey
    extra = 0
    can_delete = False
    show_change_link = True
    fields = ("key_prefix", "name", "created_at", "created_by", "revoked_at")
    readonly_fields = fields
    verbose_name_plural = "Subscriber API keys (the secret is shown once, when created)"

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Package)
class PackageAdmin(IntermediateActionMixin, admin.ModelAdmin):
    list_display = (
        "name",
        "namespace",
        "package_id",
        "linked",
        "defaults",
        "version_count",
        "unrouted",
    )
    search_fields = ("name", "namespace", "package_id")
    actions = ["link_license_manager", "replay_unrouted_events"]
    inlines = [PackageVersionInline, SubscriberApiKeyInline]
    change_form_template = "admin/packages/package/change_form.html"
    readonly_fields = ("license_manager_linked", "linked_at", "unrouted_events", "latest_version")
    fieldsets = [
        (None, {"fields": ("name", "namespace", "package_id", "developer_org_id")}),
        (
            "License Manager",
            {"fields": ("license_manager_linked", "linked_at", "unrouted_events", "lead_manager")},
        ),
        (
            "License defaults for new installs",
            {
                "fields": (
                    "default_status",
                    ("trial_days", "license_days"),
                    "default_seats",
                    "grace_days",
                    "latest_version",
                )
            },
        ),
    ]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                _versions=Count("versions", distinct=True), _unrouted=unrouted_count_subquery()
            )
        )

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        manager = form.base_fields.get("lead_manager")
        if manager is not None:
            # The leads installs create are worked by Partner Ops: only they may own them.
            manager.queryset = lead_owner_choices(current_id=obj.lead_manager_id if obj else None)
        return form

    def get_readonly_fields(self, request, obj=None):
        if obj is not None:
            # Installs and keys are routed by these ids: they never change once set.
            return (*self.readonly_fields, "namespace", "package_id", "developer_org_id")
        return self.readonly_fields

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="License Manager", boolean=True)
    def linked(self, obj: Package) -> bool:
        return obj.license_manager_linked

    @admin.display(description="Defaults")
    def defaults(self, obj: Package) -> str:
        if obj.default_status == "trial":
            term = f"trial {obj.trial_days} days"
        else:
            term = f"active {obj.license_days} days" if obj.license_days else "active, no expiry"
        return f"{term}, {obj.default_seats_display} seats"

    @admin.display(description="Versions")
    def version_count(self, obj: Package) -> int:
        return obj._versions

    @admin.display(description="Unrouted events")
    def unrouted(self, obj: Package) -> int:
        return obj._unrouted

    @admin.display(description="Unrouted events waiting")
    def unrouted_events(self, obj: Package) -> str:
        count = SubscriberEvent.objects.filter(
            outcome=Outcome.UNROUTED, package_id=obj.package_id
        ).count()
        if not count:
            return "None"
        url = reverse("admin:subscribers_subscriberevent_changelist")
        return format_html(
            '<a href="{}?outcome__exact=unrouted&amp;package_id={}">{} event(s)</a>',
            url,
            obj.package_id,
            count,
        )

    @admin.display(description="Latest version")
    def latest_version(self, obj: Package) -> str:
        latest = obj.latest_version()
        return latest.version_number if latest else "-"

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context["package_buttons"] = [
                (name, label)
                for name, label, allowed in (
                    (
                        "link_license_manager",
                        "Link as License Manager",
                        not obj.license_manager_linked and self.has_change_permission(request),
                    ),
                    (
                        "replay_unrouted_events",
                        "Replay unrouted events",
                        obj.license_manager_linked and self.has_replay_permission(request),
                    ),
                )
                if allowed
            ]
            if request.user.has_perm("packages.add_subscriberapikey"):
                context["new_key_url"] = (
                    reverse("admin:packages_subscriberapikey_add") + f"?package={obj.pk}"
                )
        return super().render_change_form(request, context, add, change, form_url, obj)

    def has_replay_permission(self, request) -> bool:
        return request.user.has_perm("subscribers.change_subscriberevent")

    @admin.action(
        description="Link as License Manager (once, cannot be undone)", permissions=["change"]
    )
    def link_license_manager(self, request: HttpRequest, queryset: QuerySet):
        if not self.wants_apply(request):
            return self.confirm_page(
                request,
                queryset,
                action="link_license_manager",
                title="Link as License Manager",
                intro="From now on, installs of these packages create licenses here. The link "
                "is set once and cannot be undone.",
                submit_label="Yes, link",
            )
        for package in queryset:
            try:
                package.link_license_manager()
            except PackageError as exc:
                messages.error(request, str(exc))
            else:
                messages.success(
                    request, f"{package.namespace} is now linked: replay its unrouted events."
                )
        return self.back(request)

    @admin.action(description="Replay unrouted events", permissions=["replay"])
    def replay_unrouted_events(self, request: HttpRequest, queryset: QuerySet):
        # Imported here: the inbox service pulls in the whole webhook stack.
        from subscribers.services import subscriber_events_replay

        for package in queryset:
            result = subscriber_events_replay(package=package)
            level = messages.SUCCESS if package.license_manager_linked else messages.WARNING
            messages.add_message(request, level, f"{package.namespace}: {result}")
        return self.back(request)


@admin.register(PackageVersion)
class PackageVersionAdmin(admin.ModelAdmin):
    list_display = ("package", "version_number", "version_id", "name", "release_date", "is_beta")
    list_filter = ("package", "is_beta")
    list_select_related = ("package",)
    search_fields = ("version_number", "version_id", "name")
    ordering = ("package", "-major", "-minor", "-patch")

    def get_readonly_fields(self, request, obj=None):
        return ("package", "version_id") if obj is not None else ()

    def has_delete_permission(self, request, obj=None):
        return False


class ApiKeyCreateForm(forms.Form):
    package = forms.ModelChoiceField(queryset=Package.objects.order_by("name"))
    name = forms.CharField(
        max_length=100, required=False, help_text="Where the key is used, e.g. 'production org'."
    )


@admin.register(SubscriberApiKey)
class SubscriberApiKeyAdmin(IntermediateActionMixin, admin.ModelAdmin):
    list_display = ("key_prefix", "package", "name", "created_at", "created_by", "state")
    list_filter = ("package",)
    list_select_related = ("package", "created_by")
    actions = ["revoke_keys"]
    fields = ("key_prefix", "package", "name", "created_at", "created_by", "revoked_at")
    readonly_fields = fields

    @admin.display(description="State")
    def state(self, obj: SubscriberApiKey) -> str:
        return f"revoked {obj.revoked_at:%Y-%m-%d}" if obj.revoked_at else "active"

    def has_change_permission(self, request, obj=None):
        # A key is never edited: it is created, then revoked.
        return False

    def has_delete_permission(self, request, obj=None):
        # Revoked keys stay, so the record of who held access stays.
        return False

    def has_revoke_permission(self, request) -> bool:
        return request.user.has_perm("packages.change_subscriberapikey")

    def add_view(self, request, form_url="", extra_context=None):
        """Issue a key and show its secret once: only its hash is stored."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = ApiKeyCreateForm(
            request.POST if request.method == "POST" else None,
            initial={"package": request.GET.get("package")},
        )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "New subscriber API key",
            "form": form,
        }
        if request.method == "POST" and form.is_valid():
            key, raw_key = SubscriberApiKey.issue(
                package=form.cleaned_data["package"],
                name=form.cleaned_data["name"],
                created_by=request.user,
            )
            self.log_addition(request, key, [{"added": {}}])
            context.update({"title": "Subscriber API key created", "key": key, "raw_key": raw_key})
            response = TemplateResponse(
                request, "admin/packages/subscriberapikey/issued.html", context
            )
            response["Cache-Control"] = "no-store"
            return response
        return TemplateResponse(request, "admin/packages/subscriberapikey/add.html", context)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None and obj.revoked_at is None and self.has_revoke_permission(request):
            context["can_revoke"] = True
        return super().render_change_form(request, context, add, change, form_url, obj)

    change_form_template = "admin/packages/subscriberapikey/change_form.html"

    @admin.action(description="Revoke keys", permissions=["revoke"])
    def revoke_keys(self, request: HttpRequest, queryset: QuerySet):
        revoked = 0
        for key in queryset.filter(revoked_at__isnull=True):
            key.revoke()
            revoked += 1
        messages.success(request, f"Revoked {revoked} key(s).")
        return self.back(request)
