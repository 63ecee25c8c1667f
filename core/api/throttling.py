"""Rate limits per user and per endpoint, on top of the per-user limit across the API."""

from rest_framework.throttling import ScopedRateThrottle, SimpleRateThrottle


class EndpointRateThrottle(ScopedRateThrottle):
    """Each user gets one bucket per endpoint and action, at the rate of the view's scope.

    The scope comes from `view.get_throttle_scope()` (reads, writes, bulk), so a script
    hammering one action does not use up another endpoint's allowance.
    """

    def allow_request(self, request, view) -> bool:
        get_scope = getattr(view, "get_throttle_scope", None)
        self.scope = get_scope() if get_scope else getattr(view, self.scope_attr, None)
        if not self.scope:
            return True
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return SimpleRateThrottle.allow_request(self, request, view)

    def get_cache_key(self, request, view) -> str:
        if request.user and request.user.is_authenticated:
            ident = request.user.pk
        else:
            ident = self.get_ident(request)
        endpoint = getattr(view, "basename", None) or type(view).__name__
        action = getattr(view, "action", None) or request.method.lower()
        return f"throttle_{self.scope}_{endpoint}_{action}_{ident}"
