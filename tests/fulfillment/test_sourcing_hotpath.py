"""oms.core.hotpath, the sourcing job's lock and inserts: the same rows and instances as the
ORM's select_for_update().get() and bulk_create, in one statement each, on either backend."""

from datetime import date
from decimal import Decimal

import pytest
from django.db import transaction
from django.db.transaction import TransactionManagementError

from fulfillment.models import FulfillmentOrder
from oms.core import hotpath
from orders.models import Order, OrderEvent
from orders.services import place_order
from tests import factories


@pytest.fixture
def order(catalogue, channel):
    payload = factories.order_payload()
    return place_order(
        channel=channel, **{k: payload[k] for k in ("customer", "lines", "delivery", "payment")}
    ).order


def field_values(instance):
    return {f.attname: getattr(instance, f.attname) for f in type(instance)._meta.concrete_fields}


@pytest.mark.django_db(transaction=True)
def test_lock_reads_the_order_as_the_orm_does(order, django_assert_num_queries):
    with transaction.atomic():
        with django_assert_num_queries(1):
            locked = hotpath.lock(Order, order.pk)
        expected = Order.objects.get(pk=order.pk)

    assert field_values(locked) == field_values(expected)
    assert locked.ship_to["city"] == "New York"  # JSON decoded
    assert isinstance(locked.total_amount, Decimal)
    assert locked.is_on_hold is False
    assert not locked._state.adding
    assert locked.channel == order.channel  # relations load as usual


@pytest.mark.django_db(transaction=True)
def test_lock_refuses_a_missing_row_and_autocommit(order):
    with transaction.atomic(), pytest.raises(Order.DoesNotExist):
        hotpath.lock(Order, order.pk + 1000)
    with pytest.raises(TransactionManagementError):
        hotpath.lock(Order, order.pk)


def new_events(order, count):
    return [
        OrderEvent(
            order=order,
            kind=OrderEvent.Kind.FULFILLMENT,
            message=f"Event {n}",
            data={"n": n, "nested": {"list": [1, "two"]}, "cost": "1.50"},
            actor_label="job:sourcing",
        )
        for n in range(count)
    ]


@pytest.mark.django_db
def test_insert_writes_what_bulk_create_writes_in_one_statement(order, django_assert_num_queries):
    by_orm = OrderEvent.objects.bulk_create(new_events(order, 3))
    fast = new_events(order, 3)

    with django_assert_num_queries(1):
        hotpath.insert(fast)

    assert all(e.pk and not e._state.adding and e.created_at for e in fast)
    assert len({e.pk for e in fast} | {e.pk for e in by_orm}) == 6
    ignore = {"id", "created_at"}
    read = {e.pk: field_values(e) for e in OrderEvent.objects.filter(pk__in=[e.pk for e in fast])}
    assert [read[e.pk]["created_at"] for e in fast] == [e.created_at for e in fast]
    assert [{k: v for k, v in read[e.pk].items() if k not in ignore} for e in fast] == [
        {k: v for k, v in field_values(e).items() if k not in ignore}
        for e in OrderEvent.objects.filter(pk__in=[e.pk for e in by_orm]).order_by("pk")
    ]


@pytest.mark.django_db
def test_insert_prepares_decimals_dates_and_foreign_keys(order, warehouse):
    fulfillment = FulfillmentOrder(
        order=order,
        location=warehouse,
        kind=FulfillmentOrder.Kind.SHIP,
        shipping_cost_amount=Decimal("7.25"),
        distance_km=12.34,  # the engine's decisions carry floats
        promised_date=date(2030, 1, 2),
    )

    hotpath.insert([fulfillment])

    stored = FulfillmentOrder.objects.get(pk=fulfillment.pk)
    assert stored.shipping_cost_amount == Decimal("7.25")
    assert stored.distance_km == Decimal("12.3")
    assert stored.promised_date == date(2030, 1, 2)
    assert stored.order_id == order.pk and stored.location_id == warehouse.pk
    assert stored.status == FulfillmentOrder.Status.PENDING  # model defaults
    assert stored.created_at == fulfillment.created_at


@pytest.mark.django_db
def test_insert_hands_what_it_does_not_handle_to_bulk_create(order):
    preset = new_events(order, 1)
    preset[0].pk = 987654

    hotpath.insert(preset)
    hotpath.insert([])

    assert OrderEvent.objects.filter(pk=987654, message="Event 0").exists()
