"""Throttles for the two endpoints subscriber systems call (rates in REST_FRAMEWORK settings).

Both count requests per key in fixed windows. Subscriber traffic runs at thousands of
requests a minute, where DRF's default throttle (a list of every request's time, read and
written back whole on each request) grows with the rate it allows. Here each process counts
locally and adds its count to the shared counter (one cache increment) at most every
`SYNC_SECONDS` or `SYNC_REQUESTS` requests, so the busiest path does not pay a cache round
trip per request; across N processes a key can overshoot its rate by at most N times
`SYNC_REQUESTS` requests per window.
"""

from __future__ import annotations

from rest_framework.throttling import SimpleRateThrottle

from packages.models import SubscriberApiKey

SYNC_SECONDS = 0.25
SYNC_REQUESTS = 20
MAX_LOCAL_KEYS = 10_000


class FixedWindowRateThrottle(SimpleRateThrottle):
    """At most `num_requests` per key in each window of `duration` seconds."""

    # Per process: window key -> [requests not yet added, shared count last seen, synced at].
    _local: dict[str, list[float]] = {}

    def allow_request(self, request, view) -> bool:
        if self.rate is None:
            return True
        key = self.get_cache_key(request, view)
        if key is None:
            return True
        self.now = self.timer()
        window = int(self.now // self.duration)
        self.window_ends = (window + 1) * self.duration
        window_key = f"{key}:{window}"
        state = self._local.get(window_key)
        if state is None:
            if len(self._local) >= MAX_LOCAL_KEYS:
                self._local.clear()
            state = self._local[window_key] = [0, 0, 0.0]
        state[0] += 1
        if state[0] >= SYNC_REQUESTS or self.now - state[2] >= SYNC_SECONDS:
            state[1] = self._add(window_key, int(state[0]))
            state[0], state[2] = 0, self.now
        return state[1] + state[0] <= self.num_requests

    def _add(self, key: str, count: int) -> int:
        """Add `count` to the window's shared counter; its new value."""
        backend = getattr(self.cache, "_cache", None)
        if hasattr(backend, "get_client"):
            # Redis: one INCRBY (it creates the key); Django's incr() would first ask EXISTS.
            full_key = self.cache.make_and_validate_key(key)
            client = backend.get_client(full_key, write=True)
            total = client.incrby(full_key, count)
            if total == count:
                client.expire(full_key, int(self.duration) + 1)
            return total
        if self.cache.add(key, count, self.duration + 1):
            return count
        try:
            return self.cache.incr(key, count)
        except ValueError:  # expired in between
            self.cache.set(key, count, self.duration + 1)
            return count

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
        key_hash = bearer_key_hash(request)
        if key_hash is None:
            return None
        return self.cache_format % {"scope": self.scope, "ident": key_hash}


def bearer_key(request) -> str | None:
    """The key of an `Authorization: Bearer <key>` header, or None."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        return None
    return key.strip()


def bearer_key_hash(request) -> str | None:
    """The stored form of the request's Bearer key (None without one), hashed once per
    request: the throttle and the view both need it."""
    try:
        return request.bearer_key_hash
    except AttributeError:
        raw_key = bearer_key(request)
        request.bearer_key_hash = None if raw_key is None else SubscriberApiKey.hash_key(raw_key)
        return request.bearer_key_hash
