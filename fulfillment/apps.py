from django.apps import AppConfig


class FulfillmentConfig(AppConfig):
    name = "fulfillment"

    def ready(self) -> None:
        from fulfillment.sourcing.planner import EnginePlanner
        from fulfillment.subscribers import on_order_placed, on_stock_received
        from oms.core import outbox
        from orders.planning import set_planner

        # Capture reserves by the rules engine from now on (orders cannot import us).
        set_planner(EnginePlanner())
        outbox.subscribe("order.placed", on_order_placed)
        outbox.subscribe("stock.received", on_stock_received)
