from decimal import Decimal

import factory
import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from customers.models import Address, Customer
from inventory.models import SKU, Location
from inventory.services import receive_stock
from orders.models import ChannelAPIKey, SalesChannel, ServiceLevel, TaxRate


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", "secret-pass")

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class StaffFactory(UserFactory):
    is_staff = True
    is_superuser = True


class SalesChannelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SalesChannel
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"channel-{n}")
    name = factory.LazyAttribute(lambda c: c.code.title())
    type = SalesChannel.Type.WEB
    currency = "USD"


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    email = factory.Sequence(lambda n: f"customer{n}@example.com")
    first_name = "Ada"
    last_name = factory.Sequence(lambda n: f"Lovelace{n}")


class AddressFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Address

    customer = factory.SubFactory(CustomerFactory)
    line1 = "1 Main St"
    city = "Albany"
    region = "NY"
    postal_code = "12207"
    country = "US"


class SKUFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SKU
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"T-{n:04d}")
    name = factory.Sequence(lambda n: f"Test product {n}")
    price_amount = Decimal("10.00")
    cost_amount = Decimal("4.00")
    weight_kg = Decimal("0.500")


class LocationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Location
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"LOC-{n}")
    name = factory.LazyAttribute(lambda loc: f"Location {loc.code}")
    type = Location.Type.WAREHOUSE
    city = "Newark"
    region = "NJ"
    country = "US"
    latitude = Decimal("40.735700")
    longitude = Decimal("-74.172400")
    handling_days = 1
    priority = 100


class ServiceLevelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ServiceLevel
        django_get_or_create = ("code",)

    code = "standard"
    name = "Standard"
    transit_days = 3
    base_amount = Decimal("5.00")
    per_kg_amount = Decimal("1.00")


class TaxRateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TaxRate
        django_get_or_create = ("country", "region")

    country = "US"
    region = "NY"
    name = "New York sales tax"
    rate = Decimal("0.0800")


def carrier_rate(service_level, *, carrier="parcelco", km=5000, kg="70", base="4.00", days=3):
    """A carrier service for `service_level` with one rate band (the engine needs a carrier)."""
    from fulfillment.models import Carrier, CarrierService, ShippingRate

    carrier_row, _ = Carrier.objects.get_or_create(code=carrier, defaults={"name": carrier})
    service, _ = CarrierService.objects.get_or_create(
        carrier=carrier_row,
        code=f"{carrier}-{service_level.code}",
        defaults={"name": service_level.name, "service_level": service_level},
    )
    ShippingRate.objects.get_or_create(
        carrier_service=service,
        max_distance_km=km,
        max_weight_kg=Decimal(kg),
        defaults={
            "base_amount": Decimal(base),
            "per_kg_amount": Decimal("0.50"),
            "transit_days": days,
        },
    )
    return service


def stock(sku, location, quantity):
    """Put `quantity` units on hand the way the business does: through a receipt."""
    return receive_stock(sku=sku, location=location, quantity=quantity, reference="test")


def api_key_for(channel) -> str:
    _, key = ChannelAPIKey.objects.create_key(name="test", channel=channel)
    return key


def order_payload(**overrides):
    payload = {
        "customer": {
            "email": "grace@example.com",
            "first_name": "Grace",
            "last_name": "Hopper",
            "phone": "+1 555 0100",
        },
        "lines": [{"sku": "SKU-A", "quantity": 2}, {"sku": "SKU-B", "quantity": 1}],
        "delivery": {
            "method": "ship",
            "service_level": "standard",
            "address": {
                "line1": "1 Liberty Plaza",
                "city": "New York",
                "region": "NY",
                "postal_code": "10006",
                "country": "US",
            },
        },
        "payment": {"method": "card", "reference": "tok_visa"},
    }
    payload.update(overrides)
    return payload


requires_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs PostgreSQL row locks (set DATABASE_URL); SQLite serialises all writers",
)


# --- Replenishment ----------------------------------------------------------------------------


class SupplierFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "inventory.Supplier"
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"SUP-{n}")
    name = factory.LazyAttribute(lambda supplier: f"Supplier {supplier.code}")
    contact_email = factory.LazyAttribute(lambda supplier: f"{supplier.code.lower()}@supply.test")
    lead_time_days = 7
    minimum_order_amount = Decimal("0")
    currency = "USD"


def supplier_item(supplier, sku, *, cost="4.00", pack_size=1, minimum_quantity=0, preferred=True):
    from inventory.models import SupplierItem

    return SupplierItem.objects.create(
        supplier=supplier,
        sku=sku,
        supplier_sku=f"{supplier.code}-{sku.code}",
        cost_amount=Decimal(cost),
        pack_size=pack_size,
        minimum_quantity=minimum_quantity,
        is_preferred=preferred,
    )


def reorder_rule(sku, location, *, reorder_point=10, order_up_to=40, **fields):
    from inventory.models import ReorderRule

    return ReorderRule.objects.create(
        sku=sku, location=location, reorder_point=reorder_point, order_up_to=order_up_to, **fields
    )


def sent_purchase_order(supplier, destination, lines, *, expected_date=None, actor=None):
    """A purchase order approved and sent, as staff do: `lines` is [(sku, quantity), ...]."""
    import datetime

    from django.utils import timezone

    from inventory.replenishment.purchasing import approve_and_send, create_purchase_order

    purchase_order = create_purchase_order(
        supplier=supplier,
        destination=destination,
        expected_date=expected_date or timezone.localdate() + datetime.timedelta(days=7),
        lines=[{"sku": sku, "quantity": quantity} for sku, quantity in lines],
    )
    return approve_and_send(purchase_order=purchase_order, actor=actor)


# --- Jeopardy -------------------------------------------------------------------------------


def _now():
    from django.utils import timezone

    return timezone.now()


class JeopardyAlertFactory(factory.django.DjangoModelFactory):
    """An alert as the scan would raise it; pass `order` (and `fulfillment_order`, `location`)."""

    class Meta:
        model = "fulfillment.JeopardyAlert"

    kind = "stalled"
    stage = "released"
    cause_key = factory.Sequence(lambda n: f"test:{n}")
    severity = 40
    message = "Stalled past its stage SLA."
    detected_at = factory.LazyFunction(_now)
