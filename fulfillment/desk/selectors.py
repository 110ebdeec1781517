"""Reads for the desk screens: what each screen shows, in a fixed number of queries."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Case, Count, Q, QuerySet, Sum, Value, When

from customers.models import Customer
from fulfillment.jeopardy.models import JeopardyAlert
from fulfillment.jeopardy.services import severity_band
from oms.core.money import Money
from orders.models import Order, SalesChannel

# A page of matches is all an agent reads while the customer waits; refine the query for more.
SEARCH_LIMIT = 20
RECENT_ORDERS_LIMIT = 10
# Fewer characters match too much to be useful and cost a scan for nothing.
MIN_QUERY_LENGTH = 2
MIN_PHONE_DIGITS = 4
ORDER_NUMBER = re.compile(r"^SO-\d+$", re.IGNORECASE)


@dataclass
class SearchResults:
    query: str
    searched: bool = False  # False when the query was too short to run
    customers: list[Customer] = field(default_factory=list)
    orders: list[Order] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return not self.customers and not self.orders


def search(query: str) -> SearchResults:
    """Customers and orders matching a name, email, phone, order number or external id.

    Orders are found by exact number (unique index) or external id; customers by parts of
    their name, email or phone. Those partial matches scan the customers table, which takes
    milliseconds for a call center's customer base; a trigram (pg_trgm) index is the next step
    if it grows past ~10^6 rows.
    """
    query = " ".join(query.split())
    results = SearchResults(query=query)
    if len(query) < MIN_QUERY_LENGTH:
        return results

    results.searched = True
    results.customers = list(_matching_customers(query)[:SEARCH_LIMIT])
    if results.customers:
        # Counted for the page of customers only, not for every match before the limit.
        counts = dict(
            Order.objects.filter(customer__in=results.customers)
            .values_list("customer")
            .annotate(count=Count("id"))
            .order_by()
        )
        for customer in results.customers:
            customer.order_count = counts.get(customer.pk, 0)
    results.orders = _matching_orders(query)
    return results


def _matching_customers(query: str) -> QuerySet[Customer]:
    condition = Q(email__icontains=query) | Q(phone__icontains=query)
    words = query.split()
    # Every word must be in the first or last name: "ada love" finds Ada Lovelace.
    name_condition = Q()
    for word in words:
        name_condition &= Q(first_name__icontains=word) | Q(last_name__icontains=word)
    condition |= name_condition
    digits = re.sub(r"\D", "", query)
    if len(digits) >= MIN_PHONE_DIGITS and len(digits) >= len(query.replace(" ", "")) // 2:
        # Phones are stored as typed ("+1 (212) 555-0100"): match the digits in order,
        # whatever separates them.
        condition |= Q(phone__regex=r"[^0-9]*".join(digits))
    # The customer whose email was typed in full comes first, then by name.
    exact_email_first = Case(When(Q(email__iexact=query), then=Value(0)), default=Value(1))
    return (
        Customer.objects.filter(condition)
        .alias(exact=exact_email_first)
        .order_by("exact", "last_name", "first_name", "id")
    )


def _matching_orders(query: str) -> list[Order]:
    orders = Order.objects.select_related("customer", "channel").order_by("-placed_at", "-id")
    found = []
    if ORDER_NUMBER.match(query):
        found = list(orders.filter(number=query.upper()))
    # external_id is indexed only after the channel (unique per channel): naming every channel
    # lets PostgreSQL use that index instead of scanning all orders (0.1 ms, not 90 ms, on
    # 300,000 orders). A separate query from the number's: OR-ing them loses both indexes.
    by_external_id = orders.filter(
        channel__in=SalesChannel.objects.values("pk"), external_id=query
    ).exclude(pk__in=[order.pk for order in found])
    return found + list(by_external_id[: SEARCH_LIMIT - len(found)])


@dataclass
class CustomerSummary:
    customer: Customer
    order_count: int
    # Per currency: a customer who bought in USD and EUR has two lifetime values.
    lifetime_values: list[Money]
    average_order_values: list[Money]
    recent_orders: list[Order]


def customer_summary(customer: Customer) -> CustomerSummary:
    """Customer 360 numbers: lifetime value = sum of non-cancelled order totals per currency."""
    totals = (
        Order.objects.filter(customer=customer)
        .exclude(status=Order.Status.CANCELLED)
        .values("currency")
        .annotate(total=Sum("total_amount"), count=Count("id"))
        .order_by("currency")
    )
    lifetime_values = []
    average_order_values = []
    for row in totals:
        total = Decimal(row["total"] or 0)
        lifetime_values.append(Money(total, row["currency"]))
        average_order_values.append(Money(total / row["count"], row["currency"]))
    recent_orders = list(
        Order.objects.filter(customer=customer)
        .select_related("channel")
        .order_by("-placed_at", "-id")[:RECENT_ORDERS_LIMIT]
    )
    return CustomerSummary(
        customer=customer,
        order_count=Order.objects.filter(customer=customer).count(),
        lifetime_values=lifetime_values,
        average_order_values=average_order_values,
        recent_orders=recent_orders,
    )


# Alerts not yet resolved: what staff still have to act on (the scan resolves the rest).
LIVE_ALERT_STATUSES = (JeopardyAlert.Status.OPEN, JeopardyAlert.Status.ACKNOWLEDGED)


def live_alerts(order: Order) -> list[JeopardyAlert]:
    """The order's jeopardy alerts that are not resolved, worst first, with their owner and
    location: one query (the (order, status) index), however many alerts and whoever owns
    them. Each carries `band`: the severity band staff filter by in the admin."""
    alerts = list(
        JeopardyAlert.objects.filter(order=order, status__in=LIVE_ALERT_STATUSES)
        .select_related("owner", "location")
        .order_by("-severity", "due_by", "id")
    )
    for alert in alerts:
        alert.band = severity_band(alert.severity)
    return alerts
