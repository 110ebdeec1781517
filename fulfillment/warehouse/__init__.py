"""Warehouse work: pick lists, pick confirmation (with short picks), pack, ship, deliver, pickup.

Every step is idempotent: repeating a completed step returns the current state and does nothing
twice. Status changes go through `transition_fulfillment` (fulfillment orders),
`transition_pick_list` (pick lists) and `orders.services.transition` (orders).

Lock order, the same in every function here and in the services they call, so two workers
never wait on each other in a circle: orders → fulfillment orders → pick list → pick items →
fulfillment lines → reservations → stock levels, each group by primary key.
"""

from fulfillment.warehouse.dropship import confirm_vendor_shipment
from fulfillment.warehouse.picking import build_pick_lists, confirm_pick, pack, transition_pick_list
from fulfillment.warehouse.pickup import (
    confirm_pickup,
    expire_uncollected_pickup,
    mark_ready_for_pickup,
    pickup_hold_cutoff,
    recheck_pickup_ready,
)
from fulfillment.warehouse.shipping import confirm_delivery, receive_transfer, ship

__all__ = [
    "build_pick_lists",
    "confirm_delivery",
    "confirm_pick",
    "confirm_pickup",
    "confirm_vendor_shipment",
    "expire_uncollected_pickup",
    "mark_ready_for_pickup",
    "pack",
    "pickup_hold_cutoff",
    "receive_transfer",
    "recheck_pickup_ready",
    "ship",
    "transition_pick_list",
]
