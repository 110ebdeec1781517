from django.apps import AppConfig


class FulfillmentConfig(AppConfig):
    name = "fulfillment"

    def ready(self) -> None:
        from fulfillment.sourcing.planner import EnginePlanner
        from fulfillment.subscribers import (
            on_fulfillment_cancelled,
            on_order_cancelled,
            on_order_hold_released,
            on_order_placed,
            on_stock_received,
        )
        from oms.core import outbox
        from orders.planning import set_planner

        # Capture reserves by the rules engine from now on (orders cannot import us).
        set_planner(EnginePlanner())
        outbox.subscribe("order.placed", on_order_placed)
        outbox.subscribe("order.hold_released", on_order_hold_released)
        outbox.subscribe("stock.received", on_stock_received)
        # A cancellation in the orders app cancels the fulfillment orders left open.
        outbox.subscribe("order.cancelled", on_order_cancelled)
        # A cancelled purchase order is cancelled with its vendor too.
        outbox.subscribe("fulfillment.cancelled", on_fulfillment_cancelled)

        # Rule sets, carrier services and holidays are cached per process; saves invalidate.
        from fulfillment import reference_cache

        reference_cache.connect_signals()
