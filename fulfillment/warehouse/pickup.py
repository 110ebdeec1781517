"""Pickup in store: ready, collected, or cancelled when not collected in time."""

from __future__ import annotations

import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from fulfillment.models import (
    FulfillmentOrder,
)
from fulfillment.notifications import notify_customer
from fulfillment.services import transition_fulfillment
from fulfillment.warehouse._common import (
    BEFORE_PICKUP_READY,
    Kind,
    Status,
    _capture_for_handed_over,
    _complete_if_done,
    _consume,
    _lock_fulfillment_orders,
    _lock_one,
    _lock_orders,
    _ready_for_pickup_if_all_at_store,
)
from fulfillment.warehouse.picking import _open_pick_list_ids
from fulfillment.warehouse.shipping import _shelve_received_pickup
from oms.core import outbox
from oms.core.errors import DomainError, IllegalTransition
from oms.core.tasks import enqueue_on_commit
from orders.models import Order
from orders.services import cancel_order

# --- Pickup in store -----------------------------------------------------------------------


@transaction.atomic
def mark_ready_for_pickup(
    *, fulfillment_order: FulfillmentOrder, actor: Any = None
) -> FulfillmentOrder:
    """The goods wait on the pickup shelf; the customer hears once the whole order is there
    (and, for an order on hold, not before the hold is lifted)."""
    fo = _lock_one(fulfillment_order)
    if fo.status in (Status.READY_FOR_PICKUP, Status.PICKED_UP):
        return fo
    if fo.kind != Kind.PICKUP:
        raise DomainError(f"FO-{fo.pk} is not a pickup.", code="not_a_pickup")
    lines = list(fo.lines.select_for_update().order_by("pk"))
    if fo.status == Status.PICKING:
        if _open_pick_list_ids([fo.pk]) or any(
            line.quantity_picked < line.quantity for line in lines
        ):
            raise DomainError(
                f"FO-{fo.pk} is still being picked; confirm the pick first.", code="not_picked"
            )
    elif fo.status == Status.RELEASED:
        # Store staff took the goods to the shelf without a pick list.
        for line in lines:
            if line.quantity_picked != line.quantity:
                line.quantity_picked = line.quantity
                line.save(update_fields=["quantity_picked"])
    transition_fulfillment(fo, Status.READY_FOR_PICKUP, actor=actor)
    _ready_for_pickup_if_all_at_store(fo.order, actor=actor)
    return fo


@transaction.atomic
def recheck_pickup_ready(*, order_id: int, actor: Any = "job:hold-released") -> bool:
    """Look again whether a pickup order waits complete at the store; run when its last hold
    is lifted (the `order.hold_released` subscriber).

    While an order is on hold, store work still records what happened to the goods — a pickup
    marked ready, a transfer received — but the order does not move and the customer is not
    told: a held order (fraud review, address check) is not announced. Once the hold is gone
    this does what was held back: a pickup holding only received goods (nothing to shelve) is
    released and made ready, as `receive_transfer` does for an order that is not held, and if
    everything now waits at the store the order becomes ready for pickup, with its one email
    and the start of the pickup hold (`ready_at`). Returns True when the order became ready;
    False, changing nothing, for an order that is not a pickup, still held, already ready, or
    not complete at the store — so running it twice emails once.
    """
    order = _lock_orders([order_id]).get(order_id)
    if (
        order is None
        or order.delivery_method != Order.DeliveryMethod.PICKUP
        or order.is_on_hold
        or order.status not in BEFORE_PICKUP_READY
    ):
        return False
    waiting = _lock_fulfillment_orders(
        order.fulfillment_orders.filter(
            kind=Kind.PICKUP, status__in=[Status.PENDING, Status.RELEASED]
        ).values_list("pk", flat=True)
    )
    for pickup in waiting.values():
        lines = list(pickup.lines.all())
        # Lines are picked before release only when they arrived on a transfer (packed for
        # this customer); a pickup of the store's own stock waits for staff to shelve it.
        if lines and all(line.quantity_picked >= line.quantity for line in lines):
            pickup.order = order
            _shelve_received_pickup(
                order, pickup, actor=actor, note="goods received while the order was on hold"
            )
    _ready_for_pickup_if_all_at_store(order, actor=actor)
    return order.status == Order.Status.READY_FOR_PICKUP


@transaction.atomic
def confirm_pickup(*, fulfillment_order: FulfillmentOrder, actor: Any = None) -> FulfillmentOrder:
    """The customer collected: stock leaves, payment is captured, the order completes."""
    fo = _lock_one(fulfillment_order)
    order = fo.order
    if fo.status == Status.PICKED_UP:
        return fo
    if fo.kind != Kind.PICKUP:
        raise DomainError(f"FO-{fo.pk} is not a pickup.", code="not_a_pickup")
    if fo.status != Status.READY_FOR_PICKUP:
        raise IllegalTransition(
            f"FO-{fo.pk} is {fo.get_status_display().lower()}; mark it ready for pickup first.",
            from_status=fo.status,
            to_status=Status.PICKED_UP,
        )
    if order.status != Order.Status.READY_FOR_PICKUP:
        # Part of the order is still on its way (a transfer) or not shelved yet: the customer
        # collects everything at once, when they were told it is all there.
        raise DomainError(
            f"Order {order.number} is not ready for pickup yet: not everything waits at "
            f"{fo.location.code}.",
            code="order_not_ready",
        )
    if order.is_on_hold:
        raise DomainError(
            f"Order {order.number} is on hold; release the hold before handing it over.",
            code="order_on_hold",
        )
    lines = list(fo.lines.select_for_update(of=("self",)).select_related("sku").order_by("pk"))
    for line in lines:
        if not line.quantity_picked:
            line.quantity_picked = line.quantity
    _consume(fo, lines, actor=actor)
    fo.delivered_at = timezone.now()
    fo.save(update_fields=["delivered_at", "updated_at"])
    transition_fulfillment(fo, Status.PICKED_UP, actor=actor)
    _capture_for_handed_over(order, actor)
    outbox.record(
        topic="fulfillment.picked_up",
        aggregate_id=fo.pk,
        payload={
            "order": order.number,
            "location": fo.location.code,
            "lines": [
                {"order_line": line.order_line_id, "sku": line.sku.code, "quantity": q}
                for line in lines
                if (q := line.quantity_shipped)
            ],
        },
    )
    _complete_if_done(order, actor=actor, note=f"FO-{fo.pk} picked up")
    return fo


def pickup_hold_cutoff(now: datetime.datetime) -> datetime.datetime:
    """Pickups ready before this moment were not collected in time."""
    return now - datetime.timedelta(days=settings.PICKUP_HOLD_DAYS)


@transaction.atomic
def expire_uncollected_pickup(
    *, order_id: int, now: datetime.datetime | None = None, actor: Any = "job:pickup-expiry"
) -> bool:
    """Cancel a pickup order nobody collected within PICKUP_HOLD_DAYS of it being ready.

    The store's pickups are cancelled, the order is cancelled through `cancel_order` (which
    releases the reservations, so the units are for sale at the store again, and voids the
    payment authorization), and the customer is told. Returns False, changing nothing, when
    the order is not (or no longer) an expired pickup — so running it twice does it once.
    """
    now = now or timezone.now()
    order = _lock_orders([order_id]).get(order_id)
    if order is None or order.status != Order.Status.READY_FOR_PICKUP:
        return False
    pickups = _lock_fulfillment_orders(
        order.fulfillment_orders.filter(kind=Kind.PICKUP).values_list("pk", flat=True)
    )
    waiting = [fo for fo in pickups.values() if fo.status == Status.READY_FOR_PICKUP]
    if not waiting or any(fo.status == Status.PICKED_UP for fo in pickups.values()):
        # Partly collected and paid for: staff settle the rest with the customer.
        return False
    ready_at = max((fo.ready_at for fo in waiting if fo.ready_at), default=None)
    if ready_at is None or ready_at > pickup_hold_cutoff(now):
        return False
    days = settings.PICKUP_HOLD_DAYS
    reason = f"not collected within {days} day(s) of being ready for pickup"
    for fo in sorted(waiting, key=lambda fo: fo.pk):
        fo.order = order
        transition_fulfillment(fo, Status.CANCELLED, actor=actor, note=reason)
    cancel_order(order=order, actor=actor, reason=reason)
    enqueue_on_commit(
        notify_customer,
        order.pk,
        "pickup_expired",
        {"fulfillment": waiting[0].pk, "hold_days": days},
    )
    return True
