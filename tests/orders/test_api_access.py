"""Who may call the API, what each caller sees, cancelling, listing, throttling, availability."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from rest_framework.test import APIClient

from inventory.models import StockLevel
from inventory.services import set_safety_stock
from oms.core.throttling import PerCallerRateThrottle
from orders import services
from orders.models import ChannelAPIKey, Order, OrderEvent, Payment
from tests import factories

ORDERS_URL = "/api/v1/orders/"
AVAILABILITY_URL = "/api/v1/availability/"
PROBLEM_JSON = "application/problem+json"


def order_url(number: str, action: str = "") -> str:
    return f"{ORDERS_URL}{number}/{action + '/' if action else ''}"


def placed(response) -> str:
    assert response.status_code == 201, response.json()
    return response.json()["number"]


def reserved(sku_code: str) -> int:
    return sum(StockLevel.objects.filter(sku__code=sku_code).values_list("reserved", flat=True))


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM_JSON
    body = response.json()
    assert body["status"] == status
    return body


# --- Authentication ------------------------------------------------------------------------


def test_a_call_without_credentials_is_401_and_writes_nothing(api_client, catalogue, rows_written):
    before = rows_written()

    listing = api_client.get(ORDERS_URL)
    creating = api_client.post(
        ORDERS_URL, factories.order_payload(), format="json", HTTP_IDEMPOTENCY_KEY="k"
    )

    assert_problem(listing, 401)
    assert listing["WWW-Authenticate"] == "Api-Key"
    assert assert_problem(creating, 401)["code"] == "not_authenticated"
    assert rows_written() == before


def _bad_keys(channel):
    api_key, key = ChannelAPIKey.objects.create_key(name="real", channel=channel)
    return {"unknown": "nope.nope", "wrong-secret": f"{api_key.prefix}.not-the-secret", "": key}


@pytest.mark.parametrize("kind", ["unknown", "wrong-secret"])
def test_a_wrong_key_is_401(channel, kind):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {_bad_keys(channel)[kind]}")

    body = assert_problem(client.get(ORDERS_URL), 401)

    assert body["code"] == "authentication_failed"


def test_a_revoked_key_is_401(channel):
    api_key, key = ChannelAPIKey.objects.create_key(name="old", channel=channel)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    assert client.get(ORDERS_URL).status_code == 200

    api_key.revoked = True
    api_key.save(update_fields=["revoked"])

    assert assert_problem(client.get(ORDERS_URL), 401)["code"] == "authentication_failed"


def test_an_expired_key_is_401(channel):
    _, key = ChannelAPIKey.objects.create_key(
        name="old", channel=channel, expiry_date=timezone.now() - timedelta(minutes=1)
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")

    assert assert_problem(client.get(ORDERS_URL), 401)["code"] == "authentication_failed"


def test_a_key_of_an_inactive_channel_is_401(channel_client, channel, catalogue, rows_written):
    channel.is_active = False
    channel.save(update_fields=["is_active"])
    before = rows_written()

    listing = channel_client.get(ORDERS_URL)
    creating = channel_client.post(
        ORDERS_URL, factories.order_payload(), format="json", HTTP_IDEMPOTENCY_KEY="k"
    )

    assert assert_problem(listing, 401)["code"] == "authentication_failed"
    assert_problem(creating, 401)
    assert rows_written() == before


# --- Staff and other users -----------------------------------------------------------------


def test_staff_see_every_channels_orders(
    api_client, staff_user, post_order, other_channel_client, catalogue
):
    ours = placed(post_order())
    theirs = placed(post_order(client=other_channel_client))
    api_client.force_login(staff_user)

    response = api_client.get(ORDERS_URL)

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert {(o["number"], o["channel"]) for o in body["results"]} == {
        (ours, "web"),
        (theirs, "mobile"),
    }


def test_staff_must_name_the_channel_to_place_an_order_on(
    api_client, staff_user, catalogue, channel, other_channel, rows_written
):
    api_client.force_login(staff_user)
    before = rows_written()

    unnamed = api_client.post(
        ORDERS_URL, factories.order_payload(), format="json", HTTP_IDEMPOTENCY_KEY="k1"
    )
    unknown = api_client.post(
        ORDERS_URL,
        factories.order_payload(channel="nowhere"),
        format="json",
        HTTP_IDEMPOTENCY_KEY="k2",
    )

    assert "channel" in assert_problem(unnamed, 400)["errors"]
    assert "channel" in assert_problem(unknown, 400)["errors"]
    assert rows_written() == before

    named = api_client.post(
        ORDERS_URL,
        factories.order_payload(channel="mobile"),
        format="json",
        HTTP_IDEMPOTENCY_KEY="k3",
    )

    assert named.status_code == 201, named.json()
    assert named.json()["channel"] == "mobile"
    order = Order.objects.get(number=named.json()["number"])
    assert order.channel == other_channel
    placed_event = order.events.get(kind=OrderEvent.Kind.PLACED)
    assert (placed_event.actor, placed_event.actor_label) == (staff_user, "staff")


def test_a_storefront_cannot_place_on_another_channel(post_order, catalogue, rows_written):
    before = rows_written()

    response = post_order(factories.order_payload(channel="mobile"))

    assert "channel" in assert_problem(response, 400)["errors"]
    assert rows_written() == before


def test_a_logged_in_user_who_is_not_staff_is_403(api_client, catalogue, channel, rows_written):
    api_client.force_login(factories.UserFactory(username="clerk"))
    before = rows_written()

    listing = api_client.get(ORDERS_URL)
    creating = api_client.post(
        ORDERS_URL,
        factories.order_payload(channel="web"),
        format="json",
        HTTP_IDEMPOTENCY_KEY="k",
    )

    assert assert_problem(listing, 403)["code"] == "permission_denied"
    assert_problem(creating, 403)
    assert rows_written() == before


# --- Channel isolation ---------------------------------------------------------------------


def test_another_channels_order_is_not_found(post_order, other_channel_client, catalogue):
    number = placed(post_order())

    detail = other_channel_client.get(order_url(number))
    cancel = other_channel_client.post(order_url(number, "cancel"), {}, format="json")
    listing = other_channel_client.get(ORDERS_URL)

    assert assert_problem(detail, 404)["code"] == "not_found"
    assert_problem(cancel, 404)
    assert listing.status_code == 200
    assert listing.json()["count"] == 0
    assert listing.json()["results"] == []
    order = Order.objects.get(number=number)
    assert order.status == Order.Status.PLACED
    assert not order.events.filter(kind=OrderEvent.Kind.STATUS_CHANGED).exists()
    assert reserved("SKU-A") == 2


# --- Cancelling ----------------------------------------------------------------------------


def test_cancel_releases_the_stock_and_records_the_change(post_order, channel_client, catalogue):
    number = placed(post_order())
    assert reserved("SKU-A") == 2

    response = channel_client.post(
        order_url(number, "cancel"), {"reason": "customer changed mind"}, format="json"
    )

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "cancelled"
    assert [(line["quantity"], line["quantity_cancelled"]) for line in body["lines"]] == [
        (2, 2),
        (1, 1),
    ]
    status_events = [e for e in body["events"] if e["kind"] == "status_changed"]
    assert [(e["data"]["from"], e["data"]["to"]) for e in status_events] == [
        ("placed", "cancelled")
    ]
    assert status_events[0]["data"]["note"] == "customer changed mind"
    assert [p["status"] for p in body["payments"]] == ["voided"]

    assert Order.objects.get(number=number).status == Order.Status.CANCELLED
    assert Payment.objects.get(order__number=number).status == Payment.Status.VOIDED
    assert (reserved("SKU-A"), reserved("SKU-B")) == (0, 0)
    availability = channel_client.get(AVAILABILITY_URL, {"sku": ["SKU-A", "SKU-B"]})
    assert [(r["sku"], r["available"]) for r in availability.json()["results"]] == [
        ("SKU-A", 10),
        ("SKU-B", 10),
    ]


def test_cancelling_twice_is_harmless(post_order, channel_client, catalogue):
    number = placed(post_order())

    first = channel_client.post(order_url(number, "cancel"), {}, format="json")
    second = channel_client.post(order_url(number, "cancel"), {}, format="json")

    assert (first.status_code, second.status_code) == (200, 200)
    assert second.json()["status"] == "cancelled"
    order = Order.objects.get(number=number)
    assert order.events.filter(kind=OrderEvent.Kind.STATUS_CHANGED).count() == 1
    assert order.events.filter(kind=OrderEvent.Kind.STOCK_RELEASED).count() == 1
    assert reserved("SKU-A") == 0


def test_a_shipped_order_cannot_be_cancelled(post_order, channel_client, catalogue):
    number = placed(post_order())
    with transaction.atomic():
        order = Order.objects.select_for_update().get(number=number)
        services.transition(order, Order.Status.RELEASED)
        services.transition(order, Order.Status.SHIPPED)

    response = channel_client.post(order_url(number, "cancel"), {}, format="json")

    body = assert_problem(response, 409)
    assert body["code"] == "illegal_transition"
    assert Order.objects.get(number=number).status == Order.Status.SHIPPED
    assert not OrderEvent.objects.filter(
        order__number=number, data__to=Order.Status.CANCELLED
    ).exists()
    assert reserved("SKU-A") == 2


# --- Listing -------------------------------------------------------------------------------


@pytest.fixture
def three_orders(post_order, channel_client, catalogue):
    """January (grace), February (ada, SHOP-2), March (cancelled)."""
    january = placed(post_order(factories.order_payload(external_id="SHOP-1")))
    february = placed(
        post_order(
            factories.order_payload(
                external_id="SHOP-2",
                customer={"email": "Ada@Example.com", "first_name": "Ada"},
            )
        )
    )
    march = placed(post_order(factories.order_payload(external_id="SHOP-3")))
    assert channel_client.post(order_url(march, "cancel"), {}, format="json").status_code == 200
    for number, month in ((january, 1), (february, 2), (march, 3)):
        Order.objects.filter(number=number).update(placed_at=datetime(2025, month, 1, tzinfo=UTC))
    return january, february, march


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, ["march", "february", "january"]),
        ({"status": "cancelled"}, ["march"]),
        ({"status": ["placed", "cancelled"]}, ["march", "february", "january"]),
        ({"status": "shipped"}, []),
        ({"external_id": "SHOP-2"}, ["february"]),
        ({"customer_email": "ADA@example.COM"}, ["february"]),
        ({"created_after": "2025-02-01T00:00:00Z"}, ["march", "february"]),
        ({"created_before": "2025-02-01T00:00:00Z"}, ["january"]),
        (
            {"created_after": "2025-01-15T00:00:00Z", "created_before": "2025-02-15T00:00:00Z"},
            ["february"],
        ),
    ],
)
def test_list_filters(channel_client, three_orders, query, expected):
    numbers = dict(zip(["january", "february", "march"], three_orders, strict=True))

    response = channel_client.get(ORDERS_URL, query)

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["count"] == len(expected)
    assert [o["number"] for o in body["results"]] == [numbers[name] for name in expected]


def test_an_unknown_status_filter_is_400(channel_client, three_orders):
    response = channel_client.get(ORDERS_URL, {"status": "lost"})

    assert "status" in assert_problem(response, 400)["errors"]


# --- Throttling ----------------------------------------------------------------------------


def test_a_caller_over_its_budget_is_throttled(
    monkeypatch, channel_client, other_channel_client, catalogue
):
    monkeypatch.setattr(PerCallerRateThrottle, "THROTTLE_RATES", {"caller": "3/min"})
    cache.clear()

    statuses = [channel_client.get(ORDERS_URL).status_code for _ in range(3)]
    fourth = channel_client.get(ORDERS_URL)

    assert statuses == [200, 200, 200]
    assert assert_problem(fourth, 429)["code"] == "throttled"
    assert int(fourth["Retry-After"]) > 0
    # Each API key has its own budget.
    assert other_channel_client.get(ORDERS_URL).status_code == 200


# --- Availability --------------------------------------------------------------------------


def test_availability_per_sku_and_location(channel_client, catalogue):
    response = channel_client.get(AVAILABILITY_URL, {"sku": ["SKU-A", "SKU-B"]})

    assert response.status_code == 200
    assert response.json() == {
        "results": [
            {
                "sku": code,
                "available": 10,
                "locations": [
                    {"location": "WH-EAST", "available": 10, "ships": True, "pickup": False}
                ],
            }
            for code in ("SKU-A", "SKU-B")
        ]
    }


def test_network_availability_excludes_reserved_safety_stock_and_closed_locations(
    channel_client, post_order, catalogue, warehouse, store
):
    sku_a, sku_b, _ = catalogue
    # Placed while WH-EAST is the only holder, so the reservation is known to sit there.
    placed(post_order(factories.order_payload(lines=[{"sku": "SKU-A", "quantity": 2}])))
    factories.stock(sku_a, store, 5)
    set_safety_stock(sku=sku_a, location=store, safety_stock=2)
    set_safety_stock(sku=sku_b, location=warehouse, safety_stock=12)  # more than is free
    closed = factories.LocationFactory(code="WH-OLD", is_active=False, priority=1)
    factories.stock(sku_a, closed, 7)
    back_room = factories.LocationFactory(
        code="RETURNS", ships_orders=False, allows_pickup=False, priority=1
    )
    factories.stock(sku_a, back_room, 4)

    response = channel_client.get(AVAILABILITY_URL, {"sku": ["SKU-A", "SKU-B"]})

    assert response.status_code == 200
    sku_a_row, sku_b_row = response.json()["results"]
    assert sku_a_row == {
        "sku": "SKU-A",
        "available": 8 + 3,  # 10 − 2 reserved at WH-EAST; 5 − 2 safety at the store
        "locations": [
            {"location": "WH-EAST", "available": 8, "ships": True, "pickup": False},
            {"location": "STORE-NYC", "available": 3, "ships": True, "pickup": True},
        ],
    }
    assert sku_b_row["available"] == 0
    assert sku_b_row["locations"] == [
        {"location": "WH-EAST", "available": 0, "ships": True, "pickup": False}
    ]


@pytest.mark.parametrize(
    ("query", "named"),
    [
        pytest.param({"sku": ["SKU-A", "NOPE"]}, "NOPE", id="unknown"),
        pytest.param({"sku": [f"X-{n}" for n in range(101)]}, "100", id="101-skus"),
        pytest.param({}, "sku", id="none"),
        pytest.param({"sku": " "}, "sku", id="blank"),
    ],
)
def test_bad_availability_requests_are_400(channel_client, catalogue, query, named):
    response = channel_client.get(AVAILABILITY_URL, query)

    body = assert_problem(response, 400)
    assert list(body["errors"]) == ["sku"]
    assert named in body["errors"]["sku"][0]
