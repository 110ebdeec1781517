"""Promise dates for backordered units from incoming purchase orders.

A backordered line waits behind the older orders backordered for the same SKU (first placed,
first served), so its units arrive when open purchase orders have brought in everything
queued ahead of it plus its own (`inventory.selectors.earliest_supply_date`). From there the
usual promise applies: the sourcing engine plans the line as if the incoming units were on
the shelf at their destinations, ordered at the end of the day they arrive (put away first,
handled from the next working day), and its delivery date is the line's `supply_date`. No
open purchase order covering the line, or no way to deliver from where the goods arrive:
no date, as before.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from datetime import UTC, date, datetime, time
from decimal import Decimal

from django.db.models import Q, Sum

from fulfillment.geo import locate
from fulfillment.sourcing.engine import source
from fulfillment.sourcing.inputs import build_request, candidates_for, rules_for
from inventory.models import Location
from inventory.selectors import earliest_supply_date, incoming_supply
from orders.models import Order, OrderLine

# Goods are received and put away on the day they arrive; handling starts the next working day.
ARRIVAL_TIME = time(23, 59)


def _queued_ahead(order: Order, sku_ids: set[int]) -> dict[int, int]:
    """Backordered units of older open orders, per SKU: the supply they will take first."""
    rows = (
        OrderLine.objects.filter(sku_id__in=sku_ids, quantity_backordered__gt=0)
        .exclude(order__status=Order.Status.CANCELLED)
        .filter(
            Q(order__placed_at__lt=order.placed_at)
            | Q(order__placed_at=order.placed_at, order_id__lt=order.pk)
        )
        .values("sku_id")
        .annotate(units=Sum("quantity_backordered"))
        .values_list("sku_id", "units")
        .order_by()
    )
    return dict(rows)


def eligible_location_ids(order: Order) -> list[int]:
    """Where the order may be served from under its channel's rules (the desk asks too)."""
    rules = rules_for(order.channel)
    types = set(rules.ship_location_types)
    if order.delivery_method == Order.DeliveryMethod.PICKUP:
        types |= set(rules.pickup_location_types)  # the store itself, or transfers to it
    return list(
        Location.objects.filter(is_active=True, type__in=types)
        .exclude(pk__in=rules.excluded_location_ids)
        .values_list("pk", flat=True)
    )


def _destination(order: Order) -> tuple[float, float]:
    if order.pickup_location_id:
        store = order.pickup_location
        return float(store.latitude), float(store.longitude)
    return locate(order.ship_to or {}) or (0.0, 0.0)


def promise_from_supply(
    order: Order, line: OrderLine, arrival: date, location_ids: list[int]
) -> date | None:
    """The engine's date for the line's backordered units, stocked by what arrives by then."""
    stocked: dict[int, int] = defaultdict(int)
    for supply in incoming_supply(sku_ids=[line.sku_id], location_ids=location_ids, due_by=arrival):
        stocked[supply.location_id] += supply.quantity
    ordered_at = datetime.combine(arrival, ARRIVAL_TIME, tzinfo=UTC)
    include = list(stocked)
    if order.pickup_location_id:
        include.append(order.pickup_location_id)
    candidates = tuple(
        dataclasses.replace(
            candidate,
            available={line.sku_id: stocked.get(candidate.location_id, 0)},
            stock_level_ids={},
        )
        for candidate in candidates_for(
            [line.sku_id],
            ordered_at=ordered_at,
            include_location_ids=include,
        )
        if candidate.location_id in include
    )
    weight = Decimal(line.sku.weight_kg) * line.quantity_backordered
    request = build_request(
        channel=order.channel,
        lines=[_PlanningLine(line.line_number, line.sku_id, line.quantity_backordered, weight)],
        destination=_destination(order),
        ordered_at=ordered_at,
        service_level_code=order.service_level.code if order.service_level_id else None,
        pickup_location_id=order.pickup_location_id,
        candidates=candidates,
    )
    plan = source(request)
    if plan.unfilled:
        return None
    return plan.promised_date


@dataclasses.dataclass(frozen=True, slots=True)
class _PlanningLine:
    line_number: int
    sku_id: int
    quantity: int
    weight_kg: Decimal


def promise_backorders_from_supply(order: Order) -> list[OrderLine]:
    """Set (or clear) `supply_date` on the order's lines; returns the lines that changed.

    The caller holds the order's lock (the sourcing job does).
    """
    order = Order.objects.select_related("channel", "service_level", "pickup_location").get(
        pk=order.pk
    )
    lines = list(order.lines.select_related("sku").order_by("line_number"))
    backordered = [line for line in lines if line.quantity_backordered]
    dates: dict[int, date | None] = {}
    if backordered:
        ahead = _queued_ahead(order, {line.sku_id for line in backordered})
        location_ids = eligible_location_ids(order)
        for line in backordered:
            arrival = earliest_supply_date(
                sku_id=line.sku_id,
                quantity=ahead.get(line.sku_id, 0) + line.quantity_backordered,
                location_ids=location_ids,
            )
            # Two lines of one SKU queue behind each other too.
            ahead[line.sku_id] = ahead.get(line.sku_id, 0) + line.quantity_backordered
            dates[line.pk] = (
                promise_from_supply(order, line, arrival, location_ids) if arrival else None
            )
    changed = []
    for line in lines:
        supply_date = dates.get(line.pk)
        if line.supply_date != supply_date:
            line.supply_date = supply_date
            changed.append(line)
    OrderLine.objects.bulk_update(changed, ["supply_date"])
    return changed
