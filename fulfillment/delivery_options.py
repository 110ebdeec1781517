"""What a checkout page offers: ship services with price and date, and nearby pickup stores.

Every option is decided by the same engine and promise function that capture uses, over one
read of stock, rules and rates, so an option shown is an option capture will keep.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from fulfillment.sourcing.engine import source
from fulfillment.sourcing.inputs import build_request, candidates_for, rules_for, services_for
from fulfillment.sourcing.rates import EARTH_RADIUS_KM, distance_km
from fulfillment.sourcing.service import PlanningLine
from fulfillment.sourcing.types import Rules
from inventory.models import SKU, Location
from oms.core.errors import DomainError, InvalidInput
from oms.core.money import Money
from orders.models import SalesChannel, ServiceLevel
from orders.pricing import shipping_price

# 1 % wider than the circle: covers the six-decimal rounding of stored coordinates with room.
BOX_MARGIN = 1.01


@dataclass(frozen=True, slots=True)
class ShipOption:
    service_level: str
    name: str
    price: Money
    promised_date: date
    carriers: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PickupOption:
    location: str
    name: str
    city: str
    distance_km: float
    ready_by: date
    by_transfer: bool


@dataclass(frozen=True, slots=True)
class DeliveryOptions:
    ship: list[ShipOption]
    pickup: list[PickupOption]


def delivery_options(
    *,
    channel: SalesChannel,
    lines: list[dict],
    destination: tuple[float, float],
    now: datetime | None = None,
) -> DeliveryOptions:
    """Reads only: a fixed number of queries whatever the number of lines, levels or stores."""
    if not channel.is_active:
        raise DomainError(f"Channel {channel.code} is not taking orders.", code="channel_inactive")
    now = now or timezone.now()
    skus = _sellable_skus(channel, lines)
    planning_lines = [
        PlanningLine(
            index + 1,
            skus[line["sku"]].pk,
            line["quantity"],
            skus[line["sku"]].weight_kg * line["quantity"],
        )
        for index, line in enumerate(lines)
    ]
    # Capture prices shipping on the same total weight with the same function.
    weight = sum((line.weight_kg for line in planning_lines), start=Decimal("0"))
    rules = rules_for(channel)
    stores = _nearby_stores(destination, rules)
    candidates = candidates_for(
        {line.sku_id for line in planning_lines},
        ordered_at=now,
        include_location_ids=[store.pk for _, store in stores],
    )
    services = services_for(None)

    def plan(**kwargs):
        return source(
            build_request(
                channel=channel,
                lines=planning_lines,
                destination=kwargs.pop("destination", destination),
                ordered_at=now,
                rules=rules,
                services=services,
                candidates=candidates,
                **kwargs,
            )
        )

    ship = []
    for level in ServiceLevel.objects.filter(is_active=True, currency=channel.currency):
        decided = plan(service_level_code=level.code)
        if decided.unfilled or not decided.shipments:
            continue  # only what the rules and the stock can really keep
        carriers = {s.carrier_service_id for s in decided.shipments}
        ship.append(
            ShipOption(
                service_level=level.code,
                name=level.name,
                price=shipping_price(
                    service_level=level, weight_kg=weight, currency=level.currency
                ),
                promised_date=decided.promised_date,
                carriers=tuple(
                    sorted(
                        {
                            service.carrier_code
                            for service in services
                            if service.carrier_service_id in carriers
                        }
                    )
                ),
            )
        )
    pickup = []
    # Nearest first, so the search stops at the limit instead of planning every store.
    for distance, store in stores:
        if len(pickup) >= settings.PICKUP_OPTIONS_LIMIT:
            break
        decided = plan(
            pickup_location_id=store.pk,
            # What capture uses as the destination of a pickup order.
            destination=(float(store.latitude), float(store.longitude)),
        )
        if decided.unfilled or not decided.shipments:
            continue
        pickup.append(
            PickupOption(
                location=store.code,
                name=store.name,
                city=store.city,
                distance_km=distance,
                ready_by=decided.promised_date,
                by_transfer=any(s.location_id != store.pk for s in decided.shipments),
            )
        )
    return DeliveryOptions(ship=ship, pickup=pickup)


def _sellable_skus(channel: SalesChannel, lines: list[dict]) -> dict[str, SKU]:
    """The SKUs by code; refuses, as capture does, any the channel cannot sell."""
    skus = {sku.code: sku for sku in SKU.objects.filter(code__in={line["sku"] for line in lines})}
    errors = {}
    for index, line in enumerate(lines):
        code = line["sku"]
        sku = skus.get(code)
        if sku is None:
            errors[f"lines[{index}].sku"] = f"Unknown SKU {code!r}."
        elif not sku.is_sellable:
            errors[f"lines[{index}].sku"] = f"SKU {code} is not for sale."
        elif sku.currency != channel.currency:
            errors[f"lines[{index}].sku"] = (
                f"SKU {code} is priced in {sku.currency}; channel {channel.code} sells in "
                f"{channel.currency}."
            )
    if errors:
        raise InvalidInput(errors)
    return skus


def _nearby_stores(destination: tuple[float, float], rules: Rules) -> list[tuple[float, Location]]:
    """(distance in km to 0.1, store) for the stores the rules let serve pickup within
    PICKUP_SEARCH_RADIUS_KM, nearest first (then by code, so equal distances keep an order)."""
    latitude, longitude = destination
    radius = settings.PICKUP_SEARCH_RADIUS_KM
    stores = (
        Location.objects.filter(
            _bounding_box(latitude, longitude, radius),
            is_active=True,
            allows_pickup=True,
            type__in=rules.pickup_location_types,
        )
        .exclude(pk__in=rules.excluded_location_ids)
        .order_by("code")
    )
    nearby = []
    for store in stores:
        distance = distance_km(latitude, longitude, float(store.latitude), float(store.longitude))
        if distance <= radius:
            nearby.append((round(distance, 1), store))
    nearby.sort(key=lambda pair: (pair[0], pair[1].code))
    return nearby


def _bounding_box(latitude: float, longitude: float, radius_km: float) -> Q:
    """Coordinates around the search circle, so the database skips far-away stores.

    The box holds the whole circle on the sphere (bounding coordinates as J. Matuschek derives
    them), widened by BOX_MARGIN for the rounding of stored coordinates; the exact
    great-circle distance then decides. Near a pole every longitude is in; across the
    antimeridian the longitude range wraps.
    """
    angle = radius_km / EARTH_RADIUS_KM  # radians
    spread = math.degrees(angle) * BOX_MARGIN
    box = Q(latitude__gte=_degrees(latitude - spread), latitude__lte=_degrees(latitude + spread))
    if abs(latitude) + spread >= 90:
        return box
    half_width = (
        math.degrees(math.asin(min(1.0, math.sin(angle) / math.cos(math.radians(latitude)))))
        * BOX_MARGIN
    )
    west, east = longitude - half_width, longitude + half_width
    if west < -180:
        return box & (Q(longitude__gte=_degrees(west + 360)) | Q(longitude__lte=_degrees(east)))
    if east > 180:
        return box & (Q(longitude__gte=_degrees(west)) | Q(longitude__lte=_degrees(east - 360)))
    return box & Q(longitude__gte=_degrees(west), longitude__lte=_degrees(east))


def _degrees(value: float) -> Decimal:
    return Decimal(value).quantize(Decimal("0.000001"))
