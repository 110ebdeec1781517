import pytest

from tests import factories


@pytest.fixture
def channel(db):
    return factories.SalesChannelFactory(code="web", type="web")


@pytest.fixture
def other_channel(db):
    return factories.SalesChannelFactory(code="mobile", type="mobile")


@pytest.fixture
def warehouse(db):
    return factories.LocationFactory(code="WH-EAST", priority=10)


@pytest.fixture
def store(db):
    return factories.LocationFactory(
        code="STORE-NYC", type="store", allows_pickup=True, city="New York", priority=50
    )


@pytest.fixture
def standard_service(db):
    """The standard service level, delivered by one carrier anywhere within 5,000 km."""
    level = factories.ServiceLevelFactory()
    factories.carrier_rate(level)
    return level


@pytest.fixture
def ny_tax(db):
    return factories.TaxRateFactory()


@pytest.fixture
def catalogue(db, warehouse, standard_service, ny_tax):
    """Three SKUs with 10 units each at one warehouse."""
    skus = [
        factories.SKUFactory(code="SKU-A", price_amount="10.00"),
        factories.SKUFactory(code="SKU-B", price_amount="25.50"),
        factories.SKUFactory(code="SKU-C", price_amount="3.99"),
    ]
    for sku in skus:
        factories.stock(sku, warehouse, 10)
    return skus


@pytest.fixture
def staff_user(db):
    return factories.StaffFactory(username="staff")


@pytest.fixture
def staff_client(client, staff_user):
    """Django's test client signed in as the staff user (admin and desk pages)."""
    client.force_login(staff_user)
    return client


@pytest.fixture
def api_client():
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture
def channel_client(channel):
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {factories.api_key_for(channel)}")
    return client
