"""The jeopardy scan: each kind is raised when its moment comes (not before), once, on the
order's timeline, and resolves itself when the cause goes. The clock is the `now` passed in."""

import os
import time
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from fulfillment.jeopardy.models import JeopardyAlert, Stage, StageSLA
from fulfillment.jeopardy.scan import SCAN_RESOLUTION_PREFIX, scan_for_jeopardy
from fulfillment.models import FulfillmentOrder
from fulfillment.tasks import scan_for_jeopardy_task
from fulfillment.warehouse import (
    build_pick_lists,
    confirm_pickup,
    mark_ready_for_pickup,
)
from inventory.models import PurchaseOrder, PurchaseOrderLine, Supplier
from inventory.services import adjust_stock, release_reservation_units
from orders.models import Order, OrderEvent
from orders.services import place_hold
from tests.factories import (
    CustomerFactory,
    SalesChannelFactory,
    order_payload,
    requires_postgres,
    stock,
)
from tests.fulfillment.test_warehouse import capture, released_order, ship_order
from tests.test_concurrency import run_together

pytestmark = pytest.mark.django_db

Kind = JeopardyAlert.Kind
HOUR = timedelta(hours=1)


def sla(stage, hours, **scope):
    return StageSLA.objects.create(stage=stage, max_duration=timedelta(hours=hours), **scope)


def live(**filters):
    return list(JeopardyAlert.objects.exclude(status="resolved").filter(**filters))


def timeline(order):
    return list(
        OrderEvent.objects.filter(order=order, kind=OrderEvent.Kind.JEOPARDY).order_by("id")
    )


def entered(fo_or_order):
    fo_or_order.refresh_from_db()
    return fo_or_order.status_changed_at


# --- Stalled past a stage SLA ----------------------------------------------------------------


def test_a_released_fulfillment_stalled_past_its_sla_is_raised_once_then_resolves(
    catalogue, channel, warehouse
):
    sla(Stage.RELEASED, 4)
    order, (fo,) = released_order(channel)
    start = entered(fo)

    assert scan_for_jeopardy(now=start + 4 * HOUR - timedelta(minutes=1)).total_raised == 0
    result = scan_for_jeopardy(now=start + 4 * HOUR + timedelta(minutes=1))
    assert result.raised["stalled:released"] == 1
    (alert,) = live()
    assert (alert.kind, alert.stage, alert.order, alert.fulfillment_order, alert.location) == (
        Kind.STALLED,
        Stage.RELEASED,
        order,
        fo,
        warehouse,
    )
    assert abs(alert.due_by - (start + 4 * HOUR)) < timedelta(seconds=1)  # SQLite keeps ms
    assert "longer than its stage SLA" in alert.message
    (event,) = timeline(order)
    assert event.data["alert"] == alert.pk and event.data["action"] == "raised"

    again = scan_for_jeopardy(now=start + 5 * HOUR)
    assert again.total_raised == 0 and again.total_resolved == 0
    assert JeopardyAlert.objects.count() == 1 and len(timeline(order)) == 1

    build_pick_lists(location=warehouse, strategy="single")  # released → picking
    assert scan_for_jeopardy(now=start + 5 * HOUR).resolved["stalled:released"] == 1
    alert.refresh_from_db()
    assert alert.status == "resolved" and alert.resolution_note.startswith(SCAN_RESOLUTION_PREFIX)
    assert [e.data["action"] for e in timeline(order)] == ["raised", "resolved"]


def test_the_most_specific_sla_wins(catalogue, channel, warehouse):
    sla(Stage.RELEASED, 1)  # everywhere
    sla(Stage.RELEASED, 3, channel=channel)
    sla(Stage.RELEASED, 6, location=warehouse)
    sla(Stage.RELEASED, 8, location=warehouse, channel=channel)
    _, (fo,) = released_order(channel)
    start = entered(fo)
    assert scan_for_jeopardy(now=start + 7 * HOUR).total_raised == 0
    assert scan_for_jeopardy(now=start + 9 * HOUR).raised["stalled:released"] == 1


def test_an_order_awaiting_sourcing_is_stalled_unless_staff_hold_it(catalogue, channel):
    sla(Stage.AWAITING_SOURCING, 0.5)
    waiting = capture(channel)
    held = capture(channel)
    place_hold(order=held, reason="fraud_review")
    start = max(entered(waiting), entered(held))
    scan_for_jeopardy(now=start + HOUR)
    assert [(a.order_id, a.stage) for a in live()] == [(waiting.pk, Stage.AWAITING_SOURCING)]


def test_no_sla_for_a_stage_means_never_stalled(catalogue, channel):
    capture(channel)
    released_order(channel)
    result = scan_for_jeopardy(now=timezone.now() + timedelta(days=30))
    assert not any(n for name, n in result.raised.items() if name.startswith("stalled"))


def test_raising_the_sla_resolves_and_a_returning_cause_raises_a_new_alert(catalogue, channel):
    rule = sla(Stage.RELEASED, 1)
    _, (fo,) = released_order(channel)
    start = entered(fo)
    scan_for_jeopardy(now=start + 2 * HOUR)
    rule.max_duration = timedelta(hours=3)
    rule.save()
    assert scan_for_jeopardy(now=start + 2 * HOUR).total_resolved == 1
    assert scan_for_jeopardy(now=start + 4 * HOUR).total_raised == 1
    assert JeopardyAlert.objects.filter(fulfillment_order=fo).count() == 2


def test_a_cause_staff_resolved_is_not_raised_again_while_it_lasts(catalogue, channel):
    sla(Stage.RELEASED, 1)
    _, (fo,) = released_order(channel)
    start = entered(fo)
    scan_for_jeopardy(now=start + 2 * HOUR)
    JeopardyAlert.objects.update(
        status="resolved", resolved_at=start + 2 * HOUR, resolution_note="Vendor called: ok"
    )
    assert scan_for_jeopardy(now=start + 3 * HOUR).total_raised == 0


# --- Backordered with no supply before the promise -----------------------------------------


@pytest.fixture
def backorder_channel(db):
    return SalesChannelFactory(code="web", allows_backorders=True)


def backordered(channel, promised):
    order = capture(channel, lines=[{"sku": "SKU-A", "quantity": 15}])
    assert order.status == Order.Status.BACKORDERED
    Order.objects.filter(pk=order.pk).update(promised_date=promised)
    return order


def purchase_order(sku, location, quantity, expected, status="sent"):
    supplier, _ = Supplier.objects.get_or_create(code="ACME", defaults={"name": "Acme"})
    po = PurchaseOrder.objects.create(
        number=f"PO-{PurchaseOrder.objects.count() + 1}",
        supplier=supplier,
        destination=location,
        status=status,
        expected_date=expected,
    )
    PurchaseOrderLine.objects.create(
        purchase_order=po, sku=sku, quantity_ordered=quantity, unit_cost_amount="4"
    )
    return po


def test_a_backorder_without_supply_before_its_promise_is_raised_until_supply_comes(
    catalogue, backorder_channel, warehouse
):
    now = timezone.now()
    promised = now.date() + timedelta(days=10)
    order = backordered(backorder_channel, promised)
    # standard service: 3 days in transit, so supply must land by promised − 3.
    late_po = purchase_order(catalogue[0], warehouse, 5, promised - timedelta(days=2))
    result = scan_for_jeopardy(now=now)
    assert result.raised["backorder_no_supply"] == 1
    (alert,) = live(kind=Kind.BACKORDER_NO_SUPPLY)
    assert alert.order == order and alert.due_by.date() == promised + timedelta(days=1)

    PurchaseOrder.objects.filter(pk=late_po.pk).update(expected_date=promised - timedelta(days=3))
    assert scan_for_jeopardy(now=now).resolved["backorder_no_supply"] == 1
    PurchaseOrder.objects.filter(pk=late_po.pk).update(status="cancelled")
    assert scan_for_jeopardy(now=now).raised["backorder_no_supply"] == 1  # the cause came back


def test_a_backorder_covered_by_an_open_purchase_order_is_not_raised(
    catalogue, backorder_channel, warehouse
):
    now = timezone.now()
    promised = now.date() + timedelta(days=10)
    backordered(backorder_channel, promised)
    purchase_order(catalogue[0], warehouse, 5, now.date() + timedelta(days=2), status="draft")
    assert scan_for_jeopardy(now=now).total_raised == 0


# --- Stock vanished at the fulfilling location ---------------------------------------------


def test_stock_that_vanished_under_an_open_fulfillment_is_raised_and_resolves_on_receipt(
    catalogue, channel, warehouse
):
    sku = catalogue[0]
    _order, (fo,) = released_order(channel, lines=[{"sku": "SKU-A", "quantity": 2}])
    now = timezone.now()
    assert scan_for_jeopardy(now=now).total_raised == 0
    # A count finds the bin empty: staff release the units, then write the shelf off.
    line = fo.lines.get()
    with transaction.atomic():
        release_reservation_units(reservation_id=line.reservation_id, quantity=2)
    adjust_stock(sku=sku, location=warehouse, quantity=-9, reason="cycle count")
    result = scan_for_jeopardy(now=now)
    assert result.raised["stock_vanished"] == 1
    (alert,) = live()
    assert (alert.kind, alert.fulfillment_order, alert.location) == (
        Kind.STOCK_VANISHED,
        fo,
        warehouse,
    )
    assert alert.detail["on_hand"] == 1 and alert.detail["to_pick"] == 2
    assert scan_for_jeopardy(now=now).total_raised == 0

    stock(sku, warehouse, 1)
    assert scan_for_jeopardy(now=now).resolved["stock_vanished"] == 1


# --- Late against the promise ----------------------------------------------------------------


def test_an_unshipped_fulfillment_is_late_once_its_last_ship_day_has_passed(catalogue, channel):
    order, (fo,) = released_order(channel)
    promised = fo.promised_date
    transit = order.service_level.transit_days
    last_ship_day = promised - timedelta(days=transit)
    noon = timezone.now().replace(hour=12, minute=0)
    on_the_day = noon + timedelta(days=(last_ship_day - noon.date()).days)
    assert scan_for_jeopardy(now=on_the_day).total_raised == 0
    result = scan_for_jeopardy(now=on_the_day + timedelta(days=1))
    assert result.raised["late_shipment"] == 1
    (alert,) = live(kind=Kind.LATE_SHIPMENT)
    assert "cannot arrive by its promised date" in alert.message


def test_a_parcel_shipped_after_its_promised_date_is_raised_once_and_stays(catalogue, channel):
    from fulfillment.models import Carrier

    _order, (fo,) = released_order(channel)
    ship_order(fo, Carrier.objects.get(code="parcelco"))
    fo.refresh_from_db()
    shipped_on = fo.shipped_at.date()
    FulfillmentOrder.objects.filter(pk=fo.pk).update(promised_date=shipped_on - timedelta(days=1))
    now = fo.shipped_at + HOUR
    assert scan_for_jeopardy(now=now).raised["late_shipment"] == 1
    (alert,) = live(kind=Kind.LATE_SHIPMENT)
    assert "shipped on" in alert.message
    assert scan_for_jeopardy(now=now + timedelta(days=2)).total_resolved == 0
    JeopardyAlert.objects.update(status="resolved", resolved_at=now, resolution_note="Apologised")
    assert scan_for_jeopardy(now=now + timedelta(days=2)).total_raised == 0


# --- Pickup not collected --------------------------------------------------------------------


def test_a_pickup_not_collected_within_its_sla_is_raised_and_resolves_on_pickup(
    catalogue, channel, store, settings, django_capture_on_commit_callbacks
):
    settings.JEOPARDY_PICKUP_SLA_HOURS = 48
    stock(catalogue[0], store, 5)
    _order, (fo,) = released_order(
        channel,
        lines=[{"sku": "SKU-A", "quantity": 1}],
        delivery={"method": "pickup", "location": store.code},
    )
    with django_capture_on_commit_callbacks():
        mark_ready_for_pickup(fulfillment_order=fo)
    fo.refresh_from_db()
    assert scan_for_jeopardy(now=fo.ready_at + 47 * HOUR).total_raised == 0
    result = scan_for_jeopardy(now=fo.ready_at + 49 * HOUR)
    assert result.raised["not_collected"] == 1
    assert result.raised["stalled:released"] == 0
    (alert,) = live()
    assert (alert.kind, alert.stage, alert.location) == (
        Kind.NOT_COLLECTED,
        Stage.AWAITING_PICKUP,
        store,
    )
    sla(Stage.AWAITING_PICKUP, 72, location=store)  # the store's own SLA overrides the default
    assert scan_for_jeopardy(now=fo.ready_at + 49 * HOUR).resolved["not_collected"] == 1
    assert scan_for_jeopardy(now=fo.ready_at + 73 * HOUR).raised["not_collected"] == 1
    with django_capture_on_commit_callbacks():
        confirm_pickup(fulfillment_order=fo)
    assert scan_for_jeopardy(now=fo.ready_at + 73 * HOUR).resolved["not_collected"] == 1


# --- Severity --------------------------------------------------------------------------------


def test_severity_ranks_later_more_valuable_and_vip_orders_higher(catalogue, channel):
    sla(Stage.AWAITING_SOURCING, 1)
    vip = CustomerFactory(email="vip@example.com", tier="vip")
    orders = {
        "small": capture(channel, lines=[{"sku": "SKU-C", "quantity": 1}]),
        "large": capture(channel, lines=[{"sku": "SKU-B", "quantity": 8}]),
        "small_vip": capture(
            channel,
            lines=[{"sku": "SKU-C", "quantity": 1}],
            customer={"email": vip.email, "first_name": "V", "last_name": "Ip"},
        ),
        "small_later": capture(channel, lines=[{"sku": "SKU-C", "quantity": 1}]),
    }
    start = max(entered(order) for order in orders.values())
    Order.objects.filter(pk=orders["small_later"].pk).update(status_changed_at=start - 24 * HOUR)
    scan_for_jeopardy(now=start + 2 * HOUR)
    severity = {
        name: JeopardyAlert.objects.get(order=order).severity for name, order in orders.items()
    }
    assert severity["small"] < severity["large"]
    assert severity["small"] < severity["small_vip"]
    assert severity["small"] < severity["small_later"]
    assert all(0 <= score <= 100 for score in severity.values())


# --- Bounded and constant ----------------------------------------------------------------------


def test_a_run_raises_at_most_a_batch_per_check_and_the_next_run_carries_on(catalogue, channel):
    sla(Stage.AWAITING_SOURCING, 1)
    orders = [capture(channel, lines=[{"sku": "SKU-C", "quantity": 1}]) for _ in range(3)]
    now = max(entered(order) for order in orders) + 2 * HOUR
    assert scan_for_jeopardy(now=now, batch_size=2).total_raised == 2
    assert scan_for_jeopardy(now=now, batch_size=2).total_raised == 1
    assert scan_for_jeopardy(now=now, batch_size=2).total_raised == 0


# Statements of one run: the SLA minima, then per check (9) a raise and a resolve, each in a
# savepoint here (the test's transaction); SQLite needs a second statement for the events,
# PostgreSQL two to turn JIT off and on again.
RUN_QUERIES = {"postgresql": 1 + 2 + 9 * 2 * 3, "sqlite": 1 + 9 * 2 * 4}


@pytest.mark.parametrize("at_risk", [1, 20])
def test_a_run_sends_the_same_statements_however_many_orders_are_at_risk(
    catalogue, channel, warehouse, django_assert_num_queries, at_risk
):
    sla(Stage.AWAITING_SOURCING, 1)
    sla(Stage.RELEASED, 1)
    stock(catalogue[2], warehouse, 100)
    orders = [
        capture(channel, lines=[{"sku": "SKU-C", "quantity": 1}], customer=customer(n))
        for n in range(at_risk)
    ]
    now = max(entered(order) for order in orders) + 2 * HOUR
    with django_assert_num_queries(RUN_QUERIES[connection.vendor]):
        result = scan_for_jeopardy(now=now)
    assert result.raised["stalled:awaiting_sourcing"] == at_risk
    Order.objects.update(status_changed_at=now)  # the orders move on: every alert resolves
    with django_assert_num_queries(RUN_QUERIES[connection.vendor]):
        assert scan_for_jeopardy(now=now).total_resolved == at_risk


def customer(n):
    return {**order_payload()["customer"], "email": f"c{n}@example.com"}


# --- The job ---------------------------------------------------------------------------------


def test_the_task_run_twice_raises_once(catalogue, channel):
    sla(Stage.AWAITING_SOURCING, 1)
    order = capture(channel)
    Order.objects.filter(pk=order.pk).update(status_changed_at=timezone.now() - 2 * HOUR)
    assert scan_for_jeopardy_task() == {"raised": 1, "resolved": 0}
    assert scan_for_jeopardy_task() == {"raised": 0, "resolved": 0}
    assert len(timeline(order)) == 1


REDIS_URL = os.environ.get("REDIS_URL", "")


@pytest.mark.skipif(
    not REDIS_URL or connection.vendor != "postgresql",
    reason="needs REDIS_URL and PostgreSQL (a worker thread shares the database)",
)
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_on_redis_runs_the_scan_twice_with_the_same_result():
    import redis
    from celery.contrib.testing.worker import start_worker

    from oms.celery import app
    from tests.factories import LocationFactory, ServiceLevelFactory, SKUFactory, carrier_rate
    from tests.fulfillment.test_sourcing_job import forget_broker_connections

    broker = REDIS_URL.rsplit("/", 1)[0] + "/12"  # a database of its own, emptied first
    redis.Redis.from_url(broker).flushdb()
    previous = app.conf.broker_url
    app.conf.broker_url = broker
    forget_broker_connections(app)
    try:
        channel = SalesChannelFactory(code="web")
        carrier_rate(ServiceLevelFactory())
        warehouse = LocationFactory(code="WH-EAST")
        stock(SKUFactory(code="SKU-A"), warehouse, 10)
        stock(SKUFactory(code="SKU-B"), warehouse, 10)
        sla(Stage.RELEASED, 1)
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
            order = capture(channel)  # the worker sources and releases it
            wait_for(lambda: FulfillmentOrder.objects.filter(order=order, status="released"))
            FulfillmentOrder.objects.filter(order=order).update(
                status_changed_at=timezone.now() - 2 * HOUR
            )
            for _ in range(2):
                scan_for_jeopardy_task.delay()
                wait_for(lambda: timeline(order))
                time.sleep(1)  # time enough for a second alert, if the run made one
                assert len(timeline(order)) == 1
        (alert,) = JeopardyAlert.objects.all()
        assert (alert.kind, alert.stage, alert.status) == (Kind.STALLED, Stage.RELEASED, "open")
    finally:
        app.conf.broker_url = previous
        forget_broker_connections(app)


def wait_for(condition, seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError("the worker did not get there in time")


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_the_scan_waits_for_a_staff_action_on_the_order_instead_of_deadlocking(catalogue, channel):
    """Staff lock the order, then its alert (jeopardy.services); the scan's resolve takes the
    order's share lock before it touches the alert, so it waits instead of closing a cycle."""
    rule = sla(Stage.RELEASED, 1)
    order, (fo,) = released_order(channel)
    start = entered(fo)
    scan_for_jeopardy(now=start + 2 * HOUR)
    (alert,) = live()
    rule.max_duration = timedelta(hours=10)  # the cause goes: the next scan resolves
    rule.save()

    def work(index):
        if index == 0:  # staff acknowledging, slowly
            with transaction.atomic():
                Order.objects.select_for_update().get(pk=order.pk)
                time.sleep(1.5)  # past the scan's deadlock check (deadlock_timeout is 1 s)
                JeopardyAlert.objects.select_for_update().get(pk=alert.pk)
                JeopardyAlert.objects.filter(pk=alert.pk).update(status="acknowledged")
            return "acknowledged"
        time.sleep(0.2)
        return scan_for_jeopardy(now=start + 2 * HOUR).total_resolved

    assert run_together(2, work) == ["acknowledged", 1]
    alert.refresh_from_db()
    assert alert.status == "resolved"
