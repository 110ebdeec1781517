"""Fulfillment use cases: the fulfillment-order state machine, plan → fulfillment orders, release.

Warehouse work (pick, pack, ship, deliver) lives in fulfillment.warehouse; sourcing decisions
in fulfillment.sourcing. Everything here runs inside the caller's or its own transaction.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.db import transaction
from django.utils import timezone

from fulfillment.models import (
    FULFILLMENT_TRANSITIONS,
    OPEN_FULFILLMENT_STATUSES,
    FulfillmentLine,
    FulfillmentOrder,
)
from fulfillment.notifications import send_purchase_order
from inventory.models import Location, Reservation
from oms.core import outbox
from oms.core.errors import IllegalTransition
from oms.core.tasks import enqueue_on_commit
from orders.models import Order, OrderEvent
from orders.services import record_event, transition


def transition_fulfillment(
    fulfillment_order: FulfillmentOrder, to_status: str, *, actor: Any = None, note: str = ""
) -> FulfillmentOrder:
    """The only place a fulfillment order's status changes; it shows on the order's timeline."""
    from_status = fulfillment_order.status
    if to_status not in FULFILLMENT_TRANSITIONS[from_status]:
        raise IllegalTransition(
            f"Fulfillment {fulfillment_order.pk} cannot go from "
            f"{FulfillmentOrder.Status(from_status).label} to "
            f"{FulfillmentOrder.Status(to_status).label}.",
            from_status=from_status,
            to_status=to_status,
        )
    fulfillment_order.status = to_status
    fulfillment_order.save(update_fields=["status", "updated_at"])
    label = FulfillmentOrder.Status(to_status).label.lower()
    message = f"Fulfillment FO-{fulfillment_order.pk} at {fulfillment_order.location.code}: {label}"
    record_event(
        order=fulfillment_order.order,
        kind=OrderEvent.Kind.FULFILLMENT,
        message=f"{message} — {note}" if note else f"{message}.",
        actor=actor,
        data={"fulfillment": fulfillment_order.pk, "from": from_status, "to": to_status},
    )
    return fulfillment_order


def lock_order(order: Order) -> Order:
    return Order.objects.select_for_update(of=("self",)).select_related("channel").get(pk=order.pk)


def uncovered_reservations(order: Order) -> list[Reservation]:
    """Active reservations of the order that no open fulfillment line holds yet."""
    covered = FulfillmentLine.objects.filter(
        fulfillment_order__order=order,
        fulfillment_order__status__in=OPEN_FULFILLMENT_STATUSES,
        reservation__isnull=False,
    ).values("reservation_id")
    return list(
        Reservation.objects.filter(order_line__order=order, state=Reservation.State.ACTIVE)
        .exclude(pk__in=covered)
        .select_related("location")
        .order_by("location_id", "id")
    )


def fulfillment_kind(order: Order, location: Location) -> str:
    if location.type == Location.Type.DROPSHIP_VENDOR:
        return FulfillmentOrder.Kind.DROPSHIP
    if order.delivery_method == Order.DeliveryMethod.PICKUP:
        if location.pk == order.pickup_location_id:
            return FulfillmentOrder.Kind.PICKUP
        return FulfillmentOrder.Kind.TRANSFER
    return FulfillmentOrder.Kind.SHIP


def create_fulfillment_orders(
    *,
    order: Order,
    shipments: dict[int, dict[str, Any]] | None = None,
    actor: Any = None,
) -> list[FulfillmentOrder]:
    """One fulfillment order per location for the reservations not yet in fulfillment.

    `shipments` (location_id → carrier_service_id, cost, distance, promised_date, explanation)
    carries the engine's decision for each location, when there is one.
    """
    shipments = shipments or {}
    by_location: dict[int, list[Reservation]] = defaultdict(list)
    for reservation in uncovered_reservations(order):
        by_location[reservation.location_id].append(reservation)
    created = []
    for location_id, reservations in sorted(by_location.items()):
        location = reservations[0].location
        decision = shipments.get(location_id, {})
        kind = fulfillment_kind(order, location)
        fulfillment_order = FulfillmentOrder.objects.create(
            order=order,
            location=location,
            # Transfers, and a vendor's part of a pickup order, go to the pickup store.
            destination_location_id=order.pickup_location_id
            if kind in (FulfillmentOrder.Kind.TRANSFER, FulfillmentOrder.Kind.DROPSHIP)
            else None,
            kind=kind,
            carrier_service_id=decision.get("carrier_service_id"),
            shipping_cost_amount=decision.get("cost", 0),
            currency=order.currency,
            distance_km=decision.get("distance_km", 0),
            promised_date=decision.get("promised_date") or order.promised_date,
            explanation=decision.get("explanation", ""),
        )
        FulfillmentLine.objects.bulk_create(
            [
                FulfillmentLine(
                    fulfillment_order=fulfillment_order,
                    order_line_id=reservation.order_line_id,
                    reservation=reservation,
                    sku_id=reservation.sku_id,
                    quantity=reservation.quantity,
                )
                for reservation in reservations
            ]
        )
        record_event(
            order=order,
            kind=OrderEvent.Kind.FULFILLMENT,
            message=f"Fulfillment FO-{fulfillment_order.pk} created at {location.code} "
            f"({fulfillment_order.get_kind_display().lower()})."
            + (f" {fulfillment_order.explanation}" if fulfillment_order.explanation else ""),
            actor=actor,
            data={"fulfillment": fulfillment_order.pk, "location": location.code},
        )
        created.append(fulfillment_order)
    return created


@transaction.atomic
def release_fulfillment(*, order: Order, actor: Any = None) -> list[FulfillmentOrder]:
    """Send pending fulfillment orders to their locations, unless the order is held."""
    order = lock_order(order)
    if order.is_on_hold or order.status == Order.Status.CANCELLED:
        return []
    pending = list(
        order.fulfillment_orders.select_for_update(of=("self",))
        .select_related("location", "order")
        .filter(status=FulfillmentOrder.Status.PENDING)
        .order_by("id")
    )
    now = timezone.now()
    for fulfillment_order in pending:
        fulfillment_order.released_at = now
        fulfillment_order.save(update_fields=["released_at", "updated_at"])
        transition_fulfillment(fulfillment_order, FulfillmentOrder.Status.RELEASED, actor=actor)
        if fulfillment_order.kind == FulfillmentOrder.Kind.DROPSHIP:
            issue_purchase_order(fulfillment_order, actor=actor)
        outbox.record(
            topic="fulfillment.released",
            aggregate_id=fulfillment_order.pk,
            payload={"order": order.number, "location": fulfillment_order.location.code},
        )
    if pending and order.status in (Order.Status.PLACED, Order.Status.BACKORDERED):
        has_backorder = order.lines.filter(quantity_backordered__gt=0).exists()
        if not has_backorder:
            transition(order, Order.Status.RELEASED, actor=actor, note="sent to fulfillment")
    return pending


PURCHASE_ORDER_NUMBER = "PO-{:06d}"


def issue_purchase_order(fulfillment_order: FulfillmentOrder, *, actor: Any = None) -> str:
    """A released drop-ship fulfillment is a purchase order to its vendor: it gets a number,
    shows on the order's timeline, and is emailed to the vendor after commit."""
    fo = fulfillment_order
    if not fo.purchase_order_number:
        fo.purchase_order_number = PURCHASE_ORDER_NUMBER.format(fo.pk)
        fo.save(update_fields=["purchase_order_number", "updated_at"])
    vendor = fo.location
    units = sum(fo.lines.values_list("quantity", flat=True))
    sending = (
        f"emailing it to {vendor.contact_email}."
        if vendor.contact_email
        else f"{vendor.code} has no contact email: send it by hand."
    )
    record_event(
        order=fo.order,
        kind=OrderEvent.Kind.FULFILLMENT,
        message=f"Purchase order {fo.purchase_order_number} for {units} unit(s) issued to "
        f"{vendor.code} (FO-{fo.pk}); {sending}",
        actor=actor,
        data={
            "fulfillment": fo.pk,
            "purchase_order": fo.purchase_order_number,
            "vendor": vendor.code,
        },
    )
    if vendor.contact_email:
        enqueue_on_commit(send_purchase_order, fo.pk)
    return fo.purchase_order_number
