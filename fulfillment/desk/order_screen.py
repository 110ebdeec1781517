"""The Order screen: status, lines, shipments with tracking, payments, holds and the timeline,
and the changes an agent may make in the order's current state.

Only the actions the state allows are shown (`allowed_actions`); each posts to its own URL,
calls the service (fulfillment.changes for cancel / lines / address, orders.services for
holds), which writes the timeline event, and redirects back here (POST/redirect/GET). A
refusal re-renders the page with the error beside the field and nothing written.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import messages
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from fulfillment.changes import cancel_order_with_fulfillment, change_order_lines, change_ship_to
from fulfillment.desk import selectors
from fulfillment.desk.order_forms import (
    CancelOrderForm,
    HoldForm,
    LineChangeForm,
    ReleaseHoldForm,
    ShipToChangeForm,
    apply_service_errors,
)
from fulfillment.desk.permissions import desk_permission_required
from fulfillment.models import FulfillmentOrder, Package
from oms.core.errors import DomainError
from orders.models import CANCELLABLE, HOLDABLE, Order, OrderEvent, OrderHold, OrderLine, Payment
from orders.services import CHANGEABLE, place_hold, release_hold

ORDER_VIEW_PERMISSIONS = (
    "orders.view_order",
    "orders.view_orderline",
    "orders.view_payment",
    "orders.view_orderhold",
    "orders.view_orderevent",
    "fulfillment.view_fulfillmentorder",
)
ORDER_CHANGE_PERMISSIONS = ("orders.view_order", "orders.change_order")
SHIP_TO_FIELDS = ("recipient", "line1", "line2", "city", "region", "postal_code", "country")


# --- Reading -------------------------------------------------------------------------------


def _orders():
    """An order with everything the screen shows: a fixed number of queries."""
    return Order.objects.select_related(
        "channel", "customer", "service_level", "pickup_location"
    ).prefetch_related(
        Prefetch("lines", queryset=OrderLine.objects.order_by("line_number")),
        Prefetch("payments", queryset=Payment.objects.order_by("id")),
        Prefetch(
            "events",
            queryset=OrderEvent.objects.select_related("actor").order_by("-created_at", "-id"),
        ),
        Prefetch(
            "holds",
            queryset=OrderHold.objects.select_related("placed_by").order_by("-placed_at", "-id"),
        ),
        # Reverse relation of this app's own model: fulfillment may read orders' rows.
        Prefetch(
            "fulfillment_orders",
            queryset=FulfillmentOrder.objects.select_related(
                "location", "destination_location", "carrier", "carrier_service__carrier"
            )
            .prefetch_related(
                "lines", Prefetch("packages", queryset=Package.objects.select_related("carrier"))
            )
            .order_by("id"),
        ),
    )


def _load(number: str) -> Order:
    return get_object_or_404(_orders(), number=number.upper())


@dataclass(frozen=True, slots=True)
class AllowedActions:
    cancel: bool = False
    change_lines: bool = False
    change_address: bool = False
    hold: bool = False
    release: bool = False


def allowed_actions(order: Order, user) -> AllowedActions:
    """What the agent may do to the order now. The services refuse the rest anyway; this
    keeps the screen from offering what would be refused."""
    if not user.has_perm("orders.change_order"):
        return AllowedActions()
    changeable = order.status in CHANGEABLE
    return AllowedActions(
        cancel=order.status in CANCELLABLE,
        change_lines=changeable,
        change_address=changeable and order.delivery_method == Order.DeliveryMethod.SHIP,
        hold=order.status in HOLDABLE,
        release=True,
    )


@dataclass(frozen=True, slots=True)
class Tracking:
    number: str
    carrier: str
    url: str


@dataclass(frozen=True, slots=True)
class Shipment:
    fulfillment: FulfillmentOrder
    items: list[tuple[str, int]]
    tracking: list[Tracking]
    carrier: str


def _shipments(order: Order, lines: list[OrderLine]) -> list[Shipment]:
    codes = {line.pk: line.sku_code for line in lines}
    shipments = []
    for fulfillment in order.fulfillment_orders.all():
        carrier = fulfillment.carrier or (
            fulfillment.carrier_service.carrier if fulfillment.carrier_service else None
        )
        tracking: dict[str, Tracking] = {}
        numbered = [(fulfillment.tracking_number, carrier)] + [
            (package.tracking_number, package.carrier or carrier)
            for package in fulfillment.packages.all()
        ]
        for number, by in numbered:
            if number and number not in tracking:
                tracking[number] = Tracking(
                    number, by.name if by else "", by.tracking_url(number) if by else ""
                )
        shipments.append(
            Shipment(
                fulfillment=fulfillment,
                items=[
                    (codes.get(fl.order_line_id, "?"), fl.quantity)
                    for fl in fulfillment.lines.all()
                ],
                tracking=list(tracking.values()),
                carrier=carrier.name if carrier else "",
            )
        )
    return shipments


def _actor(event: OrderEvent) -> str:
    if event.actor is not None:
        return event.actor.get_full_name() or event.actor.get_username()
    return event.actor_label or "system"


def _render(request: HttpRequest, order: Order, **bound) -> HttpResponse:
    """The screen; `bound` holds a refused action's form (by slot name) to show its errors."""
    actions = allowed_actions(order, request.user)
    lines = list(order.lines.all())
    rows = []
    for line in lines:
        remaining = line.quantity - line.quantity_cancelled
        form = None
        if actions.change_lines and remaining > 0:
            form = bound.get(f"line_{line.line_number}") or LineChangeForm(
                prefix=f"line-{line.line_number}", initial={"quantity": remaining}
            )
        rows.append((line, remaining, form))
    active_holds = [hold for hold in order.holds.all() if hold.released_at is None]
    release_forms = [
        (hold, bound.get(f"release_{hold.pk}") or ReleaseHoldForm(prefix=f"hold-{hold.pk}"))
        for hold in active_holds
    ]
    shown = {
        "cancel": actions.cancel,
        "address": actions.change_address,
        "hold": actions.hold,
        **{f"line_{line.line_number}": form is not None for line, _, form in rows},
        **{f"release_{hold.pk}": actions.release for hold in active_holds},
    }
    for slot, form in bound.items():
        if not shown.get(slot):
            # The order moved on since the page was shown: say why instead of a hidden form.
            for errors in form.errors.values():
                for error in errors:
                    messages.error(request, error)
    events = [(event, _actor(event)) for event in order.events.all()]
    return render(
        request,
        "desk/order.html",
        {
            "order": order,
            "customer": order.customer,
            "rows": rows,
            "payments": list(order.payments.all()),
            "shipments": _shipments(order, lines),
            "events": events,
            # Read-only here: staff act on alerts in the admin; the agent tells the customer.
            "alerts": selectors.live_alerts(order)
            if request.user.has_perm("fulfillment.view_jeopardyalert")
            else [],
            "active_holds": active_holds,
            "release_forms": release_forms,
            "actions": actions,
            "cancel_form": bound.get("cancel") or CancelOrderForm(prefix="cancel"),
            "address_form": bound.get("address")
            or ShipToChangeForm.for_ship_to(order.ship_to or {}),
            "hold_form": bound.get("hold") or HoldForm(prefix="hold"),
        },
    )


@require_GET
@desk_permission_required(*ORDER_VIEW_PERMISSIONS)
def order_detail(request: HttpRequest, number: str) -> HttpResponse:
    return _render(request, _load(number))


# --- Actions -------------------------------------------------------------------------------


def _done(request: HttpRequest, order: Order, message: str) -> HttpResponse:
    messages.success(request, message)
    return redirect("desk:order", number=order.number)


@require_POST
@desk_permission_required(*ORDER_CHANGE_PERMISSIONS)
def order_cancel(request: HttpRequest, number: str) -> HttpResponse:
    order = _load(number)
    form = CancelOrderForm(request.POST, prefix="cancel")
    if form.is_valid():
        try:
            cancel_order_with_fulfillment(
                order_id=order.pk, actor=request.user, reason=form.cleaned_data["reason"]
            )
        except DomainError as error:
            apply_service_errors(form, error)
        else:
            return _done(request, order, f"Order {order.number} cancelled.")
    return _render(request, _load(number), cancel=form)


@require_POST
@desk_permission_required(*ORDER_CHANGE_PERMISSIONS)
def order_line(request: HttpRequest, number: str, line_number: int) -> HttpResponse:
    """Change a line's quantity (lower only), or cancel it ("cancel_line": quantity 0)."""
    order = _load(number)
    line = next((line for line in order.lines.all() if line.line_number == line_number), None)
    prefix = f"line-{line_number}"
    data = request.POST.copy()
    if request.POST.get("command") == "cancel_line":
        data[f"{prefix}-quantity"] = "0"
    form = LineChangeForm(data, prefix=prefix)
    if line is None:
        form.add_error(None, f"Order {order.number} has no line {line_number}.")
    elif form.is_valid():
        quantity = form.cleaned_data["quantity"]
        remaining = line.quantity - line.quantity_cancelled
        try:
            change_order_lines(
                order.pk,
                [{"line_number": line_number, "quantity": quantity}],
                actor=request.user,
                reason=form.cleaned_data["reason"],
            )
        except DomainError as error:
            apply_service_errors(form, error, rename={"lines[0].quantity": "quantity"})
        else:
            if quantity == remaining:
                message = f"Line {line_number} already has {quantity}; nothing changed."
            elif Order.objects.filter(pk=order.pk, status=Order.Status.CANCELLED).exists():
                message = (
                    f"Line {line_number} cancelled; nothing is left, so the order is cancelled."
                )
            elif quantity == 0:
                message = f"Line {line_number} ({line.sku_code}) cancelled."
            else:
                message = f"Line {line_number} ({line.sku_code}) changed to {quantity}."
            return _done(request, order, message)
    return _render(request, _load(number), **{f"line_{line_number}": form})


@require_POST
@desk_permission_required(*ORDER_CHANGE_PERMISSIONS)
def order_address(request: HttpRequest, number: str) -> HttpResponse:
    order = _load(number)
    form = ShipToChangeForm(request.POST)
    if form.is_valid():
        address = {
            name: str(form.cleaned_data[name])
            for name in SHIP_TO_FIELDS
            if form.cleaned_data.get(name)
        }
        try:
            change_ship_to(
                order.pk, address, actor=request.user, reason=form.cleaned_data["reason"]
            )
        except DomainError as error:
            apply_service_errors(form, error, prefix="ship_to.")
        else:
            return _done(request, order, "Ship-to address changed.")
    return _render(request, _load(number), address=form)


@require_POST
@desk_permission_required(*ORDER_CHANGE_PERMISSIONS)
def order_hold(request: HttpRequest, number: str) -> HttpResponse:
    order = _load(number)
    form = HoldForm(request.POST, prefix="hold")
    if form.is_valid():
        try:
            hold = place_hold(
                order=order,
                reason=form.cleaned_data["reason"],
                note=form.cleaned_data["note"],
                actor=request.user,
            )
        except DomainError as error:
            apply_service_errors(form, error)
        else:
            return _done(request, order, f"Hold placed: {hold.get_reason_display()}.")
    return _render(request, _load(number), hold=form)


@require_POST
@desk_permission_required(*ORDER_CHANGE_PERMISSIONS)
def order_hold_release(request: HttpRequest, number: str, hold_pk: int) -> HttpResponse:
    order = _load(number)
    hold = get_object_or_404(OrderHold, pk=hold_pk, order=order)
    form = ReleaseHoldForm(request.POST, prefix=f"hold-{hold.pk}")
    if form.is_valid():
        try:
            release_hold(hold=hold, actor=request.user, note=form.cleaned_data["note"])
        except DomainError as error:
            apply_service_errors(form, error)
        else:
            return _done(request, order, f"Hold released: {hold.get_reason_display()}.")
    return _render(request, _load(number), **{f"release_{hold.pk}": form})
