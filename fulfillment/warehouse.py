"""Warehouse work: pick lists, pick confirmation (with short picks), pack, ship, deliver, pickup.

Every step is idempotent: repeating a completed step returns the current state and does nothing
twice. Status changes go through `transition_fulfillment` (fulfillment orders),
`transition_pick_list` (pick lists) and `orders.services.transition` (orders).

Lock order, the same in every function here and in the services they call, so two workers
never wait on each other in a circle: orders → fulfillment orders → pick list → pick items →
fulfillment lines → reservations → stock levels, each group by primary key.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from fulfillment.models import (
    Carrier,
    FulfillmentLine,
    FulfillmentOrder,
    Package,
    PickList,
    PickListItem,
)
from fulfillment.notifications import notify_customer
from fulfillment.services import transition_fulfillment
from inventory.models import Location, Reservation, StockLevel
from inventory.services import (
    adjust_stock,
    consume_reservation,
    release_reservation_units,
    transfer_in_reservation,
    transfer_out_reservation,
)
from oms.core import outbox
from oms.core.errors import DomainError, IllegalTransition, InvalidInput
from oms.core.money import quantize
from oms.core.tasks import enqueue_on_commit
from orders.models import Order, OrderEvent, OrderLine, Payment
from orders.services import cancel_order, capture_payment, record_event, transition

Status = FulfillmentOrder.Status
Kind = FulfillmentOrder.Kind

PICKABLE_KINDS = (Kind.SHIP, Kind.PICKUP, Kind.TRANSFER)
UNZONED = "unzoned"
# Package.weight_kg holds 9 digits with 3 decimals.
MAX_PACKAGE_WEIGHT_KG = Decimal("1000000")
DONE_STATUSES = {Status.DELIVERED, Status.PICKED_UP}
# Order states from which a pickup order may still become ready for pickup.
BEFORE_PICKUP_READY = (Order.Status.PLACED, Order.Status.BACKORDERED, Order.Status.RELEASED)

PICK_LIST_TRANSITIONS: dict[str, set[str]] = {
    PickList.Status.OPEN: {PickList.Status.COMPLETED, PickList.Status.CANCELLED},
    PickList.Status.COMPLETED: set(),
    PickList.Status.CANCELLED: set(),
}


# --- Locks ---------------------------------------------------------------------------------
# `of=("self",)`: on PostgreSQL a FOR UPDATE over a join also locks the joined rows (the
# order's channel, the location), which would serialise unrelated work.


def _lock_orders(order_ids: Iterable[int]) -> dict[int, Order]:
    return {
        order.pk: order
        for order in Order.objects.select_for_update(of=("self",))
        .select_related("channel", "customer")
        .filter(pk__in=set(order_ids))
        .order_by("pk")
    }


def _lock_fulfillment_orders(ids: Iterable[int]) -> dict[int, FulfillmentOrder]:
    return {
        fo.pk: fo
        for fo in FulfillmentOrder.objects.select_for_update(of=("self",))
        .select_related("location", "order")
        .filter(pk__in=set(ids))
        .order_by("pk")
    }


def _order_id_of(fulfillment_order: FulfillmentOrder) -> int:
    order_id = (
        FulfillmentOrder.objects.filter(pk=fulfillment_order.pk)
        .values_list("order_id", flat=True)
        .first()
    )
    if order_id is None:
        raise FulfillmentOrder.DoesNotExist(f"Fulfillment {fulfillment_order.pk} is gone.")
    return order_id


def _lock_one(fulfillment_order: FulfillmentOrder) -> FulfillmentOrder:
    """Lock the fulfillment order's order, then the fulfillment order itself."""
    order_id = _order_id_of(fulfillment_order)
    order = _lock_orders([order_id])[order_id]
    locked = _lock_fulfillment_orders([fulfillment_order.pk])[fulfillment_order.pk]
    locked.order = order  # the locked, fresh row; transitions save through it
    return locked


def _lock_stock(lines: list[FulfillmentLine], location_id: int) -> None:
    """Take the reservation and stock-level locks the inventory services will take, in order."""
    reservation_ids = sorted({line.reservation_id for line in lines if line.reservation_id})
    list(
        Reservation.objects.select_for_update()
        .filter(pk__in=reservation_ids)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    list(
        StockLevel.objects.select_for_update()
        .filter(sku_id__in={line.sku_id for line in lines}, location_id=location_id)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def _user(actor: Any):
    return actor if isinstance(actor, AbstractBaseUser) and actor.pk else None


def _to_store(fo: FulfillmentOrder) -> bool:
    """Goods bound for the pickup store, not the customer: a transfer, or a drop-ship vendor
    sending its part of a pickup order to the store. They travel with their reservation and
    are received there (`receive_transfer`)."""
    return fo.destination_location_id is not None and fo.kind in (Kind.TRANSFER, Kind.DROPSHIP)


# --- Pick lists ----------------------------------------------------------------------------


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


# --- Money and order status after goods leave ----------------------------------------------


def _handed_over_units(order: Order) -> dict[int, int]:
    """Units per order line that reached the customer's hands or are on their way to them.

    For a pickup order only what the customer collected counts: units transferred to the
    store are on the store's pickup fulfillment by then, so counting the transfer as well
    would count them twice.
    """
    lines = FulfillmentLine.objects.filter(fulfillment_order__order=order, quantity_shipped__gt=0)
    if order.delivery_method == Order.DeliveryMethod.PICKUP:
        lines = lines.filter(
            fulfillment_order__kind=Kind.PICKUP, fulfillment_order__status=Status.PICKED_UP
        )
    return dict(
        lines.values("order_line_id")
        .annotate(units=Sum("quantity_shipped"))
        .values_list("order_line_id", "units")
    )


def _order_lines(order: Order) -> list[OrderLine]:
    return list(OrderLine.objects.filter(order=order).order_by("line_number"))


def _all_handed_over(order: Order, handed: dict[int, int]) -> bool:
    return all(
        handed.get(line.pk, 0) >= line.quantity - line.quantity_cancelled
        for line in _order_lines(order)
    )


def _value_of(order: Order, handed: dict[int, int]) -> Decimal:
    """What the customer owes for the handed-over units: goods, their tax, and shipping."""
    goods_total = tax_total = Decimal("0")
    for line in _order_lines(order):
        units = min(handed.get(line.pk, 0), line.quantity)
        if not units:
            continue
        if units == line.quantity:
            goods_total += line.line_total_amount
            tax_total += line.tax_amount
        else:
            goods_total += line.unit_price_amount * units
            tax_total += quantize(line.tax_amount * units / line.quantity)
    if not goods_total and not tax_total:
        return Decimal("0")
    discount = Decimal("0")
    if order.discount_amount and order.subtotal_amount:
        discount = quantize(order.discount_amount * goods_total / order.subtotal_amount)
    # The whole shipping charge falls due with the first shipment.
    return goods_total + tax_total - discount + order.shipping_amount


def _capture_for_handed_over(order: Order, actor: Any) -> Payment | None:
    """Capture what is due for everything handed over so far, less what was captured before.

    Computing the running total (rather than this shipment's share) makes per-shipment
    rounding settle exactly on the last shipment.
    """
    if not order.payments.filter(status=Payment.Status.AUTHORIZED).exists():
        return None  # cash on delivery, bank transfer: collected outside the gateway
    due = _value_of(order, _handed_over_units(order))
    captured = order.payments.filter(
        status__in=[Payment.Status.CAPTURED, Payment.Status.REFUNDED]
    ).aggregate(total=Sum("amount"))["total"] or Decimal("0")
    if due - captured <= 0:
        return None
    return capture_payment(order=order, amount=due - captured, actor=actor)


def _move_order(order: Order, targets: list[str], *, actor: Any, note: str) -> None:
    """Walk the order along `targets`, skipping the steps it already passed."""
    for target in targets:
        if order.status == target:
            continue
        transition(order, target, actor=actor, note=note)


def _released_first(order: Order) -> list[str]:
    if order.status in (Order.Status.PLACED, Order.Status.BACKORDERED):
        return [Order.Status.RELEASED]
    return []


def _complete_if_done(order: Order, *, actor: Any, note: str) -> None:
    """Every non-cancelled fulfillment is delivered or collected and nothing is left: done."""
    statuses = set(
        order.fulfillment_orders.exclude(status=Status.CANCELLED).values_list("status", flat=True)
    )
    if not statuses or not statuses <= DONE_STATUSES:
        return
    if not _all_handed_over(order, _handed_over_units(order)):
        return  # backordered or re-sourced units are still to come
    path = _released_first(order)
    if order.delivery_method == Order.DeliveryMethod.PICKUP:
        if order.status != Order.Status.READY_FOR_PICKUP:
            path.append(Order.Status.READY_FOR_PICKUP)
    elif order.status != Order.Status.SHIPPED:
        path.append(Order.Status.SHIPPED)
    _move_order(order, [*path, Order.Status.COMPLETED], actor=actor, note=note)


def _ready_for_pickup_if_all_at_store(order: Order, *, actor: Any) -> None:
    """The pickup order becomes ready when every part of it waits on the store's pickup shelf:
    each pickup fulfillment is ready, each transfer was received (its units then sit on a
    pickup fulfillment), and together they cover every unit still ordered. The customer is
    emailed then, once, and the pickup hold (PICKUP_HOLD_DAYS) starts. A held order waits:
    `recheck_pickup_ready` runs this again when its last hold is lifted.
    """
    if order.delivery_method != Order.DeliveryMethod.PICKUP:
        return
    if order.status not in BEFORE_PICKUP_READY:
        return
    if order.is_on_hold:
        return
    fos = list(order.fulfillment_orders.exclude(status=Status.CANCELLED).order_by("pk"))
    pickups = [fo for fo in fos if fo.kind == Kind.PICKUP]
    at_store = all(
        (fo.kind == Kind.PICKUP and fo.status in (Status.READY_FOR_PICKUP, Status.PICKED_UP))
        or (_to_store(fo) and fo.status == Status.DELIVERED)
        for fo in fos
    )
    if not pickups or not at_store:
        return
    covered = dict(
        FulfillmentLine.objects.filter(fulfillment_order__in=pickups)
        .values("order_line_id")
        .annotate(units=Sum("quantity"))
        .values_list("order_line_id", "units")
    )
    if not all(
        covered.get(line.pk, 0) >= line.quantity - line.quantity_cancelled
        for line in _order_lines(order)
    ):
        return  # backordered or re-sourced units are still to come
    _move_order(
        order,
        [*_released_first(order), Order.Status.READY_FOR_PICKUP],
        actor=actor,
        note=f"waiting at {order.pickup_location.code if order.pickup_location else 'the store'}",
    )
    FulfillmentOrder.objects.filter(
        pk__in=[fo.pk for fo in pickups if fo.status == Status.READY_FOR_PICKUP],
        ready_at__isnull=True,
    ).update(ready_at=timezone.now())
    enqueue_on_commit(notify_customer, order.pk, "ready_for_pickup", {"fulfillment": pickups[0].pk})


def _consume(fo: FulfillmentOrder, lines: list[FulfillmentLine], *, actor: Any) -> int:
    """Goods leave the location: reservations consumed with shipment movements, or, for a
    transfer to the pickup store, sent on with transfer-out movements (the reservation goes
    with the goods and is received at the store)."""
    _lock_stock(lines, fo.location_id)
    shipped = 0
    for line in lines:
        units = line.quantity if fo.kind == Kind.DROPSHIP else line.quantity_picked
        if not units:
            continue
        if not line.reservation_id:
            raise DomainError(
                f"FO-{fo.pk}: the line for {line.sku_id} has no reservation to ship from.",
                code="stock_changed",
            )
        if _to_store(fo):
            if units != line.quantity:
                raise DomainError(
                    f"FO-{fo.pk}: a transfer travels whole; {line.sku.code} is picked "
                    f"{units} of {line.quantity}.",
                    code="not_picked",
                )
            transfer_out_reservation(
                reservation_id=line.reservation_id,
                reference=_transfer_reference(fo),
                actor=_user(actor),
            )
        else:
            consume_reservation(
                reservation_id=line.reservation_id,
                quantity=units,
                reference=fo.order.number or "",
                actor=_user(actor),
            )
        line.quantity_picked = max(line.quantity_picked, units)
        line.quantity_shipped = units
        line.save(update_fields=["quantity_picked", "quantity_shipped"])
        shipped += units
    return shipped


def _transfer_reference(fo: FulfillmentOrder) -> str:
    """What both transfer movements (out at the source, in at the store) are filed under."""
    return f"{fo.order.number or ''} FO-{fo.pk}".strip()


# --- Ship and deliver ----------------------------------------------------------------------


@transaction.atomic
def ship(
    *,
    fulfillment_order: FulfillmentOrder,
    carrier: Carrier | None,
    tracking_number: str,
    actor: Any = None,
) -> FulfillmentOrder:
    """Hand the packages to the carrier: stock leaves, payment is captured for what shipped.

    A drop-ship vendor confirms straight from released. For a pickup order (a transfer to the
    pickup store) the customer pays and the order moves when they collect.
    """
    tracking_number = (tracking_number or "").strip()
    if not tracking_number:
        raise InvalidInput({"tracking_number": "A tracking number is required to ship."})
    if len(tracking_number) > 100:
        raise InvalidInput({"tracking_number": "At most 100 characters."})

    fo = _lock_one(fulfillment_order)
    order = fo.order
    if fo.status in (Status.SHIPPED, Status.DELIVERED):
        return fo  # shipped already: a retry changes nothing
    if carrier is None and fo.carrier_service_id:
        carrier = fo.carrier_service.carrier
    if carrier is None:
        raise InvalidInput({"carrier": "Name the carrier taking the parcels."})
    if fo.kind == Kind.PICKUP:
        raise DomainError(
            f"FO-{fo.pk} is collected at the store, not shipped.", code="pickup_not_shipped"
        )
    ready = Status.RELEASED if fo.kind == Kind.DROPSHIP else Status.PACKED
    if fo.status != ready:
        raise IllegalTransition(
            f"FO-{fo.pk} is {fo.get_status_display().lower()}; it ships once "
            f"{Status(ready).label.lower()}.",
            from_status=fo.status,
            to_status=Status.SHIPPED,
        )
    if order.status == Order.Status.CANCELLED:
        raise IllegalTransition(f"Order {order.number} is cancelled.", status=order.status)
    if order.is_on_hold:
        raise DomainError(
            f"Order {order.number} is on hold; release the hold before shipping.",
            code="order_on_hold",
        )

    lines = list(fo.lines.select_for_update(of=("self",)).select_related("sku").order_by("pk"))
    units = _consume(fo, lines, actor=actor)
    now = timezone.now()
    fo.packages.update(carrier=carrier, tracking_number=tracking_number, shipped_at=now)
    fo.carrier = carrier
    fo.tracking_number = tracking_number
    fo.shipped_at = now
    fo.save(update_fields=["carrier", "tracking_number", "shipped_at", "updated_at"])
    transition_fulfillment(
        fo, Status.SHIPPED, actor=actor, note=f"{carrier.name} {tracking_number}, {units} unit(s)"
    )

    if order.delivery_method == Order.DeliveryMethod.SHIP:
        _capture_for_handed_over(order, actor)
        handed = _handed_over_units(order)
        target = (
            Order.Status.SHIPPED
            if _all_handed_over(order, handed)
            else Order.Status.PARTIALLY_SHIPPED
        )
        if order.status not in (Order.Status.SHIPPED, Order.Status.COMPLETED):
            _move_order(
                order, [*_released_first(order), target], actor=actor, note=f"FO-{fo.pk} shipped"
            )
        enqueue_on_commit(notify_customer, order.pk, "shipped", {"fulfillment": fo.pk})
    outbox.record(
        # A transfer is not a sale: the company still owns the goods until pickup.
        topic="fulfillment.transfer_sent" if _to_store(fo) else "fulfillment.shipped",
        aggregate_id=fo.pk,
        payload={
            "order": order.number,
            "location": fo.location.code,
            "kind": fo.kind,
            "carrier": carrier.code,
            "tracking_number": tracking_number,
            "lines": [
                {"order_line": line.order_line_id, "sku": line.sku.code, "quantity": q}
                for line in lines
                if (q := line.quantity_shipped)
            ],
        },
    )
    return fo


@transaction.atomic
def confirm_delivery(*, fulfillment_order: FulfillmentOrder, actor: Any = None) -> FulfillmentOrder:
    """The carrier delivered; for a transfer, the pickup store received it (`receive_transfer`)."""
    if _to_store(fulfillment_order):
        return receive_transfer(fulfillment_order=fulfillment_order, actor=actor)
    fo = _lock_one(fulfillment_order)
    order = fo.order
    if fo.status == Status.DELIVERED:
        return fo
    if fo.kind == Kind.PICKUP:
        raise DomainError(
            f"FO-{fo.pk} is collected at the store; confirm the pickup instead.",
            code="pickup_not_delivered",
        )
    fo.delivered_at = timezone.now()
    fo.save(update_fields=["delivered_at", "updated_at"])
    transition_fulfillment(fo, Status.DELIVERED, actor=actor)
    enqueue_on_commit(notify_customer, order.pk, "delivered", {"fulfillment": fo.pk})
    _complete_if_done(order, actor=actor, note=f"FO-{fo.pk} delivered")
    return fo


@transaction.atomic
def receive_transfer(*, fulfillment_order: FulfillmentOrder, actor: Any = None) -> FulfillmentOrder:
    """The transfer reached the pickup store: its units go on hand there with transfer-in
    movements and stay reserved for the order, on the order's pickup at the store.

    The pickup becomes ready at once when it only holds transferred goods (nothing to pick);
    goods from the store's own stock still wait for staff to shelve them
    (`mark_ready_for_pickup`). The order is ready, and the customer emailed, when everything
    waits at the store. If the order was cancelled on the way, the units go on sale there.
    """
    order_id = _order_id_of(fulfillment_order)
    order = _lock_orders([order_id])[order_id]
    store_id = fulfillment_order.destination_location_id or order.pickup_location_id
    pickup_ids = list(
        FulfillmentOrder.objects.filter(
            order=order,
            kind=Kind.PICKUP,
            location_id=store_id,
            status__in=[Status.PENDING, Status.RELEASED, Status.PICKING, Status.READY_FOR_PICKUP],
        ).values_list("pk", flat=True)
    )
    # Orders, then fulfillment orders by pk: the lock order of this module.
    locked = _lock_fulfillment_orders([fulfillment_order.pk, *pickup_ids])
    fo = locked[fulfillment_order.pk]
    fo.order = order
    if fo.status == Status.DELIVERED:
        return fo  # received already: a retry changes nothing
    if not _to_store(fo):
        raise DomainError(f"FO-{fo.pk} is not a transfer.", code="not_a_transfer")
    if fo.status != Status.SHIPPED:
        raise IllegalTransition(
            f"FO-{fo.pk} is {fo.get_status_display().lower()}; a transfer is received once "
            "it has shipped.",
            from_status=fo.status,
            to_status=Status.DELIVERED,
        )
    store = Location.objects.get(pk=fo.destination_location_id or order.pickup_location_id)
    lines = list(fo.lines.select_for_update(of=("self",)).select_related("sku").order_by("pk"))
    arrived = [line for line in lines if line.quantity_shipped and line.reservation_id]
    for_order = order.status != Order.Status.CANCELLED
    _lock_stock(arrived, store.pk)
    for line in arrived:
        transfer_in_reservation(
            reservation_id=line.reservation_id,
            location=store,
            reference=_transfer_reference(fo),
            reserve=for_order,
            actor=_user(actor),
        )
    units = sum(line.quantity_shipped for line in arrived)
    fo.delivered_at = timezone.now()
    fo.save(update_fields=["delivered_at", "updated_at"])
    transition_fulfillment(
        fo, Status.DELIVERED, actor=actor, note=f"received at {store.code}, {units} unit(s)"
    )
    if not for_order:
        record_event(
            order=order,
            kind=OrderEvent.Kind.STOCK_RELEASED,
            message=f"Transfer FO-{fo.pk} arrived at {store.code} after the order was "
            f"cancelled: {units} unit(s) are on sale there.",
            actor=actor,
            data={"fulfillment": fo.pk, "units": units},
        )
        return fo
    pickup = next((locked[pk] for pk in sorted(pickup_ids)), None)
    _put_on_pickup(order, fo, pickup, store, arrived, actor=actor)
    _ready_for_pickup_if_all_at_store(order, actor=actor)
    return fo


def _put_on_pickup(
    order: Order,
    transfer: FulfillmentOrder,
    pickup: FulfillmentOrder | None,
    store: Location,
    arrived: list[FulfillmentLine],
    *,
    actor: Any,
) -> FulfillmentOrder:
    """The received units join the order's pickup at the store (one is opened if none is)."""
    opened = pickup is None
    if pickup is None:
        pickup = FulfillmentOrder.objects.create(
            order=order,
            location=store,
            kind=Kind.PICKUP,
            currency=order.currency,
            promised_date=order.promised_date,
            explanation=f"Goods received at {store.code} on transfer FO-{transfer.pk}.",
        )
        pickup.order = order
        record_event(
            order=order,
            kind=OrderEvent.Kind.FULFILLMENT,
            message=f"Fulfillment FO-{pickup.pk} created at {store.code} (pickup in store) "
            f"for the goods of transfer FO-{transfer.pk}.",
            actor=actor,
            data={"fulfillment": pickup.pk, "location": store.code},
        )
    FulfillmentLine.objects.bulk_create(
        [
            FulfillmentLine(
                fulfillment_order=pickup,
                order_line_id=line.order_line_id,
                reservation_id=line.reservation_id,
                sku_id=line.sku_id,
                quantity=line.quantity_shipped,
                # The parcel arrives packed for this customer: nothing to pick.
                quantity_picked=line.quantity_shipped,
            )
            for line in arrived
        ]
    )
    if opened and not order.is_on_hold:
        _shelve_received_pickup(
            order, pickup, actor=actor, note=f"transfer FO-{transfer.pk} received"
        )
    return pickup


def _shelve_received_pickup(
    order: Order, pickup: FulfillmentOrder, *, actor: Any, note: str
) -> None:
    """A pickup holding only received goods has nothing to pick or shelve: released (if it
    was not) and ready at once. Caller holds the order's and the pickup's locks."""
    if pickup.status == Status.PENDING:
        pickup.released_at = timezone.now()
        pickup.save(update_fields=["released_at", "updated_at"])
        transition_fulfillment(pickup, Status.RELEASED, actor=actor)
        outbox.record(
            topic="fulfillment.released",
            aggregate_id=pickup.pk,
            payload={"order": order.number, "location": pickup.location.code},
        )
    transition_fulfillment(pickup, Status.READY_FOR_PICKUP, actor=actor, note=note)


# --- Pickup in store -----------------------------------------------------------------------


@transaction.atomic
def mark_ready_for_pickup(
    *, fulfillment_order: FulfillmentOrder, actor: Any = None
) -> FulfillmentOrder:
    """The goods wait on the pickup shelf; the customer hears once the whole order is there
    (and, for an order on hold, not before the hold is lifted)."""
    fo = _lock_one(fulfillment_order)
    if fo.status in (Status.READY_FOR_PICKUP, Status.PICKED_UP):
        return fo
    if fo.kind != Kind.PICKUP:
        raise DomainError(f"FO-{fo.pk} is not a pickup.", code="not_a_pickup")
    lines = list(fo.lines.select_for_update().order_by("pk"))
    if fo.status == Status.PICKING:
        if _open_pick_list_ids([fo.pk]) or any(
            line.quantity_picked < line.quantity for line in lines
        ):
            raise DomainError(
                f"FO-{fo.pk} is still being picked; confirm the pick first.", code="not_picked"
            )
    elif fo.status == Status.RELEASED:
        # Store staff took the goods to the shelf without a pick list.
        for line in lines:
            if line.quantity_picked != line.quantity:
                line.quantity_picked = line.quantity
                line.save(update_fields=["quantity_picked"])
    transition_fulfillment(fo, Status.READY_FOR_PICKUP, actor=actor)
    _ready_for_pickup_if_all_at_store(fo.order, actor=actor)
    return fo


@transaction.atomic
def recheck_pickup_ready(*, order_id: int, actor: Any = "job:hold-released") -> bool:
    """Look again whether a pickup order waits complete at the store; run when its last hold
    is lifted (the `order.hold_released` subscriber).

    While an order is on hold, store work still records what happened to the goods — a pickup
    marked ready, a transfer received — but the order does not move and the customer is not
    told: a held order (fraud review, address check) is not announced. Once the hold is gone
    this does what was held back: a pickup holding only received goods (nothing to shelve) is
    released and made ready, as `receive_transfer` does for an order that is not held, and if
    everything now waits at the store the order becomes ready for pickup, with its one email
    and the start of the pickup hold (`ready_at`). Returns True when the order became ready;
    False, changing nothing, for an order that is not a pickup, still held, already ready, or
    not complete at the store — so running it twice emails once.
    """
    order = _lock_orders([order_id]).get(order_id)
    if (
        order is None
        or order.delivery_method != Order.DeliveryMethod.PICKUP
        or order.is_on_hold
        or order.status not in BEFORE_PICKUP_READY
    ):
        return False
    waiting = _lock_fulfillment_orders(
        order.fulfillment_orders.filter(
            kind=Kind.PICKUP, status__in=[Status.PENDING, Status.RELEASED]
        ).values_list("pk", flat=True)
    )
    for pickup in waiting.values():
        lines = list(pickup.lines.all())
        # Lines are picked before release only when they arrived on a transfer (packed for
        # this customer); a pickup of the store's own stock waits for staff to shelve it.
        if lines and all(line.quantity_picked >= line.quantity for line in lines):
            pickup.order = order
            _shelve_received_pickup(
                order, pickup, actor=actor, note="goods received while the order was on hold"
            )
    _ready_for_pickup_if_all_at_store(order, actor=actor)
    return order.status == Order.Status.READY_FOR_PICKUP


@transaction.atomic
def confirm_pickup(*, fulfillment_order: FulfillmentOrder, actor: Any = None) -> FulfillmentOrder:
    """The customer collected: stock leaves, payment is captured, the order completes."""
    fo = _lock_one(fulfillment_order)
    order = fo.order
    if fo.status == Status.PICKED_UP:
        return fo
    if fo.kind != Kind.PICKUP:
        raise DomainError(f"FO-{fo.pk} is not a pickup.", code="not_a_pickup")
    if fo.status != Status.READY_FOR_PICKUP:
        raise IllegalTransition(
            f"FO-{fo.pk} is {fo.get_status_display().lower()}; mark it ready for pickup first.",
            from_status=fo.status,
            to_status=Status.PICKED_UP,
        )
    if order.status != Order.Status.READY_FOR_PICKUP:
        # Part of the order is still on its way (a transfer) or not shelved yet: the customer
        # collects everything at once, when they were told it is all there.
        raise DomainError(
            f"Order {order.number} is not ready for pickup yet: not everything waits at "
            f"{fo.location.code}.",
            code="order_not_ready",
        )
    if order.is_on_hold:
        raise DomainError(
            f"Order {order.number} is on hold; release the hold before handing it over.",
            code="order_on_hold",
        )
    lines = list(fo.lines.select_for_update(of=("self",)).select_related("sku").order_by("pk"))
    for line in lines:
        if not line.quantity_picked:
            line.quantity_picked = line.quantity
    _consume(fo, lines, actor=actor)
    fo.delivered_at = timezone.now()
    fo.save(update_fields=["delivered_at", "updated_at"])
    transition_fulfillment(fo, Status.PICKED_UP, actor=actor)
    _capture_for_handed_over(order, actor)
    outbox.record(
        topic="fulfillment.picked_up",
        aggregate_id=fo.pk,
        payload={
            "order": order.number,
            "location": fo.location.code,
            "lines": [
                {"order_line": line.order_line_id, "sku": line.sku.code, "quantity": q}
                for line in lines
                if (q := line.quantity_shipped)
            ],
        },
    )
    _complete_if_done(order, actor=actor, note=f"FO-{fo.pk} picked up")
    return fo


def pickup_hold_cutoff(now: datetime.datetime) -> datetime.datetime:
    """Pickups ready before this moment were not collected in time."""
    return now - datetime.timedelta(days=settings.PICKUP_HOLD_DAYS)


@transaction.atomic
def expire_uncollected_pickup(
    *, order_id: int, now: datetime.datetime | None = None, actor: Any = "job:pickup-expiry"
) -> bool:
    """Cancel a pickup order nobody collected within PICKUP_HOLD_DAYS of it being ready.

    The store's pickups are cancelled, the order is cancelled through `cancel_order` (which
    releases the reservations, so the units are for sale at the store again, and voids the
    payment authorization), and the customer is told. Returns False, changing nothing, when
    the order is not (or no longer) an expired pickup — so running it twice does it once.
    """
    now = now or timezone.now()
    order = _lock_orders([order_id]).get(order_id)
    if order is None or order.status != Order.Status.READY_FOR_PICKUP:
        return False
    pickups = _lock_fulfillment_orders(
        order.fulfillment_orders.filter(kind=Kind.PICKUP).values_list("pk", flat=True)
    )
    waiting = [fo for fo in pickups.values() if fo.status == Status.READY_FOR_PICKUP]
    if not waiting or any(fo.status == Status.PICKED_UP for fo in pickups.values()):
        # Partly collected and paid for: staff settle the rest with the customer.
        return False
    ready_at = max((fo.ready_at for fo in waiting if fo.ready_at), default=None)
    if ready_at is None or ready_at > pickup_hold_cutoff(now):
        return False
    days = settings.PICKUP_HOLD_DAYS
    reason = f"not collected within {days} day(s) of being ready for pickup"
    for fo in sorted(waiting, key=lambda fo: fo.pk):
        fo.order = order
        transition_fulfillment(fo, Status.CANCELLED, actor=actor, note=reason)
    cancel_order(order=order, actor=actor, reason=reason)
    enqueue_on_commit(
        notify_customer,
        order.pk,
        "pickup_expired",
        {"fulfillment": waiting[0].pk, "hold_days": days},
    )
    return True


# --- Drop-ship -----------------------------------------------------------------------------


@transaction.atomic
def confirm_vendor_shipment(
    *,
    fulfillment_order: FulfillmentOrder,
    carrier: Carrier | None,
    tracking_number: str,
    actor: Any = None,
) -> FulfillmentOrder:
    """The drop-ship vendor shipped its purchase order: `ship` does the rest (the vendor's
    stock leaves with a shipment movement, the reservation is consumed, payment is captured
    for what shipped, the order moves on, the customer is emailed).

    Sending the same confirmation again returns the fulfillment unchanged; a different
    tracking number for a purchase order that already shipped is refused.
    """
    errors = {}
    if carrier is None:
        errors["carrier"] = "Name the carrier the vendor handed the parcels to."
    if not (tracking_number or "").strip():
        errors["tracking_number"] = "A tracking number is required to confirm the shipment."
    if errors:
        raise InvalidInput(errors)
    if fulfillment_order.kind != Kind.DROPSHIP:
        raise DomainError(
            f"FO-{fulfillment_order.pk} is not a drop-ship vendor request.", code="not_dropship"
        )
    fo = ship(
        fulfillment_order=fulfillment_order,
        carrier=carrier,
        tracking_number=tracking_number,
        actor=actor,
    )
    if fo.tracking_number != tracking_number.strip() or fo.carrier_id != carrier.pk:
        raise DomainError(
            f"Purchase order {fo.purchase_order_number or f'FO-{fo.pk}'} already shipped "
            f"with tracking number {fo.tracking_number}.",
            code="already_shipped",
        )
    return fo
