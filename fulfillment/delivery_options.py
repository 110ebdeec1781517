"""What a checkout page offers: ship services with price and date, and nearby pickup stores.

Every option is decided by the same engine and promise function that capture uses, over one
read of stock, rules and rates, so an option shown is an option capture will keep.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.conf import settings
from django.utils import timezone

from fulfillment.sourcing.engine import source
from fulfillment.sourcing.inputs import build_request, candidates_for, rules_for, services_for
from fulfillment.sourcing.rates import distance_km
from fulfillment.sourcing.service import PlanningLine
from inventory.models import SKU, Location
from oms.core.errors import InvalidInput
from oms.core.money import Money
from orders.models import SalesChannel, ServiceLevel
from orders.pricing import shipping_price


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
    now = now or timezone.now()
    skus = {sku.code: sku for sku in SKU.objects.filter(code__in={line["sku"] for line in lines})}
    errors = {}
    for index, line in enumerate(lines):
        sku = skus.get(line["sku"])
        if sku is None or not sku.is_sellable:
            errors[f"lines[{index}].sku"] = f"Unknown SKU {line['sku']!r}."
    if errors:
        raise InvalidInput(errors)
    planning_lines = [
        PlanningLine(
            index + 1,
            skus[line["sku"]].pk,
            line["quantity"],
            skus[line["sku"]].weight_kg * line["quantity"],
        )
        for index, line in enumerate(lines)
    ]
    weight = sum((line.weight_kg for line in planning_lines), start=Decimal("0"))
    rules = rules_for(channel)
    stores = [
        store
        for store in Location.objects.filter(is_active=True, allows_pickup=True).order_by("code")
        if store.type in rules.pickup_location_types
        and store.pk not in rules.excluded_location_ids
        and distance_km(
            destination[0], destination[1], float(store.latitude), float(store.longitude)
        )
        <= settings.PICKUP_SEARCH_RADIUS_KM
    ]
    candidates = candidates_for(
        {line.sku_id for line in planning_lines},
        ordered_at=now,
        include_location_ids=[store.pk for store in stores],
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
                        service.carrier_code
                        for service in services
                        if service.carrier_service_id in carriers
                    )
                ),
            )
        )
    pickup = []
    for store in stores:
        decided = plan(
            pickup_location_id=store.pk,
            destination=(float(store.latitude), float(store.longitude)),
        )
        if decided.unfilled or not decided.shipments:
            continue
        pickup.append(
            PickupOption(
                location=store.code,
                name=store.name,
                city=store.city,
                distance_km=round(
                    distance_km(
                        destination[0],
                        destination[1],
                        float(store.latitude),
                        float(store.longitude),
                    ),
                    1,
                ),
                ready_by=decided.promised_date,
                by_transfer=any(s.location_id != store.pk for s in decided.shipments),
            )
        )
    pickup.sort(key=lambda option: (option.distance_km, option.location))
    return DeliveryOptions(ship=ship, pickup=pickup[: settings.PICKUP_OPTIONS_LIMIT])
