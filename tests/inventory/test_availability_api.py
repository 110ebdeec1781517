"""GET /api/v1/availability/ for many SKUs: what a storefront sees, in a fixed number of queries."""

import pytest

from tests import factories

AVAILABILITY_URL = "/api/v1/availability/"
# Key lookup (auth), known SKU codes, ATP rows: the same for 1 SKU as for the 100 allowed.
AVAILABILITY_QUERIES = 3


@pytest.fixture
def hundred_skus(warehouse, store):
    """SKU-000 … SKU-099, each with 7 units at WH-EAST (priority 10) and 3 at STORE-NYC (50)."""
    skus = []
    for n in range(100):
        sku = factories.SKUFactory(code=f"SKU-{n:03d}")
        factories.stock(sku, warehouse, 7)
        factories.stock(sku, store, 3)
        skus.append(sku)
    return skus


@pytest.mark.parametrize("sku_count", [1, 100])
def test_availability_queries_do_not_grow_with_skus(
    channel_client, hundred_skus, django_assert_num_queries, sku_count
):
    codes = [sku.code for sku in reversed(hundred_skus)][:sku_count]

    with django_assert_num_queries(AVAILABILITY_QUERIES):
        response = channel_client.get(AVAILABILITY_URL, {"sku": codes})

    assert response.status_code == 200
    results = response.json()["results"]
    assert [row["sku"] for row in results] == codes  # in the order asked, not by code
    for row in results:
        assert row == {
            "sku": row["sku"],
            "available": 10,
            "locations": [
                {"location": "WH-EAST", "available": 7, "ships": True, "pickup": False},
                {"location": "STORE-NYC", "available": 3, "ships": True, "pickup": True},
            ],
        }


def test_locations_are_listed_by_priority_then_code_and_flags_are_json_booleans(
    channel_client, warehouse
):
    first, second = factories.SKUFactory(code="SKU-1"), factories.SKUFactory(code="SKU-2")
    north = factories.LocationFactory(code="WH-NORTH", priority=20)
    annex = factories.LocationFactory(code="WH-ANNEX", priority=20)
    pickup_only = factories.LocationFactory(
        code="LOCKER-1", ships_orders=False, allows_pickup=True, priority=5
    )
    # Received in an order unlike the expected one, so the answer cannot just follow row ids.
    for location, quantity in ((north, 4), (warehouse, 2), (annex, 5), (pickup_only, 1)):
        factories.stock(second, location, quantity)
    factories.stock(first, north, 9)

    response = channel_client.get(AVAILABILITY_URL, {"sku": ["SKU-2", "SKU-1"]})

    assert response.status_code == 200
    second_row, first_row = response.json()["results"]
    assert second_row["available"] == 4 + 2 + 5 + 1
    assert [(row["location"], row["available"]) for row in second_row["locations"]] == [
        ("LOCKER-1", 1),
        ("WH-EAST", 2),
        ("WH-ANNEX", 5),
        ("WH-NORTH", 4),
    ]
    assert first_row["locations"] == [
        {"location": "WH-NORTH", "available": 9, "ships": True, "pickup": False}
    ]
    # true/false in the body, not 1/0 (1 == True in Python, so compare the types too).
    flags = [row[flag] for row in second_row["locations"] for flag in ("ships", "pickup")]
    assert all(type(flag) is bool for flag in flags)
    assert b'"location":"LOCKER-1","available":1,"ships":false,"pickup":true' in response.content


def test_a_sku_never_stocked_is_known_with_nothing_available(channel_client, catalogue):
    factories.SKUFactory(code="SKU-NEW")

    response = channel_client.get(AVAILABILITY_URL, {"sku": ["SKU-NEW", "SKU-A"]})

    assert response.status_code == 200
    assert response.json()["results"] == [
        {"sku": "SKU-NEW", "available": 0, "locations": []},
        {
            "sku": "SKU-A",
            "available": 10,
            "locations": [{"location": "WH-EAST", "available": 10, "ships": True, "pickup": False}],
        },
    ]
