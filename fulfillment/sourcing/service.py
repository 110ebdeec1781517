"""Sourcing an order after capture: reserve what is still outstanding, then hand the
reservations to locations as fulfillment orders and release them unless the order is held."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from fulfillment.models import FulfillmentOrder
from fulfillment.services import create_fulfillment_orders, release_fulfillment
from inventory.models import Reservation
from inventory.services import reserve_stock
from oms.core.db import retry_transient
from oms.core.tasks import enqueue_on_commit
from orders.models import Order, OrderEvent, OrderLine
from orders.planning import CaptureContext, CapturePlan, get_planner
from orders.services import record_event, transition

# Partially shipped: a short pick may leave units to source again after the first parcel left.
SOURCEABLE = {
    Order.Status.PLACED,
    Order.Status.BACKORDERED,
    Order.Status.RELEASED,
    Order.Status.PARTIALLY_SHIPPED,
}
COVERING_STATES = [Reservation.State.ACTIVE, Reservation.State.FULFILLED]


@dataclass(frozen=True, slots=True)
class PlanningLine:
    line_number: int
    sku_id: int
    quantity: int
    weight_kg: Decimal


def outstanding_units(order: Order) -> dict[int, tuple[OrderLine, int]]:
    """line_number -> (line, units neither reserved, shipped nor cancelled)."""
    lines = order.lines.select_related("sku").annotate(
        covered=Coalesce(
            Sum("reservations__quantity", filter=Q(reservations__state__in=COVERING_STATES)), 0
        )
    )
    result = {}
    for line in lines:
        missing = line.quantity - line.quantity_cancelled - line.covered
        if missing > 0:
            result[line.line_number] = (line, missing)
    return result


def engine_decisions(order: Order) -> tuple[dict[int, dict[str, Any]], str]:
    """Per location, the engine's latest decision for this order, and the backorder policy."""
    decisions: dict[int, dict[str, Any]] = {}
    policy = "refuse"
    for data in (
        order.events.filter(kind=OrderEvent.Kind.SOURCED)
        .order_by("id")
        .values_list("data", flat=True)
    ):
        policy = data.get("backorder_policy", policy)
        for shipment in data.get("shipments", []):
            decisions[shipment["location_id"]] = {
                "carrier_service_id": shipment.get("carrier_service_id"),
                "cost": Decimal(shipment.get("cost") or "0"),
                "distance_km": shipment.get("distance_km") or 0,
                "promised_date": date.fromisoformat(shipment["promised_date"])
                if shipment.get("promised_date")
                else None,
                "explanation": shipment.get("explanation", ""),
            }
    return decisions, policy


def _reserve_outstanding(order: Order, outstanding, actor) -> CapturePlan:
    context = CaptureContext(
        channel=order.channel,
        lines=tuple(
            PlanningLine(number, line.sku_id, missing, line.sku.weight_kg * missing)
            for number, (line, missing) in sorted(outstanding.items())
        ),
        delivery_method=order.delivery_method,
        service_level=order.service_level,
        ship_to=order.ship_to,
        pickup_location=order.pickup_location,
        ordered_at=timezone.now(),
    )
    planner = get_planner()
    latest = {"plan": planner.plan(context)}

    def replan():
        latest["plan"] = planner.plan(context)
        return latest["plan"].allocation

    applied = reserve_stock(
        lines=context.demands,
        order_line_ids={number: line.pk for number, (line, _) in outstanding.items()},
        plan=latest["plan"].allocation,
        replan=replan,
    )
    decided = latest["plan"]
    decided.allocation = applied
    changed = []
    for number, (line, _) in outstanding.items():
        backordered = applied.shortfalls.get(number, 0)
        if line.quantity_backordered != backordered:
            line.quantity_backordered = backordered
            changed.append(line)
    OrderLine.objects.bulk_update(changed, ["quantity_backordered"])
    if applied.allocations:
        record_event(
            order=order,
            kind=OrderEvent.Kind.SOURCED,
            message=" ".join(decided.explanation) or "Re-sourced outstanding units.",
            actor=actor,
            data={
                "backorder_policy": decided.backorder_policy,
                "shipments": decided.shipments,
                "explanation": decided.explanation,
                "resourced": {str(n): m for n, (_, m) in outstanding.items()},
            },
        )
    return decided


@retry_transient
@transaction.atomic
def source_order(*, order_id: int, actor: Any = "job:sourcing") -> list[FulfillmentOrder]:
    """Idempotent: running it again finds nothing outstanding and nothing pending."""
    order = (
        Order.objects.select_for_update(of=("self",))
        .select_related("channel", "service_level", "pickup_location")
        .get(pk=order_id)
    )
    if order.status not in SOURCEABLE:
        return []
    was_backordered = order.status == Order.Status.BACKORDERED
    outstanding = outstanding_units(order)
    if outstanding:
        decided = _reserve_outstanding(order, outstanding, actor)
        still_short = bool(decided.allocation.shortfalls)
        if decided.allocation.allocations and not still_short:
            if decided.promised_date and decided.promised_date != order.promised_date:
                order.promised_date = decided.promised_date
                order.save(update_fields=["promised_date", "updated_at"])
            if was_backordered:
                transition(order, Order.Status.PLACED, actor=actor, note="backorder filled")
                from fulfillment.notifications import notify_customer

                enqueue_on_commit(
                    notify_customer,
                    order.pk,
                    "backorder_update",
                    {"promised_date": str(order.promised_date or "")},
                )
    decisions, policy = engine_decisions(order)
    if policy == "hold" and order.lines.filter(quantity_backordered__gt=0).exists():
        return []  # the whole order waits until everything is there
    created = create_fulfillment_orders(order=order, shipments=decisions, actor=actor)
    release_fulfillment(order=order, actor=actor)
    return created
