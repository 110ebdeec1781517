"""Kept apart from oms.core.api: DRF imports these while building APIView itself."""

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.throttling import SimpleRateThrottle


class Pagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def get_page_size(self, request):
        # DRF falls back to the default on a bad page_size; a client asking for "AAA" or 0
        # rows has a bug it should hear about.
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        try:
            size = int(raw)
        except ValueError:
            size = 0
        if not 1 <= size <= self.max_page_size:
            raise ValidationError(
                {self.page_size_query_param: [f"A whole number from 1 to {self.max_page_size}."]}
            )
        return size


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
