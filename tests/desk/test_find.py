"""Find: one box for name, email, phone, order number or external id."""

import re

import pytest
from django.test import Client

from fulfillment.desk.selectors import SEARCH_LIMIT
from tests import factories

pytestmark = pytest.mark.django_db


def find(client: Client, query: str, **headers):
    return client.get("/desk/", {"q": query}, **headers)


@pytest.fixture
def grace(db):
    return factories.CustomerFactory(
        email="Grace.Hopper@Navy.example",
        first_name="Grace",
        last_name="Hopper",
        phone="+1 (212) 555-0199",
    )


def test_find_page_starts_in_the_search_box_and_works_without_javascript(agent_client):
    page = agent_client.get("/desk/").content.decode()
    assert '<form method="get" action="/desk/"' in page  # a plain GET form: Enter submits
    assert 'name="q"' in page and "autofocus" in page
    assert 'hx-trigger="input changed delay:250ms' in page  # results as you type
    assert "/static/desk/htmx.min.js" in page  # vendored, no CDN
    assert "https://" not in page.split("<body")[0]


def test_finds_a_customer_by_part_of_the_email_in_any_case(agent_client, grace):
    page = find(agent_client, "hopper@navy").content.decode()
    assert f'href="/desk/customers/{grace.pk}/"' in page
    assert "Grace Hopper" in page


def test_finds_a_customer_by_first_and_last_name_words(agent_client, grace):
    factories.CustomerFactory(first_name="Grace", last_name="Kelly", email="gk@example.com")
    page = find(agent_client, "grace hop").content.decode()
    assert "Grace Hopper" in page
    assert "Grace Kelly" not in page


def test_finds_a_customer_by_phone_whatever_the_separators(agent_client, grace):
    for typed in ("212 555 0199", "2125550199", "555-0199"):
        assert "Grace Hopper" in find(agent_client, typed).content.decode(), typed


def test_finds_orders_by_number_in_any_case_and_by_external_id(agent_client, place_orders):
    customer = factories.CustomerFactory(email="buyer@example.com")
    first, second = place_orders(customer, 2)

    by_number = find(agent_client, first.number.lower()).content.decode()
    assert f'href="/desk/orders/{first.number}/"' in by_number
    assert second.number not in by_number

    by_external_id = find(agent_client, second.external_id).content.decode()
    assert f'href="/desk/orders/{second.number}/"' in by_external_id
    assert first.number not in by_external_id


def test_htmx_request_gets_only_the_results_fragment(agent_client, grace):
    response = find(agent_client, "grace", HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert "Grace Hopper" in body
    assert "<html" not in body and "<form" not in body


def test_history_restore_gets_the_whole_page(agent_client, grace):
    response = find(
        agent_client, "grace", HTTP_HX_REQUEST="true", HTTP_HX_HISTORY_RESTORE_REQUEST="true"
    )
    assert "<html" in response.content.decode()


def test_full_page_keeps_the_query_in_the_box(agent_client, grace):
    page = find(agent_client, "grace").content.decode()
    assert 'value="grace"' in page


def test_too_short_or_unknown_queries_say_what_to_do(agent_client, grace):
    assert "Type at least two characters" in find(agent_client, "g").content.decode()
    nothing = find(agent_client, "nobody-here").content.decode()
    assert "Nothing matches" in nothing
    assert "/desk/customers/new/?email=nobody-here" in nothing


def test_results_are_limited(agent_client):
    for number in range(SEARCH_LIMIT + 5):
        factories.CustomerFactory(email=f"many{number}@example.com")
    page = find(agent_client, "many").content.decode()
    assert len(re.findall(r'href="/desk/customers/\d+/"', page)) == SEARCH_LIMIT


def test_search_runs_a_fixed_number_of_queries(
    agent_client, django_assert_num_queries, place_orders
):
    orders = []
    for number in range(3):
        customer = factories.CustomerFactory(email=f"fixed{number}@example.com")
        orders += place_orders(customer, 2)
    # session, user, user perms, group perms, then: customers, their order counts, orders by
    # external id (and by number when the query looks like one) — whatever the match count.
    with django_assert_num_queries(7):
        page = find(agent_client, "fixed").content.decode()
    assert len(re.findall(r"fixed\d@example.com", page)) == 3
    assert page.count('<td class="num">2</td>') == 3  # each customer's order count
    with django_assert_num_queries(6):
        find(agent_client, orders[0].external_id)
    with django_assert_num_queries(7):
        find(agent_client, orders[0].number)
