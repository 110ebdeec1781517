"""A paginator for admin lists too long to count on every page view.

Django's Paginator counts every matching row to number the pages: with a million orders that
COUNT(*) reads the whole table and costs more than the page itself. This one counts only as
far as its page links reach, so its cost grows with how deep the reader pages, not with the
table. Past that point `count_is_exact` is False, `count` is a lower bound, and the templates
that show it say "more than N".
"""

from django.contrib.admin.views.main import PAGE_VAR
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.utils.functional import cached_property

# The admin's page links reach 3 pages past the current one (get_elided_page_range); 10 gives
# room for the next jumps and costs ~1,000 index entries at the admin's 100 rows a page.
PAGES_AHEAD = 10


class LookaheadPaginator(Paginator):
    def __init__(self, object_list, per_page, *, current_page: int = 1, **kwargs):
        super().__init__(object_list, per_page, **kwargs)
        self.counted_rows = (max(current_page, 1) + PAGES_AHEAD) * int(self.per_page)

    @cached_property
    def count(self) -> int:
        # One row past the limit tells "exactly this many" from "more than this". Any rows
        # will do, so the count drops the ordering: PostgreSQL may stop at the first it finds
        # instead of walking the list's order to rows that cluster at its far end.
        if isinstance(self.object_list, QuerySet):
            return self.object_list.order_by()[: self.counted_rows + 1].count()
        return len(self.object_list[: self.counted_rows + 1])

    @property
    def count_is_exact(self) -> bool:
        return self.count <= self.counted_rows


def requested_page(request) -> int:
    """The admin changelist's page number, read as ChangeList reads it (bad values are 1)."""
    try:
        return int(request.GET.get(PAGE_VAR, 1))
    except ValueError:
        return 1
