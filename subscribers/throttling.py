"""Throttles for the two endpoints subscriber systems call (rates in REST_FRAMEWORK settings).

Both count requests in fixed windows with one cache increment: subscriber traffic runs at
thousands of requests a minute, where DRF's default (a list of every request's time,
read and written back whole on each request) grows with the rate it allows.
"""

from __future__ import annotations

from rest_framework.throttling import SimpleRateThrottle

from packages.models import SubscriberApiKey


class FixedWindowRateThrottle(SimpleRateThrottle):
    """At most `num_requests` per key in each window of `duration` seconds."""

    def allow_request(self, request, view) -> bool:
        if self.rate is None:
            return True
        key = self.get_cache_key(request, view)
        if key is None:
            return True
        self.now = self.timer()
        window = int(self.now // self.duration)
        self.window_ends = (window + 1) * self.duration
        key = f"{key}:{window}"
        try:
            count = self.cache.incr(key)
        except ValueError:  # the window's first request
            if self.cache.add(key, 1, self.duration + 1):
                return True
            count = self.cache.incr(key)
        return count <= self.num_requests

    def wait(self) -> float:
        return max(self.window_ends - self.now, 1.0)


class WebhookSourceThrottle(FixedWindowRateThrottle):
    """Webhook deliveries per source address (REMOTE_ADDR, or X-Forwarded-For per
    NUM_PROXIES)."""

    scope = "subscriber_webhook"

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class SubscriberKeyThrottle(FixedWindowRateThrottle):
    """License checks per subscriber API key (so per package); no key, no throttle: the
    check answers 401 without reading anything."""

    scope = "subscriber_license_check"

    def get_cache_key(self, request, view) -> str | None:
        raw_key = bearer_key(request)
        if raw_key is None:
            return None
        return self.cache_format % {
            "scope": self.scope,
            "ident": SubscriberApiKey.hash_key(raw_key),
        }


def bearer_key(request) -> str | None:
    """The key of an `Authorization: Bearer <key>` header, or None."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        return None
    return key.strip()
