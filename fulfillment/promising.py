"""The one promise function: order time → next cut-off at the location → handling → transit.

Used by capture, delivery options, sourcing and (later) jeopardy; pure, so every caller gets
the same date for the same inputs.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from fulfillment.sourcing.types import Calendar


def is_working_day(day: date, calendar: Calendar) -> bool:
    return day.isoweekday() in calendar.working_weekdays and day not in calendar.holidays


def next_working_day(day: date, calendar: Calendar) -> date:
    """`day` itself if the location works that day, else the next day it does."""
    if not calendar.working_weekdays:
        raise ValueError("A location calendar needs at least one working weekday.")
    current = day
    while not is_working_day(current, calendar):
        current += timedelta(days=1)
    return current


def handover_date(*, ordered_at: datetime, calendar: Calendar, handling_days: int) -> date:
    """The day the parcel leaves the location (or is ready at the store)."""
    start = ordered_at.date()
    if ordered_at.time() >= calendar.cutoff or not is_working_day(start, calendar):
        start = next_working_day(start + timedelta(days=1), calendar)
    day = start
    for _ in range(handling_days):
        day = next_working_day(day + timedelta(days=1), calendar)
    return day


def delivery_date(handover: date, transit_days: int) -> date:
    """Carriers deliver Monday to Friday."""
    day = handover
    remaining = transit_days
    while remaining > 0:
        day += timedelta(days=1)
        if day.isoweekday() <= 5:
            remaining -= 1
    return day


def promise_date(
    *, ordered_at: datetime, calendar: Calendar, handling_days: int, transit_days: int
) -> date:
    return delivery_date(
        handover_date(ordered_at=ordered_at, calendar=calendar, handling_days=handling_days),
        transit_days,
    )
