"""hostile_input's channel pass: the orders it works on and what its answers must explain.

The storefront routes are probed with one channel's key. Generated requests name real SKUs,
ZIP codes and order numbers often enough (the dictionaries of `channel_config`) that
availability, delivery options, capture, cancellation and changes answer 200/201 as well as
refusing; `seed_channel_orders` places the orders that cancel and change requests work on.
`explain_channel_orders` then holds every order of the channel to the last accepted answer about
it: its status, its lines, its payments and the units it holds in reservations.
"""

from __future__ import annotations

import contextlib
import json
from decimal import Decimal

from reliability.cassette import answers

# Stock to spare for the capture cases, and one SKU short enough to meet shortfalls. TEE-RED-M
# is the SKU of the order API's request example (orders.serializers.ORDER_EXAMPLE).
CHANNEL_STOCK = {"TEE-RED-M": 100_000, "MUG-BLUE": 100_000, "REL-SCARCE": 3}
SEEDED_ORDERS = 12
# ZIP codes the geocoder knows (delivery options and addresses resolve to a point).
POSTAL_CODES = ["10006", "94105", "60601", "30301"]
REGIONS = ["NY", "CA", "IL", "GA"]


def seed_channel_orders(channel) -> dict:
    """Orders of the channel under test, placed through the service as a storefront would: two
    lines each, so changes can lower one line and keep the other."""
    from orders.services import place_order
    from reliability.harness import order_body, seed_sku

    for code, units in CHANNEL_STOCK.items():
        seed_sku(code, units)
    numbers = []
    for number in range(SEEDED_ORDERS):
        body = order_body("TEE-RED-M", 3, email=f"hostile{number}@example.com")
        body["lines"].append({"sku": "MUG-BLUE", "quantity": 2})
        result = place_order(channel=channel, idempotency_key=f"hostile-seed-{number}", **body)
        numbers.append(result.order.number)
    return {
        "channel_code": channel.code,
        "order_numbers": numbers,
        "channel_skus": list(CHANNEL_STOCK),
    }


def channel_config(ids: dict) -> str:
    """schemathesis.toml for the channel pass: real SKUs, ZIP codes and order numbers part of
    the time, random values the rest (so validation is still probed). Availability's `?sku=`
    array gets real SKUs from reliability/schemathesis_hooks.py instead."""
    skus = ids["channel_skus"]
    dictionaries = {
        "orders": ids["order_numbers"],
        "skus": skus,
        "quantities": [1, 2, 3],
        "line_numbers": [1, 2],
        "countries": ["US"],
        "postal_codes": POSTAL_CODES,
        "regions": REGIONS,
        "service_levels": ["standard"],
        "delivery_methods": ["ship"],
        "payment_methods": ["card"],
        "channels": [ids["channel_code"]],
    }
    bindings = {
        "path.number": ("orders", 0.8),
        "body.lines[*].sku": ("skus", 0.7),
        "body.lines[*].quantity": ("quantities", 0.5),
        "body.lines[*].line_number": ("line_numbers", 0.7),
        "body.destination.country": ("countries", 0.7),
        "body.destination.postal_code": ("postal_codes", 0.7),
        "body.delivery.method": ("delivery_methods", 0.6),
        "body.delivery.service_level": ("service_levels", 0.7),
        "body.delivery.address.country": ("countries", 0.7),
        "body.delivery.address.postal_code": ("postal_codes", 0.7),
        "body.delivery.address.region": ("regions", 0.5),
        "body.ship_to.country": ("countries", 0.7),
        "body.ship_to.postal_code": ("postal_codes", 0.7),
        "body.payment.method": ("payment_methods", 0.7),
        # A storefront names its own channel or none; another is refused before anything else.
        "body.channel": ("channels", 0.8),
    }
    lines = []
    for name, values in dictionaries.items():
        lines += [f"[dictionaries.{name}]", f"values = {json.dumps(values)}", ""]
    lines.append("[parameters]")
    for key, (dictionary, probability) in bindings.items():
        lines.append(f'"{key}" = {{ dictionary = "{dictionary}", probability = {probability} }}')
    return "\n".join(lines) + "\n"


def order_states(channel_code: str) -> dict[str, tuple]:
    """Per order number of the channel: (status, lines, payments, units held by reservations).
    Lines are (line number, quantity, cancelled, backordered); payments (status, amount)."""
    from django.db.models import Sum

    from inventory.models import Reservation
    from orders.models import Order, OrderLine, Payment

    orders = Order.objects.filter(channel__code=channel_code)
    lines: dict[str, list] = {}
    for number, *line in OrderLine.objects.filter(order__in=orders).values_list(
        "order__number", "line_number", "quantity", "quantity_cancelled", "quantity_backordered"
    ):
        lines.setdefault(number, []).append(tuple(line))
    payments: dict[str, list] = {}
    for number, status, amount in Payment.objects.filter(order__in=orders).values_list(
        "order__number", "status", "amount"
    ):
        payments.setdefault(number, []).append((status, Decimal(amount)))
    held = dict(
        Reservation.objects.filter(order_line__order__in=orders, state="active")
        .values("order_line__order__number")
        .annotate(units=Sum("quantity"))
        .values_list("order_line__order__number", "units")
    )
    return {
        number: (
            status,
            tuple(sorted(lines.get(number, []))),
            tuple(sorted(payments.get(number, []))),
            held.get(number, 0),
        )
        for number, status in orders.values_list("number", "status")
    }


def _answered_state(body: dict) -> tuple:
    """The same shape from an order answer (reservations are not in it: None)."""
    lines = tuple(
        sorted(
            (
                line["line_number"],
                line["quantity"],
                line["quantity_cancelled"],
                line["quantity_backordered"],
            )
            for line in body["lines"]
        )
    )
    payments = (
        tuple(sorted((p["status"], Decimal(p["amount"])) for p in body["payments"]))
        if "payments" in body
        else None
    )
    return body["status"], lines, payments, None


def explain_channel_orders(outcome, before: dict, after: dict, interactions) -> None:
    """Each order of the channel is as the last accepted answer about it said (status, lines
    and, where the answer shows them, payments), or unchanged if none was accepted; and it
    holds reservations for exactly its open units that are not backordered (none is sourced in
    this scenario, so nothing else can hold or release them)."""
    last: dict[str, tuple] = {}
    for method, path, status, body in answers(interactions):
        if not path.startswith("/api/v1/orders/") or not 200 <= status < 300:
            continue
        if method not in ("GET", "POST") or not isinstance(body, dict):
            continue
        with contextlib.suppress(KeyError, TypeError, ValueError, ArithmeticError):
            if "results" in body:  # the list: states without payments
                for item in body["results"]:
                    last[item["number"]] = _answered_state(item)
            else:
                last[body["number"]] = _answered_state(body)

    wrong = {}
    for number, state in after.items():
        status, lines, payments, held = state
        answered = last.get(number)
        if answered is None:
            if before.get(number) != state:
                wrong[number] = f"no accepted answer, yet {before.get(number)} → {state}"
            continue
        a_status, a_lines, a_payments, _ = answered
        if (status, lines) != (a_status, a_lines) or (
            a_payments is not None and payments != a_payments
        ):
            wrong[number] = f"answered {answered[:3]}, is {state[:3]}"
    outcome.expect(
        not wrong,
        f"orders of the channel ({len(after)}, {len(last)} answered): each as its last "
        "accepted answer said (status, lines, payments), or unchanged",
        "; ".join(f"{n}: {w}" for n, w in sorted(wrong.items())[:5]),
    )
    holding_wrong = {}
    for number, (status, lines, _, held) in after.items():
        open_units = 0
        if status != "cancelled":
            open_units = sum(units - cancelled - short for _, units, cancelled, short in lines)
        if held != open_units:
            holding_wrong[number] = (held, open_units)
    outcome.expect(
        not holding_wrong,
        "reservations: each order of the channel holds exactly its open units that are not "
        "backordered",
        "; ".join(f"{n}: holds {h}, open {o}" for n, (h, o) in sorted(holding_wrong.items())[:5]),
    )
