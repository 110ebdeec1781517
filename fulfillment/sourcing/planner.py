"""The engine behind capture: registered with orders.planning in FulfillmentConfig.ready()."""

from __future__ import annotations

from fulfillment.geo import locate
from fulfillment.sourcing.inputs import build_request
from fulfillment.sourcing.types import SourcingPlan
from inventory.allocation import Allocation, AllocationPlan
from orders.planning import CaptureContext, CapturePlan


def destination_of(context: CaptureContext) -> tuple[float, float]:
    if context.pickup_location is not None:
        return float(context.pickup_location.latitude), float(context.pickup_location.longitude)
    # Unknown places get coordinates no rate band covers: the engine then finds no carrier,
    # and capture refuses (or backorders) instead of promising what no one can deliver.
    return locate(context.ship_to) or (0.0, 0.0)


def to_capture_plan(plan: SourcingPlan, *, backorder_policy: str) -> CapturePlan:
    allocations = [
        Allocation(
            line_number=assignment.line_number,
            sku_id=assignment.sku_id,
            location_id=shipment.location_id,
            stock_level_id=shipment.stock_level_ids[assignment.sku_id],
            quantity=assignment.quantity,
            location_code=shipment.location_code,
        )
        for shipment in plan.shipments
        for assignment in shipment.assignments
    ]
    return CapturePlan(
        allocation=AllocationPlan(allocations=allocations, shortfalls=dict(plan.unfilled)),
        promised_date=plan.promised_date,
        backorder_policy=backorder_policy,
        explanation=list(plan.explanation),
        shipments=[
            {
                "location_id": shipment.location_id,
                "location": shipment.location_code,
                "carrier_service_id": shipment.carrier_service_id,
                "cost": str(shipment.cost),
                "distance_km": round(shipment.distance_km, 1),
                "transit_days": shipment.transit_days,
                "promised_date": shipment.promised_date.isoformat(),
                "explanation": shipment.explanation,
                "transfer_to_location_id": getattr(shipment, "transfer_to_location_id", None),
            }
            for shipment in plan.shipments
        ],
    )


class EnginePlanner:
    def plan(self, context: CaptureContext) -> CapturePlan:
        from fulfillment.sourcing.engine import source

        request = build_request(
            channel=context.channel,
            lines=context.lines,
            destination=destination_of(context),
            ordered_at=context.ordered_at,
            service_level_code=context.service_level.code if context.service_level else None,
            pickup_location_id=context.pickup_location.pk if context.pickup_location else None,
        )
        return to_capture_plan(source(request), backorder_policy=request.rules.backorder_policy)
