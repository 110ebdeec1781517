"""Drop-ship vendors confirm their shipments."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from fulfillment.models import (
    Carrier,
    FulfillmentOrder,
)
from fulfillment.warehouse._common import Kind
from fulfillment.warehouse.shipping import ship
from oms.core.errors import DomainError, InvalidInput

# --- Drop-ship -----------------------------------------------------------------------------


@transaction.atomic
def confirm_vendor_shipment(
    *,
    fulfillment_order: FulfillmentOrder,
    carrier: Carrier | None,
    tracking_number: str,
    actor: Any = None,
) -> FulfillmentOrder:
    """The drop-ship vendor shipped its purchase order: `ship` does the rest (the vendor's
    stock leaves with a shipment movement, the reservation is consumed, payment is captured
    for what shipped, the order moves on, the customer is emailed).

    Sending the same confirmation again returns the fulfillment unchanged; a different
    tracking number for a purchase order that already shipped is refused.
    """
    errors = {}
    if carrier is None:
        errors["carrier"] = "Name the carrier the vendor handed the parcels to."
    if not (tracking_number or "").strip():
        errors["tracking_number"] = "A tracking number is required to confirm the shipment."
    if errors:
        raise InvalidInput(errors)
    if fulfillment_order.kind != Kind.DROPSHIP:
        raise DomainError(
            f"FO-{fulfillment_order.pk} is not a drop-ship vendor request.", code="not_dropship"
        )
    fo = ship(
        fulfillment_order=fulfillment_order,
        carrier=carrier,
        tracking_number=tracking_number,
        actor=actor,
    )
    if fo.tracking_number != tracking_number.strip() or fo.carrier_id != carrier.pk:
        raise DomainError(
            f"Purchase order {fo.purchase_order_number or f'FO-{fo.pk}'} already shipped "
            f"with tracking number {fo.tracking_number}.",
            code="already_shipped",
        )
    return fo
