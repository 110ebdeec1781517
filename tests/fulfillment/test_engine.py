"""The sourcing engine is a pure function: properties over random requests, then the rules
staff change (exclusions, split penalty, speed, location types) changing its decisions."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal
from itertools import product

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fulfillment.promising import promise_date
from fulfillment.sourcing.engine import source
from fulfillment.sourcing.rates import distance_km, parcel_price, rate_for
from fulfillment.sourcing.types import (
    Calendar,
    Candidate,
    Destination,
    Line,
    RateBand,
    Rules,
    Service,
    SourcingPlan,
    SourcingRequest,
)

SKUS = (1, 2, 3, 4)
TYPES = ("warehouse", "store", "3pl", "dropship_vendor")
ORDERED_AT = datetime(2026, 11, 24, 10, 0)  # a Tuesday, before the 14:00 cut-off
NEW_YORK = Destination(latitude=40.7128, longitude=-74.0060, country="US")
PROPERTY_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


# --- strategies ------------------------------------------------------------------------------


def cents(draw, low: int, high: int) -> Decimal:
    return Decimal(draw(st.integers(low, high))).scaleb(-2)


@st.composite
def services(draw) -> tuple[Service, ...]:
    """Two standard services and an express one; bands cover 5000 km and 50 kg."""
    result = []
    for service_id, carrier, level in (
        (1, "ups", "standard"),
        (2, "fedex", "standard"),
        (3, "dhl", "express"),
    ):
        bands = []
        for max_distance, transit in ((500, 1), (1500, 2), (5000, 4)):
            for max_weight in (10, 50):
                bands.append(
                    RateBand(
                        max_distance_km=max_distance,
                        max_weight_kg=Decimal(max_weight),
                        base_amount=cents(draw, 300, 3000),
                        per_kg_amount=cents(draw, 0, 150),
                        transit_days=draw(st.integers(transit, transit + 2)),
                    )
                )
        result.append(Service(service_id, carrier, level, tuple(bands)))
    return tuple(result)


@st.composite
def candidate_lists(draw, max_count: int = 12) -> tuple[Candidate, ...]:
    count = draw(st.integers(1, max_count))
    return tuple(
        Candidate(
            location_id=number,
            code=f"L{number:02d}",
            type=draw(st.sampled_from(TYPES)),
            # the continental US: never more than the 5000 km the bands cover
            latitude=draw(st.floats(28, 46)),
            longitude=draw(st.floats(-110, -70)),
            priority=draw(st.integers(0, 100)),
            handling_days=draw(st.integers(0, 2)),
            ships=draw(st.sampled_from([True, True, True, False])),
            pickup=draw(st.booleans()),
            calendar=Calendar(),
            available={sku: draw(st.integers(0, 10)) for sku in SKUS},
            stock_level_ids={sku: number * 100 + sku for sku in SKUS},
        )
        for number in range(1, count + 1)
    )


@st.composite
def line_lists(draw, max_lines: int = 5) -> tuple[Line, ...]:
    # at most 5 lines × 5 units × 2 kg = 50 kg: every order fits one parcel band
    count = draw(st.integers(1, max_lines))
    return tuple(
        Line(
            line_number=number,
            sku_id=draw(st.sampled_from(SKUS)),  # two lines may share a SKU
            quantity=draw(st.integers(1, 5)),
            unit_weight_kg=Decimal(draw(st.integers(1, 20))).scaleb(-1),
        )
        for number in range(1, count + 1)
    )


WEIGHTS = st.sampled_from([Decimal("0"), Decimal("0.5"), Decimal("1"), Decimal("2.25")])


@st.composite
def rule_sets(draw, candidates: tuple[Candidate, ...]) -> Rules:
    ids = [c.location_id for c in candidates]
    return Rules(
        ship_location_types=draw(st.frozensets(st.sampled_from(TYPES), min_size=1)),
        pickup_location_types=draw(st.frozensets(st.sampled_from(TYPES), min_size=1)),
        excluded_location_ids=draw(st.frozensets(st.sampled_from(ids))) if ids else frozenset(),
        weight_cost=draw(WEIGHTS),
        weight_transit_days=draw(WEIGHTS),
        weight_distance=draw(st.sampled_from([Decimal("0"), Decimal("0.001"), Decimal("0.01")])),
        weight_priority=draw(st.sampled_from([Decimal("0"), Decimal("0.05")])),
        split_penalty=draw(st.sampled_from([Decimal("0"), Decimal("5"), Decimal("50")])),
        max_shipments=draw(st.integers(1, 4)),
    )


@st.composite
def ship_requests(draw, max_candidates: int = 12, max_lines: int = 5) -> SourcingRequest:
    candidates = draw(candidate_lists(max_candidates))
    return SourcingRequest(
        lines=draw(line_lists(max_lines)),
        destination=Destination(draw(st.floats(28, 46)), draw(st.floats(-110, -70))),
        candidates=candidates,
        services=draw(services()),
        rules=draw(rule_sets(candidates)),
        ordered_at=ORDERED_AT,
        service_level_code="standard",
    )


@st.composite
def pickup_requests(draw) -> SourcingRequest:
    request = draw(ship_requests())
    store = draw(st.sampled_from(request.candidates))
    return replace(request, service_level_code=None, pickup_location_id=store.location_id)


# --- helpers ---------------------------------------------------------------------------------


def allowed_to_ship(request: SourcingRequest) -> list[Candidate]:
    rules = request.rules
    return [
        c
        for c in request.candidates
        if c.ships
        and c.type in rules.ship_location_types
        and c.location_id not in rules.excluded_location_ids
    ]


def demand_by_sku(lines) -> dict[int, int]:
    totals: dict[int, int] = {}
    for line in lines:
        totals[line.sku_id] = totals.get(line.sku_id, 0) + line.quantity
    return totals


def units_by_location_and_sku(plan: SourcingPlan) -> dict[tuple[int, int], int]:
    totals: dict[tuple[int, int], int] = {}
    for shipment in plan.shipments:
        for a in shipment.assignments:
            key = (shipment.location_id, a.sku_id)
            totals[key] = totals.get(key, 0) + a.quantity
    return totals


def single_location_cost(request: SourcingRequest, candidate: Candidate) -> Decimal | None:
    """What shipping the whole order from one location costs by the cheapest standard service."""
    weight = sum((line.unit_weight_kg * line.quantity for line in request.lines), Decimal(0))
    km = round(
        distance_km(
            request.destination.latitude,
            request.destination.longitude,
            candidate.latitude,
            candidate.longitude,
        ),
        1,
    )
    prices = [
        parcel_price(band, weight)
        for service in request.services
        if service.service_level_code == request.service_level_code
        if (band := rate_for(service, km, weight)) is not None
    ]
    return min(prices, default=None)


def recomputed_score(plan: SourcingPlan, request: SourcingRequest) -> Decimal:
    """The score formula, written out independently of the engine."""
    rules = request.rules
    priority = {c.location_id: c.priority for c in request.candidates}
    shipments = plan.shipments
    if not shipments:
        return Decimal(0)
    return (
        rules.weight_cost * sum((s.cost for s in shipments), Decimal(0))
        + rules.weight_transit_days * max(s.transit_days for s in shipments)
        + rules.weight_distance * sum(Decimal(str(s.distance_km)) for s in shipments)
        + rules.weight_priority * sum(priority[s.location_id] for s in shipments)
        + rules.split_penalty * (len(shipments) - 1)
    )


# --- properties ------------------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(ship_requests())
def test_never_assigns_more_than_a_location_has(request):
    plan = source(request)
    available = {c.location_id: c.available for c in request.candidates}
    for (location_id, sku), units in units_by_location_and_sku(plan).items():
        assert units <= available[location_id].get(sku, 0)
    # every unit ordered is either assigned once or reported unfilled
    assigned: dict[int, int] = {}
    for shipment in plan.shipments:
        for a in shipment.assignments:
            assert a.quantity > 0
            assigned[a.line_number] = assigned.get(a.line_number, 0) + a.quantity
    for line in request.lines:
        assert assigned.get(line.line_number, 0) + plan.unfilled.get(line.line_number, 0) == (
            line.quantity
        )


@PROPERTY_SETTINGS
@given(ship_requests())
def test_respects_max_shipments_location_types_and_exclusions(request):
    plan = source(request)
    allowed = {c.location_id for c in allowed_to_ship(request)}
    assert len(plan.shipments) <= request.rules.max_shipments
    assert len({s.location_id for s in plan.shipments}) == len(plan.shipments)
    standard = {
        s.carrier_service_id for s in request.services if s.service_level_code == "standard"
    }
    for shipment in plan.shipments:
        assert shipment.location_id in allowed
        assert shipment.carrier_service_id in standard
        assert shipment.transfer_to_location_id is None
        for a in shipment.assignments:
            assert shipment.stock_level_ids[a.sku_id] == shipment.location_id * 100 + a.sku_id


@PROPERTY_SETTINGS
@given(ship_requests())
def test_fills_everything_the_allowed_locations_hold(request):
    request = replace(request, rules=replace(request.rules, max_shipments=len(request.candidates)))
    plan = source(request)
    held: dict[int, int] = {}
    for candidate in allowed_to_ship(request):
        for sku, units in candidate.available.items():
            held[sku] = held.get(sku, 0) + units
    unfilled_by_sku: dict[int, int] = {}
    for line in request.lines:
        unfilled_by_sku[line.sku_id] = unfilled_by_sku.get(line.sku_id, 0) + plan.unfilled.get(
            line.line_number, 0
        )
    for sku, wanted in demand_by_sku(request.lines).items():
        assert unfilled_by_sku[sku] == max(0, wanted - held.get(sku, 0))
    if not plan.unfilled:
        assert plan.promised_date == max(s.promised_date for s in plan.shipments)
    else:
        assert plan.promised_date is None
        assert any(sentence.startswith("Line ") for sentence in plan.explanation)


@PROPERTY_SETTINGS
@given(ship_requests(), st.integers(1, 4))
def test_never_costlier_than_the_nearest_location_that_fills_the_order(request, max_shipments):
    cost_only = replace(
        request.rules,
        weight_cost=Decimal(1),
        weight_transit_days=Decimal(0),
        weight_distance=Decimal(0),
        weight_priority=Decimal(0),
        split_penalty=Decimal(0),
        max_shipments=max_shipments,
    )
    request = replace(request, rules=cost_only)
    demand = demand_by_sku(request.lines)
    fillers = [
        c
        for c in allowed_to_ship(request)
        if all(c.available.get(sku, 0) >= units for sku, units in demand.items())
    ]
    plan = source(request)
    if not fillers:
        return
    nearest = min(
        fillers,
        key=lambda c: distance_km(
            request.destination.latitude, request.destination.longitude, c.latitude, c.longitude
        ),
    )
    assert plan.unfilled == {}
    assert plan.total_cost <= single_location_cost(request, nearest)


@PROPERTY_SETTINGS
@given(ship_requests(max_candidates=6, max_lines=4), st.integers(1, 3))
def test_no_whole_line_plan_scores_lower(request, max_shipments):
    """Brute force over every way to send each line whole from one allowed location."""
    request = replace(request, rules=replace(request.rules, max_shipments=max_shipments))
    plan = source(request)
    assert plan.score == recomputed_score(plan, request)

    rules = request.rules
    allowed = allowed_to_ship(request)
    standard = [s for s in request.services if s.service_level_code == "standard"]
    best: Decimal | None = None
    for owners in product(allowed, repeat=len(request.lines)):
        parcels: dict[int, list[Line]] = {}
        for line, owner in zip(request.lines, owners, strict=True):
            parcels.setdefault(owner.location_id, []).append(line)
        if len(parcels) > rules.max_shipments:
            continue
        by_id = {c.location_id: c for c in allowed}
        if any(
            by_id[location].available.get(sku, 0) < units
            for location, lines in parcels.items()
            for sku, units in demand_by_sku(lines).items()
        ):
            continue
        cost = Decimal(0)
        slowest = 0
        km_total = Decimal(0)
        priority = 0
        for location, lines in parcels.items():
            site = by_id[location]
            km = round(
                distance_km(
                    request.destination.latitude,
                    request.destination.longitude,
                    site.latitude,
                    site.longitude,
                ),
                1,
            )
            weight = sum((line.unit_weight_kg * line.quantity for line in lines), Decimal(0))
            quotes = [
                (parcel_price(band, weight), band.transit_days)
                for service in standard
                if (band := rate_for(service, km, weight)) is not None
            ]
            price, transit = min(quotes)
            cost += price
            slowest = max(slowest, transit)
            km_total += Decimal(str(km))
            priority += site.priority
        score = (
            rules.weight_cost * cost
            + rules.weight_transit_days * slowest
            + rules.weight_distance * km_total
            + rules.weight_priority * priority
            + rules.split_penalty * (len(parcels) - 1)
        )
        best = score if best is None else min(best, score)
    if best is not None:
        assert plan.unfilled == {}
        assert plan.score <= best


@PROPERTY_SETTINGS
@given(ship_requests(), st.randoms(use_true_random=False))
def test_same_input_same_plan_whatever_the_order_of_the_input(request, rng: random.Random):
    shuffled = replace(
        request,
        candidates=tuple(rng.sample(request.candidates, len(request.candidates))),
        services=tuple(rng.sample(request.services, len(request.services))),
        lines=tuple(rng.sample(request.lines, len(request.lines))),
    )
    assert source(request) == source(request) == source(shuffled)


@PROPERTY_SETTINGS
@given(pickup_requests())
def test_pickup_hands_over_at_the_store_and_transfers_only_from_allowed_locations(request):
    plan = source(request)
    store = request.pickup_location_id
    allowed = {c.location_id for c in allowed_to_ship(request)} - {store}
    available = {c.location_id: c.available for c in request.candidates}
    for (location_id, sku), units in units_by_location_and_sku(plan).items():
        assert units <= available[location_id].get(sku, 0)
    assert len(plan.shipments) <= request.rules.max_shipments
    for shipment in plan.shipments:
        if shipment.location_id == store:
            assert shipment.carrier_service_id is None
            assert shipment.cost == 0
            assert shipment.transfer_to_location_id is None
        else:
            assert shipment.location_id in allowed
            assert shipment.transfer_to_location_id == store
            assert "for pickup" in shipment.explanation
    if plan.shipments and not plan.unfilled:
        assert plan.promised_date == max(s.promised_date for s in plan.shipments)


# --- examples: rules change decisions --------------------------------------------------------


def band(km, kg, base, per_kg="0.50", transit=1) -> RateBand:
    return RateBand(km, Decimal(kg), Decimal(base), Decimal(per_kg), transit)


UPS = Service(
    carrier_service_id=1,
    carrier_code="ups",
    service_level_code="standard",
    rates=(
        band(100, 50, "5.00", transit=1),
        band(1000, 50, "8.00", transit=2),
        band(5000, 50, "12.00", transit=4),
    ),
)
UPS_EXPRESS = Service(2, "ups", "express", (band(5000, 50, "30.00", transit=1),))


def location(location_id, code, lat, lon, stock, *, type="warehouse", **fields) -> Candidate:
    values = {
        "priority": 100,
        "handling_days": 0,
        "ships": True,
        "pickup": type == "store",
        "calendar": Calendar(),
    }
    values.update(fields)
    return Candidate(
        location_id=location_id,
        code=code,
        type=type,
        latitude=lat,
        longitude=lon,
        available=dict(stock),
        stock_level_ids={sku: location_id * 100 + sku for sku in stock},
        **values,
    )


def wh_east(stock, **fields):  # Edison, NJ: ~40 km from New York
    return location(1, "WH-EAST", 40.5187, -74.4121, stock, **fields)


def wh_chicago(stock, **fields):  # ~1,140 km: the 5000 km band
    return location(2, "WH-CHI", 41.8781, -87.6298, stock, **fields)


def store_nyc(stock, **fields):  # Midtown: ~5 km
    return location(3, "STORE-NYC", 40.7549, -73.9840, stock, type="store", **fields)


def wh_reno(stock, **fields):  # ~3,900 km
    return location(4, "WH-RENO", 39.5296, -119.8138, stock, **fields)


RULES = Rules(
    ship_location_types=frozenset({"warehouse", "store"}),
    pickup_location_types=frozenset({"store"}),
    split_penalty=Decimal("5"),
)
LINES = (Line(1, 11, 2, Decimal("1.0")), Line(2, 12, 1, Decimal("0.5")))


def ship(candidates, *, rules=RULES, lines=LINES) -> SourcingPlan:
    return source(
        SourcingRequest(
            lines=lines,
            destination=NEW_YORK,
            candidates=tuple(candidates),
            services=(UPS, UPS_EXPRESS),
            rules=rules,
            ordered_at=ORDERED_AT,
            service_level_code="standard",
        )
    )


def shipped_from(plan: SourcingPlan) -> dict[str, list[tuple[int, int]]]:
    return {
        s.location_code: [(a.line_number, a.quantity) for a in s.assignments]
        for s in plan.shipments
    }


def test_the_nearest_location_that_fills_everything_ships_it_and_says_why():
    plan = ship([wh_east({11: 5, 12: 5}), wh_chicago({11: 5, 12: 5})])
    assert shipped_from(plan) == {"WH-EAST": [(1, 2), (2, 1)]}
    (shipment,) = plan.shipments
    # 5.00 + 0.50 × 2.5 kg
    assert shipment.cost == Decimal("6.25") == plan.total_cost
    assert shipment.carrier_service_id == UPS.carrier_service_id
    assert shipment.transit_days == 1
    assert shipment.promised_date == date(2026, 11, 25)
    assert shipment.stock_level_ids == {11: 111, 12: 112}
    assert plan.promised_date == date(2026, 11, 25)
    assert plan.unfilled == {}
    assert plan.explanation[0] == (
        "WH-EAST ships lines 1, 2 (3 units, 2.5 kg, 40 km) by ups standard for 6.25, "
        "arriving 2026-11-25: cheapest of 2 allowed locations able to ship them "
        "(next best: WH-CHI at 13.25, +7.00)."
    )


def test_excluding_a_location_moves_the_shipment():
    candidates = [wh_east({11: 5, 12: 5}), wh_chicago({11: 5, 12: 5})]
    excluded = replace(RULES, excluded_location_ids=frozenset({1}))
    plan = ship(candidates, rules=excluded)
    assert shipped_from(plan) == {"WH-CHI": [(1, 2), (2, 1)]}
    assert any("WH-EAST (excluded by the channel's rules)" in s for s in plan.explanation)


def test_a_split_penalty_merges_two_cheap_parcels_into_one_from_farther_away():
    candidates = [wh_east({11: 5}), store_nyc({12: 5}), wh_chicago({11: 5, 12: 5})]
    no_penalty = ship(candidates, rules=replace(RULES, split_penalty=Decimal("0")))
    # 6.00 + 5.25 beats 13.25 from Chicago when a second parcel costs nothing extra
    assert set(shipped_from(no_penalty)) == {"WH-EAST", "STORE-NYC"}
    assert no_penalty.total_cost == Decimal("11.25")
    assert any(s.startswith("Split into 2 shipments") for s in no_penalty.explanation)

    penalised = ship(candidates, rules=replace(RULES, split_penalty=Decimal("5")))
    assert shipped_from(penalised) == {"WH-CHI": [(1, 2), (2, 1)]}
    assert penalised.total_cost == Decimal("13.25")  # 16.25 with the penalty for splitting


def test_weighting_transit_days_chooses_the_faster_farther_location():
    # a regional courier: cheap inside 100 km but slow; the long-haul band is faster
    courier = Service(
        7,
        "regional",
        "standard",
        (band(100, 50, "5.00", transit=4), band(2000, 50, "9.00", transit=1)),
    )
    candidates = [wh_east({11: 5, 12: 5}), wh_chicago({11: 5, 12: 5})]

    def plan_for(rules):
        return source(
            SourcingRequest(
                LINES, NEW_YORK, tuple(candidates), (courier,), rules, ORDERED_AT, "standard"
            )
        )

    assert shipped_from(plan_for(RULES)).keys() == {"WH-EAST"}
    fast = plan_for(replace(RULES, weight_transit_days=Decimal("3")))
    assert shipped_from(fast).keys() == {"WH-CHI"}
    assert fast.shipments[0].transit_days == 1
    assert "best under the rules" in fast.shipments[0].explanation


def test_weighting_priority_prefers_the_preferred_location():
    candidates = [wh_east({11: 5, 12: 5}, priority=90), store_nyc({11: 5, 12: 5}, priority=10)]
    assert shipped_from(ship(candidates)).keys() == {"STORE-NYC"}  # nearer and as cheap
    candidates = [wh_east({11: 5, 12: 5}, priority=10), store_nyc({11: 5, 12: 5}, priority=90)]
    preferring = ship(candidates, rules=replace(RULES, weight_priority=Decimal("0.1")))
    assert shipped_from(preferring).keys() == {"WH-EAST"}


def test_a_store_stops_shipping_when_stores_may_not_ship():
    candidates = [store_nyc({11: 5, 12: 5}), wh_chicago({11: 5, 12: 5})]
    assert shipped_from(ship(candidates)).keys() == {"STORE-NYC"}
    warehouses_only = replace(RULES, ship_location_types=frozenset({"warehouse"}))
    plan = ship(candidates, rules=warehouses_only)
    assert shipped_from(plan).keys() == {"WH-CHI"}
    assert any(
        "STORE-NYC (store locations may not ship under these rules)" in s for s in plan.explanation
    )


def test_a_location_that_does_not_ship_is_never_asked_to():
    candidates = [wh_east({11: 5, 12: 5}, ships=False), wh_chicago({11: 5, 12: 5})]
    assert shipped_from(ship(candidates)).keys() == {"WH-CHI"}


def test_a_line_larger_than_any_one_location_is_split_to_fill_it():
    lines = (Line(1, 11, 6, Decimal("1.0")),)
    plan = ship([wh_east({11: 4}), wh_chicago({11: 4})], lines=lines)
    assert plan.unfilled == {}
    assert sorted(a.quantity for s in plan.shipments for a in s.assignments) == [2, 4]
    assert "line 1 (" in plan.explanation[0]


def test_max_shipments_leaves_what_a_second_shipment_would_need_unfilled():
    candidates = [wh_east({11: 5}), wh_chicago({12: 5})]
    plan = ship(candidates, rules=replace(RULES, max_shipments=1))
    # one parcel can hold 2 units of line 1 or 1 unit of line 2: more units win
    assert shipped_from(plan) == {"WH-EAST": [(1, 2)]}
    assert plan.unfilled == {2: 1}
    assert plan.promised_date is None
    assert (
        "Line 2: 1 unit unfilled: no plan within the rules' limit of 1 shipment could also ship "
        "these units." in plan.explanation
    )


def test_unfilled_lines_are_explained():
    plan = ship([wh_east({11: 1})], lines=(*LINES, Line(3, 13, 3, Decimal("1"))))
    assert plan.unfilled == {1: 1, 2: 1, 3: 3}
    assert shipped_from(plan) == {"WH-EAST": [(1, 1)]}
    assert plan.promised_date is None
    assert "Line 1: 1 of 2 units unfilled: allowed locations hold only 1 of the 2 ordered." in (
        plan.explanation
    )
    assert "Line 2: 1 unit unfilled: no allowed location has it in stock." in plan.explanation
    assert "Line 3: 3 units unfilled: no allowed location has it in stock." in plan.explanation


def test_a_location_no_band_reaches_cannot_ship():
    short = Service(1, "ups", "standard", (band(1000, 50, "8.00"),))
    plan = source(
        SourcingRequest(
            LINES, NEW_YORK, (wh_reno({11: 5, 12: 5}),), (short,), RULES, ORDERED_AT, "standard"
        )
    )
    assert plan.shipments == ()
    assert plan.unfilled == {1: 2, 2: 1}
    assert any(
        "No standard service reaches the destination from WH-RENO" in s for s in plan.explanation
    )


def test_fifty_candidates_use_the_bounded_search_and_still_pick_the_cheapest_single_location():
    rng = random.Random(7)
    candidates = [
        location(
            number,
            f"L{number:02d}",
            rng.uniform(30, 45),
            rng.uniform(-120, -75),
            {11: rng.choice([0, 5, 20]), 12: rng.choice([0, 5, 20])},
        )
        for number in range(10, 60)
    ]
    nearby = location(99, "NEARBY", 40.73, -74.17, {11: 5, 12: 5})
    plan = ship([*candidates, nearby])
    assert shipped_from(plan).keys() == {"NEARBY"}
    assert any("bounded search" in s for s in plan.explanation)


# --- pickup ----------------------------------------------------------------------------------


def pickup(candidates, *, rules=RULES, lines=LINES, store_id=3) -> SourcingPlan:
    return source(
        SourcingRequest(
            lines=lines,
            destination=NEW_YORK,
            candidates=tuple(candidates),
            services=(UPS, UPS_EXPRESS),
            rules=rules,
            ordered_at=ORDERED_AT,
            pickup_location_id=store_id,
        )
    )


def test_pickup_at_a_store_with_stock_is_handed_over_from_its_shelves():
    plan = pickup([store_nyc({11: 5, 12: 5}), wh_east({11: 5, 12: 5})])
    (handover,) = plan.shipments
    assert handover.location_code == "STORE-NYC"
    assert handover.carrier_service_id is None
    assert handover.cost == 0
    assert handover.distance_km == 0
    assert handover.transit_days == 0
    assert handover.transfer_to_location_id is None
    assert handover.promised_date == date(2026, 11, 24)  # same day: before the cut-off
    assert plan.promised_date == date(2026, 11, 24)
    assert "for pickup" in handover.explanation


def test_pickup_by_transfer_when_the_store_lacks_a_line():
    plan = pickup([store_nyc({11: 5}), wh_east({11: 5, 12: 5}, handling_days=1)])
    by_code = {s.location_code: s for s in plan.shipments}
    assert [(a.line_number, a.quantity) for a in by_code["STORE-NYC"].assignments] == [(1, 2)]
    transfer = by_code["WH-EAST"]
    assert [(a.line_number, a.quantity) for a in transfer.assignments] == [(2, 1)]
    assert transfer.transfer_to_location_id == 3
    assert transfer.carrier_service_id is not None  # any service level may carry a transfer
    assert "transfer to STORE-NYC for pickup" in transfer.explanation
    # handed to the carrier Wednesday (one handling day), at the store Thursday
    assert transfer.promised_date == date(2026, 11, 26)
    assert plan.promised_date == date(2026, 11, 26)
    assert plan.unfilled == {}


def test_pickup_where_the_store_may_not_serve_pickup_fills_nothing():
    rules = replace(RULES, pickup_location_types=frozenset({"warehouse"}))
    plan = pickup([store_nyc({11: 5, 12: 5})], rules=rules)
    assert plan.shipments == ()
    assert plan.unfilled == {1: 2, 2: 1}
    assert plan.promised_date is None
    assert "store locations may not serve pickup" in plan.explanation[0]


def test_pickup_promise_is_the_later_of_handover_and_transfer():
    # the store is closed Wednesday: its own handover slips past the transfer's arrival
    closed = Calendar(holidays=frozenset({date(2026, 11, 24), date(2026, 11, 25)}))
    plan = pickup([store_nyc({11: 5}, calendar=closed), wh_east({12: 5})])
    by_code = {s.location_code: s for s in plan.shipments}
    ready = promise_date(ordered_at=ORDERED_AT, calendar=closed, handling_days=0, transit_days=0)
    assert by_code["STORE-NYC"].promised_date == ready == date(2026, 11, 26)
    assert by_code["WH-EAST"].promised_date == date(2026, 11, 25)
    assert plan.promised_date == date(2026, 11, 26)
