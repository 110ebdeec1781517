"""After capture: cancel, holds, payment capture at shipment."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from inventory.services import release_reservations
from oms.core import outbox
from oms.core.errors import (
    IllegalTransition,
    InvalidInput,
)
from oms.core.tasks import enqueue_on_commit
from orders.models import (
    CANCELLABLE,
    HOLDABLE,
    Order,
    OrderEvent,
    OrderHold,
    Payment,
)
from orders.services.events import (
    actor_fields_of,
    record_event,
    transition,
    transition_payment,
)

# --- After capture -------------------------------------------------------------------------


def _locked(order: Order) -> Order:
    return Order.objects.select_for_update(of=("self",)).select_related("channel").get(pk=order.pk)


@transaction.atomic
def cancel_order(*, order: Order, actor: Any = None, reason: str = "") -> Order:
    """Cancel the whole order and give its stock back; cancelling twice is harmless."""
    order = _locked(order)
    if order.status == Order.Status.CANCELLED:
        return order
    if order.status not in CANCELLABLE:
        raise IllegalTransition(
            f"Order {order.number} is {Order.Status(order.status).label.lower()} and can no "
            "longer be cancelled.",
            status=order.status,
        )
    line_ids = list(order.lines.values_list("pk", flat=True))
    released = release_reservations(order_line_ids=line_ids)
    order.lines.update(quantity_cancelled=F("quantity"), quantity_backordered=0)
    transition(order, Order.Status.CANCELLED, actor=actor, note=reason)
    if released:
        record_event(
            order=order,
            kind=OrderEvent.Kind.STOCK_RELEASED,
            message=f"Released {released} reserved unit(s).",
            actor=actor,
            data={"units": released},
        )
    for payment in order.payments.select_for_update().filter(
        status__in=[Payment.Status.AUTHORIZED, Payment.Status.PENDING]
    ):
        transition_payment(payment, Payment.Status.VOIDED)
        if payment.gateway_reference:
            from orders.tasks import void_payment_authorization

            enqueue_on_commit(void_payment_authorization, payment.pk)
        record_event(
            order=order,
            kind=OrderEvent.Kind.PAYMENT,
            message=f"{payment.get_method_display()} voided ({payment.amount} {payment.currency}).",
            actor=actor,
            data={"payment": payment.pk, "status": payment.status},
        )
    outbox.record(
        topic="order.cancelled",
        aggregate_id=order.pk,
        payload={"order": order.number, "channel": order.channel.code, "reason": reason},
    )
    return order


@transaction.atomic
def place_hold(*, order: Order, reason: str, note: str = "", actor: Any = None) -> OrderHold:
    """Stop an order from progressing (fraud review, address check, ...) until released."""
    if reason not in OrderHold.Reason.values:
        raise InvalidInput({"reason": f"Unknown hold reason {reason!r}."})
    order = _locked(order)
    if order.status not in HOLDABLE:
        raise IllegalTransition(
            f"Order {order.number} is {Order.Status(order.status).label.lower()}; "
            "it can no longer be held.",
            status=order.status,
        )
    user = actor_fields_of(actor)["actor"]
    hold = OrderHold.objects.create(order=order, reason=reason, note=note, placed_by=user)
    if not order.is_on_hold:
        order.is_on_hold = True
        order.save(update_fields=["is_on_hold", "updated_at"])
    record_event(
        order=order,
        kind=OrderEvent.Kind.HOLD_PLACED,
        message=f"Hold placed: {hold.get_reason_display()}" + (f" — {note}" if note else ""),
        actor=actor,
        data={"hold": hold.pk, "reason": reason},
    )
    return hold


@transaction.atomic
def release_hold(*, hold: OrderHold, actor: Any = None, note: str = "") -> OrderHold:
    order = _locked(hold.order)
    hold = OrderHold.objects.select_for_update().get(pk=hold.pk)
    if hold.released_at is not None:
        return hold
    hold.released_at = timezone.now()
    hold.released_by = actor_fields_of(actor)["actor"]
    hold.save(update_fields=["released_at", "released_by"])
    still_held = order.holds.filter(released_at__isnull=True).exists()
    if order.is_on_hold != still_held:
        order.is_on_hold = still_held
        order.save(update_fields=["is_on_hold", "updated_at"])
        # Work that waited for the hold (fulfillment orders not yet released) may go now.
        outbox.record(topic="order.hold_released", aggregate_id=order.pk, payload={})
    record_event(
        order=order,
        kind=OrderEvent.Kind.HOLD_RELEASED,
        message=f"Hold released: {hold.get_reason_display()}" + (f" — {note}" if note else ""),
        actor=actor,
        data={"hold": hold.pk},
    )
    return hold


@transaction.atomic
def release_all_holds(*, order: Order, actor: Any = None, note: str = "") -> int:
    holds = list(order.holds.filter(released_at__isnull=True))
    for hold in holds:
        release_hold(hold=hold, actor=actor, note=note)
    return len(holds)


@transaction.atomic
def capture_payment(*, order: Order, amount, actor: Any = None) -> Payment | None:
    """Capture up to `amount` of the order's open payment (at shipment, for what shipped).

    Partial captures split the payment: the captured part becomes its own row, the rest stays
    authorized for the next shipment. The gateway call runs after commit.
    """
    payment = (
        order.payments.select_for_update()
        .filter(status__in=[Payment.Status.AUTHORIZED, Payment.Status.PENDING])
        .order_by("id")
        .first()
    )
    if payment is None or amount <= 0:
        return None
    amount = min(amount, payment.amount)
    if amount < payment.amount:
        Payment.objects.create(
            order=order,
            method=payment.method,
            status=payment.status,
            amount=payment.amount - amount,
            currency=payment.currency,
            reference=payment.reference,
            gateway_reference=payment.gateway_reference,
        )
        payment.amount = amount
        payment.save(update_fields=["amount", "updated_at"])
    if payment.status == Payment.Status.PENDING:
        # Cash on delivery and bank transfers are collected outside the gateway; shipping
        # does not capture them.
        return None
    transition_payment(payment, Payment.Status.CAPTURED)
    if payment.gateway_reference:
        from orders.tasks import capture_payment_at_gateway

        enqueue_on_commit(capture_payment_at_gateway, payment.pk)
    record_event(
        order=order,
        kind=OrderEvent.Kind.PAYMENT,
        message=f"{payment.get_method_display()} captured {payment.amount} {payment.currency}.",
        actor=actor,
        data={"payment": payment.pk, "status": payment.status},
    )
    return payment
