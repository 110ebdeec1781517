"""Warehouse work at the service level: pick lists, picking (short picks), pack, ship, deliver,
pickup, notifications and documents."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db.models import Sum
from django.utils import timezone

from fulfillment.models import (
    Carrier,
    CarrierService,
    FulfillmentLine,
    FulfillmentOrder,
    Package,
    PickList,
)
from fulfillment.notifications import notify_customer
from fulfillment.services import create_fulfillment_orders, release_fulfillment
from fulfillment.warehouse import (
    build_pick_lists,
    confirm_delivery,
    confirm_pick,
    confirm_pickup,
    mark_ready_for_pickup,
    pack,
    ship,
)
from inventory.models import Location, Reservation, StockLevel, StockMovement
from inventory.services import adjust_stock
from oms.core import tasks as core_tasks
from oms.core.errors import DomainError, IllegalTransition, InvalidInput
from orders.models import Order, OrderEvent, Payment
from orders.services import place_hold, place_order
from tests.factories import LocationFactory, SKUFactory, order_payload, stock

pytestmark = pytest.mark.django_db

Status = FulfillmentOrder.Status


# --- Set-up --------------------------------------------------------------------------------


def capture(channel, **overrides):
    payload = order_payload(**overrides)
    return place_order(
        channel=channel, **{k: payload[k] for k in ("customer", "lines", "delivery", "payment")}
    ).order


def released_order(channel, **overrides) -> tuple[Order, list[FulfillmentOrder]]:
    """An order with its fulfillment orders released, without running the sourcing job."""
    order = capture(channel, **overrides)
    create_fulfillment_orders(order=order)
    release_fulfillment(order=order)
    order.refresh_from_db()
    return order, list(order.fulfillment_orders.order_by("pk"))


def pick_everything(fo, actor=None) -> PickList:
    (pick_list,) = build_pick_lists(
        location=fo.location, strategy="single", fulfillment_orders=[fo], actor=actor
    )
    picked = {item.pk: item.quantity for item in pick_list.items.all()}
    return confirm_pick(pick_list=pick_list, picked=picked, actor=actor)


def ship_order(fo, carrier, tracking="1Z999AA10123456784"):
    pick_everything(fo)
    pack(fulfillment_order=fo, packages=[{"weight_kg": "1.5"}])
    return ship(fulfillment_order=fo, carrier=carrier, tracking_number=tracking)


def on_hand(sku, location) -> int:
    return StockLevel.objects.get(sku=sku, location=location).on_hand


def movements_total(sku, location) -> int:
    return (
        StockMovement.objects.filter(sku=sku, location=location).aggregate(total=Sum("quantity"))[
            "total"
        ]
        or 0
    )


def captured(order) -> Decimal:
    return order.payments.filter(status=Payment.Status.CAPTURED).aggregate(total=Sum("amount"))[
        "total"
    ] or Decimal("0")


@pytest.fixture
def ups(db):
    return Carrier.objects.create(
        code="ups", name="UPS", tracking_url_template="https://ups.example/t/{tracking_number}"
    )


@pytest.fixture
def dhl(db):
    return Carrier.objects.create(code="dhl", name="DHL")


@pytest.fixture
def sent_notifications(monkeypatch, mailoutbox):
    """Run the notification task at once when it is enqueued; other tasks go to the broker."""
    original = core_tasks._enqueue

    def enqueue(task, *args):
        if task.name == notify_customer.name:
            task(*args)
        else:
            original(task, *args)

    monkeypatch.setattr(core_tasks, "_enqueue", enqueue)
    return mailoutbox


@pytest.fixture
def after_commit(django_capture_on_commit_callbacks):
    return django_capture_on_commit_callbacks


@pytest.fixture
def west(db):
    return LocationFactory(code="WH-WEST", priority=20)


def line(sku_code, quantity):
    return {"sku": sku_code, "quantity": quantity}


def zone(sku, location, name):
    StockLevel.objects.filter(sku=sku, location=location).update(bin_zone=name)  # test set-up


# --- Pick lists ----------------------------------------------------------------------------


def test_single_strategy_makes_one_list_per_fulfillment_order(catalogue, warehouse, channel):
    _, (first,) = released_order(channel)
    _, (second,) = released_order(channel, lines=[{"sku": "SKU-C", "quantity": 1}])

    lists = build_pick_lists(location=warehouse, strategy="single")

    assert len(lists) == 2
    assert [
        {item.fulfillment_line.fulfillment_order_id for item in pick_list.items.all()}
        for pick_list in lists
    ] == [{first.pk}, {second.pk}]
    assert {fo.status for fo in FulfillmentOrder.objects.all()} == {Status.PICKING}
    assert all(pick_list.status == PickList.Status.OPEN for pick_list in lists)


def test_batch_strategy_puts_up_to_batch_size_orders_on_a_list(catalogue, warehouse, channel):
    fos = [released_order(channel, lines=[{"sku": "SKU-A", "quantity": 1}])[1][0] for _ in "abc"]

    lists = build_pick_lists(location=warehouse, strategy="batch", batch_size=2)

    assert [
        sorted({item.fulfillment_line.fulfillment_order_id for item in pick_list.items.all()})
        for pick_list in lists
    ] == [[fos[0].pk, fos[1].pk], [fos[2].pk]]


def test_zone_strategy_makes_one_list_per_bin_zone(catalogue, warehouse, channel):
    sku_a, sku_b, _ = catalogue
    zone(sku_a, warehouse, "A1")
    zone(sku_b, warehouse, "B2")  # SKU-C has no zone
    released_order(channel, lines=[line("SKU-A", 1), line("SKU-C", 1)])
    released_order(channel, lines=[line("SKU-A", 2), line("SKU-B", 1)])

    lists = build_pick_lists(location=warehouse, strategy="zone")

    by_zone = {
        pick_list.zone: sorted(
            (item.fulfillment_line.sku.code, item.quantity) for item in pick_list.items.all()
        )
        for pick_list in lists
    }
    assert by_zone == {
        "A1": [("SKU-A", 1), ("SKU-A", 2)],
        "B2": [("SKU-B", 1)],
        "unzoned": [("SKU-C", 1)],
    }


def test_wave_strategy_takes_the_release_window_and_groups_by_carrier(
    catalogue, warehouse, channel, standard_service, ups, dhl
):
    ups_ground = CarrierService.objects.create(
        carrier=ups, service_level=standard_service, code="ground", name="Ground"
    )
    dhl_parcel = CarrierService.objects.create(
        carrier=dhl, service_level=standard_service, code="parcel", name="Parcel"
    )
    line = [{"sku": "SKU-A", "quantity": 1}]
    fos = [released_order(channel, lines=line)[1][0] for _ in range(4)]
    now = timezone.now()
    # Test set-up: the engine's carrier choice and the release times.
    FulfillmentOrder.objects.filter(pk=fos[0].pk).update(
        carrier_service=ups_ground, released_at=now - timedelta(minutes=50)
    )
    FulfillmentOrder.objects.filter(pk=fos[1].pk).update(
        carrier_service=dhl_parcel, released_at=now - timedelta(minutes=40)
    )
    FulfillmentOrder.objects.filter(pk=fos[2].pk).update(
        carrier_service=None, released_at=now - timedelta(minutes=30)
    )
    FulfillmentOrder.objects.filter(pk=fos[3].pk).update(
        carrier_service=ups_ground,
        released_at=now - timedelta(hours=3),  # an earlier wave
    )

    lists = build_pick_lists(
        location=warehouse,
        strategy="wave",
        wave_start=now - timedelta(hours=1),
        wave_end=now,
    )

    grouped = {
        pick_list.carrier_id: {
            i.fulfillment_line.fulfillment_order_id for i in pick_list.items.all()
        }
        for pick_list in lists
    }
    assert grouped == {ups.pk: {fos[0].pk}, dhl.pk: {fos[1].pk}, None: {fos[2].pk}}
    assert FulfillmentOrder.objects.get(pk=fos[3].pk).status == Status.RELEASED


def test_items_are_ordered_by_bin_zone_then_sku(catalogue, warehouse, channel):
    sku_a, sku_b, sku_c = catalogue
    zone(sku_a, warehouse, "Z9")
    zone(sku_b, warehouse, "A1")
    zone(sku_c, warehouse, "A1")
    released_order(
        channel,
        lines=[
            {"sku": "SKU-A", "quantity": 1},
            {"sku": "SKU-C", "quantity": 1},
            {"sku": "SKU-B", "quantity": 1},
        ],
    )

    (pick_list,) = build_pick_lists(location=warehouse, strategy="single")

    assert [(i.bin_zone, i.fulfillment_line.sku.code) for i in pick_list.items.all()] == [
        ("A1", "SKU-B"),
        ("A1", "SKU-C"),
        ("Z9", "SKU-A"),
    ]


def test_building_again_leaves_work_on_open_lists_alone(catalogue, warehouse, channel):
    _, (fo,) = released_order(channel)
    first = build_pick_lists(location=warehouse, strategy="single")

    assert build_pick_lists(location=warehouse, strategy="single") == []
    again = build_pick_lists(location=warehouse, strategy="single", fulfillment_orders=[fo])
    assert [p.pk for p in again] == [p.pk for p in first]
    assert PickList.objects.count() == 1
    assert OrderEvent.objects.filter(data__to="picking").count() == 1


def test_only_released_work_at_the_location_is_picked(catalogue, warehouse, west, channel):
    _, (fo,) = released_order(channel)
    with pytest.raises(InvalidInput) as error:
        build_pick_lists(location=west, strategy="single", fulfillment_orders=[fo])
    assert set(error.value.errors) == {"fulfillment_orders"}
    with pytest.raises(InvalidInput) as error:
        build_pick_lists(location=warehouse, strategy="wave")
    assert set(error.value.errors) == {"wave_start"}
    with pytest.raises(InvalidInput):
        build_pick_lists(location=warehouse, strategy="by-colour")
    assert not PickList.objects.exists()


# --- Picking -------------------------------------------------------------------------------


def test_confirming_a_full_pick_completes_the_list(catalogue, warehouse, channel):
    order, (fo,) = released_order(channel)

    pick_list = pick_everything(fo)

    assert pick_list.status == PickList.Status.COMPLETED
    assert pick_list.completed_at is not None
    assert all(line.quantity_picked == line.quantity for line in fo.lines.all())
    assert order.events.filter(kind="fulfillment", data__pick_list=pick_list.pk).exists()


def test_confirming_twice_changes_nothing(catalogue, warehouse, channel):
    _, (fo,) = released_order(channel)
    pick_list = pick_everything(fo)
    picked = {item.pk: 0 for item in pick_list.items.all()}

    confirm_pick(pick_list=pick_list, picked=picked)

    assert all(line.quantity_picked == line.quantity for line in fo.lines.all())
    assert not StockMovement.objects.filter(kind="adjustment").exists()


@pytest.mark.parametrize("units", [3, -1, "2", None])
def test_picking_more_than_asked_or_nonsense_is_refused_naming_the_item(
    catalogue, warehouse, channel, units
):
    released_order(channel)
    (pick_list,) = build_pick_lists(location=warehouse, strategy="single")
    item_a, item_b = pick_list.items.all()  # SKU-A × 2, SKU-B × 1
    picked = {item_a.pk: units, item_b.pk: 1}
    if units is None:
        del picked[item_a.pk]

    with pytest.raises(InvalidInput) as error:
        confirm_pick(pick_list=pick_list, picked=picked)

    assert set(error.value.errors) == {f"picked[{item_a.pk}]"}
    pick_list.refresh_from_db()
    assert pick_list.status == PickList.Status.OPEN
    assert not FulfillmentLine.objects.filter(quantity_picked__gt=0).exists()


def test_short_pick_releases_the_missing_units_and_writes_them_off(
    catalogue, warehouse, channel, django_capture_on_commit_callbacks
):
    sku_a, sku_b, _ = catalogue
    order, (fo,) = released_order(channel)
    (pick_list,) = build_pick_lists(location=warehouse, strategy="single")
    item_a, item_b = pick_list.items.all()

    with django_capture_on_commit_callbacks() as callbacks:
        confirm_pick(pick_list=pick_list, picked={item_a.pk: 1, item_b.pk: 0})

    level_a = StockLevel.objects.get(sku=sku_a, location=warehouse)
    assert (level_a.on_hand, level_a.reserved) == (9, 1)
    level_b = StockLevel.objects.get(sku=sku_b, location=warehouse)
    assert (level_b.on_hand, level_b.reserved) == (9, 0)
    for sku in (sku_a, sku_b):
        assert on_hand(sku, warehouse) == movements_total(sku, warehouse)
    adjustments = StockMovement.objects.filter(kind="adjustment").order_by("sku__code")
    assert [(m.sku.code, m.quantity, m.reason) for m in adjustments] == [
        ("SKU-A", -1, f"short pick on pick list {pick_list.pk}"),
        ("SKU-B", -1, f"short pick on pick list {pick_list.pk}"),
    ]
    # The A line shrinks to what was found; the B line, found nowhere, is gone.
    assert list(fo.lines.values_list("sku__code", "quantity", "quantity_picked")) == [
        ("SKU-A", 1, 1)
    ]
    reservations = Reservation.objects.filter(order_line__order=order).order_by("sku__code")
    assert [(r.sku.code, r.quantity, r.state) for r in reservations] == [
        ("SKU-A", 1, "active"),
        ("SKU-B", 1, "released"),
    ]
    event = order.events.get(data__short_pick__isnull=False)
    assert "Short pick" in event.message
    assert [(d["sku"], d["missing"]) for d in event.data["short_pick"]] == [
        ("SKU-A", 1),
        ("SKU-B", 1),
    ]
    # The missing units go back to sourcing, after the commit.
    from fulfillment.tasks import source_order_task

    enqueued = [c.args[1:] for c in callbacks if c.args and c.args[0] is source_order_task]
    assert enqueued == [(order.pk,)]


def test_a_short_pick_of_everything_cancels_the_fulfillment(catalogue, warehouse, channel):
    _, (fo,) = released_order(channel, lines=[{"sku": "SKU-C", "quantity": 2}])
    (pick_list,) = build_pick_lists(location=warehouse, strategy="single")

    confirm_pick(pick_list=pick_list, picked={pick_list.items.get().pk: 0})

    fo.refresh_from_db()
    assert fo.status == Status.CANCELLED
    assert not fo.lines.exists()
    assert on_hand(catalogue[2], warehouse) == 8 == movements_total(catalogue[2], warehouse)


# --- Pack ----------------------------------------------------------------------------------


def test_pack_needs_a_finished_pick(catalogue, warehouse, channel):
    _, (fo,) = released_order(channel)
    with pytest.raises(IllegalTransition):
        pack(fulfillment_order=fo, packages=[{"weight_kg": 1}])
    build_pick_lists(location=warehouse, strategy="single")
    with pytest.raises(DomainError) as error:
        pack(fulfillment_order=fo, packages=[{"weight_kg": 1}])
    assert error.value.code == "not_picked"
    assert not Package.objects.exists()


def test_pack_records_packages_once(catalogue, warehouse, channel):
    _, (fo,) = released_order(channel)
    pick_everything(fo)

    packages = pack(
        fulfillment_order=fo, packages=[{"weight_kg": "1.2"}, {"weight_kg": Decimal("0.3")}]
    )
    again = pack(fulfillment_order=fo, packages=[{"weight_kg": "9"}])

    assert [p.weight_kg for p in packages] == [Decimal("1.200"), Decimal("0.300")]
    assert [p.pk for p in again] == [p.pk for p in packages]
    fo.refresh_from_db()
    assert fo.status == Status.PACKED


@pytest.mark.parametrize("weight", [0, -1, "heavy", None])
def test_pack_refuses_a_bad_weight_naming_the_package(catalogue, warehouse, channel, weight):
    _, (fo,) = released_order(channel)
    pick_everything(fo)
    with pytest.raises(InvalidInput) as error:
        pack(fulfillment_order=fo, packages=[{"weight_kg": 1}, {"weight_kg": weight}])
    assert set(error.value.errors) == {"packages[1].weight_kg"}
    assert not Package.objects.exists()


# --- Ship and deliver ----------------------------------------------------------------------


def test_pick_pack_ship_deliver(
    catalogue, warehouse, channel, ups, staff_user, sent_notifications, after_commit
):
    sku_a, sku_b, _ = catalogue
    order, (fo,) = released_order(channel)
    assert order.status == Order.Status.RELEASED

    pick_everything(fo, actor=staff_user)
    pack(fulfillment_order=fo, packages=[{"weight_kg": "1.5"}], actor=staff_user)
    with after_commit(execute=True):
        ship(fulfillment_order=fo, carrier=ups, tracking_number="1Z999", actor=staff_user)

    # Stock left through shipment movements; the reservations are fulfilled.
    assert (on_hand(sku_a, warehouse), on_hand(sku_b, warehouse)) == (8, 9)
    assert StockLevel.objects.filter(location=warehouse).aggregate(r=Sum("reserved"))["r"] == 0
    shipments = StockMovement.objects.filter(kind="shipment").order_by("sku__code")
    assert [(m.sku.code, m.quantity, m.reference) for m in shipments] == [
        ("SKU-A", -2, order.number),
        ("SKU-B", -1, order.number),
    ]
    for sku in (sku_a, sku_b):
        assert on_hand(sku, warehouse) == movements_total(sku, warehouse)
    assert set(Reservation.objects.values_list("state", flat=True)) == {"fulfilled"}
    # The payment is captured for what shipped: here, everything.
    order.refresh_from_db()
    assert order.status == Order.Status.SHIPPED
    assert captured(order) == order.total_amount == Decimal("55.64")
    fo.refresh_from_db()
    assert (fo.status, fo.tracking_number) == (Status.SHIPPED, "1Z999")
    assert fo.shipped_at is not None
    package = fo.packages.get()
    assert (package.carrier, package.tracking_number) == (ups, "1Z999")
    assert list(fo.lines.values_list("quantity_shipped", flat=True)) == [2, 1]
    # The customer hears about it.
    (shipped_mail,) = sent_notifications
    assert shipped_mail.to == ["grace@example.com"]
    assert order.number in shipped_mail.subject
    assert "1Z999" in shipped_mail.body
    assert "https://ups.example/t/1Z999" in shipped_mail.body

    with after_commit(execute=True):
        confirm_delivery(fulfillment_order=fo, actor=staff_user)

    order.refresh_from_db()
    assert order.status == Order.Status.COMPLETED
    fo.refresh_from_db()
    assert (fo.status, fo.delivered_at is not None) == (Status.DELIVERED, True)
    assert [m.subject for m in sent_notifications][1] == f"Your order {order.number} was delivered"
    statuses = [e.data["to"] for e in order.events.filter(kind="status_changed")]
    assert statuses == ["released", "shipped", "completed"]
    fulfillment_steps = [
        e.data["to"] for e in order.events.filter(kind="fulfillment", data__to__isnull=False)
    ]
    assert fulfillment_steps == ["released", "picking", "packed", "shipped", "delivered"]
    notified = order.events.filter(kind="notification").values_list("data__template", flat=True)
    assert list(notified) == ["shipped", "delivered"]


def test_split_shipment_captures_each_part_and_ships_the_order_with_the_last(
    catalogue, warehouse, west, channel, ups, sent_notifications, after_commit
):
    _, sku_b, _ = catalogue
    adjust_stock(sku=sku_b, location=warehouse, quantity=-10, reason="moved to west")
    stock(sku_b, west, 5)
    order, (east_fo, west_fo) = released_order(channel)
    assert (east_fo.location, west_fo.location) == (warehouse, west)

    with after_commit(execute=True):
        ship_order(east_fo, ups, tracking="EAST1")

    order.refresh_from_db()
    assert order.status == Order.Status.PARTIALLY_SHIPPED
    # 2 × 10.00 + 1.60 tax + the whole 6.50 shipping charge with the first parcel.
    assert captured(order) == Decimal("28.10")
    assert order.payments.get(status=Payment.Status.AUTHORIZED).amount == Decimal("27.54")

    with after_commit(execute=True):
        ship_order(west_fo, ups, tracking="WEST1")

    order.refresh_from_db()
    assert order.status == Order.Status.SHIPPED
    assert captured(order) == order.total_amount
    assert not order.payments.filter(status=Payment.Status.AUTHORIZED).exists()
    assert [m.body.count("1 ×") + m.body.count("2 ×") for m in sent_notifications] == [1, 1]

    confirm_delivery(fulfillment_order=east_fo)
    order.refresh_from_db()
    assert order.status == Order.Status.SHIPPED  # the west parcel is still travelling
    confirm_delivery(fulfillment_order=west_fo)
    order.refresh_from_db()
    assert order.status == Order.Status.COMPLETED


def test_a_short_picked_order_ships_partially_and_captures_only_what_shipped(
    catalogue, warehouse, channel, ups
):
    order, (fo,) = released_order(channel)
    (pick_list,) = build_pick_lists(location=warehouse, strategy="single")
    item_a, item_b = pick_list.items.all()
    confirm_pick(pick_list=pick_list, picked={item_a.pk: 2, item_b.pk: 0})
    pack(fulfillment_order=fo, packages=[{"weight_kg": 1}])

    ship(fulfillment_order=fo, carrier=ups, tracking_number="T1")

    order.refresh_from_db()
    assert order.status == Order.Status.PARTIALLY_SHIPPED  # SKU-B awaits re-sourcing
    assert captured(order) == Decimal("28.10")


def test_shipping_twice_is_a_no_op(
    catalogue, warehouse, channel, ups, sent_notifications, after_commit
):
    order, (fo,) = released_order(channel)
    with after_commit(execute=True):
        ship_order(fo, ups)

    with after_commit(execute=True) as callbacks:
        again = ship(fulfillment_order=fo, carrier=ups, tracking_number="OTHER")

    assert callbacks == []

    assert again.tracking_number == "1Z999AA10123456784"
    assert StockMovement.objects.filter(kind="shipment").count() == 2  # one per line
    assert order.payments.filter(status=Payment.Status.CAPTURED).count() == 1
    assert order.events.filter(kind="status_changed", data__to="shipped").count() == 1
    assert len(sent_notifications) == 1


@pytest.mark.parametrize("tracking", ["", "   ", None])
def test_ship_needs_a_tracking_number(catalogue, warehouse, channel, ups, tracking):
    _, (fo,) = released_order(channel)
    pick_everything(fo)
    pack(fulfillment_order=fo, packages=[{"weight_kg": 1}])

    with pytest.raises(InvalidInput) as error:
        ship(fulfillment_order=fo, carrier=ups, tracking_number=tracking)

    assert set(error.value.errors) == {"tracking_number"}
    fo.refresh_from_db()
    assert fo.status == Status.PACKED
    assert not StockMovement.objects.filter(kind="shipment").exists()


def test_ship_before_packing_is_refused(catalogue, warehouse, channel, ups):
    order, (fo,) = released_order(channel)

    with pytest.raises(IllegalTransition) as error:
        ship(fulfillment_order=fo, carrier=ups, tracking_number="T1")

    assert error.value.status_code == 409
    assert not StockMovement.objects.filter(kind="shipment").exists()
    assert captured(order) == 0


def test_a_held_order_does_not_ship(catalogue, warehouse, channel, ups):
    order, (fo,) = released_order(channel)
    pick_everything(fo)
    pack(fulfillment_order=fo, packages=[{"weight_kg": 1}])
    place_hold(order=order, reason="fraud_review")

    with pytest.raises(DomainError) as error:
        ship(fulfillment_order=fo, carrier=ups, tracking_number="T1")

    assert error.value.code == "order_on_hold"
    assert not StockMovement.objects.filter(kind="shipment").exists()


def test_a_dropship_vendor_ships_straight_from_released(catalogue, channel, ups):
    vendor = LocationFactory(code="VENDOR-1", type=Location.Type.DROPSHIP_VENDOR, priority=1)
    gadget = SKUFactory(code="SKU-VENDOR", price_amount="40.00")
    stock(gadget, vendor, 3)
    order, (fo,) = released_order(channel, lines=[{"sku": "SKU-VENDOR", "quantity": 1}])
    assert fo.kind == FulfillmentOrder.Kind.DROPSHIP
    with pytest.raises(DomainError):
        pack(fulfillment_order=fo, packages=[{"weight_kg": 1}])

    ship(fulfillment_order=fo, carrier=ups, tracking_number="V1")

    assert on_hand(gadget, vendor) == 2 == movements_total(gadget, vendor)
    order.refresh_from_db()
    assert order.status == Order.Status.SHIPPED
    assert captured(order) == order.total_amount


def test_delivery_before_shipping_is_refused(catalogue, warehouse, channel):
    _, (fo,) = released_order(channel)
    with pytest.raises(IllegalTransition):
        confirm_delivery(fulfillment_order=fo)


# --- Pickup in store -----------------------------------------------------------------------


def pickup_payload(store):
    return {"method": "pickup", "location": store.code}


def test_pickup_ready_then_collected(catalogue, store, channel, sent_notifications, after_commit):
    sku_a = catalogue[0]
    stock(sku_a, store, 4)
    order, (fo,) = released_order(
        channel, lines=[{"sku": "SKU-A", "quantity": 2}], delivery=pickup_payload(store)
    )
    assert fo.kind == FulfillmentOrder.Kind.PICKUP
    with pytest.raises(DomainError):
        pack(fulfillment_order=fo, packages=[{"weight_kg": 1}])

    with after_commit(execute=True):
        mark_ready_for_pickup(fulfillment_order=fo)
        mark_ready_for_pickup(fulfillment_order=fo)

    order.refresh_from_db()
    assert order.status == Order.Status.READY_FOR_PICKUP
    (ready_mail,) = sent_notifications
    assert "ready for pickup" in ready_mail.subject
    assert store.name in ready_mail.body
    assert on_hand(sku_a, store) == 4  # still on the shelf until collected

    confirm_pickup(fulfillment_order=fo)
    confirm_pickup(fulfillment_order=fo)

    order.refresh_from_db()
    assert order.status == Order.Status.COMPLETED
    assert on_hand(sku_a, store) == 2 == movements_total(sku_a, store)
    assert StockMovement.objects.filter(kind="shipment", location=store).count() == 1
    assert captured(order) == order.total_amount
    fo.refresh_from_db()
    assert fo.status == Status.PICKED_UP


def test_pickup_cannot_be_confirmed_before_it_is_ready(catalogue, store, channel):
    stock(catalogue[0], store, 4)
    _, (fo,) = released_order(
        channel, lines=[{"sku": "SKU-A", "quantity": 1}], delivery=pickup_payload(store)
    )
    with pytest.raises(IllegalTransition):
        confirm_pickup(fulfillment_order=fo)
    assert not StockMovement.objects.filter(kind="shipment").exists()


# --- Notifications and documents -----------------------------------------------------------


def test_the_notification_task_sends_each_email_once(
    catalogue, warehouse, channel, ups, mailoutbox
):
    order, (fo,) = released_order(channel)
    ship_order(fo, ups)

    assert notify_customer(order.pk, "shipped", {"fulfillment": fo.pk}) is True
    assert notify_customer(order.pk, "shipped", {"fulfillment": fo.pk}) is False

    assert len(mailoutbox) == 1
    assert order.events.filter(kind="notification").count() == 1


def test_the_backorder_email_tells_the_new_date(catalogue, warehouse, channel, mailoutbox):
    order = capture(channel)

    assert notify_customer(order.pk, "backorder_update", {"promised_date": "2026-12-01"})

    (mail,) = mailoutbox
    assert order.number in mail.subject
    assert "2026-12-01" in mail.body


def test_packing_slip_and_label_are_pdfs(catalogue, warehouse, channel, ups):
    _, (fo,) = released_order(
        channel,
        delivery={
            "method": "ship",
            "service_level": "standard",
            "address": {
                # Text outside Latin-1 is transliterated, never an error.
                "recipient": "Zoë Łukasiewicz — Dept. “Ω”",
                "line1": "1 Peña Blanca Road",
                "city": "Española",
                "region": "NM",
                "postal_code": "87532",
                "country": "US",
            },
        },
    )
    ship_order(fo, ups, tracking="1Z999AA10123456784")

    from fulfillment.documents import packing_slip_pdf, shipping_label_pdf

    for document in (packing_slip_pdf(fo), shipping_label_pdf(fo)):
        assert document.startswith(b"%PDF")
        assert len(document) > 500
    # Before shipping (no tracking number, lower-case letters) a label still prints.
    _, (other,) = released_order(channel)
    assert shipping_label_pdf(other).startswith(b"%PDF")
