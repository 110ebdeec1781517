"""Reactions to what lower apps recorded in the outbox."""

from oms.core.models import OutboxMessage
from oms.core.tasks import enqueue_on_commit


def on_order_placed(message: OutboxMessage) -> None:
    from fulfillment.tasks import source_order_task

    enqueue_on_commit(source_order_task, int(message.aggregate_id))


def on_stock_received(message: OutboxMessage) -> None:
    from fulfillment.tasks import resource_backorders_for_sku

    enqueue_on_commit(resource_backorders_for_sku, int(message.payload["sku_id"]))
