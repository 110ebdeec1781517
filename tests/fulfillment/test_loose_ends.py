"""A location's working days: validated where staff enter them, and a location whose calendar
names no weekday (bad data from before the check) takes no part in sourcing instead of failing
capture with a 500."""

from dataclasses import replace
from datetime import date, datetime, time
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from fulfillment.promising import next_working_day
from fulfillment.sourcing.engine import source
from fulfillment.sourcing.types import (
    Calendar,
    Candidate,
    Destination,
    Line,
    RateBand,
    Rules,
    Service,
    SourcingRequest,
)
from inventory.models import Location, Reservation
from orders.models import Order, OrderEvent
from tests.factories import LocationFactory, order_payload, stock

ORDERS_URL = "/api/v1/orders/"
ORDERED_AT = datetime(2026, 11, 24, 10, 0)  # a Tuesday, before the 14:00 cut-off
NEW_YORK = Destination(latitude=40.7128, longitude=-74.0060, country="US")
NO_WEEKDAY = frozenset()  # what `working_days` "" or "x" reads as


# --- Validation where staff enter it -------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("days", ["12345", "7", "1234567", "61"])
def test_iso_weekday_digits_are_valid_working_days(days):
    location = LocationFactory.build(code="WH-X", working_days=days)

    location.full_clean()


@pytest.mark.django_db
@pytest.mark.parametrize("days", ["", "0", "89", "1,2", "mon", "112"])
def test_working_days_without_valid_weekdays_are_refused_on_the_field(days):
    location = LocationFactory.build(code="WH-X", working_days=days)

    with pytest.raises(ValidationError) as error:
        location.full_clean()

    assert list(error.value.message_dict) == ["working_days"]


def test_the_cut_off_help_says_the_order_time_counts_on_the_utc_clock():
    help_text = Location._meta.get_field("cutoff_time").help_text
    assert "Orders placed at or after this time" in help_text
    assert "UTC" in help_text
    assert "released" not in help_text


# --- The promise never loops on a calendar without a weekday -------------------------------


@pytest.mark.parametrize("weekdays", [frozenset(), frozenset({0}), frozenset({8, 9})])
def test_next_working_day_refuses_a_calendar_without_a_weekday(weekdays):
    # Before, weekdays 0, 8 or 9 alone walked the calendar to the year 9999 and overflowed.
    with pytest.raises(ValueError, match="at least one working weekday"):
        next_working_day(date(2026, 11, 24), Calendar(working_weekdays=weekdays))


# --- The engine leaves such a location out, and says why -----------------------------------


SERVICE = Service(
    carrier_service_id=1,
    carrier_code="ups",
    service_level_code="standard",
    rates=(RateBand(5000, Decimal("50"), Decimal("5.00"), Decimal("1.00"), 2),),
)


def candidate(location_id, code, *, latitude, weekdays=frozenset({1, 2, 3, 4, 5}), **extra):
    fields = {
        "location_id": location_id,
        "code": code,
        "type": "warehouse",
        "latitude": latitude,
        "longitude": -74.0,
        "priority": 100,
        "handling_days": 1,
        "ships": True,
        "pickup": False,
        "calendar": Calendar(cutoff=time(14, 0), working_weekdays=weekdays),
        "available": {1: 5},
        "stock_level_ids": {1: location_id * 10},
    }
    fields.update(extra)
    return Candidate(**fields)


def request_for(*candidates, pickup_location_id=None):
    return SourcingRequest(
        lines=(Line(line_number=1, sku_id=1, quantity=2, unit_weight_kg=Decimal("0.5")),),
        destination=NEW_YORK,
        candidates=candidates,
        services=(SERVICE,),
        rules=Rules(
            ship_location_types=frozenset({"warehouse", "store"}),
            pickup_location_types=frozenset({"store"}),
        ),
        ordered_at=ORDERED_AT,
        service_level_code=None if pickup_location_id else "standard",
        pickup_location_id=pickup_location_id,
    )


def test_a_location_without_working_days_ships_nothing_and_the_plan_says_why():
    idle = candidate(1, "WH-IDLE", latitude=40.8, weekdays=NO_WEEKDAY)  # nearest, but never works
    working = candidate(2, "WH-FAR", latitude=42.0)

    plan = source(request_for(idle, working))

    assert [s.location_code for s in plan.shipments] == ["WH-FAR"]
    assert plan.unfilled == {}
    assert any("WH-IDLE (has no working days: it never ships)" in s for s in plan.explanation)


@pytest.mark.parametrize("weekdays", [NO_WEEKDAY, frozenset({0})])
def test_when_only_such_a_location_holds_the_stock_the_line_is_unfilled(weekdays):
    plan = source(request_for(candidate(1, "WH-IDLE", latitude=40.8, weekdays=weekdays)))

    assert plan.shipments == ()
    assert plan.unfilled == {1: 2}
    assert plan.promised_date is None


def test_a_pickup_store_without_working_days_refuses_the_pickup():
    store = candidate(
        3, "STORE-IDLE", latitude=40.75, weekdays=NO_WEEKDAY, type="store", pickup=True
    )
    warehouse = candidate(2, "WH-FAR", latitude=42.0)

    plan = source(request_for(store, warehouse, pickup_location_id=3))

    assert plan.shipments == ()
    assert plan.unfilled == {1: 2}
    assert plan.explanation[0] == "STORE-IDLE has no working days: it never hands over."
    # Transfers to a store that works are unaffected by the idle one.
    open_store = replace(store, calendar=Calendar())
    assert source(request_for(open_store, warehouse, pickup_location_id=3)).unfilled == {}


# --- Capture: sourced elsewhere or refused, never a 500 ------------------------------------


@pytest.fixture
def idle_warehouse(catalogue):
    """The nearest, most preferred warehouse, whose working days were saved before they were
    validated: they name no weekday."""
    idle = LocationFactory(code="WH-IDLE", priority=1, latitude="40.710000", longitude="-74.000000")
    for sku in catalogue:
        stock(sku, idle, 10)
    Location.objects.filter(pk=idle.pk).update(working_days="x")  # bypasses validation
    return idle


def test_capture_sources_around_a_location_without_working_days(
    channel_client, catalogue, warehouse, idle_warehouse
):
    response = channel_client.post(
        ORDERS_URL, order_payload(), format="json", HTTP_IDEMPOTENCY_KEY="idle-1"
    )

    assert response.status_code == 201, response.content
    order = Order.objects.get(number=response.json()["number"])
    assert set(
        Reservation.objects.filter(order_line__order=order).values_list("location__code", flat=True)
    ) == {"WH-EAST"}
    sourced = order.events.get(kind=OrderEvent.Kind.SOURCED)
    assert "WH-IDLE (has no working days: it never ships)" in sourced.message


def test_capture_is_refused_when_only_such_a_location_holds_the_stock(
    channel_client, catalogue, warehouse, idle_warehouse
):
    Location.objects.filter(pk=warehouse.pk).update(is_active=False)  # set-up

    response = channel_client.post(
        ORDERS_URL, order_payload(), format="json", HTTP_IDEMPOTENCY_KEY="idle-2"
    )

    assert response.status_code == 409, response.content
    assert response.json()["code"] == "insufficient_stock"
    assert not Order.objects.exists()
