"""Receiving over the API and in the admin; the admin's purchase-order and reorder-rule actions."""

import base64

import pytest
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from rest_framework.test import APIClient

from inventory.models import PurchaseOrder, StockLevel, StockMovement
from inventory.replenishment.purchasing import create_purchase_order
from tests.factories import (
    SKUFactory,
    SupplierFactory,
    UserFactory,
    api_key_for,
    reorder_rule,
    sent_purchase_order,
    supplier_item,
)

pytestmark = pytest.mark.django_db
PROBLEM_JSON = "application/problem+json"


@pytest.fixture
def acme(db):
    return SupplierFactory(code="ACME", lead_time_days=5)


@pytest.fixture
def sku(db):
    return SKUFactory(code="SKU-A")


@pytest.fixture
def dock(db):
    """The receiving dock's scanner: staff with the one permission, over HTTP Basic."""
    user = UserFactory(username="dock", is_staff=True)
    user.user_permissions.add(
        Permission.objects.get(content_type__app_label="inventory", codename="change_purchaseorder")
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Basic {base64.b64encode(b'dock:secret-pass').decode()}")
    return client


def receipts_url(purchase_order) -> str:
    return f"/api/v1/purchase-orders/{purchase_order.number}/receipts/"


def on_hand(sku, location) -> int:
    return StockLevel.objects.get(sku=sku, location=location).on_hand


def test_api_receipt_books_stock_and_answers_with_the_order(dock, acme, sku, warehouse):
    purchase_order = sent_purchase_order(acme, warehouse, [(sku, 10)])
    response = dock.post(
        receipts_url(purchase_order), {"lines": [{"sku": "SKU-A", "quantity": 4}]}, format="json"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "partially_received"
    assert body["lines"] == [{"sku": "SKU-A", "quantity_ordered": 10, "quantity_received": 4}]
    assert on_hand(sku, warehouse) == 4

    closed = dock.post(receipts_url(purchase_order), {"close": True}, format="json")
    assert closed.json()["status"] == "received"


def test_api_retry_with_the_same_key_books_once(dock, acme, sku, warehouse):
    purchase_order = sent_purchase_order(acme, warehouse, [(sku, 10)])
    for _ in range(2):
        response = dock.post(
            receipts_url(purchase_order),
            {"lines": [{"sku": "SKU-A", "quantity": 3}]},
            format="json",
            HTTP_IDEMPOTENCY_KEY="DN-778",
        )
        assert response.status_code == 200
    assert on_hand(sku, warehouse) == 3
    assert StockMovement.objects.get().reference == f"{purchase_order.number} receipt DN-778"


def test_api_bad_input_names_the_field_and_writes_nothing(dock, acme, sku, warehouse):
    purchase_order = sent_purchase_order(acme, warehouse, [(sku, 10)])
    cases = [
        ({"lines": [{"sku": "SKU-A", "quantity": 0}]}, "lines[0].quantity"),
        ({"lines": [{"sku": "SKU-A", "quantity": 12}]}, "lines[0].quantity"),  # > 10 %
        ({"lines": [{"sku": "NOPE", "quantity": 1}]}, "lines[0].sku"),
        ({"lines": [{"sku": "SKU-A", "quantity": 1, "price": 3}]}, "lines[0].price"),
        ({"lines": []}, "lines"),
    ]
    for body, field in cases:
        response = dock.post(receipts_url(purchase_order), body, format="json")
        assert response.status_code == 400, (body, response.content)
        assert response["Content-Type"] == PROBLEM_JSON
        assert field in response.json()["errors"], (body, response.json())
    assert not StockMovement.objects.exists()


def test_api_wrong_status_is_a_conflict_and_unknown_is_not_found(dock, acme, sku, warehouse):
    draft = create_purchase_order(
        supplier=acme,
        destination=warehouse,
        expected_date="2030-01-07",
        lines=[{"sku": sku, "quantity": 1}],
    )
    response = dock.post(
        receipts_url(draft), {"lines": [{"sku": "SKU-A", "quantity": 1}]}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["code"] == "illegal_transition"
    missing = dock.post("/api/v1/purchase-orders/PO-999999/receipts/", {}, format="json")
    assert missing.status_code == 404


def test_api_needs_staff_with_the_permission(acme, sku, warehouse, channel):
    purchase_order = sent_purchase_order(acme, warehouse, [(sku, 10)])
    storefront = APIClient()
    storefront.credentials(HTTP_AUTHORIZATION=f"Api-Key {api_key_for(channel)}")
    clerk = APIClient()
    clerk.force_authenticate(UserFactory(username="clerk", is_staff=True))
    body = {"lines": [{"sku": "SKU-A", "quantity": 1}]}
    for client in (APIClient(), storefront, clerk):
        response = client.post(receipts_url(purchase_order), body, format="json")
        assert response.status_code in (401, 403)
    assert not StockMovement.objects.exists()


# --- Admin ---------------------------------------------------------------------------------------


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def test_admin_approve_and_send_and_cancel_actions(staff_client, staff_user, acme, sku, warehouse):
    drafts = [
        create_purchase_order(
            supplier=acme,
            destination=warehouse,
            expected_date="2030-01-07",
            lines=[{"sku": sku, "quantity": 3}],
        )
        for _ in range(2)
    ]
    response = staff_client.post(
        "/admin/inventory/purchaseorder/",
        {"action": "approve_and_send_selected", "_selected_action": [drafts[0].pk]},
        follow=True,
    )
    assert f"Sent {drafts[0].number}." in messages_of(response)
    staff_client.post(
        "/admin/inventory/purchaseorder/",
        {"action": "cancel_selected", "_selected_action": [d.pk for d in drafts]},
    )
    statuses = dict(PurchaseOrder.objects.values_list("number", "status"))
    assert statuses == {drafts[0].number: "cancelled", drafts[1].number: "cancelled"}
    assert PurchaseOrder.objects.get(pk=drafts[0].pk).approved_by == staff_user


def test_admin_receive_form_books_stock_and_names_an_over_receipt(
    staff_client, acme, sku, warehouse
):
    purchase_order = sent_purchase_order(acme, warehouse, [(sku, 10)])
    url = f"/admin/inventory/purchaseorder/{purchase_order.pk}/receive/"
    assert staff_client.get(url).status_code == 200
    refused = staff_client.post(url, {"sku_SKU-A": 12, "receipt_key": ""})
    assert refused.status_code == 200
    assert "over-receipt allowance" in refused.content.decode()
    assert not StockMovement.objects.exists()

    response = staff_client.post(url, {"sku_SKU-A": 10, "receipt_key": "DN-1"}, follow=True)
    assert any("it is now received" in message for message in messages_of(response))
    assert on_hand(sku, warehouse) == 10


def test_admin_sets_reorder_points_from_demand_and_shows_the_numbers(
    staff_client, acme, sku, warehouse
):
    supplier_item(acme, sku)
    rule = reorder_rule(sku, warehouse, reorder_point=99)
    response = staff_client.post(
        "/admin/inventory/reorderrule/",
        {"action": "set_reorder_point_from_demand", "_selected_action": [rule.pk]},
        follow=True,
    )
    rule.refresh_from_db()
    assert rule.reorder_point == 0  # nothing went out in the window
    (message,) = messages_of(response)
    assert message.startswith("SKU-A at WH-EAST: reorder point 0 — 0 units out in the 28 days")


def test_admin_edits_only_drafts(staff_client, acme, sku, warehouse):
    purchase_order = sent_purchase_order(acme, warehouse, [(sku, 10)])
    page = staff_client.get(f"/admin/inventory/purchaseorder/{purchase_order.pk}/change/")
    assert page.status_code == 200
    assert "Receive goods" in page.content.decode()
    assert 'name="expected_date"' not in page.content.decode()
