"""Isolation: every object route tried with another channel's key and ids (issue 6 §2).

The routes come from our OpenAPI schema, cross-checked against the URLconf (a route missing
from the schema is reported). Channel routes must answer 404 to another channel's key — not
403, which would confirm the object exists — and staff-only routes refuse a channel key
outright (401/403). The owner's own key is tried first as a control, and the victim's order
must be unchanged afterwards.
"""

from __future__ import annotations

import re

from reliability.harness import ClientFactory, Outcome, order_body

NAME = "isolation"
SKU = "REL-ISO"
# A body that passes validation, so the probe reaches the object lookup.
BODIES = {
    "/api/v1/orders/{number}/cancel/": {"reason": "isolation probe"},
    "/api/v1/orders/{number}/changes/": {"lines": [{"line_number": 1, "quantity": 0}]},
}
WRITE_METHODS = {"post", "put", "patch", "delete"}


def setup() -> dict:
    """Two channels; the victim has an order, sourced into a fulfillment order."""
    from fulfillment.models import FulfillmentOrder
    from fulfillment.sourcing.service import source_order
    from orders.services import place_order
    from reliability.harness import seed_channel, seed_reference, seed_sku

    seed_reference()
    _, attacker_key = seed_channel("iso-attacker")
    victim, victim_key = seed_channel("iso-victim")
    seed_sku(SKU, 10)
    body = order_body(SKU, 1, email="victim@example.com")
    order = place_order(channel=victim, idempotency_key="iso-victim-1", **body).order
    source_order(order_id=order.pk)
    fulfillment = FulfillmentOrder.objects.filter(order=order).order_by("pk").first()
    return {
        "attacker_key": attacker_key,
        "victim_key": victim_key,
        "order_number": order.number,
        "fulfillment_pk": fulfillment.pk if fulfillment else 0,
        "location_code": fulfillment.location.code if fulfillment else "WH-REL",
    }


def object_operations() -> list[tuple[str, str]]:
    """(method, path template) of every API operation that names an object."""
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    return sorted(
        (method, path)
        for path, operations in schema["paths"].items()
        if "{" in path
        for method in operations
        if method in WRITE_METHODS | {"get"}
    )


def url_routes() -> list[str]:
    """Every /api/v1/ route with a parameter in the URLconf, as `{name}` templates."""
    from django.urls import URLPattern, URLResolver, get_resolver

    found = []

    def walk(patterns, prefix):
        for pattern in patterns:
            text = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, text)
            elif isinstance(pattern, URLPattern) and text.startswith("api/v1/") and "<" in text:
                # Router regexes, (?P<number>[...]), then converters, <int:pk>.
                template = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", text)
                template = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", template)
                found.append("/" + template.replace("^", "").replace("$", ""))

    walk(get_resolver().url_patterns, "")
    return sorted(set(found))


def _shape(path: str) -> str:
    return re.sub(r"\{\w+\}", "{}", path)


def fill(path: str, ids: dict) -> str:
    values = {
        "number": "PO-999999" if "purchase-orders" in path else ids["order_number"],
        "pk": str(ids["fulfillment_pk"]),
        "id": str(ids["fulfillment_pk"]),
        "code": ids["location_code"],
    }
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), "1"), path)


def check(client_for: ClientFactory, ids: dict, *, outcome: Outcome | None = None) -> Outcome:
    from orders.models import Order

    outcome = outcome or Outcome(NAME)
    operations = object_operations()
    # The schema may name a parameter differently (pk → id): compare the shapes.
    documented = {_shape(path) for _, path in operations}
    undocumented = [route for route in url_routes() if _shape(route) not in documented]
    outcome.note(
        f"{len(operations)} object operations in the schema; URLconf routes not in it: "
        f"{undocumented or 'none'}"
    )
    outcome.data["undocumented_routes"] = undocumented

    victim = client_for(ids["victim_key"])
    own = victim.send("GET", f"/api/v1/orders/{ids['order_number']}/")
    outcome.expect(own.status == 200, "control: the owner reads its own order", str(own.status))
    before = Order.objects.get(number=ids["order_number"])
    before_lines = list(before.lines.values_list("quantity", "quantity_cancelled"))

    attacker = client_for(ids["attacker_key"])
    for method, template in operations:
        path = fill(template, ids)
        body = BODIES.get(template, {}) if method in WRITE_METHODS else None
        reply = attacker.send(method.upper(), path, body)
        channel_route = template.startswith("/api/v1/orders/")
        expected = {404} if channel_route else {401, 403}
        outcome.attempt(f"{method.upper()} {path} with another channel's key → {reply.status}")
        outcome.expect(
            reply.status in expected,
            f"{method.upper()} {template}: {'404' if channel_route else '401/403'}",
            f"got {reply.status}: {reply.body[:200]!r}",
        )
        outcome.expect(
            ids["order_number"].encode() not in reply.body or reply.status == 404,
            f"{method.upper()} {template}: no trace of the other channel's order",
        )
    listing = attacker.send("GET", "/api/v1/orders/?customer_email=victim@example.com")
    outcome.attempt("GET /api/v1/orders/?customer_email=<the victim's customer>")
    outcome.expect(
        listing.status == 200 and ids["order_number"].encode() not in listing.body,
        "the order list never shows another channel's order",
        f"{listing.status}",
    )
    after = Order.objects.get(number=ids["order_number"])
    outcome.expect(
        (after.status, list(after.lines.values_list("quantity", "quantity_cancelled")))
        == (before.status, before_lines),
        "the victim's order is unchanged after the probes",
    )
    return outcome


def run(context) -> Outcome:
    ids = setup()
    return check(context.server().client, ids)
