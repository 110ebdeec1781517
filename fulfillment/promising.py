"""The one promise function: order time → next cut-off at the location → handling → transit.

Used by capture, delivery options, sourcing and (later) jeopardy; pure, so every caller gets
the same date for the same inputs.

Time zone: a location's cut-off (`Location.cutoff_time`) is a UTC wall-clock time, and the
calendar days it works are UTC dates. So the order time is read in UTC whatever zone the
caller's datetime carries: 10:00 in New York (15:00 UTC) is past a 14:00 cut-off. Naive
datetimes are taken as UTC (settings.TIME_ZONE). Until this normalisation, an aware datetime
in another zone was compared by its local clock, so the same instant got a different promise
depending on how the caller happened to express it.

Days:
- an order at or after the cut-off, or on a day the location does not work, starts handling
  on the location's next working day (its `working_days`, minus holidays);
- each handling day moves to the location's next working day; with no handling days the parcel
  leaves (or is ready at the store) the day handling starts;
- each transit day moves to the next day carriers deliver: Monday to Friday, minus every
  holiday in the calendar. The calendar cannot tell a network-wide holiday (carriers rest too)
  from a location's own closure (carriers still deliver), so transit skips both: a promise one
  day late is kept, one on a public holiday is broken.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from fulfillment.sourcing.types import Calendar

CARRIER_WEEKDAYS = frozenset({1, 2, 3, 4, 5})  # ISO weekdays carriers deliver on
ISO_WEEKDAYS = frozenset(range(1, 8))


def as_utc(moment: datetime) -> datetime:
    """`moment` on the UTC clock, the clock cut-offs are set on; naive means UTC already."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        return moment
    return moment.astimezone(UTC)


def is_working_day(day: date, calendar: Calendar) -> bool:
    return day.isoweekday() in calendar.working_weekdays and day not in calendar.holidays


def next_working_day(day: date, calendar: Calendar) -> date:
    """`day` itself if the location works that day, else the next day it does."""
    if not calendar.working_weekdays & ISO_WEEKDAYS:
        # Weekdays 0, 8 or 9 alone would otherwise walk to the year 9999 and overflow.
        raise ValueError("A location calendar needs at least one working weekday.")
    current = day
    while not is_working_day(current, calendar):
        current += timedelta(days=1)
    return current


def handover_date(*, ordered_at: datetime, calendar: Calendar, handling_days: int) -> date:
    """The day the parcel leaves the location (or is ready at the store)."""
    ordered_at = as_utc(ordered_at)
    start = ordered_at.date()
    if ordered_at.time() >= calendar.cutoff or not is_working_day(start, calendar):
        start = next_working_day(start + timedelta(days=1), calendar)
    day = start
    for _ in range(handling_days):
        day = next_working_day(day + timedelta(days=1), calendar)
    return day


def delivery_date(
    handover: date, transit_days: int, holidays: frozenset[date] = frozenset()
) -> date:
    """Carriers deliver Monday to Friday, not on holidays."""
    day = handover
    remaining = transit_days
    while remaining > 0:
        day += timedelta(days=1)
        if day.isoweekday() in CARRIER_WEEKDAYS and day not in holidays:
            remaining -= 1
    return day


def promise_date(
    *, ordered_at: datetime, calendar: Calendar, handling_days: int, transit_days: int
) -> date:
    return delivery_date(
        handover_date(ordered_at=ordered_at, calendar=calendar, handling_days=handling_days),
        transit_days,
        calendar.holidays,
    )
