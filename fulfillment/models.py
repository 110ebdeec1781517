from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

MONEY = {"max_digits": 14, "decimal_places": 2}


class Carrier(models.Model):
    code = models.SlugField(max_length=32, unique=True)
    name = models.CharField(max_length=100)
    tracking_url_template = models.CharField(
        max_length=300, blank=True, help_text="Use {tracking_number} where the number goes."
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name

    def tracking_url(self, tracking_number: str) -> str:
        if not self.tracking_url_template or not tracking_number:
            return ""
        return self.tracking_url_template.replace("{tracking_number}", tracking_number)


class CarrierService(models.Model):
    """One carrier's product that delivers a customer-facing service level (standard, express…)."""

    carrier = models.ForeignKey(Carrier, on_delete=models.CASCADE, related_name="services")
    service_level = models.ForeignKey(
        "orders.ServiceLevel", on_delete=models.PROTECT, related_name="carrier_services"
    )
    code = models.SlugField(max_length=40)
    name = models.CharField(max_length=100)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["carrier__code", "code"]
        constraints = [
            models.UniqueConstraint(fields=["carrier", "code"], name="carrier_service_code_unique")
        ]

    def __str__(self) -> str:
        return f"{self.carrier.code} {self.name}"


class ShippingRate(models.Model):
    """Price and transit time of a carrier service up to a distance and a weight.

    The rate for a parcel is the band with the smallest distance, then weight, that covers it.
    """

    carrier_service = models.ForeignKey(
        CarrierService, on_delete=models.CASCADE, related_name="rates"
    )
    max_distance_km = models.PositiveIntegerField()
    max_weight_kg = models.DecimalField(max_digits=9, decimal_places=3)
    base_amount = models.DecimalField(**MONEY, validators=[MinValueValidator(0)])
    per_kg_amount = models.DecimalField(**MONEY, default=0, validators=[MinValueValidator(0)])
    currency = models.CharField(max_length=3, default="USD")
    transit_days = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["carrier_service_id", "max_distance_km", "max_weight_kg"]
        constraints = [
            models.UniqueConstraint(
                fields=["carrier_service", "max_distance_km", "max_weight_kg"],
                name="shipping_rate_band_unique",
            ),
            models.CheckConstraint(condition=Q(base_amount__gte=0), name="rate_base_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.carrier_service} ≤{self.max_distance_km} km ≤{self.max_weight_kg} kg"


class Holiday(models.Model):
    """A day no location (or one location) hands parcels to carriers."""

    date = models.DateField()
    name = models.CharField(max_length=100)
    location = models.ForeignKey(
        "inventory.Location",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="holidays",
        help_text="Empty: every location.",
    )

    class Meta:
        ordering = ["date"]
        constraints = [
            models.UniqueConstraint(
                fields=["date", "location"], name="holiday_unique_per_location"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.date} {self.name}"


class SourcingRuleSet(models.Model):
    class BackorderPolicy(models.TextChoices):
        REFUSE = "refuse", "Refuse the order"
        BACKORDER = "backorder", "Ship what is there, backorder the rest"
        HOLD = "hold", "Hold the whole order until everything is there"

    name = models.CharField(max_length=100)
    channel = models.OneToOneField(
        "orders.SalesChannel",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="sourcing_rules",
        help_text="Empty: the default for channels without their own rules.",
    )
    ship_location_types = models.JSONField(
        default=list, help_text='Location types that may ship, e.g. ["warehouse", "store"].'
    )
    pickup_location_types = models.JSONField(
        default=list, help_text="Location types that may serve a pickup order."
    )
    excluded_locations = models.ManyToManyField("inventory.Location", blank=True, related_name="+")
    weight_cost = models.DecimalField(
        max_digits=8, decimal_places=3, default=1, help_text="Score per unit of shipping cost."
    )
    weight_transit_days = models.DecimalField(
        max_digits=8, decimal_places=3, default=0, help_text="Score per day in transit."
    )
    weight_distance = models.DecimalField(
        max_digits=8, decimal_places=4, default=0, help_text="Score per km from the customer."
    )
    weight_priority = models.DecimalField(
        max_digits=8, decimal_places=4, default=0, help_text="Score per point of priority."
    )
    split_penalty = models.DecimalField(
        max_digits=8, decimal_places=3, default=5, help_text="Score for each extra package."
    )
    max_shipments = models.PositiveSmallIntegerField(default=3)
    backorder_policy = models.CharField(
        max_length=10, choices=BackorderPolicy.choices, default=BackorderPolicy.REFUSE
    )
    is_active = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["channel__code"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_active"],
                condition=Q(channel__isnull=True, is_active=True),
                name="one_active_default_rule_set",
            ),
            models.CheckConstraint(
                condition=Q(max_shipments__gte=1), name="max_shipments_positive"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class FulfillmentOrder(models.Model):
    """The work one location does for one order: ship, hand over at pickup, transfer, drop-ship."""

    class Kind(models.TextChoices):
        SHIP = "ship", "Ship to customer"
        PICKUP = "pickup", "Pickup in store"
        TRANSFER = "transfer", "Transfer to pickup store"
        DROPSHIP = "dropship", "Drop-ship vendor request"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending release"
        RELEASED = "released", "Released"
        PICKING = "picking", "Picking"
        PACKED = "packed", "Packed"
        SHIPPED = "shipped", "Shipped"
        DELIVERED = "delivered", "Delivered"
        READY_FOR_PICKUP = "ready_for_pickup", "Ready for pickup"
        PICKED_UP = "picked_up", "Picked up"
        CANCELLED = "cancelled", "Cancelled"

    order = models.ForeignKey(
        "orders.Order", on_delete=models.CASCADE, related_name="fulfillment_orders"
    )
    location = models.ForeignKey(
        "inventory.Location", on_delete=models.PROTECT, related_name="fulfillment_orders"
    )
    destination_location = models.ForeignKey(
        "inventory.Location",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="inbound_transfers",
        help_text="Transfers only: the pickup store receiving the goods.",
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    status_changed_at = models.DateTimeField(
        default=timezone.now, help_text="When it entered its current status (stage SLAs)."
    )
    carrier_service = models.ForeignKey(
        CarrierService, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    shipping_cost_amount = models.DecimalField(**MONEY, default=0)
    currency = models.CharField(max_length=3, default="USD")
    distance_km = models.DecimalField(max_digits=9, decimal_places=1, default=0)
    promised_date = models.DateField(null=True, blank=True)
    explanation = models.TextField(blank=True, help_text="Why the engine chose this location.")
    carrier = models.ForeignKey(
        Carrier,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The carrier that took the goods (set at shipment; a vendor may choose its own).",
    )
    tracking_number = models.CharField(max_length=100, blank=True)
    purchase_order_number = models.CharField(
        max_length=20,
        blank=True,
        help_text="Drop-ship only: the purchase order sent to the vendor when released.",
    )
    released_at = models.DateTimeField(null=True, blank=True)
    shipped_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    ready_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Pickup only: when the whole order waited at the store; the pickup hold "
        "(PICKUP_HOLD_DAYS) counts from here.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["location", "status"], name="fo_location_status_idx"),
            models.Index(fields=["order", "status"], name="fo_order_status_idx"),
            models.Index(fields=["status", "status_changed_at"], name="fo_stage_age_idx"),
            # The uncollected-pickup job looks for these.
            models.Index(
                fields=["ready_at"],
                name="fo_pickup_ready_idx",
                condition=Q(kind="pickup", status="ready_for_pickup"),
            ),
            # The jeopardy scan's late-shipment check: parcels not yet gone, by promise.
            models.Index(
                fields=["promised_date"],
                name="fo_unshipped_promise_idx",
                condition=Q(
                    kind__in=["ship", "dropship"], status__in=["released", "picking", "packed"]
                ),
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["purchase_order_number"],
                condition=~Q(purchase_order_number=""),
                name="fo_purchase_order_number_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"FO-{self.pk} {self.get_kind_display()} at {self.location_id}"


OPEN_FULFILLMENT_STATUSES = {
    FulfillmentOrder.Status.PENDING,
    FulfillmentOrder.Status.RELEASED,
    FulfillmentOrder.Status.PICKING,
    FulfillmentOrder.Status.PACKED,
    FulfillmentOrder.Status.READY_FOR_PICKUP,
}

# Only fulfillment.services.transition_fulfillment changes FulfillmentOrder.status.
FULFILLMENT_TRANSITIONS: dict[str, set[str]] = {
    FulfillmentOrder.Status.PENDING: {
        FulfillmentOrder.Status.RELEASED,
        FulfillmentOrder.Status.CANCELLED,
    },
    FulfillmentOrder.Status.RELEASED: {
        FulfillmentOrder.Status.PICKING,
        FulfillmentOrder.Status.SHIPPED,  # drop-ship vendors and transfers confirm directly
        FulfillmentOrder.Status.READY_FOR_PICKUP,
        FulfillmentOrder.Status.CANCELLED,
    },
    FulfillmentOrder.Status.PICKING: {
        FulfillmentOrder.Status.PACKED,
        FulfillmentOrder.Status.READY_FOR_PICKUP,
        FulfillmentOrder.Status.CANCELLED,
    },
    FulfillmentOrder.Status.PACKED: {
        FulfillmentOrder.Status.SHIPPED,
        FulfillmentOrder.Status.CANCELLED,
    },
    FulfillmentOrder.Status.SHIPPED: {FulfillmentOrder.Status.DELIVERED},
    FulfillmentOrder.Status.READY_FOR_PICKUP: {
        FulfillmentOrder.Status.PICKED_UP,
        FulfillmentOrder.Status.CANCELLED,
    },
    FulfillmentOrder.Status.DELIVERED: set(),
    FulfillmentOrder.Status.PICKED_UP: set(),
    FulfillmentOrder.Status.CANCELLED: set(),
}


class FulfillmentLine(models.Model):
    fulfillment_order = models.ForeignKey(
        FulfillmentOrder, on_delete=models.CASCADE, related_name="lines"
    )
    order_line = models.ForeignKey(
        "orders.OrderLine", on_delete=models.CASCADE, related_name="fulfillment_lines"
    )
    reservation = models.ForeignKey(
        "inventory.Reservation", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    sku = models.ForeignKey("inventory.SKU", on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField()
    quantity_picked = models.PositiveIntegerField(default=0)
    quantity_shipped = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="fo_line_quantity_positive"),
            models.CheckConstraint(
                condition=Q(quantity_picked__lte=models.F("quantity")),
                name="fo_line_picked_within_quantity",
            ),
            models.CheckConstraint(
                condition=Q(quantity_shipped__lte=models.F("quantity")),
                name="fo_line_shipped_within_quantity",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.sku_id}"


class Package(models.Model):
    """One parcel: what was packed together, its weight, and how it travels."""

    fulfillment_order = models.ForeignKey(
        FulfillmentOrder, on_delete=models.CASCADE, related_name="packages"
    )
    weight_kg = models.DecimalField(max_digits=9, decimal_places=3)
    carrier = models.ForeignKey(Carrier, null=True, blank=True, on_delete=models.PROTECT)
    tracking_number = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    shipped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(weight_kg__gt=0), name="package_weight_positive"),
        ]

    def __str__(self) -> str:
        return f"Package {self.pk} ({self.weight_kg} kg)"


class PickList(models.Model):
    class Strategy(models.TextChoices):
        SINGLE = "single", "Single order"
        BATCH = "batch", "Batch"
        ZONE = "zone", "Zone"
        WAVE = "wave", "Wave"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        COMPLETED = "completed", "Completed"
        CANCELLED = "cancelled", "Cancelled"

    location = models.ForeignKey(
        "inventory.Location", on_delete=models.PROTECT, related_name="pick_lists"
    )
    strategy = models.CharField(max_length=10, choices=Strategy.choices)
    zone = models.CharField(max_length=20, blank=True)
    carrier = models.ForeignKey(Carrier, null=True, blank=True, on_delete=models.PROTECT)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Pick list {self.pk} ({self.get_strategy_display()})"


class PickListItem(models.Model):
    pick_list = models.ForeignKey(PickList, on_delete=models.CASCADE, related_name="items")
    fulfillment_line = models.ForeignKey(
        FulfillmentLine, on_delete=models.CASCADE, related_name="pick_items"
    )
    bin_zone = models.CharField(max_length=20, blank=True)
    quantity = models.PositiveIntegerField()
    quantity_picked = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["bin_zone", "id"]

    def __str__(self) -> str:
        return f"{self.quantity} of line {self.fulfillment_line_id}"


# Stage SLAs and jeopardy alerts live in their own package; imported here so Django sees them.
from fulfillment.jeopardy.models import JeopardyAlert, Stage, StageSLA  # noqa: E402, F401
