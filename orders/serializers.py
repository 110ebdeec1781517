"""Order API shapes: small strict input serializers, and output serializers for reading."""

from django.conf import settings
from django_countries.serializer_fields import CountryField
from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema_field
from rest_framework import serializers

from oms.core.api import StrictSerializer
from orders.models import Order, OrderEvent, OrderLine, Payment

MONEY = {"max_digits": 14, "decimal_places": 2, "read_only": True}


# --- Input ---------------------------------------------------------------------------------


class CustomerInput(StrictSerializer):
    email = serializers.EmailField(max_length=254)
    first_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    last_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    phone = serializers.CharField(max_length=32, required=False, allow_blank=True)


class LineInput(StrictSerializer):
    sku = serializers.CharField(max_length=64)
    quantity = serializers.IntegerField(min_value=1, max_value=settings.MAX_LINE_QUANTITY)


class AddressInput(StrictSerializer):
    recipient = serializers.CharField(max_length=200, required=False, allow_blank=True)
    line1 = serializers.CharField(max_length=200)
    line2 = serializers.CharField(max_length=200, required=False, allow_blank=True)
    city = serializers.CharField(max_length=100)
    region = serializers.CharField(max_length=100, required=False, allow_blank=True)
    postal_code = serializers.CharField(max_length=20)
    country = CountryField()

    def validate(self, attrs):
        attrs["country"] = str(attrs["country"])
        return attrs


ADDRESS_FIELDS = tuple(AddressInput._declared_fields)


class ShipDeliveryInput(StrictSerializer):
    """The schema of a `ship` delivery (DeliveryInput validates): a service and an address."""

    method = serializers.ChoiceField(choices=[Order.DeliveryMethod.SHIP])
    service_level = serializers.CharField(max_length=32)
    address = AddressInput()


class PickupDeliveryInput(StrictSerializer):
    """The schema of a `pickup` delivery (DeliveryInput validates): the store to collect from."""

    method = serializers.ChoiceField(choices=[Order.DeliveryMethod.PICKUP])
    location = serializers.CharField(max_length=32)


# One serializer validates both kinds (its errors name the missing field); the schema shows
# them apart, so integrators and generated clients see which fields each method needs.
@extend_schema_field(
    PolymorphicProxySerializer(
        component_name="Delivery",
        serializers={
            Order.DeliveryMethod.SHIP.value: ShipDeliveryInput,
            Order.DeliveryMethod.PICKUP.value: PickupDeliveryInput,
        },
        resource_type_field_name="method",
    )
)
class DeliveryInput(StrictSerializer):
    method = serializers.ChoiceField(choices=Order.DeliveryMethod.choices)
    service_level = serializers.CharField(max_length=32, required=False)
    address = AddressInput(required=False)
    location = serializers.CharField(max_length=32, required=False)

    def validate(self, attrs):
        errors = {}
        if attrs["method"] == Order.DeliveryMethod.SHIP:
            if not attrs.get("service_level"):
                errors["service_level"] = ["Choose a shipping service to ship."]
            if not attrs.get("address"):
                errors["address"] = ["A shipping address is required to ship."]
        elif not attrs.get("location"):
            errors["location"] = ["Choose the store to pick up from."]
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


class PaymentInput(StrictSerializer):
    method = serializers.ChoiceField(choices=Payment.Method.choices)
    reference = serializers.CharField(max_length=200, required=False, allow_blank=True)


class OrderCreateInput(StrictSerializer):
    channel = serializers.SlugField(
        max_length=32, required=False, help_text="Staff only: the channel to place the order on."
    )
    external_id = serializers.CharField(max_length=100, required=False, allow_null=True)
    customer = CustomerInput()
    lines = LineInput(many=True, allow_empty=False, max_length=settings.MAX_ORDER_LINES)
    delivery = DeliveryInput()
    payment = PaymentInput()


# The request example in the schema. `make reliability` (hostile_input) seeds its SKU, service
# level and tax region, so schemathesis' example phase places at least one real order.
ORDER_EXAMPLE = {
    "external_id": "web-100045",
    "customer": {"email": "ada@example.com", "first_name": "Ada", "last_name": "Lovelace"},
    "lines": [{"sku": "TEE-RED-M", "quantity": 2}],
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


class CancelInput(StrictSerializer):
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True)


# --- Output --------------------------------------------------------------------------------


class OrderLineOutput(serializers.ModelSerializer):
    sku = serializers.CharField(source="sku_code")
    unit_price = serializers.DecimalField(source="unit_price_amount", **MONEY)
    line_total = serializers.DecimalField(source="line_total_amount", **MONEY)
    tax = serializers.DecimalField(source="tax_amount", **MONEY)

    class Meta:
        model = OrderLine
        fields = [
            "line_number",
            "sku",
            "name",
            "quantity",
            "quantity_cancelled",
            "quantity_backordered",
            "unit_price",
            "line_total",
            "tax",
        ]


class PaymentOutput(serializers.ModelSerializer):
    amount = serializers.DecimalField(**MONEY)

    class Meta:
        model = Payment
        fields = ["method", "status", "amount", "currency", "reference", "created_at"]


class OrderEventOutput(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor_label")

    class Meta:
        model = OrderEvent
        fields = ["kind", "message", "actor", "data", "created_at"]


class OrderOutput(serializers.ModelSerializer):
    channel = serializers.CharField(source="channel.code")
    customer = serializers.SerializerMethodField()
    delivery = serializers.SerializerMethodField()
    lines = OrderLineOutput(many=True)
    subtotal = serializers.DecimalField(source="subtotal_amount", **MONEY)
    discount = serializers.DecimalField(source="discount_amount", **MONEY)
    tax = serializers.DecimalField(source="tax_amount", **MONEY)
    shipping = serializers.DecimalField(source="shipping_amount", **MONEY)
    total = serializers.DecimalField(source="total_amount", **MONEY)
    created_at = serializers.DateTimeField(source="placed_at")

    class Meta:
        model = Order
        fields = [
            "number",
            "external_id",
            "status",
            "is_on_hold",
            "channel",
            "currency",
            "customer",
            "delivery",
            "lines",
            "subtotal",
            "discount",
            "tax",
            "shipping",
            "total",
            "promised_date",
            "created_at",
        ]

    def get_customer(self, order) -> dict:
        return {"email": order.customer.email, "name": order.customer.full_name}

    def get_delivery(self, order) -> dict:
        if order.delivery_method == Order.DeliveryMethod.PICKUP:
            return {"method": "pickup", "location": order.pickup_location.code}
        return {
            "method": "ship",
            "service_level": order.service_level.code,
            # In the fields' order whatever the storage did to it (PostgreSQL's jsonb orders
            # keys by length): an order just placed and its replay answer byte for byte alike.
            "address": {
                name: order.ship_to[name] for name in ADDRESS_FIELDS if name in order.ship_to
            },
        }


class OrderDetailOutput(OrderOutput):
    """Adds payments, the timeline and the fulfillment outcome.

    Fulfillment orders are read through their reverse relation (`fulfillment_orders`), so
    this lower app shows them without importing the fulfillment app.
    """

    payments = PaymentOutput(many=True)
    events = OrderEventOutput(many=True)
    fulfillments = serializers.SerializerMethodField()

    class Meta(OrderOutput.Meta):
        fields = [*OrderOutput.Meta.fields, "fulfillments", "payments", "events"]

    def get_fulfillments(self, order) -> list[dict]:
        return [
            {
                "id": fulfillment.pk,
                "location": fulfillment.location.code,
                "kind": fulfillment.kind,
                "status": fulfillment.status,
                "lines": [
                    {
                        "sku": line.sku.code,
                        "quantity": line.quantity,
                        "quantity_shipped": line.quantity_shipped,
                    }
                    for line in fulfillment.lines.all()
                ],
                # The carrier that took the parcel; before shipment, the one the plan chose.
                "carrier": _carrier_code(fulfillment),
                "tracking_number": fulfillment.tracking_number or None,
                "promised_date": fulfillment.promised_date,
                "shipped_at": fulfillment.shipped_at,
                "delivered_at": fulfillment.delivered_at,
            }
            for fulfillment in order.fulfillment_orders.all()
        ]

    def to_representation(self, order):
        data = super().to_representation(order)
        # A line is promised for when its last fulfillment arrives; a backordered line for
        # when incoming purchase orders can deliver it (OrderLine.supply_date), else no date.
        line_dates: dict[int, object] = {}
        for fulfillment in order.fulfillment_orders.all():
            if fulfillment.status == "cancelled" or fulfillment.promised_date is None:
                continue
            for line in fulfillment.lines.all():
                current = line_dates.get(line.order_line_id)
                if current is None or fulfillment.promised_date > current:
                    line_dates[line.order_line_id] = fulfillment.promised_date
        for line_data, line in zip(data["lines"], order.lines.all(), strict=True):
            promised = line_dates.get(line.pk, order.promised_date)
            if line.quantity_backordered:
                # Backordered units are promised from incoming purchase orders, if any cover them.
                promised = line.supply_date
            line_data["promised_date"] = promised.isoformat() if promised else None
        return data


def _carrier_code(fulfillment) -> str | None:
    if fulfillment.carrier_id:
        return fulfillment.carrier.code
    if fulfillment.carrier_service_id:
        return fulfillment.carrier_service.carrier.code
    return None
