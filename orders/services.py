"""Order use cases: capture, cancel, holds, and the one function that changes an order's status."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import F, Sum
from django.utils import timezone

from customers.models import Customer
from inventory.allocation import AllocationPlan
from inventory.models import SKU, Location
from inventory.services import release_reservations, reserve_stock
from oms.core import outbox
from oms.core.db import retry_transient
from oms.core.errors import (
    DomainError,
    IdempotencyKeyReused,
    IllegalTransition,
    InsufficientStock,
    InvalidInput,
    PaymentDeclined,
)
from oms.core.money import Money
from oms.core.tasks import enqueue_on_commit
from orders.models import (
    CANCELLABLE,
    HOLDABLE,
    PAYMENT_TRANSITIONS,
    TRANSITIONS,
    IdempotencyKey,
    Order,
    OrderEvent,
    OrderHold,
    OrderLine,
    Payment,
    SalesChannel,
    ServiceLevel,
)
from orders.payments import get_gateway
from orders.planning import CaptureContext, CapturePlan, get_planner
from orders.pricing import (
    PricedLine,
    Totals,
    order_totals,
    price_lines,
    shipping_price,
    tax_rate_for,
)

logger = logging.getLogger(__name__)

NUMBER_FORMAT = "SO-{:06d}"
GATEWAY_METHODS = {Payment.Method.CARD, Payment.Method.PAYPAL}


# --- Who acted -----------------------------------------------------------------------------


def actor_fields_of(actor: Any) -> dict[str, Any]:
    """Staff users are linked; a storefront or a job is named in `actor_label`."""
    if actor is None:
        return {"actor": None, "actor_label": "system"}
    if isinstance(actor, AbstractBaseUser) and actor.pk:
        return {"actor": actor, "actor_label": actor.get_username()}
    return {"actor": None, "actor_label": str(actor)[:100]}


EVENT_MESSAGE_LENGTH = OrderEvent._meta.get_field("message").max_length


def fit_event_message(message: str) -> str:
    """A timeline line fits its column (PostgreSQL refuses longer); the rest is in `data`."""
    if len(message) <= EVENT_MESSAGE_LENGTH:
        return message
    return message[: EVENT_MESSAGE_LENGTH - 1] + "…"


def record_event(
    *, order: Order, kind: str, message: str, actor: Any = None, data: dict | None = None
) -> OrderEvent:
    return OrderEvent.objects.create(
        order=order,
        kind=kind,
        message=fit_event_message(message),
        data=data or {},
        **actor_fields_of(actor),
    )


def reservation_event(
    *,
    order: Order,
    plan: AllocationPlan,
    sku_codes: dict[int, str],
    actor: Any = None,
    heading: str = "Reserved",
) -> OrderEvent:
    """The timeline row (unsaved) saying which location holds which units of which line."""
    return OrderEvent(
        order=order,
        kind=OrderEvent.Kind.STOCK_RESERVED,
        message=fit_event_message(
            f"{heading} "
            + ", ".join(
                f"{a.quantity} × {sku_codes[a.line_number]} at {a.location_code}"
                for a in plan.allocations
            )
            + "."
        ),
        data={
            "allocations": [
                {"line": a.line_number, "location": a.location_id, "quantity": a.quantity}
                for a in plan.allocations
            ]
        },
        **actor_fields_of(actor),
    )


# --- The state machine ---------------------------------------------------------------------


def transition(
    order: Order,
    to_status: str,
    *,
    actor: Any = None,
    note: str = "",
    events: list[OrderEvent] | None = None,
) -> Order:
    """The only place an order's status changes; caller holds the order's row lock.

    With `events`, the timeline event is appended there unsaved, for a caller that writes all
    of its events in one INSERT.
    """
    from_status = order.status
    if to_status not in TRANSITIONS[from_status]:
        raise IllegalTransition(
            f"Order {order.number} cannot go from {Order.Status(from_status).label} "
            f"to {Order.Status(to_status).label}.",
            from_status=from_status,
            to_status=to_status,
        )
    order.status = to_status
    order.status_changed_at = timezone.now()
    order.save(update_fields=["status", "status_changed_at", "updated_at"])
    message = f"{Order.Status(from_status).label} → {Order.Status(to_status).label}"
    event = OrderEvent(
        order=order,
        kind=OrderEvent.Kind.STATUS_CHANGED,
        message=fit_event_message(f"{message}: {note}" if note else message),
        data={"from": from_status, "to": to_status, "note": note},
        **actor_fields_of(actor),
    )
    if events is None:
        event.save()
    else:
        events.append(event)
    return order


def transition_payment(payment: Payment, to_status: str) -> Payment:
    """The only place a payment's status changes."""
    if to_status not in PAYMENT_TRANSITIONS[payment.status]:
        raise IllegalTransition(
            f"Payment {payment.pk} cannot go from {payment.status} to {to_status}.",
            from_status=payment.status,
            to_status=to_status,
        )
    payment.status = to_status
    payment.save(update_fields=["status", "updated_at"])
    return payment


# --- Capture -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlaceOrderResult:
    order: Order
    replayed: bool = False


@dataclass(slots=True)
class _Capture:
    """Everything validated and priced before the transaction opens."""

    channel: SalesChannel
    customer: dict[str, str]
    external_id: str | None
    delivery_method: str
    service_level: ServiceLevel | None
    pickup_location: Location | None
    ship_to: dict[str, str]
    lines: list[PricedLine]
    totals: Any
    payment_method: str
    payment_reference: str
    sku_by_line: dict[int, SKU] = field(default_factory=dict)


def request_fingerprint(payload: Any) -> str:
    """A stable hash of a request body: same JSON, same hash, whatever the key order."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def place_order(
    *,
    channel: SalesChannel,
    customer: dict[str, str],
    lines: list[dict[str, Any]],
    delivery: dict[str, Any],
    payment: dict[str, str],
    external_id: str | None = None,
    idempotency_key: str | None = None,
    request_hash: str | None = None,
    actor: Any = None,
) -> PlaceOrderResult:
    """Capture an order: validate, price on the server, reserve stock, authorize payment.

    With an idempotency key, a retry returns the first order; the same key with a different
    request (`request_hash`) is refused. Payment is authorized before the short transaction
    (no network I/O while stock rows are locked) and voided if the capture does not commit.
    """
    if idempotency_key:
        request_hash = request_hash or request_fingerprint(
            {
                "customer": customer,
                "lines": lines,
                "delivery": delivery,
                "payment": payment,
                "external_id": external_id,
            }
        )
        replay = _replay(channel=channel, key=idempotency_key, request_hash=request_hash)
        if replay is not None:
            return replay

    capture = _validate_and_price(
        channel=channel,
        customer=customer,
        lines=lines,
        delivery=delivery,
        payment=payment,
        external_id=external_id,
    )
    authorization = _authorize_payment(capture, idempotency_key=idempotency_key)
    try:
        result = _capture_in_transaction(
            capture,
            authorization=authorization,
            idempotency_key=idempotency_key,
            request_hash=request_hash,
            actor=actor,
        )
    except BaseException:
        _void_authorization(authorization)
        raise
    if result.replayed:
        _void_authorization(authorization)
    return result


def _replay(*, channel: SalesChannel, key: str, request_hash: str) -> PlaceOrderResult | None:
    existing = (
        IdempotencyKey.objects.filter(channel=channel, key=key)
        .select_related("order", "order__channel")
        .first()
    )
    if existing is None:
        return None
    if existing.request_hash != request_hash:
        raise IdempotencyKeyReused(
            "This Idempotency-Key was already used with a different request body.",
            idempotency_key=key,
        )
    return PlaceOrderResult(order=existing.order, replayed=True)


ADDRESS_REQUIRED_FIELDS = ("line1", "city", "postal_code", "country")


def clean_address(address: Any, *, path: str) -> tuple[dict[str, str], dict[str, list[str]]]:
    """A ship-to address as orders keep it (strings, trimmed) and what is missing from it.

    Capture and a later change of address check the same fields, so an address the storefront
    could not place an order with cannot be changed to either.
    """
    if not address:
        return {}, {path: ["A shipping address is required to ship."]}
    if not isinstance(address, dict):
        return {}, {path: ["Send the address as an object."]}
    errors = {
        f"{path}.{required}": ["This field is required."]
        for required in ADDRESS_REQUIRED_FIELDS
        if not str(address.get(required) or "").strip()
    }
    return {k: str(v).strip() for k, v in address.items() if v is not None}, errors


def _validate_and_price(
    *,
    channel: SalesChannel,
    customer: dict[str, str],
    lines: list[dict[str, Any]],
    delivery: dict[str, Any],
    payment: dict[str, str],
    external_id: str | None,
) -> _Capture:
    errors: dict[str, list[str]] = {}

    def error(path: str, message: str) -> None:
        errors.setdefault(path, []).append(message)

    if not channel.is_active:
        raise DomainError(f"Channel {channel.code} is not taking orders.", code="channel_inactive")
    if not (customer.get("email") or "").strip():
        error("customer.email", "An email is required to confirm the order.")

    if not lines:
        error("lines", "An order needs at least one line.")
    elif len(lines) > settings.MAX_ORDER_LINES:
        error("lines", f"At most {settings.MAX_ORDER_LINES} lines per order.")
    codes = {str(line.get("sku", "")) for line in lines}
    skus = {sku.code: sku for sku in SKU.objects.filter(code__in=codes)}
    requested: list[tuple[int, SKU, int]] = []
    for index, line in enumerate(lines):
        code, quantity = str(line.get("sku", "")), line.get("quantity")
        sku = skus.get(code)
        if sku is None:
            error(f"lines[{index}].sku", f"Unknown SKU {code!r}.")
        elif not sku.is_sellable:
            error(f"lines[{index}].sku", f"SKU {code} is not for sale.")
        elif sku.currency != channel.currency:
            error(
                f"lines[{index}].sku",
                f"SKU {code} is priced in {sku.currency}; channel {channel.code} sells in "
                f"{channel.currency}.",
            )
        if isinstance(quantity, bool) or not isinstance(quantity, int):
            error(f"lines[{index}].quantity", "Quantity must be a whole number.")
        elif quantity < 1:
            error(f"lines[{index}].quantity", "Quantity must be at least 1.")
        elif quantity > settings.MAX_LINE_QUANTITY:
            error(
                f"lines[{index}].quantity",
                f"Quantity must be at most {settings.MAX_LINE_QUANTITY}.",
            )
        elif sku is not None:
            requested.append((index + 1, sku, quantity))

    method = delivery.get("method")
    service_level = pickup_location = None
    ship_to: dict[str, str] = {}
    country = region = ""
    if method == Order.DeliveryMethod.SHIP:
        code = delivery.get("service_level") or ""
        service_level = ServiceLevel.objects.filter(code=code, is_active=True).first()
        if service_level is None:
            error("delivery.service_level", f"Unknown shipping service {code!r}.")
        elif service_level.currency != channel.currency:
            error("delivery.service_level", f"{code} is not priced in {channel.currency}.")
        ship_to, address_errors = clean_address(delivery.get("address"), path="delivery.address")
        for path, messages in address_errors.items():
            for message in messages:
                error(path, message)
        country, region = ship_to.get("country", ""), ship_to.get("region", "")
    elif method == Order.DeliveryMethod.PICKUP:
        code = delivery.get("location") or ""
        pickup_location = Location.objects.filter(code=code).first()
        if pickup_location is None:
            error("delivery.location", f"Unknown pickup location {code!r}.")
        elif not (pickup_location.is_active and pickup_location.allows_pickup):
            error("delivery.location", f"{code} does not offer pickup.")
        else:
            country, region = str(pickup_location.country), pickup_location.region
    else:
        error("delivery.method", "Choose 'ship' or 'pickup'.")

    payment_method = payment.get("method") or ""
    payment_reference = (payment.get("reference") or "").strip()
    if payment_method not in Payment.Method.values:
        error("payment.method", f"Unknown payment method {payment_method!r}.")
    elif payment_method in GATEWAY_METHODS and not payment_reference:
        error("payment.reference", "A payment token is required for this method.")

    if errors:
        raise InvalidInput(errors)

    tax_rate = tax_rate_for(country=country, region=region)
    priced = price_lines(lines=requested, tax_rate=tax_rate, currency=channel.currency)
    shipping = shipping_price(
        service_level=service_level,
        weight_kg=sum((line.weight_kg for line in priced), start=0),
        currency=channel.currency,
    )
    return _Capture(
        channel=channel,
        customer=customer,
        external_id=external_id or None,
        delivery_method=method,
        service_level=service_level,
        pickup_location=pickup_location,
        ship_to=ship_to,
        lines=priced,
        totals=order_totals(lines=priced, shipping=shipping, currency=channel.currency),
        payment_method=payment_method,
        payment_reference=payment_reference,
        sku_by_line={number: sku for number, sku, _ in requested},
    )


@dataclass(frozen=True, slots=True)
class _Authorization:
    status: str
    gateway_reference: str = ""


def _authorize_payment(capture: _Capture, *, idempotency_key: str | None) -> _Authorization:
    if capture.payment_method not in GATEWAY_METHODS:
        return _Authorization(status=Payment.Status.PENDING)
    result = get_gateway().authorize(
        amount=capture.totals.total,
        method=capture.payment_method,
        reference=capture.payment_reference,
        idempotency_key=idempotency_key or capture.payment_reference,
    )
    if not result.approved:
        raise PaymentDeclined(result.decline_reason or "Payment was declined.", field="payment")
    return _Authorization(
        status=Payment.Status.AUTHORIZED, gateway_reference=result.gateway_reference
    )


def _void_authorization(authorization: _Authorization) -> None:
    if authorization.gateway_reference:
        try:
            get_gateway().void(gateway_reference=authorization.gateway_reference)
        except Exception:  # the provider expires it anyway; never mask the real error
            logger.exception("Could not void authorization %s", authorization.gateway_reference)


def _find_or_create_customer(data: dict[str, str]) -> Customer:
    email = data["email"].strip()
    customer = Customer.objects.filter(email__iexact=email).first()
    if customer is not None:
        return customer
    try:
        with transaction.atomic():
            return Customer.objects.create(
                email=email,
                first_name=(data.get("first_name") or "").strip(),
                last_name=(data.get("last_name") or "").strip(),
                phone=(data.get("phone") or "").strip(),
            )
    except IntegrityError:  # the same new customer ordering twice at once
        return Customer.objects.get(email__iexact=email)


def _shortfall_problem(capture: _Capture, plan: AllocationPlan) -> InsufficientStock:
    """409 body: what each short line asked for and how many units the plan could give it.

    "Available" is what the sourcing rules can really deliver (locations allowed to ship, the
    shipment limit), not the network's raw stock: a storefront offers the customer that number.
    """
    short = [
        {
            "field": f"lines[{line.line_number - 1}].quantity",
            "sku": line.sku_code,
            "requested": line.quantity,
            "available": max(line.quantity - plan.shortfalls[line.line_number], 0),
        }
        for line in capture.lines
        if line.line_number in plan.shortfalls
    ]
    skus = ", ".join(item["sku"] for item in short)
    return InsufficientStock(f"Not enough stock for {skus}.", lines=short)


@retry_transient
@transaction.atomic
def _capture_in_transaction(
    capture: _Capture,
    *,
    authorization: _Authorization,
    idempotency_key: str | None,
    request_hash: str | None,
    actor: Any,
) -> PlaceOrderResult:
    channel = capture.channel
    claim = None
    if idempotency_key:
        # Claiming the key first makes a concurrent duplicate wait here, before it touches
        # stock, until this transaction ends; it then replays our order.
        try:
            with transaction.atomic():
                claim = IdempotencyKey.objects.create(
                    channel=channel, key=idempotency_key, request_hash=request_hash or ""
                )
        except IntegrityError:
            replay = _replay(channel=channel, key=idempotency_key, request_hash=request_hash or "")
            if replay is None:  # the holder rolled back between our insert and our read
                raise DomainError(
                    "A request with this Idempotency-Key is in flight; retry shortly.",
                    code="request_in_flight",
                ) from None
            return replay

    if (
        capture.external_id
        and Order.objects.filter(channel=channel, external_id=capture.external_id).exists()
    ):
        raise DomainError(
            f"Channel {channel.code} already has an order with external id "
            f"{capture.external_id!r}.",
            code="duplicate_external_id",
            field="external_id",
        )

    planner = get_planner()
    context = CaptureContext(
        channel=channel,
        lines=tuple(capture.lines),
        delivery_method=capture.delivery_method,
        service_level=capture.service_level,
        ship_to=capture.ship_to,
        pickup_location=capture.pickup_location,
        ordered_at=timezone.now(),
    )
    decided = planner.plan(context)
    plan = decided.allocation
    if plan.shortfalls and decided.backorder_policy == "refuse":
        raise _shortfall_problem(capture, plan)

    customer = _find_or_create_customer(capture.customer)
    totals = capture.totals
    order = Order.objects.create(
        channel=channel,
        external_id=capture.external_id,
        customer=customer,
        status=Order.Status.BACKORDERED if plan.shortfalls else Order.Status.PLACED,
        currency=channel.currency,
        delivery_method=capture.delivery_method,
        service_level=capture.service_level,
        ship_to=capture.ship_to,
        pickup_location=capture.pickup_location,
        subtotal_amount=totals.subtotal.amount,
        discount_amount=totals.discount.amount,
        tax_amount=totals.tax.amount,
        shipping_amount=totals.shipping.amount,
        total_amount=totals.total.amount,
        promised_date=decided.promised_date,
        placed_at=context.ordered_at,
    )
    order.number = NUMBER_FORMAT.format(order.pk)
    Order.objects.filter(pk=order.pk).update(number=order.number)

    order_lines = OrderLine.objects.bulk_create(
        [
            OrderLine(
                order=order,
                line_number=line.line_number,
                sku_id=line.sku_id,
                sku_code=line.sku_code,
                name=line.name,
                quantity=line.quantity,
                quantity_backordered=plan.shortfalls.get(line.line_number, 0),
                unit_price_amount=line.unit_price.amount,
                line_total_amount=line.line_total.amount,
                tax_amount=line.tax.amount,
            )
            for line in capture.lines
        ]
    )
    latest = {"plan": decided}

    def replan() -> AllocationPlan:
        latest["plan"] = planner.plan(context)
        return latest["plan"].allocation

    applied = reserve_stock(
        lines=context.demands,
        order_line_ids={line.line_number: line.pk for line in order_lines},
        plan=plan,
        replan=replan,
    )
    if applied is not plan:
        decided = latest["plan"]
        decided.allocation = applied
        _settle_replanned(order, capture, decided, order_lines)

    payment = Payment.objects.create(
        order=order,
        method=capture.payment_method,
        status=authorization.status,
        amount=totals.total.amount,
        currency=order.currency,
        reference=capture.payment_reference,
        gateway_reference=authorization.gateway_reference,
    )
    _record_capture_events(order, capture, decided, payment, actor)
    outbox.record(
        topic="order.placed",
        aggregate_id=order.pk,
        payload={"order": order.number, "channel": channel.code, "status": order.status},
    )
    if claim is not None:
        IdempotencyKey.objects.filter(pk=claim.pk).update(order=order)
    return PlaceOrderResult(order=order)


def _settle_replanned(order, capture, decided: CapturePlan, order_lines) -> None:
    """A concurrent capture took units between snapshot and lock; the re-plan decides."""
    applied = decided.allocation
    if applied.shortfalls and decided.backorder_policy == "refuse":
        raise _shortfall_problem(capture, applied)
    for line in order_lines:
        line.quantity_backordered = applied.shortfalls.get(line.line_number, 0)
    OrderLine.objects.bulk_update(order_lines, ["quantity_backordered"])
    order.promised_date = decided.promised_date
    order.save(update_fields=["promised_date", "updated_at"])
    settled = Order.Status.BACKORDERED if applied.shortfalls else Order.Status.PLACED
    if order.status != settled:
        transition(order, settled, note="stock taken by a concurrent order; re-planned")


def _record_capture_events(order, capture, decided: CapturePlan, payment, actor) -> None:
    plan = decided.allocation
    actor_fields = actor_fields_of(actor)
    codes = {line.line_number: line.sku_code for line in capture.lines}
    events = [
        OrderEvent(
            order=order,
            kind=OrderEvent.Kind.PLACED,
            message=(
                f"Order placed on {capture.channel.code}: {len(capture.lines)} line(s), "
                f"total {capture.totals.total}."
            ),
            data={"status": order.status},
            **actor_fields,
        ),
        OrderEvent(
            order=order,
            kind=OrderEvent.Kind.PAYMENT,
            message=f"{payment.get_method_display()} {payment.get_status_display().lower()} "
            f"for {payment.amount} {payment.currency}.",
            data={"payment": payment.pk, "status": payment.status},
            **actor_fields,
        ),
    ]
    if plan.allocations:
        events.append(reservation_event(order=order, plan=plan, sku_codes=codes, actor=actor))
    if plan.shortfalls:
        events.append(
            OrderEvent(
                order=order,
                kind=OrderEvent.Kind.NOTE,
                message="Backordered "
                + ", ".join(f"{q} × {codes[n]}" for n, q in sorted(plan.shortfalls.items()))
                + ".",
                data={"backordered": {str(n): q for n, q in plan.shortfalls.items()}},
                **actor_fields,
            )
        )
    events.append(
        OrderEvent(
            order=order,
            kind=OrderEvent.Kind.SOURCED,
            message=" ".join(decided.explanation) or "Sourced by the default allocation.",
            data={
                "backorder_policy": decided.backorder_policy,
                "shipments": decided.shipments,
                "explanation": decided.explanation,
            },
            **actor_fields,
        )
    )
    for event in events:
        event.message = fit_event_message(event.message)
    OrderEvent.objects.bulk_create(events)


# --- After capture -------------------------------------------------------------------------


def _locked(order: Order) -> Order:
    return Order.objects.select_for_update(of=("self",)).select_related("channel").get(pk=order.pk)


@transaction.atomic
def cancel_order(*, order: Order, actor: Any = None, reason: str = "") -> Order:
    """Cancel the whole order and give its stock back; cancelling twice is harmless."""
    order = _locked(order)
    if order.status == Order.Status.CANCELLED:
        return order
    if order.status not in CANCELLABLE:
        raise IllegalTransition(
            f"Order {order.number} is {Order.Status(order.status).label.lower()} and can no "
            "longer be cancelled.",
            status=order.status,
        )
    line_ids = list(order.lines.values_list("pk", flat=True))
    released = release_reservations(order_line_ids=line_ids)
    order.lines.update(quantity_cancelled=F("quantity"), quantity_backordered=0)
    transition(order, Order.Status.CANCELLED, actor=actor, note=reason)
    if released:
        record_event(
            order=order,
            kind=OrderEvent.Kind.STOCK_RELEASED,
            message=f"Released {released} reserved unit(s).",
            actor=actor,
            data={"units": released},
        )
    for payment in order.payments.select_for_update().filter(
        status__in=[Payment.Status.AUTHORIZED, Payment.Status.PENDING]
    ):
        transition_payment(payment, Payment.Status.VOIDED)
        if payment.gateway_reference:
            from orders.tasks import void_payment_authorization

            enqueue_on_commit(void_payment_authorization, payment.pk)
        record_event(
            order=order,
            kind=OrderEvent.Kind.PAYMENT,
            message=f"{payment.get_method_display()} voided ({payment.amount} {payment.currency}).",
            actor=actor,
            data={"payment": payment.pk, "status": payment.status},
        )
    outbox.record(
        topic="order.cancelled",
        aggregate_id=order.pk,
        payload={"order": order.number, "channel": order.channel.code, "reason": reason},
    )
    return order


@transaction.atomic
def place_hold(*, order: Order, reason: str, note: str = "", actor: Any = None) -> OrderHold:
    """Stop an order from progressing (fraud review, address check, ...) until released."""
    if reason not in OrderHold.Reason.values:
        raise InvalidInput({"reason": f"Unknown hold reason {reason!r}."})
    order = _locked(order)
    if order.status not in HOLDABLE:
        raise IllegalTransition(
            f"Order {order.number} is {Order.Status(order.status).label.lower()}; "
            "it can no longer be held.",
            status=order.status,
        )
    user = actor_fields_of(actor)["actor"]
    hold = OrderHold.objects.create(order=order, reason=reason, note=note, placed_by=user)
    if not order.is_on_hold:
        order.is_on_hold = True
        order.save(update_fields=["is_on_hold", "updated_at"])
    record_event(
        order=order,
        kind=OrderEvent.Kind.HOLD_PLACED,
        message=f"Hold placed: {hold.get_reason_display()}" + (f" — {note}" if note else ""),
        actor=actor,
        data={"hold": hold.pk, "reason": reason},
    )
    return hold


@transaction.atomic
def release_hold(*, hold: OrderHold, actor: Any = None, note: str = "") -> OrderHold:
    order = _locked(hold.order)
    hold = OrderHold.objects.select_for_update().get(pk=hold.pk)
    if hold.released_at is not None:
        return hold
    hold.released_at = timezone.now()
    hold.released_by = actor_fields_of(actor)["actor"]
    hold.save(update_fields=["released_at", "released_by"])
    still_held = order.holds.filter(released_at__isnull=True).exists()
    if order.is_on_hold != still_held:
        order.is_on_hold = still_held
        order.save(update_fields=["is_on_hold", "updated_at"])
        # Work that waited for the hold (fulfillment orders not yet released) may go now.
        outbox.record(topic="order.hold_released", aggregate_id=order.pk, payload={})
    record_event(
        order=order,
        kind=OrderEvent.Kind.HOLD_RELEASED,
        message=f"Hold released: {hold.get_reason_display()}" + (f" — {note}" if note else ""),
        actor=actor,
        data={"hold": hold.pk},
    )
    return hold


@transaction.atomic
def release_all_holds(*, order: Order, actor: Any = None, note: str = "") -> int:
    holds = list(order.holds.filter(released_at__isnull=True))
    for hold in holds:
        release_hold(hold=hold, actor=actor, note=note)
    return len(holds)


@transaction.atomic
def capture_payment(*, order: Order, amount, actor: Any = None) -> Payment | None:
    """Capture up to `amount` of the order's open payment (at shipment, for what shipped).

    Partial captures split the payment: the captured part becomes its own row, the rest stays
    authorized for the next shipment. The gateway call runs after commit.
    """
    payment = (
        order.payments.select_for_update()
        .filter(status__in=[Payment.Status.AUTHORIZED, Payment.Status.PENDING])
        .order_by("id")
        .first()
    )
    if payment is None or amount <= 0:
        return None
    amount = min(amount, payment.amount)
    if amount < payment.amount:
        Payment.objects.create(
            order=order,
            method=payment.method,
            status=payment.status,
            amount=payment.amount - amount,
            currency=payment.currency,
            reference=payment.reference,
            gateway_reference=payment.gateway_reference,
        )
        payment.amount = amount
        payment.save(update_fields=["amount", "updated_at"])
    if payment.status == Payment.Status.PENDING:
        # Cash on delivery and bank transfers are collected outside the gateway; shipping
        # does not capture them.
        return None
    transition_payment(payment, Payment.Status.CAPTURED)
    if payment.gateway_reference:
        from orders.tasks import capture_payment_at_gateway

        enqueue_on_commit(capture_payment_at_gateway, payment.pk)
    record_event(
        order=order,
        kind=OrderEvent.Kind.PAYMENT,
        message=f"{payment.get_method_display()} captured {payment.amount} {payment.currency}.",
        actor=actor,
        data={"payment": payment.pk, "status": payment.status},
    )
    return payment


# --- Changes after capture -----------------------------------------------------------------
# The order's side of a change during fulfillment. fulfillment.changes drives a change (it
# cancels the fulfillment orders it touches and gives their stock back) and calls these with
# the order's row lock held, inside its transaction.

# Until goods leave, an order can be changed; afterwards only returns change it. A pickup
# order waiting at the store can still be cancelled, not changed.
CHANGEABLE = {Order.Status.PLACED, Order.Status.BACKORDERED, Order.Status.RELEASED}


def validate_line_changes(
    *, order: Order, changes: Any, lines: list[OrderLine] | None = None
) -> dict[int, int]:
    """line_number → units still wanted, for each line the change lowers.

    `changes` is [{"line_number", "quantity"}] with the quantity the customer now wants (0
    cancels the line). Asking for what the line already has is not an error and not a change,
    so a retried request is harmless. More than the line has is refused: an increase needs
    stock, a price and a payment, which is a new order.
    """
    if not isinstance(changes, list | tuple) or not changes:
        raise InvalidInput({"lines": "List at least one line to change."})
    by_number = {line.line_number: line for line in (lines or order.lines.all())}
    errors: dict[str, list[str]] = {}
    wanted: dict[int, int] = {}
    seen: set[int] = set()
    for index, change in enumerate(changes):
        path = f"lines[{index}]"
        if not isinstance(change, dict):
            errors[path] = ["Send {line_number, quantity}."]
            continue
        number, quantity = change.get("line_number"), change.get("quantity")
        line = None
        if isinstance(number, bool) or not isinstance(number, int):
            errors[f"{path}.line_number"] = ["Give the line number as a whole number."]
        elif number not in by_number:
            errors[f"{path}.line_number"] = [f"Order {order.number} has no line {number}."]
        elif number in seen:
            errors[f"{path}.line_number"] = [f"Line {number} is listed twice."]
        else:
            line = by_number[number]
            seen.add(number)
        if isinstance(quantity, bool) or not isinstance(quantity, int):
            errors[f"{path}.quantity"] = ["Quantity must be a whole number."]
        elif quantity < 0:
            errors[f"{path}.quantity"] = ["Quantity cannot be negative; 0 cancels the line."]
        elif line is not None:
            remaining = line.quantity - line.quantity_cancelled
            if quantity > remaining:
                errors[f"{path}.quantity"] = [
                    f"Line {number} has {remaining} unit(s); a change can lower it, not raise "
                    "it. Place a new order for more."
                ]
            elif quantity < remaining:
                wanted[number] = quantity
    if errors:
        raise InvalidInput(errors)
    return wanted


def reduce_line_quantities(
    *,
    order: Order,
    quantities: dict[int, int],
    actor: Any = None,
    reason: str = "",
    lines: list[OrderLine] | None = None,
) -> dict[int, int]:
    """Lower lines to `quantities` (units still wanted); returns the units cancelled per line.

    The cancelled units come off the backorder first: those are the ones not on their way.
    The caller gives back the reservations of the cancelled units beyond that, in the same
    transaction. `lines`, when the caller has them, are updated in place.
    """
    if lines is None:
        lines = list(order.lines.order_by("line_number"))
    lines = [line for line in lines if line.line_number in quantities]
    cancelled: dict[int, int] = {}
    described = []
    for line in lines:
        remaining = line.quantity - line.quantity_cancelled
        units = remaining - quantities[line.line_number]
        if units <= 0:
            continue
        line.quantity_cancelled += units
        line.quantity_backordered = max(0, line.quantity_backordered - units)
        cancelled[line.line_number] = units
        described.append(
            f"line {line.line_number} ({line.sku_code}) {remaining} → {remaining - units}"
        )
    if not cancelled:
        return cancelled
    OrderLine.objects.bulk_update(lines, ["quantity_cancelled", "quantity_backordered"])
    record_event(
        order=order,
        kind=OrderEvent.Kind.NOTE,
        message="Order changed: "
        + ", ".join(described)
        + "."
        + (f" Reason: {reason}" if reason else ""),
        actor=actor,
        data={
            "change": "lines",
            "cancelled": {str(number): units for number, units in cancelled.items()},
            "reason": reason,
        },
    )
    return cancelled


def update_ship_to(
    *, order: Order, address: Any, actor: Any = None, reason: str = ""
) -> dict[str, str] | None:
    """Check and store a new ship-to address and reprice for it (tax follows the destination).

    Returns the stored address, or None when it is the address the order already has. Raises
    InvalidInput naming `ship_to.<field>` like capture names `delivery.address.<field>`.
    """
    if order.delivery_method != Order.DeliveryMethod.SHIP:
        location = order.pickup_location.code if order.pickup_location else "the store"
        raise InvalidInput(
            {"ship_to": f"Order {order.number} is collected at {location}; it is not shipped."}
        )
    ship_to, errors = clean_address(address, path="ship_to")
    if errors:
        raise InvalidInput(errors)
    if ship_to == order.ship_to:
        return None
    previous = order.ship_to
    order.ship_to = ship_to
    order.save(update_fields=["ship_to", "updated_at"])
    record_event(
        order=order,
        kind=OrderEvent.Kind.NOTE,
        message=f"Ship-to address changed to {format_address(ship_to)}."
        + (f" Reason: {reason}" if reason else ""),
        actor=actor,
        data={"change": "ship_to", "from": previous, "to": ship_to, "reason": reason},
    )
    reprice_order(
        order=order,
        tax_rate=tax_rate_for(country=ship_to.get("country", ""), region=ship_to.get("region", "")),
        actor=actor,
    )
    return ship_to


def format_address(address: dict[str, str]) -> str:
    parts = ("line1", "line2", "city", "region", "postal_code", "country")
    return ", ".join(address[part] for part in parts if address.get(part))


def reprice_order(
    *,
    order: Order,
    tax_rate: Decimal | None = None,
    actor: Any = None,
    lines: list[OrderLine] | None = None,
) -> Order:
    """Recompute the order's totals for the units it still has, and what the payment holds.

    Prices stay as captured. Each line keeps its amounts for the quantity ordered and what
    remains pays its share of them, the same share shipping captures (`unit price × units`,
    `line tax × units / quantity`). With `tax_rate` (a new destination) the lines' tax is
    recomputed at that rate first. Shipping is the service level's price for the weight that
    remains, never more than the customer was quoted. `lines` (with their SKUs), when the
    caller has them, save a query.
    """
    currency = order.currency
    if lines is None:
        lines = list(order.lines.select_related("sku").order_by("line_number"))
    if tax_rate is not None:
        retaxed = []
        for line in lines:
            tax = (Money(line.line_total_amount, currency) * tax_rate).amount
            if tax != line.tax_amount:
                line.tax_amount = tax
                retaxed.append(line)
        OrderLine.objects.bulk_update(retaxed, ["tax_amount"])
    remaining = []
    for line in lines:
        units = line.quantity - line.quantity_cancelled
        if units <= 0:
            continue
        unit_price = Money(line.unit_price_amount, currency)
        remaining.append(
            PricedLine(
                line_number=line.line_number,
                sku_id=line.sku_id,
                sku_code=line.sku_code,
                name=line.name,
                quantity=units,
                unit_price=unit_price,
                line_total=unit_price * units,
                tax=Money(line.tax_amount * units / line.quantity, currency),
                weight_kg=line.sku.weight_kg * units,
            )
        )
    shipping = Money.zero(currency)
    if remaining:
        shipping = min(
            shipping_price(
                service_level=order.service_level,
                weight_kg=sum((line.weight_kg for line in remaining), start=Decimal("0")),
                currency=currency,
            ),
            Money(order.shipping_amount, currency),
        )
    totals = order_totals(lines=remaining, shipping=shipping, currency=currency)
    if order.discount_amount and order.subtotal_amount:
        # A discount shrinks with the goods it was given on.
        discount = Money(
            order.discount_amount * totals.subtotal.amount / order.subtotal_amount, currency
        )
        totals = Totals(
            subtotal=totals.subtotal,
            discount=discount,
            tax=totals.tax,
            shipping=totals.shipping,
            total=totals.subtotal - discount + totals.tax + totals.shipping,
        )
    before = {
        "subtotal": str(order.subtotal_amount),
        "discount": str(order.discount_amount),
        "tax": str(order.tax_amount),
        "shipping": str(order.shipping_amount),
        "total": str(order.total_amount),
    }
    after = {
        "subtotal": str(totals.subtotal.amount),
        "discount": str(totals.discount.amount),
        "tax": str(totals.tax.amount),
        "shipping": str(totals.shipping.amount),
        "total": str(totals.total.amount),
    }
    if before != after:
        order.subtotal_amount = totals.subtotal.amount
        order.discount_amount = totals.discount.amount
        order.tax_amount = totals.tax.amount
        order.shipping_amount = totals.shipping.amount
        order.total_amount = totals.total.amount
        order.save(
            update_fields=[
                "subtotal_amount",
                "discount_amount",
                "tax_amount",
                "shipping_amount",
                "total_amount",
                "updated_at",
            ]
        )
        record_event(
            order=order,
            kind=OrderEvent.Kind.NOTE,
            message=f"Totals recomputed: total {before['total']} → {after['total']} {currency} "
            f"(subtotal {after['subtotal']}, tax {after['tax']}, shipping {after['shipping']}).",
            actor=actor,
            data={"before": before, "after": after},
        )
    _settle_open_payments(order, actor)
    return order


def _settle_open_payments(order: Order, actor: Any) -> None:
    """Make the payments still open hold exactly what the order has yet to collect.

    Less is due: the authorization is lowered on our side; the provider releases what is
    never captured when the authorization is captured or lapses, so no gateway call is
    needed (and a void would drop the whole authorization). More is due (a new address with a
    higher tax): cash on delivery and bank transfer simply ask for more, a card or PayPal
    authorization cannot grow, so the change is refused.
    """
    open_payments = list(
        order.payments.select_for_update()
        .filter(status__in=[Payment.Status.AUTHORIZED, Payment.Status.PENDING])
        .order_by("id")
    )
    if not open_payments:
        return
    collected = order.payments.filter(
        status__in=[Payment.Status.CAPTURED, Payment.Status.REFUNDED]
    ).aggregate(total=Sum("amount"))["total"] or Decimal("0")
    due = max(order.total_amount - collected, Decimal("0"))
    held = sum((payment.amount for payment in open_payments), start=Decimal("0"))
    if held == due:
        return
    if held < due:
        pending = [p for p in open_payments if p.status == Payment.Status.PENDING]
        if not pending:
            raise DomainError(
                f"The change raises what order {order.number} costs to {order.total_amount} "
                f"{order.currency}, more than the {held} {order.currency} the payment "
                "authorized. Cancel and place a new order instead.",
                code="payment_insufficient",
                authorized=str(held),
                total=str(order.total_amount),
            )
        changed = [(pending[-1], pending[-1].amount, pending[-1].amount + due - held)]
    else:
        changed = []
        excess = held - due
        for payment in reversed(open_payments):  # the newest part is released first
            cut = min(excess, payment.amount)
            if cut:
                changed.append((payment, payment.amount, payment.amount - cut))
                excess -= cut
    for payment, old_amount, new_amount in changed:
        if new_amount:
            payment.amount = new_amount
            payment.save(update_fields=["amount", "updated_at"])
        else:
            # Nothing of this part is due any more. It may share the provider's authorization
            # with another part (a split at a partial capture), so no void goes to the gateway.
            transition_payment(payment, Payment.Status.VOIDED)
        record_event(
            order=order,
            kind=OrderEvent.Kind.PAYMENT,
            message=f"{payment.get_method_display()} amount changed from {old_amount} to "
            f"{new_amount} {payment.currency} after the order changed.",
            actor=actor,
            data={
                "payment": payment.pk,
                "status": payment.status,
                "from": str(old_amount),
                "to": str(new_amount),
            },
        )
