"""Each request reads the clock's offset once, and every HTML page says when time is moved."""

from __future__ import annotations

import re
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.html import format_html

from lmo import clock

from .services import format_offset

_BODY_OPEN = re.compile(rb"<body[^>]*>", re.IGNORECASE)
BANNER_ID = "lmo-clock-banner"


def clock_banner() -> str:
    """The line every page shows while the clock is not real time."""
    try:
        url = reverse("admin:clock_clockchange_changelist")
    except NoReverseMatch:
        url = ""
    now = clock.now()
    return format_html(
        '<div id="{}" role="status" style="background:#8a1c1c;color:#fff;padding:6px 16px;'
        'font:600 13px/1.4 system-ui,sans-serif;text-align:center;position:relative;z-index:1000">'
        "Simulated clock: it is {} UTC here ({} from real time {} UTC). "
        'Expiries, grace and the sweep follow this time. <a href="{}" style="color:#fff;'
        'text-decoration:underline">Clock</a></div>',
        BANNER_ID,
        f"{now:%Y-%m-%d %H:%M}",
        format_offset(clock.offset()),
        f"{timezone.now():%Y-%m-%d %H:%M}",
        url,
    )


class ClockMiddleware:
    """Reads the offset afresh per request; puts the banner at the top of HTML pages."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        clock.forget_offset()
        response = self.get_response(request)
        if clock.simulated_clock_enabled() and _is_page(response) and clock.is_simulated():
            _insert_banner(response)
        return response


def _is_page(response: HttpResponse) -> bool:
    return (
        not response.streaming
        and response.get("Content-Type", "").startswith("text/html")
        and not response.has_header("Content-Encoding")
    )


def _insert_banner(response: HttpResponse) -> None:
    if hasattr(response, "render") and not response.is_rendered:
        response.render()
    content = response.content
    match = _BODY_OPEN.search(content)
    if match is None or BANNER_ID.encode() in content:
        return
    banner = clock_banner().encode()
    response.content = content[: match.end()] + banner + content[match.end() :]
    if response.has_header("Content-Length"):
        response["Content-Length"] = str(len(response.content))
