"""Rules staff change in the admin (`SourcingRuleSet` rows) change what capture reserves.

The engine's own tests (test_engine.py) feed it `Rules` values directly; these go through the
database: a rule set row → `fulfillment.sourcing.inputs.rules_for` → the engine → reservations.

The map is drawn around wherever `fulfillment.geo.locate` puts the customer's address:
STORE-NEAR ~5.5 km north of it, WH-FAR ~280 km north. The standard service costs 3.00 within
100 km and 9.00 beyond (+0.50/kg), so on cost alone the store wins.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from fulfillment.geo import locate
from fulfillment.models import Carrier, CarrierService, ShippingRate, SourcingRuleSet
from inventory.models import Reservation, StockLevel
from oms.core.errors import InsufficientStock
from orders.models import Order, OrderEvent
from orders.services import place_order
from tests.factories import (
    LocationFactory,
    SalesChannelFactory,
    ServiceLevelFactory,
    SKUFactory,
    TaxRateFactory,
    api_key_for,
    order_payload,
    stock,
)

pytestmark = pytest.mark.django_db

ALL_TYPES = ["warehouse", "store", "3pl", "dropship_vendor"]


def north_of_customer(degrees: float, east: float = 0.0) -> dict[str, Decimal]:
    """Coordinates `degrees` of latitude (~111 km each) north of the customer's address."""
    latitude, longitude = locate(order_payload()["delivery"]["address"])
    return {
        "latitude": Decimal(f"{latitude + degrees:.6f}"),
        "longitude": Decimal(f"{longitude + east:.6f}"),
    }


@pytest.fixture
def network(db):
    TaxRateFactory()
    level = ServiceLevelFactory()
    carrier = Carrier.objects.create(code="parcelco", name="ParcelCo")
    service = CarrierService.objects.create(
        carrier=carrier, service_level=level, code="parcelco-standard", name="Standard"
    )
    for km, base, days in ((100, "3.00", 1), (5000, "9.00", 3)):
        ShippingRate.objects.create(
            carrier_service=service,
            max_distance_km=km,
            max_weight_kg=Decimal("70"),
            base_amount=Decimal(base),
            per_kg_amount=Decimal("0.50"),
            transit_days=days,
        )
    far = LocationFactory(code="WH-FAR", type="warehouse", priority=10, **north_of_customer(2.5))
    near = LocationFactory(
        code="STORE-NEAR", type="store", allows_pickup=True, priority=50, **north_of_customer(0.05)
    )
    a = SKUFactory(code="SKU-A")
    b = SKUFactory(code="SKU-B")
    for sku in (a, b):
        stock(sku, far, 10)
        stock(sku, near, 3)
    return {"far": far, "near": near, "a": a, "b": b}


@pytest.fixture
def web(db):
    return SalesChannelFactory(code="web")


@pytest.fixture
def marketplace(db):
    return SalesChannelFactory(code="marketplace", type="marketplace")


def capture(channel, **overrides) -> Order:
    payload = order_payload(**overrides)
    return place_order(
        channel=channel, **{k: payload[k] for k in ("customer", "lines", "delivery", "payment")}
    ).order


def reserved(order) -> list[tuple[str, str, int]]:
    """What capture reserved for the order: (location, SKU, units)."""
    return sorted(
        Reservation.objects.filter(order_line__order=order).values_list(
            "location__code", "sku__code", "quantity"
        )
    )


def rule_set(channel=None, **fields) -> SourcingRuleSet:
    defaults = {
        "name": f"{channel.code if channel else 'default'} rules",
        "ship_location_types": ALL_TYPES,
        "pickup_location_types": ["store"],
    }
    return SourcingRuleSet.objects.create(channel=channel, **{**defaults, **fields})


ONE_A = [{"sku": "SKU-A", "quantity": 1}]


# --- Location types ------------------------------------------------------------------------


def test_without_rules_the_cheaper_nearer_store_ships(network, web):
    assert reserved(capture(web, lines=ONE_A)) == [("STORE-NEAR", "SKU-A", 1)]


def test_when_stores_may_not_ship_the_warehouse_ships_though_the_store_is_nearer(network, web):
    rule_set(ship_location_types=["warehouse"])

    order = capture(web, lines=ONE_A)

    assert reserved(order) == [("WH-FAR", "SKU-A", 1)]
    assert StockLevel.objects.get(sku=network["a"], location=network["near"]).reserved == 0
    sourced = order.events.get(kind=OrderEvent.Kind.SOURCED)
    assert "STORE-NEAR (store locations may not ship under these rules)" in sourced.message


def test_changing_a_rule_set_changes_the_next_capture(network, web):
    rules = rule_set(ship_location_types=["warehouse"])
    assert reserved(capture(web, lines=ONE_A)) == [("WH-FAR", "SKU-A", 1)]

    rules.ship_location_types = ["warehouse", "store"]
    rules.save()
    assert reserved(capture(web, lines=ONE_A)) == [("STORE-NEAR", "SKU-A", 1)]

    rules.ship_location_types = ["store"]
    rules.save()
    # The store holds only 3: a 5-unit line can no longer be topped up from the warehouse.
    with pytest.raises(InsufficientStock):
        capture(web, lines=[{"sku": "SKU-A", "quantity": 5}])


def test_a_location_that_does_not_ship_is_never_asked_whatever_the_rules(network, web):
    network["near"].ships_orders = False
    network["near"].save()

    assert reserved(capture(web, lines=ONE_A)) == [("WH-FAR", "SKU-A", 1)]


# --- Channel rules over the default --------------------------------------------------------


def test_a_channel_rule_set_overrides_the_default(network, web, marketplace):
    rule_set(ship_location_types=["warehouse"])  # the default: warehouses only
    rule_set(web, ship_location_types=["warehouse", "store"])

    assert reserved(capture(web, lines=ONE_A)) == [("STORE-NEAR", "SKU-A", 1)]
    assert reserved(capture(marketplace, lines=ONE_A)) == [("WH-FAR", "SKU-A", 1)]


def test_an_inactive_channel_rule_set_falls_back_to_the_default(network, web):
    rule_set(ship_location_types=["warehouse"])
    rule_set(web, ship_location_types=["store"], is_active=False)

    assert reserved(capture(web, lines=ONE_A)) == [("WH-FAR", "SKU-A", 1)]


def test_an_inactive_default_is_no_default(network, web):
    rule_set(ship_location_types=["warehouse"], is_active=False)

    assert reserved(capture(web, lines=ONE_A)) == [("STORE-NEAR", "SKU-A", 1)]


# --- Shipments and backorders --------------------------------------------------------------


def test_by_default_a_line_no_single_location_holds_is_split(network, web):
    StockLevel.objects.filter(sku=network["a"], location=network["far"]).update(on_hand=3)

    order = capture(web, lines=[{"sku": "SKU-A", "quantity": 5}])

    assert {location for location, _, _ in reserved(order)} == {"STORE-NEAR", "WH-FAR"}
    assert sum(units for _, _, units in reserved(order)) == 5
    assert order.status == Order.Status.PLACED


def test_one_shipment_and_refuse_turns_a_possible_split_into_a_refusal(network, web):
    StockLevel.objects.filter(sku=network["a"], location=network["far"]).update(on_hand=3)
    rule_set(web, max_shipments=1, backorder_policy="refuse")

    with pytest.raises(InsufficientStock) as refused:
        capture(web, lines=[{"sku": "SKU-A", "quantity": 5}])

    assert refused.value.code == "insufficient_stock"
    assert not Order.objects.exists()
    assert not Reservation.objects.exists()
    assert set(StockLevel.objects.values_list("reserved", flat=True)) == {0}


def test_one_shipment_refusal_over_the_api_is_a_409_that_writes_nothing(network, web):
    from rest_framework.test import APIClient

    StockLevel.objects.filter(sku=network["a"], location=network["far"]).update(on_hand=3)
    rule_set(web, max_shipments=1, backorder_policy="refuse")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {api_key_for(web)}")

    response = client.post(
        "/api/v1/orders/",
        order_payload(lines=[{"sku": "SKU-A", "quantity": 5}]),
        format="json",
        HTTP_IDEMPOTENCY_KEY="rules-409",
    )

    assert response.status_code == 409
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "insufficient_stock"
    assert not Order.objects.exists()


def test_a_refusal_under_the_rules_says_how_many_units_the_rules_allow(network, web):
    """The storefront offers the customer what can be had: one shipment carries at most 3 of
    the network's 6 units, so "available: 6" for a refused 5 would contradict the refusal."""
    StockLevel.objects.filter(sku=network["a"], location=network["far"]).update(on_hand=3)
    rule_set(web, max_shipments=1, backorder_policy="refuse")

    with pytest.raises(InsufficientStock) as refused:
        capture(web, lines=[{"sku": "SKU-A", "quantity": 5}])

    (line,) = refused.value.details["lines"]
    assert (line["requested"], line["available"]) == (5, 3)


def test_one_shipment_and_backorder_ships_the_best_single_location_and_backorders_the_rest(
    network, web
):
    StockLevel.objects.filter(sku=network["a"], location=network["far"]).update(on_hand=3)
    rule_set(web, max_shipments=1, backorder_policy="backorder")

    order = capture(web, lines=[{"sku": "SKU-A", "quantity": 5}])

    assert order.status == Order.Status.BACKORDERED
    assert len({location for location, _, _ in reserved(order)}) == 1
    assert sum(units for _, _, units in reserved(order)) == 3
    assert order.lines.get().quantity_backordered == 2
    assert order.promised_date is None


def test_max_shipments_keeps_a_two_sku_order_in_one_parcel(network, web):
    # A at the store only, B at the warehouse only: two parcels, unless one is the limit.
    StockLevel.objects.filter(sku=network["a"], location=network["far"]).update(on_hand=0)
    StockLevel.objects.filter(sku=network["b"], location=network["near"]).update(on_hand=0)
    both = [{"sku": "SKU-A", "quantity": 1}, {"sku": "SKU-B", "quantity": 1}]
    assert reserved(capture(web, lines=both)) == [
        ("STORE-NEAR", "SKU-A", 1),
        ("WH-FAR", "SKU-B", 1),
    ]

    rule_set(web, max_shipments=1, backorder_policy="refuse")
    with pytest.raises(InsufficientStock):
        capture(web, lines=both)


# --- Exclusions ----------------------------------------------------------------------------


def test_an_excluded_location_is_never_used_for_its_channel(network, web, marketplace):
    rules = rule_set(web)
    rules.excluded_locations.add(network["near"])

    assert reserved(capture(web, lines=ONE_A)) == [("WH-FAR", "SKU-A", 1)]
    # Even to top up a line the warehouse cannot fill on its own.
    StockLevel.objects.filter(sku=network["a"], location=network["far"]).update(on_hand=4)
    with pytest.raises(InsufficientStock):
        capture(web, lines=[{"sku": "SKU-A", "quantity": 5}])
    # Other channels still use it.
    assert reserved(capture(marketplace, lines=ONE_A)) == [("STORE-NEAR", "SKU-A", 1)]


def test_an_excluded_store_does_not_serve_pickup(network, web):
    rules = rule_set(web)
    rules.excluded_locations.add(network["near"])
    pickup = {"method": "pickup", "location": "STORE-NEAR"}

    with pytest.raises(InsufficientStock):
        capture(web, lines=ONE_A, delivery=pickup)
    assert not Reservation.objects.exists()

    rules.excluded_locations.clear()
    assert reserved(capture(web, lines=ONE_A, delivery=pickup)) == [("STORE-NEAR", "SKU-A", 1)]


# --- Weights -------------------------------------------------------------------------------


def test_a_priority_weight_flips_the_choice_to_the_preferred_warehouse(network, web):
    rules = rule_set(web)  # cost only
    assert reserved(capture(web, lines=ONE_A)) == [("STORE-NEAR", "SKU-A", 1)]

    # Priority 10 against 50: 40 points outweigh the 6.00 the store saves.
    rules.weight_priority = Decimal("1")
    rules.save()
    assert reserved(capture(web, lines=ONE_A)) == [("WH-FAR", "SKU-A", 1)]

    # ... unless cost weighs more again.
    rules.weight_cost = Decimal("10")
    rules.save()
    assert reserved(capture(web, lines=ONE_A)) == [("STORE-NEAR", "SKU-A", 1)]


def test_a_distance_weight_against_a_cheap_far_location(network, web):
    # The far warehouse gets a cheap long-distance band: on cost alone it now wins.
    ShippingRate.objects.filter(max_distance_km=5000).update(base_amount=Decimal("1.00"))
    rules = rule_set(web)
    assert reserved(capture(web, lines=ONE_A)) == [("WH-FAR", "SKU-A", 1)]

    rules.weight_distance = Decimal("0.1")  # 28 points for ~280 km against 2.00 saved
    rules.save()
    assert reserved(capture(web, lines=ONE_A)) == [("STORE-NEAR", "SKU-A", 1)]


def test_the_split_penalty_decides_between_one_parcel_and_two_cheaper_ones(network, web):
    # The warehouse holds both SKUs; two nearby stores hold one each.
    other = LocationFactory(
        code="STORE-NEAR-2", type="store", priority=50, **north_of_customer(0.04, east=0.03)
    )
    StockLevel.objects.filter(sku=network["b"], location=network["near"]).update(on_hand=0)
    stock(network["b"], other, 3)
    both = [{"sku": "SKU-A", "quantity": 1}, {"sku": "SKU-B", "quantity": 1}]
    rules = rule_set(web)  # split penalty 5: 2 × 3.25 + 5 > 9.50 from the warehouse

    assert reserved(capture(web, lines=both)) == [("WH-FAR", "SKU-A", 1), ("WH-FAR", "SKU-B", 1)]

    rules.split_penalty = Decimal("0")
    rules.save()
    assert reserved(capture(web, lines=both)) == [
        ("STORE-NEAR", "SKU-A", 1),
        ("STORE-NEAR-2", "SKU-B", 1),
    ]


# --- Backorder policy ----------------------------------------------------------------------


def test_the_rule_sets_backorder_policy_decides_for_its_channel(network, web):
    too_many = [{"sku": "SKU-A", "quantity": 20}]
    with pytest.raises(InsufficientStock):
        capture(web, lines=too_many)  # no rules, channel without backorders: refused

    rule_set(web, backorder_policy="backorder")
    order = capture(web, lines=too_many)

    assert order.status == Order.Status.BACKORDERED
    assert order.lines.get().quantity_backordered == 7
    assert sum(units for _, _, units in reserved(order)) == 13


def test_a_long_sourcing_explanation_fits_the_order_timeline(network, web):
    """Two shipments and a backorder already explain themselves in more than 500 characters,
    the length of `OrderEvent.message`: PostgreSQL refuses the capture (DataError → 500) unless
    the message is shortened. The whole explanation stays in the event's data."""
    rule_set(web, backorder_policy="backorder")

    order = capture(web, lines=[{"sku": "SKU-A", "quantity": 20}])

    sourced = order.events.get(kind=OrderEvent.Kind.SOURCED)
    assert len(" ".join(sourced.data["explanation"])) > 500
    assert len(sourced.message) <= OrderEvent._meta.get_field("message").max_length
