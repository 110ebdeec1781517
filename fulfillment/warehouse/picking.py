"""Pick lists by strategy, pick confirmation with short picks, and packing."""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.utils import timezone

from fulfillment.models import (
    FulfillmentLine,
    FulfillmentOrder,
    Package,
    PickList,
    PickListItem,
)
from fulfillment.services import transition_fulfillment
from fulfillment.warehouse._common import (
    MAX_PACKAGE_WEIGHT_KG,
    PICKABLE_KINDS,
    UNZONED,
    Kind,
    Status,
    _lock_fulfillment_orders,
    _lock_one,
    _lock_orders,
    _lock_stock,
    _user,
)
from inventory.models import Location, StockLevel
from inventory.services import (
    adjust_stock,
    release_reservation_units,
)
from oms.core.errors import DomainError, IllegalTransition, InvalidInput
from oms.core.tasks import enqueue_on_commit
from orders.models import Order, OrderEvent
from orders.services import record_event

# --- Pick lists ----------------------------------------------------------------------------


PICK_LIST_TRANSITIONS: dict[str, set[str]] = {
    PickList.Status.OPEN: {PickList.Status.COMPLETED, PickList.Status.CANCELLED},
    PickList.Status.COMPLETED: set(),
    PickList.Status.CANCELLED: set(),
}


def transition_pick_list(pick_list: PickList, to_status: str) -> PickList:
    """The only place a pick list's status changes."""
    if to_status not in PICK_LIST_TRANSITIONS[pick_list.status]:
        raise IllegalTransition(
            f"Pick list {pick_list.pk} is {pick_list.get_status_display().lower()}; it cannot "
            f"become {PickList.Status(to_status).label.lower()}.",
            from_status=pick_list.status,
            to_status=to_status,
        )
    pick_list.status = to_status
    fields = ["status"]
    if to_status == PickList.Status.COMPLETED:
        pick_list.completed_at = timezone.now()
        fields.append("completed_at")
    pick_list.save(update_fields=fields)
    return pick_list


def _open_pick_list_ids(fulfillment_order_ids: Iterable[int]) -> set[int]:
    return set(
        PickListItem.objects.filter(
            fulfillment_line__fulfillment_order_id__in=list(fulfillment_order_ids),
            pick_list__status=PickList.Status.OPEN,
        ).values_list("pick_list_id", flat=True)
    )


@transaction.atomic
def build_pick_lists(
    *,
    location: Location,
    strategy: str,
    fulfillment_orders: Iterable[FulfillmentOrder] | None = None,
    batch_size: int = 10,
    wave_start: datetime.datetime | None = None,
    wave_end: datetime.datetime | None = None,
    actor: Any = None,
) -> list[PickList]:
    """Group released work at a location into pick lists; each fulfillment order starts picking.

    single: one list per fulfillment order; batch: up to `batch_size` orders per list; zone: one
    list per bin zone; wave: orders released in [wave_start, wave_end) (end defaults to now),
    one list per carrier. Named fulfillment orders already on an open list return that list.
    """
    errors: dict[str, str] = {}
    if strategy not in PickList.Strategy.values:
        errors["strategy"] = f"Choose one of {', '.join(PickList.Strategy.values)}."
    if strategy == PickList.Strategy.BATCH and (
        isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1
    ):
        errors["batch_size"] = "A batch holds at least one fulfillment order."
    if strategy == PickList.Strategy.WAVE:
        wave_end = wave_end or timezone.now()
        if wave_start is None:
            errors["wave_start"] = "A wave needs the start of its release window."
        elif wave_start >= wave_end:
            errors["wave_end"] = "The wave must end after it starts."
    if errors:
        raise InvalidInput(errors)

    candidates = FulfillmentOrder.objects.filter(location=location, kind__in=PICKABLE_KINDS)
    requested_ids: set[int] | None = None
    if fulfillment_orders is not None:
        requested_ids = {fo.pk for fo in fulfillment_orders}
        candidates = candidates.filter(pk__in=requested_ids)
    else:
        candidates = candidates.filter(status=Status.RELEASED)
    if strategy == PickList.Strategy.WAVE:
        candidates = candidates.filter(released_at__gte=wave_start, released_at__lt=wave_end)
    locked = _lock_fulfillment_orders(candidates.values_list("pk", flat=True))

    already_listed = _open_pick_list_ids(locked)
    existing = list(PickList.objects.filter(pk__in=already_listed).order_by("pk"))
    busy = set(
        PickListItem.objects.filter(pick_list_id__in=already_listed).values_list(
            "fulfillment_line__fulfillment_order_id", flat=True
        )
    )
    work = [fo for fo in locked.values() if fo.status == Status.RELEASED and fo.pk not in busy]
    if requested_ids is not None:
        refused = sorted(requested_ids - busy - {fo.pk for fo in work})
        if refused:
            raise InvalidInput(
                {
                    "fulfillment_orders": ", ".join(f"FO-{pk}" for pk in refused)
                    + f" cannot be picked: not released work at {location.code}."
                }
            )
    if not work:
        return existing

    lines = list(
        FulfillmentLine.objects.filter(fulfillment_order__in=work)
        .select_related("sku", "fulfillment_order__carrier_service")
        .order_by("fulfillment_order_id", "id")
    )
    zones = dict(
        StockLevel.objects.filter(
            location=location, sku_id__in={line.sku_id for line in lines}
        ).values_list("sku_id", "bin_zone")
    )
    groups = _group_lines(strategy, work, lines, zones, batch_size)

    created = []
    user = _user(actor)
    for (zone, carrier_id), group_lines in groups:
        pick_list = PickList.objects.create(
            location=location,
            strategy=strategy,
            zone=zone,
            carrier_id=carrier_id,
            created_by=user,
        )
        ordered = sorted(
            group_lines, key=lambda line: (zones.get(line.sku_id, ""), line.sku.code, line.pk)
        )
        PickListItem.objects.bulk_create(
            [
                PickListItem(
                    pick_list=pick_list,
                    fulfillment_line=line,
                    bin_zone=zones.get(line.sku_id, ""),
                    quantity=line.quantity - line.quantity_picked,
                )
                for line in ordered
                if line.quantity > line.quantity_picked
            ]
        )
        created.append(pick_list)

    lists_by_fo: dict[int, list[int]] = defaultdict(list)
    for pick_list, (_, group_lines) in zip(created, groups, strict=True):
        for fo_id in dict.fromkeys(line.fulfillment_order_id for line in group_lines):
            lists_by_fo[fo_id].append(pick_list.pk)
    for fo in work:
        numbers = ", ".join(str(pk) for pk in lists_by_fo.get(fo.pk, []))
        transition_fulfillment(
            fo, Status.PICKING, actor=actor, note=f"pick list {numbers}" if numbers else ""
        )
    return existing + created


def _group_lines(
    strategy: str,
    work: list[FulfillmentOrder],
    lines: list[FulfillmentLine],
    zones: dict[int, str],
    batch_size: int,
) -> list[tuple[tuple[str, int | None], list[FulfillmentLine]]]:
    """[((zone, carrier_id), lines)] — one entry per pick list to create, in a stable order."""
    by_fo: dict[int, list[FulfillmentLine]] = defaultdict(list)
    for line in lines:
        by_fo[line.fulfillment_order_id].append(line)
    if strategy == PickList.Strategy.SINGLE:
        return [(("", None), by_fo[fo.pk]) for fo in work if by_fo[fo.pk]]
    if strategy == PickList.Strategy.BATCH:
        batches = [work[i : i + batch_size] for i in range(0, len(work), batch_size)]
        return [
            (("", None), [line for fo in batch for line in by_fo[fo.pk]])
            for batch in batches
            if any(by_fo[fo.pk] for fo in batch)
        ]
    if strategy == PickList.Strategy.ZONE:
        by_zone: dict[str, list[FulfillmentLine]] = defaultdict(list)
        for line in lines:
            by_zone[zones.get(line.sku_id) or UNZONED].append(line)
        return [((zone, None), by_zone[zone]) for zone in sorted(by_zone)]
    # Wave: the carrier collects everything of its own at once.
    by_carrier: dict[int | None, list[FulfillmentLine]] = defaultdict(list)
    for fo in work:
        carrier_id = fo.carrier_service.carrier_id if fo.carrier_service_id else None
        by_carrier[carrier_id].extend(by_fo[fo.pk])
    return [
        (("", carrier_id), by_carrier[carrier_id])
        for carrier_id in sorted(by_carrier, key=lambda c: (c is None, c or 0))
        if by_carrier[carrier_id]
    ]


@transaction.atomic
def confirm_pick(*, pick_list: PickList, picked: dict[int, int], actor: Any = None) -> PickList:
    """Record what the picker found for every item (`picked`: item id → units) and close the list.

    A short pick means the units are not on the shelf: their reservation is released, on hand
    is lowered by an adjustment (as far as other orders' reservations allow), the fulfillment
    line shrinks, and the order goes back to sourcing for the missing units after commit.
    """
    fo_ids = set(
        PickListItem.objects.filter(pick_list_id=pick_list.pk).values_list(
            "fulfillment_line__fulfillment_order_id", flat=True
        )
    )
    order_ids = FulfillmentOrder.objects.filter(pk__in=fo_ids).values_list("order_id", flat=True)
    orders = _lock_orders(order_ids)
    fulfillment_orders = _lock_fulfillment_orders(fo_ids)
    pick_list = PickList.objects.select_for_update().get(pk=pick_list.pk)
    if pick_list.status == PickList.Status.COMPLETED:
        return pick_list  # confirmed already: a retry changes nothing
    if pick_list.status != PickList.Status.OPEN:
        raise IllegalTransition(
            f"Pick list {pick_list.pk} is {pick_list.get_status_display().lower()}.",
            status=pick_list.status,
        )
    items = list(
        pick_list.items.select_for_update(of=("self",))
        .select_related("fulfillment_line")
        .order_by("pk")
    )
    _validate_picked(items, picked)

    fo_lines = {
        line.pk: line
        for line in FulfillmentLine.objects.select_for_update(of=("self",))
        .select_related("sku")
        .filter(pk__in=[item.fulfillment_line_id for item in items])
        .order_by("pk")
    }
    shorts: dict[int, list[tuple[PickListItem, FulfillmentLine, int]]] = defaultdict(list)
    picked_by_fo: dict[int, int] = defaultdict(int)
    for item in items:
        line = fo_lines[item.fulfillment_line_id]
        fo = fulfillment_orders[line.fulfillment_order_id]
        if fo.status != Status.PICKING:
            continue  # cancelled meanwhile: nothing of it is picked or adjusted
        units = picked[item.pk]
        item.quantity_picked = units
        item.save(update_fields=["quantity_picked"])
        line.quantity_picked = min(line.quantity, line.quantity_picked + units)
        line.save(update_fields=["quantity_picked"])
        picked_by_fo[fo.pk] += units
        if units < item.quantity:
            shorts[fo.pk].append((item, line, item.quantity - units))

    transition_pick_list(pick_list, PickList.Status.COMPLETED)

    for fo_id, units in sorted(picked_by_fo.items()):
        if fo_id not in shorts:
            fo = fulfillment_orders[fo_id]
            record_event(
                order=orders[fo.order_id],
                kind=OrderEvent.Kind.FULFILLMENT,
                message=f"FO-{fo.pk} picked on pick list {pick_list.pk}: {units} unit(s).",
                actor=actor,
                data={"fulfillment": fo.pk, "pick_list": pick_list.pk, "picked": units},
            )
    short_orders = set()
    for fo_id in sorted(shorts):
        fo = fulfillment_orders[fo_id]
        _settle_short_pick(fo, orders[fo.order_id], pick_list, shorts[fo_id], actor)
        short_orders.add(fo.order_id)
    if short_orders:
        # The sourcing job runs after commit, when the released units are visible to it.
        from fulfillment.tasks import source_order_task

        for order_id in sorted(short_orders):
            enqueue_on_commit(source_order_task, order_id)
    return pick_list


def _validate_picked(items: list[PickListItem], picked: dict[int, int]) -> None:
    errors: dict[str, str] = {}
    known = {item.pk: item for item in items}
    for key in picked:
        if key not in known:
            errors[f"picked[{key}]"] = "Not an item of this pick list."
    for item in items:
        field = f"picked[{item.pk}]"
        units = picked.get(item.pk)
        if units is None:
            errors[field] = "Say how many units were picked (0 if none)."
        elif isinstance(units, bool) or not isinstance(units, int):
            errors[field] = "Units picked must be a whole number."
        elif units < 0:
            errors[field] = "Units picked cannot be negative."
        elif units > item.quantity:
            errors[field] = f"Only {item.quantity} unit(s) were to be picked."
    if errors:
        raise InvalidInput(errors)


def _settle_short_pick(
    fo: FulfillmentOrder,
    order: Order,
    pick_list: PickList,
    shorts: list[tuple[PickListItem, FulfillmentLine, int]],
    actor: Any,
) -> None:
    _lock_stock([line for _, line, _ in shorts], fo.location_id)
    reference = order.number or ""
    reason = f"short pick on pick list {pick_list.pk}"
    details = []
    for _, line, missing in shorts:
        released = 0
        if line.reservation_id:
            released = release_reservation_units(
                reservation_id=line.reservation_id, quantity=missing
            )
        # Lower on hand by what the shelf lacks, but never below other orders' reservations:
        # those units need a count and a decision, not a silent write-off.
        level = StockLevel.objects.get(sku_id=line.sku_id, location_id=fo.location_id)
        adjusted = min(missing, max(level.on_hand - level.reserved, 0))
        if adjusted:
            adjust_stock(
                sku=line.sku,
                location=fo.location,
                quantity=-adjusted,
                reason=reason,
                reference=reference,
                actor=actor,
            )
        line.quantity -= missing
        if line.quantity == 0:
            line.delete()
        else:
            line.save(update_fields=["quantity"])
        details.append(
            {
                "sku": line.sku.code,
                "order_line": line.order_line_id,
                "missing": missing,
                "released": released,
                "adjusted": adjusted,
            }
        )
    summary = ", ".join(f"{d['missing']} × {d['sku']}" for d in details)
    uncounted = sum(d["missing"] - d["adjusted"] for d in details)
    message = (
        f"Short pick on pick list {pick_list.pk} for FO-{fo.pk} at {fo.location.code}: "
        f"{summary} missing; reservation released and re-sourcing."
    )
    if uncounted:
        message += f" {uncounted} unit(s) are reserved by other orders: count the bin."
    record_event(
        order=order,
        kind=OrderEvent.Kind.FULFILLMENT,
        message=message,
        actor=actor,
        data={"fulfillment": fo.pk, "pick_list": pick_list.pk, "short_pick": details},
    )
    if not fo.lines.exists():
        transition_fulfillment(fo, Status.CANCELLED, actor=actor, note="nothing left to pick")


# --- Pack ----------------------------------------------------------------------------------


def _weights(packages: Any) -> list[Decimal]:
    if not isinstance(packages, list | tuple) or not packages:
        raise InvalidInput({"packages": "Pack into at least one package."})
    errors: dict[str, str] = {}
    weights = []
    for index, package in enumerate(packages):
        raw = package.get("weight_kg") if isinstance(package, dict) else None
        try:
            weight = Decimal(str(raw)) if raw is not None and not isinstance(raw, bool) else None
        except InvalidOperation:
            weight = None
        if weight is None or not weight.is_finite():
            errors[f"packages[{index}].weight_kg"] = "Give the weight in kilograms."
        elif not Decimal("0") < weight < MAX_PACKAGE_WEIGHT_KG:
            errors[f"packages[{index}].weight_kg"] = (
                f"The weight must be above 0 and below {MAX_PACKAGE_WEIGHT_KG} kg."
            )
        else:
            weights.append(weight.quantize(Decimal("0.001")))
    if errors:
        raise InvalidInput(errors)
    return weights


@transaction.atomic
def pack(
    *, fulfillment_order: FulfillmentOrder, packages: list[dict[str, Any]], actor: Any = None
) -> list[Package]:
    """Everything picked goes into packages (each with its weight); the order is packed."""
    fo = _lock_one(fulfillment_order)
    if fo.status in (Status.PACKED, Status.SHIPPED, Status.DELIVERED):
        return list(fo.packages.order_by("pk"))
    if fo.kind == Kind.PICKUP:
        raise DomainError(
            f"FO-{fo.pk} is a pickup: nothing is packed; mark it ready for pickup instead.",
            code="pickup_not_packed",
        )
    if fo.kind == Kind.DROPSHIP:
        raise DomainError(
            f"FO-{fo.pk} is shipped by the vendor; confirm its shipment instead.",
            code="dropship_not_packed",
        )
    weights = _weights(packages)
    if fo.status == Status.PICKING:
        if _open_pick_list_ids([fo.pk]):
            raise DomainError(
                f"FO-{fo.pk} is still on an open pick list; confirm the pick first.",
                code="not_picked",
            )
        unpicked = [line for line in fo.lines.all() if line.quantity_picked < line.quantity]
        if unpicked:
            raise DomainError(f"FO-{fo.pk} is not fully picked.", code="not_picked")
    created = Package.objects.bulk_create(
        [Package(fulfillment_order=fo, weight_kg=weight) for weight in weights]
    )
    total = sum(weights, start=Decimal("0"))
    transition_fulfillment(
        fo, Status.PACKED, actor=actor, note=f"{len(created)} package(s), {total} kg"
    )
    return list(fo.packages.order_by("pk"))
