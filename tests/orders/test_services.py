"""Order rules at the service level: capture, the state machine, cancel, holds."""

import ast
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import transaction

from inventory.models import Reservation, StockLevel
from oms.core.errors import IllegalTransition, InsufficientStock, InvalidInput
from oms.core.models import OutboxMessage
from orders.models import TRANSITIONS, Order, OrderEvent, OrderHold, Payment
from orders.services import (
    cancel_order,
    place_hold,
    place_order,
    release_all_holds,
    release_hold,
    transition,
)
from tests.factories import LocationFactory, SalesChannelFactory, order_payload, stock

pytestmark = pytest.mark.django_db


def capture(channel, **overrides):
    payload = order_payload(**overrides)
    return place_order(
        channel=channel,
        **{k: payload[k] for k in ("customer", "lines", "delivery", "payment")},
        external_id=payload.get("external_id"),
    ).order


def reserved(sku, location):
    return StockLevel.objects.get(sku=sku, location=location).reserved


def test_capture_prices_from_the_catalogue_and_reserves_stock(catalogue, warehouse, channel):
    order = capture(channel)
    assert order.number == f"SO-{order.pk:06d}"
    assert order.subtotal_amount == Decimal("45.50")  # 2 × 10.00 + 25.50
    assert order.tax_amount == Decimal("3.64")  # 8 % NY, per line: 1.60 + 2.04
    assert order.shipping_amount == Decimal("6.50")  # 5.00 + 1.00/kg × 1.5 kg
    assert order.total_amount == Decimal("55.64")
    assert reserved(catalogue[0], warehouse) == 2
    assert reserved(catalogue[1], warehouse) == 1
    assert order.promised_date is not None
    assert order.payments.get().status == Payment.Status.AUTHORIZED
    assert list(order.events.values_list("kind", flat=True)) == [
        "placed",
        "payment",
        "stock_reserved",
        "sourced",
    ]
    assert OutboxMessage.objects.filter(topic="order.placed", aggregate_id=str(order.pk)).exists()


def test_capture_reuses_a_customer_whatever_the_email_case(catalogue, channel):
    first = capture(channel)
    second = capture(channel, customer={"email": "GRACE@Example.com"})
    assert first.customer_id == second.customer_id


def test_capture_prefers_one_location_then_splits(catalogue, warehouse, channel):
    other = LocationFactory(code="WH-WEST", priority=20)
    stock(catalogue[0], other, 5)
    order = capture(channel, lines=[{"sku": "SKU-A", "quantity": 12}])
    placed = dict(
        Reservation.objects.filter(order_line__order=order).values_list(
            "location__code", "quantity"
        )
    )
    assert placed == {"WH-EAST": 10, "WH-WEST": 2}


def test_not_enough_stock_refuses_the_order_and_reserves_nothing(catalogue, warehouse, channel):
    with pytest.raises(InsufficientStock) as error:
        capture(channel, lines=[{"sku": "SKU-A", "quantity": 11}])
    assert error.value.details["lines"][0] == {
        "field": "lines[0].quantity",
        "sku": "SKU-A",
        "requested": 11,
        "available": 10,
    }
    assert not Order.objects.exists()
    assert reserved(catalogue[0], warehouse) == 0


def test_backorder_channel_keeps_the_order_and_backorders_the_rest(catalogue, warehouse):
    channel = SalesChannelFactory(code="call-center", allows_backorders=True)
    order = capture(channel, lines=[{"sku": "SKU-A", "quantity": 13}])
    assert order.status == Order.Status.BACKORDERED
    assert order.lines.get().quantity_backordered == 3
    assert reserved(catalogue[0], warehouse) == 10
    assert order.promised_date is None


def test_service_validates_even_without_the_api(catalogue, channel):
    with pytest.raises(InvalidInput) as error:
        capture(channel, lines=[{"sku": "SKU-A", "quantity": 0}, {"sku": "NOPE", "quantity": 1}])
    assert set(error.value.errors) == {"lines[0].quantity", "lines[1].sku"}
    assert not Order.objects.exists()


def test_cancel_releases_reserved_stock_and_voids_payment(catalogue, warehouse, channel):
    order = capture(channel)
    cancelled = cancel_order(order=order, reason="customer changed mind")
    assert cancelled.status == Order.Status.CANCELLED
    assert reserved(catalogue[0], warehouse) == 0
    assert reserved(catalogue[1], warehouse) == 0
    assert set(Reservation.objects.values_list("state", flat=True)) == {"released"}
    assert order.payments.get().status == Payment.Status.VOIDED
    assert all(line.quantity_cancelled == line.quantity for line in order.lines.all())
    assert OutboxMessage.objects.filter(topic="order.cancelled").count() == 1


def test_cancel_twice_is_harmless(catalogue, warehouse, channel):
    order = capture(channel)
    cancel_order(order=order)
    cancel_order(order=order)
    assert order.events.filter(kind="status_changed").count() == 1
    assert reserved(catalogue[0], warehouse) == 0


def test_shipped_order_cannot_be_cancelled(catalogue, channel):
    order = capture(channel)
    with transaction.atomic():
        transition(order, Order.Status.RELEASED)
        transition(order, Order.Status.SHIPPED)
    with pytest.raises(IllegalTransition):
        cancel_order(order=order)
    order.refresh_from_db()
    assert order.status == Order.Status.SHIPPED


@pytest.mark.parametrize(
    ("from_status", "to_status"),
    [
        (source, target)
        for source in Order.Status.values
        for target in Order.Status.values
        if target not in TRANSITIONS[source]
    ],
)
def test_every_illegal_move_is_refused_and_writes_no_event(
    catalogue, channel, from_status, to_status
):
    order = capture(channel)
    Order.objects.filter(pk=order.pk).update(status=from_status)  # test setup only
    order.refresh_from_db()
    events_before = order.events.count()
    with pytest.raises(IllegalTransition):
        transition(order, to_status)
    order.refresh_from_db()
    assert order.status == from_status
    assert order.events.count() == events_before


def test_a_legal_move_writes_the_timeline(catalogue, channel, staff_user):
    order = capture(channel)
    transition(order, Order.Status.RELEASED, actor=staff_user, note="to the warehouse")
    event = order.events.get(kind="status_changed")
    assert event.data == {"from": "placed", "to": "released", "note": "to the warehouse"}
    assert event.actor == staff_user


def test_status_is_assigned_only_inside_the_transition_functions():
    """STYLE §4: a `.status =` anywhere else bypasses the state machine."""
    root = Path(__file__).resolve().parents[2]
    offenders = []
    for path in root.glob("*/**/*.py"):
        if any(part in {".venv", "tests", "migrations"} for part in path.parts):
            continue
        tree = ast.parse(path.read_text())
        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef):
                continue
            for node in ast.walk(function):
                targets = node.targets if isinstance(node, ast.Assign) else []
                for target in targets:
                    if (
                        isinstance(target, ast.Attribute)
                        and target.attr == "status"
                        and not function.name.startswith("transition")
                    ):
                        offenders.append(f"{path.relative_to(root)}:{node.lineno} {function.name}")
    assert offenders == []


def test_hold_and_release_are_on_the_timeline(catalogue, channel, staff_user):
    order = capture(channel)
    hold = place_hold(order=order, reason="fraud_review", note="big basket", actor=staff_user)
    order.refresh_from_db()
    assert order.is_on_hold
    place_hold(order=order, reason="address", actor=staff_user)
    release_hold(hold=hold, actor=staff_user)
    order.refresh_from_db()
    assert order.is_on_hold, "another hold is still active"
    assert release_all_holds(order=order, actor=staff_user) == 1
    order.refresh_from_db()
    assert not order.is_on_hold
    assert list(order.events.filter(kind__startswith="hold").values_list("kind", flat=True)) == [
        "hold_placed",
        "hold_placed",
        "hold_released",
        "hold_released",
    ]


def test_cancelled_order_cannot_be_held(catalogue, channel):
    order = capture(channel)
    cancel_order(order=order)
    with pytest.raises(IllegalTransition):
        place_hold(order=order, reason="fraud_review")
    assert not OrderHold.objects.exists()


def test_unknown_hold_reason_names_the_field(catalogue, channel):
    order = capture(channel)
    with pytest.raises(InvalidInput) as error:
        place_hold(order=order, reason="because")
    assert "reason" in error.value.errors
    assert not OrderEvent.objects.filter(kind="hold_placed").exists()


# A warm capture for a returning customer, with an idempotency key: key lookup, SKUs, service
# level, tax rate; savepoint (the test's transaction is open), key claim, ATP snapshot,
# candidate locations, customer, order, number, lines, stock lock, reserved update,
# reservations, payment, events, outbox, key → order, release. The same whatever the number of
# lines: each of those is one statement.
WARM_CAPTURE_STATEMENTS = 20


@pytest.mark.parametrize("line_count", [1, 3])
def test_a_warm_capture_sends_a_fixed_number_of_statements(
    catalogue, channel, django_assert_num_queries, line_count
):
    capture(channel)  # the returning customer; the sourcing reference data is now loaded
    payload = order_payload(
        lines=[{"sku": sku.code, "quantity": 1} for sku in catalogue][:line_count]
    )

    with django_assert_num_queries(WARM_CAPTURE_STATEMENTS):
        result = place_order(
            channel=channel,
            **{k: payload[k] for k in ("customer", "lines", "delivery", "payment")},
            idempotency_key="warm-capture",
        )

    assert result.order.lines.count() == line_count
    assert Reservation.objects.filter(order_line__order=result.order).count() == line_count
    assert OrderEvent.objects.filter(order=result.order).count() == 4
    assert OutboxMessage.objects.filter(aggregate_id=str(result.order.pk)).exists()
