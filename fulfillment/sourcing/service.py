"""Sourcing an order after capture: reserve what is still outstanding, then hand the
reservations to locations as fulfillment orders and release them unless the order is held."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from django.db import connections, transaction
from django.db.models import Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from fulfillment.models import OPEN_FULFILLMENT_STATUSES, FulfillmentOrder
from fulfillment.services import create_fulfillment_orders, release_pending
from inventory.models import Location, Reservation
from inventory.services import reserve_stock
from oms.core import hotpath
from oms.core.db import retry_transient
from oms.core.tasks import enqueue_on_commit
from orders.models import Order, OrderEvent, OrderLine
from orders.planning import CaptureContext, CapturePlan, get_planner
from orders.services import record_event, transition

# Partially shipped: a short pick may leave units to source again after the first parcel left.
SOURCEABLE = {
    Order.Status.PLACED,
    Order.Status.BACKORDERED,
    Order.Status.RELEASED,
    Order.Status.PARTIALLY_SHIPPED,
}
COVERING_STATES = [Reservation.State.ACTIVE, Reservation.State.FULFILLED]
# Statuses a first release moves to released (release_fulfillment's rule).
RELEASABLE = {Order.Status.PLACED, Order.Status.BACKORDERED}
# The location fields fulfillment orders read when they are created (kind, timeline,
# purchase order email), in the order SNAPSHOT_SQL selects them.
SNAPSHOT_LOCATION_FIELDS = ("id", "code", "type", "contact_email")
# Written by hand: composing this statement (joined reservations, correlated subqueries) costs
# the ORM several times what the database takes to answer it, on every order the job sources.
# The engine's decisions (the order's sourced events) come in the same statement, one row each
# after the lines' rows (NULL line), oldest first, to save a round trip per order.
# "Held by an open fulfillment line" is scalar subqueries, not EXISTS or a join: PostgreSQL may
# answer those by hashing every open fulfillment line or order (it did in the benchmark, whose
# statistics lag its growing tables), a cost that grows with the tables; these are index
# probes by reservation and by primary key, a few per order whatever the tables hold.
# Standard SQL, for PostgreSQL and SQLite alike; tests/fulfillment/test_sourcing_*.py run it.
SNAPSHOT_SQL = f"""
SELECT ol.id, ol.quantity, ol.quantity_cancelled, ol.quantity_backordered,
       r.id, r.state, r.quantity, r.sku_id,
       (
           SELECT MIN(fl.id) FROM fulfillment_fulfillmentline fl
           WHERE fl.reservation_id = r.id
             AND (
                 SELECT fo.status FROM fulfillment_fulfillmentorder fo
                 WHERE fo.id = fl.fulfillment_order_id
             ) IN ({", ".join(["%s"] * len(OPEN_FULFILLMENT_STATUSES))})
       ),
       EXISTS (
           SELECT 1 FROM fulfillment_fulfillmentorder pending
           WHERE pending.order_id = %s AND pending.status = %s
       ),
       {", ".join(f"loc.{name}" for name in SNAPSHOT_LOCATION_FIELDS)},
       NULL, NULL
FROM orders_orderline ol
LEFT JOIN inventory_reservation r ON r.order_line_id = ol.id
LEFT JOIN inventory_location loc ON loc.id = r.location_id
WHERE ol.order_id = %s
UNION ALL
SELECT {", ".join(["NULL"] * (10 + len(SNAPSHOT_LOCATION_FIELDS)))}, e.id, e.data
FROM orders_orderevent e
WHERE e.order_id = %s AND e.kind = %s
ORDER BY 11, 5, 15
"""
DECISIONS_SQL = """
SELECT data FROM orders_orderevent WHERE order_id = %s AND kind = %s ORDER BY id
"""


@dataclass(frozen=True, slots=True)
class PlanningLine:
    line_number: int
    sku_id: int
    quantity: int
    weight_kg: Decimal


def outstanding_units(order: Order) -> dict[int, tuple[OrderLine, int]]:
    """line_number -> (line, units neither reserved, shipped nor cancelled)."""
    lines = order.lines.select_related("sku").annotate(
        covered=Coalesce(
            Sum("reservations__quantity", filter=Q(reservations__state__in=COVERING_STATES)), 0
        )
    )
    result = {}
    for line in lines:
        missing = line.quantity - line.quantity_cancelled - line.covered
        if missing > 0:
            result[line.line_number] = (line, missing)
    return result


def engine_decisions(order: Order) -> tuple[dict[int, dict[str, Any]], str]:
    """Per location, the engine's latest decision for this order, and the backorder policy."""
    connection = connections[order._state.db]
    with connection.cursor() as cursor:
        # By hand, as SNAPSHOT_SQL and for the same reason.
        cursor.execute(DECISIONS_SQL, [order.pk, OrderEvent.Kind.SOURCED])
        rows = cursor.fetchall()
    return _decisions([stored for (stored,) in rows], connection)


def _decisions(stored: list, connection) -> tuple[dict[int, dict[str, Any]], str]:
    """engine_decisions from the sourced events' `data` as the database returns it, oldest
    first: a later decision for a location replaces an earlier one."""
    decisions: dict[int, dict[str, Any]] = {}
    policy = "refuse"
    data_field = OrderEvent._meta.get_field("data")
    for value in stored:
        data = data_field.from_db_value(value, None, connection)
        policy = data.get("backorder_policy", policy)
        for shipment in data.get("shipments", []):
            decisions[shipment["location_id"]] = {
                "carrier_service_id": shipment.get("carrier_service_id"),
                "cost": Decimal(shipment.get("cost") or "0"),
                "distance_km": shipment.get("distance_km") or 0,
                "promised_date": date.fromisoformat(shipment["promised_date"])
                if shipment.get("promised_date")
                else None,
                "explanation": shipment.get("explanation", ""),
            }
    return decisions, policy


def reserve_outstanding(order: Order, outstanding, actor) -> CapturePlan:
    context = CaptureContext(
        channel=order.channel,
        lines=tuple(
            PlanningLine(number, line.sku_id, missing, line.sku.weight_kg * missing)
            for number, (line, missing) in sorted(outstanding.items())
        ),
        delivery_method=order.delivery_method,
        service_level=order.service_level,
        ship_to=order.ship_to,
        pickup_location=order.pickup_location,
        ordered_at=timezone.now(),
    )
    planner = get_planner()
    latest = {"plan": planner.plan(context)}

    def replan():
        latest["plan"] = planner.plan(context)
        return latest["plan"].allocation

    applied = reserve_stock(
        lines=context.demands,
        order_line_ids={number: line.pk for number, (line, _) in outstanding.items()},
        plan=latest["plan"].allocation,
        replan=replan,
    )
    decided = latest["plan"]
    decided.allocation = applied
    changed = []
    for number, (line, _) in outstanding.items():
        backordered = applied.shortfalls.get(number, 0)
        if line.quantity_backordered != backordered:
            line.quantity_backordered = backordered
            changed.append(line)
    OrderLine.objects.bulk_update(changed, ["quantity_backordered"])
    if applied.allocations:
        record_event(
            order=order,
            kind=OrderEvent.Kind.SOURCED,
            message=" ".join(decided.explanation) or "Re-sourced outstanding units.",
            actor=actor,
            data={
                "backorder_policy": decided.backorder_policy,
                "shipments": decided.shipments,
                "explanation": decided.explanation,
                "resourced": {str(n): m for n, (_, m) in outstanding.items()},
            },
        )
    return decided


@dataclass(slots=True)
class OrderSnapshot:
    """What the job needs to know about an order it holds locked, read in one statement."""

    outstanding: bool  # units neither reserved, shipped nor cancelled
    backordered: bool  # a line still waits for stock
    has_pending: bool  # fulfillment orders created while the order was held
    uncovered: list[Reservation]  # active, not yet in open fulfillment; each with its location
    decisions: dict[int, dict[str, Any]]  # as engine_decisions
    backorder_policy: str


def order_snapshot(order: Order) -> OrderSnapshot:
    """One row per (line, reservation): the lines' quantities, each reservation with its
    location, whether an open fulfillment line holds it, and whether the order has pending
    fulfillment orders; then one per engine decision. The same rules as `outstanding_units`,
    `uncovered_reservations` and `engine_decisions`."""
    connection = connections[order._state.db]
    with connection.cursor() as cursor:
        cursor.execute(
            SNAPSHOT_SQL,
            [
                *OPEN_FULFILLMENT_STATUSES,
                order.pk,
                FulfillmentOrder.Status.PENDING,
                order.pk,
                order.pk,
                OrderEvent.Kind.SOURCED,
            ],
        )
        rows = cursor.fetchall()
    lines: dict[int, int] = {}  # line id -> units still to cover
    backordered = has_pending = False
    locations: dict[int, Location] = {}
    uncovered = []
    decisions = []
    for (
        line_id,
        quantity,
        cancelled,
        line_backordered,
        reservation_id,
        state,
        reserved,
        sku_id,
        held_by_line,
        order_has_pending,
        *location,
        _event_id,  # orders the decisions
        decision,
    ) in rows:
        if line_id is None:
            decisions.append(decision)
            continue
        lines.setdefault(line_id, quantity - cancelled)
        backordered = backordered or line_backordered > 0
        has_pending = has_pending or order_has_pending
        if reservation_id is None:
            continue
        if state in COVERING_STATES:
            lines[line_id] -= reserved
        if state == Reservation.State.ACTIVE and held_by_line is None:
            location_id = location[0]
            if location_id not in locations:
                locations[location_id] = _partial_location(
                    order, dict(zip(SNAPSHOT_LOCATION_FIELDS, location, strict=True))
                )
            reservation = Reservation(
                pk=reservation_id,
                order_line_id=line_id,
                sku_id=sku_id,
                location_id=location_id,
                quantity=reserved,
                state=state,
            )
            reservation.location = locations[location_id]
            uncovered.append(reservation)
    by_location, policy = _decisions(decisions, connection)
    return OrderSnapshot(
        outstanding=any(missing > 0 for missing in lines.values()),
        backordered=backordered,
        has_pending=has_pending,
        uncovered=uncovered,
        decisions=by_location,
        backorder_policy=policy,
    )


def _partial_location(order: Order, values: dict[str, Any]) -> Location:
    """A Location holding only these fields; any other loads on access, as with .only()."""
    names = [f.attname for f in Location._meta.concrete_fields if f.attname in values]
    return Location.from_db(order._state.db, names, [values[name] for name in names])


@retry_transient
@transaction.atomic
def source_order(*, order_id: int, actor: Any = "job:sourcing") -> list[FulfillmentOrder]:
    """Idempotent: running it again finds nothing outstanding and nothing pending.

    The common case (everything reserved at capture, the order not held) is one lock, one
    read of lines, reservations and the engine's decisions, then the fulfillment orders
    created already released: their rows, lines, timeline events and outbox rows in one
    INSERT each, and the order's own status. The lock and the job's own INSERTs go through
    oms.core.hotpath: the ORM's cost of composing them was most of the job's CPU.
    """
    order = hotpath.lock(Order, order_id)
    if order.status not in SOURCEABLE:
        return []
    was_backordered = order.status == Order.Status.BACKORDERED
    snapshot = order_snapshot(order)
    if snapshot.outstanding:
        # Planning needs the channel, service level and pickup store; the lock is held.
        order = Order.objects.select_related("channel", "service_level", "pickup_location").get(
            pk=order.pk
        )
        decided = reserve_outstanding(order, outstanding_units(order), actor)
        still_short = bool(decided.allocation.shortfalls)
        if still_short:
            from fulfillment.backorders import promise_backorders_from_supply

            promise_backorders_from_supply(order)  # dates from incoming purchase orders
        if decided.allocation.allocations and not still_short:
            if decided.promised_date and decided.promised_date != order.promised_date:
                order.promised_date = decided.promised_date
                order.save(update_fields=["promised_date", "updated_at"])
            if was_backordered:
                transition(order, Order.Status.PLACED, actor=actor, note="backorder filled")
                from fulfillment.notifications import notify_customer

                enqueue_on_commit(
                    notify_customer,
                    order.pk,
                    "backorder_update",
                    {"promised_date": str(order.promised_date or "")},
                )
        snapshot = order_snapshot(order)  # the new reservations and backordered quantities
    if not snapshot.uncovered and not snapshot.has_pending:
        return []  # nothing to create, nothing to release
    if snapshot.backorder_policy == "hold" and snapshot.backordered:
        return []  # the whole order waits until everything is there
    # Sourceable statuses exclude cancelled: only a hold keeps the work back.
    release = not order.is_on_hold
    events: list[OrderEvent] = []  # the whole job's timeline, written in one INSERT
    created = create_fulfillment_orders(
        order=order,
        shipments=snapshot.decisions,
        actor=actor,
        release=release,
        reservations=snapshot.uncovered,
        events_out=events,
    )
    if release:
        released = created + (release_pending(order, actor=actor) if snapshot.has_pending else [])
        if released and order.status in RELEASABLE and not snapshot.backordered:
            transition(
                order,
                Order.Status.RELEASED,
                actor=actor,
                note="sent to fulfillment",
                events=events,
            )
    hotpath.insert(events)
    return created
