"""hostile_input's staff pass: the objects it works on and what its answers must explain.

The location and purchasing routes need existing fulfillment and purchase orders, so they are
seeded through the services (`seed_staff_objects`); schemathesis draws their ids from the
dictionaries of `staff_config`; `explain_staff_changes` then holds every change to
fulfillment orders, purchase orders, reservations and stock movements to an accepted answer.
"""

from __future__ import annotations

import contextlib
import json
from collections import Counter

from reliability.cassette import answers

STAFF_PATHS = r"^/api/v1/(fulfillments|locations|purchase-orders|vendors)/"
# What the staff pass works on (seed_staff_objects).
STAFF_SKU = "REL-HOSTILE"
DROPSHIP_SKU = "REL-DROPSHIP"
STORE = "ST-REL"
VENDOR = "VD-REL"
SUPPLIER = "SUP-REL"
PURCHASE_ORDERS = 12


def seed_staff_objects(user) -> dict:
    """What the staff routes work on, made through the services as the business makes it:
    fulfillment orders at every warehouse step, a pickup at a store, a drop-ship request to a
    vendor, and purchase orders (all sent but one, still a draft). Their orders belong to a
    channel of their own, so the channel pass cannot cancel them under the staff pass."""
    from datetime import date, timedelta

    from fulfillment import warehouse
    from fulfillment.models import FulfillmentOrder, PickList
    from fulfillment.sourcing.service import source_order
    from inventory.models import SKU as SKUModel
    from inventory.models import Location, Supplier, SupplierItem
    from inventory.replenishment.purchasing import approve_and_send, create_purchase_order
    from inventory.services import receive_stock
    from orders.services import place_order
    from reliability.harness import order_body, seed_channel, seed_sku

    channel, _ = seed_channel("hostile-desk")
    warehouse_location = Location.objects.get(code="WH-REL")
    store = _seed_location(STORE, Location.Type.STORE, allows_pickup=True, ships_orders=False)
    vendor = _seed_location(VENDOR, Location.Type.DROPSHIP_VENDOR)
    sku = seed_sku(STAFF_SKU, 200)
    receive_stock(sku=sku, location=store, quantity=20, reference="reliability")
    dropship_sku = seed_sku(DROPSHIP_SKU, 0)
    receive_stock(sku=dropship_sku, location=vendor, quantity=50, reference="reliability")

    def placed(number: int, code: str, delivery: dict | None = None):
        body = order_body(code, 2, email=f"desk{number}@example.com")
        if delivery:
            body["delivery"] = delivery
        order = place_order(channel=channel, idempotency_key=f"hostile-desk-{number}", **body)
        source_order(order_id=order.order.pk)
        return FulfillmentOrder.objects.filter(order=order.order).order_by("pk")

    # Four shipments, left at released, picking, packed and shipped: every step has work.
    shipments = [placed(number, STAFF_SKU).get() for number in range(4)]
    for steps, fo in enumerate(shipments):
        if steps >= 1:
            (pick_list,) = warehouse.build_pick_lists(
                location=warehouse_location,
                strategy=PickList.Strategy.SINGLE,
                fulfillment_orders=[fo],
                actor=user,
            )
        if steps >= 2:
            items = {item.pk: item.quantity for item in pick_list.items.all()}
            warehouse.confirm_pick(pick_list=pick_list, picked=items, actor=user)
            warehouse.pack(fulfillment_order=fo, packages=[{"weight_kg": 1}], actor=user)
        if steps >= 3:
            warehouse.ship(
                fulfillment_order=fo, carrier=None, tracking_number="1Z-SEED", actor=user
            )
    pickup = placed(4, STAFF_SKU, {"method": "pickup", "location": STORE}).get()
    dropship = placed(5, DROPSHIP_SKU).get()

    supplier, _ = Supplier.objects.get_or_create(
        code=SUPPLIER, defaults={"name": "Reliability supplies", "minimum_order_amount": 0}
    )
    for code in (STAFF_SKU, DROPSHIP_SKU):
        SupplierItem.objects.get_or_create(
            supplier=supplier, sku=SKUModel.objects.get(code=code), defaults={"cost_amount": 4}
        )
    purchase_orders = [
        create_purchase_order(
            supplier=supplier,
            destination=warehouse_location,
            expected_date=date.today() + timedelta(days=7),
            lines=[{"sku": sku, "quantity": 40}, {"sku": dropship_sku, "quantity": 10}],
            created_by="reliability",
        )
        for _ in range(PURCHASE_ORDERS)
    ]
    # All sent but the last, left a draft (a 409 to receive). A receipt with `close` ends an
    # order, so a dozen of them keep receipts booking through the run; the draft goes last
    # because hypothesis draws a dictionary's first entries most often.
    for purchase_order in purchase_orders[:-1]:
        approve_and_send(purchase_order=purchase_order, actor=user)
    return {
        "fulfillment_ids": [fo.pk for fo in [*shipments, pickup, dropship]],
        "location_codes": ["WH-REL", STORE, VENDOR],
        "vendor_codes": [VENDOR],
        "dropship_numbers": [dropship.purchase_order_number],
        "purchase_order_numbers": [po.number for po in purchase_orders],
        "skus": [STAFF_SKU, DROPSHIP_SKU],
        "carriers": ["parcelco"],
    }


def _seed_location(code: str, kind: str, **flags):
    from decimal import Decimal

    from inventory.models import Location

    location, _ = Location.objects.get_or_create(
        code=code,
        defaults={
            "name": f"Reliability {kind}",
            "type": kind,
            "city": "New York",
            "region": "NY",
            "country": "US",
            "latitude": Decimal("40.712800"),
            "longitude": Decimal("-74.006000"),
            **flags,
        },
    )
    return location


def staff_config(ids: dict) -> str:
    """schemathesis.toml for the staff pass: the seeded objects' ids as dictionaries, so most
    generated cases name a real fulfillment, location or purchase order (the rest stay random
    and meet 404s), and receipts, picks and shipments name real SKUs and carriers."""
    dictionaries = {
        "fulfillments": ids["fulfillment_ids"],
        "locations": ids["location_codes"],
        "vendors": ids["vendor_codes"],
        "purchase_orders": ids["purchase_order_numbers"],
        "dropship_orders": ids["dropship_numbers"],
        "skus": ids["skus"],
        "carriers": ids["carriers"],
        # Within a purchase order line's over-receipt allowance, so some receipts book.
        "quantities": [1, 2, 5],
    }
    lines = []
    for name, values in dictionaries.items():
        lines += [f"[dictionaries.{name}]", f"values = {json.dumps(values)}", ""]

    def bind(dictionary: str, probability: float) -> str:
        return f'{{ dictionary = "{dictionary}", probability = {probability} }}'

    # A real id most of the time; a body field half the time, so validation is still probed.
    lines += [
        "[parameters]",
        f'"path.id" = {bind("fulfillments", 0.9)}',
        f'"path.code" = {bind("locations", 0.9)}',
        f'"body.lines[*].sku" = {bind("skus", 0.5)}',
        f'"body.carrier" = {bind("carriers", 0.5)}',
        f'"body.lines[*].quantity" = {bind("quantities", 0.5)}',
        "",
    ]
    for path, parameters in (
        ("/api/v1/purchase-orders/{number}/receipts/", {"path.number": "purchase_orders"}),
        (
            "/api/v1/vendors/{code}/purchase-orders/{number}/shipment/",
            {"path.code": "vendors", "path.number": "dropship_orders"},
        ),
    ):
        bound = ", ".join(f'"{key}" = {bind(name, 0.9)}' for key, name in parameters.items())
        lines += ["[[operations]]", f'include-path = "{path}"', f"parameters = {{ {bound} }}", ""]
    return "\n".join(lines)


def explain_staff_changes(outcome, before, after, interactions) -> None:
    """What the staff routes changed is what their accepted answers say, and nothing else.

    With one schemathesis worker requests run in sequence, so the last 2xx answer about a
    fulfillment or purchase order is its state now; one never answered must be unchanged.
    """
    from fulfillment.models import FulfillmentOrder
    from inventory.models import StockMovement

    fulfillment_answers: dict[int, str] = {}
    handed_over: set[int] = set()  # fulfillments with an accepted step that moves goods out
    picked: set[int] = set()
    receipts: dict[str, tuple[str, dict[str, int]]] = {}
    for method, path, status, body in answers(interactions):
        if method != "POST" or not 200 <= status < 300 or not isinstance(body, dict):
            continue
        with contextlib.suppress(KeyError, TypeError, ValueError):
            if path.startswith("/api/v1/purchase-orders/"):
                receipts[body["number"]] = (
                    body["status"],
                    {line["sku"]: line["quantity_received"] for line in body["lines"]},
                )
            elif "id" in body:
                fulfillment_answers[int(body["id"])] = body["status"]
                step = path.rstrip("/").rsplit("/", 1)[-1]
                if step in ("ship", "pickup", "shipment"):
                    handed_over.add(int(body["id"]))
                if step == "pick":
                    picked.add(int(body["id"]))
    outcome.note(
        f"staff routes: {len(fulfillment_answers)} fulfillment orders and {len(receipts)} "
        "purchase orders changed or confirmed by accepted requests"
    )

    expected = {**before["fulfillments"], **fulfillment_answers}
    wrong = {
        pk: (expected.get(pk, "none"), status)
        for pk, status in after["fulfillments"].items()
        if expected.get(pk) != status
    }
    outcome.expect(
        not wrong and set(after["fulfillments"]) == set(before["fulfillments"]),
        f"fulfillment orders: each in the state of its last accepted answer, or unchanged "
        f"({len(after['fulfillments'])}, none new)",
        "; ".join(f"FO-{pk}: expected {e}, is {a}" for pk, (e, a) in sorted(wrong.items())[:5]),
    )
    expected_pos = {**before["purchase_orders"], **receipts}
    wrong_pos = [n for n, state in after["purchase_orders"].items() if expected_pos.get(n) != state]
    outcome.expect(
        not wrong_pos,
        "purchase orders: status and units received as their last accepted receipt said, "
        "or unchanged",
        "; ".join(
            f"{n}: expected {expected_pos.get(n)}, is {after['purchase_orders'][n]}"
            for n in wrong_pos[:5]
        ),
    )

    orders_of = dict(
        FulfillmentOrder.objects.filter(pk__in=handed_over | picked).values_list(
            "pk", "order__number"
        )
    )
    handed_orders = {orders_of[pk] for pk in handed_over}
    picked_orders = {orders_of[pk] for pk in picked}
    moved: dict[tuple[str, str], int] = Counter()
    for kind, reference, quantity in StockMovement.objects.filter(
        id__gt=before["last_movement"]
    ).values_list("kind", "reference", "quantity"):
        if kind == StockMovement.Kind.RECEIPT:
            reference = reference.split(" ", 1)[0]  # "PO-000001 receipt <key>"
        moved[kind, reference] += quantity
    explained = {}
    for number, (_, lines) in receipts.items():
        _, lines_before = before["purchase_orders"][number]
        units = sum(lines.values()) - sum(lines_before.values())
        if units:
            explained[StockMovement.Kind.RECEIPT, number] = units
    for number in handed_orders:
        units = after["shipped"].get(number, 0) - before["shipped"].get(number, 0)
        if units:
            explained[StockMovement.Kind.SHIPMENT, number] = -units
    # A short pick writes off what the shelf lacked (as far as other reservations allow).
    unexplained = {
        key: units
        for key, units in moved.items()
        if explained.get(key) != units
        and not (key[0] == StockMovement.Kind.ADJUSTMENT and key[1] in picked_orders)
    }
    missing = {key: units for key, units in explained.items() if moved.get(key) != units}
    outcome.expect(
        not unexplained and not missing,
        f"stock movements: {sum(moved.values()):+} units in {len(moved)} groups, each a "
        "receipt the purchase order counts, goods shipped by an accepted step, or a short pick",
        f"unexplained {dict(unexplained)}, missing {dict(missing)}",
    )
    touched = handed_orders | picked_orders
    # New orders and the channel pass's orders answer to their own checks (_explain_orders,
    # explain_channel_orders).
    explained_elsewhere = (set(after["payments"]) - set(before["payments"])) | set(
        after.get("channel_orders", ())
    )
    changed_reservations = {
        number
        for number in (set(before["reserved"]) | set(after["reserved"])) - explained_elsewhere
        if before["reserved"].get(number) != after["reserved"].get(number)
    }
    outcome.expect(
        changed_reservations <= touched,
        "reservations of existing orders changed only by an accepted pick or hand-over",
        f"changed without one: {sorted(changed_reservations - touched)}",
    )
    money_moved = {
        number
        for number in set(before["payments"]) - explained_elsewhere
        if before["payments"][number] != after["payments"].get(number)
    }
    newly_captured = {
        number
        for number in set(before["captured"]) | set(after["captured"])
        if number not in explained_elsewhere
        and before["captured"].get(number) != after["captured"].get(number)
    }
    outcome.expect(
        not money_moved and newly_captured <= handed_orders,
        f"payments of existing orders: totals unchanged, {len(newly_captured)} captured more, "
        "each after an accepted hand-over",
        f"totals changed {sorted(money_moved)}, captured without a hand-over "
        f"{sorted(newly_captured - handed_orders)}",
    )
