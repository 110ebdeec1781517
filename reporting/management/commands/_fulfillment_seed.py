"""Demo carriers, rate bands, sourcing rules, location calendars, holidays and bin zones."""

from __future__ import annotations

from datetime import date, time
from decimal import Decimal

from fulfillment.models import Carrier, CarrierService, Holiday, ShippingRate, SourcingRuleSet
from inventory.models import Location, StockLevel
from orders.models import SalesChannel, ServiceLevel

# (carrier, carrier service code, service level, [(max km, max kg, base, per kg, transit days)])
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
CARRIERS = {
    "parcelco": ("ParcelCo", "https://track.parcelco.example/{tracking_number}"),
    "swiftship": ("SwiftShip", "https://swiftship.example/t/{tracking_number}"),
}
HOLIDAYS = [
    (date(2026, 11, 26), "Thanksgiving"),
    (date(2026, 12, 25), "Christmas Day"),
    (date(2027, 1, 1), "New Year's Day"),
]
# Warehouses and the 3PL cut off mid-afternoon; stores later, and they open on Saturdays.
CALENDARS = {
    Location.Type.WAREHOUSE: (time(15, 0), "12345"),
    Location.Type.THIRD_PARTY: (time(14, 0), "12345"),
    Location.Type.STORE: (time(17, 0), "123456"),
    Location.Type.DROPSHIP_VENDOR: (time(12, 0), "12345"),
}
ZONES = "ABCD"


def seed_fulfillment() -> None:
    for code, (name, url) in CARRIERS.items():
        Carrier.objects.update_or_create(
            code=code, defaults={"name": name, "tracking_url_template": url}
        )
    for carrier_code, service_code, level_code, bands in RATE_CARDS:
        service, _ = CarrierService.objects.update_or_create(
            carrier=Carrier.objects.get(code=carrier_code),
            code=service_code,
            defaults={
                "name": service_code.replace("-", " ").title(),
                "service_level": ServiceLevel.objects.get(code=level_code),
            },
        )
        for km, kg, base, per_kg, days in bands:
            ShippingRate.objects.update_or_create(
                carrier_service=service,
                max_distance_km=km,
                max_weight_kg=Decimal(kg),
                defaults={
                    "base_amount": Decimal(base),
                    "per_kg_amount": Decimal(per_kg),
                    "transit_days": days,
                },
            )
    for day, name in HOLIDAYS:
        Holiday.objects.update_or_create(date=day, location=None, defaults={"name": name})
    for location_type, (cutoff, days) in CALENDARS.items():
        Location.objects.filter(type=location_type).update(cutoff_time=cutoff, working_days=days)

    SourcingRuleSet.objects.update_or_create(
        channel=None,
        is_active=True,
        defaults={
            "name": "Default: cheapest, avoid splits",
            "ship_location_types": ["3pl", "dropship_vendor", "store", "warehouse"],
            "pickup_location_types": ["store"],
            "weight_cost": Decimal("1"),
            "weight_transit_days": Decimal("0.5"),
            "split_penalty": Decimal("4"),
            "max_shipments": 3,
            "backorder_policy": SourcingRuleSet.BackorderPolicy.REFUSE,
        },
    )
    call_center = SalesChannel.objects.filter(code="call-center").first()
    if call_center is not None:
        SourcingRuleSet.objects.update_or_create(
            channel=call_center,
            defaults={
                "name": "Call center: ship fast, backorder the rest",
                "ship_location_types": ["3pl", "store", "warehouse"],
                "pickup_location_types": ["store"],
                "weight_cost": Decimal("1"),
                "weight_transit_days": Decimal("2"),
                "split_penalty": Decimal("3"),
                "max_shipments": 3,
                "backorder_policy": SourcingRuleSet.BackorderPolicy.BACKORDER,
            },
        )
    # Bin zones by SKU number so zone picking has something to group.
    for level in StockLevel.objects.filter(bin_zone="").select_related("sku"):
        digits = "".join(ch for ch in level.sku.code if ch.isdigit()) or "0"
        level.bin_zone = ZONES[int(digits) % len(ZONES)]
        level.save(update_fields=["bin_zone"])
