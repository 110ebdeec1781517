"""Changes to an order during fulfillment: lower or cancel lines, change the ship-to address,
cancel the whole order.

A change cancels the open fulfillment orders it touches (taking their lines off open pick
lists), gives back the stock they no longer need, lets the order's side recompute what the
customer pays (`orders.services`), and sends the order back to sourcing: the order returns to
`placed` (or `backordered`) and `source_order_task` runs after commit to turn what is reserved
into new fulfillment orders. Units that left a location are never changed: a change that would
need them is refused (409) and writes nothing. Every step is an event on the order's timeline.

What happens to stock:
- Lowering a line gives back only the units cancelled; every other reservation, including
  those of the cancelled fulfillment orders' other lines, stays with the order and the sourcing
  job wraps it into a new fulfillment order at the same location. No unit the order keeps is
  ever offered to another order in between, and none is counted twice: ATP changes by exactly
  the cancelled units, at once.
- A new address needs a new plan (another location may now be closer or the only one that can
  reach it; carriers and dates change), so every unshipped reservation is released and the
  units are re-reserved for the new destination in the same transaction, with the stock rows of
  the order's SKUs locked (in pk order) from release to re-reservation: the order keeps its
  units when it can, nobody can take them in between, and an address no location can serve
  is refused before anything is written.

Lock order, as in fulfillment.warehouse: order → fulfillment orders → pick lists → pick items →
reservations → stock levels, each group by primary key.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.db import transaction
from django.db.models import Sum

from fulfillment.geo import locate
from fulfillment.models import (
    OPEN_FULFILLMENT_STATUSES,
    FulfillmentLine,
    FulfillmentOrder,
    PickList,
    PickListItem,
)
from fulfillment.services import lock_order, transition_fulfillment, uncovered_reservations
from fulfillment.sourcing.service import outstanding_units, reserve_outstanding
from fulfillment.tasks import source_order_task
from fulfillment.warehouse import transition_pick_list
from inventory.models import Reservation, StockLevel
from inventory.services import release_reservation_units, release_reservations
from oms.core import outbox
from oms.core.db import retry_transient
from oms.core.errors import DomainError, IllegalTransition, InsufficientStock, InvalidInput
from oms.core.tasks import enqueue_on_commit
from orders.models import Order, OrderEvent
from orders.services import (
    CHANGEABLE,
    cancel_order,
    clean_address,
    record_event,
    reduce_line_quantities,
    reprice_order,
    reservation_event,
    transition,
    update_ship_to,
    validate_line_changes,
)

Status = FulfillmentOrder.Status
# Goods of these orders reached the customer (or are on their way): only a return changes them.
SHIPPED_ORDER_STATUSES = {
    Order.Status.PARTIALLY_SHIPPED,
    Order.Status.SHIPPED,
    Order.Status.COMPLETED,
}
# How far a fulfillment order has got: releasing units from the least advanced disturbs least.
STAGE = {
    Status.PENDING: 0,
    Status.RELEASED: 1,
    Status.PICKING: 2,
    Status.PACKED: 3,
    Status.READY_FOR_PICKUP: 4,
}
BACK_TO_SOURCING = "changed during fulfillment; back to sourcing"


# --- Entry points --------------------------------------------------------------------------


@retry_transient
@transaction.atomic
def change_order(
    *,
    order_id: int,
    lines: list[dict[str, Any]] | None = None,
    ship_to: dict[str, Any] | None = None,
    actor: Any = None,
    reason: str = "",
) -> Order:
    """Lower or cancel lines and/or change the ship-to address, in one transaction.

    `lines` is [{"line_number", "quantity"}] with the quantity still wanted (0 cancels the
    line); more than the line has is refused (400). Asking for what the order already has is
    a no-op, so a retried request is harmless. Lines go first: the new address is then planned
    for what remains. Cancelling every remaining unit cancels the order (then the address does
    not matter). 400 names the field; 409 when units already shipped (naming the line) or the
    order is past changing.
    """
    order = lock_order(order_id)
    if ship_to is not None:
        _check_address(order, ship_to)  # cheap refusals before any work
    if lines is not None:
        _change_lines(order, lines, actor=actor, reason=reason)
    cancelled_by_lines = lines is not None and order.status == Order.Status.CANCELLED
    if ship_to is not None and not cancelled_by_lines:
        _change_ship_to(order, ship_to, actor=actor, reason=reason)
    return order


def change_order_lines(
    order_id: int, changes: list[dict[str, Any]], *, actor: Any = None, reason: str = ""
) -> Order:
    """Lower lines to the quantities given (0 cancels a line); see `change_order`."""
    return change_order(order_id=order_id, lines=changes, actor=actor, reason=reason)


def change_ship_to(
    order_id: int, address: dict[str, Any], *, actor: Any = None, reason: str = ""
) -> Order:
    """Ship a ship order somewhere else; see `change_order`."""
    return change_order(order_id=order_id, ship_to=address, actor=actor, reason=reason)


@retry_transient
@transaction.atomic
def cancel_order_with_fulfillment(*, order_id: int, actor: Any = None, reason: str = "") -> Order:
    """Cancel the whole order and all of its fulfillment that has not shipped, atomically.

    Policy — cancel what has not left a location, refuse what the order's state machine
    refuses: open fulfillment orders (pending, released, picking, packed, ready for pickup) are
    cancelled and taken off open pick lists, then `orders.services.cancel_order` releases every
    reservation, voids the payment and cancels the order. An order whose goods reached the
    customer (partially shipped, shipped, completed) is refused with 409 and nothing is
    written. A pickup order can be cancelled while a transfer to its store is on the road:
    that transfer is left to arrive, and its units go on sale at the store when received.
    Cancelling twice is harmless, and a second call cancels anything a first cancellation
    through the orders API left open.
    """
    order = lock_order(order_id)
    note = f"order cancelled: {reason}" if reason else "order cancelled"
    _cancel_fulfillment_orders(order, _open_fulfillment_ids(order), actor=actor, note=note)
    cancel_order(order=order, actor=actor, reason=reason)
    return order


@retry_transient
@transaction.atomic
def cancel_open_fulfillment(
    *, order_id: int, actor: Any = "job:order-cancelled"
) -> list[FulfillmentOrder]:
    """The fulfillment side of a cancellation made in the orders app (API, admin).

    orders cannot call fulfillment, so `cancel_order` records `order.cancelled` in the outbox
    and this runs when the relay delivers it, moments after the cancel commits. Until then the
    cancelled order's fulfillment orders look open, but nothing can come of it: its
    reservations are already released, `ship` refuses a cancelled order and a pickup needs its
    reservation. Does nothing for an order that is not cancelled; running it twice does it once.
    """
    order = Order.objects.select_for_update(of=("self",)).filter(pk=order_id).first()
    if order is None or order.status != Order.Status.CANCELLED:
        return []
    cancelled = _cancel_fulfillment_orders(
        order, _open_fulfillment_ids(order), actor=actor, note="order cancelled"
    )
    # cancel_order gave back every reservation; anything still held is given back too.
    released = release_reservations(order_line_ids=list(order.lines.values_list("pk", flat=True)))
    if released:
        record_event(
            order=order,
            kind=OrderEvent.Kind.STOCK_RELEASED,
            message=f"Released {released} reserved unit(s) of the cancelled order.",
            actor=actor,
            data={"units": released},
        )
    return cancelled


# --- Lines ---------------------------------------------------------------------------------


def _change_lines(order: Order, changes: Any, *, actor: Any, reason: str) -> None:
    order_lines = list(order.lines.select_related("sku").order_by("line_number"))
    wanted = validate_line_changes(order=order, changes=changes, lines=order_lines)
    if not wanted:
        return  # the order already looks like this: a retry
    index_of = {change["line_number"]: index for index, change in enumerate(changes)}
    lines = {line.line_number: line for line in order_lines if line.line_number in wanted}
    reservations = list(
        Reservation.objects.filter(
            order_line_id__in=[line.pk for line in lines.values()],
            state__in=[Reservation.State.ACTIVE, Reservation.State.FULFILLED],
        )
        .select_related("sku", "location")
        .order_by("pk")
    )
    shipped: dict[int, int] = defaultdict(int)
    for reservation in reservations:
        if reservation.state == Reservation.State.FULFILLED:
            shipped[reservation.order_line_id] += reservation.quantity
    for number, quantity in sorted(wanted.items()):
        line = lines[number]
        if shipped[line.pk] > quantity:
            raise DomainError(
                f"Line {number} ({line.sku_code}): {shipped[line.pk]} unit(s) already shipped; "
                "the line cannot go below that. Start a return for shipped units.",
                code="already_shipped",
                field=f"lines[{index_of[number]}].quantity",
                line_number=number,
                shipped=shipped[line.pk],
            )
    _require_changeable(order)

    active = [r for r in reservations if r.state == Reservation.State.ACTIVE]
    holders = {
        reservation_id: (fulfillment_id, status)
        for reservation_id, fulfillment_id, status in FulfillmentLine.objects.filter(
            reservation_id__in=[r.pk for r in active],
            fulfillment_order__status__in=OPEN_FULFILLMENT_STATUSES,
        ).values_list("reservation_id", "fulfillment_order_id", "fulfillment_order__status")
    }

    def disturbance(reservation: Reservation) -> tuple[int, int]:
        """Reservations no fulfillment order holds first, then the least advanced work."""
        holder = holders.get(reservation.pk)
        return (STAGE.get(holder[1], 0) + 1 if holder else 0, -reservation.pk)

    to_release: dict[int, int] = {}
    for number, quantity in wanted.items():
        line = lines[number]
        remaining = line.quantity - line.quantity_cancelled
        held = [r for r in active if r.order_line_id == line.pk]
        # Units neither reserved nor shipped (backordered, or waiting for the sourcing job)
        # are cancelled first: they cost nobody any work.
        not_reserved = max(remaining - sum(r.quantity for r in held) - shipped[line.pk], 0)
        units = remaining - quantity - not_reserved
        for reservation in sorted(held, key=disturbance):
            if units <= 0:
                break
            taken = min(units, reservation.quantity)
            to_release[reservation.pk] = taken
            units -= taken

    reduce_line_quantities(
        order=order, quantities=wanted, actor=actor, reason=reason, lines=order_lines
    )
    touched = sorted({holders[pk][0] for pk in to_release if pk in holders})
    note = "order changed: " + ", ".join(
        f"line {number} now {quantity}" for number, quantity in sorted(wanted.items())
    )
    _cancel_fulfillment_orders(order, touched, actor=actor, note=note)
    _release_units(order, to_release, {r.pk: r for r in active}, actor=actor)

    if all(line.quantity_cancelled == line.quantity for line in order_lines):
        cancel_order(order=order, actor=actor, reason=reason or "every line cancelled")
        return
    reprice_order(order=order, actor=actor, lines=order_lines)
    _back_to_sourcing(order, resourcing=bool(touched), actor=actor)


# --- Address -------------------------------------------------------------------------------


def _check_address(order: Order, address: Any) -> None:
    if order.delivery_method != Order.DeliveryMethod.SHIP:
        location = order.pickup_location.code if order.pickup_location else "the store"
        raise InvalidInput(
            {"ship_to": f"Order {order.number} is collected at {location}; it is not shipped."}
        )
    ship_to, errors = clean_address(address, path="ship_to")
    if errors:
        raise InvalidInput(errors)
    if locate(ship_to) is None:
        raise InvalidInput({"ship_to.country": "We cannot deliver to this place."})


def _change_ship_to(order: Order, address: Any, *, actor: Any, reason: str) -> None:
    ship_to, _ = clean_address(address, path="ship_to")
    if ship_to == order.ship_to:
        return  # the order already goes there: a retry
    if order.status in SHIPPED_ORDER_STATUSES:
        raise DomainError(
            f"Order {order.number} has shipped; its address can no longer change.",
            code="already_shipped",
            field="ship_to",
        )
    _require_changeable(order)
    update_ship_to(order=order, address=ship_to, actor=actor, reason=reason)
    _cancel_fulfillment_orders(
        order, _open_fulfillment_ids(order), actor=actor, note="ship-to address changed"
    )

    # From here to the new reservations the stock rows of every SKU the order still needs
    # stay locked, so the units released are still there when they are planned again.
    line_ids = list(order.lines.values_list("pk", flat=True))
    list(
        Reservation.objects.select_for_update()
        .filter(order_line_id__in=line_ids, state=Reservation.State.ACTIVE)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    list(
        StockLevel.objects.select_for_update()
        .filter(sku_id__in=order.lines.values("sku_id"))
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    released = release_reservations(order_line_ids=line_ids)
    if released:
        record_event(
            order=order,
            kind=OrderEvent.Kind.STOCK_RELEASED,
            message=f"Released {released} reserved unit(s) to plan them for the new address.",
            actor=actor,
            data={"units": released, "change": "ship_to"},
        )
    outstanding = outstanding_units(order)
    if outstanding:
        decided = reserve_outstanding(order, outstanding, actor)
        plan = decided.allocation
        codes = {number: line.sku_code for number, (line, _) in outstanding.items()}
        if plan.shortfalls and decided.backorder_policy == "refuse":
            short = ", ".join(f"{q} × {codes[n]}" for n, q in sorted(plan.shortfalls.items()))
            raise InsufficientStock(
                f"No location can send {short} to the new address; the order is unchanged.",
                field="ship_to",
            )
        if plan.allocations:
            reservation_event(
                order=order,
                plan=plan,
                sku_codes=codes,
                actor=actor,
                heading="Reserved for the new address:",
            ).save()
        if (
            not plan.shortfalls
            and decided.promised_date
            and decided.promised_date != order.promised_date
        ):
            order.promised_date = decided.promised_date
            order.save(update_fields=["promised_date", "updated_at"])
    _back_to_sourcing(order, resourcing=True, actor=actor)


# --- Shared steps --------------------------------------------------------------------------


def _require_changeable(order: Order) -> None:
    if order.status not in CHANGEABLE:
        raise IllegalTransition(
            f"Order {order.number} is {Order.Status(order.status).label.lower()}; it can no "
            "longer be changed.",
            status=order.status,
        )


def _open_fulfillment_ids(order: Order) -> list[int]:
    return list(
        order.fulfillment_orders.filter(status__in=OPEN_FULFILLMENT_STATUSES)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def _cancel_fulfillment_orders(
    order: Order, fulfillment_ids: list[int], *, actor: Any, note: str
) -> list[FulfillmentOrder]:
    """Cancel these fulfillment orders and take their lines off open pick lists.

    Stock is the caller's business: a line change keeps what the order still needs reserved.
    """
    if not fulfillment_ids:
        return []
    fulfillment_orders = [
        fo
        for fo in FulfillmentOrder.objects.select_for_update(of=("self",))
        .select_related("location")
        .filter(pk__in=fulfillment_ids)
        .order_by("pk")
        if fo.status in OPEN_FULFILLMENT_STATUSES
    ]
    ids = [fo.pk for fo in fulfillment_orders]
    _take_off_pick_lists(order, ids, actor=actor)
    picked = dict(
        FulfillmentLine.objects.filter(fulfillment_order_id__in=ids)
        .values("fulfillment_order_id")
        .annotate(units=Sum("quantity_picked"))
        .values_list("fulfillment_order_id", "units")
    )
    for fo in fulfillment_orders:
        fo.order = order  # the locked row: the event is written through it
        detail = note
        if picked.get(fo.pk):
            detail += f"; {picked[fo.pk]} picked unit(s) go back to the shelf"
        if fo.status == Status.PACKED:
            detail += "; unpack its parcel(s)"
        transition_fulfillment(fo, Status.CANCELLED, actor=actor, note=detail)
        # Locations' and vendors' systems learn that the work (or purchase order) is off.
        outbox.record(
            topic="fulfillment.cancelled",
            aggregate_id=fo.pk,
            payload={
                "order": order.number,
                "location": fo.location.code,
                "kind": fo.kind,
                "purchase_order": getattr(fo, "purchase_order_number", "") or None,
                "reason": note,
            },
        )
    return fulfillment_orders


def _take_off_pick_lists(order: Order, fulfillment_ids: list[int], *, actor: Any) -> None:
    items = list(
        PickListItem.objects.filter(
            fulfillment_line__fulfillment_order_id__in=fulfillment_ids,
            pick_list__status=PickList.Status.OPEN,
        ).values_list("pk", "pick_list_id", "fulfillment_line__fulfillment_order_id")
    )
    if not items:
        return
    list_ids = sorted({list_id for _, list_id, _ in items})
    pick_lists = list(PickList.objects.select_for_update().filter(pk__in=list_ids).order_by("pk"))
    item_ids = sorted(pk for pk, _, _ in items)
    list(
        PickListItem.objects.select_for_update()
        .filter(pk__in=item_ids)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    PickListItem.objects.filter(pk__in=item_ids).delete()
    still_used = set(
        PickListItem.objects.filter(pick_list_id__in=list_ids).values_list(
            "pick_list_id", flat=True
        )
    )
    for pick_list in pick_lists:
        if pick_list.pk not in still_used:
            transition_pick_list(pick_list, PickList.Status.CANCELLED)
    lists_by_fo: dict[int, set[int]] = defaultdict(set)
    for _, list_id, fo_id in items:
        lists_by_fo[fo_id].add(list_id)
    for fo_id, fo_lists in sorted(lists_by_fo.items()):
        emptied = sorted(pk for pk in fo_lists if pk not in still_used)
        record_event(
            order=order,
            kind=OrderEvent.Kind.FULFILLMENT,
            message=f"FO-{fo_id} taken off pick list "
            + ", ".join(str(pk) for pk in sorted(fo_lists))
            + (f"; pick list {', '.join(map(str, emptied))} cancelled (empty)" if emptied else "")
            + ".",
            actor=actor,
            data={
                "fulfillment": fo_id,
                "pick_lists": sorted(fo_lists),
                "cancelled_pick_lists": emptied,
            },
        )


def _release_units(
    order: Order, to_release: dict[int, int], reservations: dict[int, Reservation], *, actor: Any
) -> int:
    """Give back `to_release` (reservation id → units), locking rows in the house order."""
    if not to_release:
        return 0
    ids = sorted(to_release)
    list(
        Reservation.objects.select_for_update()
        .filter(pk__in=ids)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    released = [reservations[pk] for pk in ids]
    list(
        StockLevel.objects.select_for_update()
        .filter(
            sku_id__in={r.sku_id for r in released},
            location_id__in={r.location_id for r in released},
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    units = 0
    for pk in ids:
        units += release_reservation_units(reservation_id=pk, quantity=to_release[pk])
    record_event(
        order=order,
        kind=OrderEvent.Kind.STOCK_RELEASED,
        message="Released "
        + ", ".join(f"{to_release[r.pk]} × {r.sku.code} at {r.location.code}" for r in released)
        + ".",
        actor=actor,
        data={
            "units": units,
            "reservations": [
                {"reservation": r.pk, "location": r.location_id, "quantity": to_release[r.pk]}
                for r in released
            ],
        },
    )
    return units


def _back_to_sourcing(order: Order, *, resourcing: bool, actor: Any) -> None:
    """Put the order where the state machine says it now is, and have the sourcing job run.

    Cancelled fulfillment means the order waits for sourcing again: `placed`, or
    `backordered` while units are still short. An order whose backorder the change removed
    waits for release (`placed`) or, when all of it is already at its locations, is
    `released`. A released order the change did not re-source stays released.
    """
    backordered = order.lines.filter(quantity_backordered__gt=0).exists()
    if order.status == Order.Status.RELEASED and not resourcing:
        target = Order.Status.RELEASED
    elif backordered:
        target = Order.Status.BACKORDERED
    elif resourcing or _awaits_release(order):
        target = Order.Status.PLACED
    else:
        target = Order.Status.RELEASED
    if order.status == Order.Status.RELEASED and target != Order.Status.RELEASED:
        transition(order, Order.Status.PLACED, actor=actor, note=BACK_TO_SOURCING)
    if order.status != target:
        transition(order, target, actor=actor, note=BACK_TO_SOURCING)
    enqueue_on_commit(source_order_task, order.pk)


def _awaits_release(order: Order) -> bool:
    if order.fulfillment_orders.filter(status=Status.PENDING).exists():
        return True
    return bool(uncovered_reservations(order))
