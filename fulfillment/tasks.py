from datetime import timedelta

from celery import shared_task
from django.db import OperationalError
from django.db.models import Exists, OuterRef
from django.utils import timezone

from fulfillment.models import OPEN_FULFILLMENT_STATUSES, FulfillmentLine, FulfillmentOrder
from fulfillment.sourcing.service import SOURCEABLE, source_order
from fulfillment.warehouse import expire_uncollected_pickup, pickup_hold_cutoff
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
            status__in=SOURCEABLE,
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


# Orders are read this many at a time: each is cancelled in its own short transaction, and a
# page this size keeps the query (an index scan on fo_pickup_ready_idx) cheap however many
# pickups expire on the same day.
PICKUP_EXPIRY_BATCH_SIZE = 200


@shared_task(
    acks_late=True,
    ignore_result=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
)
def cancel_uncollected_pickups() -> int:
    """Cancel and restock pickup orders not collected within PICKUP_HOLD_DAYS of being ready.

    Idempotent: an order cancelled by an earlier run no longer matches, and the per-order
    service checks again under the order's lock.
    """
    now = timezone.now()
    cutoff = pickup_hold_cutoff(now)
    cancelled = 0
    after = 0
    while True:
        order_ids = list(
            FulfillmentOrder.objects.filter(
                kind=FulfillmentOrder.Kind.PICKUP,
                status=FulfillmentOrder.Status.READY_FOR_PICKUP,
                ready_at__lte=cutoff,
                order__status=Order.Status.READY_FOR_PICKUP,
                order_id__gt=after,
            )
            .order_by("order_id")
            .values_list("order_id", flat=True)
            .distinct()[:PICKUP_EXPIRY_BATCH_SIZE]
        )
        if not order_ids:
            return cancelled
        for order_id in order_ids:
            cancelled += expire_uncollected_pickup(order_id=order_id, now=now)
        after = order_ids[-1]


@shared_task(acks_late=True, ignore_result=True)
def send_jeopardy_digests_task() -> int:
    """The daily digest to location managers; running it again the same day sends nothing."""
    # Imported here: the jeopardy services build on fulfillment.changes, which imports this
    # module for source_order_task.
    from fulfillment.jeopardy.digest import send_jeopardy_digests

    return send_jeopardy_digests()


@shared_task(
    acks_late=True,
    ignore_result=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
)
def scan_for_jeopardy_task() -> dict[str, int]:
    """Beat runs it every JEOPARDY_SCAN_SECONDS; running it twice raises nothing twice."""
    from fulfillment.jeopardy.scan import scan_for_jeopardy

    result = scan_for_jeopardy()
    return {"raised": result.total_raised, "resolved": result.total_resolved}
