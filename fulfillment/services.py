"""Fulfillment use cases: the fulfillment-order state machine, plan → fulfillment orders, release.

Warehouse work (pick, pack, ship, deliver) lives in fulfillment.warehouse; sourcing decisions
in fulfillment.sourcing. Everything here runs inside the caller's or its own transaction.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from fulfillment.models import (
    FULFILLMENT_TRANSITIONS,
    OPEN_FULFILLMENT_STATUSES,
    FulfillmentLine,
    FulfillmentOrder,
)
from fulfillment.notifications import send_purchase_order
from inventory.models import Location, Reservation
from oms.core import hotpath, outbox
from oms.core.errors import IllegalTransition
from oms.core.tasks import enqueue_on_commit
from orders.models import Order, OrderEvent
from orders.services import actor_fields_of, fit_event_message, transition


def transition_fulfillment(
    fulfillment_order: FulfillmentOrder, to_status: str, *, actor: Any = None, note: str = ""
) -> FulfillmentOrder:
    """The only place a fulfillment order's status changes; it shows on the order's timeline."""
    from_status = fulfillment_order.status
    _check_move(fulfillment_order, from_status, to_status)
    fulfillment_order.status = to_status
    fulfillment_order.status_changed_at = timezone.now()
    fulfillment_order.save(update_fields=["status", "status_changed_at", "updated_at"])
    _fulfillment_event(fulfillment_order, from_status, to_status, actor=actor, note=note).save()
    return fulfillment_order


def transition_fulfillments(
    fulfillment_orders: Sequence[FulfillmentOrder],
    to_status: str,
    *,
    actor: Any = None,
    note: str = "",
    changes: dict[str, Any] | None = None,
    events: list[OrderEvent] | None = None,
) -> list[FulfillmentOrder]:
    """transition_fulfillment for several fulfillment orders at once, in a fixed number of
    statements, by the same rules and with the same timeline event for each.

    Every move is checked against FULFILLMENT_TRANSITIONS before anything changes. New
    (unsaved) fulfillment orders start pending, like any other, and are saved by one INSERT in
    their new status; saved ones move with one UPDATE. `changes` are other columns set with the
    status (`released_at`). The events are inserted here, or appended to `events` for a caller
    that inserts them with its own in one statement, in the same transaction.
    """
    moves = [(fo, fo.status) for fo in fulfillment_orders]
    for fo, from_status in moves:
        _check_move(fo, from_status, to_status)
    changes = changes or {}
    now = timezone.now()
    for fo, _ in moves:
        fo.status = to_status
        fo.status_changed_at = now
        for name, value in changes.items():
            setattr(fo, name, value)
    new = [fo for fo, _ in moves if fo._state.adding]
    saved = [fo for fo, _ in moves if not fo._state.adding]
    if new:
        hotpath.insert(new)  # bulk_create at a third of the cost: the sourcing job's path
    if saved:
        FulfillmentOrder.objects.filter(pk__in=[fo.pk for fo in saved]).update(
            status=to_status, status_changed_at=now, updated_at=now, **changes
        )
        for fo in saved:
            fo.updated_at = now
    written = [
        _fulfillment_event(fo, from_status, to_status, actor=actor, note=note)
        for fo, from_status in moves
    ]
    if events is None:
        OrderEvent.objects.bulk_create(written)
    else:
        events.extend(written)
    return [fo for fo, _ in moves]


def _check_move(fulfillment_order: FulfillmentOrder, from_status: str, to_status: str) -> None:
    if to_status not in FULFILLMENT_TRANSITIONS[from_status]:
        raise IllegalTransition(
            f"Fulfillment {fulfillment_order.pk or '(new)'} cannot go from "
            f"{FulfillmentOrder.Status(from_status).label} to "
            f"{FulfillmentOrder.Status(to_status).label}.",
            from_status=from_status,
            to_status=to_status,
        )


def _fulfillment_event(
    fulfillment_order: FulfillmentOrder, from_status: str, to_status: str, *, actor, note
) -> OrderEvent:
    label = FulfillmentOrder.Status(to_status).label.lower()
    message = f"Fulfillment FO-{fulfillment_order.pk} at {fulfillment_order.location.code}: {label}"
    return _event(
        order_id=fulfillment_order.order_id,
        kind=OrderEvent.Kind.FULFILLMENT,
        message=f"{message} — {note}" if note else f"{message}.",
        actor=actor,
        data={"fulfillment": fulfillment_order.pk, "from": from_status, "to": to_status},
    )


def _event(*, order_id: int, kind: str, message: str, actor: Any, data: dict) -> OrderEvent:
    """An unsaved timeline event, as orders.services.record_event writes it."""
    return OrderEvent(
        order_id=order_id,
        kind=kind,
        message=fit_event_message(message),
        data=data,
        **actor_fields_of(actor),
    )


def lock_order(order: Order | int) -> Order:
    """The order's row lock (only its row: `of`), with what changes and fixes read of it."""
    pk = order if isinstance(order, int) else order.pk
    return (
        Order.objects.select_for_update(of=("self",))
        .select_related("channel", "service_level", "pickup_location")
        .get(pk=pk)
    )


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
    release: bool = False,
    reservations: Sequence[Reservation] | None = None,
    events_out: list[OrderEvent] | None = None,
) -> list[FulfillmentOrder]:
    """One fulfillment order per location for the reservations not yet in fulfillment.

    `shipments` (location_id → carrier_service_id, cost, distance, promised_date, explanation)
    carries the engine's decision for each location, when there is one. With `release` (the
    caller holds the order's lock and knows it is not held) they are released as they are
    created, as release_fulfillment would release them. `reservations`: the uncovered ones,
    each with its location, when the caller has read them already.

    A fixed number of statements whatever the number of locations: the fulfillment orders,
    their lines and the timeline events each go in one INSERT (plus, for drop-ship vendors,
    the purchase order numbers in one UPDATE). With `events_out` the timeline events are
    handed to the caller, which writes them with its own (one INSERT for the whole job).
    """
    shipments = shipments or {}
    if reservations is None:
        reservations = uncovered_reservations(order)
    by_location: dict[int, list[Reservation]] = defaultdict(list)
    for reservation in reservations:
        by_location[reservation.location_id].append(reservation)
    if not by_location:
        return []
    planned = []
    for location_id, held in sorted(by_location.items()):
        location = held[0].location
        decision = shipments.get(location_id, {})
        kind = fulfillment_kind(order, location)
        fulfillment_order = FulfillmentOrder(
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
        planned.append((fulfillment_order, held))
    created = [fulfillment_order for fulfillment_order, _ in planned]
    released_events: list[OrderEvent] = []
    if release:
        transition_fulfillments(
            created,
            FulfillmentOrder.Status.RELEASED,
            actor=actor,
            changes={"released_at": timezone.now()},
            events=released_events,
        )
    else:
        FulfillmentOrder.objects.bulk_create(created)
    hotpath.insert(
        [
            FulfillmentLine(
                fulfillment_order=fulfillment_order,
                order_line_id=reservation.order_line_id,
                reservation_id=reservation.pk,
                sku_id=reservation.sku_id,
                quantity=reservation.quantity,
            )
            for fulfillment_order, held in planned
            for reservation in held
        ]
    )
    events = [
        _event(
            order_id=order.pk,
            kind=OrderEvent.Kind.FULFILLMENT,
            message=f"Fulfillment FO-{fulfillment_order.pk} created at "
            f"{fulfillment_order.location.code} "
            f"({fulfillment_order.get_kind_display().lower()})."
            + (f" {fulfillment_order.explanation}" if fulfillment_order.explanation else ""),
            actor=actor,
            data={"fulfillment": fulfillment_order.pk, "location": fulfillment_order.location.code},
        )
        for fulfillment_order in created
    ]
    events += released_events
    if release:
        _announce_release(
            order,
            created,
            units={fo.pk: sum(r.quantity for r in held) for fo, held in planned},
            actor=actor,
            events=events,
        )
    if events_out is None:
        OrderEvent.objects.bulk_create(events)
    else:
        events_out.extend(events)
    return created


@transaction.atomic
def release_fulfillment(*, order: Order, actor: Any = None) -> list[FulfillmentOrder]:
    """Send pending fulfillment orders to their locations, unless the order is held."""
    order = lock_order(order)
    if order.is_on_hold or order.status == Order.Status.CANCELLED:
        return []
    pending = release_pending(order, actor=actor)
    if pending and order.status in (Order.Status.PLACED, Order.Status.BACKORDERED):
        has_backorder = order.lines.filter(quantity_backordered__gt=0).exists()
        if not has_backorder:
            transition(order, Order.Status.RELEASED, actor=actor, note="sent to fulfillment")
    return pending


def release_pending(order: Order, *, actor: Any = None) -> list[FulfillmentOrder]:
    """Release the order's pending fulfillment orders; the caller holds the order's lock and
    has checked it is not held or cancelled."""
    pending = list(
        order.fulfillment_orders.select_for_update(of=("self",))
        .select_related("location")
        .filter(status=FulfillmentOrder.Status.PENDING)
        .order_by("id")
    )
    if not pending:
        return []
    events: list[OrderEvent] = []
    transition_fulfillments(
        pending,
        FulfillmentOrder.Status.RELEASED,
        actor=actor,
        changes={"released_at": timezone.now()},
        events=events,
    )
    _announce_release(order, pending, units=None, actor=actor, events=events)
    OrderEvent.objects.bulk_create(events)
    return pending


def _announce_release(
    order: Order,
    released: Sequence[FulfillmentOrder],
    *,
    units: dict[int, int] | None,
    actor: Any,
    events: list[OrderEvent],
) -> None:
    """What follows a release: purchase orders to drop-ship vendors, and one outbox row per
    fulfillment order (`fulfillment.released`), written in bulk."""
    dropship = [fo for fo in released if fo.kind == FulfillmentOrder.Kind.DROPSHIP]
    if dropship:
        issue_purchase_orders(dropship, actor=actor, units=units, events=events)
    outbox.record_many(
        topic="fulfillment.released",
        messages=[
            (fo.pk, {"order": order.number, "location": fo.location.code}) for fo in released
        ],
    )


PURCHASE_ORDER_NUMBER = "DS-{:06d}"  # drop-ship; supplier replenishment orders are PO-


def issue_purchase_order(fulfillment_order: FulfillmentOrder, *, actor: Any = None) -> str:
    """A released drop-ship fulfillment is a purchase order to its vendor: it gets a number,
    shows on the order's timeline, and is emailed to the vendor after commit."""
    issue_purchase_orders([fulfillment_order], actor=actor)
    return fulfillment_order.purchase_order_number


def issue_purchase_orders(
    fulfillment_orders: Sequence[FulfillmentOrder],
    *,
    actor: Any = None,
    units: dict[int, int] | None = None,
    events: list[OrderEvent] | None = None,
) -> None:
    """issue_purchase_order for several drop-ship fulfillment orders: the numbers in one
    UPDATE, the timeline events in one INSERT (or appended to `events` for the caller's).
    `units` (fulfillment order id → units), when the caller knows them, saves reading lines."""
    now = timezone.now()
    numbered = []
    for fo in fulfillment_orders:
        if not fo.purchase_order_number:
            fo.purchase_order_number = PURCHASE_ORDER_NUMBER.format(fo.pk)
            fo.updated_at = now
            numbered.append(fo)
    if numbered:
        FulfillmentOrder.objects.bulk_update(numbered, ["purchase_order_number", "updated_at"])
    if units is None:
        units = dict(
            FulfillmentLine.objects.filter(fulfillment_order__in=fulfillment_orders)
            .values("fulfillment_order_id")
            .annotate(units=Sum("quantity"))
            .values_list("fulfillment_order_id", "units")
        )
    written = []
    for fo in fulfillment_orders:
        vendor = fo.location
        sending = (
            f"emailing it to {vendor.contact_email}."
            if vendor.contact_email
            else f"{vendor.code} has no contact email: send it by hand."
        )
        written.append(
            _event(
                order_id=fo.order_id,
                kind=OrderEvent.Kind.FULFILLMENT,
                message=f"Purchase order {fo.purchase_order_number} for "
                f"{units.get(fo.pk, 0)} unit(s) issued to {vendor.code} (FO-{fo.pk}); {sending}",
                actor=actor,
                data={
                    "fulfillment": fo.pk,
                    "purchase_order": fo.purchase_order_number,
                    "vendor": vendor.code,
                },
            )
        )
        if vendor.contact_email:
            enqueue_on_commit(send_purchase_order, fo.pk)
    if events is None:
        OrderEvent.objects.bulk_create(written)
    else:
        events.extend(written)
