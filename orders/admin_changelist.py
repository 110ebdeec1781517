"""How the admin's order list searches and filters a million orders from indexes.

Django's defaults read every order: `search_fields` compile to UPPER(…) LIKE '%…%' over the
orders-customers join, and a date hierarchy lists its years, months and days with a DISTINCT
over every matching order. Here each search branch and the date filter is a condition an index
serves, so the first page costs the same with 10^3 or 10^6 orders.
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django import forms
from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ERROR_FLAG, PAGE_VAR
from django.db.models import Q, QuerySet, Subquery
from django.utils import timezone

from customers.models import Customer
from customers.selectors import matching_email
from orders.models import Order, SalesChannel

# Enough for any real prefix (SO-0012 is 100 orders in the first million); more means the
# reader is still typing, and matching them all would make the newest-first page walk the
# whole orders table to find them (they cluster at the old end).
MAX_NUMBER_PREFIX_MATCHES = 1_000

SEARCH_HELP_TEXT = (
    "An order number or its beginning (SO-0012 finds SO-001234), an external id exactly as "
    "the channel sent it, or a customer's whole email address in any case. Part of an email "
    "finds nothing: look the customer up under Customers."
)


@dataclass(frozen=True)
class OrderSearch:
    orders: QuerySet[Order]
    note: str = ""  # why some orders the reader may expect are not listed


def search_orders(queryset: QuerySet[Order], term: str) -> OrderSearch:
    """Orders whose number starts with `term`, whose external id or customer's email is it.

    Each branch is an index lookup and they are OR-ed in one condition, so PostgreSQL
    combines their index scans into one bitmap, then sorts the few rows found.
    """
    term = term.strip()
    if not term:
        return OrderSearch(queryset)
    # external_id is indexed after the channel (unique per channel): naming every channel
    # lets the index serve it. Ids, not a subquery: IN (subquery) is no index condition
    # inside an OR.
    channel_ids = list(SalesChannel.objects.values_list("pk", flat=True))
    condition = Q(channel__in=channel_ids, external_id=term)
    note = ""
    if "@" in term:
        # `customer_id = (scalar subquery)`: run once, through the unique index on
        # LOWER(email), its result is an index condition on order_customer_placed_idx.
        customer = matching_email(Customer.objects.order_by(), term).values("pk")
        condition |= Q(customer=Subquery(customer))
    else:
        # Numbers are issued upper case (SO-000123). The prefix is looked up first, bounded,
        # on the varchar_pattern_ops index Django adds to the unique number column.
        prefix = term.upper()
        numbered = Order.objects.filter(number__startswith=prefix).order_by()
        order_ids = list(numbered.values_list("pk", flat=True)[: MAX_NUMBER_PREFIX_MATCHES + 1])
        if len(order_ids) > MAX_NUMBER_PREFIX_MATCHES:
            note = (
                f"More than {MAX_NUMBER_PREFIX_MATCHES:,} order numbers start with {prefix}: "
                "type more of the number to list them."
            )
        else:
            condition |= Q(pk__in=order_ids)
    return OrderSearch(queryset.filter(condition), note)


class PlacedRangeForm(forms.Form):
    placed_from = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    placed_to = forms.DateField(
        required=False, label="To", widget=forms.DateInput(attrs={"type": "date"})
    )


def start_of_day(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


class PlacedDateFilter(admin.ListFilter):
    """Orders placed from one day to another (both included), in the site's time zone.

    Stands in for `date_hierarchy`: the quick ranges are worked out from today, not read from
    the orders, and a range is a range scan of order_newest_first_idx.
    """

    title = "placed"
    template = "admin/orders/order/placed_filter.html"
    parameters = ("placed_from", "placed_to")

    def __init__(self, request, params, model, model_admin):
        super().__init__(request, params, model, model_admin)
        for name in self.parameters:
            # An empty box of the range form means "no limit on this side".
            if name in params and (value := params.pop(name)[-1]):
                self.used_parameters[name] = value
        self.form = PlacedRangeForm(self.used_parameters or None)

    def has_output(self) -> bool:
        return True

    def expected_parameters(self) -> list[str]:
        return list(self.parameters)

    def queryset(self, request, queryset):
        if not self.used_parameters:
            return queryset
        if not self.form.is_valid():
            raise IncorrectLookupParameters(self.form.errors)
        placed_from = self.form.cleaned_data["placed_from"]
        placed_to = self.form.cleaned_data["placed_to"]
        if placed_from:
            queryset = queryset.filter(placed_at__gte=start_of_day(placed_from))
        if placed_to:
            queryset = queryset.filter(placed_at__lt=start_of_day(placed_to + timedelta(days=1)))
        return queryset

    def quick_ranges(self) -> list[tuple[str, date | None, date | None]]:
        today = timezone.localdate()
        month_start = today.replace(day=1)
        last_month_end = month_start - timedelta(days=1)
        return [
            ("Any date", None, None),
            ("Today", today, today),
            ("Yesterday", today - timedelta(days=1), today - timedelta(days=1)),
            ("Past 7 days", today - timedelta(days=6), today),
            ("This month", month_start, today),
            ("Last month", last_month_end.replace(day=1), last_month_end),
            ("This year", today.replace(month=1, day=1), today),
        ]

    def choices(self, changelist):
        chosen = (self.used_parameters.get("placed_from"), self.used_parameters.get("placed_to"))
        for label, placed_from, placed_to in self.quick_ranges():
            values = tuple(day.isoformat() if day else None for day in (placed_from, placed_to))
            yield {
                "selected": values == chosen,
                "query_string": changelist.get_query_string(
                    dict(zip(self.parameters, values, strict=True))
                ),
                "display": label,
            }

    def other_parameters(self) -> list[tuple[str, str]]:
        """What the range form resubmits: the search and other filters, not the page."""
        skipped = {*self.parameters, PAGE_VAR, ERROR_FLAG}
        return [
            (name, value)
            for name, values in self.request.GET.lists()
            if name not in skipped
            for value in values
        ]
