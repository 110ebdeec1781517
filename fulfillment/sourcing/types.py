"""What the sourcing engine takes and returns. Plain frozen values: no ORM, no database.

The adapter in fulfillment.sourcing.inputs builds these from the database; the engine in
fulfillment.sourcing.engine decides; services turn the plan into reservations and
fulfillment orders.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class Calendar:
    """When a location hands parcels to carriers."""

    cutoff: time = time(14, 0)
    working_weekdays: frozenset[int] = frozenset({1, 2, 3, 4, 5})  # ISO: 1 = Monday
    holidays: frozenset[date] = frozenset()


@dataclass(frozen=True, slots=True)
class Candidate:
    location_id: int
    code: str
    type: str  # inventory.Location.Type value
    latitude: float
    longitude: float
    priority: int
    handling_days: int
    ships: bool
    pickup: bool
    calendar: Calendar
    available: dict[int, int]  # sku_id -> ATP units
    stock_level_ids: dict[int, int]  # sku_id -> StockLevel pk


@dataclass(frozen=True, slots=True)
class RateBand:
    max_distance_km: int
    max_weight_kg: Decimal
    base_amount: Decimal
    per_kg_amount: Decimal
    transit_days: int


@dataclass(frozen=True, slots=True)
class Service:
    """A carrier service that delivers a customer-facing service level."""

    carrier_service_id: int
    carrier_code: str
    service_level_code: str
    rates: tuple[RateBand, ...]  # sorted by (max_distance_km, max_weight_kg)


@dataclass(frozen=True, slots=True)
class Rules:
    ship_location_types: frozenset[str]
    pickup_location_types: frozenset[str]
    excluded_location_ids: frozenset[int] = frozenset()
    weight_cost: Decimal = Decimal("1")
    weight_transit_days: Decimal = Decimal("0")
    weight_distance: Decimal = Decimal("0")
    weight_priority: Decimal = Decimal("0")
    split_penalty: Decimal = Decimal("5")
    max_shipments: int = 3
    backorder_policy: str = "refuse"  # refuse | backorder | hold


@dataclass(frozen=True, slots=True)
class Line:
    line_number: int
    sku_id: int
    quantity: int
    unit_weight_kg: Decimal


@dataclass(frozen=True, slots=True)
class Destination:
    latitude: float
    longitude: float
    country: str = ""
    region: str = ""
    postal_code: str = ""


@dataclass(frozen=True, slots=True)
class SourcingRequest:
    lines: tuple[Line, ...]
    destination: Destination
    candidates: tuple[Candidate, ...]
    services: tuple[Service, ...]
    rules: Rules
    ordered_at: datetime
    # ship: the service level the customer chose; pickup: the store that hands over
    service_level_code: str | None = None
    pickup_location_id: int | None = None


@dataclass(frozen=True, slots=True)
class Assignment:
    line_number: int
    sku_id: int
    quantity: int


@dataclass(frozen=True, slots=True)
class Shipment:
    location_id: int
    location_code: str
    assignments: tuple[Assignment, ...]
    weight_kg: Decimal
    distance_km: float
    carrier_service_id: int | None  # None for a pickup handed over at the store itself
    cost: Decimal
    transit_days: int
    promised_date: date
    explanation: str
    stock_level_ids: dict[int, int] = field(default_factory=dict)  # sku_id -> StockLevel pk
    # Pickup orders: the store this shipment is a transfer to (None: to the customer/handover)
    transfer_to_location_id: int | None = None


@dataclass(frozen=True, slots=True)
class SourcingPlan:
    shipments: tuple[Shipment, ...]
    unfilled: dict[int, int]  # line_number -> units no allowed location can serve
    total_cost: Decimal
    score: Decimal
    promised_date: date | None  # the latest shipment's date; None when something is unfilled
    explanation: tuple[str, ...]  # one sentence per decision, shown to staff on the order
