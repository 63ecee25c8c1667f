"""The console's Clock page (Administrators): see simulated time, move it, and its history."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.utils import timezone

from lmo import clock

from .exceptions import ClockError
from .models import ClockChange
from .services import (
    clock_advance,
    clock_history,
    clock_reset,
    clock_set,
    format_offset,
    parse_duration,
)


class AdvanceForm(forms.Form):
    duration = forms.CharField(
        max_length=20, help_text="A number and a unit: 30d, 12h, 90m, 2w.", initial="1d"
    )


class SetForm(forms.Form):
    to = forms.DateTimeField(
        label="Move to (UTC)",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )


@admin.register(ClockChange)
class ClockAdmin(admin.ModelAdmin):
    """One page instead of a list: the clock, three ways to move it, and who moved it."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context=None) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        may_move = request.user.has_perm("clock.move_clock")
        advance_form, set_form = AdvanceForm(), SetForm()
        if request.method == "POST":
            if not may_move:
                raise PermissionDenied
            verb = request.POST.get("verb")
            advance_form = AdvanceForm(request.POST if verb == "advance" else None)
            set_form = SetForm(request.POST if verb == "set" else None)
            try:
                if verb == "advance" and advance_form.is_valid():
                    delta = parse_duration(advance_form.cleaned_data["duration"])
                    clock_advance(by=request.user, delta=delta, note=f"console: advance {delta}")
                elif verb == "set" and set_form.is_valid():
                    to = set_form.cleaned_data["to"]
                    clock_set(by=request.user, to=to, note=f"console: set {to:%Y-%m-%d %H:%M}")
                elif verb == "reset":
                    clock_reset(by=request.user, note="console: reset")
                else:
                    raise ClockError("Check the form: the clock was not moved.")
            except ClockError as exc:
                self.message_user(request, exc.message, messages.ERROR)
            else:
                clock.forget_offset()
                self.message_user(
                    request,
                    f"The clock now reads {clock.now():%Y-%m-%d %H:%M} UTC "
                    f"({format_offset(clock.offset())}); the sweeps run now.",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(request.path)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Clock",
            "enabled": clock.simulated_clock_enabled(),
            "clock_now": clock.now(),
            "real_now": timezone.now(),
            "offset": format_offset(clock.offset()),
            "simulated": clock.is_simulated(),
            "may_move": may_move,
            "advance_form": advance_form,
            "set_form": set_form,
            "history": clock_history(),
        }
        return TemplateResponse(request, "admin/clock/clock.html", context)
