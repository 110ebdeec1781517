"""The admin's order list at scale: found by index, filtered by date, paged without counting.

A million orders cannot be made in a test; what is pinned here is what keeps the list cheap
there (bench/backoffice.py measures it): searches that find exactly what an index can serve,
a date filter instead of the date hierarchy, no count of every order, and a fixed number of
queries whatever the number of orders.
"""

from datetime import datetime, timedelta

import pytest
from django.contrib import admin
from django.contrib.admin.templatetags.admin_list import result_headers
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from orders import admin_changelist
from orders.models import Order
from orders.services import cancel_order, place_order
from tests.factories import order_payload

ORDERS_URL = "/admin/orders/order/"
# session, user, the channels of the channel filter, the bounded count, the page
CHANGELIST_QUERIES = 5
# plus the channel ids an external id is looked up with
EMAIL_SEARCH_QUERIES = CHANGELIST_QUERIES + 1
# plus the ids of the orders whose number starts with the term
NUMBER_SEARCH_QUERIES = EMAIL_SEARCH_QUERIES + 1


@pytest.fixture
def place(channel, catalogue):
    def place(email="grace@example.com", **extra):
        payload = order_payload(lines=[{"sku": "SKU-C", "quantity": 1}])
        payload["customer"] = {"email": email, "first_name": "Grace", "last_name": "Hopper"}
        return place_order(channel=channel, **payload, **extra).order

    return place


def history(order: Order, count: int) -> list[Order]:
    """`count` older copies of `order`, one a day back: history, as bench/scale.py seeds it."""
    fields = {
        field.attname: getattr(order, field.attname)
        for field in Order._meta.concrete_fields
        if not field.primary_key
    }
    return Order.objects.bulk_create(
        Order(
            **{
                **fields,
                "number": f"SO-H{n:05d}",
                "external_id": None,
                "placed_at": order.placed_at - timedelta(days=n),
            }
        )
        for n in range(1, count + 1)
    )


def numbers_listed(response) -> list[str]:
    return [order.number for order in response.context["cl"].result_list]


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


# --- Search --------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "typed",
    [str, str.lower, lambda number: f" {number} ", lambda number: number[:-1]],
    ids=["whole", "lower case", "spaced", "start"],
)
def test_an_order_is_found_by_its_number_or_the_start_of_it(staff_client, place, typed):
    order = place()

    response = staff_client.get(ORDERS_URL, {"q": typed(order.number)})

    assert numbers_listed(response) == [order.number]


@pytest.mark.django_db
def test_a_number_prefix_finds_only_the_orders_it_starts(staff_client, place):
    first = place()
    history(first, 3)

    response = staff_client.get(ORDERS_URL, {"q": "SO-H0000"})

    assert numbers_listed(response) == ["SO-H00001", "SO-H00002", "SO-H00003"]
    # A number is matched from its start only, not anywhere in it.
    assert numbers_listed(staff_client.get(ORDERS_URL, {"q": "00001"})) == []


@pytest.mark.django_db
def test_an_order_is_found_by_its_exact_external_id(staff_client, place):
    order = place(external_id="WEB-7731")
    place(external_id="WEB-77310")

    assert numbers_listed(staff_client.get(ORDERS_URL, {"q": "WEB-7731"})) == [order.number]
    assert numbers_listed(staff_client.get(ORDERS_URL, {"q": "WEB-773"})) == []


@pytest.mark.django_db
@pytest.mark.parametrize("query", ["grace@example.com", "Grace@Example.COM", " grace@example.com"])
def test_a_customers_orders_are_found_by_their_whole_email_in_any_case(staff_client, place, query):
    first = place()
    second = place()
    place(email="ada@example.com")

    response = staff_client.get(ORDERS_URL, {"q": query})

    assert numbers_listed(response) == [second.number, first.number]


@pytest.mark.django_db
@pytest.mark.parametrize("query", ["grace", "grace@example", "@example.com", "race@example.com"])
def test_part_of_an_email_finds_no_order(staff_client, place, query):
    # Only the whole address is an index lookup; a part would scan every customer's orders.
    place()

    response = staff_client.get(ORDERS_URL, {"q": query})

    assert response.status_code == 200
    assert numbers_listed(response) == []


@pytest.mark.django_db
def test_a_prefix_too_many_numbers_start_with_asks_for_more_of_the_number(
    staff_client, place, monkeypatch
):
    monkeypatch.setattr(admin_changelist, "MAX_NUMBER_PREFIX_MATCHES", 3)
    history(place(), 3)  # SO-0000nn and SO-H00001…3

    broad = staff_client.get(ORDERS_URL, {"q": "so-"})
    narrow = staff_client.get(ORDERS_URL, {"q": "so-h"})

    assert numbers_listed(broad) == []
    assert messages_of(broad) == [
        "More than 3 order numbers start with SO-: type more of the number to list them."
    ]
    assert numbers_listed(narrow) == ["SO-H00001", "SO-H00002", "SO-H00003"]
    assert messages_of(narrow) == []


@pytest.mark.django_db
def test_the_search_box_says_what_it_finds(staff_client, place):
    place()

    page = staff_client.get(ORDERS_URL).content.decode()

    assert "whole email address in any case" in page
    assert "Part of an email finds nothing" in page


@pytest.mark.django_db
def test_a_search_keeps_the_other_filters(staff_client, place):
    placed = place()
    cancel_order(order=place(), actor=None)

    response = staff_client.get(
        ORDERS_URL, {"q": "grace@example.com", "status__exact": Order.Status.PLACED}
    )

    assert numbers_listed(response) == [placed.number]


# --- Placed date filter ----------------------------------------------------------------------


@pytest.fixture
def orders_over_a_week(place):
    """Today's order and six more, one a day back."""
    today = place()
    return [today, *history(today, 6)]


@pytest.mark.django_db
def test_the_date_filter_keeps_orders_placed_between_two_days_both_included(
    staff_client, orders_over_a_week
):
    days = [timezone.localdate(order.placed_at) for order in orders_over_a_week]

    response = staff_client.get(
        ORDERS_URL, {"placed_from": days[4].isoformat(), "placed_to": days[2].isoformat()}
    )

    assert numbers_listed(response) == [order.number for order in orders_over_a_week[2:5]]


@pytest.mark.django_db
def test_the_date_filter_takes_one_side_open(staff_client, orders_over_a_week):
    third_day = timezone.localdate(orders_over_a_week[2].placed_at).isoformat()

    newer = staff_client.get(ORDERS_URL, {"placed_from": third_day, "placed_to": ""})
    older = staff_client.get(ORDERS_URL, {"placed_to": third_day})

    assert numbers_listed(newer) == [order.number for order in orders_over_a_week[:3]]
    assert numbers_listed(older) == [order.number for order in orders_over_a_week[2:]]


@pytest.mark.django_db
def test_the_date_filter_offers_quick_ranges_and_marks_the_chosen_one(
    staff_client, orders_over_a_week
):
    today = timezone.localdate()
    response = staff_client.get(
        ORDERS_URL, {"placed_from": today.isoformat(), "placed_to": today.isoformat()}
    )

    placed = next(spec for spec in response.context["cl"].filter_specs if spec.title == "placed")
    choices = list(placed.choices(response.context["cl"]))
    assert [choice["display"] for choice in choices] == [
        "Any date",
        "Today",
        "Yesterday",
        "Past 7 days",
        "This month",
        "Last month",
        "This year",
    ]
    assert [choice["display"] for choice in choices if choice["selected"]] == ["Today"]
    assert numbers_listed(response) == [orders_over_a_week[0].number]
    # The range form sends the search and the other filters along, not the page.
    page = staff_client.get(ORDERS_URL, {"q": "SO-", "status__exact": "placed", "p": "1"})
    form = page.content.decode().split('class="placed-range"')[1].split("</form>")[0]
    assert '<input type="hidden" name="q" value="SO-">' in form
    assert '<input type="hidden" name="status__exact" value="placed">' in form
    assert 'name="p"' not in form


@pytest.mark.django_db
def test_a_malformed_date_is_refused_like_any_bad_filter(staff_client, orders_over_a_week):
    response = staff_client.get(ORDERS_URL, {"placed_from": "last tuesday"})

    assert response.status_code == 302
    assert response["Location"].endswith("?e=1")


@pytest.mark.django_db
def test_only_the_columns_an_index_keeps_in_order_can_be_sorted(staff_client, place):
    place()

    response = staff_client.get(ORDERS_URL)

    headers = result_headers(response.context["cl"])
    assert [header["text"] for header in headers if header["sortable"]] == ["number", "placed at"]


@pytest.mark.django_db
def test_the_order_list_has_no_date_hierarchy_or_facet_counts():
    # Each reads every order: the hierarchy's DISTINCT dates, the facets' per-choice counts.
    order_admin = admin.site._registry[Order]
    assert order_admin.date_hierarchy is None
    assert order_admin.show_facets is admin.ShowFacets.NEVER


# --- Paging without counting every order ---------------------------------------------------


@pytest.fixture
def two_rows_a_page(monkeypatch):
    """The admin's 100 rows a page, scaled down so that a handful of orders spans 25 pages."""
    monkeypatch.setattr(admin.site._registry[Order], "list_per_page", 2)


@pytest.mark.django_db
def test_a_long_list_says_more_than_the_rows_it_counted(staff_client, place, two_rows_a_page):
    history(place(), 49)  # 50 orders, 25 pages of 2

    response = staff_client.get(ORDERS_URL)

    page = response.content.decode()
    # Counted to 10 pages past the first (22 rows) and one more row: "more than 22".
    assert "more than 22 orders" in page
    assert "Select all matching orders (more than 22)" in page
    assert len(numbers_listed(response)) == 2
    links = response.context["cl"].paginator.get_elided_page_range(1)
    assert list(links)[-1] == 12  # the next page past what was counted is one click away


@pytest.mark.django_db
def test_paging_further_counts_further(staff_client, place, two_rows_a_page):
    history(place(), 49)

    deep = staff_client.get(ORDERS_URL, {"p": 20})

    assert numbers_listed(deep) == ["SO-H00038", "SO-H00039"]
    # Page 20 + 10 ahead reaches past the 50 orders: the count is exact again.
    assert "50 orders" in deep.content.decode()
    assert "more than" not in deep.content.decode()


@pytest.mark.django_db
def test_a_short_list_shows_its_exact_count(staff_client, place):
    history(place(), 2)

    page = staff_client.get(ORDERS_URL).content.decode()

    assert "3 orders" in page
    assert "more than" not in page


@pytest.mark.django_db
def test_a_page_past_the_last_is_refused(staff_client, place, two_rows_a_page):
    history(place(), 3)

    response = staff_client.get(ORDERS_URL, {"p": 3})

    assert response.status_code == 302
    assert response["Location"].endswith("?e=1")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "query",
    [{}, {"status__exact": "placed"}, {"q": "grace@example.com"}, {"q": "SO-"}],
    ids=["first page", "status", "email", "number prefix"],
)
def test_no_changelist_query_counts_every_order(staff_client, place, query):
    history(place(), 5)

    with CaptureQueriesContext(connection) as queries:
        assert staff_client.get(ORDERS_URL, query).status_code == 200

    statements = [entry["sql"].upper() for entry in queries]
    counts = [sql for sql in statements if "COUNT(" in sql]
    assert len(counts) == 1
    assert " LIMIT " in counts[0]  # a COUNT over at most the linked pages' rows
    assert not any("DISTINCT" in sql for sql in statements)


# --- Query counts --------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("order_count", [1, 30])
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, CHANGELIST_QUERIES),
        ({"status__exact": "placed", "placed_from": "2020-01-01"}, CHANGELIST_QUERIES),
        ({"q": "grace@example.com"}, EMAIL_SEARCH_QUERIES),
        ({"q": "SO-"}, NUMBER_SEARCH_QUERIES),
    ],
    ids=["first page", "filtered", "email", "number"],
)
def test_the_changelist_asks_the_same_queries_however_many_orders(
    staff_client, place, django_assert_num_queries, order_count, query, expected
):
    history(place(), order_count - 1)
    staff_client.get(ORDERS_URL, query)  # warm the session and per-process caches

    with django_assert_num_queries(expected):
        response = staff_client.get(ORDERS_URL, query)

    assert len(numbers_listed(response)) == order_count


@pytest.mark.django_db
def test_orders_on_the_last_day_of_a_range_are_in_it_up_to_midnight(staff_client, place):
    order = place()
    Order.objects.filter(pk=order.pk).update(
        placed_at=timezone.make_aware(datetime(2025, 3, 9, 23, 59))
    )

    inside = staff_client.get(ORDERS_URL, {"placed_from": "2025-03-09", "placed_to": "2025-03-09"})
    after = staff_client.get(ORDERS_URL, {"placed_from": "2025-03-10"})

    assert numbers_listed(inside) == [order.number]
    assert numbers_listed(after) == []
