"""The jeopardy scan: find orders that will miss (or missed) their promise, raise one alert per
cause, and resolve alerts whose cause is gone (DESIGN flow 4, issue 5 §1).

Set-based, so its cost does not grow with the number of orders at risk: each check is one SQL
statement that raises (INSERT … SELECT, with the alerts' timeline events inserted in the same
statement on PostgreSQL) and one that resolves (UPDATE … of live alerts whose cause no longer
holds, with their events). No Python loop touches an order. A run sends a fixed number of
statements (pinned in tests/fulfillment/test_jeopardy_scan.py) and each check writes at most
`batch_size` alerts, oldest cause first; a backlog drains over the next runs.

Idempotent: a cause is a `cause_key` (e.g. `stalled:fo:42:picking`) and the partial unique
index "one live alert per cause" makes the insert skip a cause already alerted
(`ON CONFLICT … DO NOTHING`; a concurrent run skips it too). A cause staff resolved by hand is
not raised again while its subject stays where it was (the resolve happened after the subject
entered its state); one the scan itself resolved comes back as a new alert if the cause does.

What each kind means, its severity and `due_by`: `fulfillment.jeopardy.checks`.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import Min
from django.utils import timezone

from fulfillment.jeopardy.checks import (
    LATE_SHIPPED_LOOKBACK,
    Check,
    T,
    build_checks,
    dialect,
    severity_sql,
)
from fulfillment.jeopardy.models import JeopardyAlert, Stage, StageSLA
from oms.core.db import retry_transient
from orders.models import OrderEvent

# Resolutions written by the scan start with this; a staff resolution never should, so the
# scan can tell "the cause went away" from "staff dealt with it".
SCAN_RESOLUTION_PREFIX = "Cause gone: "
ACTOR_LABEL = "jeopardy scan"
EVENT_MESSAGE_LENGTH = OrderEvent._meta.get_field("message").max_length
ALERT_MESSAGE_LENGTH = JeopardyAlert._meta.get_field("message").max_length


@dataclass
class ScanResult:
    raised: dict[str, int] = field(default_factory=dict)
    resolved: dict[str, int] = field(default_factory=dict)

    @property
    def total_raised(self) -> int:
        return sum(self.raised.values())

    @property
    def total_resolved(self) -> int:
        return sum(self.resolved.values())


def _candidates(d, check: Check) -> str:
    detail = {
        "stage": f"'{check.stage}'",
        "order_total": "o.total_amount",
        "customer_tier": "c.tier",
        **check.detail,
    }
    detail_sql = ", ".join(f"'{key}', {value}" for key, value in detail.items())
    message = f"SUBSTR({check.message}, 1, {ALERT_MESSAGE_LENGTH})"
    # Skip a cause that has a live alert, or that staff resolved while the subject has been in
    # its present state; the index on (order, status) keeps this a lookup per candidate.
    suppressed = (
        f"SELECT 1 FROM {T['alert']} x WHERE x.order_id = {check.order_id} "
        f"AND x.cause_key = {check.cause_key} "
        f"AND (NOT (x.status = 'resolved') OR (x.resolved_at >= {check.since} "
        "AND x.resolution_note NOT LIKE %(scan_resolution)s))"
    )
    picked = (
        f"SELECT {check.pick} AS picked_id FROM {check.subject} "
        f"WHERE ({check.window}) AND ({check.predicate}) AND NOT EXISTS ({suppressed}) "
        f"ORDER BY {check.order_by} LIMIT %(batch)s"
    )
    return (
        f"SELECT o.id AS order_id, {check.fulfillment_order} AS fulfillment_order_id, "
        f"{check.location} AS location_id, '{check.stage}' AS stage, "
        f"{check.cause_key} AS cause_key, {severity_sql(d, check)} AS severity, "
        f"{message} AS message, {d.json}({detail_sql}) AS detail, {check.due_by} AS due_by "
        f"FROM {check.source} JOIN ({picked}) AS picked ON picked.picked_id = {check.pick}"
    )


ALERT_COLUMNS = (
    "order_id, fulfillment_order_id, location_id, kind, stage, cause_key, severity, message, "
    "detail, detected_at, due_by, status, resolution_note, updated_at"
)
EVENT_COLUMNS = "order_id, kind, message, data, actor_id, actor_label, created_at"
INSERTED_ALERT = (
    "order_id, fulfillment_order_id, location_id, %(kind)s, stage, cause_key, severity, message, "
    "detail, %(now)s, due_by, 'open', '', %(now)s"
)
# The partial unique index's own predicate, so both databases infer it as the conflict target.
ON_CONFLICT = "ON CONFLICT (cause_key) WHERE NOT (status = 'resolved') DO NOTHING"


def _event_select(d, source: str, action: str, prefix: str) -> str:
    return (
        f"SELECT order_id, '{OrderEvent.Kind.JEOPARDY}', "
        f"SUBSTR('{prefix}' || message, 1, {EVENT_MESSAGE_LENGTH}), "
        f"{d.json}('alert', id, 'kind', kind, 'severity', severity, 'action', '{action}'), "
        f"NULL, '{ACTOR_LABEL}', %(now)s FROM {source}"
    )


def _gone(check: Check, *, lock_orders: bool = False) -> str:
    # With `lock_orders` (PostgreSQL) the alerts' orders are share-locked before any alert row
    # is: the house lock order (order, then alert; see jeopardy.services), so the scan waits
    # for a staff action on the order instead of deadlocking with it.
    lock = (
        (f"JOIN {T['order']} locked ON locked.id = a.order_id ", " FOR KEY SHARE OF locked")
        if lock_orders
        else ("", "")
    )
    return (
        f"SELECT a.id FROM {T['alert']} a {lock[0]}WHERE a.kind = %(kind)s "
        "AND a.stage = %(stage)s AND NOT (a.status = 'resolved') "
        f"AND NOT EXISTS (SELECT 1 FROM {check.subject} WHERE {check.match} "
        f"AND ({check.predicate}) AND {check.cause_key} = a.cause_key) "
        f"ORDER BY a.id LIMIT %(batch)s{lock[1]}"
    )


def _raise(cursor, d, check: Check, params: dict) -> int:
    candidates = _candidates(d, check)
    if d.vendor == "postgresql":
        cursor.execute(
            f"WITH candidate AS ({candidates}), "
            f"raised AS (INSERT INTO {T['alert']} ({ALERT_COLUMNS}) "
            f"SELECT {INSERTED_ALERT} FROM candidate {ON_CONFLICT} "
            "RETURNING id, order_id, kind, severity, message) "
            f"INSERT INTO {T['event']} ({EVENT_COLUMNS}) "
            + _event_select(d, "raised", "raised", "Jeopardy: "),
            params,
        )
        return cursor.rowcount
    # SQLite has no INSERT inside WITH: the alerts' ids come back, then one INSERT of events.
    cursor.execute(
        f"INSERT INTO {T['alert']} ({ALERT_COLUMNS}) SELECT {INSERTED_ALERT} "
        f"FROM ({candidates}) AS candidate WHERE true {ON_CONFLICT} RETURNING id",
        params,
    )
    ids = [row[0] for row in cursor.fetchall()]
    _sqlite_events(cursor, d, ids, params, "raised", "Jeopardy: ")
    return len(ids)


def _resolve(cursor, d, check: Check, params: dict) -> int:
    params = {**params, "note": SCAN_RESOLUTION_PREFIX + check.gone}
    # `NOT (status = 'resolved')` again in the UPDATE: a row staff resolved while this waited
    # for its lock is re-checked and left alone.
    update = (
        f"UPDATE {T['alert']} SET status = 'resolved', resolved_at = %(now)s, "
        "resolution_note = %(note)s, updated_at = %(now)s"
    )
    if d.vendor == "postgresql":
        cursor.execute(
            f"WITH gone AS ({_gone(check, lock_orders=True)}), resolved AS ({update} FROM gone "
            f"WHERE {T['alert']}.id = gone.id AND NOT ({T['alert']}.status = 'resolved') "
            f"RETURNING {T['alert']}.id, order_id, kind, severity, message) "
            f"INSERT INTO {T['event']} ({EVENT_COLUMNS}) "
            + _event_select(d, "resolved", "resolved", "Jeopardy alert resolved: "),
            params,
        )
        return cursor.rowcount
    cursor.execute(
        f"{update} WHERE id IN ({_gone(check)}) AND NOT (status = 'resolved') RETURNING id",
        params,
    )
    ids = [row[0] for row in cursor.fetchall()]
    _sqlite_events(cursor, d, ids, params, "resolved", "Jeopardy alert resolved: ")
    return len(ids)


def _sqlite_events(cursor, d, ids: list[int], params: dict, action: str, prefix: str) -> None:
    # Always sent, even for no ids: the statement count of a run stays fixed.
    source = f"{T['alert']} WHERE id IN (SELECT value FROM json_each(%(ids)s))"
    cursor.execute(
        f"INSERT INTO {T['event']} ({EVENT_COLUMNS}) " + _event_select(d, source, action, prefix),
        {"now": params["now"], "ids": json.dumps(ids)},
    )


# --- The job ---------------------------------------------------------------------------------


def _cuts(now: datetime, pickup_default: timedelta) -> dict[str, object]:
    """Per stage, the newest entry time that can be past any of the stage's SLAs (index bound)."""
    shortest = dict(
        StageSLA.objects.values_list("stage").annotate(shortest=Min("max_duration")).order_by()
    )
    pickup = shortest.get(Stage.AWAITING_PICKUP)
    shortest[Stage.AWAITING_PICKUP] = min(pickup, pickup_default) if pickup else pickup_default
    adapt = connection.ops.adapt_datetimefield_value
    return {stage: adapt(now - duration) for stage, duration in shortest.items()}


def scan_for_jeopardy(*, now: datetime | None = None, batch_size: int | None = None) -> ScanResult:
    """Raise alerts for what is at risk now and resolve those whose cause is gone.

    Each check's raise and resolve is its own short transaction (a statement on PostgreSQL),
    retried after a deadlock: alert rows are never held locked while the next check runs.
    """
    now = now or timezone.now()
    batch_size = batch_size or settings.JEOPARDY_SCAN_BATCH_SIZE
    d = dialect()
    pickup_default = timedelta(hours=settings.JEOPARDY_PICKUP_SLA_HOURS)
    adapt = connection.ops.adapt_datetimefield_value
    common = {
        "now": adapt(now),
        "today": now.astimezone(UTC).date(),
        "shipped_since": adapt(now - LATE_SHIPPED_LOOKBACK),
        "scan_resolution": SCAN_RESOLUTION_PREFIX + "%",
        "batch": batch_size,
    }
    checks = build_checks(d, _cuts(now, pickup_default), d.duration_param(pickup_default))
    result = ScanResult()
    with _without_jit():
        for check in checks:
            params = {**common, **check.params, "kind": check.kind, "stage": check.stage}
            result.raised[check.name] = _run(_raise, d, check, params)
            result.resolved[check.name] = _run(_resolve, d, check, params)
    return result


@contextmanager
def _without_jit():
    """PostgreSQL costs the per-row primary-key lookups as if every row of the range needed
    them, and above its JIT thresholds compiles the statement: at a million orders that took
    0.8 s of a 1.2 s statement. The scan's statements run for milliseconds to a second; JIT
    never pays for itself here."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET jit = off")
    try:
        yield
    finally:
        try:
            with connection.cursor() as cursor:
                cursor.execute("RESET jit")
        except DatabaseError:
            pass  # the transaction failed, and with it the SET was undone


@retry_transient
def _run(step, d, check: Check, params: dict) -> int:
    with transaction.atomic(), connection.cursor() as cursor:
        return step(cursor, d, check, params)
