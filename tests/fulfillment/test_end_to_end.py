"""End to end, the way production runs it: a storefront captures over REST, the commit enqueues
the outbox relay, the relay enqueues the sourcing job, the job releases fulfillment orders, and
the location's system picks, packs, ships and confirms delivery over its API.

Runs with real commits (`transaction=True`) so every after-commit hook fires as in production;
CI runs it on PostgreSQL (DATABASE_URL), and it runs on SQLite too. The broker is the one thing
replaced: `worker` records what commits enqueue and runs it in order, as one worker process
would, so the test sees each hand-off rather than calling the sourcing job itself.
"""

from __future__ import annotations

import base64
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.core.cache import cache
from django.db.models import Sum
from rest_framework.test import APIClient

from fulfillment.models import Carrier, FulfillmentOrder
from inventory.models import Reservation, StockLevel, StockMovement
from oms.core import tasks as core_tasks
from oms.core.models import OutboxMessage
from orders.models import Order, Payment
from tests.factories import LocationFactory, SKUFactory, UserFactory, order_payload, stock

pytestmark = pytest.mark.django_db(transaction=True)

TRACKING = "PC0001"


@pytest.fixture(autouse=True)
def fresh_throttle_budget():
    # The per-caller throttle counts requests in the cache, which outlives a test.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def worker(monkeypatch):
    """The broker and one worker: what a commit enqueues waits here until `worker()` runs it."""
    queue: list = []
    monkeypatch.setattr(core_tasks, "_enqueue", lambda task, *args: queue.append((task, args)))

    def run() -> list[str]:
        ran = []
        while queue:
            task, args = queue.pop(0)
            task(*args)  # the task body, outside any transaction, as a worker runs it
            ran.append(task.name.rsplit(".", 1)[-1])
        return ran

    return run


@pytest.fixture
def scanner(db):
    """The warehouse's system: staff with the one permission, signing in with HTTP Basic."""
    user = UserFactory(username="wh-scanner", is_staff=True)
    user.user_permissions.add(
        Permission.objects.get(
            content_type__app_label="fulfillment", codename="change_fulfillmentorder"
        )
    )
    client = APIClient()
    credentials = base64.b64encode(b"wh-scanner:secret-pass").decode()
    client.credentials(HTTP_AUTHORIZATION=f"Basic {credentials}")
    return client


@pytest.fixture
def parcelco(standard_service):
    carrier = Carrier.objects.get(code="parcelco")  # the standard service's carrier
    carrier.tracking_url_template = "https://track.parcelco.test/{tracking_number}"
    carrier.save()
    return carrier


def place(channel_client, key: str, **overrides) -> dict:
    response = channel_client.post(
        "/api/v1/orders/", order_payload(**overrides), format="json", HTTP_IDEMPOTENCY_KEY=key
    )
    assert response.status_code == 201, response.content
    return response.json()


def step(scanner, fo_id: int, name: str, body: dict | None = None) -> dict:
    response = scanner.post(f"/api/v1/fulfillments/{fo_id}/{name}/", body or {}, format="json")
    assert response.status_code == 200, (name, response.content)
    return response.json()


def ship_through_api(scanner, fo_id: int, tracking: str, weight: str = "1.5") -> dict:
    assert step(scanner, fo_id, "pick")["status"] == "picking"
    assert step(scanner, fo_id, "pack", {"packages": [{"weight_kg": weight}]})["status"] == "packed"
    return step(scanner, fo_id, "ship", {"carrier": "parcelco", "tracking_number": tracking})


def stock_level(sku, location) -> StockLevel:
    return StockLevel.objects.get(sku=sku, location=location)


def movements_total(sku, location) -> int:
    return StockMovement.objects.filter(sku=sku, location=location).aggregate(t=Sum("quantity"))[
        "t"
    ]


def captured_total(order) -> Decimal:
    return order.payments.filter(status=Payment.Status.CAPTURED).aggregate(t=Sum("amount"))[
        "t"
    ] or Decimal("0")


def test_capture_source_release_pick_pack_ship_deliver(
    worker, catalogue, warehouse, channel_client, scanner, parcelco, mailoutbox
):
    sku_a, sku_b, _ = catalogue

    worker()  # the set-up's stock receipts have outbox traffic of their own
    assert not OutboxMessage.objects.filter(published_at__isnull=True).exists()

    # --- capture over REST: order, reservations, outbox row, all committed together
    placed = place(channel_client, "e2e-1")
    order = Order.objects.get(number=placed["number"])
    assert placed["status"] == "placed"
    assert placed["promised_date"] == order.promised_date.isoformat()
    assert stock_level(sku_a, warehouse).reserved == 2
    assert OutboxMessage.objects.get(topic="order.placed").published_at is None
    assert not FulfillmentOrder.objects.exists()

    # --- the worker: the relay publishes order.placed, whose subscriber enqueues sourcing;
    # releasing writes fulfillment.released, relayed in turn
    assert worker() == ["relay_outbox", "source_order_task", "relay_outbox"]
    order.refresh_from_db()
    assert order.status == Order.Status.RELEASED
    (fo,) = FulfillmentOrder.objects.filter(order=order)
    assert (fo.location, fo.status) == (warehouse, FulfillmentOrder.Status.RELEASED)
    assert fo.promised_date == order.promised_date
    assert OutboxMessage.objects.get(topic="order.placed").published_at is not None
    # Redelivery (a retried message, a sweep) does the work once.
    core_tasks.relay_outbox()
    assert worker() == []
    assert FulfillmentOrder.objects.filter(order=order).count() == 1

    # --- the warehouse's system sees the work and does it
    work = scanner.get(f"/api/v1/locations/{warehouse.code}/work/").json()
    assert [w["id"] for w in work["results"]] == [fo.pk]
    shipped = ship_through_api(scanner, fo.pk, TRACKING)
    assert (shipped["status"], shipped["carrier"], shipped["tracking_number"]) == (
        "shipped",
        "parcelco",
        TRACKING,
    )

    order.refresh_from_db()
    assert order.status == Order.Status.SHIPPED
    for sku, units in ((sku_a, 2), (sku_b, 1)):
        level = stock_level(sku, warehouse)
        assert (level.on_hand, level.reserved) == (10 - units, 0)
        assert StockMovement.objects.get(sku=sku, location=warehouse, kind="shipment").quantity == (
            -units
        )
        assert movements_total(sku, warehouse) == level.on_hand
    assert set(
        Reservation.objects.filter(order_line__order=order).values_list("state", flat=True)
    ) == {Reservation.State.FULFILLED}
    assert captured_total(order) == order.total_amount
    assert not order.payments.filter(status=Payment.Status.AUTHORIZED).exists()

    # --- after commit: the gateway capture and the customer's email
    ran = worker()
    assert "notify_customer" in ran
    (email,) = mailoutbox
    assert email.to == ["grace@example.com"]
    assert order.number in email.subject
    assert TRACKING in email.body

    # --- delivery closes it
    assert step(scanner, fo.pk, "deliver")["status"] == "delivered"
    order.refresh_from_db()
    assert order.status == Order.Status.COMPLETED
    worker()
    assert len(mailoutbox) == 2  # delivered
    assert scanner.get(f"/api/v1/locations/{warehouse.code}/work/").json()["count"] == 0

    # --- what the storefront sees
    detail = channel_client.get(f"/api/v1/orders/{order.number}/").json()
    assert detail["status"] == "completed"
    (fulfillment,) = detail["fulfillments"]
    assert fulfillment["location"] == warehouse.code
    assert fulfillment["status"] == "delivered"
    assert (fulfillment["carrier"], fulfillment["tracking_number"]) == ("parcelco", TRACKING)
    assert fulfillment["shipped_at"]
    assert [(line["sku"], line["quantity"]) for line in fulfillment["lines"]] == [
        ("SKU-A", 2),
        ("SKU-B", 1),
    ]
    promised = order.promised_date.isoformat()
    assert [line["promised_date"] for line in detail["lines"]] == [promised, promised]
    assert [line["quantity_backordered"] for line in detail["lines"]] == [0, 0]
    kinds = [event["kind"] for event in detail["events"]]
    for kind in ("placed", "payment", "stock_reserved", "sourced", "fulfillment", "notification"):
        assert kind in kinds, kind
    walked = [
        (event["data"].get("from"), event["data"].get("to"))
        for event in detail["events"]
        if event["kind"] == "status_changed"
    ]
    assert walked == [
        ("placed", "released"),
        ("released", "shipped"),
        ("shipped", "completed"),
    ]
    assert {p["status"] for p in detail["payments"]} == {"captured"}


def test_split_shipment_two_locations_two_parcels_each_tracked(
    worker, catalogue, warehouse, channel_client, scanner, parcelco, mailoutbox
):
    west = LocationFactory(code="WH-WEST", priority=20)
    sku_d = SKUFactory(code="SKU-D", price_amount="40.00")
    stock(sku_d, west, 5)  # only the west warehouse holds SKU-D
    worker()  # the set-up's stock receipts have outbox traffic of their own

    placed = place(
        channel_client,
        "e2e-split",
        lines=[{"sku": "SKU-A", "quantity": 2}, {"sku": "SKU-D", "quantity": 1}],
    )
    order = Order.objects.get(number=placed["number"])
    # one release per fulfillment order, written together and relayed by one run
    assert worker() == ["relay_outbox", "source_order_task", "relay_outbox"]
    released = OutboxMessage.objects.filter(topic="fulfillment.released")
    assert released.count() == 2
    assert not released.filter(published_at__isnull=True).exists()

    fos = {fo.location.code: fo for fo in FulfillmentOrder.objects.filter(order=order)}
    assert set(fos) == {"WH-EAST", "WH-WEST"}
    assert {fo.status for fo in fos.values()} == {FulfillmentOrder.Status.RELEASED}
    east, west_fo = fos["WH-EAST"], fos["WH-WEST"]
    assert sorted(east.lines.values_list("sku__code", "quantity")) == [("SKU-A", 2)]
    assert sorted(west_fo.lines.values_list("sku__code", "quantity")) == [("SKU-D", 1)]

    # --- the first parcel leaves: partially shipped, paid for what shipped (and the shipping)
    ship_through_api(scanner, east.pk, "PC-EAST")
    order.refresh_from_db()
    assert order.status == Order.Status.PARTIALLY_SHIPPED
    line_a = order.lines.get(sku_code="SKU-A")
    first_capture = line_a.line_total_amount + line_a.tax_amount + order.shipping_amount
    assert captured_total(order) == first_capture
    assert order.payments.get(status=Payment.Status.AUTHORIZED).amount == (
        order.total_amount - first_capture
    )
    assert stock_level(sku_d, west).reserved == 1  # the other parcel's units stay held
    worker()
    assert len(mailoutbox) == 1 and "PC-EAST" in mailoutbox[0].body

    # --- the second parcel leaves: shipped, paid in full
    ship_through_api(scanner, west_fo.pk, "PC-WEST", weight="0.5")
    order.refresh_from_db()
    assert order.status == Order.Status.SHIPPED
    assert captured_total(order) == order.total_amount
    assert (stock_level(sku_d, west).on_hand, stock_level(sku_d, west).reserved) == (4, 0)
    worker()
    assert len(mailoutbox) == 2 and "PC-WEST" in mailoutbox[1].body

    # --- both delivered: completed, not before
    step(scanner, east.pk, "deliver")
    order.refresh_from_db()
    assert order.status == Order.Status.SHIPPED
    step(scanner, west_fo.pk, "deliver")
    order.refresh_from_db()
    assert order.status == Order.Status.COMPLETED

    detail = channel_client.get(f"/api/v1/orders/{order.number}/").json()
    tracked = {f["location"]: (f["carrier"], f["tracking_number"]) for f in detail["fulfillments"]}
    assert tracked == {"WH-EAST": ("parcelco", "PC-EAST"), "WH-WEST": ("parcelco", "PC-WEST")}
    by_fo = {f["location"]: f["promised_date"] for f in detail["fulfillments"]}
    # Each line is promised for its own parcel's date.
    assert {line["sku"]: line["promised_date"] for line in detail["lines"]} == {
        "SKU-A": by_fo["WH-EAST"],
        "SKU-D": by_fo["WH-WEST"],
    }
    walked = [
        event["data"].get("to") for event in detail["events"] if event["kind"] == "status_changed"
    ]
    assert walked == ["released", "partially_shipped", "shipped", "completed"]


def test_the_storefront_sees_the_carrier_that_took_the_parcel(
    worker, catalogue, warehouse, channel_client, scanner, parcelco
):
    """The plan chose ParcelCo; the warehouse handed the parcel to UPS instead."""
    Carrier.objects.create(code="ups", name="UPS")
    worker()
    order = Order.objects.get(number=place(channel_client, "e2e-ups")["number"])
    worker()
    (fo,) = FulfillmentOrder.objects.filter(order=order)

    response = scanner.post(f"/api/v1/fulfillments/{fo.pk}/pick/", {}, format="json")
    assert response.status_code == 200
    step(scanner, fo.pk, "pack", {"packages": [{"weight_kg": "1.5"}]})
    shipped = step(scanner, fo.pk, "ship", {"carrier": "ups", "tracking_number": "1Z999"})
    assert (shipped["carrier"], shipped["tracking_number"]) == ("ups", "1Z999")

    detail = channel_client.get(f"/api/v1/orders/{order.number}/").json()
    (fulfillment,) = detail["fulfillments"]
    assert (fulfillment["carrier"], fulfillment["tracking_number"]) == ("ups", "1Z999")
