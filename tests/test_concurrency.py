"""Invariants under real concurrency: threads with their own PostgreSQL connections."""

import threading
from collections import Counter

import pytest
from django.db import close_old_connections, connection
from rest_framework.test import APIClient

from inventory.models import Reservation, StockLevel
from oms.core.errors import DomainError
from orders.models import IdempotencyKey, Order
from orders.services import place_order
from tests.factories import (
    LocationFactory,
    SalesChannelFactory,
    ServiceLevelFactory,
    SKUFactory,
    api_key_for,
    carrier_rate,
    order_payload,
    requires_postgres,
    stock,
)

pytestmark = [requires_postgres, pytest.mark.django_db(transaction=True)]


def run_together(count, work):
    """Start `count` threads at the same instant; return each one's result or exception."""
    barrier = threading.Barrier(count)
    results = [None] * count

    def runner(index):
        try:
            barrier.wait(timeout=30)
            results[index] = work(index)
        except Exception as error:
            results[index] = error
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=runner, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a thread hung: lock wait?"
    return results


def capture_args(lines, email="race@example.com"):
    payload = order_payload(lines=lines, customer={"email": email})
    return {k: payload[k] for k in ("customer", "lines", "delivery", "payment")}


def test_many_buyers_of_the_last_units_never_oversell():
    channel = SalesChannelFactory(code="web")
    carrier_rate(ServiceLevelFactory())
    sku = SKUFactory(code="SKU-LAST")
    east, west = LocationFactory(code="WH-EAST"), LocationFactory(code="WH-WEST")
    stock(sku, east, 4)
    stock(sku, west, 3)

    def buy(index):
        return place_order(
            channel=channel,
            idempotency_key=f"buyer-{index}",
            **capture_args([{"sku": "SKU-LAST", "quantity": 1}], email=f"buyer{index}@example.com"),
        ).order.number

    results = run_together(32, buy)

    accepted = [r for r in results if isinstance(r, str)]
    refused = [r for r in results if isinstance(r, Exception)]
    assert len(accepted) == 7, results
    assert len(set(accepted)) == 7
    assert all(isinstance(r, DomainError) and r.code == "insufficient_stock" for r in refused), [
        repr(r) for r in refused
    ]
    for level in StockLevel.objects.all():
        assert level.reserved == level.on_hand
    assert Reservation.objects.filter(state="active").count() == 7
    assert Order.objects.count() == 7


def test_same_idempotency_key_sent_eight_times_at_once_makes_one_order():
    channel = SalesChannelFactory(code="web")
    carrier_rate(ServiceLevelFactory())
    sku = SKUFactory(code="SKU-A")
    warehouse = LocationFactory(code="WH-EAST")
    stock(sku, warehouse, 50)
    key = api_key_for(channel)
    body = order_payload(lines=[{"sku": "SKU-A", "quantity": 2}])

    def post(_):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
        response = client.post(
            "/api/v1/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY="one-click"
        )
        return response.status_code, response.json().get("number")

    results = run_together(8, post)

    assert not [r for r in results if isinstance(r, Exception)], results
    statuses = Counter(status for status, _ in results)
    assert set(statuses) <= {201, 409}, results
    numbers = {number for status, number in results if status == 201}
    assert len(numbers) == 1
    assert Order.objects.count() == 1
    assert IdempotencyKey.objects.count() == 1
    assert StockLevel.objects.get(sku=sku).reserved == 2


def test_orders_locking_the_same_rows_in_opposite_line_order_do_not_fail():
    """Lines [A, B] and [B, A] at once: rows are locked in one order, so no deadlock 500s."""
    channel = SalesChannelFactory(code="web")
    carrier_rate(ServiceLevelFactory())
    warehouse = LocationFactory(code="WH-EAST")
    for code in ("SKU-A", "SKU-B", "SKU-C"):
        stock(SKUFactory(code=code), warehouse, 100)
    orderings = [
        [
            {"sku": "SKU-A", "quantity": 1},
            {"sku": "SKU-B", "quantity": 1},
            {"sku": "SKU-C", "quantity": 1},
        ],
        [
            {"sku": "SKU-C", "quantity": 1},
            {"sku": "SKU-B", "quantity": 1},
            {"sku": "SKU-A", "quantity": 1},
        ],
    ]

    def buy(index):
        return place_order(
            channel=channel,
            idempotency_key=f"opposite-{index}",
            **capture_args(orderings[index % 2], email=f"o{index}@example.com"),
        ).order.number

    results = run_together(16, buy)

    assert all(isinstance(r, str) for r in results), [repr(r) for r in results]
    assert set(StockLevel.objects.values_list("reserved", flat=True)) == {16}
