"""The seam between capture and sourcing.

`place_order` asks the registered planner where each line's units should be reserved. The
default here is the foundation's allocation (one location, else fewest); fulfillment registers
its rules engine in FulfillmentConfig.ready(), so orders never imports fulfillment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

from inventory.allocation import AllocationPlan, LineDemand, plan_allocation
from inventory.selectors import atp_snapshot
from orders.promising import promise_date


@dataclass(frozen=True, slots=True)
class CaptureContext:
    channel: Any  # SalesChannel
    lines: tuple[Any, ...]  # orders.pricing.PricedLine
    delivery_method: str
    service_level: Any  # ServiceLevel | None
    ship_to: dict[str, str]
    pickup_location: Any  # Location | None
    ordered_at: datetime

    @property
    def demands(self) -> list[LineDemand]:
        return [LineDemand(line.line_number, line.sku_id, line.quantity) for line in self.lines]


@dataclass(slots=True)
class CapturePlan:
    allocation: AllocationPlan
    promised_date: date | None
    # refuse: shortfalls refuse the order; backorder: accept and backorder the rest;
    # hold: accept, backorder the rest, and ship nothing until everything is there
    backorder_policy: str
    explanation: list[str] = field(default_factory=list)
    # Per location: the engine's decision, kept on the timeline for the sourcing job.
    shipments: list[dict[str, Any]] = field(default_factory=list)


class Planner(Protocol):
    def plan(self, context: CaptureContext) -> CapturePlan: ...


class DefaultPlanner:
    def plan(self, context: CaptureContext) -> CapturePlan:
        location_ids = [context.pickup_location.pk] if context.pickup_location else None
        demands = context.demands
        snapshot = atp_snapshot(sku_ids={d.sku_id for d in demands}, location_ids=location_ids)
        allocation = plan_allocation(demands, snapshot)
        promised = None
        if allocation.allocations and not allocation.shortfalls:
            handling = {row.location_id: row.handling_days for row in snapshot}
            transit = context.service_level.transit_days if context.service_level else 0
            promised = promise_date(
                placed_at=context.ordered_at,
                handling_days=max(handling[i] for i in allocation.location_ids),
                transit_days=transit,
            )
        policy = "backorder" if context.channel.allows_backorders else "refuse"
        return CapturePlan(allocation=allocation, promised_date=promised, backorder_policy=policy)


_planner: Planner = DefaultPlanner()


def set_planner(planner: Planner) -> None:
    global _planner
    _planner = planner


def get_planner() -> Planner:
    return _planner
