"""Set-up shared by the order API tests: a fresh throttle budget per test, a second
storefront, a way to post an order, and a snapshot of everything a capture writes."""

import itertools

import pytest
from django.core.cache import cache
from django.db.models import Sum
from rest_framework.test import APIClient

from customers.models import Customer
from inventory.models import Reservation, StockLevel
from oms.core.models import OutboxMessage
from orders.models import IdempotencyKey, Order, OrderEvent, OrderLine, Payment
from tests import factories

ORDERS_URL = "/api/v1/orders/"
AVAILABILITY_URL = "/api/v1/availability/"
PROBLEM_JSON = "application/problem+json"


@pytest.fixture(autouse=True)
def fresh_throttle_budget():
    # The per-caller throttle counts requests in the cache, which outlives a test.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def other_channel_client(other_channel):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {factories.api_key_for(other_channel)}")
    return client


@pytest.fixture
def post_order(channel_client):
    """POST an order; each call gets a new Idempotency-Key unless one is given."""
    keys = itertools.count(1)

    def post(payload=None, *, client=None, key=None):
        return (client or channel_client).post(
            ORDERS_URL,
            factories.order_payload() if payload is None else payload,
            format="json",
            HTTP_IDEMPOTENCY_KEY=key or f"attempt-{next(keys)}",
        )

    return post


@pytest.fixture
def rows_written(db):
    """Call it for the rows an order capture creates, and the units reserved network-wide."""

    def snapshot() -> dict[str, int]:
        return {
            "orders": Order.objects.count(),
            "order_lines": OrderLine.objects.count(),
            "customers": Customer.objects.count(),
            "reservations": Reservation.objects.count(),
            "payments": Payment.objects.count(),
            "idempotency_keys": IdempotencyKey.objects.count(),
            "order_events": OrderEvent.objects.count(),
            "outbox_messages": OutboxMessage.objects.count(),
            "reserved_units": StockLevel.objects.aggregate(total=Sum("reserved"))["total"] or 0,
        }

    return snapshot
