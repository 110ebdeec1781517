"""The default allocation: one location that fills everything, else the fewest locations.

A pure function over an ATP snapshot, so it is cheap to re-run after a lock shows the snapshot
was stale. The sourcing engine (fulfillment issue) replaces it with cost-based rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class LineDemand:
    line_number: int
    sku_id: int
    quantity: int


@dataclass(frozen=True, slots=True)
class StockRow:
    stock_level_id: int
    sku_id: int
    location_id: int
    available: int
    location_priority: int
    location_code: str
    handling_days: int


@dataclass(frozen=True, slots=True)
class Allocation:
    line_number: int
    sku_id: int
    location_id: int
    stock_level_id: int
    quantity: int
    location_code: str = ""


@dataclass(slots=True)
class AllocationPlan:
    allocations: list[Allocation] = field(default_factory=list)
    # line_number -> units no location could serve
    shortfalls: dict[int, int] = field(default_factory=dict)

    @property
    def location_ids(self) -> set[int]:
        return {a.location_id for a in self.allocations}

    def quantity_by_stock_level(self) -> dict[int, int]:
        totals: dict[int, int] = {}
        for allocation in self.allocations:
            totals[allocation.stock_level_id] = (
                totals.get(allocation.stock_level_id, 0) + allocation.quantity
            )
        return totals


def plan_allocation(lines: list[LineDemand], rows: list[StockRow]) -> AllocationPlan:
    """Assign each line's units to locations. Deterministic for the same input."""
    # (sku_id, location_id) -> row; `remaining` tracks ATP as this plan consumes it, so two
    # lines of the same SKU do not both count the same units.
    by_key = {(r.sku_id, r.location_id): r for r in rows}
    remaining = {key: max(row.available, 0) for key, row in by_key.items()}
    locations = sorted({(r.location_priority, r.location_code, r.location_id) for r in rows})
    plan = AllocationPlan()

    # 1. One location that can fill every line, best priority first.
    demand_by_sku: dict[int, int] = {}
    for line in lines:
        demand_by_sku[line.sku_id] = demand_by_sku.get(line.sku_id, 0) + line.quantity
    for _, _, location_id in locations:
        if all(
            remaining.get((sku_id, location_id), 0) >= quantity
            for sku_id, quantity in demand_by_sku.items()
        ):
            for line in lines:
                row = by_key[(line.sku_id, location_id)]
                plan.allocations.append(
                    Allocation(
                        line.line_number,
                        line.sku_id,
                        location_id,
                        row.stock_level_id,
                        line.quantity,
                        row.location_code,
                    )
                )
            return plan

    # 2. Greedy set cover: repeatedly take the location that serves the most outstanding units.
    outstanding = {line.line_number: line.quantity for line in lines}
    line_by_number = {line.line_number: line for line in lines}
    while any(outstanding.values()):
        best_location, best_units = None, 0
        for _, _, location_id in locations:
            units = _servable_units(outstanding, line_by_number, remaining, location_id)
            if units > best_units:
                best_location, best_units = location_id, units
        if best_location is None:
            break
        for number in sorted(outstanding):
            need = outstanding[number]
            if not need:
                continue
            line = line_by_number[number]
            key = (line.sku_id, best_location)
            take = min(need, remaining.get(key, 0))
            if take:
                remaining[key] -= take
                outstanding[number] -= take
                row = by_key[key]
                plan.allocations.append(
                    Allocation(
                        number,
                        line.sku_id,
                        best_location,
                        row.stock_level_id,
                        take,
                        row.location_code,
                    )
                )
    plan.shortfalls = {number: need for number, need in outstanding.items() if need}
    return plan


def _servable_units(
    outstanding: dict[int, int],
    line_by_number: dict[int, LineDemand],
    remaining: dict[tuple[int, int], int],
    location_id: int,
) -> int:
    left = dict(remaining)
    units = 0
    for number, need in outstanding.items():
        key = (line_by_number[number].sku_id, location_id)
        take = min(need, left.get(key, 0))
        if take:
            left[key] -= take
            units += take
    return units
