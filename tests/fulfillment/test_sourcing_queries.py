"""Query counts of the sourcing job per order: constant in the number of lines.

The job runs for every order (≥ 100 orders/s per worker is the target), so a bigger cart must
not mean more round trips, and neither must a split: every location's fulfillment order, its
lines, events and outbox row go into the same few INSERTs (at most the rules' max_shipments
locations; a drop-ship vendor adds one UPDATE for the purchase order numbers, not pinned here).
Counts are taken inside the test transaction: the job's transaction shows as a SAVEPOINT.
"""

import pytest

from fulfillment.models import FulfillmentOrder
from fulfillment.sourcing.service import source_order
from inventory.services import receive_stock
from orders.models import Order
from orders.services import place_order
from tests import factories

# Savepoint; lock the order; one read of the lines with their reservations (location, whether
# in fulfillment, any pending fulfillment order) and the engine's decisions (sourced events);
# fulfillment orders created released (bulk), their lines (bulk), outbox rows (bulk); order
# status; the job's timeline events, the order's status change among them (bulk); release the
# savepoint.
FIXED_QUERIES = 9
PER_LOCATION_QUERIES = 0
# A backordered order whose stock has arrived first plans and reserves what is outstanding:
# the lines to plan (with their SKUs), the order's channel, service level and pickup store,
# the engine's inputs (ATP rows, candidate locations; rule set, carrier services, rate bands
# and holidays come from fulfillment.reference_cache, loaded by the capture), lock the stock
# rows, reserved update, reservations (bulk), backordered quantities (bulk), the sourced
# event, the order's promised date, its status back to placed and that event, then lines and
# reservations read again.
RESERVE_QUERIES = 13


def capture(channel, skus, quantity=1):
    payload = factories.order_payload(
        lines=[{"sku": sku.code, "quantity": quantity} for sku in skus]
    )
    return place_order(
        channel=channel, **{k: payload[k] for k in ("customer", "lines", "delivery", "payment")}
    ).order


@pytest.fixture
def five_skus(catalogue, warehouse):
    skus = list(catalogue)
    for n in range(len(skus), 5):
        sku = factories.SKUFactory(code=f"SKU-{n}")
        factories.stock(sku, warehouse, 10)
        skus.append(sku)
    return skus


@pytest.mark.parametrize("line_count", [1, 5])
def test_sourcing_queries_do_not_grow_with_lines(
    channel, five_skus, django_assert_num_queries, line_count
):
    order = capture(channel, five_skus[:line_count])

    with django_assert_num_queries(FIXED_QUERIES + PER_LOCATION_QUERIES):
        created = source_order(order_id=order.pk)

    assert len(created) == 1
    assert created[0].lines.count() == line_count
    order.refresh_from_db()
    assert order.status == Order.Status.RELEASED


@pytest.mark.parametrize("line_count", [1, 5])
def test_a_split_order_costs_a_fixed_number_of_queries_per_location(
    channel, five_skus, django_assert_num_queries, line_count
):
    # 12 units of each line: WH-EAST holds 10 of each, WH-WEST the rest.
    west = factories.LocationFactory(code="WH-WEST", priority=20)
    for sku in five_skus:
        factories.stock(sku, west, 10)
    order = capture(channel, five_skus[:line_count], quantity=12)

    with django_assert_num_queries(FIXED_QUERIES + 2 * PER_LOCATION_QUERIES):
        created = source_order(order_id=order.pk)

    assert sorted(fo.location.code for fo in created) == ["WH-EAST", "WH-WEST"]


@pytest.mark.parametrize("line_count", [1, 5])
def test_filling_a_backorder_queries_do_not_grow_with_lines(
    warehouse, standard_service, ny_tax, django_assert_num_queries, line_count
):
    channel = factories.SalesChannelFactory(code="call-center", allows_backorders=True)
    skus = [factories.SKUFactory(code=f"SKU-{n}") for n in range(line_count)]
    order = capture(channel, skus)
    assert order.status == Order.Status.BACKORDERED
    for sku in skus:
        receive_stock(sku=sku, location=warehouse, quantity=5, reference="PO-1")

    with django_assert_num_queries(FIXED_QUERIES + PER_LOCATION_QUERIES + RESERVE_QUERIES):
        created = source_order(order_id=order.pk)

    assert len(created) == 1
    assert list(FulfillmentOrder.objects.filter(order=order).values_list("status", flat=True)) == [
        FulfillmentOrder.Status.RELEASED
    ]
    order.refresh_from_db()
    assert order.status == Order.Status.RELEASED
    assert not order.lines.filter(quantity_backordered__gt=0).exists()


def test_running_the_job_again_writes_nothing(channel, five_skus, django_assert_num_queries):
    order = capture(channel, five_skus)
    source_order(order_id=order.pk)

    # It finds nothing outstanding, nothing to create and nothing pending to release: the
    # lock and one read of lines and reservations (and the savepoints).
    with django_assert_num_queries(4):
        assert source_order(order_id=order.pk) == []

    assert FulfillmentOrder.objects.filter(order=order).count() == 1
