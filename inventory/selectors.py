from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import connection
from django.db.models import F, Q, QuerySet, Value
from django.db.models.functions import Greatest

from inventory.allocation import StockRow
from inventory.models import (
    OPEN_PURCHASE_ORDER_STATUSES,
    Location,
    PurchaseOrderLine,
    StockLevel,
    StockMovement,
)


def atp_expression():
    """Available to promise = on hand − reserved − safety stock, never below zero."""
    return Greatest(F("on_hand") - F("reserved") - F("safety_stock"), Value(0))


def serving_locations() -> QuerySet[Location]:
    """Locations that can serve a channel's customers today: active, and ship or hand over."""
    return Location.objects.filter(is_active=True).filter(
        Q(ships_orders=True) | Q(allows_pickup=True)
    )


def atp_snapshot(
    *, sku_ids: Iterable[int], location_ids: Iterable[int] | None = None
) -> list[StockRow]:
    """One query: ATP of these SKUs, unlocked (a plan re-checks under lock).

    At the given locations, or (None) at every active location that ships orders.
    """
    levels = StockLevel.objects.filter(sku_id__in=list(sku_ids))
    if location_ids is None:
        levels = levels.filter(location__is_active=True, location__ships_orders=True)
    else:
        levels = levels.filter(location_id__in=list(location_ids))
    rows = (
        levels.annotate(available=atp_expression())
        .values_list(
            "id",
            "sku_id",
            "location_id",
            "available",
            "location__priority",
            "location__code",
            "location__handling_days",
        )
        .order_by("id")
    )
    return [StockRow(*row) for row in rows]


@dataclass(slots=True)
class LocationAvailability:
    location: str
    available: int
    ships: bool
    pickup: bool


@dataclass(slots=True)
class SKUAvailability:
    sku: str
    available: int = 0
    locations: list[LocationAvailability] = field(default_factory=list)


# Written by hand, as the sourcing job's snapshot is (fulfillment.sourcing.service) and for the
# same reason: for 100 SKUs the ORM spent 7-8 ms of CPU composing these two statements (each code
# and id prepared as its own parameter) and converting the 2,000 rows, against 3 ms for all of
# this function by hand; a storefront asks on every page. Standard SQL, for PostgreSQL and
# SQLite alike (tests/inventory/test_availability_api.py runs it on both).
KNOWN_SKUS_SQL = "SELECT id, code FROM inventory_sku WHERE code IN ({codes})"
# By SKU id, not joined to the SKU on its code: given that join, PostgreSQL plans a read of every
# stock row (200,000 at 10,000 SKUs × 20 locations) to keep the 2,000 of 100 SKUs; given the ids,
# it reads only those, through the (sku, location) index. The locations are serving_locations().
# Ordered by location only: the rows are grouped per SKU below, in that order.
SERVING_STOCK_SQL = """
SELECT s.sku_id, loc.code, s.on_hand - s.reserved - s.safety_stock,
       loc.ships_orders, loc.allows_pickup
FROM inventory_stocklevel s
JOIN inventory_location loc ON loc.id = s.location_id
WHERE s.sku_id IN ({sku_ids})
  AND loc.is_active AND (loc.ships_orders OR loc.allows_pickup)
ORDER BY loc.priority, loc.code
"""


def availability_by_sku(*, sku_codes: list[str]) -> tuple[dict[str, SKUAvailability], list[str]]:
    """Network and per-location ATP for many SKUs in two queries; also returns unknown codes."""
    if not sku_codes:
        return {}, []
    with connection.cursor() as cursor:
        cursor.execute(KNOWN_SKUS_SQL.format(codes=", ".join(["%s"] * len(sku_codes))), sku_codes)
        code_by_id = dict(cursor.fetchall())
        if code_by_id:
            cursor.execute(
                SERVING_STOCK_SQL.format(sku_ids=", ".join(["%s"] * len(code_by_id))),
                list(code_by_id),
            )
            rows = cursor.fetchall()
        else:
            rows = []
    known = set(code_by_id.values())
    unknown = [code for code in sku_codes if code not in known]
    result = {code: SKUAvailability(sku=code) for code in sku_codes if code in known}
    for sku_id, location_code, free, ships, pickup in rows:
        available = max(free, 0)  # atp_expression(): never below zero
        entry = result[code_by_id[sku_id]]
        entry.available += available
        entry.locations.append(LocationAvailability(location_code, available, ships, pickup))
    return result, unknown


def movement_total(*, sku_id: int, location_id: int) -> int:
    from django.db.models import Sum

    return (
        StockMovement.objects.filter(sku_id=sku_id, location_id=location_id).aggregate(
            total=Sum("quantity")
        )["total"]
        or 0
    )


@dataclass(frozen=True, slots=True)
class IncomingSupply:
    purchase_order: str
    sku_id: int
    location_id: int
    expected_date: datetime.date
    quantity: int


def incoming_supply(
    *,
    sku_ids: Iterable[int] | None = None,
    location_ids: Iterable[int] | None = None,
    due_by: datetime.date | None = None,
) -> list[IncomingSupply]:
    """Open purchase-order quantities (ordered − received), soonest first, in one query.

    Drafts count: the reorder job treats them as supply already asked for, and a promise made
    from them is confirmed or corrected when the order is sent or cancelled.
    """
    lines = PurchaseOrderLine.objects.filter(
        purchase_order__status__in=OPEN_PURCHASE_ORDER_STATUSES,
        quantity_ordered__gt=F("quantity_received"),
    )
    if sku_ids is not None:
        lines = lines.filter(sku_id__in=list(sku_ids))
    if location_ids is not None:
        lines = lines.filter(purchase_order__destination_id__in=list(location_ids))
    if due_by is not None:
        lines = lines.filter(purchase_order__expected_date__lte=due_by)
    rows = lines.values_list(
        "purchase_order__number",
        "sku_id",
        "purchase_order__destination_id",
        "purchase_order__expected_date",
        F("quantity_ordered") - F("quantity_received"),
    ).order_by("purchase_order__expected_date", "purchase_order__number", "sku_id")
    return [IncomingSupply(*row) for row in rows]


def earliest_supply_date(
    *, sku_id: int, quantity: int, location_ids: Iterable[int] | None = None
) -> datetime.date | None:
    """The first expected date by which open purchase orders together bring `quantity` units
    of the SKU (to these locations, or anywhere); None when they never do."""
    if quantity <= 0:
        return None
    covered = 0
    for supply in incoming_supply(sku_ids=[sku_id], location_ids=location_ids):
        covered += supply.quantity
        if covered >= quantity:
            return supply.expected_date
    return None
