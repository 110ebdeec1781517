"""Reads what the engine needs from the database, in a fixed number of queries."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import F, Prefetch, Q

from fulfillment.models import CarrierService, Holiday, ShippingRate, SourcingRuleSet
from fulfillment.promising import as_utc
from fulfillment.sourcing.types import (
    Calendar,
    Candidate,
    Destination,
    Line,
    RateBand,
    Rules,
    Service,
    SourcingRequest,
)
from inventory.models import Location, StockLevel
from inventory.selectors import atp_expression

ALL_SHIP_TYPES = frozenset(Location.Type.values)
# Holidays further out than this cannot move a promise made today.
HOLIDAY_HORIZON = timedelta(days=90)


def rules_for(channel) -> Rules:
    """The channel's rule set, else the default one, else a permissive built-in default."""
    rule_set = (
        SourcingRuleSet.objects.filter(is_active=True)
        .filter(Q(channel=channel) | Q(channel__isnull=True))
        .prefetch_related("excluded_locations")
        .order_by(F("channel_id").asc(nulls_last=True))  # the channel's own rules first
        .first()
    )
    if rule_set is None:
        return Rules(
            ship_location_types=ALL_SHIP_TYPES,
            pickup_location_types=frozenset({Location.Type.STORE}),
            backorder_policy="backorder" if channel.allows_backorders else "refuse",
        )
    return Rules(
        ship_location_types=frozenset(rule_set.ship_location_types),
        pickup_location_types=frozenset(rule_set.pickup_location_types),
        excluded_location_ids=frozenset(loc.pk for loc in rule_set.excluded_locations.all()),
        weight_cost=rule_set.weight_cost,
        weight_transit_days=rule_set.weight_transit_days,
        weight_distance=rule_set.weight_distance,
        weight_priority=rule_set.weight_priority,
        split_penalty=rule_set.split_penalty,
        max_shipments=rule_set.max_shipments,
        backorder_policy=rule_set.backorder_policy,
    )


def services_for(service_level_code: str | None) -> tuple[Service, ...]:
    services = CarrierService.objects.filter(is_active=True, carrier__is_active=True)
    if service_level_code:
        services = services.filter(service_level__code=service_level_code)
    services = services.select_related("carrier", "service_level").prefetch_related(
        Prefetch(
            "rates", queryset=ShippingRate.objects.order_by("max_distance_km", "max_weight_kg")
        )
    )
    return tuple(
        Service(
            carrier_service_id=service.pk,
            carrier_code=service.carrier.code,
            service_level_code=service.service_level.code,
            rates=tuple(
                RateBand(
                    max_distance_km=rate.max_distance_km,
                    max_weight_kg=rate.max_weight_kg,
                    base_amount=rate.base_amount,
                    per_kg_amount=rate.per_kg_amount,
                    transit_days=rate.transit_days,
                )
                for rate in service.rates.all()
            ),
        )
        for service in services.order_by("pk")
    )


def candidates_for(
    sku_ids: Iterable[int], *, ordered_at: datetime, include_location_ids: Iterable[int] = ()
) -> tuple[Candidate, ...]:
    """Every active location holding any of the SKUs (plus the pickup store), with its ATP."""
    sku_ids = list(sku_ids)
    rows = (
        StockLevel.objects.filter(sku_id__in=sku_ids, location__is_active=True)
        .annotate(available=atp_expression())
        .values_list("location_id", "sku_id", "id", "available")
    )
    available: dict[int, dict[int, int]] = {}
    level_ids: dict[int, dict[int, int]] = {}
    for location_id, sku_id, level_id, atp in rows:
        available.setdefault(location_id, {})[sku_id] = atp
        level_ids.setdefault(location_id, {})[sku_id] = level_id
    location_ids = set(available) | set(include_location_ids)
    locations = list(Location.objects.filter(pk__in=location_ids, is_active=True).order_by("pk"))
    # Promises count UTC days (fulfillment.promising), so the window starts on the UTC date.
    first_day = as_utc(ordered_at).date()
    holidays: dict[int | None, set] = {}
    for location_id, day in Holiday.objects.filter(
        Q(location_id__in=location_ids) | Q(location__isnull=True),
        date__gte=first_day,
        date__lte=first_day + HOLIDAY_HORIZON,
    ).values_list("location_id", "date"):
        holidays.setdefault(location_id, set()).add(day)
    everywhere = holidays.get(None, set())
    return tuple(
        Candidate(
            location_id=location.pk,
            code=location.code,
            type=location.type,
            latitude=float(location.latitude),
            longitude=float(location.longitude),
            priority=location.priority,
            handling_days=location.handling_days,
            ships=location.ships_orders,
            pickup=location.allows_pickup,
            calendar=Calendar(
                cutoff=location.cutoff_time,
                working_weekdays=frozenset(int(d) for d in location.working_days if d.isdigit()),
                holidays=frozenset(everywhere | holidays.get(location.pk, set())),
            ),
            available=available.get(location.pk, {}),
            stock_level_ids=level_ids.get(location.pk, {}),
        )
        for location in locations
    )


def build_request(
    *,
    channel,
    lines: Iterable,  # objects with line_number, sku_id, quantity, weight_kg (line total)
    destination: tuple[float, float],
    ordered_at: datetime,
    service_level_code: str | None = None,
    pickup_location_id: int | None = None,
    rules: Rules | None = None,
    services: tuple[Service, ...] | None = None,
    candidates: tuple[Candidate, ...] | None = None,
) -> SourcingRequest:
    lines = list(lines)
    return SourcingRequest(
        lines=tuple(
            Line(
                line_number=line.line_number,
                sku_id=line.sku_id,
                quantity=line.quantity,
                unit_weight_kg=(Decimal(line.weight_kg) / line.quantity)
                if line.quantity
                else Decimal("0"),
            )
            for line in lines
        ),
        destination=Destination(latitude=destination[0], longitude=destination[1]),
        candidates=candidates
        if candidates is not None
        else candidates_for(
            {line.sku_id for line in lines},
            ordered_at=ordered_at,
            include_location_ids=[pickup_location_id] if pickup_location_id else [],
        ),
        services=services
        if services is not None
        else services_for(None if pickup_location_id else service_level_code),
        rules=rules if rules is not None else rules_for(channel),
        ordered_at=ordered_at,
        service_level_code=None if pickup_location_id else service_level_code,
        pickup_location_id=pickup_location_id,
    )
