"""The reorder job over 10,000 SKUs × 20 locations: 200,000 active reorder rules.

Seeded in bulk (INSERT … SELECT over SKUs × locations; standard SQL, so SQLite runs it too):
on hand spread over 0–59 units per stock row (a receipt movement each, so on hand stays the
sum of movements), safety stock on a quarter of the SKUs, rules at 20 up to 60 (every tenth
SKU a fixed lot of 25), a 3-day lead time override at a fifth of the locations, and one
preferred supplier item per SKU from 50 suppliers with packs of 1, 6 or 12. About a third of
the rules are at or below their point, so a run drafts ~1,000 purchase orders and ~70,000
lines. Each timed run starts with no purchase orders; a last run right after one (nothing
left to draft) is timed apart: that is the job's steady state between deliveries.
"""

from __future__ import annotations

import datetime
import time
from decimal import Decimal

from django.db import connection, transaction

from bench.results import Result, latency_summary
from inventory.models import (
    SKU,
    Location,
    PurchaseOrder,
    PurchaseOrderLine,
    Supplier,
    SupplierItem,
)
from inventory.replenishment.reorder import run_reorder

SKU_COUNT = 10_000
LOCATION_COUNT = 20
SUPPLIER_COUNT = 50
RUNS = 3
TARGET_SECONDS = 30
TODAY = datetime.date(2030, 1, 7)
PREFIX = "RB-"

STOCK_SQL = """
INSERT INTO inventory_stocklevel (sku_id, location_id, on_hand, reserved, safety_stock,
                                  bin_zone, updated_at)
SELECT s.id, l.id, (s.id * 7 + l.id * 13) % 60, 0,
       CASE WHEN s.id % 4 = 0 THEN 5 ELSE 0 END, '', CURRENT_TIMESTAMP
FROM inventory_sku s CROSS JOIN inventory_location l
WHERE s.code LIKE 'RB-%%' AND l.code LIKE 'RB-%%'
"""
MOVEMENT_SQL = """
INSERT INTO inventory_stockmovement (sku_id, location_id, kind, quantity, reason, reference,
                                     created_at)
SELECT sl.sku_id, sl.location_id, 'receipt', sl.on_hand, 'bench seed', 'bench', CURRENT_TIMESTAMP
FROM inventory_stocklevel sl JOIN inventory_location l ON l.id = sl.location_id
WHERE l.code LIKE 'RB-%%' AND sl.on_hand > 0
"""
RULE_SQL = """
INSERT INTO inventory_reorderrule (sku_id, location_id, reorder_point, method, order_up_to,
                                   fixed_quantity, lead_time_days, safety_stock_days, basis,
                                   is_active, updated_at)
SELECT s.id, l.id, 20,
       CASE WHEN s.id % 10 = 0 THEN 'fixed' ELSE 'order_up_to' END,
       CASE WHEN s.id % 10 = 0 THEN NULL ELSE 60 END,
       CASE WHEN s.id % 10 = 0 THEN 25 ELSE NULL END,
       CASE WHEN l.id % 5 = 0 THEN 3 ELSE NULL END,
       0, '', TRUE, CURRENT_TIMESTAMP
FROM inventory_sku s CROSS JOIN inventory_location l
WHERE s.code LIKE 'RB-%%' AND l.code LIKE 'RB-%%'
"""


@transaction.atomic
def seed() -> dict[str, int]:
    skus = SKU.objects.bulk_create(
        [
            SKU(
                code=f"{PREFIX}{n:05d}",
                name=f"Replenished product {n}",
                price_amount=Decimal("20.00"),
                cost_amount=Decimal("8.00"),
            )
            for n in range(SKU_COUNT)
        ],
        batch_size=2000,
    )
    Location.objects.bulk_create(
        [
            Location(
                code=f"{PREFIX}{n:02d}",
                name=f"Replenished location {n}",
                type=Location.Type.WAREHOUSE if n < 5 else Location.Type.STORE,
                city="Newark",
                region="NJ",
                country="US",
                latitude=Decimal("40.735700"),
                longitude=Decimal("-74.172400"),
            )
            for n in range(LOCATION_COUNT)
        ]
    )
    suppliers = Supplier.objects.bulk_create(
        [
            Supplier(
                code=f"{PREFIX}SUP-{n:02d}",
                name=f"Supplier {n}",
                lead_time_days=5 + n % 10,
                contact_email=f"sup{n}@supply.test",
            )
            for n in range(SUPPLIER_COUNT)
        ]
    )
    SupplierItem.objects.bulk_create(
        [
            SupplierItem(
                supplier=suppliers[n % SUPPLIER_COUNT],
                sku=sku,
                supplier_sku=f"S{n}",
                cost_amount=Decimal("7.50"),
                pack_size=(1, 6, 12)[n % 3],
                minimum_quantity=24 if n % 7 == 0 else 0,
                is_preferred=True,
            )
            for n, sku in enumerate(skus)
        ],
        batch_size=2000,
    )
    counts = {}
    with connection.cursor() as cursor:
        for name, sql in (("stock_levels", STOCK_SQL), ("movements", MOVEMENT_SQL)):
            cursor.execute(sql)
            counts[name] = cursor.rowcount
        cursor.execute(RULE_SQL)
        counts["rules"] = cursor.rowcount
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")  # fresh tables: give the planner real row counts
    return counts


def _forget_purchase_orders() -> None:
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM inventory_purchaseorderline")
        cursor.execute("DELETE FROM inventory_purchaseorder")


def run(*, runs: int = RUNS) -> Result:
    started = time.perf_counter()
    counts = seed()
    seed_seconds = time.perf_counter() - started
    drafting = []
    for _ in range(runs):
        _forget_purchase_orders()
        started = time.perf_counter()
        drafted = run_reorder(today=TODAY)
        drafting.append(time.perf_counter() - started)
    started = time.perf_counter()
    again = run_reorder(today=TODAY)
    steady = time.perf_counter() - started
    if again.purchase_orders:
        raise AssertionError(f"A second run drafted {len(again.purchase_orders)} more orders.")
    if not drafted.purchase_orders:
        raise AssertionError("The job drafted nothing: the seed is wrong.")
    summary = latency_summary(drafting)
    measured = {
        **summary,
        "second_run_ms": round(steady * 1000, 3),
        "rules_at_or_below_point": drafted.examined,
        "purchase_orders": len(drafted.purchase_orders),
        "lines": drafted.lines,
    }
    return Result(
        name="reorder_job",
        description=(
            f"inventory.replenishment.reorder.run_reorder over {counts['rules']:,} active rules "
            f"({SKU_COUNT:,} SKUs × {LOCATION_COUNT} locations), drafting from no purchase "
            "orders; judged on the slowest run (max_ms)"
        ),
        target=f"max_ms < {TARGET_SECONDS * 1000}",
        metric="max_ms",
        limit=TARGET_SECONDS * 1000,
        higher_is_better=False,
        measured=measured,
        setup={
            "database": connection.vendor,
            "seed_seconds": round(seed_seconds, 1),
            **counts,
            "purchase_orders_in_database": PurchaseOrder.objects.count(),
            "lines_in_database": PurchaseOrderLine.objects.count(),
        },
    )
