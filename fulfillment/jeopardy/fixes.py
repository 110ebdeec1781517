"""Fixes staff apply to an order in jeopardy, each from one of its alerts: re-source the
order, expedite it, ship what is ready (split), cancel the late lines, tell the customer a new
date.

Each locks the order and the alert (`services.lock_live_alert`: a resolved alert is refused),
reuses the service that owns the change (fulfillment.changes, the sourcing job's steps, the
one promise function, the customer notifications), writes one `jeopardy` event on the order's
timeline with the actor, the note and the numbers (old and new dates), and acknowledges an
open alert. A fix with nothing left to do says so with a `DomainError` rather than doing
anything twice; announcing the same date for the same alert sends one email.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from fulfillment import reference_cache
from fulfillment.changes import (
    _back_to_sourcing,
    _cancel_fulfillment_orders,
    _open_fulfillment_ids,
    _release_units,
    change_order_lines,
)
from fulfillment.geo import locate
from fulfillment.jeopardy.models import JeopardyAlert
from fulfillment.jeopardy.services import acknowledge_on_action, alert_event, lock_live_alert
from fulfillment.models import OPEN_FULFILLMENT_STATUSES, FulfillmentLine, FulfillmentOrder
from fulfillment.notifications import notify_customer
from fulfillment.promising import as_utc, promise_date
from fulfillment.services import create_fulfillment_orders, release_pending, uncovered_reservations
from fulfillment.sourcing.inputs import HOLIDAY_HORIZON
from fulfillment.sourcing.rates import distance_km, parcel_price, rate_for
from fulfillment.sourcing.service import engine_decisions, outstanding_units, reserve_outstanding
from fulfillment.sourcing.types import Calendar
from inventory.models import Location, Reservation
from oms.core.errors import DomainError, IllegalTransition, InvalidInput
from oms.core.tasks import enqueue_on_commit
from orders.models import Order, OrderEvent, ServiceLevel
from orders.services import CHANGEABLE, reservation_event

FOStatus = FulfillmentOrder.Status
# Parcels that have not left: expediting can still change how they travel.
EXPEDITABLE = (FOStatus.PENDING, FOStatus.RELEASED, FOStatus.PICKING, FOStatus.PACKED)


@transaction.atomic
def resource_order_for_alert(
    *, alert: JeopardyAlert, actor: Any = None, note: str = ""
) -> JeopardyAlert:
    """Send the order back to sourcing: cancel the troubled fulfillment order (the alert's, or
    every open one when the alert is about the whole order), give back its stock and plan it
    again from what is available now, with a new promise.

    The steps are fulfillment.changes' (cancel, release, back to sourcing) and the sourcing
    job's (reserve what is outstanding); the job creates the new fulfillment orders after
    commit. The released units stay locked until the new reservations are made. The engine
    may choose the same location if it still has the stock and is still the best choice: a
    re-source moves work away from a location whose stock vanished, not from a slow one.
    """
    alert = lock_live_alert(alert.pk)
    order = alert.order
    if order.status not in CHANGEABLE:
        raise IllegalTransition(
            f"Order {order.number} is {Order.Status(order.status).label.lower()}; it can no "
            "longer be re-sourced.",
            status=order.status,
        )
    fo_ids = _open_fulfillment_ids(order)
    if alert.fulfillment_order_id:
        fo_ids = [pk for pk in fo_ids if pk == alert.fulfillment_order_id]
    if not fo_ids and not outstanding_units(order):
        raise DomainError(
            f"Nothing to re-source on order {order.number}: no open fulfillment for this alert "
            "and no unit waiting for stock.",
            code="nothing_to_resource",
        )
    old_date = order.promised_date
    held = {
        reservation.pk: reservation
        for reservation in Reservation.objects.filter(
            pk__in=FulfillmentLine.objects.filter(fulfillment_order_id__in=fo_ids).values(
                "reservation_id"
            ),
            state=Reservation.State.ACTIVE,
        ).select_related("sku", "location")
    }
    reason = f"re-sourced for jeopardy alert #{alert.pk}"
    cancelled = _cancel_fulfillment_orders(order, fo_ids, actor=actor, note=reason)
    _release_units(order, {pk: r.quantity for pk, r in held.items()}, held, actor=actor)
    outstanding = outstanding_units(order)
    short: dict[int, int] = {}
    if outstanding:
        decided = reserve_outstanding(order, outstanding, actor)
        plan = decided.allocation
        short = dict(plan.shortfalls)
        if plan.allocations:
            codes = {number: line.sku_code for number, (line, _) in outstanding.items()}
            reservation_event(
                order=order, plan=plan, sku_codes=codes, actor=actor, heading="Reserved anew:"
            ).save()
        if not short and decided.promised_date and decided.promised_date != order.promised_date:
            order.promised_date = decided.promised_date
            order.save(update_fields=["promised_date", "updated_at"])
    _back_to_sourcing(order, resourcing=True, actor=actor)
    summary = (
        "re-sourced: cancelled "
        + (", ".join(f"FO-{fo.pk} at {fo.location.code}" for fo in cancelled) or "nothing")
        + f"; promised {_day(old_date)} → {_day(order.promised_date)}"
        + (f"; {sum(short.values())} unit(s) still backordered" if short else "")
    )
    alert_event(
        alert,
        "resource",
        summary,
        actor=actor,
        note=note,
        data={
            "cancelled": [fo.pk for fo in cancelled],
            "old_date": _iso(old_date),
            "new_date": _iso(order.promised_date),
            "backordered": {str(number): units for number, units in short.items()},
        },
    )
    return acknowledge_on_action(alert, actor)


@dataclass(frozen=True, slots=True)
class _Quote:
    carrier_service_id: int
    label: str
    transit_days: int
    cost: Decimal


@transaction.atomic
def expedite_order(
    *,
    alert: JeopardyAlert,
    actor: Any = None,
    service_level: ServiceLevel | None = None,
    note: str = "",
) -> JeopardyAlert:
    """Move the order's unshipped parcels to a faster service level and promise again.

    Without `service_level`, the fastest active level that is faster than the order's and has
    a carrier for every parcel (its distance and weight). Each parcel gets that level's fastest
    carrier service (then the cheapest), its new cost and a new date from the one promise
    function: from now, through the location's next cut-off, its handling days (none once
    packed) and the new transit. The order's service level and promised date follow (with units
    still backordered the order has no honest date, and keeps its own); what the customer paid
    does not change — the upgrade is the company's cost of being late. Refused when the order
    has shipped, is collected at a store, no faster service exists, or none would arrive sooner.
    Only parcels we ship ourselves change: a drop-ship vendor chooses its own carrier.
    """
    alert = lock_live_alert(alert.pk)
    order = alert.order
    if order.delivery_method != Order.DeliveryMethod.SHIP or order.service_level is None:
        raise DomainError(
            f"Order {order.number} is collected at a store: there is no delivery to expedite.",
            code="nothing_to_expedite",
        )
    if order.status in (Order.Status.SHIPPED, Order.Status.COMPLETED, Order.Status.CANCELLED):
        raise DomainError(
            f"Order {order.number} is {Order.Status(order.status).label.lower()}: there is "
            "nothing left to expedite.",
            code="already_shipped",
        )
    parcels = list(
        FulfillmentOrder.objects.select_for_update(of=("self",))
        .select_related("location")
        .filter(order=order, kind=FulfillmentOrder.Kind.SHIP, status__in=EXPEDITABLE)
        .order_by("pk")
    )
    if not parcels:
        raise DomainError(
            f"Nothing to expedite on order {order.number}: every parcel has left, or none is "
            "planned yet (re-source it first).",
            code="already_shipped",
        )
    current = order.service_level
    faster = ServiceLevel.objects.filter(is_active=True, transit_days__lt=current.transit_days)
    if service_level is not None:
        if not faster.filter(pk=service_level.pk).exists():
            raise InvalidInput(
                {"service_level": f"{service_level.name} is not faster than {current.name}."}
            )
        levels = [service_level]
    else:
        levels = list(faster.order_by("transit_days", "code"))
    weights = _parcel_weights(parcels)
    destination = locate(order.ship_to)
    distances = {
        fo.pk: float(fo.distance_km)
        or (
            distance_km(*destination, float(fo.location.latitude), float(fo.location.longitude))
            if destination
            else 0.0
        )
        for fo in parcels
    }
    services = reference_cache.current().services
    chosen, quotes = None, {}
    for level in levels:
        quotes = {
            fo.pk: _fastest(services, level.code, distances[fo.pk], weights[fo.pk])
            for fo in parcels
        }
        if all(quotes.values()):
            chosen = level
            break
    if chosen is None:
        raise DomainError(
            f"No service faster than {current.name} can carry order {order.number}'s "
            "parcels (their distance and weight).",
            code="no_faster_service",
        )
    now = timezone.now()
    current_quotes = {
        fo.pk: _fastest(services, current.code, distances[fo.pk], weights[fo.pk]) for fo in parcels
    }
    changes = []
    for fo in parcels:
        calendar = _calendar(fo.location, now)
        handling = 0 if fo.status == FOStatus.PACKED else fo.location.handling_days
        quote = quotes[fo.pk]
        slow = current_quotes[fo.pk]
        old_transit = slow.transit_days if slow else current.transit_days
        as_is = promise_date(
            ordered_at=now, calendar=calendar, handling_days=handling, transit_days=old_transit
        )
        new = promise_date(
            ordered_at=now,
            calendar=calendar,
            handling_days=handling,
            transit_days=quote.transit_days,
        )
        changes.append((fo, quote, as_is, new))
    if all(new >= as_is for _, _, as_is, new in changes):
        raise DomainError(
            f"{chosen.name} would not bring any parcel of order {order.number} sooner.",
            code="no_faster_service",
        )
    details = []
    for fo, quote, _, new in changes:
        details.append(
            {
                "fulfillment": fo.pk,
                "service": quote.label,
                "cost": str(quote.cost),
                "old_date": _iso(fo.promised_date),
                "new_date": new.isoformat(),
                # Its label names the old carrier service.
                "relabel": fo.status == FOStatus.PACKED,
            }
        )
        fo.carrier_service_id = quote.carrier_service_id
        fo.shipping_cost_amount = quote.cost
        fo.promised_date = new
        fo.save(
            update_fields=["carrier_service", "shipping_cost_amount", "promised_date", "updated_at"]
        )
    old_date = order.promised_date
    order.service_level = chosen
    if not order.lines.filter(quantity_backordered__gt=0).exists():
        others = (
            FulfillmentOrder.objects.filter(order=order, promised_date__isnull=False)
            .exclude(pk__in=[fo.pk for fo in parcels])
            .exclude(status__in=(FOStatus.CANCELLED, FOStatus.DELIVERED, FOStatus.PICKED_UP))
            .values_list("promised_date", flat=True)
        )
        order.promised_date = max([new for *_, new in changes] + list(others))
    order.save(update_fields=["service_level", "promised_date", "updated_at"])
    alert_event(
        alert,
        "expedite",
        f"expedited from {current.name} to {chosen.name}: "
        + ", ".join(
            f"FO-{d['fulfillment']} by {d['service']} on {d['new_date']}"
            + (" (packed: print a new label)" if d["relabel"] else "")
            for d in details
        )
        + f"; promised {_day(old_date)} → {_day(order.promised_date)}",
        actor=actor,
        note=note,
        data={
            "from_service_level": current.code,
            "to_service_level": chosen.code,
            "parcels": details,
            "old_date": _iso(old_date),
            "new_date": _iso(order.promised_date),
        },
    )
    return acknowledge_on_action(alert, actor)


@transaction.atomic
def split_late_lines(*, alert: JeopardyAlert, actor: Any = None, note: str = "") -> JeopardyAlert:
    """Ship what is ready now and leave the rest backordered.

    The simplest honest split: an order whose channel holds everything back until the whole
    order is there (backorder policy `hold`) has units reserved that wait for the backordered
    ones. Splitting hands those reserved units to their locations now — fulfillment orders
    created and released as the sourcing job would — and leaves the backordered units to the
    backorder process (re-sourced when stock arrives; the new parcel follows then). Refused when
    nothing is backordered (nothing is late to split off), when nothing reserved is waiting
    (the ready part is already with fulfillment, or nothing is ready), or while the order is on
    hold. The order stays `backordered` until the rest arrives.
    """
    alert = lock_live_alert(alert.pk)
    order = alert.order
    if order.status not in (Order.Status.PLACED, Order.Status.BACKORDERED):
        raise IllegalTransition(
            f"Order {order.number} is {Order.Status(order.status).label.lower()}; only an "
            "order waiting for stock can be split.",
            status=order.status,
        )
    late = list(order.lines.filter(quantity_backordered__gt=0).order_by("line_number"))
    if not late:
        raise DomainError(
            f"Order {order.number} has no backordered units: nothing late to split off.",
            code="nothing_to_split",
        )
    if order.is_on_hold:
        raise DomainError(
            f"Order {order.number} is on hold: release the hold first.", code="on_hold"
        )
    ready = uncovered_reservations(order)
    pending = order.fulfillment_orders.filter(status=FOStatus.PENDING).exists()
    if not ready and not pending:
        raise DomainError(
            f"Nothing of order {order.number} is waiting to ship: what is in stock is already "
            "with fulfillment, or nothing is in stock yet.",
            code="nothing_ready",
        )
    decisions, _ = engine_decisions(order)
    created = create_fulfillment_orders(
        order=order, shipments=decisions, actor=actor, release=True, reservations=ready
    )
    released = created + (release_pending(order, actor=actor) if pending else [])
    waiting = ", ".join(f"{line.quantity_backordered} × {line.sku_code}" for line in late)
    alert_event(
        alert,
        "split",
        "split: shipping what is ready now ("
        + ", ".join(f"FO-{fo.pk} at {fo.location.code}" for fo in released)
        + f"); {waiting} stay backordered",
        actor=actor,
        note=note,
        data={
            "released": [fo.pk for fo in released],
            "backordered": {str(line.line_number): line.quantity_backordered for line in late},
        },
    )
    return acknowledge_on_action(alert, actor)


def late_units(alert: JeopardyAlert) -> dict[int, int]:
    """line number → the units this alert is about: the unshipped units of its fulfillment
    order while that is open, else the order's backordered units."""
    units: dict[int, int] = defaultdict(int)
    fo = alert.fulfillment_order
    if fo is not None and fo.status in OPEN_FULFILLMENT_STATUSES:
        for number, quantity, shipped in fo.lines.values_list(
            "order_line__line_number", "quantity", "quantity_shipped"
        ):
            if quantity > shipped:
                units[number] += quantity - shipped
        return dict(units)
    for number, backordered in alert.order.lines.filter(quantity_backordered__gt=0).values_list(
        "line_number", "quantity_backordered"
    ):
        units[number] += backordered
    return dict(units)


@transaction.atomic
def cancel_late_lines(*, alert: JeopardyAlert, actor: Any = None, note: str = "") -> JeopardyAlert:
    """Cancel the late units (`late_units`) through the order-change service.

    `fulfillment.changes.change_order_lines` lowers the lines, releases stock, reprices the
    order and sends what remains back to sourcing; it picks which of a line's units go (those
    not reserved first, then the least advanced work), so the units cancelled are the late
    ones whenever the line has no other units in earlier stages. Cancelling every remaining
    unit cancels the order. Units already shipped are refused (409), as for any change.
    """
    alert = lock_live_alert(alert.pk)
    order = alert.order
    late = late_units(alert)
    if not late:
        raise DomainError(
            f"Order {order.number} has no late units for this alert: nothing to cancel.",
            code="nothing_to_cancel",
        )
    lines = {
        line.line_number: line
        for line in order.lines.filter(line_number__in=list(late)).order_by("pk")
    }
    wanted = [
        {
            "line_number": number,
            "quantity": max(line.quantity - line.quantity_cancelled - late[number], 0),
        }
        for number, line in sorted(lines.items())
    ]
    reason = f"late lines cancelled for jeopardy alert #{alert.pk}" + (f": {note}" if note else "")
    change_order_lines(order.pk, wanted, actor=actor, reason=reason)
    order.refresh_from_db()
    alert_event(
        alert,
        "cancel_lines",
        "cancelled late units: "
        + ", ".join(f"{late[n]} × {lines[n].sku_code} (line {n})" for n in sorted(lines)),
        actor=actor,
        note=note,
        data={"cancelled": {str(n): late[n] for n in sorted(lines)}, "order_status": order.status},
    )
    return acknowledge_on_action(alert, actor)


def new_date_notice(alert: JeopardyAlert, new_date: date) -> str:
    """The key that makes one email per alert and date."""
    return f"jeopardy:{alert.pk}:{new_date.isoformat()}"


@transaction.atomic
def notify_new_date(
    *,
    alert: JeopardyAlert,
    actor: Any = None,
    new_date: date | None = None,
    note: str = "",
) -> JeopardyAlert:
    """Email the customer the order's new date (the promised date, or `new_date`, which then
    becomes the promise); once per alert and date, after commit."""
    alert = lock_live_alert(alert.pk)
    order = alert.order
    new_date = new_date or order.promised_date
    if new_date is None:
        raise InvalidInput(
            {"new_date": f"Order {order.number} has no promised date: give the new date."}
        )
    if new_date < timezone.localdate():
        raise InvalidInput({"new_date": "The new date is in the past."})
    email = order.customer.email
    if not email:
        raise DomainError(
            f"The customer of order {order.number} has no email address: call them instead.",
            code="no_email",
        )
    notice = new_date_notice(alert, new_date)
    if OrderEvent.objects.filter(
        order=order, kind=OrderEvent.Kind.JEOPARDY, data__notice=notice
    ).exists():
        return alert  # this date was announced for this alert already
    old_date = order.promised_date
    if new_date != old_date:
        order.promised_date = new_date
        order.save(update_fields=["promised_date", "updated_at"])
    alert_event(
        alert,
        "notify_new_date",
        f"emailing {email} the new date {new_date.isoformat()}"
        + (f" (promised {_day(old_date)} before)" if new_date != old_date else ""),
        actor=actor,
        note=note,
        data={"notice": notice, "old_date": _iso(old_date), "new_date": new_date.isoformat()},
    )
    enqueue_on_commit(
        notify_customer,
        order.pk,
        "new_date",
        {"promised_date": new_date.isoformat(), "once": notice},
    )
    return acknowledge_on_action(alert, actor)


# --- Helpers ----------------------------------------------------------------------------------


def _parcel_weights(parcels: list[FulfillmentOrder]) -> dict[int, Decimal]:
    weights: dict[int, Decimal] = {fo.pk: Decimal("0") for fo in parcels}
    for fo_id, quantity, shipped, unit_weight in FulfillmentLine.objects.filter(
        fulfillment_order__in=parcels
    ).values_list("fulfillment_order_id", "quantity", "quantity_shipped", "sku__weight_kg"):
        weights[fo_id] += Decimal(unit_weight) * (quantity - shipped)
    return weights


def _fastest(services, level_code: str, km: float, weight: Decimal) -> _Quote | None:
    """The level's carrier service that delivers soonest (then cheapest) for this parcel."""
    best: _Quote | None = None
    for service in services:
        if service.service_level_code != level_code:
            continue
        band = rate_for(service, km, weight)
        if band is None:
            continue
        quote = _Quote(
            service.carrier_service_id,
            f"{service.carrier_code} {service.service_level_code}",
            band.transit_days,
            parcel_price(band, weight),
        )
        if best is None or (quote.transit_days, quote.cost) < (best.transit_days, best.cost):
            best = quote
    return best


def _calendar(location: Location, now: datetime) -> Calendar:
    """The location's calendar as the sourcing inputs build it (UTC days, holidays ahead)."""
    first = as_utc(now).date()
    last = first + HOLIDAY_HORIZON
    reference = reference_cache.current()
    return Calendar(
        cutoff=location.cutoff_time,
        working_weekdays=frozenset(int(d) for d in location.working_days if d.isdigit()),
        holidays=frozenset(
            reference.holidays_between(None, first, last)
            | reference.holidays_between(location.pk, first, last)
        ),
    )


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


def _day(day: date | None) -> str:
    return day.isoformat() if day else "no date"
