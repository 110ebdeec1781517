"""Stock changes go through services that write movements; on hand is the sum of movements."""

import pytest
from django.db import IntegrityError, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inventory.models import StockLevel, StockMovement
from inventory.selectors import availability_by_sku, movement_total
from inventory.services import adjust_stock, receive_stock, set_safety_stock
from oms.core.errors import InvalidInput
from orders.services import cancel_order, place_order
from tests.factories import LocationFactory, SKUFactory, order_payload, stock

pytestmark = pytest.mark.django_db


def level(sku, location):
    return StockLevel.objects.get(sku=sku, location=location)


def test_receipt_adds_on_hand_and_records_who_received_it(warehouse, staff_user):
    sku = SKUFactory()
    receive_stock(sku=sku, location=warehouse, quantity=7, reference="PO-1", actor=staff_user)
    assert level(sku, warehouse).on_hand == 7
    movement = StockMovement.objects.get(sku=sku, location=warehouse)
    assert (movement.kind, movement.quantity, movement.reference, movement.actor) == (
        "receipt",
        7,
        "PO-1",
        staff_user,
    )


def test_receipt_of_nothing_is_refused_and_writes_nothing(warehouse):
    sku = SKUFactory()
    with pytest.raises(InvalidInput) as error:
        receive_stock(sku=sku, location=warehouse, quantity=0)
    assert "quantity" in error.value.errors
    assert not StockMovement.objects.exists()


def test_adjustment_needs_a_reason(warehouse):
    sku = SKUFactory()
    stock(sku, warehouse, 5)
    with pytest.raises(InvalidInput) as error:
        adjust_stock(sku=sku, location=warehouse, quantity=-1, reason=" ")
    assert "reason" in error.value.errors
    assert level(sku, warehouse).on_hand == 5


def test_adjustment_cannot_take_on_hand_below_what_orders_reserved(catalogue, warehouse, channel):
    place_order(channel=channel, **_order(lines=[{"sku": "SKU-A", "quantity": 8}]))
    sku = catalogue[0]
    with pytest.raises(InvalidInput) as error:
        adjust_stock(sku=sku, location=warehouse, quantity=-3, reason="damaged")
    assert "reserved" in error.value.errors["quantity"][0]
    assert (level(sku, warehouse).on_hand, level(sku, warehouse).reserved) == (10, 8)
    adjust_stock(sku=sku, location=warehouse, quantity=-2, reason="damaged")
    assert level(sku, warehouse).on_hand == 8


def test_database_refuses_reserved_above_on_hand(catalogue, warehouse):
    with pytest.raises(IntegrityError), transaction.atomic():
        StockLevel.objects.filter(sku=catalogue[0], location=warehouse).update(reserved=11)


def test_safety_stock_is_held_back_from_availability(catalogue, warehouse):
    set_safety_stock(sku=catalogue[0], location=warehouse, safety_stock=4)
    found, _ = availability_by_sku(sku_codes=["SKU-A"])
    assert found["SKU-A"].available == 6


def _order(**overrides):
    payload = order_payload(**overrides)
    return {k: payload[k] for k in ("customer", "lines", "delivery", "payment")}


OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("receive"), st.integers(1, 20)),
        st.tuples(st.just("adjust"), st.integers(-10, 10).filter(bool)),
        st.tuples(st.just("order"), st.integers(1, 5)),
        st.tuples(st.just("cancel"), st.just(0)),
    ),
    min_size=1,
    max_size=12,
)


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(operations=OPERATIONS)
def test_on_hand_always_equals_the_sum_of_movements(operations, channel, standard_service):
    sku = SKUFactory(code="SKU-A")
    location = LocationFactory(code="WH-PROP")
    placed = []
    for operation, quantity in operations:
        try:
            if operation == "receive":
                receive_stock(sku=sku, location=location, quantity=quantity)
            elif operation == "adjust":
                adjust_stock(sku=sku, location=location, quantity=quantity, reason="count")
            elif operation == "order":
                result = place_order(
                    channel=channel, **_order(lines=[{"sku": "SKU-A", "quantity": quantity}])
                )
                placed.append(result.order)
            elif placed:
                cancel_order(order=placed.pop(0))
        except Exception as error:  # refusals are part of the sequence; nothing else is
            assert getattr(error, "status_code", None) in (400, 409), error
        current = StockLevel.objects.filter(sku=sku, location=location).first()
        if current is not None:
            assert current.on_hand == movement_total(sku_id=sku.pk, location_id=location.pk)
            assert 0 <= current.reserved <= current.on_hand
