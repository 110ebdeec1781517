"""What the warehouse steps share: locks, and money and order status once goods leave."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import Sum
from django.utils import timezone

from fulfillment.models import (
    FulfillmentLine,
    FulfillmentOrder,
)
from fulfillment.notifications import notify_customer
from inventory.models import Reservation, StockLevel
from inventory.services import (
    consume_reservation,
    transfer_out_reservation,
)
from oms.core.errors import DomainError
from oms.core.money import quantize
from oms.core.tasks import enqueue_on_commit
from orders.models import Order, OrderLine, Payment
from orders.services import capture_payment, transition

Status = FulfillmentOrder.Status
Kind = FulfillmentOrder.Kind

PICKABLE_KINDS = (Kind.SHIP, Kind.PICKUP, Kind.TRANSFER)
UNZONED = "unzoned"
# Package.weight_kg holds 9 digits with 3 decimals.
MAX_PACKAGE_WEIGHT_KG = Decimal("1000000")
DONE_STATUSES = {Status.DELIVERED, Status.PICKED_UP}
# Order states from which a pickup order may still become ready for pickup.
BEFORE_PICKUP_READY = (Order.Status.PLACED, Order.Status.BACKORDERED, Order.Status.RELEASED)


# --- Locks ---------------------------------------------------------------------------------
# `of=("self",)`: on PostgreSQL a FOR UPDATE over a join also locks the joined rows (the
# order's channel, the location), which would serialise unrelated work.


def _lock_orders(order_ids: Iterable[int]) -> dict[int, Order]:
    return {
        order.pk: order
        for order in Order.objects.select_for_update(of=("self",))
        .select_related("channel", "customer")
        .filter(pk__in=set(order_ids))
        .order_by("pk")
    }


def _lock_fulfillment_orders(ids: Iterable[int]) -> dict[int, FulfillmentOrder]:
    return {
        fo.pk: fo
        for fo in FulfillmentOrder.objects.select_for_update(of=("self",))
        .select_related("location", "order")
        .filter(pk__in=set(ids))
        .order_by("pk")
    }


def _order_id_of(fulfillment_order: FulfillmentOrder) -> int:
    order_id = (
        FulfillmentOrder.objects.filter(pk=fulfillment_order.pk)
        .values_list("order_id", flat=True)
        .first()
    )
    if order_id is None:
        raise FulfillmentOrder.DoesNotExist(f"Fulfillment {fulfillment_order.pk} is gone.")
    return order_id


def _lock_one(fulfillment_order: FulfillmentOrder) -> FulfillmentOrder:
    """Lock the fulfillment order's order, then the fulfillment order itself."""
    order_id = _order_id_of(fulfillment_order)
    order = _lock_orders([order_id])[order_id]
    locked = _lock_fulfillment_orders([fulfillment_order.pk])[fulfillment_order.pk]
    locked.order = order  # the locked, fresh row; transitions save through it
    return locked


def _lock_stock(lines: list[FulfillmentLine], location_id: int) -> None:
    """Take the reservation and stock-level locks the inventory services will take, in order."""
    reservation_ids = sorted({line.reservation_id for line in lines if line.reservation_id})
    list(
        Reservation.objects.select_for_update()
        .filter(pk__in=reservation_ids)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    list(
        StockLevel.objects.select_for_update()
        .filter(sku_id__in={line.sku_id for line in lines}, location_id=location_id)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def _user(actor: Any):
    return actor if isinstance(actor, AbstractBaseUser) and actor.pk else None


def _to_store(fo: FulfillmentOrder) -> bool:
    """Goods bound for the pickup store, not the customer: a transfer, or a drop-ship vendor
    sending its part of a pickup order to the store. They travel with their reservation and
    are received there (`receive_transfer`)."""
    return fo.destination_location_id is not None and fo.kind in (Kind.TRANSFER, Kind.DROPSHIP)


# --- Money and order status after goods leave ----------------------------------------------


def _handed_over_units(order: Order) -> dict[int, int]:
    """Units per order line that reached the customer's hands or are on their way to them.

    For a pickup order only what the customer collected counts: units transferred to the
    store are on the store's pickup fulfillment by then, so counting the transfer as well
    would count them twice.
    """
    lines = FulfillmentLine.objects.filter(fulfillment_order__order=order, quantity_shipped__gt=0)
    if order.delivery_method == Order.DeliveryMethod.PICKUP:
        lines = lines.filter(
            fulfillment_order__kind=Kind.PICKUP, fulfillment_order__status=Status.PICKED_UP
        )
    return dict(
        lines.values("order_line_id")
        .annotate(units=Sum("quantity_shipped"))
        .values_list("order_line_id", "units")
    )


def _order_lines(order: Order) -> list[OrderLine]:
    return list(OrderLine.objects.filter(order=order).order_by("line_number"))


def _all_handed_over(order: Order, handed: dict[int, int]) -> bool:
    return all(
        handed.get(line.pk, 0) >= line.quantity - line.quantity_cancelled
        for line in _order_lines(order)
    )


def _value_of(order: Order, handed: dict[int, int]) -> Decimal:
    """What the customer owes for the handed-over units: goods, their tax, and shipping."""
    goods_total = tax_total = Decimal("0")
    for line in _order_lines(order):
        units = min(handed.get(line.pk, 0), line.quantity)
        if not units:
            continue
        if units == line.quantity:
            goods_total += line.line_total_amount
            tax_total += line.tax_amount
        else:
            goods_total += line.unit_price_amount * units
            tax_total += quantize(line.tax_amount * units / line.quantity)
    if not goods_total and not tax_total:
        return Decimal("0")
    discount = Decimal("0")
    if order.discount_amount and order.subtotal_amount:
        discount = quantize(order.discount_amount * goods_total / order.subtotal_amount)
    # The whole shipping charge falls due with the first shipment.
    return goods_total + tax_total - discount + order.shipping_amount


def _capture_for_handed_over(order: Order, actor: Any) -> Payment | None:
    """Capture what is due for everything handed over so far, less what was captured before.

    Computing the running total (rather than this shipment's share) makes per-shipment
    rounding settle exactly on the last shipment.
    """
    if not order.payments.filter(status=Payment.Status.AUTHORIZED).exists():
        return None  # cash on delivery, bank transfer: collected outside the gateway
    due = _value_of(order, _handed_over_units(order))
    captured = order.payments.filter(
        status__in=[Payment.Status.CAPTURED, Payment.Status.REFUNDED]
    ).aggregate(total=Sum("amount"))["total"] or Decimal("0")
    if due - captured <= 0:
        return None
    return capture_payment(order=order, amount=due - captured, actor=actor)


def _move_order(order: Order, targets: list[str], *, actor: Any, note: str) -> None:
    """Walk the order along `targets`, skipping the steps it already passed."""
    for target in targets:
        if order.status == target:
            continue
        transition(order, target, actor=actor, note=note)


def _released_first(order: Order) -> list[str]:
    if order.status in (Order.Status.PLACED, Order.Status.BACKORDERED):
        return [Order.Status.RELEASED]
    return []


def _complete_if_done(order: Order, *, actor: Any, note: str) -> None:
    """Every non-cancelled fulfillment is delivered or collected and nothing is left: done."""
    statuses = set(
        order.fulfillment_orders.exclude(status=Status.CANCELLED).values_list("status", flat=True)
    )
    if not statuses or not statuses <= DONE_STATUSES:
        return
    if not _all_handed_over(order, _handed_over_units(order)):
        return  # backordered or re-sourced units are still to come
    path = _released_first(order)
    if order.delivery_method == Order.DeliveryMethod.PICKUP:
        if order.status != Order.Status.READY_FOR_PICKUP:
            path.append(Order.Status.READY_FOR_PICKUP)
    elif order.status != Order.Status.SHIPPED:
        path.append(Order.Status.SHIPPED)
    _move_order(order, [*path, Order.Status.COMPLETED], actor=actor, note=note)


def _ready_for_pickup_if_all_at_store(order: Order, *, actor: Any) -> None:
    """The pickup order becomes ready when every part of it waits on the store's pickup shelf:
    each pickup fulfillment is ready, each transfer was received (its units then sit on a
    pickup fulfillment), and together they cover every unit still ordered. The customer is
    emailed then, once, and the pickup hold (PICKUP_HOLD_DAYS) starts. A held order waits:
    `recheck_pickup_ready` runs this again when its last hold is lifted.
    """
    if order.delivery_method != Order.DeliveryMethod.PICKUP:
        return
    if order.status not in BEFORE_PICKUP_READY:
        return
    if order.is_on_hold:
        return
    fos = list(order.fulfillment_orders.exclude(status=Status.CANCELLED).order_by("pk"))
    pickups = [fo for fo in fos if fo.kind == Kind.PICKUP]
    at_store = all(
        (fo.kind == Kind.PICKUP and fo.status in (Status.READY_FOR_PICKUP, Status.PICKED_UP))
        or (_to_store(fo) and fo.status == Status.DELIVERED)
        for fo in fos
    )
    if not pickups or not at_store:
        return
    covered = dict(
        FulfillmentLine.objects.filter(fulfillment_order__in=pickups)
        .values("order_line_id")
        .annotate(units=Sum("quantity"))
        .values_list("order_line_id", "units")
    )
    if not all(
        covered.get(line.pk, 0) >= line.quantity - line.quantity_cancelled
        for line in _order_lines(order)
    ):
        return  # backordered or re-sourced units are still to come
    _move_order(
        order,
        [*_released_first(order), Order.Status.READY_FOR_PICKUP],
        actor=actor,
        note=f"waiting at {order.pickup_location.code if order.pickup_location else 'the store'}",
    )
    FulfillmentOrder.objects.filter(
        pk__in=[fo.pk for fo in pickups if fo.status == Status.READY_FOR_PICKUP],
        ready_at__isnull=True,
    ).update(ready_at=timezone.now())
    enqueue_on_commit(notify_customer, order.pk, "ready_for_pickup", {"fulfillment": pickups[0].pk})


def _consume(fo: FulfillmentOrder, lines: list[FulfillmentLine], *, actor: Any) -> int:
    """Goods leave the location: reservations consumed with shipment movements, or, for a
    transfer to the pickup store, sent on with transfer-out movements (the reservation goes
    with the goods and is received at the store)."""
    _lock_stock(lines, fo.location_id)
    shipped = 0
    for line in lines:
        units = line.quantity if fo.kind == Kind.DROPSHIP else line.quantity_picked
        if not units:
            continue
        if not line.reservation_id:
            raise DomainError(
                f"FO-{fo.pk}: the line for {line.sku_id} has no reservation to ship from.",
                code="stock_changed",
            )
        if _to_store(fo):
            if units != line.quantity:
                raise DomainError(
                    f"FO-{fo.pk}: a transfer travels whole; {line.sku.code} is picked "
                    f"{units} of {line.quantity}.",
                    code="not_picked",
                )
            transfer_out_reservation(
                reservation_id=line.reservation_id,
                reference=_transfer_reference(fo),
                actor=_user(actor),
            )
        else:
            consume_reservation(
                reservation_id=line.reservation_id,
                quantity=units,
                reference=fo.order.number or "",
                actor=_user(actor),
            )
        line.quantity_picked = max(line.quantity_picked, units)
        line.quantity_shipped = units
        line.save(update_fields=["quantity_picked", "quantity_shipped"])
        shipped += units
    return shipped


def _transfer_reference(fo: FulfillmentOrder) -> str:
    """What both transfer movements (out at the source, in at the store) are filed under."""
    return f"{fo.order.number or ''} FO-{fo.pk}".strip()
