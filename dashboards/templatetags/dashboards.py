"""Numbers on the dashboards: each a link to its licenses, changes signed, shares in %."""

from __future__ import annotations

from django import template
from django.contrib.humanize.templatetags.humanize import intcomma
from django.utils.html import format_html

from dashboards.selectors import Figure

register = template.Library()


@register.filter
def figure(value: Figure | None) -> str:
    """The number, linked to the license list that makes it up."""
    if value is None:
        return "—"
    return format_html(
        '<a class="dash-num" href="{}" title="Open these licenses">{}</a>',
        value.url,
        intcomma(value.value),
    )


@register.filter
def change(value: Figure | None) -> str:
    """The change against the start of the period, signed."""
    if value is None or value.change is None:
        return ""
    delta = value.change
    css = "dash-up" if delta > 0 else "dash-down" if delta < 0 else "dash-flat"
    sign = "+" if delta > 0 else "\u2212" if delta < 0 else "\u00b1"
    return format_html(
        '<span class="dash-change {}" title="Against the start of the period: {}">{}{}</span>',
        css,
        intcomma(value.previous),
        sign,
        intcomma(abs(delta)),
    )


@register.filter
def pct(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value * 100:.1f}%"
