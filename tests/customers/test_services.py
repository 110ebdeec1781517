"""Customer services: the one way the desk (and later the API) creates and edits customers."""

import pytest

from customers import services
from customers.models import Address
from oms.core.errors import InvalidInput
from tests import factories

pytestmark = pytest.mark.django_db


def test_create_customer_trims_and_stores_contact_details():
    customer = services.create_customer(
        email="  nia@example.com ", first_name=" Nia ", last_name="Long", phone="+1 555 0101"
    )
    assert (customer.email, customer.first_name) == ("nia@example.com", "Nia")


def test_create_customer_with_an_email_on_file_in_another_case_names_the_customer():
    existing = factories.CustomerFactory(email="ada@example.com")
    with pytest.raises(services.DuplicateCustomer) as raised:
        services.create_customer(email="ADA@EXAMPLE.COM")
    assert raised.value.existing == existing
    assert raised.value.errors == {"email": [services.DUPLICATE_EMAIL]}


def test_update_customer_refuses_a_bad_email_and_writes_nothing():
    customer = factories.CustomerFactory(email="ada@example.com", first_name="Ada")
    with pytest.raises(InvalidInput) as raised:
        services.update_customer(
            customer=customer, email="nope", first_name="X", last_name="", phone="", notes=""
        )
    assert "email" in raised.value.errors
    customer.refresh_from_db()
    assert (customer.email, customer.first_name) == ("ada@example.com", "Ada")


def test_update_customer_may_keep_its_own_email_in_another_case():
    customer = factories.CustomerFactory(email="ada@example.com")
    services.update_customer(
        customer=customer,
        email="Ada@Example.com",
        first_name="Ada",
        last_name="",
        phone="",
        notes="",
    )
    customer.refresh_from_db()
    assert customer.email == "Ada@Example.com"


ADDRESS = {"line1": "1 Main St", "city": "Albany", "postal_code": "12207", "country": "us"}


def test_first_address_becomes_the_default_and_a_new_default_takes_over():
    customer = factories.CustomerFactory()
    first = services.add_address(customer=customer, **ADDRESS)
    second = services.add_address(customer=customer, **{**ADDRESS, "line1": "2 Main St"})
    assert first.is_default and not second.is_default
    assert str(first.country) == "US"

    services.update_address(address=second, **{**ADDRESS, "line1": "2 Main St"}, is_default=True)

    assert list(customer.addresses.filter(is_default=True)) == [second]


def test_unticking_default_keeps_the_customer_s_only_default():
    address = services.add_address(customer=factories.CustomerFactory(), **ADDRESS)
    services.update_address(address=address, **ADDRESS, is_default=False)
    address.refresh_from_db()
    assert address.is_default


def test_address_with_missing_parts_names_each_and_writes_nothing():
    customer = factories.CustomerFactory()
    with pytest.raises(InvalidInput) as raised:
        services.add_address(customer=customer, line1="", city="", postal_code="1", country="ZZ")
    assert set(raised.value.errors) == {"line1", "city", "country"}
    assert not Address.objects.exists()
