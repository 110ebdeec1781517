"""Background jobs of the inventory app: the reorder job and the email of a sent purchase order."""

from __future__ import annotations

import smtplib

from celery import shared_task
from django.conf import settings
from django.core.mail import EmailMessage
from django.template.loader import render_to_string
from django.utils import timezone

from inventory.models import PurchaseOrder
from inventory.replenishment.purchasing import order_total
from inventory.replenishment.reorder import run_reorder

PURCHASE_ORDER_SUBJECT = "Purchase order {number}"


@shared_task(acks_late=True, ignore_result=True)
def run_reorder_job() -> int:
    """Beat runs this (REORDER_JOB_MINUTES); returns how many purchase orders it drafted."""
    return len(run_reorder().purchase_orders)


@shared_task(
    acks_late=True,
    ignore_result=True,
    autoretry_for=(ConnectionError, TimeoutError, smtplib.SMTPException),
    retry_backoff=True,
    max_retries=8,
)
def email_purchase_order(purchase_order_id: int) -> bool:
    """Email a sent purchase order to its supplier; False when emailed before (or nowhere to).

    At least once: `emailed_at` is set after the mail server said yes, so a worker that dies
    in between sends it again rather than never.
    """
    purchase_order = (
        PurchaseOrder.objects.select_related("supplier", "destination")
        .filter(pk=purchase_order_id, emailed_at__isnull=True, sent_at__isnull=False)
        .exclude(status=PurchaseOrder.Status.CANCELLED)
        .first()
    )
    if purchase_order is None or not purchase_order.supplier.contact_email:
        return False
    body = render_to_string(
        "inventory/email/purchase_order.txt",
        {
            "purchase_order": purchase_order,
            "supplier": purchase_order.supplier,
            "destination": purchase_order.destination,
            "lines": purchase_order.lines.select_related("sku").order_by("pk"),
            "total": order_total(purchase_order),
        },
    )
    EmailMessage(
        subject=PURCHASE_ORDER_SUBJECT.format(number=purchase_order.number),
        body=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[purchase_order.supplier.contact_email],
    ).send()
    PurchaseOrder.objects.filter(pk=purchase_order.pk, emailed_at__isnull=True).update(
        emailed_at=timezone.now()
    )
    return True
