"""Who acted, the order timeline, and the one function that changes an order's (and a
payment's) status."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.utils import timezone

from inventory.allocation import AllocationPlan
from oms.core.errors import (
    IllegalTransition,
)
from orders.models import (
    PAYMENT_TRANSITIONS,
    TRANSITIONS,
    Order,
    OrderEvent,
    Payment,
)

# --- Who acted -----------------------------------------------------------------------------


def actor_fields_of(actor: Any) -> dict[str, Any]:
    """Staff users are linked; a storefront or a job is named in `actor_label`."""
    if actor is None:
        return {"actor": None, "actor_label": "system"}
    if isinstance(actor, AbstractBaseUser) and actor.pk:
        return {"actor": actor, "actor_label": actor.get_username()}
    return {"actor": None, "actor_label": str(actor)[:100]}


EVENT_MESSAGE_LENGTH = OrderEvent._meta.get_field("message").max_length


def fit_event_message(message: str) -> str:
    """A timeline line fits its column (PostgreSQL refuses longer); the rest is in `data`."""
    if len(message) <= EVENT_MESSAGE_LENGTH:
        return message
    return message[: EVENT_MESSAGE_LENGTH - 1] + "…"


def record_event(
    *, order: Order, kind: str, message: str, actor: Any = None, data: dict | None = None
) -> OrderEvent:
    return OrderEvent.objects.create(
        order=order,
        kind=kind,
        message=fit_event_message(message),
        data=data or {},
        **actor_fields_of(actor),
    )


def reservation_event(
    *,
    order: Order,
    plan: AllocationPlan,
    sku_codes: dict[int, str],
    actor: Any = None,
    heading: str = "Reserved",
) -> OrderEvent:
    """The timeline row (unsaved) saying which location holds which units of which line."""
    return OrderEvent(
        order=order,
        kind=OrderEvent.Kind.STOCK_RESERVED,
        message=fit_event_message(
            f"{heading} "
            + ", ".join(
                f"{a.quantity} × {sku_codes[a.line_number]} at {a.location_code}"
                for a in plan.allocations
            )
            + "."
        ),
        data={
            "allocations": [
                {"line": a.line_number, "location": a.location_id, "quantity": a.quantity}
                for a in plan.allocations
            ]
        },
        **actor_fields_of(actor),
    )


# --- The state machine ---------------------------------------------------------------------


def transition(
    order: Order,
    to_status: str,
    *,
    actor: Any = None,
    note: str = "",
    events: list[OrderEvent] | None = None,
) -> Order:
    """The only place an order's status changes; caller holds the order's row lock.

    With `events`, the timeline event is appended there unsaved, for a caller that writes all
    of its events in one INSERT.
    """
    from_status = order.status
    if to_status not in TRANSITIONS[from_status]:
        raise IllegalTransition(
            f"Order {order.number} cannot go from {Order.Status(from_status).label} "
            f"to {Order.Status(to_status).label}.",
            from_status=from_status,
            to_status=to_status,
        )
    order.status = to_status
    order.status_changed_at = timezone.now()
    order.save(update_fields=["status", "status_changed_at", "updated_at"])
    message = f"{Order.Status(from_status).label} → {Order.Status(to_status).label}"
    event = OrderEvent(
        order=order,
        kind=OrderEvent.Kind.STATUS_CHANGED,
        message=fit_event_message(f"{message}: {note}" if note else message),
        data={"from": from_status, "to": to_status, "note": note},
        **actor_fields_of(actor),
    )
    if events is None:
        event.save()
    else:
        events.append(event)
    return order


def transition_payment(payment: Payment, to_status: str) -> Payment:
    """The only place a payment's status changes."""
    if to_status not in PAYMENT_TRANSITIONS[payment.status]:
        raise IllegalTransition(
            f"Payment {payment.pk} cannot go from {payment.status} to {to_status}.",
            from_status=payment.status,
            to_status=to_status,
        )
    payment.status = to_status
    payment.save(update_fields=["status", "updated_at"])
    return payment
