"""A change during fulfillment: lower or cancel lines, change the address, cancel the order.

Each change cancels the open fulfillment orders it touches, gives back the stock they no
longer need, recomputes what the customer pays and sends the order back to sourcing; the
sourcing job then makes new fulfillment orders. Everything is on the order's timeline.
"""

from decimal import Decimal

import pytest
from django.db.models import Sum

from fulfillment.changes import (
    cancel_open_fulfillment,
    cancel_order_with_fulfillment,
    change_order,
    change_order_lines,
    change_ship_to,
)
from fulfillment.models import FulfillmentOrder, PickList, PickListItem
from fulfillment.sourcing.service import source_order
from fulfillment.tasks import source_order_task
from fulfillment.warehouse import build_pick_lists, confirm_pick, pack, ship
from inventory.models import Reservation, StockLevel
from oms.core import outbox
from oms.core.errors import DomainError, IllegalTransition, InvalidInput
from oms.core.models import OutboxMessage
from orders.models import Order, OrderEvent, Payment
from orders.services import cancel_order, place_order
from tests import factories

pytestmark = pytest.mark.django_db

Status = FulfillmentOrder.Status
ORDERS_URL = "/api/v1/orders/"
PROBLEM_JSON = "application/problem+json"
LA = {
    "line1": "100 Sunset Blvd",
    "city": "Los Angeles",
    "region": "CA",
    "postal_code": "90012",
    "country": "US",
}
# Cancelling one line held by one released fulfillment order: key lookup, order lookup; in
# the change's transaction (2 savepoints): order lock, lines, their reservations, the
# fulfillment lines holding them; lines update + event; fulfillment order lock, pick list
# items, picked units, cancel + event + outbox row; reservation and stock locks, the release
# (4), its event; totals + event; payments lock, collected sum, payment + event; backorders,
# status + event; then the order detail body (order, lines, payments, events, fulfillment
# orders, their locations, carrier services, carriers, lines, SKUs). A change is rare and
# human-paced: each further reservation released adds the inventory service's 4 statements.
CHANGE_QUERIES = 42


# --- Set-up --------------------------------------------------------------------------------


def capture(channel, **overrides) -> Order:
    payload = factories.order_payload(**overrides)
    return place_order(
        channel=channel, **{k: payload[k] for k in ("customer", "lines", "delivery", "payment")}
    ).order


def released_order(channel, **overrides) -> Order:
    """Captured and sourced: one released fulfillment order at WH-EAST (A×2, B×1 by default)."""
    order = capture(channel, **overrides)
    source_order(order_id=order.pk)
    order.refresh_from_db()
    assert order.status == Order.Status.RELEASED
    return order


def fulfillment_of(order, status=None) -> FulfillmentOrder:
    fos = order.fulfillment_orders.order_by("pk")
    if status is not None:
        fos = fos.filter(status=status)
    return fos.get()


def contents(fo) -> list[tuple[str, int]]:
    return sorted(fo.lines.values_list("sku__code", "quantity"))


def level(sku_code, location) -> StockLevel:
    return StockLevel.objects.get(sku__code=sku_code, location=location)


def atp(sku_code, location) -> int:
    row = level(sku_code, location)
    return row.on_hand - row.reserved - row.safety_stock


def reserved_for(order) -> list[tuple[str, str, int]]:
    return sorted(
        Reservation.objects.filter(order_line__order=order, state=Reservation.State.ACTIVE)
        .values("sku__code", "location__code")
        .annotate(units=Sum("quantity"))
        .values_list("sku__code", "location__code", "units")
    )


def kinds(order) -> list[str]:
    return list(order.events.order_by("id").values_list("kind", flat=True))


def messages(order) -> str:
    return "\n".join(order.events.order_by("id").values_list("message", flat=True))


def order_url(number: str, action: str = "") -> str:
    return f"{ORDERS_URL}{number}/{action + '/' if action else ''}"


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM_JSON
    return response.json()


def pick_all(pick_list) -> PickList:
    picked = {item.pk: item.quantity for item in pick_list.items.all()}
    return confirm_pick(pick_list=pick_list, picked=picked)


def ship_everything(order) -> FulfillmentOrder:
    fo = fulfillment_of(order, Status.RELEASED)
    (pick_list,) = build_pick_lists(
        location=fo.location, strategy="single", fulfillment_orders=[fo]
    )
    pick_all(pick_list)
    pack(fulfillment_order=fo, packages=[{"weight_kg": "1.5"}])
    return ship(fulfillment_order=fo, carrier=None, tracking_number="1Z999")


def snapshot(order) -> dict:
    """Everything a refused change must leave as it was."""
    order.refresh_from_db()
    return {
        "status": order.status,
        "total": order.total_amount,
        "ship_to": order.ship_to,
        "lines": list(order.lines.values_list("quantity_cancelled", "quantity_backordered")),
        "events": order.events.count(),
        "fulfillments": list(order.fulfillment_orders.values_list("status", flat=True)),
        "reservations": list(
            Reservation.objects.filter(order_line__order=order).values_list("state", "quantity")
        ),
        "stock": list(StockLevel.objects.order_by("pk").values_list("on_hand", "reserved")),
        "payments": list(order.payments.values_list("status", "amount")),
        "outbox": OutboxMessage.objects.count(),
    }


@pytest.fixture
def west(db):
    """A warehouse in Los Angeles with 10 of SKU-A and SKU-B."""
    location = factories.LocationFactory(
        code="WH-WEST",
        city="Los Angeles",
        region="CA",
        latitude=Decimal("34.052200"),
        longitude=Decimal("-118.243700"),
        priority=10,
    )
    for code in ("SKU-A", "SKU-B"):
        factories.stock(factories.SKUFactory(code=code), location, 10)
    return location


@pytest.fixture
def local_rates(standard_service):
    """Parcels within 1,000 km cost 1.00, further 4.00: the nearer warehouse is cheaper."""
    factories.carrier_rate(standard_service, km=1000, base="1.00")
    return standard_service


# --- Lowering and cancelling lines ---------------------------------------------------------


def test_cancelling_a_line_of_a_released_order_cancels_its_fulfillment_and_resources(
    catalogue, warehouse, channel, django_capture_on_commit_callbacks
):
    order = released_order(channel)
    first = fulfillment_of(order)
    assert atp("SKU-B", warehouse) == 9

    with django_capture_on_commit_callbacks() as callbacks:
        change_order_lines(order.pk, [{"line_number": 2, "quantity": 0}], reason="out of budget")

    order.refresh_from_db()
    first.refresh_from_db()
    assert first.status == Status.CANCELLED
    assert order.status == Order.Status.PLACED
    line_a, line_b = order.lines.order_by("line_number")
    assert (line_b.quantity, line_b.quantity_cancelled) == (1, 1)
    assert line_a.quantity_cancelled == 0
    # SKU-B's unit is for sale again at once; SKU-A stays reserved for the order.
    assert atp("SKU-B", warehouse) == 10
    assert reserved_for(order) == [("SKU-A", "WH-EAST", 2)]
    # Goods 20.00 + 8% tax 1.60 + shipping 5.00 + 1 kg × 1.00.
    assert (order.subtotal_amount, order.tax_amount, order.shipping_amount) == (
        Decimal("20.00"),
        Decimal("1.60"),
        Decimal("6.00"),
    )
    assert order.total_amount == Decimal("27.60")
    assert order.payments.get().amount == Decimal("27.60")
    # The sourcing job was asked for, after commit.
    assert any("source_order_task" in repr(callback) for callback in callbacks)

    source_order_task(order.pk)

    order.refresh_from_db()
    second = fulfillment_of(order, Status.RELEASED)
    assert second.pk != first.pk
    assert contents(second) == [("SKU-A", 2)]
    assert order.status == Order.Status.RELEASED
    assert reserved_for(order) == [("SKU-A", "WH-EAST", 2)]
    timeline = messages(order)
    assert "Order changed: line 2 (SKU-B) 1 → 0. Reason: out of budget" in timeline
    assert f"FO-{first.pk} at WH-EAST: cancelled — order changed: line 2 now 0" in timeline
    assert "Released 1 × SKU-B at WH-EAST." in timeline
    assert "Totals recomputed: total 55.64 → 27.60 USD" in timeline
    assert "Card amount changed from 55.64 to 27.60 USD" in timeline
    assert "Released to fulfillment → Placed: changed during fulfillment" in timeline
    assert f"Fulfillment FO-{second.pk} created at WH-EAST" in timeline
    assert OutboxMessage.objects.filter(
        topic="fulfillment.cancelled", aggregate_id=str(first.pk)
    ).exists()


def test_shipping_then_captures_only_what_remains(catalogue, warehouse, channel):
    order = released_order(channel)
    change_order_lines(order.pk, [{"line_number": 1, "quantity": 1}])
    source_order_task(order.pk)

    order.refresh_from_db()
    ship_everything(order)

    order.refresh_from_db()
    assert order.status == Order.Status.SHIPPED
    captured = order.payments.filter(status=Payment.Status.CAPTURED).aggregate(total=Sum("amount"))[
        "total"
    ]
    # A 10.00 + tax 0.80, B 25.50 + tax 2.04, shipping 5.00 + 1 kg × 1.00.
    assert captured == order.total_amount == Decimal("44.34")
    assert not order.payments.filter(status=Payment.Status.AUTHORIZED).exists()
    assert level("SKU-A", warehouse).on_hand == 9


def test_lowering_a_quantity_while_picking_updates_the_pick_list(catalogue, warehouse, channel):
    order = released_order(channel)
    other = released_order(channel, lines=[{"sku": "SKU-C", "quantity": 3}])
    fo, other_fo = fulfillment_of(order), fulfillment_of(other)
    (pick_list,) = build_pick_lists(location=warehouse, strategy="batch")
    assert pick_list.items.count() == 3

    change_order_lines(order.pk, [{"line_number": 1, "quantity": 1}])

    fo.refresh_from_db()
    other_fo.refresh_from_db()
    pick_list.refresh_from_db()
    assert fo.status == Status.CANCELLED
    assert other_fo.status == Status.PICKING
    # The batch list carries on with the other order's work only.
    assert pick_list.status == PickList.Status.OPEN
    assert list(pick_list.items.values_list("fulfillment_line__sku__code", "quantity")) == [
        ("SKU-C", 3)
    ]
    # One unit of A is for sale again; the other A and the B stay with the order.
    assert reserved_for(order) == [("SKU-A", "WH-EAST", 1), ("SKU-B", "WH-EAST", 1)]
    assert atp("SKU-A", warehouse) == 9
    assert f"FO-{fo.pk} taken off pick list {pick_list.pk}." in messages(order)

    # The picker confirms what is still on the list; the changed order is not touched.
    pick_all(pick_list)
    source_order_task(order.pk)
    assert contents(fulfillment_of(order, Status.RELEASED)) == [("SKU-A", 1), ("SKU-B", 1)]


def test_a_pick_list_left_empty_is_cancelled(catalogue, warehouse, channel):
    order = released_order(channel)
    fo = fulfillment_of(order)
    (pick_list,) = build_pick_lists(location=warehouse, strategy="single")

    change_order_lines(order.pk, [{"line_number": 2, "quantity": 0}])

    pick_list.refresh_from_db()
    assert pick_list.status == PickList.Status.CANCELLED
    assert not PickListItem.objects.filter(pick_list=pick_list).exists()
    assert f"pick list {pick_list.pk} cancelled (empty)" in messages(order)
    fo.refresh_from_db()
    assert fo.status == Status.CANCELLED


def test_picked_and_packed_work_is_cancelled_too(catalogue, warehouse, channel):
    order = released_order(channel)
    fo = fulfillment_of(order)
    (pick_list,) = build_pick_lists(location=warehouse, strategy="single")
    pick_all(pick_list)
    pack(fulfillment_order=fo, packages=[{"weight_kg": "2"}])

    change_order_lines(order.pk, [{"line_number": 2, "quantity": 0}])

    fo.refresh_from_db()
    assert fo.status == Status.CANCELLED
    assert "3 picked unit(s) go back to the shelf; unpack its parcel(s)" in messages(order)
    assert level("SKU-A", warehouse).on_hand == 10  # nothing left the building


def test_cutting_only_backordered_units_leaves_fulfillment_alone(catalogue, warehouse):
    channel = factories.SalesChannelFactory(code="backorders", allows_backorders=True)
    order = capture(channel, lines=[{"sku": "SKU-A", "quantity": 12}])
    assert order.status == Order.Status.BACKORDERED
    source_order(order_id=order.pk)
    fo = fulfillment_of(order)
    assert fo.status == Status.RELEASED

    change_order_lines(order.pk, [{"line_number": 1, "quantity": 10}])

    order.refresh_from_db()
    fo.refresh_from_db()
    line = order.lines.get()
    assert (line.quantity_cancelled, line.quantity_backordered) == (2, 0)
    assert fo.status == Status.RELEASED, "the change touched no reserved unit"
    # Nothing is short any more and all of it is at the warehouse already.
    assert order.status == Order.Status.RELEASED
    assert reserved_for(order) == [("SKU-A", "WH-EAST", 10)]


def test_cancelling_every_line_cancels_the_order(catalogue, warehouse, channel):
    order = released_order(channel)
    fo = fulfillment_of(order)

    change_order_lines(
        order.pk, [{"line_number": 1, "quantity": 0}, {"line_number": 2, "quantity": 0}]
    )

    order.refresh_from_db()
    fo.refresh_from_db()
    assert order.status == Order.Status.CANCELLED
    assert fo.status == Status.CANCELLED
    assert reserved_for(order) == []
    assert (atp("SKU-A", warehouse), atp("SKU-B", warehouse)) == (10, 10)
    assert order.payments.get().status == Payment.Status.VOIDED
    assert OutboxMessage.objects.filter(topic="order.cancelled").count() == 1


def test_the_same_change_twice_changes_nothing_the_second_time(catalogue, channel):
    order = released_order(channel)
    change_order_lines(order.pk, [{"line_number": 1, "quantity": 1}])
    before = snapshot(order)

    change_order_lines(order.pk, [{"line_number": 1, "quantity": 1}])

    assert snapshot(order) == before


def test_a_line_cannot_be_raised(catalogue, channel):
    order = released_order(channel)
    before = snapshot(order)

    with pytest.raises(InvalidInput) as refused:
        change_order_lines(
            order.pk, [{"line_number": 2, "quantity": 0}, {"line_number": 1, "quantity": 3}]
        )

    assert list(refused.value.errors) == ["lines[1].quantity"]
    assert snapshot(order) == before


def test_unknown_and_repeated_lines_are_named(catalogue, channel):
    order = released_order(channel)
    with pytest.raises(InvalidInput) as refused:
        change_order_lines(
            order.pk,
            [
                {"line_number": 9, "quantity": 0},
                {"line_number": 1, "quantity": -1},
                {"line_number": 2, "quantity": 0},
                {"line_number": 2, "quantity": 0},
            ],
        )
    assert sorted(refused.value.errors) == [
        "lines[0].line_number",
        "lines[1].quantity",
        "lines[3].line_number",
    ]


def test_shipped_units_cannot_be_changed(catalogue, warehouse, channel):
    order = released_order(channel)
    ship_everything(order)
    before = snapshot(order)
    assert before["status"] == Order.Status.SHIPPED

    with pytest.raises(DomainError) as refused:
        change_order_lines(order.pk, [{"line_number": 2, "quantity": 0}])

    assert refused.value.code == "already_shipped"
    assert refused.value.details["field"] == "lines[0].quantity"
    with pytest.raises(DomainError) as refused_address:
        change_ship_to(order.pk, LA)
    assert refused_address.value.code == "already_shipped"
    assert snapshot(order) == before


def test_a_cancelled_order_cannot_be_changed(catalogue, channel):
    order = capture(channel)
    cancel_order(order=order)
    with pytest.raises(InvalidInput):  # it has nothing left to lower
        change_order_lines(order.pk, [{"line_number": 1, "quantity": 1}])
    with pytest.raises(IllegalTransition):
        change_ship_to(order.pk, LA)


def test_a_change_before_sourcing_keeps_the_rest_reserved(catalogue, warehouse, channel):
    order = capture(channel)
    change_order_lines(order.pk, [{"line_number": 1, "quantity": 1}])

    order.refresh_from_db()
    assert order.status == Order.Status.PLACED
    assert reserved_for(order) == [("SKU-A", "WH-EAST", 1), ("SKU-B", "WH-EAST", 1)]
    source_order_task(order.pk)
    assert contents(fulfillment_of(order)) == [("SKU-A", 1), ("SKU-B", 1)]


def test_a_pickup_order_is_changed_at_its_store(catalogue, store, channel):
    factories.stock(catalogue[0], store, 5)
    order = capture(
        channel,
        lines=[{"sku": "SKU-A", "quantity": 2}],
        delivery={"method": "pickup", "location": store.code},
    )
    source_order(order_id=order.pk)
    first = fulfillment_of(order)
    assert (first.kind, first.status) == (FulfillmentOrder.Kind.PICKUP, Status.RELEASED)

    change_order_lines(order.pk, [{"line_number": 1, "quantity": 1}])
    source_order_task(order.pk)

    first.refresh_from_db()
    assert first.status == Status.CANCELLED
    second = fulfillment_of(order, Status.RELEASED)
    assert (second.location, second.kind) == (store, FulfillmentOrder.Kind.PICKUP)
    assert contents(second) == [("SKU-A", 1)]
    assert atp("SKU-A", store) == 4


# --- The ship-to address -------------------------------------------------------------------


def test_a_new_address_is_sourced_again_possibly_elsewhere(
    catalogue, warehouse, west, local_rates, channel
):
    order = released_order(channel)
    first = fulfillment_of(order)
    assert first.location == warehouse

    change_ship_to(order.pk, LA, reason="moved")

    order.refresh_from_db()
    first.refresh_from_db()
    assert first.status == Status.CANCELLED
    assert order.status == Order.Status.PLACED
    assert order.ship_to == LA
    # Planned again for Los Angeles, in the same transaction: the units are held at once.
    assert reserved_for(order) == [("SKU-A", "WH-WEST", 2), ("SKU-B", "WH-WEST", 1)]
    assert (atp("SKU-A", warehouse), atp("SKU-B", warehouse)) == (10, 10)
    # No sales tax in California here: the total drops by the 3.64 of New York tax.
    assert order.tax_amount == Decimal("0.00")
    assert order.total_amount == Decimal("52.00")
    assert order.payments.get().amount == Decimal("52.00")

    source_order_task(order.pk)

    order.refresh_from_db()
    second = fulfillment_of(order, Status.RELEASED)
    assert second.location == west
    assert contents(second) == [("SKU-A", 2), ("SKU-B", 1)]
    assert order.status == Order.Status.RELEASED
    timeline = messages(order)
    assert "Ship-to address changed to 100 Sunset Blvd, Los Angeles, CA, 90012, US." in timeline
    assert "Reserved for the new address: 2 × SKU-A at WH-WEST, 1 × SKU-B at WH-WEST." in timeline
    assert f"FO-{first.pk} at WH-EAST: cancelled — ship-to address changed" in timeline


def test_the_same_address_again_changes_nothing(catalogue, west, local_rates, channel):
    order = released_order(channel)
    change_ship_to(order.pk, LA)
    before = snapshot(order)

    change_ship_to(order.pk, dict(LA))

    assert snapshot(order) == before


def test_an_address_missing_fields_is_refused_by_field(catalogue, channel):
    order = released_order(channel)
    before = snapshot(order)
    with pytest.raises(InvalidInput) as refused:
        change_ship_to(order.pk, {"line1": " ", "country": "US"})
    assert sorted(refused.value.errors) == [
        "ship_to.city",
        "ship_to.line1",
        "ship_to.postal_code",
    ]
    with pytest.raises(InvalidInput) as nowhere:
        change_ship_to(order.pk, {**LA, "region": "", "country": "NZ"})
    assert list(nowhere.value.errors) == ["ship_to.country"]
    assert snapshot(order) == before


def test_a_pickup_order_has_no_address_to_change(catalogue, store, channel):
    factories.stock(catalogue[0], store, 5)
    order = capture(
        channel,
        lines=[{"sku": "SKU-A", "quantity": 1}],
        delivery={"method": "pickup", "location": store.code},
    )
    with pytest.raises(InvalidInput) as refused:
        change_ship_to(order.pk, LA)
    assert list(refused.value.errors) == ["ship_to"]


def test_an_address_no_location_can_serve_is_refused(catalogue, warehouse, channel):
    order = released_order(channel)
    before = snapshot(order)
    # The only carrier band reaches 5,000 km; Tokyo is further from New Jersey.
    tokyo = {"line1": "1 Chiyoda", "city": "Tokyo", "postal_code": "100-0001", "country": "JP"}

    with pytest.raises(DomainError) as refused:
        change_ship_to(order.pk, tokyo)

    assert refused.value.code == "insufficient_stock"
    assert snapshot(order) == before


def test_an_address_that_raises_the_total_beyond_the_card_authorization_is_refused(
    catalogue, channel
):
    nj = {"line1": "1 Harbor Blvd", "city": "Newark", "region": "NJ", "postal_code": "07102"}
    order = released_order(
        channel,
        delivery={
            "method": "ship",
            "service_level": "standard",
            "address": {**nj, "country": "US"},
        },
    )
    assert order.tax_amount == Decimal("0.00")
    before = snapshot(order)
    new_york = factories.order_payload()["delivery"]["address"]

    with pytest.raises(DomainError) as refused:
        change_ship_to(order.pk, new_york)

    assert refused.value.code == "payment_insufficient"
    assert snapshot(order) == before


def test_cash_on_delivery_asks_for_the_higher_total_of_a_new_address(catalogue, channel):
    nj = {"line1": "1 Harbor Blvd", "city": "Newark", "region": "NJ", "postal_code": "07102"}
    order = released_order(
        channel,
        delivery={
            "method": "ship",
            "service_level": "standard",
            "address": {**nj, "country": "US"},
        },
        payment={"method": "cash_on_delivery"},
    )
    assert order.total_amount == Decimal("52.00")

    change_ship_to(order.pk, factories.order_payload()["delivery"]["address"])

    order.refresh_from_db()
    assert order.total_amount == Decimal("55.64")
    payment = order.payments.get()
    assert (payment.status, payment.amount) == (Payment.Status.PENDING, Decimal("55.64"))


# --- Cancelling the whole order ------------------------------------------------------------


def test_cancelling_the_order_cancels_its_open_fulfillment(catalogue, warehouse, channel):
    order = released_order(channel)
    fo = fulfillment_of(order)
    (pick_list,) = build_pick_lists(location=warehouse, strategy="single")

    cancel_order_with_fulfillment(order_id=order.pk, reason="fraud")

    order.refresh_from_db()
    fo.refresh_from_db()
    pick_list.refresh_from_db()
    assert order.status == Order.Status.CANCELLED
    assert fo.status == Status.CANCELLED
    assert pick_list.status == PickList.Status.CANCELLED
    assert reserved_for(order) == []
    assert (atp("SKU-A", warehouse), atp("SKU-B", warehouse)) == (10, 10)
    # Running it again (a retry, or the outbox reaction) finds nothing left to do.
    events = order.events.count()
    cancel_order_with_fulfillment(order_id=order.pk)
    assert cancel_open_fulfillment(order_id=order.pk) == []
    assert order.events.count() == events


def test_the_outbox_reaction_leaves_an_order_that_is_not_cancelled_alone(catalogue, channel):
    order = released_order(channel)
    assert cancel_open_fulfillment(order_id=order.pk) == []
    assert fulfillment_of(order).status == Status.RELEASED


def test_a_shipped_order_cannot_be_cancelled_and_nothing_is_written(catalogue, channel):
    order = released_order(channel)
    ship_everything(order)
    before = snapshot(order)

    with pytest.raises(IllegalTransition):
        cancel_order_with_fulfillment(order_id=order.pk)

    assert snapshot(order) == before


def test_a_cancel_through_the_orders_app_cancels_fulfillment_when_relayed(
    catalogue, warehouse, channel
):
    order = released_order(channel)
    fo = fulfillment_of(order)
    cancel_order(order=order, reason="customer changed mind")
    fo.refresh_from_db()
    assert fo.status == Status.RELEASED  # orders cannot reach fulfillment itself

    outbox.relay_pending()

    fo.refresh_from_db()
    assert fo.status == Status.CANCELLED
    assert f"FO-{fo.pk} at WH-EAST: cancelled — order cancelled" in messages(order)
    assert OutboxMessage.objects.filter(topic="order.cancelled", published_at__isnull=False)
    assert (atp("SKU-A", warehouse), atp("SKU-B", warehouse)) == (10, 10)


# --- Through the API -----------------------------------------------------------------------


@pytest.fixture
def post_change(channel_client):
    def post(number, body):
        return channel_client.post(order_url(number, "changes"), body, format="json")

    return post


def test_api_cancels_a_line_and_answers_like_the_order_detail(
    catalogue, warehouse, channel, channel_client, post_change
):
    order = released_order(channel)
    fo = fulfillment_of(order)

    response = post_change(order.number, {"lines": [{"line_number": 2, "quantity": 0}]})

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body == channel_client.get(order_url(order.number)).json()
    assert body["status"] == "placed"
    assert [(line["line_number"], line["quantity_cancelled"]) for line in body["lines"]] == [
        (1, 0),
        (2, 1),
    ]
    assert body["total"] == "27.60"
    assert [(f["id"], f["status"]) for f in body["fulfillments"]] == [(fo.pk, "cancelled")]
    change_event = next(e for e in body["events"] if e["message"].startswith("Order changed"))
    assert change_event["actor"] == "channel:web"
    assert atp("SKU-B", warehouse) == 10

    retried = post_change(order.number, {"lines": [{"line_number": 2, "quantity": 0}]})
    assert retried.status_code == 200
    assert len(retried.json()["events"]) == len(body["events"])


def test_api_changes_the_address(catalogue, west, local_rates, channel, post_change):
    order = released_order(channel)

    response = post_change(order.number, {"ship_to": LA, "reason": "moved"})

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["delivery"]["address"]["city"] == "Los Angeles"
    assert body["tax"] == "0.00"
    assert reserved_for(order) == [("SKU-A", "WH-WEST", 2), ("SKU-B", "WH-WEST", 1)]


def test_api_refuses_bad_input_naming_the_field(catalogue, channel, post_change):
    order = released_order(channel)
    before = snapshot(order)

    raised = post_change(order.number, {"lines": [{"line_number": 1, "quantity": 5}]})
    unknown = post_change(order.number, {"lines": [{"line_number": 7, "quantity": 0}]})
    empty = post_change(order.number, {})
    priced = post_change(order.number, {"lines": [{"line_number": 1, "quantity": 0}], "total": 1})
    address = post_change(order.number, {"ship_to": {"line1": "1 Main St", "country": "US"}})

    assert "lines[0].quantity" in assert_problem(raised, 400)["errors"]
    assert "lines[0].line_number" in assert_problem(unknown, 400)["errors"]
    assert "lines" in assert_problem(empty, 400)["errors"]
    assert "total" in assert_problem(priced, 400)["errors"]
    assert {"ship_to.city", "ship_to.postal_code"} <= set(assert_problem(address, 400)["errors"])
    assert snapshot(order) == before


def test_api_refuses_shipped_units_with_409_naming_the_line(catalogue, channel, post_change):
    order = released_order(channel)
    ship_everything(order)
    before = snapshot(order)

    response = post_change(order.number, {"lines": [{"line_number": 1, "quantity": 1}]})

    body = assert_problem(response, 409)
    assert body["code"] == "already_shipped"
    assert body["field"] == "lines[0].quantity"
    assert body["line_number"] == 1
    assert snapshot(order) == before


def test_api_refuses_a_cancelled_order_with_409(catalogue, channel, post_change):
    order = released_order(channel)
    cancel_order_with_fulfillment(order_id=order.pk)
    response = post_change(order.number, {"ship_to": LA})
    assert assert_problem(response, 409)["code"] == "illegal_transition"


def test_api_cancelling_every_line_cancels_the_order_and_its_fulfillment(
    catalogue, channel, post_change
):
    order = released_order(channel)
    response = post_change(
        order.number,
        {"lines": [{"line_number": 1, "quantity": 0}, {"line_number": 2, "quantity": 0}]},
    )
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "cancelled"
    assert [f["status"] for f in response.json()["fulfillments"]] == ["cancelled"]


def test_api_another_channels_order_is_not_found(catalogue, channel, other_channel, channel_client):
    order = released_order(other_channel)
    before = snapshot(order)

    response = channel_client.post(
        order_url(order.number, "changes"),
        {"lines": [{"line_number": 1, "quantity": 0}]},
        format="json",
    )

    assert_problem(response, 404)
    assert snapshot(order) == before


def test_api_staff_may_change_any_channels_order(catalogue, channel, staff_user, api_client):
    order = released_order(channel)
    api_client.force_login(staff_user)
    response = api_client.post(
        order_url(order.number, "changes"),
        {"lines": [{"line_number": 1, "quantity": 1}]},
        format="json",
    )
    assert response.status_code == 200, response.json()
    assert order.events.filter(kind=OrderEvent.Kind.NOTE, actor=staff_user).exists()


def test_change_endpoint_query_count(catalogue, channel, post_change, django_assert_num_queries):
    order = released_order(channel)
    with django_assert_num_queries(CHANGE_QUERIES):
        response = post_change(order.number, {"lines": [{"line_number": 2, "quantity": 0}]})
    assert response.status_code == 200, response.json()


def test_change_order_does_lines_and_address_in_one_go(
    catalogue, warehouse, west, local_rates, channel
):
    order = released_order(channel)
    change_order(
        order_id=order.pk, lines=[{"line_number": 2, "quantity": 0}], ship_to=LA, actor="desk"
    )
    order.refresh_from_db()
    assert reserved_for(order) == [("SKU-A", "WH-WEST", 2)]
    assert order.total_amount == Decimal("26.00")  # 20.00 goods, no tax, 6.00 shipping


# --- Under concurrency (PostgreSQL) --------------------------------------------------------


@factories.requires_postgres
@pytest.mark.django_db(transaction=True)
def test_an_order_changing_address_keeps_its_unit_while_others_buy_the_last_ones():
    """The released unit cannot be taken between release and re-reservation: the stock rows
    stay locked. Whoever wins, the changed order holds one unit and one buyer gets the other."""
    from tests.test_concurrency import run_together

    channel = factories.SalesChannelFactory(code="web")
    level = factories.ServiceLevelFactory()
    factories.carrier_rate(level)
    factories.carrier_rate(level, km=1000, base="1.00")
    factories.TaxRateFactory()
    sku = factories.SKUFactory(code="SKU-LAST")
    east = factories.LocationFactory(code="WH-EAST")
    west = factories.LocationFactory(
        code="WH-WEST", region="CA", latitude=Decimal("34.0522"), longitude=Decimal("-118.2437")
    )
    factories.stock(sku, east, 1)
    factories.stock(sku, west, 1)
    changing = released_order(channel, lines=[{"sku": "SKU-LAST", "quantity": 1}])
    assert reserved_for(changing) == [("SKU-LAST", "WH-EAST", 1)]

    def work(index):
        if index == 0:
            return change_ship_to(changing.pk, LA).status
        payload = factories.order_payload(
            lines=[{"sku": "SKU-LAST", "quantity": 1}],
            customer={"email": f"buyer{index}@example.com"},
        )
        return place_order(
            channel=channel, **{k: payload[k] for k in ("customer", "lines", "delivery", "payment")}
        ).order.number

    results = run_together(9, work)

    assert results[0] == Order.Status.PLACED, results
    bought = [r for r in results[1:] if isinstance(r, str)]
    refused = [r for r in results[1:] if not isinstance(r, str)]
    assert len(bought) == 1, results
    assert all(isinstance(r, DomainError) and r.code == "insufficient_stock" for r in refused), [
        repr(r) for r in refused
    ]
    assert sum(units for *_, units in reserved_for(changing)) == 1
    for row in StockLevel.objects.all():
        active = Reservation.objects.filter(
            sku_id=row.sku_id, location_id=row.location_id, state=Reservation.State.ACTIVE
        ).aggregate(units=Sum("quantity"))["units"]
        assert row.reserved == (active or 0) <= row.on_hand
