from datetime import timedelta

from celery import shared_task
from django.db import OperationalError
from django.db.models import Exists, OuterRef
from django.utils import timezone

from fulfillment.models import OPEN_FULFILLMENT_STATUSES, FulfillmentLine
from fulfillment.sourcing.service import source_order
from inventory.models import Reservation
from orders.models import Order, OrderLine

# A sweep enqueues at most this many orders: enough to drain a worker's backlog within one
# beat period at the target rate (100 orders/s), small enough to keep the query cheap.
SWEEP_BATCH_SIZE = 200
# Fresh orders are sourced by their own after-commit task; the sweep leaves them that long.
SWEEP_GRACE = timedelta(seconds=30)


@shared_task(
    acks_late=True,
    ignore_result=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
)
def source_order_task(order_id: int) -> int:
    return len(source_order(order_id=order_id))


def orders_needing_sourcing(*, limit: int = SWEEP_BATCH_SIZE, sku_id: int | None = None):
    uncovered = Reservation.objects.filter(
        order_line__order=OuterRef("pk"), state=Reservation.State.ACTIVE
    ).exclude(
        pk__in=FulfillmentLine.objects.filter(
            fulfillment_order__status__in=OPEN_FULFILLMENT_STATUSES, reservation__isnull=False
        ).values("reservation_id")
    )
    backordered = OrderLine.objects.filter(order=OuterRef("pk"), quantity_backordered__gt=0)
    if sku_id is not None:
        backordered = backordered.filter(sku_id=sku_id)
        orders = Order.objects.filter(Exists(backordered))
    else:
        orders = Order.objects.filter(Exists(uncovered) | Exists(backordered))
    return list(
        orders.filter(
            status__in=[Order.Status.PLACED, Order.Status.BACKORDERED, Order.Status.RELEASED],
            is_on_hold=False,
            placed_at__lte=timezone.now() - (SWEEP_GRACE if sku_id is None else timedelta(0)),
        )
        .order_by("placed_at")
        .values_list("pk", flat=True)[:limit]
    )


@shared_task(acks_late=True, ignore_result=True)
def sweep_unsourced_orders() -> int:
    """Picks up what a lost message left behind, and backorders stock may now fill."""
    order_ids = orders_needing_sourcing()
    for order_id in order_ids:
        source_order_task.delay(order_id)
    return len(order_ids)


@shared_task(acks_late=True, ignore_result=True)
def resource_backorders_for_sku(sku_id: int) -> int:
    order_ids = orders_needing_sourcing(sku_id=sku_id)
    for order_id in order_ids:
        source_order_task.delay(order_id)
    return len(order_ids)
