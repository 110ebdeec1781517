"""Emails about fulfillment: to customers (shipped, ready for pickup, delivered, new date for a
backorder, pickup not collected) and to drop-ship vendors (their purchase orders, and the
cancellation of a purchase order they should no longer ship).

Sent by a Celery task after the change commits; each email is recorded on the order's timeline,
and that record is what makes the task safe to run twice.
"""

from __future__ import annotations

import logging
import smtplib
from typing import Any

from celery import shared_task
from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.template.loader import render_to_string

from fulfillment.models import FulfillmentOrder, Package
from orders.models import Order, OrderEvent
from orders.services import record_event

logger = logging.getLogger(__name__)

SUBJECTS = {
    "shipped": "Your order {number} is on its way",
    "ready_for_pickup": "Your order {number} is ready for pickup",
    "delivered": "Your order {number} was delivered",
    "backorder_update": "A new date for your order {number}",
    "pickup_expired": "Your order {number} was not collected and is cancelled",
    "new_date": "A new delivery date for your order {number}",
}
PURCHASE_ORDER_SUBJECT = "Purchase order {number}: please ship to our customer"
PURCHASE_ORDER_CANCELLED_SUBJECT = "Purchase order {number} is cancelled: please do not ship"


def notification_key(template: str, fulfillment_id: Any, once: str = "") -> str:
    """Sent once per template and fulfillment, or per `once` (a caller's key: one email per
    jeopardy alert and date)."""
    return f"{template}:{fulfillment_id or ''}" + (f":{once}" if once else "")


def _already_sent(order_id: int, key: str) -> bool:
    return OrderEvent.objects.filter(
        order_id=order_id, kind=OrderEvent.Kind.NOTIFICATION, data__key=key
    ).exists()


def _context(order: Order, fulfillment: FulfillmentOrder | None) -> dict[str, Any]:
    context: dict[str, Any] = {
        "order": order,
        "customer": order.customer,
        "fulfillment": fulfillment,
        "lines": [],
        "carrier": None,
        "tracking_number": "",
        "tracking_url": "",
        "pickup_location": order.pickup_location,
    }
    if fulfillment is not None:
        context["lines"] = [
            {
                "sku": line.sku.code,
                "name": line.order_line.name,
                "quantity": line.quantity_shipped or line.quantity,
            }
            for line in fulfillment.lines.select_related("sku", "order_line").order_by("pk")
        ]
        package = (
            Package.objects.filter(fulfillment_order=fulfillment, carrier__isnull=False)
            .select_related("carrier")
            .first()
        )
        carrier = fulfillment.carrier or (package.carrier if package else None)
        if carrier is None and fulfillment.carrier_service_id:
            carrier = fulfillment.carrier_service.carrier
        context["carrier"] = carrier
        context["tracking_number"] = fulfillment.tracking_number
        if carrier is not None:
            context["tracking_url"] = carrier.tracking_url(fulfillment.tracking_number)
    return context


@shared_task(
    acks_late=True,
    ignore_result=True,
    autoretry_for=(ConnectionError, TimeoutError, smtplib.SMTPException),
    retry_backoff=True,
    max_retries=8,
)
def notify_customer(order_id: int, template: str, extra: dict[str, Any] | None = None) -> bool:
    """Email the order's customer; returns False when this notification was sent before.

    Delivery is at least once: the timeline row is written after the mail server accepted the
    message, so a worker dying in between sends it again rather than never.
    """
    if template not in SUBJECTS:
        raise ValueError(f"Unknown notification template {template!r}.")
    extra = extra or {}
    fulfillment_id = extra.get("fulfillment")
    key = notification_key(template, fulfillment_id, extra.get("once", ""))
    if _already_sent(order_id, key):
        return False
    order = Order.objects.select_related("customer", "pickup_location").filter(pk=order_id).first()
    if order is None or not order.customer.email:
        return False
    fulfillment = (
        FulfillmentOrder.objects.select_related("location", "carrier", "carrier_service__carrier")
        .filter(pk=fulfillment_id, order=order)
        .first()
        if fulfillment_id
        else None
    )
    # The caller's extras (a new promised date, the pickup hold) fill in the template.
    context = {**extra, **_context(order, fulfillment)}
    body = render_to_string(f"fulfillment/email/{template}.txt", context)
    EmailMessage(
        subject=SUBJECTS[template].format(number=order.number),
        body=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[order.customer.email],
    ).send()
    with transaction.atomic():
        # The lock makes two runs racing past the first check record the email once.
        Order.objects.select_for_update(of=("self",)).filter(pk=order_id).first()
        if not _already_sent(order_id, key):
            record_event(
                order=order,
                kind=OrderEvent.Kind.NOTIFICATION,
                message=f"Emailed {order.customer.email}: "
                f"{SUBJECTS[template].format(number=order.number)}.",
                data={"key": key, "template": template, "fulfillment": fulfillment_id},
            )
    return True


def purchase_order_key(fulfillment_id: int) -> str:
    return f"purchase_order:{fulfillment_id}"


def _purchase_order_sent(order_id: int, key: str) -> bool:
    return OrderEvent.objects.filter(
        order_id=order_id, kind=OrderEvent.Kind.FULFILLMENT, data__key=key
    ).exists()


def _purchase_order_lines(fulfillment: FulfillmentOrder) -> list[dict[str, Any]]:
    return [
        {"sku": line.sku.code, "name": line.order_line.name, "quantity": line.quantity}
        for line in fulfillment.lines.select_related("sku", "order_line").order_by("pk")
    ]


def _record_vendor_event_once(order: Order, *, key: str, message: str, data: dict) -> None:
    """The timeline row that says a vendor email went (or must go by hand), written once even
    when two workers ran the task: the order's lock serialises them, the key tells."""
    with transaction.atomic():
        Order.objects.select_for_update(of=("self",)).filter(pk=order.pk).first()
        if not _purchase_order_sent(order.pk, key):
            record_event(order=order, kind=OrderEvent.Kind.FULFILLMENT, message=message, data=data)


@shared_task(
    acks_late=True,
    ignore_result=True,
    autoretry_for=(ConnectionError, TimeoutError, smtplib.SMTPException),
    retry_backoff=True,
    max_retries=8,
)
def send_purchase_order(fulfillment_id: int) -> bool:
    """Email a drop-ship purchase order to its vendor; False when sent before (or nowhere to).

    At least once, like `notify_customer`: the timeline row follows the mail server's yes. A
    purchase order cancelled before this ran is not sent: its cancellation goes out instead
    (`send_purchase_order_cancellation`), and the vendor is not asked to ship it first.
    """
    fulfillment = (
        FulfillmentOrder.objects.select_related(
            "order__customer", "location", "destination_location", "carrier_service"
        )
        .filter(pk=fulfillment_id, kind=FulfillmentOrder.Kind.DROPSHIP)
        .exclude(purchase_order_number="")
        .exclude(status=FulfillmentOrder.Status.CANCELLED)
        .first()
    )
    if fulfillment is None or not fulfillment.location.contact_email:
        return False
    order, vendor = fulfillment.order, fulfillment.location
    key = purchase_order_key(fulfillment.pk)
    if _purchase_order_sent(order.pk, key):
        return False
    subject = PURCHASE_ORDER_SUBJECT.format(number=fulfillment.purchase_order_number)
    lines = _purchase_order_lines(fulfillment)
    body = render_to_string(
        "fulfillment/email/purchase_order.txt",
        {
            "fulfillment": fulfillment,
            "order": order,
            "vendor": vendor,
            "lines": lines,
            "ship_to": order.ship_to or {},
            # A pickup order's part goes to the pickup store, where the customer collects it.
            "store": fulfillment.destination_location,
            "service": fulfillment.carrier_service,
        },
    )
    EmailMessage(
        subject=subject,
        body=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[vendor.contact_email],
    ).send()
    _record_vendor_event_once(
        order,
        key=key,
        message=f"Emailed purchase order {fulfillment.purchase_order_number} to "
        f"{vendor.code} ({vendor.contact_email}).",
        data={
            "key": key,
            "fulfillment": fulfillment.pk,
            "purchase_order": fulfillment.purchase_order_number,
        },
    )
    return True


def purchase_order_cancellation_key(fulfillment_id: int) -> str:
    return f"purchase_order_cancelled:{fulfillment_id}"


@shared_task(
    acks_late=True,
    ignore_result=True,
    autoretry_for=(ConnectionError, TimeoutError, smtplib.SMTPException),
    retry_backoff=True,
    max_retries=8,
)
def send_purchase_order_cancellation(fulfillment_id: int) -> bool:
    """Tell a drop-ship vendor that a purchase order it was sent is cancelled; False when told
    before, or when the fulfillment is not a cancelled purchase order.

    Once per purchase order, like `send_purchase_order`: the timeline row that follows the mail
    server's yes is the record. It goes out even if the purchase order email itself never did
    (cancelled before that task ran, which then skips it): a vendor reading a cancellation of
    an order it never saw loses a minute, one shipping a cancelled order loses goods. A vendor
    without a contact email gets a timeline row asking staff to tell it by hand.
    """
    fulfillment = (
        FulfillmentOrder.objects.select_related("order__customer", "location")
        .filter(
            pk=fulfillment_id,
            kind=FulfillmentOrder.Kind.DROPSHIP,
            status=FulfillmentOrder.Status.CANCELLED,
        )
        .exclude(purchase_order_number="")
        .first()
    )
    if fulfillment is None:
        return False
    order, vendor = fulfillment.order, fulfillment.location
    number = fulfillment.purchase_order_number
    key = purchase_order_cancellation_key(fulfillment.pk)
    if _purchase_order_sent(order.pk, key):
        return False
    data = {"key": key, "fulfillment": fulfillment.pk, "purchase_order": number}
    if not vendor.contact_email:
        _record_vendor_event_once(
            order,
            key=key,
            message=f"Purchase order {number} is cancelled; {vendor.code} has no contact "
            "email: tell the vendor by hand not to ship it.",
            data=data,
        )
        return False
    lines = _purchase_order_lines(fulfillment)
    body = render_to_string(
        "fulfillment/email/purchase_order_cancelled.txt",
        {"fulfillment": fulfillment, "order": order, "vendor": vendor, "lines": lines},
    )
    EmailMessage(
        subject=PURCHASE_ORDER_CANCELLED_SUBJECT.format(number=number),
        body=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[vendor.contact_email],
    ).send()
    _record_vendor_event_once(
        order,
        key=key,
        message=f"Emailed the cancellation of purchase order {number} to "
        f"{vendor.code} ({vendor.contact_email}).",
        data=data,
    )
    return True
