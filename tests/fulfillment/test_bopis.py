"""Buy online, pick up in store: from the store's own stock, or by a transfer from another
location; the customer hears once everything waits at the store; an order nobody collects is
cancelled and restocked after PICKUP_HOLD_DAYS."""

import datetime

import pytest
from django.db.models import Sum
from django.utils import timezone

from fulfillment.models import FulfillmentOrder
from fulfillment.notifications import notify_customer
from fulfillment.sourcing.service import source_order
from fulfillment.tasks import cancel_uncollected_pickups
from fulfillment.warehouse import (
    build_pick_lists,
    confirm_delivery,
    confirm_pick,
    confirm_pickup,
    expire_uncollected_pickup,
    mark_ready_for_pickup,
    pack,
    receive_transfer,
    recheck_pickup_ready,
    ship,
)
from inventory.models import Reservation, StockLevel, StockMovement
from oms.core import outbox
from oms.core import tasks as core_tasks
from oms.core.errors import DomainError
from orders.models import Order, OrderEvent, Payment
from orders.services import cancel_order, place_hold, release_all_holds
from tests.factories import requires_postgres, stock
from tests.fulfillment.test_warehouse import captured, released_order
from tests.test_concurrency import run_together

pytestmark = pytest.mark.django_db

Status = FulfillmentOrder.Status
Kind = FulfillmentOrder.Kind
READY_AT = datetime.datetime(2026, 3, 2, 15, 0, tzinfo=datetime.UTC)


# --- Set-up --------------------------------------------------------------------------------


@pytest.fixture
def emails(monkeypatch, mailoutbox):
    """Customer emails are sent as soon as the change commits; other tasks go to the broker."""
    original = core_tasks._enqueue

    def enqueue(task, *args):
        if task.name == notify_customer.name:
            task(*args)
        else:
            original(task, *args)

    monkeypatch.setattr(core_tasks, "_enqueue", enqueue)
    return mailoutbox


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run a block and then what it left for after commit (emails), as production would."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def clock(monkeypatch):
    """A clock the test sets: `clock.now = …` moves time for every service and task."""

    class Clock:
        now = READY_AT

    def now():
        return Clock.now

    monkeypatch.setattr(timezone, "now", now)
    return Clock


@pytest.fixture
def ups(db):
    from fulfillment.models import Carrier

    return Carrier.objects.create(code="ups", name="UPS")


def pickup_at(store):
    return {"method": "pickup", "location": store.code}


def pickup_order(channel, store, quantity):
    return released_order(
        channel, lines=[{"sku": "SKU-A", "quantity": quantity}], delivery=pickup_at(store)
    )


def level(sku, location) -> StockLevel:
    return StockLevel.objects.get(sku=sku, location=location)


def movements(sku, location, kind=None) -> int:
    rows = StockMovement.objects.filter(sku=sku, location=location)
    if kind:
        rows = rows.filter(kind=kind)
    return rows.aggregate(total=Sum("quantity"))["total"] or 0


def assert_stock(sku, location, *, on_hand, reserved):
    row = level(sku, location)
    assert (row.on_hand, row.reserved) == (on_hand, reserved)
    assert row.on_hand == movements(sku, location), "on hand is the sum of its movements"


def send_transfer(fo, carrier):
    (pick_list,) = build_pick_lists(
        location=fo.location, strategy="single", fulfillment_orders=[fo]
    )
    confirm_pick(pick_list=pick_list, picked={i.pk: i.quantity for i in pick_list.items.all()})
    pack(fulfillment_order=fo, packages=[{"weight_kg": "2.0"}])
    return ship(fulfillment_order=fo, carrier=carrier, tracking_number="TR-1")


def ready_emails(mailbox):
    return [mail for mail in mailbox if "ready for pickup" in mail.subject]


# --- From the store's own stock ------------------------------------------------------------


def test_pickup_from_store_stock_is_handed_over_at_the_store(
    catalogue, warehouse, store, channel, emails, committed
):
    sku = catalogue[0]
    stock(sku, store, 5)
    order, (fo,) = pickup_order(channel, store, 2)
    assert (fo.kind, fo.location) == (Kind.PICKUP, store)
    assert_stock(sku, store, on_hand=5, reserved=2)

    with committed():
        mark_ready_for_pickup(fulfillment_order=fo)

    order.refresh_from_db()
    fo.refresh_from_db()
    assert order.status == Order.Status.READY_FOR_PICKUP
    assert fo.ready_at is not None
    assert len(ready_emails(emails)) == 1

    confirm_pickup(fulfillment_order=fo)

    order.refresh_from_db()
    assert order.status == Order.Status.COMPLETED
    assert_stock(sku, store, on_hand=3, reserved=0)
    assert movements(sku, store, "shipment") == -2
    assert_stock(sku, warehouse, on_hand=10, reserved=0)  # nothing moved from the warehouse
    assert not StockMovement.objects.filter(kind__in=["transfer_out", "transfer_in"]).exists()
    assert captured(order) == order.total_amount


# --- By transfer ---------------------------------------------------------------------------


def test_pickup_by_transfer_puts_the_units_on_hand_and_reserved_at_the_store(
    catalogue, warehouse, store, channel, ups, emails, committed
):
    sku = catalogue[0]  # the store holds none: everything comes from the warehouse
    order, (transfer,) = pickup_order(channel, store, 2)
    assert (transfer.kind, transfer.location, transfer.destination_location) == (
        Kind.TRANSFER,
        warehouse,
        store,
    )

    with committed():
        send_transfer(transfer, ups)

    # The goods left the warehouse as a transfer, not a sale; nobody is told or charged yet.
    assert_stock(sku, warehouse, on_hand=8, reserved=0)
    assert movements(sku, warehouse, "transfer_out") == -2
    assert not StockMovement.objects.filter(kind="shipment").exists()
    order.refresh_from_db()
    assert order.status == Order.Status.RELEASED
    assert captured(order) == 0
    assert ready_emails(emails) == []

    with committed():
        receive_transfer(fulfillment_order=transfer)
        receive_transfer(fulfillment_order=transfer)  # a scanner's retry

    # On hand and reserved at the store, so its ATP offers them to nobody else.
    assert_stock(sku, store, on_hand=2, reserved=2)
    assert level(sku, store).available_to_promise == 0
    assert movements(sku, store, "transfer_in") == 2
    reservation = Reservation.objects.get(order_line__order=order)
    assert (reservation.location, reservation.state) == (store, Reservation.State.ACTIVE)
    transfer.refresh_from_db()
    assert transfer.status == Status.DELIVERED
    pickup = order.fulfillment_orders.get(kind=Kind.PICKUP)
    assert (pickup.location, pickup.status) == (store, Status.READY_FOR_PICKUP)
    assert list(pickup.lines.values_list("quantity", "quantity_picked")) == [(2, 2)]
    order.refresh_from_db()
    assert order.status == Order.Status.READY_FOR_PICKUP
    (mail,) = ready_emails(emails)
    assert store.name in mail.body

    confirm_pickup(fulfillment_order=pickup)

    order.refresh_from_db()
    assert order.status == Order.Status.COMPLETED
    assert_stock(sku, store, on_hand=0, reserved=0)
    assert_stock(sku, warehouse, on_hand=8, reserved=0)
    assert movements(sku, store, "shipment") == -2
    assert captured(order) == order.total_amount
    assert Reservation.objects.get(order_line__order=order).state == Reservation.State.FULFILLED


def test_a_split_pickup_is_ready_only_when_the_transfer_arrived_and_emails_once(
    catalogue, warehouse, store, channel, ups, emails, committed
):
    sku = catalogue[0]
    stock(sku, store, 1)  # one unit at the store, two more come from the warehouse
    order, fos = pickup_order(channel, store, 3)
    by_kind = {fo.kind: fo for fo in fos}
    assert set(by_kind) == {Kind.PICKUP, Kind.TRANSFER}
    pickup, transfer = by_kind[Kind.PICKUP], by_kind[Kind.TRANSFER]

    with committed():
        mark_ready_for_pickup(fulfillment_order=pickup)
    order.refresh_from_db()
    assert order.status == Order.Status.RELEASED  # two units are still at the warehouse
    assert ready_emails(emails) == []
    with pytest.raises(DomainError) as refused:
        confirm_pickup(fulfillment_order=pickup)
    assert refused.value.code == "order_not_ready"

    with committed():
        send_transfer(transfer, ups)
    order.refresh_from_db()
    assert order.status == Order.Status.RELEASED
    assert ready_emails(emails) == []

    with committed():
        confirm_delivery(fulfillment_order=transfer)  # the store's receipt, by another name

    order.refresh_from_db()
    assert order.status == Order.Status.READY_FOR_PICKUP
    assert len(ready_emails(emails)) == 1
    pickup.refresh_from_db()
    assert pickup.status == Status.READY_FOR_PICKUP
    assert sum(pickup.lines.values_list("quantity", flat=True)) == 3
    assert_stock(sku, store, on_hand=3, reserved=3)
    assert_stock(sku, warehouse, on_hand=8, reserved=0)

    with committed():
        confirm_pickup(fulfillment_order=pickup)

    order.refresh_from_db()
    assert order.status == Order.Status.COMPLETED
    assert_stock(sku, store, on_hand=0, reserved=0)
    assert captured(order) == order.total_amount
    assert len(ready_emails(emails)) == 1
    # store: +1 receipt, +2 transfer in, -3 handed over; warehouse: -2 transfer out
    assert [
        (m.location.code, m.kind, m.quantity)
        for m in StockMovement.objects.filter(sku=sku, reference__contains=order.number)
        .select_related("location")
        .order_by("id")
    ] == [
        ("WH-EAST", "transfer_out", -2),
        ("STORE-NYC", "transfer_in", 2),
        ("STORE-NYC", "shipment", -1),  # the store's own unit
        ("STORE-NYC", "shipment", -2),  # the transferred units
    ]


def test_a_transfer_cannot_be_received_before_it_shipped(catalogue, store, channel):
    _, (transfer,) = pickup_order(channel, store, 1)
    with pytest.raises(DomainError):
        receive_transfer(fulfillment_order=transfer)
    assert not StockMovement.objects.filter(kind="transfer_in").exists()


def test_a_transfer_arriving_for_a_cancelled_order_goes_on_sale_at_the_store(
    catalogue, warehouse, store, channel, ups
):
    sku = catalogue[0]
    order, (transfer,) = pickup_order(channel, store, 2)
    send_transfer(transfer, ups)
    cancel_order(order=order, reason="customer changed their mind")

    receive_transfer(fulfillment_order=transfer)

    assert_stock(sku, store, on_hand=2, reserved=0)
    assert level(sku, store).available_to_promise == 2
    assert not order.fulfillment_orders.filter(kind=Kind.PICKUP).exists()
    assert Reservation.objects.get(order_line__order=order).state == Reservation.State.RELEASED


# --- Not collected -------------------------------------------------------------------------


def ready_pickup(channel, store, sku, emails, committed, quantity=2):
    stock(sku, store, 5)
    order, (fo,) = pickup_order(channel, store, quantity)
    with committed():
        mark_ready_for_pickup(fulfillment_order=fo)
    order.refresh_from_db()
    assert order.status == Order.Status.READY_FOR_PICKUP
    return order, fo


def test_an_uncollected_pickup_is_cancelled_and_restocked_after_the_hold(
    catalogue, store, channel, emails, committed, clock, settings
):
    settings.PICKUP_HOLD_DAYS = 3
    sku = catalogue[0]
    order, fo = ready_pickup(channel, store, sku, emails, committed)
    assert_stock(sku, store, on_hand=5, reserved=2)

    clock.now = READY_AT + datetime.timedelta(days=3, minutes=-1)
    with committed():
        assert cancel_uncollected_pickups() == 0
    order.refresh_from_db()
    assert order.status == Order.Status.READY_FOR_PICKUP

    clock.now = READY_AT + datetime.timedelta(days=3, minutes=1)
    with committed():
        assert cancel_uncollected_pickups() == 1

    order.refresh_from_db()
    fo.refresh_from_db()
    assert order.status == Order.Status.CANCELLED
    assert fo.status == Status.CANCELLED
    # Restocked: the units are on the store's shelf and for sale again.
    assert_stock(sku, store, on_hand=5, reserved=0)
    assert level(sku, store).available_to_promise == 5
    assert set(order.payments.values_list("status", flat=True)) == {Payment.Status.VOIDED}
    (mail,) = [m for m in emails if "not collected" in m.subject]
    assert order.number in mail.body and "3 days" in mail.body
    assert order.events.filter(
        kind=OrderEvent.Kind.STATUS_CHANGED, data__to=Order.Status.CANCELLED
    ).exists()


def test_the_expiry_task_run_twice_cancels_once(
    catalogue, store, channel, emails, committed, clock, settings
):
    settings.PICKUP_HOLD_DAYS = 7
    sku = catalogue[0]
    order, _ = ready_pickup(channel, store, sku, emails, committed)
    clock.now = READY_AT + datetime.timedelta(days=8)

    with committed():
        first = cancel_uncollected_pickups()
    with committed():
        second = cancel_uncollected_pickups()
        again = expire_uncollected_pickup(order_id=order.pk)

    assert (first, second, again) == (1, 0, False)
    assert (
        order.events.filter(
            kind=OrderEvent.Kind.STATUS_CHANGED, data__to=Order.Status.CANCELLED
        ).count()
        == 1
    )
    assert len([m for m in emails if "not collected" in m.subject]) == 1
    assert_stock(sku, store, on_hand=5, reserved=0)


def test_a_collected_or_unready_pickup_is_left_alone(
    catalogue, store, channel, emails, committed, clock
):
    sku = catalogue[0]
    collected, collected_fo = ready_pickup(channel, store, sku, emails, committed, quantity=1)
    confirm_pickup(fulfillment_order=collected_fo)
    waiting, _ = pickup_order(channel, store, 1)  # released, never marked ready
    clock.now = READY_AT + datetime.timedelta(days=60)

    assert cancel_uncollected_pickups() == 0

    collected.refresh_from_db()
    waiting.refresh_from_db()
    assert collected.status == Order.Status.COMPLETED
    assert waiting.status == Order.Status.RELEASED


def test_transferred_units_are_restocked_at_the_store_when_not_collected(
    catalogue, warehouse, store, channel, ups, emails, committed, clock
):
    sku = catalogue[0]
    order, (transfer,) = pickup_order(channel, store, 2)
    send_transfer(transfer, ups)
    with committed():
        receive_transfer(fulfillment_order=transfer)
    clock.now = READY_AT + datetime.timedelta(days=30)

    with committed():
        assert cancel_uncollected_pickups() == 1

    order.refresh_from_db()
    assert order.status == Order.Status.CANCELLED
    assert_stock(sku, store, on_hand=2, reserved=0)  # on the store's shelf, for sale
    assert_stock(sku, warehouse, on_hand=8, reserved=0)


# --- On hold -------------------------------------------------------------------------------
# A held order (fraud review, address check) is not announced to the customer: store work
# still records where the goods are, and lifting the last hold announces what is ready.


def lift_holds(order, committed):
    """Release every hold and deliver the outbox as the relay would, emails included."""
    with committed():
        release_all_holds(order=order)
    with committed():
        outbox.relay_pending()


def test_a_pickup_shelved_while_on_hold_is_announced_when_the_hold_is_lifted(
    catalogue, store, channel, emails, committed
):
    sku = catalogue[0]
    stock(sku, store, 5)
    order, (fo,) = pickup_order(channel, store, 2)
    place_hold(order=order, reason="fraud_review")

    with committed():
        mark_ready_for_pickup(fulfillment_order=fo)

    # The goods are on the shelf, but nobody tells the customer of a held order.
    fo.refresh_from_db()
    order.refresh_from_db()
    assert (fo.status, fo.ready_at) == (Status.READY_FOR_PICKUP, None)
    assert order.status == Order.Status.RELEASED
    assert ready_emails(emails) == []
    with pytest.raises(DomainError) as refused:
        confirm_pickup(fulfillment_order=fo)
    assert refused.value.code == "order_not_ready"

    lift_holds(order, committed)

    order.refresh_from_db()
    fo.refresh_from_db()
    assert order.status == Order.Status.READY_FOR_PICKUP
    assert fo.ready_at is not None  # the pickup hold counts from now, not from the shelving
    (mail,) = ready_emails(emails)
    assert order.number in mail.subject

    # The relay delivering the message again, or the check running again, emails nobody.
    with committed():
        assert recheck_pickup_ready(order_id=order.pk) is False
    assert len(ready_emails(emails)) == 1
    confirm_pickup(fulfillment_order=fo)
    order.refresh_from_db()
    assert order.status == Order.Status.COMPLETED


def test_a_transfer_received_while_on_hold_is_announced_when_the_hold_is_lifted(
    catalogue, warehouse, store, channel, ups, emails, committed
):
    sku = catalogue[0]  # the store holds none: the warehouse transfers it
    order, (transfer,) = pickup_order(channel, store, 2)
    send_transfer(transfer, ups)
    place_hold(order=order, reason="address")

    with committed():
        receive_transfer(fulfillment_order=transfer)

    # Received and held for the order at the store; the order waits for its hold.
    assert_stock(sku, store, on_hand=2, reserved=2)
    pickup = order.fulfillment_orders.get(kind=Kind.PICKUP)
    assert (pickup.status, pickup.ready_at) == (Status.PENDING, None)
    order.refresh_from_db()
    assert order.status == Order.Status.RELEASED
    assert ready_emails(emails) == []

    lift_holds(order, committed)

    pickup.refresh_from_db()
    assert pickup.status == Status.READY_FOR_PICKUP
    assert pickup.released_at is not None and pickup.ready_at is not None
    order.refresh_from_db()
    assert order.status == Order.Status.READY_FOR_PICKUP
    assert len(ready_emails(emails)) == 1
    # The sourcing job the same message enqueued finds nothing to do.
    assert source_order(order_id=order.pk) == []
    with committed():
        outbox.relay_pending()
        recheck_pickup_ready(order_id=order.pk)
    assert len(ready_emails(emails)) == 1

    confirm_pickup(fulfillment_order=pickup)
    order.refresh_from_db()
    assert order.status == Order.Status.COMPLETED
    assert captured(order) == order.total_amount


def test_lifting_a_hold_announces_nothing_while_goods_are_still_missing(
    catalogue, warehouse, store, channel, ups, emails, committed
):
    sku = catalogue[0]
    stock(sku, store, 1)  # one unit at the store, two more come from the warehouse
    order, fos = pickup_order(channel, store, 3)
    by_kind = {fo.kind: fo for fo in fos}
    pickup, transfer = by_kind[Kind.PICKUP], by_kind[Kind.TRANSFER]
    send_transfer(transfer, ups)
    place_hold(order=order, reason="fraud_review")
    with committed():
        receive_transfer(fulfillment_order=transfer)

    lift_holds(order, committed)

    # The store's own unit is not on the shelf yet: staff still have to shelve it.
    pickup.refresh_from_db()
    order.refresh_from_db()
    assert pickup.status == Status.RELEASED
    assert order.status == Order.Status.RELEASED
    assert ready_emails(emails) == []

    with committed():
        mark_ready_for_pickup(fulfillment_order=pickup)

    order.refresh_from_db()
    assert order.status == Order.Status.READY_FOR_PICKUP
    assert len(ready_emails(emails)) == 1


# --- At the same instant (PostgreSQL row locks) --------------------------------------------


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_a_customer_collecting_as_the_hold_expires_gets_one_outcome(catalogue, store, channel):
    sku = catalogue[0]
    stock(sku, store, 5)
    order, (fo,) = pickup_order(channel, store, 2)
    mark_ready_for_pickup(fulfillment_order=fo)
    later = timezone.now() + datetime.timedelta(days=30)

    def act(index):
        if index == 0:
            return confirm_pickup(fulfillment_order=fo).status
        return expire_uncollected_pickup(order_id=order.pk, now=later)

    collected, expired = run_together(2, act)

    order.refresh_from_db()
    if order.status == Order.Status.COMPLETED:
        assert (collected, expired) == (Status.PICKED_UP, False)
        assert_stock(sku, store, on_hand=3, reserved=0)
    else:
        assert order.status == Order.Status.CANCELLED
        assert expired is True and isinstance(collected, DomainError)
        assert_stock(sku, store, on_hand=5, reserved=0)


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_a_transfer_received_twice_at_once_is_received_once(
    catalogue, warehouse, store, channel, ups
):
    sku = catalogue[0]
    order, (transfer,) = pickup_order(channel, store, 2)
    send_transfer(transfer, ups)

    results = run_together(2, lambda _: receive_transfer(fulfillment_order=transfer).status)

    assert results == [Status.DELIVERED, Status.DELIVERED]
    assert_stock(sku, store, on_hand=2, reserved=2)
    assert order.fulfillment_orders.filter(kind=Kind.PICKUP).count() == 1
