"""A seeded retail network for the database benchmarks: 50 locations, 300 SKUs, 3 services.

Five warehouses, a 3PL and two drop-ship vendors cover the country; 42 stores sit in twelve
metro areas (eight around New York), so a checkout in a city sees several stores within the
pickup radius. Stock is loaded in bulk, one receipt movement per stock level, so on hand
still equals the sum of movements (`receive_stock` one row at a time would take a minute).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, time
from decimal import Decimal

from django.db import transaction

from fulfillment import reference_cache
from fulfillment.models import Carrier, CarrierService, Holiday, ShippingRate, SourcingRuleSet
from inventory.models import SKU, Location, StockLevel, StockMovement
from orders.models import ChannelAPIKey, SalesChannel, ServiceLevel, TaxRate

SEED = 20250303
SKU_COUNT = 300

# (code, city, region, ZIP, latitude, longitude, stores there)
METROS = [
    ("NYC", "New York", "NY", "10006", 40.7128, -74.0060, 8),
    ("LAX", "Los Angeles", "CA", "90012", 34.0522, -118.2437, 4),
    ("CHI", "Chicago", "IL", "60601", 41.8781, -87.6298, 4),
    ("HOU", "Houston", "TX", "77002", 29.7604, -95.3698, 3),
    ("PHX", "Phoenix", "AZ", "85004", 33.4484, -112.0740, 3),
    ("PHL", "Philadelphia", "PA", "19107", 39.9526, -75.1652, 3),
    ("SFO", "San Francisco", "CA", "94103", 37.7749, -122.4194, 3),
    ("SEA", "Seattle", "WA", "98101", 47.6062, -122.3321, 3),
    ("ATL", "Atlanta", "GA", "30303", 33.7490, -84.3880, 3),
    ("BOS", "Boston", "MA", "02108", 42.3601, -71.0589, 3),
    ("MIA", "Miami", "FL", "33130", 25.7617, -80.1918, 3),
    ("DEN", "Denver", "CO", "80202", 39.7392, -104.9903, 2),
]
# (code, type, city, region, latitude, longitude)
NETWORK = [
    ("WH-NJ", "warehouse", "Newark", "NJ", 40.7357, -74.1724),
    ("WH-CA", "warehouse", "Ontario", "CA", 34.0633, -117.6509),
    ("WH-TX", "warehouse", "Dallas", "TX", 32.8998, -97.0403),
    ("WH-IL", "warehouse", "Joliet", "IL", 41.5250, -88.0817),
    ("WH-GA", "warehouse", "McDonough", "GA", 33.4473, -84.1469),
    ("3PL-KS", "3pl", "Kansas City", "KS", 39.1141, -94.6275),
    ("DS-NC", "dropship_vendor", "Charlotte", "NC", 35.2271, -80.8431),
    ("DS-OR", "dropship_vendor", "Portland", "OR", 45.5152, -122.6784),
]
# The demo's rate cards: (carrier, service code, service level, [(km, kg, base, per kg, days)])
RATE_CARDS = [
    ("parcelco", "ground", "standard", [
        (500, "30", "4.50", "0.40", 2), (1500, "30", "6.90", "0.55", 4),
        (5000, "30", "9.80", "0.70", 6), (5000, "70", "24.00", "0.90", 7),
    ]),
    ("parcelco", "two-day", "express", [
        (1500, "30", "11.50", "0.90", 2), (5000, "30", "16.00", "1.20", 2),
    ]),
    ("swiftship", "overnight", "next-day", [
        (800, "20", "19.00", "1.50", 1), (5000, "20", "32.00", "2.10", 1),
    ]),
    ("swiftship", "economy", "standard", [
        (800, "30", "3.95", "0.35", 3), (5000, "30", "8.90", "0.65", 6),
    ]),
]  # fmt: skip
SERVICE_LEVELS = [
    ("standard", "Standard", 5, "5.95", "0.50"),
    ("express", "Express", 2, "14.95", "1.00"),
    ("next-day", "Next day", 1, "24.95", "1.50"),
]


@dataclass(frozen=True)
class Network:
    channel: SalesChannel
    api_key: str
    skus: list[SKU]
    # (ZIP, region) of each metro, for destinations
    destinations: list[dict[str, str]]
    stores_by_metro: dict[str, list[Location]]


@transaction.atomic
def seed_network() -> Network:
    rng = random.Random(SEED)
    channel = SalesChannel.objects.create(code="web", name="Web", type="web", currency="USD")
    _, api_key = ChannelAPIKey.objects.create_key(name="bench", channel=channel)
    for code, name, days, base, per_kg in SERVICE_LEVELS:
        ServiceLevel.objects.create(
            code=code,
            name=name,
            transit_days=days,
            base_amount=Decimal(base),
            per_kg_amount=Decimal(per_kg),
        )
    for carrier in ("parcelco", "swiftship"):
        Carrier.objects.create(code=carrier, name=carrier.title())
    for carrier, service_code, level, bands in RATE_CARDS:
        service = CarrierService.objects.create(
            carrier=Carrier.objects.get(code=carrier),
            code=service_code,
            name=service_code.title(),
            service_level=ServiceLevel.objects.get(code=level),
        )
        ShippingRate.objects.bulk_create(
            ShippingRate(
                carrier_service=service,
                max_distance_km=km,
                max_weight_kg=Decimal(kg),
                base_amount=Decimal(base),
                per_kg_amount=Decimal(per_kg),
                transit_days=days,
            )
            for km, kg, base, per_kg, days in bands
        )
    Holiday.objects.create(date=date(2026, 12, 25), name="Christmas Day")
    Holiday.objects.create(date=date(2027, 1, 1), name="New Year's Day")
    SourcingRuleSet.objects.create(
        name="Default",
        channel=None,
        ship_location_types=["warehouse", "store", "3pl", "dropship_vendor"],
        pickup_location_types=["store"],
        weight_cost=Decimal("1"),
        weight_transit_days=Decimal("0.5"),
        split_penalty=Decimal("5"),
        max_shipments=3,
    )
    TaxRate.objects.bulk_create(
        TaxRate(country="US", region=region, name=f"{region} sales tax", rate=Decimal("0.07"))
        for region in sorted({metro[2] for metro in METROS})
    )

    locations = [
        Location(
            code=code,
            name=code,
            type=kind,
            city=city,
            region=region,
            country="US",
            latitude=_coordinate(latitude),
            longitude=_coordinate(longitude),
            priority=10 if kind == "warehouse" else 50,
            handling_days=1,
            cutoff_time=time(15, 0),
        )
        for code, kind, city, region, latitude, longitude in NETWORK
    ]
    stores_by_metro: dict[str, list[Location]] = {}
    for metro, city, region, _, latitude, longitude, count in METROS:
        for n in range(1, count + 1):
            # Within about 25 km of the city centre.
            store = Location(
                code=f"STORE-{metro}-{n}",
                name=f"{city} store {n}",
                type="store",
                city=city,
                region=region,
                country="US",
                latitude=_coordinate(latitude + rng.uniform(-0.2, 0.2)),
                longitude=_coordinate(longitude + rng.uniform(-0.25, 0.25)),
                allows_pickup=True,
                priority=100,
                handling_days=0,
                cutoff_time=time(17, 0),
                working_days="123456",
            )
            locations.append(store)
            stores_by_metro.setdefault(metro, []).append(store)
    Location.objects.bulk_create(locations)
    locations = list(Location.objects.order_by("code"))
    stores_by_metro = {
        metro: [loc for loc in locations if loc.code.startswith(f"STORE-{metro}-")]
        for metro in stores_by_metro
    }

    SKU.objects.bulk_create(
        SKU(
            code=f"SKU-{n:04d}",
            name=f"Product {n}",
            price_amount=Decimal(rng.randint(500, 20000)) / 100,
            cost_amount=Decimal(rng.randint(200, 8000)) / 100,
            weight_kg=Decimal(rng.choice(["0.200", "0.500", "0.800", "1.500", "3.000"])),
        )
        for n in range(1, SKU_COUNT + 1)
    )
    skus = list(SKU.objects.order_by("code"))
    levels, receipts = [], []
    for location in locations:
        share, low, high = {
            "warehouse": (0.8, 20, 300),
            "3pl": (0.5, 10, 100),
            "dropship_vendor": (0.1, 50, 500),
            "store": (0.25, 1, 8),
        }[location.type]
        for sku in skus:
            if rng.random() < share:
                quantity = rng.randint(low, high)
                levels.append(StockLevel(sku=sku, location=location, on_hand=quantity))
                receipts.append(
                    StockMovement(
                        sku=sku,
                        location=location,
                        kind=StockMovement.Kind.RECEIPT,
                        quantity=quantity,
                        reference="BENCH",
                    )
                )
    StockLevel.objects.bulk_create(levels, batch_size=1000)
    StockMovement.objects.bulk_create(receipts, batch_size=1000)
    # The rate bands went in by bulk_create, which sends no signal: processes that cached the
    # reference data (fulfillment.reference_cache) must read it again once this commits.
    transaction.on_commit(reference_cache.invalidate)
    return Network(
        channel=channel,
        api_key=api_key,
        skus=skus,
        destinations=[
            {
                "line1": "1 Main St",
                "city": city,
                "region": region,
                "postal_code": zip_code,
                "country": "US",
            }
            for _, city, region, zip_code, *_ in METROS
        ],
        stores_by_metro=stores_by_metro,
    )


def _coordinate(value: float) -> Decimal:
    return Decimal(str(round(value, 6)))
