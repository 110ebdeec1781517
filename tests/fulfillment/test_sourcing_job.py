"""The sourcing job: reservations become released fulfillment orders; backorders wait for stock."""

import os
import time

import pytest
from django.db import connection

from fulfillment.models import FulfillmentOrder, SourcingRuleSet
from fulfillment.sourcing.service import source_order
from fulfillment.tasks import (
    orders_needing_sourcing,
    resource_backorders_for_sku,
    source_order_task,
    sweep_unsourced_orders,
)
from inventory.models import StockLevel
from inventory.services import receive_stock
from orders.models import Order
from orders.services import place_hold, place_order, release_all_holds
from tests.factories import (
    LocationFactory,
    SalesChannelFactory,
    ServiceLevelFactory,
    SKUFactory,
    carrier_rate,
    order_payload,
    stock,
)


def capture(channel, **overrides):
    payload = order_payload(**overrides)
    return place_order(
        channel=channel, **{k: payload[k] for k in ("customer", "lines", "delivery", "payment")}
    ).order


@pytest.mark.django_db
def test_sourcing_turns_reservations_into_released_fulfillment_orders(catalogue, channel):
    order = capture(channel)
    created = source_order(order_id=order.pk)
    order.refresh_from_db()
    assert [fo.location.code for fo in created] == ["WH-EAST"]
    fulfillment = FulfillmentOrder.objects.get(order=order)
    assert fulfillment.status == FulfillmentOrder.Status.RELEASED
    assert sorted(fulfillment.lines.values_list("sku__code", "quantity")) == [
        ("SKU-A", 2),
        ("SKU-B", 1),
    ]
    assert order.status == Order.Status.RELEASED
    assert order.events.filter(kind="fulfillment").exists()


@pytest.mark.django_db
def test_running_the_job_twice_does_the_work_once(catalogue, channel):
    order = capture(channel)
    assert source_order_task(order.pk) == 1
    assert source_order_task(order.pk) == 0
    assert FulfillmentOrder.objects.filter(order=order).count() == 1


@pytest.mark.django_db
def test_an_order_served_by_two_locations_gets_two_fulfillment_orders(catalogue, channel):
    west = LocationFactory(code="WH-WEST", priority=20)
    stock(catalogue[0], west, 5)
    order = capture(channel, lines=[{"sku": "SKU-A", "quantity": 12}])
    source_order(order_id=order.pk)
    assert sorted(
        FulfillmentOrder.objects.filter(order=order).values_list("location__code", flat=True)
    ) == ["WH-EAST", "WH-WEST"]


@pytest.mark.django_db
def test_a_held_order_is_not_released_until_the_hold_is_lifted(catalogue, channel):
    order = capture(channel)
    place_hold(order=order, reason="fraud_review")
    source_order(order_id=order.pk)
    fulfillment = FulfillmentOrder.objects.get(order=order)
    assert fulfillment.status == FulfillmentOrder.Status.PENDING
    release_all_holds(order=order)
    source_order(order_id=order.pk)
    fulfillment.refresh_from_db()
    assert fulfillment.status == FulfillmentOrder.Status.RELEASED


@pytest.mark.django_db
def test_backorder_is_filled_when_stock_is_received(warehouse, standard_service, ny_tax):
    channel = SalesChannelFactory(code="call-center", allows_backorders=True)
    sku = SKUFactory(code="SKU-A")
    stock(sku, warehouse, 2)
    order = capture(channel, lines=[{"sku": "SKU-A", "quantity": 5}])
    assert order.status == Order.Status.BACKORDERED
    source_order(order_id=order.pk)  # ships what is there, the rest waits
    assert order.lines.get().quantity_backordered == 3
    assert orders_needing_sourcing(sku_id=sku.pk) == [order.pk]

    receive_stock(sku=sku, location=warehouse, quantity=10, reference="PO-7")
    assert resource_backorders_for_sku(sku.pk) == 1  # enqueues; run the job as the worker would
    source_order(order_id=order.pk)

    order.refresh_from_db()
    assert order.lines.get().quantity_backordered == 0
    assert order.status == Order.Status.RELEASED
    assert StockLevel.objects.get(sku=sku, location=warehouse).reserved == 5
    assert order.events.filter(kind="status_changed", data__note="backorder filled").exists()


@pytest.mark.django_db
def test_hold_policy_ships_nothing_until_everything_is_there(warehouse, standard_service, ny_tax):
    channel = SalesChannelFactory(code="wholesale")
    SourcingRuleSet.objects.create(
        name="ship complete",
        channel=channel,
        ship_location_types=["warehouse"],
        pickup_location_types=["store"],
        backorder_policy=SourcingRuleSet.BackorderPolicy.HOLD,
    )
    sku = SKUFactory(code="SKU-A")
    stock(sku, warehouse, 2)
    order = capture(channel, lines=[{"sku": "SKU-A", "quantity": 5}])
    assert source_order(order_id=order.pk) == []
    assert not FulfillmentOrder.objects.filter(order=order).exists()


@pytest.mark.django_db
def test_sweep_picks_up_orders_whose_message_was_lost(catalogue, channel, settings):
    order = capture(channel)
    Order.objects.filter(pk=order.pk).update(placed_at=order.placed_at.replace(year=2020))
    assert orders_needing_sourcing() == [order.pk]
    assert sweep_unsourced_orders() == 1  # enqueued on the test broker
    source_order(order_id=order.pk)
    assert orders_needing_sourcing() == []


REDIS_URL = os.environ.get("REDIS_URL", "")


@pytest.mark.skipif(
    not REDIS_URL or connection.vendor != "postgresql",
    reason="needs REDIS_URL and PostgreSQL (a worker thread shares the database)",
)
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_on_redis_sources_and_releases_a_placed_order():
    """Nobody calls a task here: commit → outbox relay → sourcing job, all through Redis."""
    import redis
    from celery.contrib.testing.worker import start_worker

    from oms.celery import app

    broker = REDIS_URL.rsplit("/", 1)[0] + "/15"  # a database of its own, emptied first
    redis.Redis.from_url(broker).flushdb()
    previous = app.conf.broker_url
    app.conf.broker_url = broker
    forget_broker_connections(app)  # earlier tests published to the in-memory test broker
    try:
        SalesChannelFactory(code="web")
        carrier_rate(ServiceLevelFactory())
        sku = SKUFactory(code="SKU-A")
        stock(sku, LocationFactory(code="WH-EAST"), 10)
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
            order = capture(
                SalesChannelFactory(code="web"), lines=[{"sku": "SKU-A", "quantity": 1}]
            )
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if FulfillmentOrder.objects.filter(
                    order=order, status=FulfillmentOrder.Status.RELEASED
                ).exists():
                    break
                time.sleep(0.2)
        order.refresh_from_db()
        assert order.status == Order.Status.RELEASED
        assert FulfillmentOrder.objects.get(order=order).status == FulfillmentOrder.Status.RELEASED
    finally:
        app.conf.broker_url = previous
        forget_broker_connections(app)


def forget_broker_connections(app):
    """Celery caches its connection pool and producer pool; both point at the old broker."""
    app._pool = None
    app.amqp._producer_pool = None


@pytest.mark.django_db
def test_units_short_picked_after_a_first_parcel_left_are_sourced_again(catalogue, channel):
    """Two SKUs from one warehouse: A ships, B's unit is not found on the shelf. The order is
    partially shipped, and the job still sources B again (the shelf's other units remain)."""
    from fulfillment.warehouse import build_pick_lists, confirm_pick, pack, ship

    sku_a, _, _ = catalogue
    order = capture(
        channel,
        lines=[{"sku": "SKU-A", "quantity": 1}, {"sku": "SKU-B", "quantity": 1}],
    )
    (first,) = source_order(order_id=order.pk)
    (pick_list,) = build_pick_lists(location=first.location, strategy="single")
    found = {
        item.pk: (1 if item.fulfillment_line.sku_id == sku_a.pk else 0)
        for item in pick_list.items.select_related("fulfillment_line")
    }
    confirm_pick(pick_list=pick_list, picked=found)
    pack(fulfillment_order=first, packages=[{"weight_kg": "1.0"}])
    carrier = first.carrier_service.carrier
    ship(fulfillment_order=first, carrier=carrier, tracking_number="T-1")
    order.refresh_from_db()
    assert order.status == Order.Status.PARTIALLY_SHIPPED

    (second,) = source_order(order_id=order.pk)

    second.refresh_from_db()
    assert second.location.code == "WH-EAST"
    assert second.status == FulfillmentOrder.Status.RELEASED
    assert list(second.lines.values_list("sku__code", "quantity")) == [("SKU-B", 1)]
    assert source_order(order_id=order.pk) == []  # nothing left to do


@pytest.mark.django_db
def test_lifting_the_last_hold_sends_the_order_back_to_the_sourcing_job(
    catalogue, channel, django_capture_on_commit_callbacks
):
    from oms.core import outbox

    order = capture(channel)
    place_hold(order=order, reason="fraud_review")
    place_hold(order=order, reason="address")
    source_order(order_id=order.pk)
    holds = list(order.holds.order_by("pk"))

    def enqueued_sourcing():
        with django_capture_on_commit_callbacks() as callbacks:
            outbox.relay_pending()
        return [c.args[1:] for c in callbacks if c.args and c.args[0] is source_order_task]

    from orders.services import release_hold

    enqueued_sourcing()  # order.placed, already handled above
    release_hold(hold=holds[0])
    assert enqueued_sourcing() == []  # still held by the other
    release_hold(hold=holds[1])
    assert enqueued_sourcing() == [(order.pk,)]
    source_order_task(order.pk)
    assert FulfillmentOrder.objects.get(order=order).status == FulfillmentOrder.Status.RELEASED
