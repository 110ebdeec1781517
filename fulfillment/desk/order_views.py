"""New order: an agent enters an order for a found (or just created) customer.

One form holds the whole order. Without JavaScript every button posts it back here and the
page comes back recomputed (Enter in the SKU box adds that SKU). With htmx the SKU box asks
`order_sku_search` as the agent types, and every change posts the form to `order_quote`,
which answers only the parts that change (availability per line, delivery options, totals)
as out-of-band swaps, so what the agent is typing is never replaced.

Submitting places the order through `orders.services.place_order` on the call-center
channel with the form's own idempotency key: a second submit of the same form (double click,
back button) finds the order the first one placed. Before that, the same planner capture uses
checks the stock; a shortfall shows the alternatives (what is there, backorder, another
store) and writes nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from customers import services as customer_services
from customers.models import Address, Customer
from fulfillment.desk import order_customer
from fulfillment.desk.order_entry import (
    Delivery,
    Draft,
    call_center_channel,
    exact_sku,
    quote,
    search_skus,
)
from fulfillment.desk.order_forms import (
    IDEMPOTENCY_KEY,
    NEW_ADDRESS,
    LineFormSet,
    OrderEntryForm,
    ShipToAddressForm,
    new_idempotency_key,
)
from fulfillment.desk.permissions import desk_permission_required
from fulfillment.desk.stock_check import StockCheck, check_stock
from oms.core.errors import (
    DomainError,
    IdempotencyKeyReused,
    InsufficientStock,
    InvalidInput,
    PaymentDeclined,
)
from orders.models import IdempotencyKey, Order, SalesChannel
from orders.services import place_order

NEW_ORDER_PERMISSIONS = (
    "orders.add_order",
    "customers.view_customer",
    "customers.view_address",
    "inventory.view_sku",
    "inventory.view_stocklevel",
)
ADDRESS_FIELDS = ("recipient", "line1", "line2", "city", "region", "postal_code", "country")
ADDRESS_REQUIRED = ("line1", "city", "postal_code", "country")


# --- What the form holds -------------------------------------------------------------------


@dataclass(slots=True)
class Entry:
    """The New order form's values as typed (strings), read leniently from a POST so any
    state can be shown again; the bound forms do the strict checking on submit."""

    values: dict[str, str]
    address: dict[str, str]
    lines: list[dict[str, str]] = field(default_factory=list)
    # Where the cursor goes on the page that comes back: the line just added (its quantity),
    # or a part of the form ("sku_query", "delivery": the chosen option).
    focus_line: int | None = None
    focus: str = ""

    @classmethod
    def first(cls, customer: Customer, addresses: list[Address]) -> Entry:
        default = next((a for a in addresses if a.is_default), addresses[0] if addresses else None)
        return cls(
            values={
                "customer": str(customer.pk),
                "idempotency_key": new_idempotency_key(),
                "ship_to": str(default.pk) if default else NEW_ADDRESS,
                "payment_method": OrderEntryForm.base_fields["payment_method"].initial,
            },
            address={"country": "US"},
        )

    @classmethod
    def from_post(cls, data: QueryDict) -> Entry:
        names = [name for name in OrderEntryForm.base_fields if name != "save_address"]
        values = {name: data.get(name, "").strip() for name in names}
        values["save_address"] = data.get("save_address", "")
        address = {name: data.get(f"address-{name}", "").strip() for name in ADDRESS_FIELDS}
        try:
            total = int(data.get("lines-TOTAL_FORMS", "0"))
        except ValueError:
            total = 0
        lines = [
            {
                "sku": data.get(f"lines-{index}-sku", "").strip(),
                "quantity": data.get(f"lines-{index}-quantity", "").strip(),
            }
            for index in range(max(0, min(total, settings.MAX_ORDER_LINES)))
        ]
        return cls(values=values, address=address, lines=lines)

    def add_sku(self, code: str) -> None:
        """Another unit of a SKU already on the order; else a new line of one."""
        for index, line in enumerate(self.lines):
            if line["sku"] == code:
                quantity = _whole_number(line["quantity"]) or 0
                line["quantity"] = str(min(quantity + 1, settings.MAX_LINE_QUANTITY))
                self.focus_line = index
                return
        if len(self.lines) < settings.MAX_ORDER_LINES:
            self.lines.append({"sku": code, "quantity": "1"})
            self.focus_line = len(self.lines) - 1

    def draft(self, addresses: dict[int, Address]) -> Draft:
        return Draft(
            lines=[(line["sku"], _whole_number(line["quantity"])) for line in self.lines],
            address=self.ship_to_address(addresses),
            delivery=Delivery.parse(self.values.get("delivery", "")),
        )

    def ship_to_address(self, addresses: dict[int, Address]) -> dict[str, str]:
        """The address as place_order takes it: a saved one's fields, or what was typed."""
        choice = self.values.get("ship_to", "")
        if choice != NEW_ADDRESS:
            saved = addresses.get(int(choice)) if choice.isdigit() else None
            if saved is None:
                return {}
            typed = {name: str(getattr(saved, name)) for name in ADDRESS_FIELDS}
        else:
            typed = self.address
        # Optional parts left empty are left out, as the API leaves them out.
        return {k: v for k, v in typed.items() if v or k in ADDRESS_REQUIRED}


def _whole_number(text: str) -> int | None:
    if not text.isdigit():
        return None
    number = int(text)
    return number if 1 <= number <= settings.MAX_LINE_QUANTITY else None


# --- Views ---------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@desk_permission_required(*NEW_ORDER_PERMISSIONS)
def order_new(request: HttpRequest) -> HttpResponse:
    try:
        channel = call_center_channel()
    except DomainError as error:
        return render(request, "desk/order_new.html", {"setup_error": error.message})
    if request.method == "POST":
        if request.POST.get("command") == order_customer.CREATE_CUSTOMER:
            return order_customer.create_customer(request)
        return _order_new_post(request, channel)
    customer_id = request.GET.get("customer", "")
    if not customer_id.isdigit():
        return order_customer.choose_customer(request)
    customer = get_object_or_404(Customer, pk=int(customer_id))
    addresses = list(customer.addresses.all())
    return _render_entry(request, channel, customer, addresses, Entry.first(customer, addresses))


def _order_new_post(request: HttpRequest, channel: SalesChannel) -> HttpResponse:
    customer, addresses = _customer_from_post(request.POST)
    entry = Entry.from_post(request.POST)
    by_pk = {address.pk: address for address in addresses}
    command = request.POST.get("command", "")
    sku_results = None

    if command in ("place", "backorder"):
        return _place(
            request, channel, customer, addresses, accept_backorder=command == "backorder"
        )
    if add := request.POST.get("add_sku", "").strip():
        entry.add_sku(add)
        entry.values["sku_query"] = ""
    elif (remove := request.POST.get("remove_line", "")).isdigit():
        if int(remove) < len(entry.lines):
            del entry.lines[int(remove)]
        entry.focus = "sku_query"  # the Remove button is gone: back to adding SKUs
    elif chosen := Delivery.parse(request.POST.get("choose_delivery", "")):
        entry.values["delivery"] = chosen.value
        entry.focus = "delivery"
    elif command == "use_available":
        draft = entry.draft(by_pk)
        if draft.delivery and len(draft.valid_lines()) == len(draft.lines):
            check = check_stock(
                channel=channel,
                lines=draft.valid_lines(),
                delivery=draft.delivery,
                address=draft.address,
            )
            if check is not None and check.is_short:
                entry.lines = [
                    {"sku": code, "quantity": str(quantity)}
                    for code, quantity in check.available_lines()
                ]
                entry.focus_line = 0 if entry.lines else None
                messages.info(request, "Quantities changed to what is available.")
    elif query := entry.values.get("sku_query", ""):
        # Enter in the SKU box: a code (or the only match) goes straight onto the order.
        sku = exact_sku(query, channel=channel)
        matches = [] if sku else search_skus(query, channel=channel)
        if sku is None and len(matches) == 1:
            sku = matches[0].sku
        if sku is not None:
            entry.add_sku(sku.code)
            entry.values["sku_query"] = ""
        else:
            sku_results = matches
    return _render_entry(request, channel, customer, addresses, entry, sku_results=sku_results)


def _customer_from_post(data: QueryDict) -> tuple[Customer, list[Address]]:
    customer_id = data.get("customer", "")
    if not customer_id.isdigit():
        raise Http404("No customer on this form.")
    customer = get_object_or_404(Customer, pk=int(customer_id))
    return customer, list(customer.addresses.all())


def _render_entry(
    request: HttpRequest,
    channel: SalesChannel,
    customer: Customer,
    addresses: list[Address],
    entry: Entry,
    *,
    bound: tuple[OrderEntryForm, ShipToAddressForm, LineFormSet] | None = None,
    stock_check: StockCheck | None = None,
    sku_results=None,
) -> HttpResponse:
    """The New order page for `entry`; `bound` forms (after a refused submit) show errors."""
    if bound is None:
        form = OrderEntryForm(initial=entry.values, addresses=addresses)
        address_form = ShipToAddressForm(initial=entry.address)
        formset = LineFormSet(initial=entry.lines, prefix="lines")
    else:
        form, address_form, formset = bound
    # With a stock check shown, its alternatives take the cursor (their section is autofocus).
    if stock_check is None and entry.focus_line is not None:
        formset.forms[entry.focus_line].fields["quantity"].widget.attrs["autofocus"] = True
    elif stock_check is None and (not entry.lines or entry.focus == "sku_query"):
        form.fields["sku_query"].widget.attrs["autofocus"] = True
    by_pk = {address.pk: address for address in addresses}
    result = quote(channel=channel, draft=entry.draft(by_pk))
    return render(
        request,
        "desk/order_new.html",
        {
            "channel": channel,
            "customer": customer,
            "addresses": addresses,
            "form": form,
            "address_form": address_form,
            "formset": formset,
            "rows": list(zip(formset.forms, result.lines, strict=True)),
            "quote": result,
            "stock_check": stock_check,
            "focus_delivery": entry.focus == "delivery",
            "sku_results": sku_results,
            "can_save_address": request.user.has_perm("customers.add_address"),
            "new_address": NEW_ADDRESS,
        },
    )


@require_GET
@desk_permission_required(*NEW_ORDER_PERMISSIONS)
def order_sku_search(request: HttpRequest) -> HttpResponse:
    """Fragment: SKUs matching the box, with what the network has of each."""
    try:
        channel = call_center_channel()
    except DomainError as error:
        return HttpResponse(error.message, status=409)
    query = request.GET.get("sku_query", "")[:100]
    return render(
        request,
        "desk/_order_sku_results.html",
        {"sku_results": search_skus(query, channel=channel) if query.strip() else None},
    )


@require_POST
@desk_permission_required(*NEW_ORDER_PERMISSIONS)
def order_quote(request: HttpRequest) -> HttpResponse:
    """Fragment: the form's availability per line, delivery options and totals, each as an
    out-of-band swap of its own element."""
    try:
        channel = call_center_channel()
    except DomainError as error:
        return HttpResponse(error.message, status=409)
    _, addresses = _customer_from_post(request.POST)
    entry = Entry.from_post(request.POST)
    result = quote(channel=channel, draft=entry.draft({a.pk: a for a in addresses}))
    return render(request, "desk/_order_quote.html", {"quote": result, "form": None})


# --- Placing the order ---------------------------------------------------------------------

LINE_PATH = re.compile(r"lines\[(\d+)\]\.(sku|quantity)")


def _place(
    request: HttpRequest,
    channel: SalesChannel,
    customer: Customer,
    addresses: list[Address],
    *,
    accept_backorder: bool,
) -> HttpResponse:
    entry = Entry.from_post(request.POST)
    form = OrderEntryForm(request.POST, addresses=addresses)
    address_form = ShipToAddressForm(request.POST)
    formset = LineFormSet(request.POST, prefix="lines")
    bound = (form, address_form, formset)
    key = request.POST.get("idempotency_key", "")
    if IDEMPOTENCY_KEY.match(key) and _claimed(channel, key):
        # This form was submitted before (double click, back button). No stock check: it
        # would count the first submit's own reservation as missing.
        return _already_placed(request, channel, key)
    valid = form.is_valid() & address_form.is_valid() & formset.is_valid()
    delivery = Delivery.parse(form.cleaned_data.get("delivery", "")) if valid else None
    if valid and delivery is None:
        form.add_error("delivery", "Choose how the order reaches the customer.")
    if delivery is None:
        return _render_entry(request, channel, customer, addresses, entry, bound=bound)

    address = entry.ship_to_address({a.pk: a for a in addresses})
    lines = [(line["sku"], line["quantity"]) for line in formset.cleaned_data if line]
    if not accept_backorder:
        check = check_stock(channel=channel, lines=lines, delivery=delivery, address=address)
        if check is not None and check.is_short:
            if _claimed(channel, key):  # a first submit, still running, took the stock
                return _already_placed(request, channel, key)
            return _render_entry(
                request, channel, customer, addresses, entry, bound=bound, stock_check=check
            )
    try:
        result = place_order(
            channel=channel,
            customer={
                "email": customer.email,
                "first_name": customer.first_name,
                "last_name": customer.last_name,
                "phone": customer.phone,
            },
            lines=[{"sku": code, "quantity": quantity} for code, quantity in lines],
            delivery=delivery.as_payload(address),
            payment={
                "method": form.cleaned_data["payment_method"],
                "reference": form.cleaned_data["payment_reference"],
            },
            idempotency_key=key,
            actor=request.user,
        )
    except IdempotencyKeyReused:
        return _already_placed(request, channel, key)
    except InsufficientStock as error:
        # Stock went between the check and the capture (another order took it).
        check = check_stock(channel=channel, lines=lines, delivery=delivery, address=address)
        if check is not None and check.is_short:
            return _render_entry(
                request, channel, customer, addresses, entry, bound=bound, stock_check=check
            )
        form.add_error(None, error.message)
    except PaymentDeclined as error:
        form.add_error("payment_reference", error.message)
    except InvalidInput as error:
        _place_errors(bound, error, new_address=entry.values.get("ship_to") == NEW_ADDRESS)
    except DomainError as error:
        form.add_error(None, error.message)
    else:
        return _after_place(request, customer, form, address_form, result.order, result.replayed)
    return _render_entry(request, channel, customer, addresses, entry, bound=bound)


def _claimed(channel: SalesChannel, key: str) -> bool:
    return IdempotencyKey.objects.filter(channel=channel, key=key).exists()


def _already_placed(request: HttpRequest, channel: SalesChannel, key: str) -> HttpResponse:
    claim = IdempotencyKey.objects.filter(channel=channel, key=key).select_related("order").first()
    if claim is None or claim.order is None:
        # Only between another submit's claim and its commit, which this read cannot see.
        return HttpResponse("This order is being placed; reload in a moment.", status=409)
    messages.info(
        request,
        f"This form already placed order {claim.order.number}; nothing new was created. "
        "Start a new order to order more.",
    )
    return redirect("desk:order", number=claim.order.number)


def _after_place(
    request: HttpRequest,
    customer: Customer,
    form: OrderEntryForm,
    address_form: ShipToAddressForm,
    order: Order,
    replayed: bool,
) -> HttpResponse:
    if replayed:
        messages.info(request, f"Order {order.number} was already placed; nothing new was created.")
        return redirect("desk:order", number=order.number)
    messages.success(request, f"Order {order.number} placed.")
    saving = (
        form.cleaned_data["save_address"]
        and form.cleaned_data["ship_to"] == NEW_ADDRESS
        and order.delivery_method == Order.DeliveryMethod.SHIP
        and request.user.has_perm("customers.add_address")
    )
    if saving:
        fields = {name: address_form.cleaned_data.get(name) or "" for name in ADDRESS_FIELDS}
        fields["country"] = str(fields["country"])
        try:
            customer_services.add_address(customer=customer, **fields)
        except InvalidInput as error:
            problems = "; ".join(m for messages_ in error.errors.values() for m in messages_)
            messages.warning(request, f"The address was not saved to the customer: {problems}")
        else:
            messages.success(request, "The address was saved to the customer.")
    return redirect("desk:order", number=order.number)


def _place_errors(
    bound: tuple[OrderEntryForm, ShipToAddressForm, LineFormSet],
    error: InvalidInput,
    *,
    new_address: bool,
) -> None:
    """place_order's field paths, beside the fields of this screen that hold them."""
    form, address_form, formset = bound
    for path, problems in error.errors.items():
        for message in problems:
            line = LINE_PATH.fullmatch(path)
            part = path.removeprefix("delivery.address").lstrip(".")
            if line and int(line[1]) < len(formset.forms):
                formset.forms[int(line[1])].add_error(line[2], message)
            elif (
                path.startswith("delivery.address") and new_address and part in address_form.fields
            ):
                address_form.add_error(part, message)
            elif path.startswith("delivery.address"):
                form.add_error("ship_to", message)
            elif path.startswith("delivery"):
                form.add_error("delivery", message)
            elif path == "payment.method":
                form.add_error("payment_method", message)
            elif path.startswith("payment"):
                form.add_error("payment_reference", message)
            else:
                form.add_error(None, message)
