"""The scale dataset of `python -m bench --suite scale` (issue 6 §1), seeded with bulk SQL.

On top of the network `bench.seed` makes (channel, API key, service levels, carriers, rate
bands, 50 locations), it adds, in a few INSERT … SELECT over `generate_series` (PostgreSQL
only, like the rest of the scale suite):

- `SKUS` SKUs `SC-00001`… (10,000 by default), each stocked at `LOCATIONS` locations (the 20
  first by priority and code: the 8 fulfilment centres and 12 stores): on hand 100,000 at a
  warehouse, 3PL or drop-ship vendor (captures never run dry), 50 at a store; one receipt
  movement per stock row, so on hand stays the sum of movements;
- `SC-HOT`, the hot SKU: stocked at one warehouse only (on hand 10,000,000), so every order
  for it locks the same stock row;
- `CUSTOMERS` customers `scale<n>@example.com` (50,000 by default);
- with `orders=N`, N historical orders (`SO-H<n>`), one line each, spread over the customers,
  the SKUs and the last 365 days, in the status mix of a shop that has run for a while:
  70 % completed, 10 % shipped, 10 % released, 5 % placed, 5 % cancelled. They feed the
  back-office reads; nothing is reserved for them (they do not move stock).

Foreign keys are not checked row by row while seeding (session_replication_role = replica):
the rows reference what they should by construction. Statistics are gathered at the end.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.db import connection, transaction

from bench.seed import Network
from inventory.models import Location

SKUS = 10_000
LOCATIONS = 20
CUSTOMERS = 50_000
HOT_SKU = "SC-HOT"
WAREHOUSE_ON_HAND = 100_000
STORE_ON_HAND = 50
HOT_ON_HAND = 10_000_000
FULFILMENT_CENTRES = ("warehouse", "3pl", "dropship_vendor")


@dataclass(frozen=True)
class ScaleData:
    network: Network
    sku_codes: list[str]
    sku_ids: list[int]  # in code order; contiguous ids (one bulk insert)
    location_ids: list[int]  # the stocked locations, in pk order
    hot_sku_id: int
    hot_location_id: int
    customers: int
    historical_orders: int
    seed_seconds: float


def seed_scale(
    network: Network, *, skus: int = SKUS, customers: int = CUSTOMERS, orders: int = 0
) -> ScaleData:
    if connection.vendor != "postgresql":
        raise SystemExit("The scale suite runs on PostgreSQL only: set DATABASE_URL.")
    started = time.perf_counter()
    locations = list(Location.objects.order_by("priority", "code")[:LOCATIONS])
    location_ids = sorted(location.pk for location in locations)
    big = sorted(loc.pk for loc in locations if loc.type in FULFILMENT_CENTRES)
    hot_location = big[0]
    params = {
        "skus": skus,
        "customers": customers,
        "orders": orders,
        "locations": location_ids,
        "big": big,
        "big_on_hand": WAREHOUSE_ON_HAND,
        "store_on_hand": STORE_ON_HAND,
        "hot": HOT_SKU,
        "hot_location": hot_location,
        "hot_on_hand": HOT_ON_HAND,
        "channel": network.channel.pk,
    }
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(
            "INSERT INTO inventory_sku (code, name, description, price_amount, cost_amount, "
            "currency, weight_kg, is_sellable, created_at, updated_at) "
            "SELECT 'SC-' || lpad(g.n::text, 5, '0'), 'Scale product ' || g.n, '', "
            "5 + (g.n %% 200), 2 + (g.n %% 80), 'USD', 0.5, true, now(), now() "
            "FROM generate_series(1, %(skus)s) AS g(n) "
            "UNION ALL SELECT %(hot)s, 'Hot product', '', 19.99, 8, 'USD', 0.5, true, now(), now()",
            params,
        )
        cursor.execute(
            "INSERT INTO inventory_stocklevel (sku_id, location_id, on_hand, reserved, "
            "safety_stock, bin_zone, updated_at) "
            "SELECT s.id, l.id, CASE WHEN l.id = ANY(%(big)s) THEN %(big_on_hand)s "
            "ELSE %(store_on_hand)s END, 0, 0, '', now() "
            "FROM inventory_sku s CROSS JOIN unnest(%(locations)s::bigint[]) AS l(id) "
            "WHERE s.code LIKE 'SC-%%' AND s.code <> %(hot)s "
            "UNION ALL SELECT s.id, %(hot_location)s, %(hot_on_hand)s, 0, 0, '', now() "
            "FROM inventory_sku s WHERE s.code = %(hot)s",
            params,
        )
        cursor.execute(
            "INSERT INTO inventory_stockmovement (sku_id, location_id, kind, quantity, reason, "
            "reference, created_at) "
            "SELECT sl.sku_id, sl.location_id, 'receipt', sl.on_hand, 'bench scale seed', "
            "'BENCH', now() FROM inventory_stocklevel sl JOIN inventory_sku s ON s.id = sl.sku_id "
            "WHERE s.code LIKE 'SC-%%'",
            params,
        )
        cursor.execute(
            "INSERT INTO customers_customer (email, first_name, last_name, phone, tier, tags, "
            "notes, created_at, updated_at) "
            "SELECT 'scale' || g.n || '@example.com', 'Scale', 'Customer ' || g.n, '', "
            "CASE WHEN g.n %% 100 = 0 THEN 'vip' ELSE 'standard' END, '[]', '', now(), now() "
            "FROM generate_series(1, %(customers)s) AS g(n)",
            params,
        )
        if orders:
            _seed_orders(cursor, params)
    with connection.cursor() as cursor:
        cursor.execute(
            "ANALYZE inventory_sku, inventory_stocklevel, inventory_stockmovement, "
            "customers_customer, orders_order, orders_orderline"
        )
        cursor.execute(
            "SELECT id, code FROM inventory_sku WHERE code LIKE 'SC-%%' ORDER BY code", []
        )
        rows = cursor.fetchall()
    hot_id = next(pk for pk, code in rows if code == HOT_SKU)
    rows = [(pk, code) for pk, code in rows if code != HOT_SKU]
    return ScaleData(
        network=network,
        sku_codes=[code for _, code in rows],
        sku_ids=[pk for pk, _ in rows],
        location_ids=location_ids,
        hot_sku_id=hot_id,
        hot_location_id=hot_location,
        customers=customers,
        historical_orders=orders,
        seed_seconds=round(time.perf_counter() - started, 1),
    )


def _seed_orders(cursor, params: dict) -> None:
    """N orders of one line; the order's n picks its customer, SKU, age and status."""
    status = (
        "CASE WHEN g.n %% 20 < 14 THEN 'completed' WHEN g.n %% 20 < 16 THEN 'shipped' "
        "WHEN g.n %% 20 < 18 THEN 'released' WHEN g.n %% 20 = 18 THEN 'placed' "
        "ELSE 'cancelled' END"
    )
    placed_at = "now() - ((g.n::bigint * 7919) %% (365 * 24 * 60)) * interval '1 minute'"
    cursor.execute(
        "INSERT INTO orders_order (number, channel_id, customer_id, status, status_changed_at, "
        "is_on_hold, currency, delivery_method, service_level_id, ship_to, pickup_location_id, "
        "subtotal_amount, discount_amount, tax_amount, shipping_amount, total_amount, "
        "promised_date, placed_at, updated_at) "
        f"SELECT 'SO-H' || g.n, %(channel)s, c0.id + g.n %% %(customers)s, {status}, "
        f"{placed_at}, false, 'USD', 'ship', sl.id, "
        '\'{"line1": "1 Main St", "city": "New York", "region": "NY", '
        '"postal_code": "10006", "country": "US"}\', NULL, '
        "10 + g.n %% 200, 0, 0, 5.95, 15.95 + g.n %% 200, "
        f"({placed_at})::date + 5, {placed_at}, now() "
        "FROM generate_series(1, %(orders)s) AS g(n), "
        "(SELECT MIN(id) AS id FROM customers_customer WHERE email LIKE 'scale%%') c0, "
        "(SELECT id FROM orders_servicelevel WHERE code = 'standard') sl",
        params,
    )
    cursor.execute(
        "INSERT INTO orders_orderline (order_id, line_number, sku_id, sku_code, name, quantity, "
        "quantity_cancelled, quantity_backordered, unit_price_amount, line_total_amount, "
        "tax_amount) "
        "SELECT o.id, 1, k.id, k.code, k.name, 1, "
        "CASE WHEN o.status = 'cancelled' THEN 1 ELSE 0 END, 0, k.price_amount, k.price_amount, 0 "
        "FROM orders_order o "
        "CROSS JOIN (SELECT MIN(id) AS id FROM inventory_sku WHERE code LIKE 'SC-%%') s0 "
        "JOIN inventory_sku k ON k.id = s0.id + o.id %% %(skus)s "
        "WHERE o.number LIKE 'SO-H%%'",
        params,
    )
