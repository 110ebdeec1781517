"""POST /api/v1/delivery-options/: what a checkout page offers, and what capture then keeps.

The clock is frozen on a Monday morning (before every location's 14:00 cut-off), so every
promised date below can be worked out by hand from handling days and transit days.
"""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.db.models import Sum
from django.utils import timezone

from fulfillment.models import CarrierService, SourcingRuleSet
from inventory.models import Reservation, StockLevel
from oms.core.models import OutboxMessage
from orders.models import Order, OrderEvent
from tests import factories

URL = "/api/v1/delivery-options/"
ORDERS_URL = "/api/v1/orders/"
PROBLEM_JSON = "application/problem+json"

MONDAY_MORNING = datetime(2025, 3, 3, 10, 0, tzinfo=UTC)
NY_ADDRESS = {
    "line1": "1 Liberty Plaza",
    "city": "New York",
    "region": "NY",
    "postal_code": "10006",
    "country": "US",
}
MANHATTAN = {"latitude": "40.712800", "longitude": "-74.006000"}


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch):
    monkeypatch.setattr(timezone, "now", lambda: MONDAY_MORNING)
    return MONDAY_MORNING


@pytest.fixture(autouse=True)
def fresh_throttle_budget():
    # The per-caller throttle counts requests in the cache, which outlives a test.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def express_service(db):
    """Express: one carrier, next working day after hand-over, anywhere within 5,000 km."""
    level = factories.ServiceLevelFactory(
        code="express", name="Express", transit_days=1, base_amount=Decimal("15.00")
    )
    factories.carrier_rate(level, carrier="fastco", base="12.00", days=1)
    return level


@pytest.fixture
def stores(db, catalogue):
    """Three New York City stores and one in Philadelphia, outside the pickup radius."""
    midtown = factories.LocationFactory(
        code="STORE-MIDTOWN",
        type="store",
        allows_pickup=True,
        city="New York",
        latitude=Decimal("40.758000"),
        longitude=Decimal("-73.985500"),
    )
    brooklyn = factories.LocationFactory(
        code="STORE-BROOKLYN",
        type="store",
        allows_pickup=True,
        city="Brooklyn",
        latitude=Decimal("40.678200"),
        longitude=Decimal("-73.944200"),
    )
    queens = factories.LocationFactory(
        code="STORE-QUEENS",
        type="store",
        allows_pickup=True,
        city="Queens",
        latitude=Decimal("40.728200"),
        longitude=Decimal("-73.794900"),
    )
    philadelphia = factories.LocationFactory(
        code="STORE-PHL",
        type="store",
        allows_pickup=True,
        city="Philadelphia",
        latitude=Decimal("39.952600"),
        longitude=Decimal("-75.165200"),
    )
    for store in (midtown, philadelphia):
        factories.stock(catalogue[0], store, 5)
    return {"midtown": midtown, "brooklyn": brooklyn, "queens": queens, "phl": philadelphia}


def ask(client, lines, destination, **extra):
    return client.post(URL, {"lines": lines, "destination": destination, **extra}, format="json")


def by_code(options, key):
    return {option[key]: option for option in options}


def written() -> dict[str, int]:
    return {
        "orders": Order.objects.count(),
        "reservations": Reservation.objects.count(),
        "events": OrderEvent.objects.count(),
        "outbox": OutboxMessage.objects.count(),
        "reserved": StockLevel.objects.aggregate(total=Sum("reserved"))["total"] or 0,
    }


# --- ship options ----------------------------------------------------------------------------


def test_ship_options_list_each_active_service_level_with_price_and_date(
    channel_client, catalogue, express_service
):
    response = ask(channel_client, [{"sku": "SKU-A", "quantity": 2}], NY_ADDRESS)

    assert response.status_code == 200, response.json()
    ship = response.json()["ship"]
    # 2 × 0.5 kg: standard 5.00 + 1.00/kg, express 15.00 + 1.00/kg (the service level's price).
    # WH-EAST hands over on Tuesday (1 handling day); standard takes 3 days, express 1.
    assert ship == [
        {
            "service_level": "express",
            "name": "Express",
            "price": "16.00",
            "currency": "USD",
            "promised_date": "2025-03-05",
            "carriers": ["fastco"],
        },
        {
            "service_level": "standard",
            "name": "Standard",
            "price": "6.00",
            "currency": "USD",
            "promised_date": "2025-03-07",
            "carriers": ["parcelco"],
        },
    ]


def test_a_service_level_no_carrier_can_deliver_is_not_offered(channel_client, catalogue):
    # Next day exists and is active, but its only carrier reaches 10 km: WH-EAST (Newark) is
    # 13.7 km from ZIP 10006. Same day has no carrier at all; economy is switched off.
    next_day = factories.ServiceLevelFactory(code="next-day", name="Next day", transit_days=1)
    factories.carrier_rate(next_day, carrier="citycourier", km=10, days=1)
    factories.ServiceLevelFactory(code="same-day", name="Same day", transit_days=0)
    economy = factories.ServiceLevelFactory(code="economy", name="Economy", is_active=False)
    factories.carrier_rate(economy, carrier="slowco")

    response = ask(channel_client, [{"sku": "SKU-A", "quantity": 1}], NY_ADDRESS)

    assert response.status_code == 200
    assert [option["service_level"] for option in response.json()["ship"]] == ["standard"]


def test_a_carrier_that_reaches_the_destination_makes_the_level_available(
    channel_client, catalogue
):
    next_day = factories.ServiceLevelFactory(code="next-day", name="Next day", transit_days=1)
    factories.carrier_rate(next_day, carrier="citycourier", km=20, days=1)

    response = ask(channel_client, [{"sku": "SKU-A", "quantity": 1}], NY_ADDRESS)

    assert [
        (option["service_level"], option["promised_date"]) for option in response.json()["ship"]
    ] == [("next-day", "2025-03-05"), ("standard", "2025-03-07")]


def test_a_service_level_priced_in_another_currency_is_not_offered(channel_client, catalogue):
    euro = factories.ServiceLevelFactory(code="eu-standard", name="EU standard", currency="EUR")
    factories.carrier_rate(euro, carrier="europost")

    response = ask(channel_client, [{"sku": "SKU-A", "quantity": 1}], NY_ADDRESS)

    assert [option["service_level"] for option in response.json()["ship"]] == ["standard"]


def test_a_sku_without_stock_gets_no_ship_option(channel_client, catalogue):
    factories.SKUFactory(code="SKU-EMPTY")

    response = ask(
        channel_client,
        [{"sku": "SKU-A", "quantity": 1}, {"sku": "SKU-EMPTY", "quantity": 1}],
        NY_ADDRESS,
    )

    assert response.status_code == 200
    assert response.json() == {"ship": [], "pickup": []}


def test_more_than_the_network_holds_gets_no_ship_option(channel_client, catalogue):
    response = ask(channel_client, [{"sku": "SKU-A", "quantity": 11}], NY_ADDRESS)

    assert response.json()["ship"] == []


@pytest.mark.parametrize(("quantity", "offered"), [(20, True), (21, False)])
def test_a_ship_option_may_need_several_locations(channel_client, stores, quantity, offered):
    # WH-EAST holds 10 of SKU-A, Midtown and Philadelphia 5 each: 20 ship in three parcels
    # (the default rules allow three), 21 cannot ship at all.
    response = ask(channel_client, [{"sku": "SKU-A", "quantity": quantity}], NY_ADDRESS)

    levels = [option["service_level"] for option in response.json()["ship"]]
    assert levels == (["standard"] if offered else [])


def test_stock_kept_back_by_rules_is_not_offered(channel_client, catalogue, warehouse):
    SourcingRuleSet.objects.create(
        name="stores only",
        channel=None,
        ship_location_types=["store"],
        pickup_location_types=["store"],
    )

    response = ask(channel_client, [{"sku": "SKU-A", "quantity": 1}], NY_ADDRESS)

    assert response.json()["ship"] == []


def test_asking_for_options_writes_nothing(channel_client, catalogue, stores):
    before = written()

    response = ask(channel_client, [{"sku": "SKU-A", "quantity": 2}], MANHATTAN)

    assert response.status_code == 200
    assert response.json()["ship"] and response.json()["pickup"]
    assert written() == before


# --- pickup options --------------------------------------------------------------------------


def test_pickup_lists_nearby_stores_nearest_first_with_distance_and_ready_date(
    channel_client, catalogue, stores
):
    response = ask(channel_client, [{"sku": "SKU-A", "quantity": 2}], MANHATTAN)

    assert response.status_code == 200
    pickup = response.json()["pickup"]
    # Philadelphia is about 130 km away: outside the 80 km search radius.
    assert [option["location"] for option in pickup] == [
        "STORE-MIDTOWN",
        "STORE-BROOKLYN",
        "STORE-QUEENS",
    ]
    midtown, brooklyn, queens = pickup
    assert [midtown["distance_km"], brooklyn["distance_km"], queens["distance_km"]] == [
        5.3,
        6.5,
        17.9,
    ]
    # Midtown holds the units: ready after its own handling day.
    assert midtown == {
        "location": "STORE-MIDTOWN",
        "name": "Location STORE-MIDTOWN",
        "city": "New York",
        "distance_km": 5.3,
        "ready_by": "2025-03-04",
        "by_transfer": False,
    }
    # Brooklyn and Queens hold nothing: WH-EAST (or Midtown) transfers them by the cheapest
    # carrier, standard: handed over on Tuesday, 3 transit days → Friday.
    assert brooklyn["by_transfer"] is True and brooklyn["ready_by"] == "2025-03-07"
    assert queens["by_transfer"] is True


def test_pickup_options_are_limited_to_the_nearest_few(channel_client, catalogue, stores, settings):
    settings.PICKUP_OPTIONS_LIMIT = 2

    response = ask(channel_client, [{"sku": "SKU-A", "quantity": 1}], MANHATTAN)

    assert [option["location"] for option in response.json()["pickup"]] == [
        "STORE-MIDTOWN",
        "STORE-BROOKLYN",
    ]


def test_stores_that_cannot_serve_do_not_take_a_place_in_the_list(channel_client, stores, settings):
    # Only Queens, the farthest, holds the SKU, and no carrier runs: the nearer stores cannot
    # get it by transfer, so Queens is the one option even with room for just one.
    settings.PICKUP_OPTIONS_LIMIT = 1
    factories.stock(factories.SKUFactory(code="SKU-QUEENS"), stores["queens"], 1)
    CarrierService.objects.update(is_active=False)

    response = ask(channel_client, [{"sku": "SKU-QUEENS", "quantity": 1}], MANHATTAN)

    assert [option["location"] for option in response.json()["pickup"]] == ["STORE-QUEENS"]


def test_the_pickup_radius_is_a_setting(channel_client, catalogue, stores, settings):
    settings.PICKUP_SEARCH_RADIUS_KM = 200

    response = ask(channel_client, [{"sku": "SKU-A", "quantity": 1}], MANHATTAN)

    codes = [option["location"] for option in response.json()["pickup"]]
    assert codes[-1] == "STORE-PHL"
    assert by_code(response.json()["pickup"], "location")["STORE-PHL"]["by_transfer"] is False


def test_a_store_nothing_can_reach_is_not_offered_for_pickup(channel_client, stores):
    # Only Midtown holds this SKU and no carrier runs: Midtown can hand it over itself, but no
    # transfer can reach Brooklyn or Queens, and nothing can be shipped.
    factories.stock(factories.SKUFactory(code="SKU-STORE-ONLY"), stores["midtown"], 3)
    CarrierService.objects.update(is_active=False)

    response = ask(channel_client, [{"sku": "SKU-STORE-ONLY", "quantity": 1}], MANHATTAN)

    assert response.status_code == 200
    assert response.json()["ship"] == []
    assert [option["location"] for option in response.json()["pickup"]] == ["STORE-MIDTOWN"]


def test_stores_the_rules_exclude_are_not_offered_for_pickup(channel, channel_client, stores):
    rules = SourcingRuleSet.objects.create(
        name="web",
        channel=channel,
        ship_location_types=["warehouse", "store"],
        pickup_location_types=["store"],
    )
    rules.excluded_locations.add(stores["brooklyn"])

    response = ask(channel_client, [{"sku": "SKU-A", "quantity": 1}], MANHATTAN)

    assert [option["location"] for option in response.json()["pickup"]] == [
        "STORE-MIDTOWN",
        "STORE-QUEENS",
    ]


@pytest.mark.parametrize(
    ("latitude", "longitude", "offered"),
    [
        ("41.422800", "-74.006000", True),  # 78.9 km north
        ("41.442800", "-74.006000", False),  # 81.2 km north
        ("40.712800", "-73.066000", True),  # 79.2 km east
        ("40.712800", "-73.046000", False),  # 80.9 km east
    ],
)
def test_the_search_radius_is_measured_on_the_globe(
    channel_client, catalogue, latitude, longitude, offered
):
    store = factories.LocationFactory(
        code="STORE-EDGE",
        type="store",
        allows_pickup=True,
        latitude=Decimal(latitude),
        longitude=Decimal(longitude),
    )
    factories.stock(catalogue[0], store, 1)

    response = ask(channel_client, [{"sku": "SKU-A", "quantity": 1}], MANHATTAN)

    codes = [option["location"] for option in response.json()["pickup"]]
    assert codes == (["STORE-EDGE"] if offered else [])


def test_stores_across_the_antimeridian_are_found(channel_client, catalogue):
    # Taveuni, Fiji, lies at 179.8° W; a customer at 179.9° E is 32 km away, not 40,000.
    store = factories.LocationFactory(
        code="STORE-TAVEUNI",
        type="store",
        allows_pickup=True,
        latitude=Decimal("-17.700000"),
        longitude=Decimal("-179.800000"),
    )
    factories.stock(catalogue[0], store, 1)

    response = ask(
        channel_client,
        [{"sku": "SKU-A", "quantity": 1}],
        {"latitude": "-17.700000", "longitude": "179.900000"},
    )

    pickup = response.json()["pickup"]
    assert [(option["location"], option["distance_km"]) for option in pickup] == [
        ("STORE-TAVEUNI", 31.8)
    ]


def test_a_us_address_is_placed_at_its_zip_code(channel_client, catalogue, stores):
    # No geocoder: ZIP 10006 is lower Manhattan, 6.0 km from Midtown.
    response = ask(channel_client, [{"sku": "SKU-A", "quantity": 1}], NY_ADDRESS)

    pickup = response.json()["pickup"]
    assert [(option["location"], option["distance_km"]) for option in pickup] == [
        ("STORE-MIDTOWN", 6.0),
        ("STORE-BROOKLYN", 6.7),
        ("STORE-QUEENS", 18.6),
    ]


def test_an_address_without_a_zip_code_is_placed_at_the_centre_of_its_state(
    channel_client, catalogue, stores
):
    # The centre of New Jersey (40.2, -74.7) is 48 km from the Philadelphia store and more
    # than 80 km from the New York ones.
    response = ask(
        channel_client, [{"sku": "SKU-A", "quantity": 1}], {"region": "NJ", "country": "US"}
    )

    assert response.status_code == 200
    assert [option["service_level"] for option in response.json()["ship"]] == ["standard"]
    pickup = response.json()["pickup"]
    assert [(option["location"], option["distance_km"]) for option in pickup] == [
        ("STORE-PHL", 48.2)
    ]


def test_a_country_alone_is_placed_at_its_centre(channel_client, catalogue, stores):
    response = ask(channel_client, [{"sku": "SKU-A", "quantity": 1}], {"country": "US"})

    assert response.status_code == 200
    assert [option["service_level"] for option in response.json()["ship"]] == ["standard"]
    assert response.json()["pickup"] == []  # the centre of the US is in Kansas: no store near


# --- who may ask ------------------------------------------------------------------------------


def test_staff_ask_on_behalf_of_a_named_channel(api_client, staff_user, channel, catalogue):
    api_client.force_login(staff_user)

    named = ask(api_client, [{"sku": "SKU-A", "quantity": 1}], NY_ADDRESS, channel="web")
    unnamed = ask(api_client, [{"sku": "SKU-A", "quantity": 1}], NY_ADDRESS)

    assert named.status_code == 200
    assert [option["service_level"] for option in named.json()["ship"]] == ["standard"]
    assert unnamed.status_code == 400
    assert "channel" in unnamed.json()["errors"]


def test_a_storefront_cannot_ask_as_another_channel(channel_client, other_channel, catalogue):
    response = ask(channel_client, [{"sku": "SKU-A", "quantity": 1}], NY_ADDRESS, channel="mobile")

    assert response.status_code == 400
    assert "channel" in response.json()["errors"]


def test_an_inactive_channel_gets_no_options(api_client, staff_user, catalogue):
    factories.SalesChannelFactory(code="closed", is_active=False)
    api_client.force_login(staff_user)

    response = ask(api_client, [{"sku": "SKU-A", "quantity": 1}], NY_ADDRESS, channel="closed")

    assert response.status_code == 409
    assert response.json()["code"] == "channel_inactive"


def test_without_credentials_nothing_is_shown(api_client, catalogue):
    response = ask(api_client, [{"sku": "SKU-A", "quantity": 1}], NY_ADDRESS)

    assert response.status_code in (401, 403)
    assert response["Content-Type"] == PROBLEM_JSON


# --- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (
            {"lines": [{"sku": "NOPE", "quantity": 1}], "destination": NY_ADDRESS},
            "lines[0].sku",
        ),
        (
            {"lines": [{"sku": "SKU-A", "quantity": 0}], "destination": NY_ADDRESS},
            "lines[0].quantity",
        ),
        ({"lines": [], "destination": NY_ADDRESS}, "lines"),
        ({"lines": [{"sku": "SKU-A", "quantity": 1}]}, "destination"),
        (
            {"lines": [{"sku": "SKU-A", "quantity": 1}], "destination": {"city": "Somewhere"}},
            "destination.country",
        ),
        (
            {
                "lines": [{"sku": "SKU-A", "quantity": 1}],
                "destination": {"latitude": "91", "longitude": "-74"},
            },
            "destination.latitude",
        ),
        (
            {
                "lines": [{"sku": "SKU-A", "quantity": 1}],
                "destination": {"latitude": "40.7", "longitude": "-181"},
            },
            "destination.longitude",
        ),
        (
            {
                "lines": [{"sku": "SKU-A", "quantity": 1}],
                "destination": {"latitude": "40.7"},
            },
            "destination.latitude",
        ),
        (
            {
                "lines": [{"sku": "SKU-A", "quantity": 1}],
                "destination": {"latitude": "north", "longitude": "-74"},
            },
            "destination.latitude",
        ),
        (
            {"lines": [{"sku": "SKU-A", "quantity": 1}], "destination": {"country": "ZZ"}},
            "destination.country",
        ),
        (
            {"lines": [{"sku": "SKU-A", "quantity": 1}], "destination": {"country": "BR"}},
            "destination.country",
        ),
        (
            {
                "lines": [{"sku": "SKU-A", "quantity": 1, "price": "1.00"}],
                "destination": NY_ADDRESS,
            },
            "lines[0].price",
        ),
    ],
)
def test_bad_input_is_refused_naming_the_field(channel_client, catalogue, payload, field):
    before = written()

    response = channel_client.post(URL, payload, format="json")

    assert response.status_code == 400, response.json()
    assert response["Content-Type"] == PROBLEM_JSON
    assert field in response.json()["errors"], response.json()
    assert written() == before


def test_a_sku_not_for_sale_is_refused(channel_client, catalogue):
    factories.SKUFactory(code="SKU-RETIRED", is_sellable=False)

    response = ask(channel_client, [{"sku": "SKU-RETIRED", "quantity": 1}], NY_ADDRESS)

    assert response.status_code == 400
    assert "lines[0].sku" in response.json()["errors"]


def test_a_sku_priced_in_another_currency_is_refused_like_capture_does(channel_client, catalogue):
    factories.SKUFactory(code="SKU-EUR", currency="EUR")

    response = ask(channel_client, [{"sku": "SKU-EUR", "quantity": 1}], NY_ADDRESS)

    assert response.status_code == 400
    assert "EUR" in response.json()["errors"]["lines[0].sku"][0]


# --- the chosen option is the promise --------------------------------------------------------


def place(client, *, lines, delivery, key):
    return client.post(
        ORDERS_URL,
        factories.order_payload(lines=lines, delivery=delivery),
        format="json",
        HTTP_IDEMPOTENCY_KEY=key,
    )


@pytest.mark.parametrize("level", ["standard", "express"])
def test_choosing_a_ship_option_stores_its_promised_date_and_price_on_the_order(
    channel_client, catalogue, express_service, level
):
    lines = [{"sku": "SKU-A", "quantity": 2}, {"sku": "SKU-B", "quantity": 1}]
    offered = by_code(ask(channel_client, lines, NY_ADDRESS).json()["ship"], "service_level")

    response = place(
        channel_client,
        lines=lines,
        delivery={"method": "ship", "service_level": level, "address": NY_ADDRESS},
        key=f"checkout-{level}",
    )

    assert response.status_code == 201, response.json()
    order = response.json()
    assert order["promised_date"] == offered[level]["promised_date"]
    assert order["shipping"] == offered[level]["price"]


@pytest.mark.parametrize("store", ["STORE-MIDTOWN", "STORE-BROOKLYN"])
def test_choosing_a_pickup_option_stores_its_ready_date_on_the_order(
    channel_client, catalogue, stores, store
):
    lines = [{"sku": "SKU-A", "quantity": 2}]
    offered = by_code(ask(channel_client, lines, MANHATTAN).json()["pickup"], "location")
    assert offered[store]["by_transfer"] is (store == "STORE-BROOKLYN")

    response = place(
        channel_client,
        lines=lines,
        delivery={"method": "pickup", "location": store},
        key=f"pickup-{store}",
    )

    assert response.status_code == 201, response.json()
    assert response.json()["promised_date"] == offered[store]["ready_by"]
    assert response.json()["shipping"] == "0.00"


# --- query counts ----------------------------------------------------------------------------

# Key lookup (auth), SKUs, rule set, pickup stores, ATP rows, candidate locations, holidays,
# carrier services, their rate bands, service levels: whatever the cart or the stores. The
# rule set, holidays, services and rate bands come from fulfillment.reference_cache, read
# here because the fixtures have just created them in the test's transaction; a process
# that has them cached asks 6 (tests/fulfillment/test_reference_cache.py pins that).
OPTIONS_QUERIES = 10


@pytest.mark.parametrize("line_count", [1, 5])
def test_delivery_option_queries_do_not_grow_with_lines(
    channel_client,
    catalogue,
    warehouse,
    stores,
    express_service,
    django_assert_num_queries,
    line_count,
):
    skus = list(catalogue)
    for n in range(len(skus), 5):
        sku = factories.SKUFactory(code=f"SKU-{n}")
        factories.stock(sku, warehouse, 10)
        skus.append(sku)
    lines = [{"sku": sku.code, "quantity": 1} for sku in skus[:line_count]]

    with django_assert_num_queries(OPTIONS_QUERIES):
        response = ask(channel_client, lines, MANHATTAN)

    assert response.status_code == 200
    assert len(response.json()["ship"]) == 2
    assert response.json()["pickup"]


@pytest.mark.parametrize("store_count", [1, 8])
def test_delivery_option_queries_do_not_grow_with_stores(
    channel_client, catalogue, django_assert_num_queries, store_count
):
    for n in range(store_count):
        store = factories.LocationFactory(
            code=f"STORE-{n}",
            type="store",
            allows_pickup=True,
            latitude=Decimal("40.700000") + Decimal(n) / 100,
            longitude=Decimal("-74.000000"),
        )
        factories.stock(catalogue[0], store, 2)

    with django_assert_num_queries(OPTIONS_QUERIES):
        response = ask(channel_client, [{"sku": "SKU-A", "quantity": 1}], MANHATTAN)

    assert response.status_code == 200
    assert len(response.json()["pickup"]) == min(store_count, 5)
