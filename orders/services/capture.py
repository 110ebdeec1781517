"""Capture: validate, price and place an order in one transaction, idempotently."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from customers.models import Customer
from customers.selectors import matching_email
from inventory.allocation import AllocationPlan
from inventory.models import SKU, Location
from inventory.services import reserve_stock
from oms.core import hotpath, outbox
from oms.core.db import retry_transient
from oms.core.errors import (
    DomainError,
    IdempotencyKeyReused,
    InsufficientStock,
    InvalidInput,
    PaymentDeclined,
)
from orders.models import (
    IdempotencyKey,
    Order,
    OrderEvent,
    OrderLine,
    Payment,
    SalesChannel,
    ServiceLevel,
)
from orders.payments import get_gateway
from orders.planning import CaptureContext, CapturePlan, get_planner
from orders.pricing import (
    PricedLine,
    order_totals,
    price_lines,
    shipping_price,
    tax_rate_for,
)
from orders.services.events import (
    actor_fields_of,
    fit_event_message,
    reservation_event,
    transition,
)

logger = logging.getLogger(__name__)


NUMBER_FORMAT = "SO-{:06d}"
GATEWAY_METHODS = {Payment.Method.CARD, Payment.Method.PAYPAL}


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
    # Almost every key is new: read the key's own row (by hand, as every capture does), and
    # its order only on a replay.
    existing = next(iter(hotpath.fetch(IdempotencyKey, "key", [key], channel_id=channel.pk)), None)
    if existing is None:
        return None
    if existing.request_hash != request_hash:
        raise IdempotencyKeyReused(
            "This Idempotency-Key was already used with a different request body.",
            idempotency_key=key,
        )
    order = None
    if existing.order_id is not None:
        order = Order.objects.select_related("channel").get(pk=existing.order_id)
    return PlaceOrderResult(order=order, replayed=True)


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
    # hotpath.fetch: filter(code__in=…) without the query compiler, as for the service level
    # and store below; every capture reads them.
    skus = {sku.code: sku for sku in hotpath.fetch(SKU, "code", codes)}
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
        levels = hotpath.fetch(ServiceLevel, "code", [str(code)])
        service_level = next((level for level in levels if level.is_active), None)
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
        pickup_location = next(iter(hotpath.fetch(Location, "code", [str(code)])), None)
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
    customer = matching_email(Customer.objects.order_by(), email).first()
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
        return matching_email(Customer.objects.all(), email).get()


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
        claim = IdempotencyKey(
            channel=channel, key=idempotency_key, request_hash=request_hash or ""
        )
        if not hotpath.insert_unless_conflict(claim):
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
    order = Order(
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
    # hotpath: the ORM's create, bulk_create and update at a third of their CPU (nothing
    # listens to these models' signals); capture writes eight times per order.
    hotpath.insert([order])
    order.number = NUMBER_FORMAT.format(order.pk)
    hotpath.update(order, ["number"])

    order_lines = [
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
    hotpath.insert(order_lines)
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

    payment = Payment(
        order=order,
        method=capture.payment_method,
        status=authorization.status,
        amount=totals.total.amount,
        currency=order.currency,
        reference=capture.payment_reference,
        gateway_reference=authorization.gateway_reference,
    )
    hotpath.insert([payment])
    _record_capture_events(order, capture, decided, payment, actor)
    outbox.record(
        topic="order.placed",
        aggregate_id=order.pk,
        payload={"order": order.number, "channel": channel.code, "status": order.status},
    )
    if claim is not None:
        claim.order = order
        hotpath.update(claim, ["order"])
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
    hotpath.insert(events)
