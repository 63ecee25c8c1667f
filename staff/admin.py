"""Users and API tokens in the console, guarded so that nobody grants more than they hold.

Administrators manage the team's users, but only superusers make superusers, touch direct
permissions, manage the Administrators group (its members included) or change a superuser.
An API token acts as its user, so a token is made only for oneself unless one is a superuser;
its key is shown once, when created, and only its hash is stored (django-rest-knox).
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import Group
from django.http import HttpRequest
from knox.models import AuthToken

from .roles import GROUP_NAMES, Role
from .tokens import api_token_create

User = get_user_model()

ADMIN_GROUP_NAME = GROUP_NAMES[Role.ADMIN]
# Only a superuser changes these on a user.
SUPERUSER_ONLY_FIELDS = ("is_superuser", "user_permissions")


def user_is_protected(user) -> bool:
    """A superuser or an Administrator: only superusers change or delete such a user."""
    return user.is_superuser or user.groups.filter(name=ADMIN_GROUP_NAME).exists()


admin.site.unregister(User)


@admin.register(User)
class GuardedUserAdmin(UserAdmin):
    """Django's user admin, minus every way for a non-superuser to raise anyone's access."""

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            readonly += SUPERUSER_ONLY_FIELDS
        return readonly

    def formfield_for_manytomany(self, db_field, request: HttpRequest, **kwargs):
        if db_field.name == "groups" and not request.user.is_superuser:
            kwargs["queryset"] = Group.objects.exclude(name=ADMIN_GROUP_NAME).order_by("name")
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        if obj is not None and not request.user.is_superuser and user_is_protected(obj):
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        if obj is not None and not request.user.is_superuser and user_is_protected(obj):
            return False
        return super().has_delete_permission(request, obj)

    def get_actions(self, request: HttpRequest):
        actions = super().get_actions(request)
        if not request.user.is_superuser:
            # The bulk delete would reach superusers and Administrators.
            actions.pop("delete_selected", None)
        return actions


class ApiTokenCreateForm(forms.ModelForm):
    """Create a token: the user it acts as (oneself unless a superuser) and an expiry."""

    class Meta:
        model = AuthToken
        fields = ["user", "expiry"]

    def __init__(self, *args, request: HttpRequest | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.request = request
        self.key: str | None = None
        if request is not None and not request.user.is_superuser:
            self.fields["user"].queryset = User.objects.filter(pk=request.user.pk)
            self.fields["user"].initial = request.user.pk

    def save(self, commit: bool = True) -> AuthToken:
        token, self.key = api_token_create(
            user=self.cleaned_data["user"], expires_at=self.cleaned_data["expiry"]
        )
        self.save_m2m = lambda: None
        return token


admin.site.unregister(AuthToken)


@admin.register(AuthToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """API tokens: who, since when, until when. The key itself is never shown again."""

    list_display = ("key_start", "user", "created", "expiry")
    list_select_related = ("user",)
    search_fields = ("user__username",)
    fields = ("key_start", "user", "created", "expiry")
    readonly_fields = ("key_start", "user", "created", "expiry")
    ordering = ("-created",)

    @admin.display(description="key starts with")
    def key_start(self, obj: AuthToken) -> str:
        return f"{obj.token_key[:6]}…"

    def get_queryset(self, request: HttpRequest):
        queryset = super().get_queryset(request)
        if not request.user.is_superuser:
            queryset = queryset.filter(user__is_superuser=False)
        return queryset

    def get_fields(self, request: HttpRequest, obj=None):
        return ("user", "expiry") if obj is None else self.fields

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        return () if obj is None else self.readonly_fields

    def get_form(self, request: HttpRequest, obj=None, change=False, **kwargs):
        if obj is not None:
            return super().get_form(request, obj, change=change, **kwargs)
        form_class = super().get_form(request, obj, form=ApiTokenCreateForm, **kwargs)

        class BoundRequestForm(form_class):
            def __init__(self, *args, **inner):
                super().__init__(*args, request=request, **inner)

        return BoundRequestForm

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs):
        if db_field.name == "user" and not request.user.is_superuser:
            kwargs["queryset"] = User.objects.filter(pk=request.user.pk)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj, form, change: bool) -> None:
        # The form already created the token (its hash); only now is its key known.
        self.message_user(
            request,
            f"API token for {form.cleaned_data['user']}: {form.key} "
            "(copy it now: it is stored hashed and will not be shown again).",
            messages.SUCCESS,
        )
