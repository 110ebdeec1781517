"""New order: "is there enough stock?" before the order is placed, and what can be done
instead. Reads only.

The draft is planned by the planner capture uses (`orders.planning.get_planner`), so the desk
warns about exactly the shortfalls capture would refuse or backorder; the alternatives are
what is there now (a lower quantity), a backorder (the date for the rest is the one sourcing
will store on the line: `fulfillment.backorders`, from open purchase orders, then the usual
handling and transit), and the delivery options that have every unit.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal

from django.db.models import Sum
from django.utils import timezone

from fulfillment import backorders
from fulfillment.delivery_options import DeliveryOptions, delivery_options
from fulfillment.desk.order_entry import Delivery, OptionChoice, option_choices
from fulfillment.geo import locate
from inventory.models import SKU, Location
from inventory.selectors import earliest_supply_date
from orders.models import Order, OrderLine, SalesChannel, ServiceLevel
from orders.planning import CaptureContext, get_planner
from orders.pricing import price_lines


@dataclass(frozen=True, slots=True)
class ShortLine:
    index: int
    sku_code: str
    name: str
    requested: int
    available: int
    # When backordered units would reach the customer (or be ready for pickup), from open
    # purchase orders; None: no supply on order for them yet.
    supply_date: date | None = None

    @property
    def missing(self) -> int:
        return self.requested - self.available


@dataclass(slots=True)
class StockCheck:
    """What capture's planner would do with the draft: which lines fall short, and whether
    the channel's rules backorder the rest (otherwise capture refuses)."""

    short: list[ShortLine]
    backorder_allowed: bool
    delivery: Delivery
    # When the units that are there would arrive (or be ready) if the rest is backordered.
    available_promised_date: date | None = None
    # Options that have everything for these lines (other services, other pickup stores).
    alternatives: DeliveryOptions | None = None
    lines: list[tuple[str, int]] = field(default_factory=list)

    @property
    def is_short(self) -> bool:
        return bool(self.short)

    @property
    def some_available(self) -> bool:
        return any(item.available for item in self.short) or len(self.short) < len(self.lines)

    @property
    def backordered_units(self) -> int:
        return sum(item.requested - item.available for item in self.short)

    @property
    def other_options(self) -> list[OptionChoice]:
        """Options that have every unit, other than the one chosen."""
        if self.alternatives is None:
            return []
        return [c for c in option_choices(self.alternatives) if c.value != self.delivery.value]

    def available_lines(self) -> list[tuple[str, int]]:
        """The draft's lines lowered to what is there (lines with nothing left dropped)."""
        available = {item.index: item.available for item in self.short}
        return [
            (code, available.get(index, quantity))
            for index, (code, quantity) in enumerate(self.lines)
            if available.get(index, quantity) > 0
        ]


def check_stock(
    *, channel: SalesChannel, lines: list[tuple[str, int]], delivery: Delivery, address: dict
) -> StockCheck | None:
    """Plan the draft as capture would (reads only). None when the draft cannot be planned
    (an unknown SKU or option): place_order then names the field."""
    skus = {sku.code: sku for sku in SKU.objects.filter(code__in={code for code, _ in lines})}
    if any(code not in skus for code, _ in lines):
        return None
    service_level = pickup_location = None
    if delivery.method == Order.DeliveryMethod.SHIP:
        service_level = ServiceLevel.objects.filter(
            code=delivery.code, is_active=True, currency=channel.currency
        ).first()
        if service_level is None:
            return None
    else:
        pickup_location = Location.objects.filter(
            code=delivery.code, is_active=True, allows_pickup=True
        ).first()
        if pickup_location is None:
            return None
    now = timezone.now()

    def plan(quantities: list[tuple[int, str, int]]):
        priced = price_lines(
            lines=[(number, skus[code], quantity) for number, code, quantity in quantities],
            tax_rate=Decimal("0"),
            currency=channel.currency,
        )
        return get_planner().plan(
            CaptureContext(
                channel=channel,
                lines=tuple(priced),
                delivery_method=delivery.method,
                service_level=service_level,
                ship_to=address if service_level else {},
                pickup_location=pickup_location,
                ordered_at=now,
            )
        )

    numbered = [(index + 1, code, quantity) for index, (code, quantity) in enumerate(lines)]
    decided = plan(numbered)
    shortfalls = decided.allocation.shortfalls
    check = StockCheck(
        short=[
            ShortLine(
                index=number - 1,
                sku_code=code,
                name=skus[code].name,
                requested=quantity,
                available=max(quantity - shortfalls[number], 0),
            )
            for number, code, quantity in numbered
            if shortfalls.get(number)
        ],
        backorder_allowed=decided.backorder_policy != "refuse",
        delivery=delivery,
        lines=list(lines),
    )
    if not check.is_short:
        return check
    there = [
        (number, code, quantity - shortfalls.get(number, 0))
        for number, code, quantity in numbered
        if quantity - shortfalls.get(number, 0) > 0
    ]
    if there and check.backorder_allowed:
        partial = plan(there)
        if not partial.allocation.shortfalls:
            check.available_promised_date = partial.promised_date
    if check.backorder_allowed:
        draft = Order(
            channel=channel,
            delivery_method=delivery.method,
            service_level=service_level,
            pickup_location=pickup_location,
            ship_to=address if service_level else {},
            placed_at=now,
        )
        check.short = _with_supply_dates(draft, check.short, skus)
    destination = (
        (float(pickup_location.latitude), float(pickup_location.longitude))
        if pickup_location
        else locate(address)
    )
    if destination is not None:
        check.alternatives = delivery_options(
            channel=channel,
            lines=[{"sku": code, "quantity": quantity} for code, quantity in lines],
            destination=destination,
            now=now,
        )
    return check


def _with_supply_dates(draft: Order, short: list[ShortLine], skus: dict) -> list[ShortLine]:
    """The backordered units' dates as sourcing will set them (`fulfillment.backorders`) if
    the draft is placed now: they wait behind every open order's backordered units of the same
    SKU, then come from open purchase orders. A few queries per short line (a handful of
    lines at most), asked only when a submit falls short."""
    sku_ids = {skus[item.sku_code].pk for item in short}
    ahead = dict(
        OrderLine.objects.filter(sku_id__in=sku_ids, quantity_backordered__gt=0)
        .exclude(order__status=Order.Status.CANCELLED)
        .values("sku_id")
        .annotate(units=Sum("quantity_backordered"))
        .values_list("sku_id", "units")
        .order_by()
    )
    location_ids = backorders.eligible_location_ids(draft)
    dated = []
    for item in short:
        sku = skus[item.sku_code]
        line = OrderLine(line_number=item.index + 1, sku=sku, quantity_backordered=item.missing)
        arrival = earliest_supply_date(
            sku_id=sku.pk, quantity=ahead.get(sku.pk, 0) + item.missing, location_ids=location_ids
        )
        ahead[sku.pk] = ahead.get(sku.pk, 0) + item.missing  # two lines of one SKU queue too
        supply_date = (
            backorders.promise_from_supply(draft, line, arrival, location_ids) if arrival else None
        )
        dated.append(replace(item, supply_date=supply_date))
    return dated
