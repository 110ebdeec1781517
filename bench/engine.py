"""The engine alone: a 5-line order over 50 candidate locations, target p99 < 5 ms on one core.

The request is built from fulfillment.sourcing.types directly (no database, no Django setup)
from a fixed seed, so every run decides exactly the same problem. It is made to be a hard
one: stock is scattered (each location holds each SKU with probability 0.45, 0 to 4 units),
so no single location can fill the order and the search must weigh combinations of two and
three locations, every one of the 50 within reach of the carriers.

The target is judged on CPU time (`time.thread_time`): the engine is pure computation, so its
cost on one core is the CPU it burns. Wall time is reported beside it; on a loaded machine it
also counts the time other processes held the core.
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime
from datetime import time as clock
from decimal import Decimal

from bench.results import Result, latency_summary
from fulfillment.sourcing.engine import source
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

SEED = 20250303
LINES = 5
CANDIDATES = 50
TARGET_P99_MS = 5.0
RUNS = 2000
WARMUP_RUNS = 50

# (carrier, service level, [(max km, max kg, base, per kg, transit days)]): the demo's cards.
RATE_CARDS = [
    ("parcelco", "standard", [(500, "30", "4.50", "0.40", 2), (1500, "30", "6.90", "0.55", 4),
                              (5000, "30", "9.80", "0.70", 6), (5000, "70", "24.00", "0.90", 7)]),
    ("swiftship", "standard", [(800, "30", "3.95", "0.35", 3), (5000, "30", "8.90", "0.65", 6)]),
    ("parcelco", "express", [(1500, "30", "11.50", "0.90", 2), (5000, "30", "16.00", "1.20", 2)]),
    ("swiftship", "next-day", [(800, "20", "19.00", "1.50", 1), (5000, "20", "32.00", "2.10", 1)]),
]  # fmt: skip
TYPES = ["warehouse"] * 8 + ["store"] * 36 + ["3pl"] * 4 + ["dropship_vendor"] * 2


def build_request(seed: int = SEED, *, candidates: int = CANDIDATES) -> SourcingRequest:
    rng = random.Random(seed)
    skus = [1000 + n for n in range(LINES)]
    lines = tuple(
        Line(
            line_number=n,
            sku_id=sku,
            quantity=rng.randint(1, 3),
            unit_weight_kg=Decimal(rng.choice(["0.250", "0.800", "1.500", "3.000"])),
        )
        for n, sku in enumerate(skus, start=1)
    )
    locations = []
    for n, location_type in enumerate(TYPES[:candidates], start=1):
        available = {sku: rng.randint(0, 4) for sku in skus if rng.random() < 0.45}
        locations.append(
            Candidate(
                location_id=n,
                code=f"LOC-{n:02d}",
                type=location_type,
                # Continental United States.
                latitude=round(rng.uniform(26.0, 48.0), 4),
                longitude=round(rng.uniform(-122.0, -70.0), 4),
                priority=rng.choice([10, 20, 50, 100]),
                handling_days=rng.choice([0, 1, 1, 2]),
                ships=True,
                pickup=location_type == "store",
                calendar=Calendar(
                    cutoff=clock(rng.choice([12, 14, 15, 17])),
                    working_weekdays=frozenset(
                        {1, 2, 3, 4, 5, 6} if rng.random() < 0.5 else {1, 2, 3, 4, 5}
                    ),
                ),
                available=available,
                stock_level_ids={sku: n * 100 + i for i, sku in enumerate(available)},
            )
        )
    services = tuple(
        Service(
            carrier_service_id=n,
            carrier_code=carrier,
            service_level_code=level,
            rates=tuple(
                RateBand(km, Decimal(kg), Decimal(base), Decimal(per_kg), days)
                for km, kg, base, per_kg, days in bands
            ),
        )
        for n, (carrier, level, bands) in enumerate(RATE_CARDS, start=1)
    )
    return SourcingRequest(
        lines=lines,
        destination=Destination(latitude=40.7085, longitude=-74.0135),  # ZIP 10006, New York
        candidates=tuple(locations),
        services=services,
        rules=Rules(
            ship_location_types=frozenset({"warehouse", "store", "3pl", "dropship_vendor"}),
            pickup_location_types=frozenset({"store"}),
            weight_cost=Decimal("1"),
            weight_transit_days=Decimal("0.5"),
            weight_distance=Decimal("0.001"),
            weight_priority=Decimal("0.01"),
            split_penalty=Decimal("5"),
            max_shipments=3,
        ),
        ordered_at=datetime(2025, 3, 3, 10, 0, tzinfo=UTC),
        service_level_code="standard",
    )


def describe(plan: SourcingPlan, request: SourcingRequest) -> dict:
    ordered = sum(line.quantity for line in request.lines)
    return {
        "units_ordered": ordered,
        "units_filled": ordered - sum(plan.unfilled.values()),
        "shipments": [shipment.location_code for shipment in plan.shipments],
        "total_cost": str(plan.total_cost),
        "promised_date": plan.promised_date.isoformat() if plan.promised_date else None,
        "bounded_search": any("bounded search" in sentence for sentence in plan.explanation),
    }


def run(*, runs: int = RUNS, candidates: int = CANDIDATES) -> Result:
    request = build_request(candidates=candidates)
    first = source(request)
    for _ in range(WARMUP_RUNS):
        source(request)
    cpu, wall = [], []
    started_all = time.perf_counter()
    for _ in range(runs):
        started, started_cpu = time.perf_counter(), time.thread_time()
        plan = source(request)
        cpu.append(time.thread_time() - started_cpu)
        wall.append(time.perf_counter() - started)
        # Pure and deterministic: a different plan on the same request is a bug, not noise.
        if plan != first:
            raise AssertionError("The engine decided the same request two different ways.")
    elapsed = time.perf_counter() - started_all
    measured = latency_summary(cpu)
    measured["wall"] = latency_summary(wall)
    measured["decisions_per_second"] = round(runs / elapsed, 1)
    return Result(
        name="engine",
        description=(
            f"fulfillment.sourcing.engine.source: {LINES}-line ship order over {candidates} "
            f"candidate locations (seed {SEED}), {runs} runs after {WARMUP_RUNS} warm-up runs; "
            "CPU time per decision"
        ),
        target=f"p99_ms < {TARGET_P99_MS} (CPU time)",
        metric="p99_ms",
        limit=TARGET_P99_MS,
        higher_is_better=False,
        measured=measured,
        setup={"plan": describe(first, request), "seed": SEED, "candidates": candidates},
    )
