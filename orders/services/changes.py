"""Changes after capture: line quantities, ship-to address, repricing."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db.models import Sum

from oms.core.errors import (
    DomainError,
    InvalidInput,
)
from oms.core.money import Money
from orders.models import (
    Order,
    OrderEvent,
    OrderLine,
    Payment,
)
from orders.pricing import (
    PricedLine,
    Totals,
    order_totals,
    shipping_price,
    tax_rate_for,
)
from orders.services.capture import clean_address
from orders.services.events import record_event, transition_payment

# --- Changes after capture -----------------------------------------------------------------
# The order's side of a change during fulfillment. fulfillment.changes drives a change (it
# cancels the fulfillment orders it touches and gives their stock back) and calls these with
# the order's row lock held, inside its transaction.

# Until goods leave, an order can be changed; afterwards only returns change it. A pickup
# order waiting at the store can still be cancelled, not changed.
CHANGEABLE = {Order.Status.PLACED, Order.Status.BACKORDERED, Order.Status.RELEASED}


def validate_line_changes(
    *, order: Order, changes: Any, lines: list[OrderLine] | None = None
) -> dict[int, int]:
    """line_number → units still wanted, for each line the change lowers.

    `changes` is [{"line_number", "quantity"}] with the quantity the customer now wants (0
    cancels the line). Asking for what the line already has is not an error and not a change,
    so a retried request is harmless. More than the line has is refused: an increase needs
    stock, a price and a payment, which is a new order.
    """
    if not isinstance(changes, list | tuple) or not changes:
        raise InvalidInput({"lines": "List at least one line to change."})
    by_number = {line.line_number: line for line in (lines or order.lines.all())}
    errors: dict[str, list[str]] = {}
    wanted: dict[int, int] = {}
    seen: set[int] = set()
    for index, change in enumerate(changes):
        path = f"lines[{index}]"
        if not isinstance(change, dict):
            errors[path] = ["Send {line_number, quantity}."]
            continue
        number, quantity = change.get("line_number"), change.get("quantity")
        line = None
        if isinstance(number, bool) or not isinstance(number, int):
            errors[f"{path}.line_number"] = ["Give the line number as a whole number."]
        elif number not in by_number:
            errors[f"{path}.line_number"] = [f"Order {order.number} has no line {number}."]
        elif number in seen:
            errors[f"{path}.line_number"] = [f"Line {number} is listed twice."]
        else:
            line = by_number[number]
            seen.add(number)
        if isinstance(quantity, bool) or not isinstance(quantity, int):
            errors[f"{path}.quantity"] = ["Quantity must be a whole number."]
        elif quantity < 0:
            errors[f"{path}.quantity"] = ["Quantity cannot be negative; 0 cancels the line."]
        elif line is not None:
            remaining = line.quantity - line.quantity_cancelled
            if quantity > remaining:
                errors[f"{path}.quantity"] = [
                    f"Line {number} has {remaining} unit(s); a change can lower it, not raise "
                    "it. Place a new order for more."
                ]
            elif quantity < remaining:
                wanted[number] = quantity
    if errors:
        raise InvalidInput(errors)
    return wanted


def reduce_line_quantities(
    *,
    order: Order,
    quantities: dict[int, int],
    actor: Any = None,
    reason: str = "",
    lines: list[OrderLine] | None = None,
) -> dict[int, int]:
    """Lower lines to `quantities` (units still wanted); returns the units cancelled per line.

    The cancelled units come off the backorder first: those are the ones not on their way.
    The caller gives back the reservations of the cancelled units beyond that, in the same
    transaction. `lines`, when the caller has them, are updated in place.
    """
    if lines is None:
        lines = list(order.lines.order_by("line_number"))
    lines = [line for line in lines if line.line_number in quantities]
    cancelled: dict[int, int] = {}
    described = []
    for line in lines:
        remaining = line.quantity - line.quantity_cancelled
        units = remaining - quantities[line.line_number]
        if units <= 0:
            continue
        line.quantity_cancelled += units
        line.quantity_backordered = max(0, line.quantity_backordered - units)
        cancelled[line.line_number] = units
        described.append(
            f"line {line.line_number} ({line.sku_code}) {remaining} → {remaining - units}"
        )
    if not cancelled:
        return cancelled
    OrderLine.objects.bulk_update(lines, ["quantity_cancelled", "quantity_backordered"])
    record_event(
        order=order,
        kind=OrderEvent.Kind.NOTE,
        message="Order changed: "
        + ", ".join(described)
        + "."
        + (f" Reason: {reason}" if reason else ""),
        actor=actor,
        data={
            "change": "lines",
            "cancelled": {str(number): units for number, units in cancelled.items()},
            "reason": reason,
        },
    )
    return cancelled


def update_ship_to(
    *, order: Order, address: Any, actor: Any = None, reason: str = ""
) -> dict[str, str] | None:
    """Check and store a new ship-to address and reprice for it (tax follows the destination).

    Returns the stored address, or None when it is the address the order already has. Raises
    InvalidInput naming `ship_to.<field>` like capture names `delivery.address.<field>`.
    """
    if order.delivery_method != Order.DeliveryMethod.SHIP:
        location = order.pickup_location.code if order.pickup_location else "the store"
        raise InvalidInput(
            {"ship_to": f"Order {order.number} is collected at {location}; it is not shipped."}
        )
    ship_to, errors = clean_address(address, path="ship_to")
    if errors:
        raise InvalidInput(errors)
    if ship_to == order.ship_to:
        return None
    previous = order.ship_to
    order.ship_to = ship_to
    order.save(update_fields=["ship_to", "updated_at"])
    record_event(
        order=order,
        kind=OrderEvent.Kind.NOTE,
        message=f"Ship-to address changed to {format_address(ship_to)}."
        + (f" Reason: {reason}" if reason else ""),
        actor=actor,
        data={"change": "ship_to", "from": previous, "to": ship_to, "reason": reason},
    )
    reprice_order(
        order=order,
        tax_rate=tax_rate_for(country=ship_to.get("country", ""), region=ship_to.get("region", "")),
        actor=actor,
    )
    return ship_to


def format_address(address: dict[str, str]) -> str:
    parts = ("line1", "line2", "city", "region", "postal_code", "country")
    return ", ".join(address[part] for part in parts if address.get(part))


def reprice_order(
    *,
    order: Order,
    tax_rate: Decimal | None = None,
    actor: Any = None,
    lines: list[OrderLine] | None = None,
) -> Order:
    """Recompute the order's totals for the units it still has, and what the payment holds.

    Prices stay as captured. Each line keeps its amounts for the quantity ordered and what
    remains pays its share of them, the same share shipping captures (`unit price × units`,
    `line tax × units / quantity`). With `tax_rate` (a new destination) the lines' tax is
    recomputed at that rate first. Shipping is the service level's price for the weight that
    remains, never more than the customer was quoted. `lines` (with their SKUs), when the
    caller has them, save a query.
    """
    currency = order.currency
    if lines is None:
        lines = list(order.lines.select_related("sku").order_by("line_number"))
    if tax_rate is not None:
        retaxed = []
        for line in lines:
            tax = (Money(line.line_total_amount, currency) * tax_rate).amount
            if tax != line.tax_amount:
                line.tax_amount = tax
                retaxed.append(line)
        OrderLine.objects.bulk_update(retaxed, ["tax_amount"])
    remaining = []
    for line in lines:
        units = line.quantity - line.quantity_cancelled
        if units <= 0:
            continue
        unit_price = Money(line.unit_price_amount, currency)
        remaining.append(
            PricedLine(
                line_number=line.line_number,
                sku_id=line.sku_id,
                sku_code=line.sku_code,
                name=line.name,
                quantity=units,
                unit_price=unit_price,
                line_total=unit_price * units,
                tax=Money(line.tax_amount * units / line.quantity, currency),
                weight_kg=line.sku.weight_kg * units,
            )
        )
    shipping = Money.zero(currency)
    if remaining:
        shipping = min(
            shipping_price(
                service_level=order.service_level,
                weight_kg=sum((line.weight_kg for line in remaining), start=Decimal("0")),
                currency=currency,
            ),
            Money(order.shipping_amount, currency),
        )
    totals = order_totals(lines=remaining, shipping=shipping, currency=currency)
    if order.discount_amount and order.subtotal_amount:
        # A discount shrinks with the goods it was given on.
        discount = Money(
            order.discount_amount * totals.subtotal.amount / order.subtotal_amount, currency
        )
        totals = Totals(
            subtotal=totals.subtotal,
            discount=discount,
            tax=totals.tax,
            shipping=totals.shipping,
            total=totals.subtotal - discount + totals.tax + totals.shipping,
        )
    before = {
        "subtotal": str(order.subtotal_amount),
        "discount": str(order.discount_amount),
        "tax": str(order.tax_amount),
        "shipping": str(order.shipping_amount),
        "total": str(order.total_amount),
    }
    after = {
        "subtotal": str(totals.subtotal.amount),
        "discount": str(totals.discount.amount),
        "tax": str(totals.tax.amount),
        "shipping": str(totals.shipping.amount),
        "total": str(totals.total.amount),
    }
    if before != after:
        order.subtotal_amount = totals.subtotal.amount
        order.discount_amount = totals.discount.amount
        order.tax_amount = totals.tax.amount
        order.shipping_amount = totals.shipping.amount
        order.total_amount = totals.total.amount
        order.save(
            update_fields=[
                "subtotal_amount",
                "discount_amount",
                "tax_amount",
                "shipping_amount",
                "total_amount",
                "updated_at",
            ]
        )
        record_event(
            order=order,
            kind=OrderEvent.Kind.NOTE,
            message=f"Totals recomputed: total {before['total']} → {after['total']} {currency} "
            f"(subtotal {after['subtotal']}, tax {after['tax']}, shipping {after['shipping']}).",
            actor=actor,
            data={"before": before, "after": after},
        )
    _settle_open_payments(order, actor)
    return order


def _settle_open_payments(order: Order, actor: Any) -> None:
    """Make the payments still open hold exactly what the order has yet to collect.

    Less is due: the authorization is lowered on our side; the provider releases what is
    never captured when the authorization is captured or lapses, so no gateway call is
    needed (and a void would drop the whole authorization). More is due (a new address with a
    higher tax): cash on delivery and bank transfer simply ask for more, a card or PayPal
    authorization cannot grow, so the change is refused.
    """
    open_payments = list(
        order.payments.select_for_update()
        .filter(status__in=[Payment.Status.AUTHORIZED, Payment.Status.PENDING])
        .order_by("id")
    )
    if not open_payments:
        return
    collected = order.payments.filter(
        status__in=[Payment.Status.CAPTURED, Payment.Status.REFUNDED]
    ).aggregate(total=Sum("amount"))["total"] or Decimal("0")
    due = max(order.total_amount - collected, Decimal("0"))
    held = sum((payment.amount for payment in open_payments), start=Decimal("0"))
    if held == due:
        return
    if held < due:
        pending = [p for p in open_payments if p.status == Payment.Status.PENDING]
        if not pending:
            raise DomainError(
                f"The change raises what order {order.number} costs to {order.total_amount} "
                f"{order.currency}, more than the {held} {order.currency} the payment "
                "authorized. Cancel and place a new order instead.",
                code="payment_insufficient",
                authorized=str(held),
                total=str(order.total_amount),
            )
        changed = [(pending[-1], pending[-1].amount, pending[-1].amount + due - held)]
    else:
        changed = []
        excess = held - due
        for payment in reversed(open_payments):  # the newest part is released first
            cut = min(excess, payment.amount)
            if cut:
                changed.append((payment, payment.amount, payment.amount - cut))
                excess -= cut
    for payment, old_amount, new_amount in changed:
        if new_amount:
            payment.amount = new_amount
            payment.save(update_fields=["amount", "updated_at"])
        else:
            # Nothing of this part is due any more. It may share the provider's authorization
            # with another part (a split at a partial capture), so no void goes to the gateway.
            transition_payment(payment, Payment.Status.VOIDED)
        record_event(
            order=order,
            kind=OrderEvent.Kind.PAYMENT,
            message=f"{payment.get_method_display()} amount changed from {old_amount} to "
            f"{new_amount} {payment.currency} after the order changed.",
            actor=actor,
            data={
                "payment": payment.pk,
                "status": payment.status,
                "from": str(old_amount),
                "to": str(new_amount),
            },
        )
