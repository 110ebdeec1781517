from celery import shared_task
from django.conf import settings
from django.utils import timezone

from oms.core.money import Money
from orders.models import IdempotencyKey, Payment
from orders.payments import get_gateway

# Deleting in slices keeps each statement's locks and WAL small on a busy table.
PURGE_BATCH_SIZE = 5000


@shared_task(
    acks_late=True,
    ignore_result=True,
    autoretry_for=(ConnectionError, TimeoutError),
    retry_backoff=True,
    max_retries=8,
)
def void_payment_authorization(payment_id: int) -> None:
    """Tell the provider to drop an authorization the order no longer needs (idempotent)."""
    payment = Payment.objects.filter(pk=payment_id, status=Payment.Status.VOIDED).first()
    if payment is not None and payment.gateway_reference:
        get_gateway().void(gateway_reference=payment.gateway_reference)


@shared_task(acks_late=True, ignore_result=True)
def purge_expired_idempotency_keys() -> int:
    cutoff = timezone.now() - settings.IDEMPOTENCY_KEY_RETENTION
    purged = 0
    while True:
        ids = list(
            IdempotencyKey.objects.filter(created_at__lt=cutoff).values_list("pk", flat=True)[
                :PURGE_BATCH_SIZE
            ]
        )
        if not ids:
            return purged
        purged += IdempotencyKey.objects.filter(pk__in=ids).delete()[0]


@shared_task(
    acks_late=True,
    ignore_result=True,
    autoretry_for=(ConnectionError, TimeoutError),
    retry_backoff=True,
    max_retries=8,
)
def capture_payment_at_gateway(payment_id: int) -> None:
    """Tell the provider to settle a captured payment (providers dedupe by reference)."""
    payment = Payment.objects.filter(pk=payment_id, status=Payment.Status.CAPTURED).first()
    if payment is not None and payment.gateway_reference:
        get_gateway().capture(
            gateway_reference=payment.gateway_reference,
            amount=Money(payment.amount, payment.currency),
        )
