"""hostile_input's staff pass (README "Reliability"): the objects it seeds for schemathesis,
and the table checks that explain what accepted staff requests changed."""

import base64
import tomllib

import pytest

from fulfillment.models import FulfillmentOrder
from inventory.models import PurchaseOrder
from inventory.replenishment.purchasing import ReceiptLine, receive_purchase_order
from reliability import hostile_input, hostile_staff
from reliability.harness import Outcome
from tests.reliability.recorded import recorded_post


@pytest.fixture
def ids(db):
    return hostile_input.setup()


def staff_post(ids, path, body=None) -> dict:
    """POST as the seeded staff user."""
    token = base64.b64encode(":".join(ids["staff"]).encode()).decode()
    return recorded_post(f"Basic {token}", path, body)


def explain(before, interactions) -> Outcome:
    outcome = Outcome("hostile_input")
    hostile_staff.explain_staff_changes(outcome, before, hostile_input.snapshot(), interactions)
    return outcome


def test_the_staff_pass_gets_objects_at_every_step_and_their_ids_in_its_config(ids):
    config = tomllib.loads(hostile_staff.staff_config(ids))

    statuses = dict(FulfillmentOrder.objects.values_list("pk", "status"))
    assert sorted(statuses[pk] for pk in ids["fulfillment_ids"]) == sorted(
        ["released", "picking", "packed", "shipped", "released", "released"]
    )
    assert set(FulfillmentOrder.objects.values_list("kind", flat=True)) == {
        "ship",
        "pickup",
        "dropship",
    }
    assert sorted(
        PurchaseOrder.objects.filter(number__in=ids["purchase_order_numbers"]).values_list(
            "status", flat=True
        )
    ) == ["draft"] + ["sent"] * (hostile_staff.PURCHASE_ORDERS - 1)
    assert config["dictionaries"]["fulfillments"]["values"] == ids["fulfillment_ids"]
    assert config["dictionaries"]["dropship_orders"]["values"] == ids["dropship_numbers"]
    assert config["parameters"]["path.id"]["dictionary"] == "fulfillments"
    assert {operation["include-path"] for operation in config["operations"]} == {
        "/api/v1/purchase-orders/{number}/receipts/",
        "/api/v1/vendors/{code}/purchase-orders/{number}/shipment/",
    }


def test_accepted_receipts_and_shipments_explain_the_stock_they_moved(ids):
    before = hostile_input.snapshot()
    sent = PurchaseOrder.objects.filter(status="sent").order_by("pk").first()
    packed = FulfillmentOrder.objects.get(status="packed")

    interactions = [
        staff_post(
            ids,
            f"/api/v1/purchase-orders/{sent.number}/receipts/",
            {"lines": [{"sku": hostile_staff.STAFF_SKU, "quantity": 5}]},
        ),
        staff_post(ids, f"/api/v1/fulfillments/{packed.pk}/ship/", {"tracking_number": "1Z9"}),
        staff_post(ids, f"/api/v1/purchase-orders/{sent.number}/receipts/", {"lines": []}),
    ]

    assert [item["status"] for item in interactions] == [200, 200, 400]
    outcome = explain(before, interactions)
    assert outcome.passed, outcome.broken
    sent.refresh_from_db()
    assert sent.status == "partially_received"
    assert packed.order.payments.filter(status="captured").exists()


def test_stock_received_without_an_accepted_request_breaks_the_invariants(ids):
    before = hostile_input.snapshot()
    sent = PurchaseOrder.objects.filter(status="sent").order_by("pk").first()
    refused = staff_post(ids, f"/api/v1/purchase-orders/{sent.number}/receipts/", {"lines": []})
    # As if the refused request had booked the goods anyway.
    receive_purchase_order(
        purchase_order=sent, lines=[ReceiptLine(sku=hostile_staff.STAFF_SKU, quantity=3)]
    )

    outcome = explain(before, [refused])

    assert refused["status"] == 400
    assert any(line.startswith("purchase orders:") for line in outcome.broken)
    assert any(line.startswith("stock movements:") for line in outcome.broken)


def test_what_was_tried_is_counted_per_documented_operation():
    recorded = [
        {"method": "POST", "path": "/api/v1/fulfillments/7/pick/", "status": 200},
        {"method": "POST", "path": "/api/v1/fulfillments/abc/pick/", "status": 404},
        {"method": "GET", "path": "/api/v1/fulfillments/7/label.pdf", "status": 200},
        {"method": "TRACE", "path": "/api/v1/fulfillments/7/pick/", "status": 405},
    ]

    tried = hostile_input.tried_per_operation(recorded, hostile_input.operation_templates())

    assert tried == {
        "POST /api/v1/fulfillments/{id}/pick/": {200: 1, 404: 1},
        "GET /api/v1/fulfillments/{id}/label.pdf": {200: 1},
        "other methods": {405: 1},
    }
