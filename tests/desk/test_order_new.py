"""New order: an agent enters an order for a customer on the call-center channel."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from customers.models import Address, Customer
from fulfillment.sourcing.service import source_order
from inventory.models import Reservation, StockLevel
from orders.models import IdempotencyKey, Order, SalesChannel
from tests import factories
from tests.desk.html import field_error, input_value

pytestmark = pytest.mark.django_db

NEW_ORDER = reverse("desk:order_new")
QUOTE = reverse("desk:order_quote")
SKU_SEARCH = reverse("desk:order_sku_search")


@pytest.fixture
def call_center(db):
    return factories.SalesChannelFactory(
        code="call-center", name="Call center", type=SalesChannel.Type.CALL_CENTER
    )


@pytest.fixture
def customer(db):
    customer = factories.CustomerFactory(
        email="grace@example.com", first_name="Grace", last_name="Hopper"
    )
    factories.AddressFactory(
        customer=customer,
        line1="1 Liberty Plaza",
        city="New York",
        region="NY",
        postal_code="10006",
        is_default=True,
    )
    return customer


@pytest.fixture
def pickup_store(db):
    """A store 14 km from the customer that hands orders over but ships nothing."""
    return factories.LocationFactory(
        code="STORE-NYC",
        name="Store NYC",
        type="store",
        allows_pickup=True,
        ships_orders=False,
        city="New York",
        priority=50,
    )


def open_form(client, customer) -> str:
    """Open New order for the customer; returns the form's idempotency key."""
    page = client.get(f"{NEW_ORDER}?customer={customer.pk}")
    assert page.status_code == 200
    return re.search(rb'name="idempotency_key" value="([^"]+)"', page.content).group(1).decode()


def form_data(customer, key, lines=(("SKU-A", 2),), **overrides) -> dict:
    data = {
        "customer": str(customer.pk),
        "idempotency_key": key,
        "ship_to": str(customer.addresses.get(is_default=True).pk),
        "address-country": "US",
        "lines-TOTAL_FORMS": str(len(lines)),
        "lines-INITIAL_FORMS": str(len(lines)),
        "delivery": "ship:standard",
        "payment_method": "card",
        "payment_reference": "tok_visa",
        "command": "place",
    }
    for index, (sku, quantity) in enumerate(lines):
        data[f"lines-{index}-sku"] = sku
        data[f"lines-{index}-quantity"] = str(quantity)
    data.update(overrides)
    return data


def text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


# --- Opening the screen --------------------------------------------------------------------


def test_the_form_opens_for_the_customer_with_its_own_idempotency_key(
    agent_client, call_center, customer
):
    first, second = open_form(agent_client, customer), open_form(agent_client, customer)
    assert first.startswith("desk-") and second.startswith("desk-")
    assert first != second  # every form shown is a new attempt

    page = agent_client.get(f"{NEW_ORDER}?customer={customer.pk}")
    assert "New order for" in text(page) and "Grace Hopper" in text(page)
    assert "1 Liberty Plaza, New York, NY, 10006, US" in text(page)  # the saved address
    assert b'name="sku_query"' in page.content and b"autofocus" in page.content


def test_without_a_customer_the_agent_finds_one_by_part_of_the_email(
    agent_client, call_center, customer
):
    page = agent_client.get(f"{NEW_ORDER}?customer_query=grace@exa")
    assert page.status_code == 200
    assert f'href="{NEW_ORDER}?customer={customer.pk}"'.encode() in page.content
    assert b"New customer" in page.content


def new_customer(**overrides) -> dict:
    data = {
        "command": "create_customer",
        "customer_query": "nia@example.com",
        "new-email": "nia@example.com",
        "new-first_name": "Nia",
        "new-last_name": "Okafor",
        "new-phone": "",
        "new-notes": "",
    }
    data.update(overrides)
    return data


def test_a_new_customer_is_created_on_the_screen_and_the_order_goes_on_for_them(
    agent_client, call_center
):
    page = agent_client.get(f"{NEW_ORDER}?customer_query=nia@example.com")
    assert 'data-testid="no-customer"' in text(page)
    assert input_value(page.content, "new-email") == "nia@example.com"  # as searched for
    assert re.search(rb'id="id_customer_query"[^>]*autofocus', page.content)

    response = agent_client.post(NEW_ORDER, new_customer())

    created = Customer.objects.get(email="nia@example.com")
    assert (created.first_name, created.last_name) == ("Nia", "Okafor")
    assert response.status_code == 302
    assert response["Location"] == f"{NEW_ORDER}?customer={created.pk}"
    order_page = text(agent_client.get(response["Location"]))
    assert "Customer Nia Okafor &lt;nia@example.com&gt; created." in order_page
    assert "New order for" in order_page and 'name="sku_query"' in order_page


def test_a_new_customer_with_an_email_on_file_links_to_them_and_writes_nothing(
    agent_client, call_center, customer
):
    page = agent_client.post(NEW_ORDER, new_customer(**{"new-email": "GRACE@example.com"}))

    assert page.status_code == 200
    assert field_error(page.content, "new-email") == "A customer with this email already exists."
    assert f'href="/desk/customers/{customer.pk}/"' in text(page)
    assert f'href="{NEW_ORDER}?customer={customer.pk}"' in text(page)  # order for them instead
    assert input_value(page.content, "new-first_name") == "Nia"  # kept as typed
    assert 'id="id_customer_query" value="nia@example.com"' in text(page)  # the search too
    assert Customer.objects.count() == 1


def test_a_new_customer_with_a_bad_email_is_refused_beside_the_field(agent_client, call_center):
    page = agent_client.post(NEW_ORDER, new_customer(**{"new-email": "nia-at-example"}))
    assert field_error(page.content, "new-email") == "Enter a valid email address."
    assert input_value(page.content, "new-last_name") == "Okafor"
    assert b'aria-invalid="true"' in page.content  # desk.js puts the cursor there
    assert not re.search(rb'id="id_customer_query"[^>]*autofocus', page.content)
    assert Customer.objects.count() == 0


def test_an_agent_who_may_not_add_customers_gets_no_new_customer_form(
    agent, agent_client, call_center
):
    group = Group.objects.create(name="No new customers")
    group.permissions.set(agent.groups.get().permissions.exclude(codename="add_customer"))
    agent.groups.set([group])
    page = agent_client.get(f"{NEW_ORDER}?customer_query=nia@example.com")
    assert page.status_code == 200 and b'data-testid="new-customer"' not in page.content
    assert agent_client.post(NEW_ORDER, new_customer()).status_code == 403
    assert Customer.objects.count() == 0


def test_without_the_call_center_channel_the_screen_says_what_is_missing(agent_client, customer):
    page = agent_client.get(f"{NEW_ORDER}?customer={customer.pk}")
    assert page.status_code == 200
    assert "&#x27;call-center&#x27; sales channel does not exist" in text(page)


# --- Adding lines, availability, options, totals -------------------------------------------


def test_enter_in_the_sku_box_adds_the_sku_with_availability_per_location(
    agent_client, call_center, customer, catalogue, pickup_store
):
    factories.stock(catalogue[0], pickup_store, 3)
    key = open_form(agent_client, customer)
    data = form_data(customer, key, lines=[], command="refresh", sku_query="sku-a")
    page = agent_client.post(NEW_ORDER, data)

    assert page.status_code == 200
    assert input_value(page.content, "lines-0-quantity") == "1"
    assert 'name="lines-0-sku" value="SKU-A"' in text(page)
    assert "13 available" in text(page)  # the network: warehouse and store
    assert "WH-EAST 10" in text(page) and "STORE-NYC 3" in text(page)
    assert input_value(page.content, "sku_query") == ""  # ready for the next SKU

    # The same SKU again is one more unit on its line, not a second line.
    again = agent_client.post(
        NEW_ORDER, form_data(customer, key, command="refresh", sku_query="SKU-A")
    )
    assert input_value(again.content, "lines-0-quantity") == "3"
    assert b"lines-1-sku" not in again.content


def test_the_sku_box_finds_skus_by_part_of_the_name(agent_client, call_center, catalogue):
    catalogue[1].name = "Blue kettle"
    catalogue[1].save()
    fragment = agent_client.get(SKU_SEARCH, {"sku_query": "kettle"}, HTTP_HX_REQUEST="true")
    assert fragment.status_code == 200
    assert b"<html" not in fragment.content  # a fragment for htmx
    assert b"SKU-B" in fragment.content and b"Blue kettle" in fragment.content
    assert b'name="add_sku" value="SKU-B"' in fragment.content
    assert b"SKU-A" not in fragment.content


def test_a_search_without_an_exact_code_lists_the_matches_to_add(
    agent_client, call_center, customer, catalogue
):
    key = open_form(agent_client, customer)
    page = agent_client.post(
        NEW_ORDER, form_data(customer, key, lines=[], command="refresh", sku_query="SKU")
    )
    assert b'data-testid="sku-results"' in page.content
    assert b'name="add_sku" value="SKU-C"' in page.content

    added = agent_client.post(
        NEW_ORDER, form_data(customer, key, lines=[], command="", add_sku="SKU-C")
    )
    assert 'name="lines-0-sku" value="SKU-C"' in text(added)


def test_a_line_is_removed_and_the_others_keep_what_was_typed(
    agent_client, call_center, customer, catalogue
):
    key = open_form(agent_client, customer)
    lines = [("SKU-A", 2), ("SKU-B", 4), ("SKU-C", 5)]
    page = agent_client.post(
        NEW_ORDER, form_data(customer, key, lines=lines, command="", remove_line="1")
    )
    assert 'name="lines-0-sku" value="SKU-A"' in text(page)
    assert 'name="lines-1-sku" value="SKU-C"' in text(page)
    assert input_value(page.content, "lines-1-quantity") == "5"
    assert b"SKU-B" not in page.content


def test_the_quote_fragment_updates_availability_options_and_totals(
    agent_client, call_center, customer, catalogue, pickup_store
):
    key = open_form(agent_client, customer)
    data = form_data(customer, key, lines=[("SKU-A", 12), ("SKU-B", 1)], delivery="")
    fragment = agent_client.post(QUOTE, data, HTTP_HX_REQUEST="true")

    assert fragment.status_code == 200
    body = text(fragment)
    assert '<div id="line-0-availability" hx-swap-oob="innerHTML">' in body
    assert "Only 10 available" in body  # 12 asked, the network has 10
    assert "SKU-B" not in body or "Only" not in body.split("line-1-availability")[1]
    assert 'id="order-totals" hx-swap-oob="innerHTML"' in body
    assert 'data-testid="subtotal">145.50<' in body  # 12 × 10.00 + 25.50
    # No option can deliver 12 of SKU-A; the ship service is there to choose, said to be short.
    assert "No option can deliver every unit now" in body
    assert "not every unit can be sent now" in body
    data["delivery"] = "ship:standard"
    body = text(agent_client.post(QUOTE, data, HTTP_HX_REQUEST="true"))
    assert 'value="ship:standard" id="delivery-ship-standard" checked' in body
    # A store chosen before that can no longer hand everything over stays chosen, said so.
    data["delivery"] = "pickup:STORE-NYC"
    body = text(agent_client.post(QUOTE, data, HTTP_HX_REQUEST="true"))
    assert 'value="pickup:STORE-NYC" id="delivery-kept" checked' in body
    assert "Pick up at Store NYC</strong>" in body and "not every unit is available" in body

    data = form_data(customer, key, lines=[("SKU-A", 2)], delivery="")
    body = text(agent_client.post(QUOTE, data, HTTP_HX_REQUEST="true"))
    assert 'value="ship:standard"' in body and "arrives by" in body
    # The store hands over what the warehouse sends it.
    assert 'value="pickup:STORE-NYC"' in body and "ready by" in body


def test_totals_follow_the_delivery_option_as_capture_prices_them(
    agent_client, call_center, customer, catalogue, pickup_store
):
    key = open_form(agent_client, customer)
    lines = [("SKU-A", 2), ("SKU-B", 1)]
    ship = text(agent_client.post(QUOTE, form_data(customer, key, lines=lines)))
    # 45.50 of goods, NY tax 8 %, standard shipping 5.00 + 1.00/kg × 1.5 kg.
    assert 'data-testid="tax">3.64<' in ship
    assert 'data-testid="shipping">6.50<' in ship
    assert 'data-testid="total">55.64 USD<' in ship

    pickup = text(
        agent_client.post(QUOTE, form_data(customer, key, lines=lines, delivery="pickup:STORE-NYC"))
    )
    assert 'data-testid="shipping">0.00<' in pickup
    assert 'data-testid="tax">0.00<' in pickup  # taxed where the store is (NJ: no rate set)

    response = agent_client.post(NEW_ORDER, form_data(customer, key, lines=lines))
    assert response.status_code == 302
    order = Order.objects.get()
    assert str(order.total_amount) == "55.64"  # what the screen showed is what was stored


# --- Placing -------------------------------------------------------------------------------


def test_submit_places_the_order_on_the_call_center_channel(
    agent, agent_client, call_center, customer, catalogue
):
    key = open_form(agent_client, customer)
    response = agent_client.post(
        NEW_ORDER, form_data(customer, key, lines=[("SKU-A", 2), ("SKU-C", 1)])
    )

    order = Order.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("desk:order", args=[order.number])
    assert order.channel == call_center and order.customer == customer
    assert order.status == Order.Status.PLACED
    assert order.ship_to["line1"] == "1 Liberty Plaza"
    assert [(line.sku_code, line.quantity) for line in order.lines.all()] == [
        ("SKU-A", 2),
        ("SKU-C", 1),
    ]
    placed = order.events.get(kind="placed")
    assert placed.actor == agent and placed.actor_label == "agent-ann"
    assert IdempotencyKey.objects.get(channel=call_center).key == key

    confirmation = agent_client.get(response["Location"])
    assert f"Order {order.number} placed." in text(confirmation)
    assert order.promised_date.strftime("%a %-d %b %Y") in text(confirmation)


def test_a_second_submit_of_the_same_form_creates_nothing_new(
    csrf_client, call_center, customer, catalogue
):
    page = csrf_client.get(f"{NEW_ORDER}?customer={customer.pk}")
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page.content).group(1)
    key = re.search(rb'name="idempotency_key" value="([^"]+)"', page.content).group(1).decode()
    data = form_data(customer, key, csrfmiddlewaretoken=token.decode())

    first = csrf_client.post(NEW_ORDER, data)
    second = csrf_client.post(NEW_ORDER, data)  # double click

    order = Order.objects.get()
    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"] == reverse("desk:order", args=[order.number])
    assert Reservation.objects.count() == 1
    assert "already placed order" in text(csrf_client.get(second["Location"]))

    # Back button, a quantity changed, submitted again: still the same form, same order.
    changed = csrf_client.post(NEW_ORDER, {**data, "lines-0-quantity": "3"})
    assert changed["Location"] == first["Location"]
    assert Order.objects.count() == 1
    assert StockLevel.objects.get(sku__code="SKU-A").reserved == 2


def test_errors_show_beside_their_fields_keep_what_was_typed_and_write_nothing(
    agent_client, call_center, customer, catalogue
):
    key = open_form(agent_client, customer)
    data = form_data(
        customer,
        key,
        lines=[("SKU-A", 0), ("SKU-B", 2)],
        delivery="",
        payment_reference="",
    )
    page = agent_client.post(NEW_ORDER, data)

    assert page.status_code == 200
    assert field_error(page.content, "lines-0-quantity") == "Quantity must be at least 1."
    assert field_error(page.content, "lines-1-quantity") == ""
    assert "Choose how the order reaches the customer" in field_error(page.content, "delivery")
    assert input_value(page.content, "lines-1-quantity") == "2"
    assert f'name="idempotency_key" value="{key}"' in text(page)  # the same attempt
    assert Order.objects.count() == 0 and IdempotencyKey.objects.count() == 0


def test_what_place_order_refuses_is_shown_beside_the_field(
    agent_client, call_center, customer, catalogue
):
    key = open_form(agent_client, customer)
    # A card without its token, shipped to a new address without a city.
    data = form_data(
        customer,
        key,
        payment_reference="",
        ship_to="new",
        **{"address-line1": "5 Elm St", "address-postal_code": "10006", "address-region": "NY"},
    )
    page = agent_client.post(NEW_ORDER, data)

    assert page.status_code == 200
    assert "payment token is required" in field_error(page.content, "payment_reference")
    assert "required" in field_error(page.content, "address-city")
    assert input_value(page.content, "address-line1") == "5 Elm St"
    assert Order.objects.count() == 0


def test_a_declined_card_is_said_beside_the_payment_field(
    agent_client, call_center, customer, catalogue
):
    key = open_form(agent_client, customer)
    page = agent_client.post(NEW_ORDER, form_data(customer, key, payment_reference="tok_decline"))
    assert "declined" in field_error(page.content, "payment_reference")
    assert Order.objects.count() == 0


def test_a_new_address_can_be_saved_to_the_customer(agent_client, call_center, customer, catalogue):
    key = open_form(agent_client, customer)
    data = form_data(
        customer,
        key,
        ship_to="new",
        save_address="on",
        **{
            "address-line1": "5 Elm St",
            "address-city": "Brooklyn",
            "address-region": "NY",
            "address-postal_code": "11201",
        },
    )
    assert agent_client.post(NEW_ORDER, data).status_code == 302
    assert Order.objects.get().ship_to["city"] == "Brooklyn"
    assert Address.objects.filter(customer=customer, line1="5 Elm St").exists()


# --- Not enough stock ----------------------------------------------------------------------


def test_not_enough_stock_shows_the_alternatives_and_writes_nothing(
    agent_client, call_center, customer, catalogue, pickup_store
):
    factories.stock(catalogue[0], pickup_store, 5)  # 10 at the warehouse, 5 at the store
    key = open_form(agent_client, customer)
    data = form_data(customer, key, lines=[("SKU-A", 12), ("SKU-B", 1)])
    page = agent_client.post(NEW_ORDER, data)

    assert page.status_code == 200
    body = text(page)
    assert 'data-testid="alternatives"' in body
    assert "SKU-A: 10 instead of 12" in body  # what the warehouse can ship
    # The store can hand over all 12: its 5 and 7 sent from the warehouse.
    assert 'name="choose_delivery" value="pickup:STORE-NYC"' in body
    assert "Backorder the rest" not in body  # this channel refuses backorders
    assert input_value(page.content, "lines-0-quantity") == "12"  # kept as typed
    assert Order.objects.count() == 0 and Reservation.objects.count() == 0
    assert IdempotencyKey.objects.count() == 0

    # Another quantity: the lines become what is there, ready to place.
    lowered = agent_client.post(NEW_ORDER, {**data, "command": "use_available"})
    assert input_value(lowered.content, "lines-0-quantity") == "10"
    assert input_value(lowered.content, "lines-1-quantity") == "1"

    # Another location: the pickup store is chosen, then placed.
    chosen = agent_client.post(
        NEW_ORDER, {**data, "command": "", "choose_delivery": "pickup:STORE-NYC"}
    )
    assert 'value="pickup:STORE-NYC" id="delivery-pickup-STORE-NYC" checked' in text(chosen)
    placed = agent_client.post(NEW_ORDER, {**data, "delivery": "pickup:STORE-NYC"})
    assert placed.status_code == 302
    order = Order.objects.get()
    assert order.delivery_method == "pickup" and order.pickup_location == pickup_store


def test_on_a_channel_that_backorders_the_rest_can_be_backordered_with_a_date(
    agent_client, call_center, customer, catalogue
):
    call_center.allows_backorders = True
    call_center.save()
    key = open_form(agent_client, customer)
    data = form_data(customer, key, lines=[("SKU-A", 12), ("SKU-B", 1)])
    page = agent_client.post(NEW_ORDER, data)

    body = text(page)
    assert "Backorder the rest" in body
    assert 'data-testid="backorder-date"' in body  # when what is there arrives
    assert "the 2 backordered units follow when stock arrives" in body
    assert Order.objects.count() == 0

    placed = agent_client.post(NEW_ORDER, {**data, "command": "backorder"})
    assert placed.status_code == 302
    order = Order.objects.get()
    assert order.status == Order.Status.BACKORDERED
    assert order.lines.get(sku_code="SKU-A").quantity_backordered == 2


def test_a_backorder_offers_the_date_open_purchase_orders_bring_the_rest(
    agent_client, call_center, customer, catalogue, warehouse
):
    call_center.allows_backorders = True
    call_center.save()
    arrives = timezone.localdate() + timedelta(days=10)
    factories.sent_purchase_order(
        factories.SupplierFactory(), warehouse, [(catalogue[0], 5)], expected_date=arrives
    )
    key = open_form(agent_client, customer)
    data = form_data(customer, key, lines=[("SKU-A", 12), ("SKU-B", 1)])
    body = text(agent_client.post(NEW_ORDER, data))

    assert "SKU-A, the rest (2): expected by" in body
    shown = re.search(r'data-testid="supply-date">([^<]+)<', body).group(1)
    assert Order.objects.count() == 0

    # What the agent tells the customer is what sourcing stores on the backordered line:
    # the goods arrive, are handled, then travel.
    assert agent_client.post(NEW_ORDER, {**data, "command": "backorder"}).status_code == 302
    order = Order.objects.get()
    source_order(order_id=order.pk)
    line = order.lines.get(sku_code="SKU-A")
    assert line.quantity_backordered == 2 and line.supply_date > arrives
    assert line.supply_date.strftime("%a %-d %b %Y") == shown
    # The Order screen says it beside the backordered units.
    screen = text(agent_client.get(reverse("desk:order", args=[order.number])))
    expected_by = line.supply_date.strftime("%a %-d %b")
    assert f'data-testid="supply-date">expected by {expected_by}<' in screen


def test_a_backorder_without_supply_on_order_says_no_date_yet(
    agent_client, call_center, customer, catalogue, warehouse
):
    call_center.allows_backorders = True
    call_center.save()
    # On order, but fewer than the missing units.
    factories.sent_purchase_order(
        factories.SupplierFactory(),
        warehouse,
        [(catalogue[0], 1)],
        expected_date=timezone.localdate() + timedelta(days=3),
    )
    key = open_form(agent_client, customer)
    body = text(agent_client.post(NEW_ORDER, form_data(customer, key, lines=[("SKU-A", 12)])))
    assert "SKU-A, the rest (2):" in body
    assert 'data-testid="no-supply-date">no date yet<' in body
    assert 'data-testid="supply-date"' not in body


# --- Permissions and queries ---------------------------------------------------------------


def test_an_agent_without_add_order_cannot_enter_orders(agent, agent_client, call_center, customer):
    group = Group.objects.create(name="No ordering")
    group.permissions.set(agent.groups.get().permissions.exclude(codename="add_order"))
    agent.groups.set([group])
    assert agent_client.get(f"{NEW_ORDER}?customer={customer.pk}").status_code == 403
    assert agent_client.get(SKU_SEARCH, {"sku_query": "SKU"}).status_code == 403
    assert agent_client.post(QUOTE, {"customer": customer.pk}).status_code == 403
    assert agent_client.post(NEW_ORDER, form_data(customer, "desk-" + "0" * 32)).status_code == 403
    assert Order.objects.count() == 0


def test_fragments_and_the_page_are_login_only(client, call_center, customer):
    for response in (
        client.get(f"{NEW_ORDER}?customer={customer.pk}"),
        client.get(SKU_SEARCH, {"sku_query": "SKU"}),
        client.post(QUOTE, {"customer": customer.pk}),
    ):
        assert response.status_code == 302 and response["Location"].startswith("/desk/login/")


def test_the_quote_asks_the_same_number_of_queries_for_one_line_or_many(
    agent_client, call_center, customer, catalogue, pickup_store, django_assert_num_queries
):
    key = open_form(agent_client, customer)
    one = form_data(customer, key, lines=[("SKU-A", 1)])
    many = form_data(customer, key, lines=[("SKU-A", 1), ("SKU-B", 2), ("SKU-C", 3)])
    agent_client.post(QUOTE, one)  # warm the process's reference data, as a running server has
    # session, user, 2 × permissions, channel, customer, addresses; SKUs, availability (2);
    # delivery options (SKUs, stores, stock, locations, service levels); the service levels
    # that cannot send everything; the chosen service level and the tax rate for the totals.
    with django_assert_num_queries(QUOTE_QUERIES):
        agent_client.post(QUOTE, one)
    with django_assert_num_queries(QUOTE_QUERIES):
        agent_client.post(QUOTE, many)


QUOTE_QUERIES = 18


def test_the_page_asks_a_fixed_number_of_queries(
    agent_client, call_center, customer, catalogue, django_assert_num_queries
):
    agent_client.get(f"{NEW_ORDER}?customer={customer.pk}")
    # session, user, 2 × permissions, channel, customer, addresses, the address's tax rate
    with django_assert_num_queries(8):
        agent_client.get(f"{NEW_ORDER}?customer={customer.pk}")


def test_an_order_without_lines_is_refused_above_the_lines(agent_client, call_center, customer):
    key = open_form(agent_client, customer)
    page = agent_client.post(NEW_ORDER, form_data(customer, key, lines=[]))
    assert page.status_code == 200
    assert field_error(page.content, "lines") == "Add at least one SKU."
    assert Order.objects.count() == 0


def test_a_form_without_a_key_we_made_is_refused_above_the_form(
    agent_client, call_center, customer, catalogue
):
    page = agent_client.post(NEW_ORDER, form_data(customer, "made-up"))
    assert page.status_code == 200
    assert "This form is out of date: open New order again." in text(page)
    assert Order.objects.count() == 0


def test_a_location_that_does_not_hand_over_orders_is_refused_beside_the_options(
    agent_client, call_center, customer, catalogue, warehouse
):
    key = open_form(agent_client, customer)
    page = agent_client.post(NEW_ORDER, form_data(customer, key, delivery="pickup:WH-EAST"))
    assert field_error(page.content, "delivery") == "WH-EAST does not offer pickup."
    assert Order.objects.count() == 0
