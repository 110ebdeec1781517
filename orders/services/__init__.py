"""Order use cases: capture, cancel, holds, changes, and the one function that changes an order's
status. Callers import from `orders.services`; the modules split it by stage of the order's life.
"""

from orders.services.after_capture import (
    cancel_order,
    capture_payment,
    place_hold,
    release_all_holds,
    release_hold,
)
from orders.services.capture import (
    PlaceOrderResult,
    clean_address,
    place_order,
    request_fingerprint,
)
from orders.services.changes import (
    CHANGEABLE,
    format_address,
    reduce_line_quantities,
    reprice_order,
    update_ship_to,
    validate_line_changes,
)
from orders.services.events import (
    actor_fields_of,
    fit_event_message,
    record_event,
    reservation_event,
    transition,
    transition_payment,
)

__all__ = [
    "CHANGEABLE",
    "PlaceOrderResult",
    "actor_fields_of",
    "cancel_order",
    "capture_payment",
    "clean_address",
    "fit_event_message",
    "format_address",
    "place_hold",
    "place_order",
    "record_event",
    "reduce_line_quantities",
    "release_all_holds",
    "release_hold",
    "reprice_order",
    "request_fingerprint",
    "reservation_event",
    "transition",
    "transition_payment",
    "update_ship_to",
    "validate_line_changes",
]
