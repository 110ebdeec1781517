"""Ship, confirm delivery, and receive transfers at the pickup store."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from fulfillment.models import (
    Carrier,
    FulfillmentLine,
    FulfillmentOrder,
)
from fulfillment.notifications import notify_customer
from fulfillment.services import transition_fulfillment
from fulfillment.warehouse._common import (
    Kind,
    Status,
    _all_handed_over,
    _capture_for_handed_over,
    _complete_if_done,
    _consume,
    _handed_over_units,
    _lock_fulfillment_orders,
    _lock_one,
    _lock_orders,
    _lock_stock,
    _move_order,
    _order_id_of,
    _ready_for_pickup_if_all_at_store,
    _released_first,
    _to_store,
    _transfer_reference,
    _user,
)
from inventory.models import Location
from inventory.services import (
    transfer_in_reservation,
)
from oms.core import outbox
from oms.core.errors import DomainError, IllegalTransition, InvalidInput
from oms.core.tasks import enqueue_on_commit
from orders.models import Order, OrderEvent
from orders.services import record_event

# --- Ship and deliver ----------------------------------------------------------------------


@transaction.atomic
def ship(
    *,
    fulfillment_order: FulfillmentOrder,
    carrier: Carrier | None,
    tracking_number: str,
    actor: Any = None,
) -> FulfillmentOrder:
    """Hand the packages to the carrier: stock leaves, payment is captured for what shipped.

    A drop-ship vendor confirms straight from released. For a pickup order (a transfer to the
    pickup store) the customer pays and the order moves when they collect.
    """
    tracking_number = (tracking_number or "").strip()
    if not tracking_number:
        raise InvalidInput({"tracking_number": "A tracking number is required to ship."})
    if len(tracking_number) > 100:
        raise InvalidInput({"tracking_number": "At most 100 characters."})

    fo = _lock_one(fulfillment_order)
    order = fo.order
    if fo.status in (Status.SHIPPED, Status.DELIVERED):
        return fo  # shipped already: a retry changes nothing
    if carrier is None and fo.carrier_service_id:
        carrier = fo.carrier_service.carrier
    if carrier is None:
        raise InvalidInput({"carrier": "Name the carrier taking the parcels."})
    if fo.kind == Kind.PICKUP:
        raise DomainError(
            f"FO-{fo.pk} is collected at the store, not shipped.", code="pickup_not_shipped"
        )
    ready = Status.RELEASED if fo.kind == Kind.DROPSHIP else Status.PACKED
    if fo.status != ready:
        raise IllegalTransition(
            f"FO-{fo.pk} is {fo.get_status_display().lower()}; it ships once "
            f"{Status(ready).label.lower()}.",
            from_status=fo.status,
            to_status=Status.SHIPPED,
        )
    if order.status == Order.Status.CANCELLED:
        raise IllegalTransition(f"Order {order.number} is cancelled.", status=order.status)
    if order.is_on_hold:
        raise DomainError(
            f"Order {order.number} is on hold; release the hold before shipping.",
            code="order_on_hold",
        )

    lines = list(fo.lines.select_for_update(of=("self",)).select_related("sku").order_by("pk"))
    units = _consume(fo, lines, actor=actor)
    now = timezone.now()
    fo.packages.update(carrier=carrier, tracking_number=tracking_number, shipped_at=now)
    fo.carrier = carrier
    fo.tracking_number = tracking_number
    fo.shipped_at = now
    fo.save(update_fields=["carrier", "tracking_number", "shipped_at", "updated_at"])
    transition_fulfillment(
        fo, Status.SHIPPED, actor=actor, note=f"{carrier.name} {tracking_number}, {units} unit(s)"
    )

    if order.delivery_method == Order.DeliveryMethod.SHIP:
        _capture_for_handed_over(order, actor)
        handed = _handed_over_units(order)
        target = (
            Order.Status.SHIPPED
            if _all_handed_over(order, handed)
            else Order.Status.PARTIALLY_SHIPPED
        )
        if order.status not in (Order.Status.SHIPPED, Order.Status.COMPLETED):
            _move_order(
                order, [*_released_first(order), target], actor=actor, note=f"FO-{fo.pk} shipped"
            )
        enqueue_on_commit(notify_customer, order.pk, "shipped", {"fulfillment": fo.pk})
    outbox.record(
        # A transfer is not a sale: the company still owns the goods until pickup.
        topic="fulfillment.transfer_sent" if _to_store(fo) else "fulfillment.shipped",
        aggregate_id=fo.pk,
        payload={
            "order": order.number,
            "location": fo.location.code,
            "kind": fo.kind,
            "carrier": carrier.code,
            "tracking_number": tracking_number,
            "lines": [
                {"order_line": line.order_line_id, "sku": line.sku.code, "quantity": q}
                for line in lines
                if (q := line.quantity_shipped)
            ],
        },
    )
    return fo


@transaction.atomic
def confirm_delivery(*, fulfillment_order: FulfillmentOrder, actor: Any = None) -> FulfillmentOrder:
    """The carrier delivered; for a transfer, the pickup store received it (`receive_transfer`)."""
    if _to_store(fulfillment_order):
        return receive_transfer(fulfillment_order=fulfillment_order, actor=actor)
    fo = _lock_one(fulfillment_order)
    order = fo.order
    if fo.status == Status.DELIVERED:
        return fo
    if fo.kind == Kind.PICKUP:
        raise DomainError(
            f"FO-{fo.pk} is collected at the store; confirm the pickup instead.",
            code="pickup_not_delivered",
        )
    fo.delivered_at = timezone.now()
    fo.save(update_fields=["delivered_at", "updated_at"])
    transition_fulfillment(fo, Status.DELIVERED, actor=actor)
    enqueue_on_commit(notify_customer, order.pk, "delivered", {"fulfillment": fo.pk})
    _complete_if_done(order, actor=actor, note=f"FO-{fo.pk} delivered")
    return fo


@transaction.atomic
def receive_transfer(*, fulfillment_order: FulfillmentOrder, actor: Any = None) -> FulfillmentOrder:
    """The transfer reached the pickup store: its units go on hand there with transfer-in
    movements and stay reserved for the order, on the order's pickup at the store.

    The pickup becomes ready at once when it only holds transferred goods (nothing to pick);
    goods from the store's own stock still wait for staff to shelve them
    (`mark_ready_for_pickup`). The order is ready, and the customer emailed, when everything
    waits at the store. If the order was cancelled on the way, the units go on sale there.
    """
    order_id = _order_id_of(fulfillment_order)
    order = _lock_orders([order_id])[order_id]
    store_id = fulfillment_order.destination_location_id or order.pickup_location_id
    pickup_ids = list(
        FulfillmentOrder.objects.filter(
            order=order,
            kind=Kind.PICKUP,
            location_id=store_id,
            status__in=[Status.PENDING, Status.RELEASED, Status.PICKING, Status.READY_FOR_PICKUP],
        ).values_list("pk", flat=True)
    )
    # Orders, then fulfillment orders by pk: the lock order of this module.
    locked = _lock_fulfillment_orders([fulfillment_order.pk, *pickup_ids])
    fo = locked[fulfillment_order.pk]
    fo.order = order
    if fo.status == Status.DELIVERED:
        return fo  # received already: a retry changes nothing
    if not _to_store(fo):
        raise DomainError(f"FO-{fo.pk} is not a transfer.", code="not_a_transfer")
    if fo.status != Status.SHIPPED:
        raise IllegalTransition(
            f"FO-{fo.pk} is {fo.get_status_display().lower()}; a transfer is received once "
            "it has shipped.",
            from_status=fo.status,
            to_status=Status.DELIVERED,
        )
    store = Location.objects.get(pk=fo.destination_location_id or order.pickup_location_id)
    lines = list(fo.lines.select_for_update(of=("self",)).select_related("sku").order_by("pk"))
    arrived = [line for line in lines if line.quantity_shipped and line.reservation_id]
    for_order = order.status != Order.Status.CANCELLED
    _lock_stock(arrived, store.pk)
    for line in arrived:
        transfer_in_reservation(
            reservation_id=line.reservation_id,
            location=store,
            reference=_transfer_reference(fo),
            reserve=for_order,
            actor=_user(actor),
        )
    units = sum(line.quantity_shipped for line in arrived)
    fo.delivered_at = timezone.now()
    fo.save(update_fields=["delivered_at", "updated_at"])
    transition_fulfillment(
        fo, Status.DELIVERED, actor=actor, note=f"received at {store.code}, {units} unit(s)"
    )
    if not for_order:
        record_event(
            order=order,
            kind=OrderEvent.Kind.STOCK_RELEASED,
            message=f"Transfer FO-{fo.pk} arrived at {store.code} after the order was "
            f"cancelled: {units} unit(s) are on sale there.",
            actor=actor,
            data={"fulfillment": fo.pk, "units": units},
        )
        return fo
    pickup = next((locked[pk] for pk in sorted(pickup_ids)), None)
    _put_on_pickup(order, fo, pickup, store, arrived, actor=actor)
    _ready_for_pickup_if_all_at_store(order, actor=actor)
    return fo


def _put_on_pickup(
    order: Order,
    transfer: FulfillmentOrder,
    pickup: FulfillmentOrder | None,
    store: Location,
    arrived: list[FulfillmentLine],
    *,
    actor: Any,
) -> FulfillmentOrder:
    """The received units join the order's pickup at the store (one is opened if none is)."""
    opened = pickup is None
    if pickup is None:
        pickup = FulfillmentOrder.objects.create(
            order=order,
            location=store,
            kind=Kind.PICKUP,
            currency=order.currency,
            promised_date=order.promised_date,
            explanation=f"Goods received at {store.code} on transfer FO-{transfer.pk}.",
        )
        pickup.order = order
        record_event(
            order=order,
            kind=OrderEvent.Kind.FULFILLMENT,
            message=f"Fulfillment FO-{pickup.pk} created at {store.code} (pickup in store) "
            f"for the goods of transfer FO-{transfer.pk}.",
            actor=actor,
            data={"fulfillment": pickup.pk, "location": store.code},
        )
    FulfillmentLine.objects.bulk_create(
        [
            FulfillmentLine(
                fulfillment_order=pickup,
                order_line_id=line.order_line_id,
                reservation_id=line.reservation_id,
                sku_id=line.sku_id,
                quantity=line.quantity_shipped,
                # The parcel arrives packed for this customer: nothing to pick.
                quantity_picked=line.quantity_shipped,
            )
            for line in arrived
        ]
    )
    if opened and not order.is_on_hold:
        _shelve_received_pickup(
            order, pickup, actor=actor, note=f"transfer FO-{transfer.pk} received"
        )
    return pickup


def _shelve_received_pickup(
    order: Order, pickup: FulfillmentOrder, *, actor: Any, note: str
) -> None:
    """A pickup holding only received goods has nothing to pick or shelve: released (if it
    was not) and ready at once. Caller holds the order's and the pickup's locks."""
    if pickup.status == Status.PENDING:
        pickup.released_at = timezone.now()
        pickup.save(update_fields=["released_at", "updated_at"])
        transition_fulfillment(pickup, Status.RELEASED, actor=actor)
        outbox.record(
            topic="fulfillment.released",
            aggregate_id=pickup.pk,
            payload={"order": order.number, "location": pickup.location.code},
        )
    transition_fulfillment(pickup, Status.READY_FOR_PICKUP, actor=actor, note=note)
