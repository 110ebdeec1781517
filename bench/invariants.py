"""The stock and capture invariants, checked after each capture run of the scale suite.

Each check is one SQL statement over the whole database and counts the rows that break it:
every count must be 0. The bench prints them and exits 1 if one is not.

- `oversold`: stock rows with more reserved than on hand (the check constraint should make
  this impossible; the bench proves it held under load);
- `reserved_mismatch`: stock rows whose reserved counter differs from the sum of their active
  reservations (every seeded row starts at 0 reserved, so the two must always agree);
- `orders_per_key`: idempotency keys that point at no order or share an order with another
  key — a retried or concurrent duplicate must get the first order back, never a second one;
- `outbox_per_order`: captured orders (not the seeded history) without exactly one
  `order.placed` outbox row.
"""

from __future__ import annotations

from django.db import connection

CHECKS = {
    "oversold": "SELECT COUNT(*) FROM inventory_stocklevel WHERE reserved > on_hand",
    "reserved_mismatch": """
        SELECT COUNT(*) FROM inventory_stocklevel sl
        LEFT JOIN (
            SELECT sku_id, location_id, SUM(quantity) AS quantity FROM inventory_reservation
            WHERE state = 'active' GROUP BY sku_id, location_id
        ) r ON r.sku_id = sl.sku_id AND r.location_id = sl.location_id
        WHERE sl.reserved <> COALESCE(r.quantity, 0)
    """,
    "orders_per_key": """
        SELECT (SELECT COUNT(*) FROM orders_idempotencykey WHERE order_id IS NULL)
             + (SELECT COUNT(*) FROM (
                    SELECT order_id FROM orders_idempotencykey WHERE order_id IS NOT NULL
                    GROUP BY order_id HAVING COUNT(*) > 1) shared)
    """,
    "outbox_per_order": """
        SELECT COUNT(*) FROM orders_order o
        LEFT JOIN (
            SELECT aggregate_id, COUNT(*) AS rows FROM core_outboxmessage
            WHERE topic = 'order.placed' GROUP BY aggregate_id
        ) m ON m.aggregate_id = o.id::text
        WHERE o.number NOT LIKE 'SO-H%%' AND COALESCE(m.rows, 0) <> 1
    """,
}


def check() -> dict:
    """{"oversold": 0, …, "ok": True}: the rows breaking each invariant."""
    found = {}
    with connection.cursor() as cursor:
        for name, sql in CHECKS.items():
            cursor.execute(sql, [])
            found[name] = cursor.fetchone()[0]
    found["ok"] = not any(found.values())
    return found
