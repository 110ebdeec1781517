"""Purchase orders to suppliers: the one place their status changes, approving and sending,
cancelling, and receiving the goods (stock goes up through `inventory.services.receive_stock`,
whose `stock.received` message lets fulfillment re-source backorders for the SKU)."""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Sum
from django.utils import timezone

from inventory.models import PurchaseOrder, PurchaseOrderLine, StockMovement
from inventory.services import receive_stock
from oms.core.db import retry_transient
from oms.core.errors import IllegalTransition, InvalidInput
from oms.core.tasks import enqueue_on_commit

Status = PurchaseOrder.Status
TRANSITIONS: dict[str, set[str]] = {
    Status.DRAFT: {Status.SENT, Status.CANCELLED},
    Status.SENT: {Status.PARTIALLY_RECEIVED, Status.RECEIVED, Status.CANCELLED},
    # Once goods came in, what is missing is closed short (received), never cancelled.
    Status.PARTIALLY_RECEIVED: {Status.PARTIALLY_RECEIVED, Status.RECEIVED},
    Status.RECEIVED: set(),
    Status.CANCELLED: set(),
}
RECEIVABLE = {Status.SENT, Status.PARTIALLY_RECEIVED}
NUMBER_FORMAT = "PO-{:06d}"
# The movement reference a receipt with a client key carries; the key is what makes a retried
# receipt harmless, so it must fit StockMovement.reference whole.
RECEIPT_REFERENCE = "{number} receipt {key}"
MAX_RECEIPT_KEY_LENGTH = 64


def transition_purchase_order(
    purchase_order: PurchaseOrder, to_status: str, *, update_fields: Sequence[str] = ()
) -> PurchaseOrder:
    """The only place a purchase order's status changes; the caller holds its row lock."""
    from_status = purchase_order.status
    if to_status not in TRANSITIONS[from_status]:
        raise IllegalTransition(
            f"Purchase order {purchase_order.number} cannot go from "
            f"{Status(from_status).label} to {Status(to_status).label}.",
            from_status=from_status,
            to_status=to_status,
        )
    purchase_order.status = to_status
    purchase_order.save(update_fields=["status", "updated_at", *update_fields])
    return purchase_order


def temporary_number() -> str:
    """Unique until the row has a primary key to number it by (`assign_numbers`)."""
    return f"new-{uuid.uuid4().hex[:16]}"


def assign_numbers(purchase_orders: Iterable[PurchaseOrder]) -> None:
    """PO-000123 from the primary key: unique without a counter row to fight over."""
    numbered = list(purchase_orders)
    for purchase_order in numbered:
        purchase_order.number = NUMBER_FORMAT.format(purchase_order.pk)
    PurchaseOrder.objects.bulk_update(numbered, ["number"], batch_size=1000)


# What staff may edit on a draft by hand; status and numbers change only through services.
DRAFT_FIELDS = ("supplier", "destination", "currency", "expected_date")


@transaction.atomic
def save_draft_purchase_order(*, purchase_order: PurchaseOrder, created_by: str) -> PurchaseOrder:
    """A draft staff typed in (admin form): a new one is numbered; an existing one may change
    only its DRAFT_FIELDS, and only while it is still a draft."""
    if purchase_order.pk is None:
        purchase_order.number = temporary_number()
        purchase_order.created_by = created_by
        purchase_order.save()
        assign_numbers([purchase_order])
        return purchase_order
    current = PurchaseOrder.objects.select_for_update().get(pk=purchase_order.pk)
    if current.status != Status.DRAFT:
        raise IllegalTransition(
            f"{current.number} is {current.get_status_display().lower()}: only a draft "
            "purchase order can be edited.",
            from_status=current.status,
            to_status=current.status,
        )
    # Only the draft's own fields: a full save would write back a status read earlier.
    purchase_order.save(update_fields=[*DRAFT_FIELDS, "updated_at"])
    return purchase_order


@transaction.atomic
def create_purchase_order(
    *, supplier, destination, expected_date, lines: Sequence[dict[str, Any]], created_by: str = ""
) -> PurchaseOrder:
    """A draft by hand (the admin does it through its forms; tests and scripts through this).

    `lines`: dicts with sku, quantity and optionally unit_cost_amount and reason.
    """
    purchase_order = PurchaseOrder.objects.create(
        number=temporary_number(),
        supplier=supplier,
        destination=destination,
        currency=supplier.currency,
        expected_date=expected_date,
        created_by=created_by,
    )
    assign_numbers([purchase_order])
    # The supplier's price and code for the SKU, else our own cost price.
    items = {
        sku_id: (cost, code)
        for sku_id, cost, code in supplier.items.values_list(
            "sku_id", "cost_amount", "supplier_sku"
        )
    }
    PurchaseOrderLine.objects.bulk_create(
        [
            PurchaseOrderLine(
                purchase_order=purchase_order,
                sku=line["sku"],
                supplier_sku=items.get(line["sku"].pk, (None, ""))[1],
                quantity_ordered=line["quantity"],
                unit_cost_amount=line.get(
                    "unit_cost_amount",
                    items.get(line["sku"].pk, (line["sku"].cost_amount, ""))[0],
                ),
                reason=line.get("reason", ""),
            )
            for line in lines
        ]
    )
    return purchase_order


def order_total(purchase_order: PurchaseOrder) -> Decimal:
    total = purchase_order.lines.aggregate(
        total=Sum(F("quantity_ordered") * F("unit_cost_amount"))
    )["total"]
    return Decimal(total or 0).quantize(Decimal("0.01"))


@transaction.atomic
def approve_and_send(*, purchase_order: PurchaseOrder, actor) -> PurchaseOrder:
    """Staff approve a draft: it is sent, and emailed to the supplier once, after commit.

    Approving again is harmless. A draft worth less than the supplier's minimum order is
    refused (the reorder job drafts it anyway and leaves the decision to staff: add to it, or
    cancel it), as is one with no lines.
    """
    purchase_order = (
        PurchaseOrder.objects.select_for_update(of=("self",))
        .select_related("supplier")
        .get(pk=purchase_order.pk)
    )
    if purchase_order.status != Status.DRAFT:
        if purchase_order.sent_at is not None and purchase_order.status != Status.CANCELLED:
            return purchase_order  # sent before: a double click
        transition_purchase_order(purchase_order, Status.SENT)  # refuses with the reason
    supplier = purchase_order.supplier
    if not purchase_order.lines.exists():
        raise InvalidInput({"lines": "Add at least one line before sending."})
    if not supplier.is_active:
        raise InvalidInput({"supplier": f"Supplier {supplier.code} is inactive."})
    total = order_total(purchase_order)
    if total < supplier.minimum_order_amount:
        raise InvalidInput(
            {
                "supplier": f"{purchase_order.number} is worth {total} {purchase_order.currency}"
                f", below {supplier.code}'s minimum order of {supplier.minimum_order_amount}. "
                "Add lines or quantities, or cancel it."
            }
        )
    purchase_order.approved_by = actor if getattr(actor, "pk", None) else None
    purchase_order.sent_at = timezone.now()
    transition_purchase_order(purchase_order, Status.SENT, update_fields=["approved_by", "sent_at"])
    from inventory.tasks import email_purchase_order

    enqueue_on_commit(email_purchase_order, purchase_order.pk)
    return purchase_order


@transaction.atomic
def cancel_purchase_order(*, purchase_order: PurchaseOrder) -> PurchaseOrder:
    """A draft or a sent order nothing has arrived for; cancelling twice is harmless."""
    purchase_order = PurchaseOrder.objects.select_for_update().get(pk=purchase_order.pk)
    if purchase_order.status == Status.CANCELLED:
        return purchase_order
    return transition_purchase_order(purchase_order, Status.CANCELLED)


@dataclass(frozen=True, slots=True)
class ReceiptLine:
    sku: str  # code, as on the delivery note
    quantity: int


def over_receipt_limit(quantity_ordered: int) -> int:
    """The most units a line may bring in: suppliers ship full cartons, within a tolerance."""
    percent = settings.PO_OVER_RECEIPT_PERCENT
    return quantity_ordered + math.floor(quantity_ordered * percent / 100)


@retry_transient
@transaction.atomic
def receive_purchase_order(
    *,
    purchase_order: PurchaseOrder,
    lines: Sequence[ReceiptLine],
    close: bool = False,
    receipt_key: str = "",
    actor=None,
) -> PurchaseOrder:
    """Goods arrived at the destination: stock goes up through movements, the lines count them.

    Under-receipt leaves the order partially received (more may come), unless `close`: then
    the rest is not expected any more and the order is received, short. Over-receipt is taken
    up to PO_OVER_RECEIPT_PERCENT above the ordered quantity; beyond that nothing is written
    and the line is named. With a `receipt_key` (the delivery note, or the API's
    Idempotency-Key) the same receipt sent twice is taken once.
    """
    purchase_order = (
        PurchaseOrder.objects.select_for_update(of=("self",))
        .select_related("destination")
        .get(pk=purchase_order.pk)
    )
    reference = purchase_order.number
    if receipt_key:
        if len(receipt_key) > MAX_RECEIPT_KEY_LENGTH:
            raise InvalidInput(
                {"receipt_key": f"At most {MAX_RECEIPT_KEY_LENGTH} characters, please."}
            )
        reference = RECEIPT_REFERENCE.format(number=purchase_order.number, key=receipt_key)
        if StockMovement.objects.filter(
            reference=reference, kind=StockMovement.Kind.RECEIPT
        ).exists():
            return purchase_order  # this receipt was booked already
    if purchase_order.status not in RECEIVABLE:
        raise IllegalTransition(
            f"Purchase order {purchase_order.number} is {Status(purchase_order.status).label}"
            f"; only sent orders are received.",
            status=purchase_order.status,
        )
    if not lines and not close:
        raise InvalidInput({"lines": "List what arrived: at least one SKU and quantity."})
    order_lines = {
        line.sku.code: line
        for line in purchase_order.lines.select_for_update(of=("self",))
        .select_related("sku")
        .order_by("pk")
    }
    errors: dict[str, str] = {}
    received: dict[str, int] = {}
    for index, line in enumerate(lines):
        order_line = order_lines.get(line.sku)
        if order_line is None:
            errors[f"lines[{index}].sku"] = (
                f"{line.sku} is not on {purchase_order.number}; receive it as stock instead."
            )
            continue
        if line.quantity <= 0:
            errors[f"lines[{index}].quantity"] = "Receive at least one unit."
            continue
        if line.sku in received:
            errors[f"lines[{index}].sku"] = f"{line.sku} is listed twice; add the quantities."
            continue
        limit = over_receipt_limit(order_line.quantity_ordered)
        if order_line.quantity_received + line.quantity > limit:
            errors[f"lines[{index}].quantity"] = (
                f"{line.sku}: {order_line.quantity_ordered} ordered, "
                f"{order_line.quantity_received} received before; {line.quantity} more would "
                f"pass the {settings.PO_OVER_RECEIPT_PERCENT}% over-receipt allowance "
                f"(at most {limit - order_line.quantity_received})."
            )
            continue
        received[line.sku] = line.quantity
    if errors:
        raise InvalidInput(errors)
    # Stock rows are locked one SKU at a time: in SKU order, as every other receipt does.
    changed = []
    for code, order_line in sorted(order_lines.items(), key=lambda item: item[1].sku_id):
        quantity = received.get(code)
        if not quantity:
            continue
        receive_stock(
            sku=order_line.sku,
            location=purchase_order.destination,
            quantity=quantity,
            reference=reference,
            reason=f"purchase order {purchase_order.number}",
            actor=actor,
        )
        order_line.quantity_received += quantity
        changed.append(order_line)
    PurchaseOrderLine.objects.bulk_update(changed, ["quantity_received"])
    complete = all(line.quantity_received >= line.quantity_ordered for line in order_lines.values())
    if complete or close:
        purchase_order.received_at = timezone.now()
        transition_purchase_order(purchase_order, Status.RECEIVED, update_fields=["received_at"])
    elif changed:
        transition_purchase_order(purchase_order, Status.PARTIALLY_RECEIVED)
    return purchase_order
