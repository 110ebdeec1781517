"""Promise dates. The fulfillment issue adds cut-off times, holidays and carrier calendars;
every caller already goes through `promise_date` so that change lands in one place."""

from __future__ import annotations

from datetime import date, datetime, timedelta

SATURDAY = 5


def add_working_days(start: date, days: int) -> date:
    current = start
    while current.weekday() >= SATURDAY:
        current += timedelta(days=1)
    remaining = days
    while remaining > 0:
        current += timedelta(days=1)
        if current.weekday() < SATURDAY:
            remaining -= 1
    return current


def promise_date(*, placed_at: datetime, handling_days: int, transit_days: int) -> date:
    """Order time -> handling at the location -> carrier transit -> delivery, in working days."""
    return add_working_days(placed_at.date(), handling_days + transit_days)
