"""What the jeopardy scan looks for: one `Check` per kind (and per stage for `stalled`), each
a few SQL fragments the scan (`fulfillment.jeopardy.scan`) turns into its statements.

The checks (kind, and what "at risk" means):

- `stalled`: an order or fulfillment order has been in its stage longer than the stage SLA.
  Stages: order placed and not on hold → awaiting sourcing; order backordered → backordered;
  fulfillment order released / picking / packed. The SLA is the most specific `StageSLA`
  (location and channel, location, channel, global); a stage with no SLA is never stalled.
  Orders on hold are left alone: staff stopped their clock. The index does the range work:
  `status = X AND status_changed_at < now − (smallest SLA of the stage)`, then the exact
  scoped SLA is looked up per candidate.
- `not_collected`: a pickup waiting at the store (`ready_at`, when the customer was told)
  longer than its awaiting-pickup SLA, or `JEOPARDY_PICKUP_SLA_HOURS` without one. Distinct
  from `stalled`, which never uses the awaiting-pickup stage.
- `backorder_no_supply`: a backordered order with a promised date, one of whose backordered
  lines no open purchase order (draft, sent, partially received; any destination) covers with
  units due by the promised date less the service's transit days. Simplified: supply is summed
  per SKU across destinations and is not netted against other backorders wanting it; the
  sourcing job decides who gets it when it lands.
- `stock_vanished`: a released or picking fulfillment order (ship, pickup, transfer: the
  location's own shelves) with a line whose units still to pick (quantity − picked) exceed the
  location's on hand (no stock row counts as 0). `inventory.services.adjust_stock` never lowers
  on hand below what is reserved, so this shows up when units were released first and then
  written off, or when stock rows were corrected outside the services.
- `late_shipment`, one alert per fulfillment order (ship or drop-ship) across both cases:
  it has not shipped although the last calendar day it could leave and still arrive in time
  (promised date − the service level's transit days) is past; or it shipped (in the last
  `LATE_SHIPPED_LOOKBACK`) on a date after its promised date. Transit is counted in calendar
  days, the optimistic reading (working days only take longer), so the alert is never early.
  A parcel that shipped late keeps its alert until staff resolve it: the fact does not go away.

Severity (0–100), computed in SQL: base of the kind (stalled 10, not collected 10, backorder
without supply 25, stock vanished 25, late shipment 30) + lateness (15 points per day past
`due_by`, at most 30) + value (1 point per 50 of the order total in its currency, at most 30)
+ 20 for a VIP customer, capped at 100. So a VIP's late order outranks a standard one as late,
and a larger order a smaller one.

`due_by`: when the SLA ran out (stalled, not collected), or the end of the promised day
(UTC; the promise clock is UTC everywhere, see `fulfillment.promising`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from django.db import connection
from django.utils.duration import duration_microseconds

from fulfillment.jeopardy.models import JeopardyAlert, Stage, StageSLA
from fulfillment.models import FulfillmentLine, FulfillmentOrder
from inventory.models import (
    OPEN_PURCHASE_ORDER_STATUSES,
    SKU,
    Location,
    PurchaseOrder,
    PurchaseOrderLine,
    StockLevel,
)
from orders.models import Order, OrderEvent, OrderLine, ServiceLevel

Kind = JeopardyAlert.Kind

# A parcel shipped this long ago is history, not an alert: the scan looks back this far for
# parcels that left after their promised date (it runs every few minutes, so a week is slack
# for any outage of the job).
LATE_SHIPPED_LOOKBACK = timedelta(days=7)

T = {
    "alert": JeopardyAlert._meta.db_table,
    "sla": StageSLA._meta.db_table,
    "event": OrderEvent._meta.db_table,
    "order": Order._meta.db_table,
    "line": OrderLine._meta.db_table,
    "service": ServiceLevel._meta.db_table,
    "customer": Order._meta.get_field("customer").related_model._meta.db_table,
    "fo": FulfillmentOrder._meta.db_table,
    "fl": FulfillmentLine._meta.db_table,
    "location": Location._meta.db_table,
    "sku": SKU._meta.db_table,
    "stock": StockLevel._meta.db_table,
    "po": PurchaseOrder._meta.db_table,
    "pol": PurchaseOrderLine._meta.db_table,
}


# --- SQL that differs between PostgreSQL and SQLite ------------------------------------------
# Times are compared as days (a float) so one expression serves both; `%(now)s` is the scan's
# clock, passed in, never the database's.


class _Postgres:
    vendor = "postgresql"
    json = "jsonb_build_object"
    greatest, least = "GREATEST", "LEAST"

    def age_days(self, ts: str) -> str:
        return f"(EXTRACT(EPOCH FROM (%(now)s - {ts})) / 86400.0)"

    def days(self, duration: str) -> str:
        return f"(EXTRACT(EPOCH FROM {duration}) / 86400.0)"

    def plus(self, ts: str, duration: str) -> str:
        return f"({ts} + {duration})"

    def end_of_day(self, day: str) -> str:
        return f"(({day} + 1)::timestamp AT TIME ZONE 'UTC')"

    def date_of(self, ts: str) -> str:
        return f"(({ts}) AT TIME ZONE 'UTC')::date"

    def days_before(self, day: str, count: str) -> str:
        return f"({day} - {count})"

    def days_after(self, day: str, count: str) -> str:
        return f"({day} + {count})"

    def duration_param(self, value: timedelta | None):
        return value


class _SQLite:
    vendor = "sqlite"
    json = "json_object"
    greatest, least = "MAX", "MIN"

    def age_days(self, ts: str) -> str:
        return f"(julianday(%(now)s) - julianday({ts}))"

    def days(self, duration: str) -> str:
        return f"({duration} / 86400000000.0)"  # DurationField is microseconds here

    def plus(self, ts: str, duration: str) -> str:
        return f"strftime('%%Y-%%m-%%d %%H:%%M:%%f', julianday({ts}) + {duration} / 86400000000.0)"

    def end_of_day(self, day: str) -> str:
        return f"(date({day}, '+1 day') || ' 00:00:00')"

    def date_of(self, ts: str) -> str:
        return f"date({ts})"

    def days_before(self, day: str, count: str) -> str:
        return f"date({day}, '-' || ({count}) || ' days')"

    def days_after(self, day: str, count: str) -> str:
        return f"date({day}, '+' || ({count}) || ' days')"

    def duration_param(self, value: timedelta | None):
        return None if value is None else duration_microseconds(value)


def dialect():
    return _Postgres() if connection.vendor == "postgresql" else _SQLite()


# --- The checks --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """One check's SQL. The scan first picks at most a batch of subject rows from `subject`
    alone (`window` and `predicate` see only its aliases; what they need of the order they
    read through a correlated lookup by primary key), then joins `source` to those few rows
    for the alert's columns. So the big tables are range-scanned once, and orders and
    customers are only ever read by primary key."""

    name: str  # in the counts: the kind, or kind:stage for stalled
    kind: str
    stage: str  # stored on the alert ('' when the kind has none)
    subject: str  # FROM … of the rows the cause is about
    pick: str  # their primary key, e.g. fo.id
    order_id: str  # their order's id, e.g. fo.order_id
    match: str  # ties a live alert `a` to its subject row, for the resolve
    predicate: str  # the cause holds (raise and resolve both use it)
    window: str  # index-friendly bounds, raise only
    order_by: str
    cause_key: str
    since: str  # when the subject entered the state the cause is about
    source: str  # FROM … for the alert's columns; aliases o (order) and c (customer) always
    due_by: str
    base: int
    message: str
    detail: dict[str, str]
    gone: str  # resolution note after SCAN_RESOLUTION_PREFIX
    fulfillment_order: str = "CAST(NULL AS BIGINT)"
    location: str = "CAST(NULL AS BIGINT)"
    params: dict = field(default_factory=dict)


ORDER_REF = "COALESCE(o.number, 'order ' || o.id)"
ORDER_SOURCE = f"{T['order']} o JOIN {T['customer']} c ON c.id = o.customer_id"
FO_JOINS = (
    f"JOIN {T['order']} o ON o.id = fo.order_id "
    f"JOIN {T['customer']} c ON c.id = o.customer_id "
    f"JOIN {T['location']} l ON l.id = fo.location_id"
)
FO_SOURCE = f"{T['fo']} fo {FO_JOINS}"
OPEN_FO_STAGES = {
    Stage.RELEASED: FulfillmentOrder.Status.RELEASED,
    Stage.PICKING: FulfillmentOrder.Status.PICKING,
    Stage.PACKED: FulfillmentOrder.Status.PACKED,
}
ORDER_STAGES = {
    Stage.AWAITING_SOURCING: Order.Status.PLACED,
    Stage.BACKORDERED: Order.Status.BACKORDERED,
}


def _quoted(values) -> str:
    return ", ".join(f"'{value}'" for value in values)


def _of_order(column: str) -> str:
    """A column of the fulfillment order's order, by primary key."""
    return f"(SELECT h.{column} FROM {T['order']} h WHERE h.id = fo.order_id)"


def _transit_days(order_id: str) -> str:
    """The order's service level transit days (0 for pickup)."""
    return (
        f"COALESCE((SELECT sv.transit_days FROM {T['order']} h JOIN {T['service']} sv "
        f"ON sv.id = h.service_level_id WHERE h.id = {order_id}), 0)"
    )


def _sla(stage: str, location: str | None, channel: str) -> str:
    """The most specific SLA of the stage: ORDER BY puts location+channel first, global last."""
    where_location = (
        "s.location_id IS NULL"
        if location is None
        else f"(s.location_id = {location} OR s.location_id IS NULL)"
    )
    return (
        f"(SELECT s.max_duration FROM {T['sla']} s WHERE s.stage = '{stage}' "
        f"AND {where_location} AND (s.channel_id = {channel} OR s.channel_id IS NULL) "
        "ORDER BY (s.location_id IS NULL), (s.channel_id IS NULL) LIMIT 1)"
    )


def build_checks(d, cuts: dict[str, object], pickup_default) -> list[Check]:
    checks = []
    order_subject = {
        "subject": f"{T['order']} o",
        "pick": "o.id",
        "order_id": "o.id",
        "match": "o.id = a.order_id",
        "source": ORDER_SOURCE,
    }
    fo_subject = {
        "subject": f"{T['fo']} fo",
        "pick": "fo.id",
        "order_id": "fo.order_id",
        "match": "fo.id = a.fulfillment_order_id",
        "source": FO_SOURCE,
        "fulfillment_order": "fo.id",
        "location": "fo.location_id",
    }
    for stage, status in ORDER_STAGES.items():
        sla = _sla(stage, None, "o.channel_id")
        checks.append(
            Check(
                name=f"{Kind.STALLED}:{stage}",
                kind=Kind.STALLED,
                stage=stage,
                **order_subject,
                predicate=f"o.status = '{status}' AND NOT o.is_on_hold "
                f"AND {d.age_days('o.status_changed_at')} > {d.days(sla)}",
                window=f"o.status = '{status}' AND o.status_changed_at < %(cut)s",
                order_by="o.status_changed_at, o.id",
                cause_key=f"'stalled:order:' || o.id || ':{stage}'",
                since="o.status_changed_at",
                due_by=d.plus("o.status_changed_at", sla),
                base=10,
                message=f"{ORDER_REF} || ' has been {Stage(stage).label.lower()} longer than "
                "its stage SLA'",
                detail={"entered_at": "o.status_changed_at", "sla_days": d.days(sla)},
                gone=f"the order is no longer {Stage(stage).label.lower()} past its SLA.",
                params={"cut": cuts.get(stage)},
            )
        )
    for stage, status in OPEN_FO_STAGES.items():
        sla = _sla(stage, "fo.location_id", _of_order("channel_id"))
        checks.append(
            Check(
                name=f"{Kind.STALLED}:{stage}",
                kind=Kind.STALLED,
                stage=stage,
                **fo_subject,
                predicate=f"fo.status = '{status}' AND NOT {_of_order('is_on_hold')} "
                f"AND {d.age_days('fo.status_changed_at')} > {d.days(sla)}",
                window=f"fo.status = '{status}' AND fo.status_changed_at < %(cut)s",
                order_by="fo.status_changed_at, fo.id",
                cause_key=f"'stalled:fo:' || fo.id || ':{stage}'",
                since="fo.status_changed_at",
                due_by=d.plus("fo.status_changed_at", sla),
                base=10,
                message=f"'FO-' || fo.id || ' for ' || {ORDER_REF} || ' has been "
                f"{Stage(stage).label.lower()} at ' || l.code || ' longer than its stage SLA'",
                detail={"entered_at": "fo.status_changed_at", "sla_days": d.days(sla)},
                gone=f"the fulfillment order is no longer {Stage(stage).label.lower()} past "
                "its SLA.",
                params={"cut": cuts.get(stage)},
            )
        )

    pickup_sla = (
        f"COALESCE({_sla(Stage.AWAITING_PICKUP, 'fo.location_id', _of_order('channel_id'))}, "
        "%(pickup_default)s)"
    )
    checks.append(
        Check(
            name=Kind.NOT_COLLECTED,
            kind=Kind.NOT_COLLECTED,
            stage=Stage.AWAITING_PICKUP,
            **fo_subject,
            predicate="fo.kind = 'pickup' AND fo.status = 'ready_for_pickup' "
            f"AND fo.ready_at IS NOT NULL AND {d.age_days('fo.ready_at')} > {d.days(pickup_sla)}",
            window="fo.kind = 'pickup' AND fo.status = 'ready_for_pickup' "
            "AND fo.ready_at < %(cut)s",
            order_by="fo.ready_at, fo.id",
            cause_key="'not_collected:fo:' || fo.id",
            since="fo.ready_at",
            due_by=d.plus("fo.ready_at", pickup_sla),
            base=10,
            message=f"{ORDER_REF} || ' has waited at ' || l.code || ' since ' || "
            f"{d.date_of('fo.ready_at')} || ' and was not collected'",
            detail={"ready_at": "fo.ready_at", "sla_days": d.days(pickup_sla)},
            gone="the pickup was collected or cancelled.",
            params={"cut": cuts.get(Stage.AWAITING_PICKUP), "pickup_default": pickup_default},
        )
    )

    ship_by_backorder = d.days_before("o.promised_date", _transit_days("o.id"))
    supply = (
        f"COALESCE((SELECT SUM(pl.quantity_ordered - pl.quantity_received) FROM {T['pol']} pl "
        f"JOIN {T['po']} p ON p.id = pl.purchase_order_id WHERE pl.sku_id = ol.sku_id "
        f"AND p.status IN ({_quoted(OPEN_PURCHASE_ORDER_STATUSES)}) "
        f"AND pl.quantity_received < pl.quantity_ordered "
        f"AND p.expected_date <= {ship_by_backorder}), 0)"
    )
    checks.append(
        Check(
            name=Kind.BACKORDER_NO_SUPPLY,
            kind=Kind.BACKORDER_NO_SUPPLY,
            stage="",
            **order_subject,
            predicate="o.status = 'backordered' AND o.promised_date IS NOT NULL "
            f"AND EXISTS (SELECT 1 FROM {T['line']} ol WHERE ol.order_id = o.id "
            f"AND ol.quantity_backordered > 0 AND {supply} < ol.quantity_backordered)",
            window="o.status = 'backordered'",
            order_by="o.promised_date, o.id",
            cause_key="'backorder_no_supply:order:' || o.id",
            since="o.status_changed_at",
            due_by=d.end_of_day("o.promised_date"),
            base=25,
            message=f"{ORDER_REF} || ' is backordered and no purchase order brings the "
            "units before its promised date ' || o.promised_date",
            detail={"promised_date": "o.promised_date"},
            gone="supply now arrives in time, or the order is no longer backordered.",
        )
    )

    to_pick = "(fl.quantity - fl.quantity_picked)"
    line_subject = (
        f"{T['fl']} fl JOIN {T['fo']} fo ON fo.id = fl.fulfillment_order_id "
        f"LEFT JOIN {T['stock']} sl ON sl.sku_id = fl.sku_id AND sl.location_id = fo.location_id"
    )
    checks.append(
        Check(
            name=Kind.STOCK_VANISHED,
            kind=Kind.STOCK_VANISHED,
            stage="",
            subject=line_subject,
            pick="fl.id",
            order_id="fo.order_id",
            match="fo.id = a.fulfillment_order_id",
            predicate="fo.status IN ('released', 'picking') "
            "AND fo.kind IN ('ship', 'pickup', 'transfer') "
            f"AND fl.quantity > fl.quantity_picked AND COALESCE(sl.on_hand, 0) < {to_pick}",
            window="1 = 1",
            # Oldest work first; also keeps PostgreSQL from walking the lines in id order with
            # a lookup each (hoping to stop early) instead of one hash join.
            order_by="fo.status_changed_at, fl.id",
            cause_key="'stock_vanished:fl:' || fl.id",
            since="fo.status_changed_at",
            source=f"{line_subject} {FO_JOINS} JOIN {T['sku']} k ON k.id = fl.sku_id",
            due_by=d.end_of_day("fo.promised_date"),
            base=25,
            message=f"k.code || ' at ' || l.code || ': ' || COALESCE(sl.on_hand, 0) || "
            f"' on hand, ' || {to_pick} || ' still to pick for FO-' || fo.id || ' (' || "
            f"{ORDER_REF} || ')'",
            detail={
                "sku": "k.code",
                "on_hand": "COALESCE(sl.on_hand, 0)",
                "to_pick": to_pick,
            },
            gone="the units are on hand again, picked, or the fulfillment order moved on.",
            fulfillment_order="fo.id",
            location="fo.location_id",
        )
    )

    ship_by = d.days_before("fo.promised_date", _transit_days("fo.order_id"))
    unshipped = "fo.status IN ('released', 'picking', 'packed')"
    shipped = "fo.status IN ('shipped', 'delivered')"
    shipped_late = f"fo.shipped_at IS NOT NULL AND {d.date_of('fo.shipped_at')} > fo.promised_date"
    # Bounds on the fulfillment order alone, before any transit days are looked up: no service
    # takes longer than the slowest, and a parcel that shipped late was promised before today.
    slowest = d.days_after(
        "%(today)s", f"COALESCE((SELECT MAX(transit_days) FROM {T['service']}), 0)"
    )
    checks.append(
        Check(
            name=Kind.LATE_SHIPMENT,
            kind=Kind.LATE_SHIPMENT,
            stage="",
            **fo_subject,
            predicate="fo.kind IN ('ship', 'dropship') AND fo.promised_date IS NOT NULL "
            f"AND (({unshipped} AND {ship_by} < %(today)s) OR ({shipped} AND {shipped_late}))",
            window=f"fo.kind IN ('ship', 'dropship') AND (({unshipped} "
            f"AND fo.promised_date < {slowest}) OR ({shipped} "
            "AND fo.status_changed_at >= %(shipped_since)s AND fo.promised_date < %(today)s))",
            order_by="fo.promised_date, fo.id",
            cause_key="'late_shipment:fo:' || fo.id",
            since="COALESCE(fo.released_at, fo.created_at)",
            due_by=d.end_of_day("fo.promised_date"),
            base=30,
            message=f"CASE WHEN {shipped} THEN 'FO-' || fo.id || ' for ' || {ORDER_REF} || "
            f"' shipped on ' || {d.date_of('fo.shipped_at')} || ', after its promised date ' || "
            "fo.promised_date ELSE 'FO-' || fo.id || ' for ' || "
            f"{ORDER_REF} || ' has not left ' || l.code || ' and cannot arrive by its "
            "promised date ' || fo.promised_date END",
            detail={
                "promised_date": "fo.promised_date",
                "ship_by": ship_by,
                "shipped_at": "fo.shipped_at",
            },
            gone="the promise moved or the fulfillment order was cancelled.",
        )
    )
    return checks


def severity_sql(d, check: Check) -> str:
    lateness = f"{d.least}(30, 15 * {d.greatest}(0, {d.age_days(check.due_by)}))"
    value = f"{d.least}(30, o.total_amount / 50)"
    vip = "CASE WHEN c.tier = 'vip' THEN 20 ELSE 0 END"
    # A NULL due_by (no promised date) adds no lateness.
    score = f"{check.base} + COALESCE({lateness}, 0) + {value} + {vip}"
    return f"CAST(ROUND({d.least}(100, {score})) AS INTEGER)"
