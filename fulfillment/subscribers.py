"""Reactions to what lower apps recorded in the outbox."""

from oms.core.models import OutboxMessage
from oms.core.tasks import enqueue_on_commit


def on_order_placed(message: OutboxMessage) -> None:
    from fulfillment.tasks import source_order_task

    enqueue_on_commit(source_order_task, int(message.aggregate_id))


def on_order_hold_released(message: OutboxMessage) -> None:
    """The last hold is gone: pending fulfillment orders are released by the sourcing job,
    and a pickup order whose goods all reached the store meanwhile is announced now.

    The readiness check runs here rather than in a task: it is a few reads and, at most, a
    few row updates for one order, and a failure leaves the message to be relayed again.
    """
    from fulfillment.tasks import source_order_task
    from fulfillment.warehouse import recheck_pickup_ready

    order_id = int(message.aggregate_id)
    enqueue_on_commit(source_order_task, order_id)
    recheck_pickup_ready(order_id=order_id)


def on_stock_received(message: OutboxMessage) -> None:
    from fulfillment.tasks import resource_backorders_for_sku

    enqueue_on_commit(resource_backorders_for_sku, int(message.payload["sku_id"]))


def on_order_cancelled(message: OutboxMessage) -> None:
    """A cancellation made in the orders app (API, admin) cancels what is open of fulfillment.

    Done here rather than in a task: it is a few row updates for one order (its stock was
    already released by the cancel), and a failure leaves the message to be relayed again.
    """
    from fulfillment.changes import cancel_open_fulfillment

    cancel_open_fulfillment(order_id=int(message.aggregate_id))


def on_fulfillment_cancelled(message: OutboxMessage) -> None:
    """A cancelled drop-ship purchase order is cancelled with its vendor too (by email)."""
    from fulfillment.notifications import send_purchase_order_cancellation

    if message.payload.get("purchase_order"):
        enqueue_on_commit(send_purchase_order_cancellation, int(message.aggregate_id))
