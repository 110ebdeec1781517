"""Promise dates: order time → the location's next cut-off → handling → transit → delivery.

Cut-offs are UTC wall-clock times (`Location.cutoff_time`; settings.TIME_ZONE is UTC), so an
order time in any zone is read on the UTC clock. The week used throughout:

    Mon 2 Mar 2026 … Fri 6, Sat 7, Sun 8, Mon 9, Tue 10, Wed 11, Thu 12, Fri 13
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from fulfillment.models import FulfillmentOrder, Holiday
from fulfillment.promising import handover_date, promise_date
from fulfillment.sourcing.inputs import candidates_for
from fulfillment.sourcing.service import source_order
from fulfillment.sourcing.types import Calendar
from orders.services import place_order
from tests.factories import LocationFactory, SKUFactory, order_payload, stock

NEW_YORK = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
TOKYO = ZoneInfo("Asia/Tokyo")
WAREHOUSE = Calendar()  # 14:00 UTC cut-off, Monday to Friday, no holidays
SATURDAY_STORE = Calendar(working_weekdays=frozenset({1, 2, 3, 4, 5, 6}))

MON, TUE, WED, THU, FRI = (date(2026, 3, d) for d in (2, 3, 4, 5, 6))
SAT, SUN = date(2026, 3, 7), date(2026, 3, 8)
NEXT_MON, NEXT_TUE, NEXT_WED, NEXT_THU, NEXT_FRI = (date(2026, 3, d) for d in (9, 10, 11, 12, 13))


def at(day: date, hour: int, minute: int = 0, tz=UTC) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=tz)


def promise(ordered_at, calendar=WAREHOUSE, handling=1, transit=2) -> date:
    return promise_date(
        ordered_at=ordered_at, calendar=calendar, handling_days=handling, transit_days=transit
    )


# --- Cut-off -------------------------------------------------------------------------------


def test_an_order_before_the_cut_off_starts_handling_the_same_day():
    assert handover_date(ordered_at=at(MON, 10), calendar=WAREHOUSE, handling_days=0) == MON
    assert handover_date(ordered_at=at(MON, 10), calendar=WAREHOUSE, handling_days=1) == TUE
    assert promise(at(MON, 10)) == THU  # handed over Tuesday, two days in transit


def test_an_order_after_the_cut_off_starts_handling_the_next_working_day():
    assert handover_date(ordered_at=at(MON, 15), calendar=WAREHOUSE, handling_days=0) == TUE
    assert promise(at(MON, 15)) == FRI  # handling starts Tuesday, hand-over Wednesday


def test_an_order_at_the_cut_off_exactly_has_missed_it():
    assert promise(at(MON, 14)) == promise(at(MON, 15)) == FRI
    assert promise(at(MON, 13, 59)) == THU


def test_the_cut_off_is_the_locations_own():
    late_cut_off = Calendar(cutoff=time(18, 0))
    assert promise(at(MON, 15), calendar=late_cut_off) == THU
    assert promise(at(MON, 15), calendar=WAREHOUSE) == FRI


# --- Weekends ------------------------------------------------------------------------------


def test_friday_after_the_cut_off_is_handled_from_monday():
    assert handover_date(ordered_at=at(FRI, 16), calendar=WAREHOUSE, handling_days=0) == NEXT_MON
    assert handover_date(ordered_at=at(FRI, 16), calendar=WAREHOUSE, handling_days=1) == NEXT_TUE
    assert promise(at(FRI, 16)) == NEXT_THU


def test_friday_before_the_cut_off_is_handed_over_friday_and_transit_skips_the_weekend():
    assert promise(at(FRI, 9), handling=0, transit=1) == NEXT_MON
    assert promise(at(FRI, 9), handling=1, transit=1) == NEXT_TUE  # handling skips it too


@pytest.mark.parametrize("ordered_at", [at(SAT, 9), at(SAT, 20), at(SUN, 9)])
def test_a_weekend_order_waits_for_monday_whatever_the_hour(ordered_at):
    assert promise(ordered_at, handling=0, transit=0) == NEXT_MON
    assert promise(ordered_at) == NEXT_THU


# --- Holidays ------------------------------------------------------------------------------


def test_a_holiday_is_skipped_for_handling():
    tuesday_off = Calendar(holidays=frozenset({TUE}))
    assert handover_date(ordered_at=at(MON, 10), calendar=tuesday_off, handling_days=1) == WED
    assert promise(at(MON, 15), calendar=tuesday_off) == NEXT_MON  # starts Wed, out Thu


def test_an_order_on_a_holiday_starts_the_next_working_day():
    monday_off = Calendar(holidays=frozenset({MON}))
    assert promise(at(MON, 9), calendar=monday_off, handling=0, transit=0) == TUE


def test_carriers_do_not_deliver_on_a_holiday():
    christmas = date(2026, 12, 25)  # a Friday
    calendar = Calendar(holidays=frozenset({christmas}))
    ordered = at(date(2026, 12, 23), 10)  # Wednesday, handed over the same day
    # Thursday is the first transit day; Christmas and the weekend are not.
    assert promise(ordered, calendar=calendar, handling=0, transit=2) == date(2026, 12, 28)
    assert promise(ordered, calendar=WAREHOUSE, handling=0, transit=2) == christmas


@pytest.mark.django_db
def test_holidays_come_from_the_location_and_from_the_whole_network():
    sku = SKUFactory(code="SKU-A")
    east = LocationFactory(code="WH-EAST")
    west = LocationFactory(code="WH-WEST")
    stock(sku, east, 1)
    stock(sku, west, 1)
    Holiday.objects.create(date=TUE, name="Stocktake", location=east)
    Holiday.objects.create(date=NEXT_MON, name="Network day off")  # every location

    calendars = {
        c.code: c.calendar for c in candidates_for([sku.pk], ordered_at=at(MON, 15, tz=UTC))
    }

    assert calendars["WH-EAST"].holidays == {TUE, NEXT_MON}
    assert calendars["WH-WEST"].holidays == {NEXT_MON}
    # After Monday's cut-off: east is closed Tuesday, so it hands over Thursday, not Wednesday.
    assert promise(at(MON, 15), calendar=calendars["WH-WEST"], transit=1) == THU
    assert promise(at(MON, 15), calendar=calendars["WH-EAST"], transit=1) == FRI
    # Delivery skips the network-wide Monday.
    assert promise(at(MON, 15), calendar=calendars["WH-EAST"], transit=2) == NEXT_TUE


@pytest.mark.django_db
def test_holidays_are_read_for_the_utc_day_of_the_order():
    # 00:30 Tuesday in Berlin is 23:30 Monday UTC: before this location's 23:45 cut-off, on
    # Monday, which is a holiday. The holiday must be loaded although Berlin is on Tuesday.
    sku = SKUFactory(code="SKU-A")
    stock(sku, LocationFactory(code="WH-LATE", cutoff_time=time(23, 45)), 1)
    Holiday.objects.create(date=MON, name="Network day off")
    ordered_at = at(TUE, 0, 30, tz=BERLIN)

    (candidate,) = candidates_for([sku.pk], ordered_at=ordered_at)

    assert MON in candidate.calendar.holidays
    assert promise(ordered_at, calendar=candidate.calendar, handling=0, transit=0) == TUE


# --- Custom working days -------------------------------------------------------------------


def test_a_store_open_on_saturday_works_it():
    # Friday after the cut-off: the store starts Saturday, the warehouse Monday.
    assert promise(at(FRI, 16), calendar=SATURDAY_STORE, handling=0, transit=0) == SAT
    assert promise(at(FRI, 16), calendar=WAREHOUSE, handling=0, transit=0) == NEXT_MON
    # One handling day from Saturday is Monday: the store is closed on Sunday.
    assert promise(at(FRI, 16), calendar=SATURDAY_STORE, handling=1, transit=0) == NEXT_MON
    # Handed over Saturday, the carrier still delivers only on weekdays.
    assert promise(at(FRI, 16), calendar=SATURDAY_STORE, handling=0, transit=1) == NEXT_MON


def test_a_location_closed_on_mondays_starts_on_tuesday():
    tuesday_to_saturday = Calendar(working_weekdays=frozenset({2, 3, 4, 5, 6}))
    assert promise(at(NEXT_MON, 9), calendar=tuesday_to_saturday, handling=0, transit=0) == (
        NEXT_TUE
    )


@pytest.mark.django_db
def test_working_days_come_from_the_location():
    sku = SKUFactory(code="SKU-A")
    store = LocationFactory(code="STORE-NYC", type="store", working_days="123456")
    stock(sku, store, 1)
    (candidate,) = candidates_for([sku.pk], ordered_at=at(FRI, 16))
    assert candidate.calendar.working_weekdays == {1, 2, 3, 4, 5, 6}
    assert promise(at(FRI, 16), calendar=candidate.calendar, handling=0, transit=0) == SAT


# --- Time zones ----------------------------------------------------------------------------


def test_the_cut_off_is_read_on_the_utc_clock_whatever_zone_the_order_time_is_in():
    # 10:00 in New York is 15:00 UTC: past the 14:00 UTC cut-off.
    new_york_morning = at(MON, 10, tz=NEW_YORK)
    assert new_york_morning == at(MON, 15)
    assert promise(new_york_morning) == promise(at(MON, 15)) == FRI
    # 08:00 in New York is 13:00 UTC: still in time.
    assert promise(at(MON, 8, tz=NEW_YORK)) == THU


def test_the_day_is_the_utc_day():
    # Friday 21:00 in New York is Saturday 02:00 UTC: a weekend order.
    assert promise(at(FRI, 21, tz=NEW_YORK), handling=0, transit=0) == NEXT_MON
    # Tuesday 00:30 in Berlin is still Monday 23:30 UTC: after Monday's cut-off.
    assert promise(at(TUE, 0, 30, tz=BERLIN), handling=0, transit=0) == TUE
    # With a 23:00 UTC cut-off, 20:00 Monday in New York (01:00 Tuesday UTC) has missed
    # Monday's hand-over, though the New York clock still reads Monday before 23:00.
    late_cut_off = Calendar(cutoff=time(23, 0))
    assert promise(at(MON, 20, tz=NEW_YORK), late_cut_off, handling=0, transit=0) == TUE
    assert promise(at(MON, 22), late_cut_off, handling=0, transit=0) == MON


def test_a_naive_order_time_is_taken_as_utc():
    assert promise(datetime(2026, 3, 2, 15, 0)) == promise(at(MON, 15))


# --- Properties ----------------------------------------------------------------------------

ZONES = st.sampled_from([UTC, NEW_YORK, BERLIN, TOKYO])


ORDER_TIMES = st.datetimes(
    min_value=datetime(2026, 1, 1),
    max_value=datetime(2027, 12, 31),
    timezones=ZONES,
    allow_imaginary=False,
)


@st.composite
def orders_and_calendars(draw) -> tuple[datetime, Calendar]:
    """An order time and a location calendar whose holidays fall in the weeks after it."""
    ordered_at = draw(ORDER_TIMES)
    first_day = ordered_at.astimezone(UTC).date()
    offsets = draw(st.frozensets(st.integers(-1, 30), max_size=12))
    return ordered_at, Calendar(
        cutoff=draw(st.times()),
        working_weekdays=draw(st.frozensets(st.integers(1, 7), min_size=1)),
        holidays=frozenset(first_day + timedelta(days=n) for n in offsets),
    )


@settings(max_examples=300, deadline=None)
@given(order=orders_and_calendars(), handling=st.integers(0, 5), transit=st.integers(0, 7))
def test_a_promise_is_never_early_and_never_on_a_day_off(order, handling, transit):
    ordered_at, calendar = order
    promised = promise(ordered_at, calendar=calendar, handling=handling, transit=transit)
    handover = handover_date(ordered_at=ordered_at, calendar=calendar, handling_days=handling)
    order_day = ordered_at.astimezone(UTC).date()

    assert promised >= order_day + timedelta(days=handling + transit)
    assert handover.isoweekday() in calendar.working_weekdays
    assert handover not in calendar.holidays
    assert promised not in calendar.holidays
    if transit:
        assert promised.isoweekday() <= 5  # carriers deliver Monday to Friday
    else:
        assert promised == handover  # ready at the location, on a day it works


@settings(max_examples=200, deadline=None)
@given(
    order=orders_and_calendars(),
    later_by=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=9)),
    handling=st.integers(0, 3),
    transit=st.integers(0, 4),
    zone=ZONES,
)
def test_ordering_later_never_earns_an_earlier_promise_and_the_zone_never_matters(
    order, later_by, handling, transit, zone
):
    ordered_at, calendar = order
    first = promise(ordered_at, calendar=calendar, handling=handling, transit=transit)
    later = promise(ordered_at + later_by, calendar=calendar, handling=handling, transit=transit)
    same_instant = promise(
        ordered_at.astimezone(zone), calendar=calendar, handling=handling, transit=transit
    )
    assert later >= first
    assert same_instant == first


# --- Capture uses the same function --------------------------------------------------------


@pytest.fixture
def frozen_clock(monkeypatch):
    """Freezes `django.utils.timezone.now`, which capture reads when the order is placed."""

    def freeze(moment: datetime) -> None:
        monkeypatch.setattr(timezone, "now", lambda: moment)

    return freeze


def capture(channel, **overrides):
    payload = order_payload(**overrides)
    return place_order(
        channel=channel, **{k: payload[k] for k in ("customer", "lines", "delivery", "payment")}
    ).order


@pytest.mark.django_db
def test_capture_after_fridays_cut_off_promises_what_the_function_gives(
    catalogue, warehouse, channel, frozen_clock
):
    friday_evening = at(FRI, 16)
    frozen_clock(friday_evening)

    order = capture(channel)

    expected = promise_date(
        ordered_at=friday_evening,
        calendar=WAREHOUSE,  # the warehouse: 14:00 UTC cut-off, Monday to Friday
        handling_days=warehouse.handling_days,
        transit_days=3,  # the standard service's only rate band
    )
    assert order.placed_at == friday_evening
    # Handling starts Monday, hand-over Tuesday, three transit days: Friday.
    assert order.promised_date == expected == NEXT_FRI
    source_order(order_id=order.pk)
    assert FulfillmentOrder.objects.get(order=order).promised_date == NEXT_FRI


@pytest.mark.django_db
def test_capture_before_the_cut_off_and_around_a_holiday(
    catalogue, warehouse, channel, frozen_clock
):
    frozen_clock(at(MON, 9))
    assert capture(channel).promised_date == FRI  # out Tuesday, three days in transit

    Holiday.objects.create(date=NEXT_TUE, name="Network day off")
    frozen_clock(at(FRI, 16))
    # Hand-over moves from Tuesday to Wednesday: delivery moves from Friday to Monday.
    assert capture(channel).promised_date == date(2026, 3, 16)
