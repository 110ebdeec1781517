"""Kept apart from oms.core.api: DRF imports these while building APIView itself."""

from rest_framework.pagination import PageNumberPagination
from rest_framework.throttling import SimpleRateThrottle


class Pagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class PerCallerRateThrottle(SimpleRateThrottle):
    """One budget per API key (or staff user, or address), shared through the cache."""

    scope = "caller"

    def get_cache_key(self, request, view) -> str:
        prefix = getattr(request.auth, "prefix", None)
        if prefix:
            ident = f"key:{prefix}"
        elif request.user and request.user.is_authenticated and request.user.pk:
            ident = f"user:{request.user.pk}"
        else:
            ident = f"ip:{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}
