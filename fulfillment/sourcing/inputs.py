"""Reads what the engine needs: stock and locations from the database (a fixed number of
queries), rule sets, carrier services and holidays from fulfillment.reference_cache."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal

from fulfillment import reference_cache
from fulfillment.promising import as_utc
from fulfillment.sourcing.types import (
    Calendar,
    Candidate,
    Destination,
    Line,
    Rules,
    Service,
    SourcingRequest,
)
from inventory.models import Location, StockLevel
from inventory.selectors import atp_expression

ALL_SHIP_TYPES = frozenset(Location.Type.values)
# Holidays further out than this cannot move a promise made today.
HOLIDAY_HORIZON = timedelta(days=90)
CANDIDATE_FIELDS = (
    "id",
    "code",
    "type",
    "latitude",
    "longitude",
    "priority",
    "handling_days",
    "ships_orders",
    "allows_pickup",
    "cutoff_time",
    "working_days",
)


def rules_for(channel, reference: reference_cache.ReferenceData | None = None) -> Rules:
    """The channel's rule set, else the default one, else a permissive built-in default."""
    rules = (reference or reference_cache.current()).rules
    found = rules.get(channel.pk)
    if found is None:
        found = rules.get(None)
    if found is None:
        return Rules(
            ship_location_types=ALL_SHIP_TYPES,
            pickup_location_types=frozenset({Location.Type.STORE}),
            backorder_policy="backorder" if channel.allows_backorders else "refuse",
        )
    return found


def services_for(
    service_level_code: str | None, reference: reference_cache.ReferenceData | None = None
) -> tuple[Service, ...]:
    """Active carrier services of active carriers (for one service level), with rate bands."""
    services = (reference or reference_cache.current()).services
    if service_level_code:
        return tuple(s for s in services if s.service_level_code == service_level_code)
    return services


def candidates_for(
    sku_ids: Iterable[int],
    *,
    ordered_at: datetime,
    include_location_ids: Iterable[int] = (),
    reference: reference_cache.ReferenceData | None = None,
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
    # Plain values, not model instances: fifty locations cost the ORM more to build than the
    # database to read, on every capture and delivery-options request.
    locations = (
        Location.objects.filter(pk__in=location_ids, is_active=True)
        .order_by("pk")
        .values_list(*CANDIDATE_FIELDS, named=True)
    )
    # Promises count UTC days (fulfillment.promising), so the window starts on the UTC date.
    first_day = as_utc(ordered_at).date()
    last_day = first_day + HOLIDAY_HORIZON
    reference = reference or reference_cache.current()
    everywhere = reference.holidays_between(None, first_day, last_day)
    return tuple(
        Candidate(
            location_id=location.id,
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
                holidays=frozenset(
                    everywhere | reference.holidays_between(location.id, first_day, last_day)
                ),
            ),
            available=available.get(location.id, {}),
            stock_level_ids=level_ids.get(location.id, {}),
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
    # One read of the shared version token (a cache round trip) for the inputs not given.
    reference = None
    if candidates is None or services is None or rules is None:
        reference = reference_cache.current()
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
            reference=reference,
        ),
        services=services
        if services is not None
        else services_for(None if pickup_location_id else service_level_code, reference),
        rules=rules if rules is not None else rules_for(channel, reference),
        ordered_at=ordered_at,
        service_level_code=None if pickup_location_id else service_level_code,
        pickup_location_id=pickup_location_id,
    )
