from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db.models import F, Q, QuerySet, Value
from django.db.models.functions import Greatest

from inventory.allocation import StockRow
from inventory.models import SKU, Location, StockLevel, StockMovement


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
