"""The raw limit: the order capture as one hand-written SQL transaction, driven by pgbench.

What this machine's PostgreSQL allows for our schema, with no Python in the way: the ceiling
every other capture figure is divided by. One transaction is an order, 3 lines, 3 guarded stock
updates (a row is only reserved from if it still has the units: no row, no order), 3 active
reservations and an `order.placed` outbox row — the rows `place_order` writes for stock and
the outbox, in 5 statements plus BEGIN/COMMIT (`place_order` also writes a payment, timeline
events and an idempotency key, and reads to validate and plan: what the ratio pays for).

The 3 SKUs come from three disjoint thirds of the scale SKUs, so every transaction locks its
stock rows in id order (as `inventory.services` does) and clients never deadlock. All lines
reserve at one fulfilment centre. pgbench runs `-M prepared` (the best a driver can do) with
`-j` up to the number of cores, for `SECONDS` per client count; the latencies come from its
per-transaction log (`-l`), so p50/p95/p99 are over every transaction.

A second script, `ORM_SHAPED_SCRIPT`, sends the ~20 statements a warm `place_order` sends
(reads to validate and plan, the idempotency claim in a savepoint, order, number, lines, stock
lock and update, reservations, payment, events, outbox, key), one at a time over the simple
protocol: the same database work with no Python in between. Its throughput is the "ORM-shaped
equivalent" the issue's in-process target is a share of.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from django.db import connection

from bench.results import latency_summary
from bench.scale import ScaleData

CLIENTS = (1, 4, 8, 16)
SECONDS = 10
PGBENCH = shutil.which("pgbench") or "/usr/bin/pgbench"

SCRIPT = """\
\\set s1 random(:sku_lo, :sku_a - 1)
\\set s2 random(:sku_a, :sku_b - 1)
\\set s3 random(:sku_b, :sku_hi)
\\set q1 random(1, 2)
\\set q2 random(1, 2)
\\set q3 random(1, 2)
\\set customer random(:customer_lo, :customer_hi)
BEGIN;
INSERT INTO orders_order (id, number, channel_id, customer_id, status, status_changed_at,
    is_on_hold, currency, delivery_method, service_level_id, ship_to, pickup_location_id,
    subtotal_amount, discount_amount, tax_amount, shipping_amount, total_amount,
    promised_date, placed_at, updated_at)
  SELECT n.id, 'SO-R' || n.id, :channel, :customer, 'placed', now(), false, 'USD', 'ship',
    :service, '{"line1": "1 Main St", "city": "New York", "region": "NY",
    "postal_code": "10006", "country": "US"}'::jsonb, NULL, 30, 0, 2.10, 5.95, 38.05,
    current_date + 5, now(), now()
  FROM (SELECT nextval('orders_order_id_seq') AS id) n
  RETURNING id AS order_id \\gset
WITH lines AS (
  INSERT INTO orders_orderline (order_id, line_number, sku_id, sku_code, name, quantity,
      quantity_cancelled, quantity_backordered, unit_price_amount, line_total_amount,
      tax_amount)
    SELECT :order_id, v.n, k.id, k.code, k.name, v.q, 0, 0, k.price_amount,
      k.price_amount * v.q, 0
    FROM (VALUES (1, :s1::bigint, :q1::int), (2, :s2::bigint, :q2::int),
                 (3, :s3::bigint, :q3::int)) AS v(n, sku, q)
    JOIN inventory_sku k ON k.id = v.sku
    RETURNING id, sku_id, quantity)
INSERT INTO inventory_reservation (order_line_id, sku_id, location_id, quantity, state,
    created_at)
  SELECT id, sku_id, :location, quantity, 'active', now() FROM lines;
UPDATE inventory_stocklevel SET reserved = reserved + :q1, updated_at = now()
  WHERE sku_id = :s1 AND location_id = :location
    AND on_hand - reserved - safety_stock >= :q1
  RETURNING id AS stock1 \\gset
UPDATE inventory_stocklevel SET reserved = reserved + :q2, updated_at = now()
  WHERE sku_id = :s2 AND location_id = :location
    AND on_hand - reserved - safety_stock >= :q2
  RETURNING id AS stock2 \\gset
UPDATE inventory_stocklevel SET reserved = reserved + :q3, updated_at = now()
  WHERE sku_id = :s3 AND location_id = :location
    AND on_hand - reserved - safety_stock >= :q3
  RETURNING id AS stock3 \\gset
INSERT INTO core_outboxmessage (topic, aggregate_id, payload, created_at, attempts, last_error)
  VALUES ('order.placed', :order_id,
    jsonb_build_object('order', 'SO-R' || :order_id, 'channel', 'web', 'status', 'placed'),
    now(), 0, '');
END;
"""
STATEMENTS = 5  # BEGIN/END aside

# The same capture as `place_order` sends it (the statements of a warm call, in its order,
# one at a time over the simple protocol as psycopg does), with no Python between them: the
# fair denominator for "capture in-process ≥ 40 % of the raw limit's ORM-shaped equivalent".
# The customer lookup uses the LOWER(email) index, as the ORM could.
ORM_SHAPED_SCRIPT = """\
\\set s1 random(:sku_lo, :sku_a - 1)
\\set s2 random(:sku_a, :sku_b - 1)
\\set s3 random(:sku_b, :sku_hi)
\\set q1 random(1, 2)
\\set q2 random(1, 2)
\\set q3 random(1, 2)
\\set customer random(:customer_lo, :customer_hi)
SELECT id, request_hash, order_id FROM orders_idempotencykey
  WHERE channel_id = :channel AND key = 'none' LIMIT 1;
SELECT id, code, name, price_amount, weight_kg, is_sellable, currency FROM inventory_sku
  WHERE id IN (:s1, :s2, :s3);
SELECT id, code, base_amount, per_kg_amount FROM orders_servicelevel
  WHERE code = 'standard' AND is_active LIMIT 1;
SELECT region, rate FROM orders_taxrate WHERE country = 'US' AND region IN ('NY', '');
SELECT sl.location_id, sl.sku_id, sl.id, GREATEST(sl.on_hand - sl.reserved - sl.safety_stock, 0)
  FROM inventory_stocklevel sl JOIN inventory_location l ON l.id = sl.location_id
  WHERE sl.sku_id IN (:s1, :s2, :s3) AND l.is_active;
BEGIN;
SAVEPOINT claim;
INSERT INTO orders_idempotencykey (channel_id, key, request_hash, created_at)
  VALUES (:channel, gen_random_uuid()::text, 'hash', now()) RETURNING id AS claim_id \\gset
RELEASE SAVEPOINT claim;
SELECT id, email FROM customers_customer
  WHERE LOWER(email) = LOWER('scale' || :customer || '@example.com') LIMIT 1;
INSERT INTO orders_order (channel_id, customer_id, status, status_changed_at,
    is_on_hold, currency, delivery_method, service_level_id, ship_to, pickup_location_id,
    subtotal_amount, discount_amount, tax_amount, shipping_amount, total_amount,
    promised_date, placed_at, updated_at)
  VALUES (:channel, :customer, 'placed', now(), false, 'USD', 'ship', :service,
    '{"line1": "1 Main St", "city": "New York", "region": "NY", "postal_code": "10006",
    "country": "US"}'::jsonb, NULL, 30, 0, 2.10, 5.95, 38.05, current_date + 5, now(), now())
  RETURNING id AS order_id \\gset
UPDATE orders_order SET number = 'SO-R' || :order_id WHERE id = :order_id;
INSERT INTO orders_orderline (order_id, line_number, sku_id, sku_code, name, quantity,
    quantity_cancelled, quantity_backordered, unit_price_amount, line_total_amount, tax_amount)
  VALUES (:order_id, 1, :s1, 'x', 'x', :q1, 0, 0, 10, 10 * :q1, 0),
         (:order_id, 2, :s2, 'x', 'x', :q2, 0, 0, 10, 10 * :q2, 0),
         (:order_id, 3, :s3, 'x', 'x', :q3, 0, 0, 10, 10 * :q3, 0)
  RETURNING id;
SELECT id, GREATEST(on_hand - reserved - safety_stock, 0) FROM inventory_stocklevel
  WHERE sku_id IN (:s1, :s2, :s3) AND location_id = :location ORDER BY id FOR UPDATE;
UPDATE inventory_stocklevel SET updated_at = now(), reserved = reserved
    + CASE sku_id WHEN :s1 THEN :q1 WHEN :s2 THEN :q2 WHEN :s3 THEN :q3 ELSE 0 END
  WHERE sku_id IN (:s1, :s2, :s3) AND location_id = :location;
INSERT INTO inventory_reservation (order_line_id, sku_id, location_id, quantity, state,
    created_at)
  SELECT id, sku_id, :location, quantity, 'active', now() FROM orders_orderline
  WHERE order_id = :order_id;
INSERT INTO orders_payment (order_id, method, status, amount, currency, reference,
    gateway_reference, created_at, updated_at)
  VALUES (:order_id, 'card', 'authorized', 38.05, 'USD', 'tok_visa', 'fake_1', now(), now());
INSERT INTO orders_orderevent (order_id, kind, message, data, actor_id, actor_label, created_at)
  VALUES (:order_id, 'placed', 'Order placed', '{}'::jsonb, NULL, '', now()),
         (:order_id, 'placed', 'Reserved', '{}'::jsonb, NULL, '', now());
INSERT INTO core_outboxmessage (topic, aggregate_id, payload, created_at, attempts, last_error)
  VALUES ('order.placed', :order_id,
    jsonb_build_object('order', 'SO-R' || :order_id, 'channel', 'web', 'status', 'placed'),
    now(), 0, '');
UPDATE orders_idempotencykey SET order_id = :order_id WHERE id = :claim_id;
END;
"""


def run(data: ScaleData, *, clients=CLIENTS, seconds: int = SECONDS) -> dict:
    """pgbench at each client count: {"clients": {n: {...}}, "setup": {...}}."""
    if not Path(PGBENCH).exists():
        raise SystemExit(f"pgbench not found ({PGBENCH}): install the PostgreSQL client tools.")
    sequence = _sequence()
    script = SCRIPT.replace("orders_order_id_seq", sequence)
    ids = data.sku_ids
    third = len(ids) // 3
    with connection.cursor() as cursor:
        cursor.execute("SELECT MIN(id), MAX(id) FROM customers_customer WHERE email LIKE 'scale%%'")
        customer_lo, customer_hi = cursor.fetchone()
        cursor.execute("SELECT id FROM orders_servicelevel WHERE code = 'standard'")
        service = cursor.fetchone()[0]
    variables = {
        # The thirds are contiguous id ranges: one bulk insert made them.
        "sku_lo": ids[0],
        "sku_a": ids[third],
        "sku_b": ids[2 * third],
        "sku_hi": ids[-1],
        "customer_lo": customer_lo,
        "customer_hi": customer_hi,
        "channel": data.network.channel.pk,
        "service": service,
        "location": data.hot_location_id,
    }
    assert ids == list(range(ids[0], ids[-1] + 1)), "scale SKU ids are not contiguous"
    runs = {}
    with tempfile.TemporaryDirectory(prefix="bench-pgbench-") as workdir:
        for name, text, protocol in (
            ("hand_written", script, "prepared"),
            ("orm_shaped", ORM_SHAPED_SCRIPT, "simple"),
        ):
            script_path = Path(workdir) / f"{name}.sql"
            script_path.write_text(text)
            # warm-up
            _pgbench(script_path, variables, 2, 2, workdir, protocol)
            runs[name] = {
                count: _pgbench(script_path, variables, count, seconds, workdir, protocol)
                for count in clients
            }
    return {
        "clients": runs["hand_written"],
        "orm_shaped": {
            "clients": runs["orm_shaped"],
            "protocol": "simple",
            "script": ORM_SHAPED_SCRIPT,
        },
        "setup": {
            "tool": _version(),
            "protocol": "prepared",
            "seconds_per_client_count": seconds,
            "statements_per_transaction": STATEMENTS,
            "script": script,
        },
    }


def _pgbench(script, variables, clients, seconds, workdir, protocol) -> dict:
    settings = connection.settings_dict
    prefix = Path(workdir) / f"log-{script.stem}-{clients}-{seconds}"
    threads = min(clients, os.cpu_count() or 1)
    command = [
        PGBENCH,
        "-n",  # no vacuum of pgbench's own tables: we have none
        "-M",
        protocol,
        "-c",
        str(clients),
        "-j",
        str(threads),
        "-T",
        str(seconds),
        "-f",
        str(script),
        "-l",
        f"--log-prefix={prefix}",
        "-h",
        settings.get("HOST") or "localhost",
        "-p",
        str(settings.get("PORT") or 5432),
        "-U",
        settings.get("USER") or "postgres",
        *[arg for name, value in variables.items() for arg in ("-D", f"{name}={value}")],
        settings["NAME"],
    ]
    env = {**os.environ}
    if settings.get("PASSWORD"):
        env["PGPASSWORD"] = settings["PASSWORD"]
    completed = subprocess.run(
        command, capture_output=True, text=True, env=env, preexec_fn=unpin, check=False
    )
    if completed.returncode != 0:
        raise RuntimeError(f"pgbench failed:\n{completed.stdout}\n{completed.stderr}")
    output = completed.stdout
    latencies = []
    for log in Path(workdir).glob(f"{prefix.name}.*"):
        for line in log.read_text().splitlines():
            fields = line.split()
            latencies.append(int(fields[2]) / 1e6)  # microseconds
        log.unlink()
    failed = _number(r"number of failed transactions: (\d+)", output) or 0
    summary = latency_summary(latencies) if latencies else {}
    summary.update(
        {
            "clients": clients,
            "threads": threads,
            "transactions": int(
                _number(r"number of transactions actually processed: (\d+)", output)
            ),
            "failed": int(failed),
            "tps": round(_number(r"tps = ([\d.]+)", output), 1),
            "p50_ms": summary.get("median_ms"),
            "p95_ms": _percentile_ms(latencies, 0.95),
        }
    )
    return summary


def _percentile_ms(seconds: list[float], fraction: float) -> float | None:
    from bench.results import percentile

    return round(percentile(seconds, fraction) * 1000, 3) if seconds else None


def _number(pattern: str, text: str) -> float | None:
    match = re.search(pattern, text)
    return float(match.group(1)) if match else None


def _sequence() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_serial_sequence('orders_order', 'id')")
        return cursor.fetchone()[0]


def _version() -> str:
    out = subprocess.run([PGBENCH, "--version"], capture_output=True, text=True, check=False)
    return out.stdout.strip()


def unpin() -> None:
    """Child processes inherit the bench's one-core pin: give load generators every core."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, range(os.cpu_count() or 1))
