"""Customer 360: profile, numbers, history, and the contact and address forms."""

from decimal import Decimal

import pytest

from customers.models import Address, Customer
from orders.services import cancel_order
from tests import factories
from tests.desk.html import field_error, input_value

pytestmark = pytest.mark.django_db


@pytest.fixture
def customer(db):
    customer = factories.CustomerFactory(
        email="ada@example.com",
        first_name="Ada",
        last_name="Lovelace",
        phone="+1 212 555 0100",
        tier=Customer.Tier.VIP,
        notes="Prefers email. Allergic to bubble wrap.",
    )
    factories.AddressFactory(customer=customer, label="Home", is_default=True)
    return customer


def url(customer) -> str:
    return f"/desk/customers/{customer.pk}/"


def test_profile_shows_tier_numbers_orders_addresses_notes(agent_client, customer, place_orders):
    kept, cancelled = place_orders(customer, 2, quantity=1)  # SKU-A at 10.00 each + shipping
    cancel_order(order=cancelled, reason="test")
    kept.refresh_from_db()

    page = agent_client.get(url(customer)).content.decode()

    assert 'data-testid="tier">VIP<' in page  # VIP shown plainly
    assert 'data-testid="order-count">2<' in page
    # Lifetime value and average count only orders that were not cancelled, with currency.
    assert f'data-testid="lifetime-value">{kept.total_amount} USD<' in page
    assert f'data-testid="average-order-value">{kept.total_amount} USD<' in page
    for order in (kept, cancelled):
        assert f'href="/desk/orders/{order.number}/"' in page
    assert "Cancelled" in page
    assert "Allergic to bubble wrap." in page
    assert "1 Main St" in page and "Default" in page
    assert "No returns" in page  # the returns app is not built yet


def test_average_order_value_is_lifetime_value_over_kept_orders(
    agent_client, customer, place_orders
):
    orders = place_orders(customer, 2, quantity=1) + place_orders(customer, 1, quantity=3)
    total = sum(order.total_amount for order in orders)
    page = agent_client.get(url(customer)).content.decode()
    assert f'data-testid="lifetime-value">{total} USD<' in page
    average = (total / 3).quantize(Decimal("0.01"))
    assert f'data-testid="average-order-value">{average} USD<' in page


def test_customer_without_orders_shows_no_money_figures(agent_client, customer):
    page = agent_client.get(url(customer)).content.decode()
    assert 'data-testid="order-count">0<' in page
    assert 'data-testid="lifetime-value">—<' in page
    assert "No orders yet." in page


def test_unknown_customer_is_404(agent_client):
    assert agent_client.get("/desk/customers/999999/").status_code == 404


@pytest.mark.parametrize("order_count", [1, 20])
def test_customer_360_query_count_does_not_grow_with_orders(
    agent_client, customer, place_orders, django_assert_num_queries, order_count
):
    place_orders(customer, order_count)
    # session, user, user perms, group perms, customer, order totals, recent orders, order
    # count, addresses
    with django_assert_num_queries(9):
        response = agent_client.get(url(customer))
    assert response.status_code == 200


# --- contact details ------------------------------------------------------------------------


def contact(**overrides):
    data = {
        "email": "ada@example.com",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "phone": "+1 212 555 0100",
        "notes": "Prefers email.",
    }
    data.update(overrides)
    return data


def test_edit_contact_details_saves_through_the_service(agent_client, customer):
    response = agent_client.post(
        f"{url(customer)}edit/", contact(email="ada.king@example.com", phone="+44 20 7946 0000")
    )
    assert response.status_code == 302 and response["Location"] == url(customer)
    customer.refresh_from_db()
    assert customer.email == "ada.king@example.com"
    assert customer.phone == "+44 20 7946 0000"
    assert customer.notes == "Prefers email."
    assert customer.tier == Customer.Tier.VIP  # not an agent's to change
    assert "Contact details saved." in agent_client.get(url(customer)).content.decode()


def test_edit_with_a_bad_email_shows_the_error_beside_it_and_writes_nothing(agent_client, customer):
    response = agent_client.post(
        f"{url(customer)}edit/", contact(email="not-an-email", first_name="Augusta")
    )
    assert response.status_code == 200
    assert field_error(response.content, "email") == "Enter a valid email address."
    assert field_error(response.content, "first_name") == ""
    assert input_value(response.content, "email") == "not-an-email"  # what was typed is kept
    assert input_value(response.content, "first_name") == "Augusta"
    customer.refresh_from_db()
    assert (customer.email, customer.first_name) == ("ada@example.com", "Ada")


def test_edit_to_another_customers_email_links_to_them(agent_client, customer):
    other = factories.CustomerFactory(email="charles@example.com", first_name="Charles")
    response = agent_client.post(f"{url(customer)}edit/", contact(email="CHARLES@example.com"))
    assert response.status_code == 200
    assert "already exists" in field_error(response.content, "email")
    assert f'href="/desk/customers/{other.pk}/"' in response.content.decode()
    customer.refresh_from_db()
    assert customer.email == "ada@example.com"


def test_create_customer_opens_their_360(agent_client):
    response = agent_client.post(
        "/desk/customers/new/", contact(email="new@example.com", first_name="Nia")
    )
    created = Customer.objects.get(email="new@example.com")
    assert response.status_code == 302 and response["Location"] == url(created)
    assert created.first_name == "Nia"


def test_create_customer_prefills_the_email_from_find(agent_client):
    page = agent_client.get("/desk/customers/new/?email=who@example.com")
    assert input_value(page.content, "email") == "who@example.com"


def test_create_with_an_existing_email_in_another_case_links_to_the_customer(
    agent_client, customer
):
    response = agent_client.post(
        "/desk/customers/new/", contact(email="ADA@Example.COM", first_name="Someone")
    )
    assert response.status_code == 200
    assert field_error(response.content, "email") == "A customer with this email already exists."
    assert f'href="/desk/customers/{customer.pk}/"' in response.content.decode()
    assert input_value(response.content, "first_name") == "Someone"
    assert Customer.objects.count() == 1


def test_create_requires_an_email(agent_client):
    response = agent_client.post("/desk/customers/new/", contact(email=""))
    assert field_error(response.content, "email") == "This field is required."
    assert Customer.objects.count() == 0


# --- addresses ------------------------------------------------------------------------------


def address(**overrides):
    data = {
        "label": "Work",
        "recipient": "",
        "line1": "350 Fifth Avenue",
        "line2": "Floor 10",
        "city": "New York",
        "region": "NY",
        "postal_code": "10118",
        "country": "US",
    }
    data.update(overrides)
    return data


def test_add_address_and_make_it_the_default(agent_client, customer):
    response = agent_client.post(f"{url(customer)}addresses/new/", address(is_default="on"))
    assert response.status_code == 302
    new = customer.addresses.get(label="Work")
    assert new.is_default
    assert customer.addresses.filter(is_default=True).count() == 1


def test_add_address_with_missing_city_shows_the_error_beside_it(agent_client, customer):
    response = agent_client.post(f"{url(customer)}addresses/new/", address(city=""))
    assert response.status_code == 200
    assert field_error(response.content, "city") == "This field is required."
    assert input_value(response.content, "line1") == "350 Fifth Avenue"
    assert customer.addresses.count() == 1


def test_edit_address_saves_and_drops_stale_coordinates(agent_client, customer):
    home = customer.addresses.get()
    Address.objects.filter(pk=home.pk).update(latitude="42.65", longitude="-73.75")
    response = agent_client.post(f"{url(customer)}addresses/{home.pk}/edit/", address(label="Home"))
    assert response.status_code == 302
    home.refresh_from_db()
    assert (home.line1, home.city, home.postal_code) == ("350 Fifth Avenue", "New York", "10118")
    assert home.latitude is None and home.is_default


def test_edit_address_refuses_an_unknown_country_and_writes_nothing(agent_client, customer):
    home = customer.addresses.get()
    response = agent_client.post(f"{url(customer)}addresses/{home.pk}/edit/", address(country="XX"))
    assert response.status_code == 200
    assert "valid choice" in field_error(response.content, "country")
    home.refresh_from_db()
    assert home.line1 == "1 Main St"


def test_address_of_another_customer_is_not_found(agent_client, customer):
    stranger = factories.AddressFactory()
    response = agent_client.get(f"{url(customer)}addresses/{stranger.pk}/edit/")
    assert response.status_code == 404


def test_forms_keep_csrf_on(csrf_client, customer):
    page = csrf_client.get(f"{url(customer)}edit/")
    token = page.cookies["csrftoken"].value
    response = csrf_client.post(
        f"{url(customer)}edit/", {**contact(first_name="Augusta"), "csrfmiddlewaretoken": token}
    )
    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.first_name == "Augusta"
