"""Stock changes. On hand moves only here, always with a movement row; reserved moves only by
guarded updates on rows locked in primary-key order (the one lock order, so no deadlocks)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from django.db import IntegrityError, transaction
from django.db.models import Case, F, IntegerField, Value, When
from django.utils import timezone

from inventory.allocation import AllocationPlan, LineDemand
from inventory.models import SKU, Location, Reservation, StockLevel, StockMovement
from oms.core import hotpath, outbox
from oms.core.errors import DomainError, InvalidInput

# Each re-plan happens only when a concurrent capture took the units the snapshot promised;
# three rounds settle all but pathological contention, which then fails as out of stock.
MAX_PLAN_ROUNDS = 3


def _stock_level_for_update(*, sku: SKU, location: Location) -> StockLevel:
    try:
        with transaction.atomic():
            StockLevel.objects.get_or_create(sku=sku, location=location)
    except IntegrityError:
        pass  # created by a concurrent call a moment ago; lock it below
    return StockLevel.objects.select_for_update().get(sku=sku, location=location)


def _record_movement(
    *,
    level: StockLevel,
    kind: str,
    quantity: int,
    reason: str,
    reference: str,
    actor,
) -> StockMovement:
    StockLevel.objects.filter(pk=level.pk).update(
        on_hand=F("on_hand") + quantity, updated_at=timezone.now()
    )
    level.refresh_from_db(fields=["on_hand", "reserved", "safety_stock"])
    return StockMovement.objects.create(
        sku_id=level.sku_id,
        location_id=level.location_id,
        kind=kind,
        quantity=quantity,
        reason=reason,
        reference=reference,
        actor=actor if getattr(actor, "pk", None) else None,
    )


@transaction.atomic
def receive_stock(
    *,
    sku: SKU,
    location: Location,
    quantity: int,
    reference: str = "",
    reason: str = "",
    actor=None,
) -> StockLevel:
    """Units arrived (purchase order, transfer, initial load): on hand goes up."""
    if quantity <= 0:
        raise InvalidInput({"quantity": "A receipt must add at least one unit."})
    level = _stock_level_for_update(sku=sku, location=location)
    _record_movement(
        level=level,
        kind=StockMovement.Kind.RECEIPT,
        quantity=quantity,
        reason=reason,
        reference=reference,
        actor=actor,
    )
    # Backorders waiting for this SKU may now be fillable; fulfillment subscribes.
    outbox.record(
        topic="stock.received",
        aggregate_id=level.pk,
        payload={"sku_id": sku.pk, "location_id": location.pk, "quantity": quantity},
    )
    return level


@transaction.atomic
def adjust_stock(
    *,
    sku: SKU,
    location: Location,
    quantity: int,
    reason: str,
    reference: str = "",
    actor=None,
) -> StockLevel:
    """A counted correction (damage, shrinkage, found units): on hand moves by `quantity`."""
    errors = {}
    if quantity == 0:
        errors["quantity"] = "An adjustment must change on hand by at least one unit."
    if not reason.strip():
        errors["reason"] = "Say why stock is adjusted; auditors read this."
    if errors:
        raise InvalidInput(errors)
    level = _stock_level_for_update(sku=sku, location=location)
    if level.on_hand + quantity < level.reserved:
        raise InvalidInput(
            {
                "quantity": (
                    f"On hand would drop to {level.on_hand + quantity}, below the "
                    f"{level.reserved} units reserved for orders. Release or re-source them first."
                )
            }
        )
    _record_movement(
        level=level,
        kind=StockMovement.Kind.ADJUSTMENT,
        quantity=quantity,
        reason=reason,
        reference=reference,
        actor=actor,
    )
    return level


@transaction.atomic
def set_safety_stock(*, sku: SKU, location: Location, safety_stock: int) -> StockLevel:
    if safety_stock < 0:
        raise InvalidInput({"safety_stock": "Safety stock cannot be negative."})
    level = _stock_level_for_update(sku=sku, location=location)
    level.safety_stock = safety_stock
    level.save(update_fields=["safety_stock", "updated_at"])
    return level


def _lock_and_verify(plan: AllocationPlan) -> dict[int, int] | None:
    """Lock the planned stock rows in pk order; return their ATP if the plan still fits."""
    needed = plan.quantity_by_stock_level()
    # hotpath: the ORM's select_for_update().filter(pk__in=…).order_by("pk") at a third of
    # the CPU; every capture runs it.
    locked = {
        level.pk: level.available_to_promise for level in hotpath.lock_many(StockLevel, needed)
    }
    if all(locked.get(pk, 0) >= quantity for pk, quantity in needed.items()):
        return locked
    return None


def reserve_stock(
    *,
    lines: Sequence[LineDemand],
    order_line_ids: dict[int, int],
    plan: AllocationPlan,
    replan: Callable[[], AllocationPlan],
) -> AllocationPlan:
    """Reserve the planned units; returns the plan that was applied.

    Must run inside the caller's transaction (the order it reserves for is created there).
    The plan was made from an unlocked snapshot: if the locked rows no longer hold it,
    `replan()` decides again on fresh numbers. Units no location can serve are left in
    `plan.shortfalls`; the caller decides whether that refuses the order or backorders.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("reserve_stock must run inside the order's transaction.")
    for _ in range(MAX_PLAN_ROUNDS):
        if not plan.allocations or _lock_and_verify(plan) is not None:
            break
        # Someone took the units between our snapshot and our lock: look again. The rows we
        # already locked stay locked, so the next snapshot sees their settled numbers.
        plan = replan()
    else:
        plan = AllocationPlan(shortfalls={line.line_number: line.quantity for line in lines})

    needed = plan.quantity_by_stock_level()
    if needed:
        # The rows are locked and hold the units (checked above): one UPDATE … CASE for all.
        updated = hotpath.increment(
            StockLevel, "reserved", needed, also={"updated_at": timezone.now()}
        )
        if updated != len(needed):
            raise DomainError("Stock rows vanished while reserving.", code="stock_changed")
        hotpath.insert(  # bulk_create at a third of the CPU: every capture runs it
            [
                Reservation(
                    order_line_id=order_line_ids[allocation.line_number],
                    sku_id=allocation.sku_id,
                    location_id=allocation.location_id,
                    quantity=allocation.quantity,
                )
                for allocation in plan.allocations
            ]
        )
    return plan


def release_reservations(*, order_line_ids: Sequence[int]) -> int:
    """Give back the active reservations of these lines; returns the units released."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("release_reservations must run inside the caller's transaction.")
    reservations = list(
        Reservation.objects.select_for_update()
        .filter(order_line_id__in=list(order_line_ids), state=Reservation.State.ACTIVE)
        .order_by("pk")
    )
    if not reservations:
        return 0
    by_level: dict[tuple[int, int], int] = {}
    for reservation in reservations:
        key = (reservation.sku_id, reservation.location_id)
        by_level[key] = by_level.get(key, 0) + reservation.quantity
    levels = list(
        StockLevel.objects.select_for_update()
        .filter(sku_id__in={k[0] for k in by_level}, location_id__in={k[1] for k in by_level})
        .order_by("pk")
        .values_list("pk", "sku_id", "location_id")
    )
    amounts = {pk: by_level[(sku, loc)] for pk, sku, loc in levels if (sku, loc) in by_level}
    StockLevel.objects.filter(pk__in=amounts).update(
        reserved=F("reserved")
        - Case(
            *[When(pk=pk, then=Value(quantity)) for pk, quantity in amounts.items()],
            default=Value(0),
            output_field=IntegerField(),
        ),
        updated_at=timezone.now(),
    )
    Reservation.objects.filter(pk__in=[r.pk for r in reservations]).update(
        state=Reservation.State.RELEASED, closed_at=timezone.now()
    )
    return sum(r.quantity for r in reservations)


def consume_reservation(*, reservation_id: int, quantity: int, reference: str, actor=None) -> int:
    """Units left the building: on hand and reserved both drop, with a shipment movement.

    Returns the units consumed. Shipping part of a reservation leaves the rest reserved.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("consume_reservation must run inside the caller's transaction.")
    reservation = Reservation.objects.select_for_update().get(pk=reservation_id)
    if reservation.state != Reservation.State.ACTIVE:
        raise DomainError(
            f"Reservation {reservation.pk} is {reservation.state}.", code="stock_changed"
        )
    if not 0 < quantity <= reservation.quantity:
        raise InvalidInput({"quantity": f"Ship between 1 and {reservation.quantity} units."})
    level = StockLevel.objects.select_for_update().get(
        sku_id=reservation.sku_id, location_id=reservation.location_id
    )
    StockLevel.objects.filter(pk=level.pk).update(
        on_hand=F("on_hand") - quantity,
        reserved=F("reserved") - quantity,
        updated_at=timezone.now(),
    )
    StockMovement.objects.create(
        sku_id=reservation.sku_id,
        location_id=reservation.location_id,
        kind=StockMovement.Kind.SHIPMENT,
        quantity=-quantity,
        reference=reference,
        actor=actor if getattr(actor, "pk", None) else None,
    )
    if quantity == reservation.quantity:
        reservation.state = Reservation.State.FULFILLED
        reservation.closed_at = timezone.now()
        reservation.save(update_fields=["state", "closed_at"])
    else:
        reservation.quantity -= quantity
        reservation.save(update_fields=["quantity"])
    return quantity


def release_reservation_units(*, reservation_id: int, quantity: int) -> int:
    """Give back part (or all) of one reservation, e.g. the units a short pick did not find."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("release_reservation_units must run inside the caller's transaction.")
    reservation = Reservation.objects.select_for_update().get(pk=reservation_id)
    if reservation.state != Reservation.State.ACTIVE or quantity <= 0:
        return 0
    quantity = min(quantity, reservation.quantity)
    level = StockLevel.objects.select_for_update().get(
        sku_id=reservation.sku_id, location_id=reservation.location_id
    )
    StockLevel.objects.filter(pk=level.pk).update(
        reserved=F("reserved") - quantity, updated_at=timezone.now()
    )
    if quantity == reservation.quantity:
        reservation.state = Reservation.State.RELEASED
        reservation.closed_at = timezone.now()
        reservation.save(update_fields=["state", "closed_at"])
    else:
        reservation.quantity -= quantity
        reservation.save(update_fields=["quantity"])
    return quantity


# --- Transfers between locations -----------------------------------------------------------
# A reservation travels with its goods: it is consumed at the source when the transfer leaves
# (fulfilled) and comes back to life at the destination when the transfer is received. So an
# order line is covered by exactly one reservation row the whole way, and in transit no
# location's reserved counter holds units its shelves do not have.


def transfer_out_reservation(*, reservation_id: int, reference: str, actor=None) -> Reservation:
    """The reserved units leave their location for another one: a transfer-out movement."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("transfer_out_reservation must run inside the caller's transaction.")
    reservation = Reservation.objects.select_for_update().get(pk=reservation_id)
    if reservation.state != Reservation.State.ACTIVE:
        raise DomainError(
            f"Reservation {reservation.pk} is {reservation.state}.", code="stock_changed"
        )
    level = StockLevel.objects.select_for_update().get(
        sku_id=reservation.sku_id, location_id=reservation.location_id
    )
    StockLevel.objects.filter(pk=level.pk).update(
        on_hand=F("on_hand") - reservation.quantity,
        reserved=F("reserved") - reservation.quantity,
        updated_at=timezone.now(),
    )
    StockMovement.objects.create(
        sku_id=reservation.sku_id,
        location_id=reservation.location_id,
        kind=StockMovement.Kind.TRANSFER_OUT,
        quantity=-reservation.quantity,
        reference=reference,
        actor=actor if getattr(actor, "pk", None) else None,
    )
    reservation.state = Reservation.State.FULFILLED
    reservation.closed_at = timezone.now()
    reservation.save(update_fields=["state", "closed_at"])
    return reservation


def transfer_in_reservation(
    *, reservation_id: int, location: Location, reference: str, reserve: bool = True, actor=None
) -> Reservation:
    """Transferred units arrive at `location`: a transfer-in movement, and (with `reserve`)
    the reservation is active again there, so the units are never offered to anyone else.

    Without `reserve` (the order was cancelled on the way) the units go on the shelf for sale.
    Receiving the same reservation twice changes nothing.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("transfer_in_reservation must run inside the caller's transaction.")
    reservation = Reservation.objects.select_for_update().get(pk=reservation_id)
    if reservation.location_id == location.pk:
        return reservation  # received already
    if reservation.state != Reservation.State.FULFILLED:
        raise DomainError(
            f"Reservation {reservation.pk} is {reservation.state}; only units sent on a "
            "transfer can be received.",
            code="stock_changed",
        )
    level = _stock_level_for_update(sku=reservation.sku, location=location)
    _record_movement(
        level=level,
        kind=StockMovement.Kind.TRANSFER_IN,
        quantity=reservation.quantity,
        reason="transfer received",
        reference=reference,
        actor=actor,
    )
    reservation.location = location
    if reserve:
        # On hand rose by the same units just now, under the lock: reserved stays ≤ on hand.
        StockLevel.objects.filter(pk=level.pk).update(
            reserved=F("reserved") + reservation.quantity, updated_at=timezone.now()
        )
        reservation.state = Reservation.State.ACTIVE
        reservation.closed_at = None
    else:
        reservation.state = Reservation.State.RELEASED
        reservation.closed_at = timezone.now()
        # The units are for sale here now; backorders for the SKU may be fillable.
        outbox.record(
            topic="stock.received",
            aggregate_id=level.pk,
            payload={
                "sku_id": reservation.sku_id,
                "location_id": location.pk,
                "quantity": reservation.quantity,
            },
        )
    reservation.save(update_fields=["location", "state", "closed_at"])
    return reservation
