"""Query counts of the hot endpoints: constant in the number of lines, orders and SKUs.

A bigger cart, a longer page or a longer SKU list must not mean more round trips. Counts are
measured inside the test transaction, so capture's transaction shows as SAVEPOINT statements.
"""

import pytest

from customers.models import Customer
from tests import factories

ORDERS_URL = "/api/v1/orders/"
AVAILABILITY_URL = "/api/v1/availability/"

# Capture for a returning customer: key lookup (auth), Idempotency-Key lookup, SKUs, service
# level, tax rate; in the transaction: savepoint, key claim (INSERT … ON CONFLICT DO NOTHING,
# no savepoint of its own), ATP snapshot, the sourcing engine's inputs (candidate locations;
# rule set, holidays, carrier services, rate bands), customer, order insert + number, lines
# (bulk), stock lock, reserved update, reservations (bulk), payment, events (bulk), outbox,
# key → order, release; the response reads the order's lines (the order itself is the one
# capture wrote). The rule set, holidays, services and rate bands come from
# fulfillment.reference_cache, read here because the fixtures have just created them in the
# test's transaction: a process that has them cached asks 4 fewer.
CAPTURE_QUERIES = 26
# Key lookup, order (with channel, customer, service level, location), lines, payments, events.
DETAIL_QUERIES = 6  # + the fulfillment orders (their own relations only when there are some)
# Key lookup, count, page of orders (with their joins), their lines.
LIST_QUERIES = 4
# Key lookup, known SKU codes, ATP rows.
AVAILABILITY_QUERIES = 3


@pytest.fixture
def fifty_skus(catalogue, warehouse):
    """SKU-A, SKU-B, SKU-C and 47 more at 1.00, each with 10 units at WH-EAST."""
    skus = list(catalogue)
    for n in range(len(skus), 50):
        sku = factories.SKUFactory(code=f"SKU-{n:02d}", price_amount="1.00")
        factories.stock(sku, warehouse, 10)
        skus.append(sku)
    return skus


def one_of_each(skus) -> list[dict]:
    return [{"sku": sku.code, "quantity": 1} for sku in skus]


@pytest.fixture
def returning_customer(db):
    # A first-time customer costs three more queries (savepoint, insert, release); pin the
    # common case and keep it the same for every cart size.
    return factories.CustomerFactory(email="grace@example.com")


@pytest.mark.parametrize("line_count", [1, 5])
def test_capture_queries_do_not_grow_with_lines(
    post_order, fifty_skus, returning_customer, django_assert_num_queries, line_count
):
    payload = factories.order_payload(lines=one_of_each(fifty_skus[:line_count]))

    with django_assert_num_queries(CAPTURE_QUERIES):
        response = post_order(payload)

    assert response.status_code == 201, response.json()
    assert len(response.json()["lines"]) == line_count
    assert Customer.objects.count() == 1


@pytest.mark.parametrize("line_count", [1, 5])
def test_order_detail_queries_do_not_grow_with_lines(
    post_order, channel_client, fifty_skus, django_assert_num_queries, line_count
):
    number = post_order(factories.order_payload(lines=one_of_each(fifty_skus[:line_count]))).json()[
        "number"
    ]

    with django_assert_num_queries(DETAIL_QUERIES):
        response = channel_client.get(f"{ORDERS_URL}{number}/")

    assert response.status_code == 200
    assert len(response.json()["lines"]) == line_count
    assert response.json()["events"]


@pytest.mark.parametrize("order_count", [1, 10])
def test_order_list_queries_do_not_grow_with_orders(
    post_order, channel_client, fifty_skus, django_assert_num_queries, order_count
):
    for sku in fifty_skus[10 : 10 + order_count]:
        response = post_order(factories.order_payload(lines=one_of_each([sku])))
        assert response.status_code == 201, response.json()

    with django_assert_num_queries(LIST_QUERIES):
        response = channel_client.get(ORDERS_URL)

    assert response.status_code == 200
    assert response.json()["count"] == order_count
    assert len(response.json()["results"]) == order_count


@pytest.mark.parametrize("sku_count", [1, 50])
def test_availability_queries_do_not_grow_with_skus(
    channel_client, fifty_skus, django_assert_num_queries, sku_count
):
    codes = [sku.code for sku in fifty_skus[:sku_count]]

    with django_assert_num_queries(AVAILABILITY_QUERIES):
        response = channel_client.get(AVAILABILITY_URL, {"sku": codes})

    assert response.status_code == 200
    assert [row["sku"] for row in response.json()["results"]] == codes
    assert all(row["available"] == 10 for row in response.json()["results"])
