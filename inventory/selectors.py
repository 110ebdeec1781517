from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db.models import F, Q, QuerySet, Value
from django.db.models.functions import Greatest

from inventory.allocation import StockRow
from inventory.models import (
    OPEN_PURCHASE_ORDER_STATUSES,
    SKU,
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


def availability_by_sku(*, sku_codes: list[str]) -> tuple[dict[str, SKUAvailability], list[str]]:
    """Network and per-location ATP for many SKUs in two queries; also returns unknown codes."""
    known = set(SKU.objects.filter(code__in=sku_codes).values_list("code", flat=True))
    unknown = [code for code in sku_codes if code not in known]
    result = {code: SKUAvailability(sku=code) for code in sku_codes if code in known}
    rows = (
        StockLevel.objects.filter(
            sku__code__in=known,
            location__is_active=True,
        )
        .filter(Q(location__ships_orders=True) | Q(location__allows_pickup=True))
        .annotate(available=atp_expression())
        .values_list(
            "sku__code",
            "location__code",
            "available",
            "location__ships_orders",
            "location__allows_pickup",
        )
        .order_by("sku__code", "location__priority", "location__code")
    )
    for sku_code, location_code, available, ships, pickup in rows:
        entry = result[sku_code]
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
