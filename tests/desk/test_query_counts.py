"""Every desk screen asks a fixed number of queries, however many orders its customer has:
an agent's screen is as fast for a customer with twenty orders as for one with one."""

import pytest
from django.urls import reverse

from orders.models import SalesChannel
from tests import factories

pytestmark = pytest.mark.django_db

# Per screen, the queries of one page view (session, user and the two permission reads are
# the first four of each); the screens' own tests say what the rest are.
SCREEN_QUERIES = {
    "find": 7,
    "customer": 9,
    # channel; customers, their order counts; orders by number or external id
    "order_new_choose": 8,
    "order_new": 8,
    # Not sourced yet: no fulfillment lines or packages to read (see test_order_screen.py).
    "order": 11,
}


@pytest.mark.parametrize("order_count", [1, 15])
@pytest.mark.parametrize("screen", sorted(SCREEN_QUERIES))
def test_a_screen_asks_the_same_queries_whatever_the_customers_orders(
    agent_client, place_orders, django_assert_num_queries, screen, order_count
):
    factories.SalesChannelFactory(
        code="call-center", name="Call center", type=SalesChannel.Type.CALL_CENTER
    )
    customer = factories.CustomerFactory(email="many@example.com", last_name="Manyorders")
    factories.AddressFactory(customer=customer, is_default=True)
    orders = place_orders(customer, order_count)
    url = {
        "find": reverse("desk:find") + "?q=many@example",
        "customer": reverse("desk:customer", args=[customer.pk]),
        "order_new_choose": reverse("desk:order_new") + "?customer_query=manyorders",
        "order_new": reverse("desk:order_new") + f"?customer={customer.pk}",
        "order": reverse("desk:order", args=[orders[-1].number]),
    }[screen]
    agent_client.get(url)  # warm the process's reference data, as a running server has

    with django_assert_num_queries(SCREEN_QUERIES[screen]):
        response = agent_client.get(url)
    assert response.status_code == 200
    assert b"many@example.com" in response.content or screen == "order"
