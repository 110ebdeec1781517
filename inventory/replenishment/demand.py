"""Reorder points from recent demand: average daily outbound units over a window × (lead
time + safety days). Every suggestion carries the numbers it came from, and applying one
stores them on the rule (`ReorderRule.basis`), so staff can see why the point is what it is."""

from __future__ import annotations

import datetime
import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from inventory.models import ReorderRule, StockMovement, SupplierItem

# Units that left to customers or other locations are demand; receipts, adjustments and
# restocked returns are not.
OUTBOUND_KINDS = (StockMovement.Kind.SHIPMENT, StockMovement.Kind.TRANSFER_OUT)


@dataclass(frozen=True, slots=True)
class Suggestion:
    rule_id: int
    units: int  # outbound units in the window
    window_days: int
    average_daily: Decimal
    lead_time_days: int
    safety_stock_days: int
    reorder_point: int
    window_end: datetime.date

    @property
    def basis(self) -> str:
        return (
            f"{self.units} units out in the {self.window_days} days to "
            f"{self.window_end}: {self.average_daily}/day × ({self.lead_time_days} lead + "
            f"{self.safety_stock_days} safety days) = {self.reorder_point}"
        )


def suggest_reorder_points(
    *, rules: Sequence[ReorderRule], window_days: int | None = None, today=None
) -> list[Suggestion]:
    """Two queries whatever the number of rules: the outbound units, the supplier lead times."""
    window_days = window_days or settings.REORDER_DEMAND_WINDOW_DAYS
    today = today or timezone.localdate()
    since = timezone.make_aware(
        datetime.datetime.combine(today - datetime.timedelta(days=window_days), datetime.time())
    )
    sku_ids = {rule.sku_id for rule in rules}
    location_ids = {rule.location_id for rule in rules}
    outbound = {
        (sku_id, location_id): -total
        for sku_id, location_id, total in StockMovement.objects.filter(
            sku_id__in=sku_ids,
            location_id__in=location_ids,
            kind__in=OUTBOUND_KINDS,
            created_at__gte=since,
        )
        .values_list("sku_id", "location_id")
        .annotate(total=Sum("quantity"))
        .values_list("sku_id", "location_id", "total")
        .order_by()
    }
    supplier_lead = dict(
        SupplierItem.objects.filter(sku_id__in=sku_ids, is_preferred=True).values_list(
            "sku_id", "supplier__lead_time_days"
        )
    )
    suggestions = []
    for rule in rules:
        units = max(outbound.get((rule.sku_id, rule.location_id), 0), 0)
        average = (Decimal(units) / window_days).quantize(Decimal("0.01"), ROUND_HALF_UP)
        lead = (
            rule.lead_time_days
            if rule.lead_time_days is not None
            else supplier_lead.get(rule.sku_id, 0)
        )
        point = math.ceil(Decimal(units) / window_days * (lead + rule.safety_stock_days))
        suggestions.append(
            Suggestion(
                rule_id=rule.pk,
                units=units,
                window_days=window_days,
                average_daily=average,
                lead_time_days=lead,
                safety_stock_days=rule.safety_stock_days,
                reorder_point=point,
                window_end=today,
            )
        )
    return suggestions


@transaction.atomic
def apply_suggested_reorder_points(
    *, rules: Sequence[ReorderRule], window_days: int | None = None, today=None
) -> list[Suggestion]:
    """Set each rule's reorder point to its suggestion and keep the numbers used beside it."""
    suggestions = suggest_reorder_points(rules=rules, window_days=window_days, today=today)
    by_id = {rule.pk: rule for rule in rules}
    changed = []
    for suggestion in suggestions:
        rule = by_id[suggestion.rule_id]
        rule.reorder_point = suggestion.reorder_point
        rule.basis = suggestion.basis
        rule.updated_at = timezone.now()
        changed.append(rule)
    ReorderRule.objects.bulk_update(changed, ["reorder_point", "basis", "updated_at"])
    return suggestions
