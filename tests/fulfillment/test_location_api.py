"""The locations' API over HTTP: who may call it, what each step returns and writes."""

import base64

import pytest
from django.contrib.auth.models import Permission
from django.core.cache import cache
from django.urls import include, path
from rest_framework.test import APIClient

from fulfillment.models import Carrier, FulfillmentOrder, PickList
from inventory.models import StockLevel, StockMovement
from oms.urls import urlpatterns as project_urlpatterns
from orders.models import Order, Payment
from tests.factories import LocationFactory, UserFactory, stock
from tests.fulfillment.test_warehouse import released_order

# Until oms/urls.py includes fulfillment.location_urls, these tests route through this module;
# afterwards the extra include is a harmless duplicate.
urlpatterns = [*project_urlpatterns, path("api/v1/", include("fulfillment.location_urls"))]

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]

PROBLEM_JSON = "application/problem+json"


def work_url(code):
    return f"/api/v1/locations/{code}/work/"


def step_url(fo, step):
    return f"/api/v1/fulfillments/{fo.pk}/{step}/"


@pytest.fixture(autouse=True)
def fresh_throttle_budget():
    # The per-caller throttle counts requests in the cache, which outlives a test.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def location_system(db):
    """The user a location's system signs in as: staff with the one permission it needs."""
    user = UserFactory(username="wh-east-scanner", is_staff=True)
    user.user_permissions.add(
        Permission.objects.get(
            content_type__app_label="fulfillment", codename="change_fulfillmentorder"
        )
    )
    return user


@pytest.fixture
def scanner(location_system):
    """The location's system, signed in."""
    client = APIClient()
    client.force_login(location_system)
    return client


@pytest.fixture
def ups(db):
    return Carrier.objects.create(code="ups", name="UPS")


def run_to_packed(scanner, fo):
    assert scanner.post(step_url(fo, "pick"), {}, format="json").status_code == 200
    response = scanner.post(
        step_url(fo, "pack"), {"packages": [{"weight_kg": "1.500"}]}, format="json"
    )
    assert response.status_code == 200
    return response


# --- Who may call --------------------------------------------------------------------------


def test_staff_without_the_permission_is_refused(catalogue, warehouse, channel):
    _, (fo,) = released_order(channel)
    clerk = APIClient()
    clerk.force_login(UserFactory(username="clerk", is_staff=True))

    assert clerk.get(work_url("WH-EAST")).status_code == 403
    response = clerk.post(step_url(fo, "pick"), {}, format="json")

    assert response.status_code == 403
    assert response["Content-Type"] == PROBLEM_JSON
    assert not PickList.objects.exists()


def test_a_channel_key_opens_nothing_here(catalogue, warehouse, channel, channel_client):
    _, (fo,) = released_order(channel)

    assert channel_client.get(work_url("WH-EAST")).status_code == 401
    assert channel_client.post(step_url(fo, "pick"), {}, format="json").status_code == 401
    assert not PickList.objects.exists()


def test_a_location_system_signs_in_with_basic_auth(catalogue, warehouse, location_system):
    client = APIClient()
    credentials = base64.b64encode(b"wh-east-scanner:secret-pass").decode()
    client.credentials(HTTP_AUTHORIZATION=f"Basic {credentials}")

    assert client.get(work_url("WH-EAST")).status_code == 200


# --- Work list -----------------------------------------------------------------------------


def test_work_list_shows_only_this_locations_open_work(catalogue, warehouse, channel, scanner):
    west = LocationFactory(code="WH-WEST", priority=20)
    stock(catalogue[2], west, 5)
    StockLevel.objects.filter(sku=catalogue[2], location=warehouse).update(on_hand=0)  # set-up
    _, (east_fo,) = released_order(channel)
    _, (west_fo,) = released_order(channel, lines=[{"sku": "SKU-C", "quantity": 1}])
    assert west_fo.location == west

    response = scanner.get(work_url("WH-EAST"))

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    (work,) = body["results"]
    assert work["id"] == east_fo.pk
    assert work["location"] == "WH-EAST"
    assert work["status"] == "released"
    assert work["lines"] == [
        {"sku": "SKU-A", "quantity": 2, "quantity_picked": 0, "quantity_shipped": 0},
        {"sku": "SKU-B", "quantity": 1, "quantity_picked": 0, "quantity_shipped": 0},
    ]
    assert [w["id"] for w in scanner.get(work_url("WH-WEST")).json()["results"]] == [west_fo.pk]
    assert scanner.get(work_url("NOWHERE")).status_code == 404


def pickup_by_transfer(channel, store, quantity=1):
    """A pickup order the store lacks the stock for: the warehouse transfers it."""
    order, (transfer,) = released_order(
        channel,
        lines=[{"sku": "SKU-A", "quantity": quantity}],
        delivery={"method": "pickup", "location": store.code},
    )
    assert (transfer.kind, transfer.destination_location) == (
        FulfillmentOrder.Kind.TRANSFER,
        store,
    )
    return order, transfer


def ship_transfer(scanner, transfer, tracking="T1"):
    run_to_packed(scanner, transfer)
    response = scanner.post(
        step_url(transfer, "ship"), {"carrier": "ups", "tracking_number": tracking}, format="json"
    )
    assert response.json()["status"] == "shipped"


def test_a_store_sees_what_to_receive_apart_from_its_own_work(
    catalogue, warehouse, store, channel, scanner, ups
):
    stock(catalogue[1], store, 2)
    _, (own,) = released_order(
        channel,
        lines=[{"sku": "SKU-B", "quantity": 1}],
        delivery={"method": "pickup", "location": store.code},
    )
    assert (own.kind, own.location) == (FulfillmentOrder.Kind.PICKUP, store)
    order, transfer = pickup_by_transfer(channel, store, quantity=2)

    # Released at the warehouse: the warehouse's work, nothing to receive at the store yet.
    before = scanner.get(work_url(store.code)).json()
    assert [w["id"] for w in before["results"]] == [own.pk]
    assert before["inbound"] == {"count": 0, "results": []}
    assert transfer.pk in [w["id"] for w in scanner.get(work_url("WH-EAST")).json()["results"]]

    ship_transfer(scanner, transfer, tracking="T-77")

    body = scanner.get(work_url(store.code)).json()
    assert [w["id"] for w in body["results"]] == [own.pk]  # its own work, unchanged
    assert body["inbound"]["count"] == 1
    (inbound,) = body["inbound"]["results"]
    assert inbound["id"] == transfer.pk
    assert (inbound["location"], inbound["destination"]) == ("WH-EAST", store.code)
    assert (inbound["kind"], inbound["status"]) == ("transfer", "shipped")
    assert (inbound["order"], inbound["carrier"], inbound["tracking_number"]) == (
        order.number,
        "ups",
        "T-77",
    )
    assert [(line["sku"], line["quantity_shipped"]) for line in inbound["lines"]] == [("SKU-A", 2)]
    warehouse_view = scanner.get(work_url("WH-EAST")).json()
    assert warehouse_view["results"] == []
    assert warehouse_view["inbound"]["count"] == 0  # nothing travels to the warehouse

    assert scanner.post(step_url(transfer, "receive"), format="json").status_code == 200

    after = scanner.get(work_url(store.code)).json()
    assert after["inbound"] == {"count": 0, "results": []}
    pickup = order.fulfillment_orders.get(kind=FulfillmentOrder.Kind.PICKUP)
    assert [(w["id"], w["status"]) for w in after["results"]] == [
        (own.pk, "released"),
        (pickup.pk, "ready_for_pickup"),
    ]


@pytest.mark.parametrize("orders", [1, 3])
def test_the_work_list_takes_a_fixed_number_of_queries(
    catalogue, warehouse, store, channel, scanner, ups, orders, django_assert_num_queries
):
    stock(catalogue[1], store, 5)
    for index in range(orders):
        released_order(
            channel,
            lines=[{"sku": "SKU-B", "quantity": 1}],
            delivery={"method": "pickup", "location": store.code},
        )
        _, transfer = pickup_by_transfer(channel, store)
        ship_transfer(scanner, transfer, tracking=f"T{index}")

    # session, user, 2 permission reads, the location; own work: count, page, lines, packages;
    # inbound: the same four.
    with django_assert_num_queries(13):
        body = scanner.get(work_url(store.code)).json()

    assert len(body["results"]) == orders
    assert body["inbound"]["count"] == len(body["inbound"]["results"]) == orders


# --- The steps -----------------------------------------------------------------------------


def test_pick_pack_ship_deliver_over_http(catalogue, warehouse, channel, scanner, ups):
    order, (fo,) = released_order(channel)

    picked = scanner.post(step_url(fo, "pick"), {}, format="json")
    assert picked.status_code == 200
    assert [line["quantity_picked"] for line in picked.json()["lines"]] == [2, 1]
    assert picked.json()["status"] == "picking"

    packed = scanner.post(step_url(fo, "pack"), {"packages": [{"weight_kg": "2"}]}, format="json")
    assert packed.json()["status"] == "packed"

    shipped = scanner.post(
        step_url(fo, "ship"), {"carrier": "ups", "tracking_number": "1Z1"}, format="json"
    )
    assert shipped.status_code == 200
    body = shipped.json()
    assert body["order"] == order.number
    assert (body["status"], body["carrier"], body["tracking_number"]) == ("shipped", "ups", "1Z1")
    assert body["shipped_at"]
    assert [line["quantity_shipped"] for line in body["lines"]] == [2, 1]
    order.refresh_from_db()
    assert order.status == Order.Status.SHIPPED
    assert order.payments.get().status == Payment.Status.CAPTURED

    delivered = scanner.post(step_url(fo, "deliver"), format="json")
    assert delivered.json()["status"] == "delivered"
    order.refresh_from_db()
    assert order.status == Order.Status.COMPLETED
    assert scanner.get(work_url("WH-EAST")).json()["count"] == 0


def test_every_step_can_be_repeated(catalogue, warehouse, channel, scanner, ups):
    _, (fo,) = released_order(channel)
    run_to_packed(scanner, fo)
    ship = {"carrier": "ups", "tracking_number": "1Z1"}
    first = scanner.post(step_url(fo, "ship"), ship, format="json")

    assert scanner.post(step_url(fo, "pick"), {}, format="json").status_code == 200
    assert scanner.post(
        step_url(fo, "pack"), {"packages": [{"weight_kg": "9"}]}, format="json"
    ).json()["status"] == ("shipped")
    again = scanner.post(step_url(fo, "ship"), ship, format="json")

    assert again.status_code == 200
    assert again.json() == first.json()
    assert StockMovement.objects.filter(kind="shipment").count() == 2  # one per line, once
    assert PickList.objects.count() == 1


def test_short_pick_over_http_names_the_sku(catalogue, warehouse, channel, scanner):
    _, (fo,) = released_order(channel)

    response = scanner.post(
        step_url(fo, "pick"), {"lines": [{"sku": "SKU-A", "quantity_picked": 1}]}, format="json"
    )

    assert response.status_code == 200
    assert [
        (line["sku"], line["quantity"], line["quantity_picked"])
        for line in response.json()["lines"]
    ] == [("SKU-A", 1, 1), ("SKU-B", 1, 1)]
    assert StockMovement.objects.get(kind="adjustment").quantity == -1


@pytest.mark.parametrize(
    ("lines", "field"),
    [
        ([{"sku": "SKU-C", "quantity_picked": 1}], "lines[0].sku"),
        ([{"sku": "SKU-A", "quantity_picked": 3}], "lines[0].quantity_picked"),
        ([{"sku": "SKU-A", "quantity_picked": -1}], "lines[0].quantity_picked"),
        ([{"sku": "SKU-A", "quantity": 1}], "lines[0].quantity"),
    ],
)
def test_a_bad_pick_is_refused_and_writes_nothing(
    catalogue, warehouse, channel, scanner, lines, field
):
    _, (fo,) = released_order(channel)

    response = scanner.post(step_url(fo, "pick"), {"lines": lines}, format="json")

    assert response.status_code == 400
    assert response["Content-Type"] == PROBLEM_JSON
    assert field in response.json()["errors"]
    fo.refresh_from_db()
    assert fo.status == FulfillmentOrder.Status.RELEASED
    assert not PickList.objects.exists()


def test_ship_without_a_tracking_number_is_400_naming_it(
    catalogue, warehouse, channel, scanner, ups
):
    _, (fo,) = released_order(channel)
    run_to_packed(scanner, fo)

    response = scanner.post(step_url(fo, "ship"), {"carrier": "ups"}, format="json")

    assert response.status_code == 400
    assert response["Content-Type"] == PROBLEM_JSON
    assert list(response.json()["errors"]) == ["tracking_number"]
    assert not StockMovement.objects.filter(kind="shipment").exists()


def test_ship_from_the_wrong_state_is_409(catalogue, warehouse, channel, scanner, ups):
    _, (fo,) = released_order(channel)

    response = scanner.post(
        step_url(fo, "ship"), {"carrier": "ups", "tracking_number": "1Z1"}, format="json"
    )

    assert response.status_code == 409
    assert response["Content-Type"] == PROBLEM_JSON
    assert response.json()["code"] == "illegal_transition"
    assert not StockMovement.objects.filter(kind="shipment").exists()


def test_pack_needs_packages_with_a_weight(catalogue, warehouse, channel, scanner):
    _, (fo,) = released_order(channel)
    scanner.post(step_url(fo, "pick"), {}, format="json")

    response = scanner.post(step_url(fo, "pack"), {"packages": [{"weight_kg": "0"}]}, format="json")

    assert response.status_code == 400
    assert "packages[0].weight_kg" in response.json()["errors"]


def test_pickup_over_http(catalogue, store, channel, scanner):
    stock(catalogue[0], store, 3)
    order, (fo,) = released_order(
        channel,
        lines=[{"sku": "SKU-A", "quantity": 1}],
        delivery={"method": "pickup", "location": store.code},
    )

    ready = scanner.post(step_url(fo, "ready-for-pickup"), format="json")
    assert ready.json()["status"] == "ready_for_pickup"
    collected = scanner.post(step_url(fo, "pickup"), format="json")

    assert collected.json()["status"] == "picked_up"
    order.refresh_from_db()
    assert order.status == Order.Status.COMPLETED
    assert order.payments.get(status=Payment.Status.CAPTURED).amount == order.total_amount


def test_a_transfer_is_shipped_and_received_over_http(
    catalogue, warehouse, store, channel, scanner, ups
):
    sku = catalogue[0]  # the store holds none: the warehouse transfers it
    order, (transfer,) = released_order(
        channel,
        lines=[{"sku": "SKU-A", "quantity": 2}],
        delivery={"method": "pickup", "location": store.code},
    )
    assert transfer.kind == FulfillmentOrder.Kind.TRANSFER
    run_to_packed(scanner, transfer)
    shipped = scanner.post(
        step_url(transfer, "ship"), {"carrier": "ups", "tracking_number": "T1"}, format="json"
    )
    assert shipped.json()["status"] == "shipped"

    received = scanner.post(step_url(transfer, "receive"), format="json")
    again = scanner.post(step_url(transfer, "receive"), format="json")

    assert received.status_code == again.status_code == 200
    assert received.json()["status"] == again.json()["status"] == "delivered"
    level = StockLevel.objects.get(sku=sku, location=store)
    assert (level.on_hand, level.reserved) == (2, 2)
    assert StockMovement.objects.filter(location=store, kind="transfer_in").count() == 1
    (pickup,) = scanner.get(work_url(store.code)).json()["results"]
    assert (pickup["kind"], pickup["status"]) == ("pickup", "ready_for_pickup")
    order.refresh_from_db()
    assert order.status == Order.Status.READY_FOR_PICKUP


def test_receiving_what_is_not_an_inbound_transfer_is_409(catalogue, warehouse, channel, scanner):
    _, (fo,) = released_order(channel)

    response = scanner.post(step_url(fo, "receive"), format="json")

    assert response.status_code == 409
    assert response.json()["code"] == "not_a_transfer"


def test_packing_slip_and_label_download_as_pdf(catalogue, warehouse, channel, scanner, ups):
    _, (fo,) = released_order(channel)
    run_to_packed(scanner, fo)
    scanner.post(step_url(fo, "ship"), {"carrier": "ups", "tracking_number": "1Z1"}, format="json")

    for document in ("packing-slip.pdf", "label.pdf"):
        for accept in ("*/*", "application/pdf"):
            response = scanner.get(f"/api/v1/fulfillments/{fo.pk}/{document}", HTTP_ACCEPT=accept)
            assert response.status_code == 200, document
            assert response["Content-Type"] == "application/pdf"
            assert "attachment" in response["Content-Disposition"]
            assert response.content.startswith(b"%PDF")
    missing = scanner.get("/api/v1/fulfillments/999999/label.pdf")
    assert missing.status_code == 404
    assert missing["Content-Type"] == PROBLEM_JSON
