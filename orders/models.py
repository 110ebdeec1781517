from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django_countries.fields import CountryField
from rest_framework_api_key.models import AbstractAPIKey, APIKeyManager

MONEY = {"max_digits": 14, "decimal_places": 2}
ORDER_TOTAL = (
    models.F("subtotal_amount")
    - models.F("discount_amount")
    + models.F("tax_amount")
    + models.F("shipping_amount")
)


class SalesChannel(models.Model):
    class Type(models.TextChoices):
        WEB = "web", "Web storefront"
        MOBILE = "mobile", "Mobile app"
        KIOSK = "kiosk", "Kiosk"
        STORE = "store", "Store POS"
        CALL_CENTER = "call_center", "Call center"
        MARKETPLACE = "marketplace", "Marketplace"

    code = models.SlugField(max_length=32, unique=True)
    name = models.CharField(max_length=100)
    type = models.CharField(max_length=20, choices=Type.choices)
    currency = models.CharField(max_length=3, default="USD")
    is_active = models.BooleanField(default=True)
    allows_backorders = models.BooleanField(
        default=False, help_text="Accept orders beyond stock and backorder the shortfall."
    )

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code


class ChannelAPIKeyManager(APIKeyManager):
    def get_usable_keys(self):
        # The channel is needed on every request; fetch it with the key in one query.
        return super().get_usable_keys().select_related("channel").filter(channel__is_active=True)


class ChannelAPIKey(AbstractAPIKey):
    """A storefront's credential; only a hash is stored (djangorestframework-api-key)."""

    channel = models.ForeignKey(SalesChannel, on_delete=models.CASCADE, related_name="api_keys")

    objects = ChannelAPIKeyManager()

    class Meta(AbstractAPIKey.Meta):
        verbose_name = "channel API key"
        verbose_name_plural = "channel API keys"


class TaxRate(models.Model):
    """Sales tax by destination: a region row wins over the country-wide row (blank region)."""

    country = CountryField()
    region = models.CharField(max_length=100, blank=True)
    name = models.CharField(max_length=100)
    rate = models.DecimalField(
        max_digits=6,
        decimal_places=4,
        validators=[MinValueValidator(0), MaxValueValidator(1)],
        help_text="0.0825 is 8.25%.",
    )

    class Meta:
        ordering = ["country", "region"]
        constraints = [
            models.UniqueConstraint(fields=["country", "region"], name="one_tax_rate_per_region"),
            models.CheckConstraint(condition=Q(rate__gte=0, rate__lte=1), name="tax_rate_range"),
        ]

    def __str__(self) -> str:
        return f"{self.country}{'-' + self.region if self.region else ''} {self.rate:%}"


class ServiceLevel(models.Model):
    """A shipping service a customer can choose, and what it costs.

    The sourcing issue brings carriers and distance bands; capture only needs the price and
    the transit time.
    """

    code = models.SlugField(max_length=32, unique=True)
    name = models.CharField(max_length=100)
    transit_days = models.PositiveSmallIntegerField()
    base_amount = models.DecimalField(**MONEY)
    per_kg_amount = models.DecimalField(**MONEY, default=0)
    currency = models.CharField(max_length=3, default="USD")
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["transit_days", "code"]

    def __str__(self) -> str:
        return self.name


class Order(models.Model):
    class Status(models.TextChoices):
        PLACED = "placed", "Placed"
        BACKORDERED = "backordered", "Backordered"
        RELEASED = "released", "Released to fulfillment"
        PARTIALLY_SHIPPED = "partially_shipped", "Partially shipped"
        SHIPPED = "shipped", "Shipped"
        READY_FOR_PICKUP = "ready_for_pickup", "Ready for pickup"
        COMPLETED = "completed", "Completed"
        CANCELLED = "cancelled", "Cancelled"

    class DeliveryMethod(models.TextChoices):
        SHIP = "ship", "Ship"
        PICKUP = "pickup", "Pickup in store"

    number = models.CharField(max_length=20, unique=True, null=True, editable=False)
    channel = models.ForeignKey(SalesChannel, on_delete=models.PROTECT, related_name="orders")
    external_id = models.CharField(max_length=100, null=True, blank=True)
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.PROTECT, related_name="orders"
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PLACED)
    status_changed_at = models.DateTimeField(
        default=timezone.now, help_text="When the order entered its current status (stage SLAs)."
    )
    is_on_hold = models.BooleanField(default=False)
    currency = models.CharField(max_length=3)
    delivery_method = models.CharField(max_length=10, choices=DeliveryMethod.choices)
    service_level = models.ForeignKey(
        ServiceLevel, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    ship_to = models.JSONField(
        default=dict, blank=True, help_text="The address as it was when the order was placed."
    )
    pickup_location = models.ForeignKey(
        "inventory.Location", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    subtotal_amount = models.DecimalField(**MONEY)
    discount_amount = models.DecimalField(**MONEY, default=0)
    tax_amount = models.DecimalField(**MONEY)
    shipping_amount = models.DecimalField(**MONEY)
    total_amount = models.DecimalField(**MONEY)
    promised_date = models.DateField(null=True, blank=True)
    placed_at = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-placed_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "external_id"],
                condition=Q(external_id__isnull=False),
                name="order_external_id_unique_per_channel",
            ),
            # Within half a cent: on numeric(14,2) that is exact equality, and it also holds
            # on SQLite, whose arithmetic on these columns is binary floating point.
            models.CheckConstraint(
                condition=Q(total_amount__gte=ORDER_TOTAL - Decimal("0.005"))
                & Q(total_amount__lte=ORDER_TOTAL + Decimal("0.005")),
                name="order_total_adds_up",
            ),
            models.CheckConstraint(
                condition=Q(delivery_method="ship", service_level__isnull=False)
                | Q(delivery_method="pickup", pickup_location__isnull=False),
                name="order_delivery_complete",
            ),
        ]
        indexes = [
            models.Index(fields=["channel", "-placed_at"], name="order_channel_placed_idx"),
            models.Index(fields=["status", "-placed_at"], name="order_status_placed_idx"),
            # A customer's history (Customer 360, the API's customer_email filter), newest first.
            models.Index(fields=["customer", "-placed_at"], name="order_customer_placed_idx"),
            # The admin's order list: newest first, the page read from the index, not sorted.
            models.Index(fields=["-placed_at", "-id"], name="order_newest_first_idx"),
            # The admin's "on hold" filter: few orders are held at any time, so an index of
            # just those finds them, where the newest-first walk would pass every order.
            models.Index(
                fields=["-placed_at", "-id"],
                name="order_on_hold_idx",
                condition=Q(is_on_hold=True),
            ),
            # The jeopardy scan reads the oldest orders of a stage first: a range scan.
            models.Index(fields=["status", "status_changed_at"], name="order_stage_age_idx"),
            models.Index(
                fields=["promised_date"],
                name="order_open_promise_idx",
                condition=Q(status__in=["placed", "backordered", "released", "partially_shipped"]),
            ),
        ]

    def __str__(self) -> str:
        return self.number or f"order {self.pk}"


# The order state machine: the only moves `orders.services.transition` allows.
TRANSITIONS: dict[str, set[str]] = {
    Order.Status.PLACED: {
        Order.Status.BACKORDERED,
        Order.Status.RELEASED,
        Order.Status.CANCELLED,
    },
    Order.Status.BACKORDERED: {
        Order.Status.PLACED,
        Order.Status.RELEASED,
        Order.Status.CANCELLED,
    },
    Order.Status.RELEASED: {
        Order.Status.PLACED,  # a change during fulfillment sends the order back to sourcing
        Order.Status.PARTIALLY_SHIPPED,
        Order.Status.SHIPPED,
        Order.Status.READY_FOR_PICKUP,
        Order.Status.CANCELLED,
    },
    Order.Status.PARTIALLY_SHIPPED: {Order.Status.SHIPPED},
    Order.Status.SHIPPED: {Order.Status.COMPLETED},
    Order.Status.READY_FOR_PICKUP: {Order.Status.COMPLETED, Order.Status.CANCELLED},
    Order.Status.COMPLETED: set(),
    Order.Status.CANCELLED: set(),
}
CANCELLABLE = {s for s, targets in TRANSITIONS.items() if Order.Status.CANCELLED in targets}
HOLDABLE = {Order.Status.PLACED, Order.Status.BACKORDERED, Order.Status.RELEASED}


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    line_number = models.PositiveSmallIntegerField()
    sku = models.ForeignKey("inventory.SKU", on_delete=models.PROTECT, related_name="order_lines")
    sku_code = models.CharField(max_length=64, help_text="As ordered, kept if the SKU is renamed.")
    name = models.CharField(max_length=200)
    quantity = models.PositiveIntegerField()
    quantity_cancelled = models.PositiveIntegerField(default=0)
    quantity_backordered = models.PositiveIntegerField(default=0)
    supply_date = models.DateField(
        null=True,
        blank=True,
        help_text="When the backordered units can reach the customer: expected from incoming "
        "purchase orders. Read only while units are backordered.",
    )
    unit_price_amount = models.DecimalField(**MONEY)
    line_total_amount = models.DecimalField(**MONEY)
    tax_amount = models.DecimalField(**MONEY, default=0)

    class Meta:
        ordering = ["order_id", "line_number"]
        constraints = [
            models.UniqueConstraint(
                fields=["order", "line_number"], name="order_line_number_unique"
            ),
            models.CheckConstraint(
                condition=Q(quantity__gt=0), name="order_line_quantity_positive"
            ),
            models.CheckConstraint(
                condition=Q(quantity_cancelled__lte=models.F("quantity")),
                name="order_line_cancelled_within_quantity",
            ),
            models.CheckConstraint(
                condition=Q(quantity_backordered__lte=models.F("quantity")),
                name="order_line_backordered_within_quantity",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.line_number}: {self.quantity} × {self.sku_code}"


class Payment(models.Model):
    class Method(models.TextChoices):
        CARD = "card", "Card"
        PAYPAL = "paypal", "PayPal"
        BANK_TRANSFER = "bank_transfer", "Bank transfer"
        CASH_ON_DELIVERY = "cash_on_delivery", "Cash on delivery"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending (funds due later)"
        AUTHORIZED = "authorized", "Authorized"
        CAPTURED = "captured", "Captured"
        VOIDED = "voided", "Voided"
        REFUNDED = "refunded", "Refunded"

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="payments")
    method = models.CharField(max_length=20, choices=Method.choices)
    status = models.CharField(max_length=12, choices=Status.choices)
    amount = models.DecimalField(**MONEY)
    currency = models.CharField(max_length=3)
    reference = models.CharField(max_length=200, blank=True, help_text="The client's token.")
    gateway_reference = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="payment_amount_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.get_method_display()} {self.amount} {self.currency} ({self.status})"


PAYMENT_TRANSITIONS: dict[str, set[str]] = {
    Payment.Status.PENDING: {Payment.Status.CAPTURED, Payment.Status.VOIDED},
    Payment.Status.AUTHORIZED: {Payment.Status.CAPTURED, Payment.Status.VOIDED},
    Payment.Status.CAPTURED: {Payment.Status.REFUNDED},
    Payment.Status.VOIDED: set(),
    Payment.Status.REFUNDED: set(),
}


class OrderHold(models.Model):
    class Reason(models.TextChoices):
        FRAUD_REVIEW = "fraud_review", "Fraud review"
        PAYMENT = "payment", "Payment problem"
        ADDRESS = "address", "Address check"
        CUSTOMER_REQUEST = "customer_request", "Customer request"
        OTHER = "other", "Other"

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="holds")
    reason = models.CharField(max_length=20, choices=Reason.choices)
    note = models.TextField(blank=True)
    placed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    placed_at = models.DateTimeField(auto_now_add=True)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    released_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-placed_at"]

    def __str__(self) -> str:
        return f"{self.get_reason_display()} hold on {self.order}"

    @property
    def is_active(self) -> bool:
        return self.released_at is None


class OrderEvent(models.Model):
    """The order's timeline: what happened, who did it, when."""

    class Kind(models.TextChoices):
        PLACED = "placed", "Order placed"
        STATUS_CHANGED = "status_changed", "Status changed"
        HOLD_PLACED = "hold_placed", "Hold placed"
        HOLD_RELEASED = "hold_released", "Hold released"
        PAYMENT = "payment", "Payment"
        STOCK_RESERVED = "stock_reserved", "Stock reserved"
        STOCK_RELEASED = "stock_released", "Stock released"
        SOURCED = "sourced", "Sourced"
        FULFILLMENT = "fulfillment", "Fulfillment"
        NOTIFICATION = "notification", "Customer notified"
        NOTE = "note", "Note"
        JEOPARDY = "jeopardy", "Jeopardy alert"

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    message = models.CharField(max_length=500)
    data = models.JSONField(default=dict, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(
        max_length=100, blank=True, help_text="Who acted when no staff user did (channel, job)."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["order", "created_at"], name="order_event_timeline_idx")]

    def __str__(self) -> str:
        return f"{self.order_id}: {self.message}"


class IdempotencyKey(models.Model):
    """A storefront's Idempotency-Key, claimed in the transaction that creates the order."""

    channel = models.ForeignKey(SalesChannel, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    order = models.ForeignKey(Order, null=True, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["channel", "key"], name="idempotency_key_per_channel"),
        ]
        indexes = [models.Index(fields=["created_at"], name="idempotency_created_idx")]

    def __str__(self) -> str:
        return f"{self.channel_id}:{self.key}"
