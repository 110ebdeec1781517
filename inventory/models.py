import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q
from django_countries.fields import CountryField


class SKU(models.Model):
    code = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    price_amount = models.DecimalField(
        max_digits=14, decimal_places=2, validators=[MinValueValidator(0)]
    )
    cost_amount = models.DecimalField(
        max_digits=14, decimal_places=2, validators=[MinValueValidator(0)]
    )
    currency = models.CharField(max_length=3, default="USD")
    weight_kg = models.DecimalField(
        max_digits=9, decimal_places=3, default=0, validators=[MinValueValidator(0)]
    )
    is_sellable = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "SKU"
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(condition=Q(price_amount__gte=0), name="sku_price_not_negative"),
            models.CheckConstraint(condition=Q(cost_amount__gte=0), name="sku_cost_not_negative"),
            models.CheckConstraint(condition=Q(weight_kg__gte=0), name="sku_weight_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


ISO_WEEKDAYS = "1234567"  # 1 = Monday … 7 = Sunday


def validate_working_days(value: str) -> None:
    """At least one ISO weekday digit, each once: a location that never works never ships, and
    a promise for it would have no day to land on."""
    strays = sorted({char for char in value if char not in ISO_WEEKDAYS})
    if strays or not value:
        shown = ", ".join(repr(char) for char in strays)
        raise ValidationError(
            "List the days the location ships on as digits 1 (Monday) to 7 (Sunday), e.g. "
            "12345 for Monday to Friday" + (f"; {shown} is not one." if strays else "."),
            code="invalid_working_days",
        )
    if len(set(value)) != len(value):
        raise ValidationError("Name each day once.", code="repeated_working_days")


class Location(models.Model):
    class Type(models.TextChoices):
        WAREHOUSE = "warehouse", "Warehouse"
        STORE = "store", "Store"
        THIRD_PARTY = "3pl", "Third-party logistics (3PL)"
        DROPSHIP_VENDOR = "dropship_vendor", "Drop-ship vendor"

    code = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=200)
    type = models.CharField(max_length=20, choices=Type.choices)
    line1 = models.CharField(max_length=200, blank=True)
    city = models.CharField(max_length=100)
    region = models.CharField(max_length=100, blank=True)
    postal_code = models.CharField(max_length=20, blank=True)
    country = CountryField()
    latitude = models.DecimalField(max_digits=9, decimal_places=6)
    longitude = models.DecimalField(max_digits=9, decimal_places=6)
    ships_orders = models.BooleanField(default=True)
    allows_pickup = models.BooleanField(default=False)
    handling_days = models.PositiveSmallIntegerField(
        default=1, help_text="Working days from release to hand-over to the carrier."
    )
    priority = models.PositiveSmallIntegerField(
        default=100, help_text="Lower is preferred when locations are otherwise equal."
    )
    cutoff_time = models.TimeField(
        default=datetime.time(14, 0),
        help_text="Orders placed at or after this time start handling on the next working day. "
        "Read on the UTC clock: the order's time is converted to UTC before comparing.",
    )
    working_days = models.CharField(
        max_length=7,
        default="12345",
        validators=[validate_working_days],
        help_text="ISO weekdays the location ships on, as digits: 1 = Monday … 7 = Sunday "
        "(12345 is Monday to Friday).",
    )
    contact_email = models.EmailField(
        blank=True,
        help_text="Where the location's requests go: a drop-ship vendor receives its purchase "
        "orders here.",
    )
    manager = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="managed_locations",
        help_text="Receives the daily digest of this location's open jeopardy alerts.",
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["priority", "code"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class StockLevel(models.Model):
    """Stock of one SKU at one location. Counters move only through inventory.services."""

    sku = models.ForeignKey(SKU, on_delete=models.PROTECT, related_name="stock_levels")
    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="stock_levels")
    on_hand = models.IntegerField(default=0)
    reserved = models.IntegerField(default=0)
    safety_stock = models.IntegerField(
        default=0, help_text="Kept back from sale (damage, shrinkage, store display)."
    )
    bin_zone = models.CharField(
        max_length=20, blank=True, help_text="Where pickers find it (zone picking groups by this)."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["sku_id", "location_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["sku", "location"], name="one_stock_level_per_sku_location"
            ),
            models.CheckConstraint(condition=Q(on_hand__gte=0), name="stock_on_hand_not_negative"),
            models.CheckConstraint(
                condition=Q(reserved__gte=0), name="stock_reserved_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(reserved__lte=F("on_hand")), name="stock_reserved_within_on_hand"
            ),
            models.CheckConstraint(
                condition=Q(safety_stock__gte=0), name="stock_safety_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.sku_id}@{self.location_id}: {self.on_hand} on hand, {self.reserved} reserved"

    @property
    def available_to_promise(self) -> int:
        return max(self.on_hand - self.reserved - self.safety_stock, 0)


class StockMovement(models.Model):
    """Append-only record of every change of on-hand; on hand is always their sum."""

    class Kind(models.TextChoices):
        RECEIPT = "receipt", "Receipt"
        ADJUSTMENT = "adjustment", "Adjustment"
        SHIPMENT = "shipment", "Shipment"
        RETURN_RESTOCK = "return_restock", "Return restock"
        TRANSFER_OUT = "transfer_out", "Transfer out"
        TRANSFER_IN = "transfer_in", "Transfer in"

    # No foreign key to StockLevel: inserting a row that references a hot stock row would take
    # a share lock on it during every movement (see DESIGN "What this machine allows").
    sku = models.ForeignKey(SKU, on_delete=models.PROTECT, related_name="movements")
    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="movements")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    quantity = models.IntegerField(help_text="Signed change of on hand.")
    reason = models.CharField(max_length=200, blank=True)
    reference = models.CharField(max_length=100, blank=True, help_text="PO, order or transfer.")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["sku", "location", "id"], name="movement_sku_location_idx")]
        constraints = [
            models.CheckConstraint(condition=~Q(quantity=0), name="movement_quantity_not_zero"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.quantity:+d} of {self.sku_id}@{self.location_id}"


class Reservation(models.Model):
    """Units of one order line held at one location until shipped or released."""

    class State(models.TextChoices):
        ACTIVE = "active", "Active"
        RELEASED = "released", "Released"
        FULFILLED = "fulfilled", "Fulfilled"

    order_line = models.ForeignKey(
        "orders.OrderLine", on_delete=models.CASCADE, related_name="reservations"
    )
    sku = models.ForeignKey(SKU, on_delete=models.PROTECT, related_name="reservations")
    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="reservations")
    quantity = models.PositiveIntegerField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.ACTIVE)
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(
                fields=["sku", "location"],
                name="reservation_active_idx",
                condition=Q(state="active"),
            )
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(quantity__gt=0), name="reservation_quantity_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.sku_id}@{self.location_id} ({self.state})"


# --- Replenishment: suppliers, reorder rules, purchase orders --------------------------------
# Unit costs carry four places: suppliers quote fractions of a cent per unit.
COST = {"max_digits": 14, "decimal_places": 4}


class Supplier(models.Model):
    code = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=200)
    contact_name = models.CharField(max_length=200, blank=True)
    contact_email = models.EmailField(blank=True, help_text="Sent purchase orders go here.")
    phone = models.CharField(max_length=40, blank=True)
    lead_time_days = models.PositiveSmallIntegerField(
        default=7, help_text="Calendar days from sending a purchase order to receiving it."
    )
    minimum_order_amount = models.DecimalField(
        **COST,
        default=0,
        validators=[MinValueValidator(0)],
        help_text="The supplier refuses purchase orders worth less than this.",
    )
    currency = models.CharField(max_length=3, default="USD")
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class SupplierItem(models.Model):
    """What one supplier sells of one SKU, at what cost and in what packs."""

    supplier = models.ForeignKey(Supplier, on_delete=models.CASCADE, related_name="items")
    sku = models.ForeignKey(SKU, on_delete=models.CASCADE, related_name="supplier_items")
    supplier_sku = models.CharField(max_length=64, blank=True)
    cost_amount = models.DecimalField(**COST, validators=[MinValueValidator(0)])
    pack_size = models.PositiveIntegerField(
        default=1,
        validators=[MinValueValidator(1)],
        help_text="Units per pack: purchase quantities are rounded up to whole packs.",
    )
    minimum_quantity = models.PositiveIntegerField(
        default=0, help_text="The least units the supplier takes on one line."
    )
    is_preferred = models.BooleanField(
        default=False, help_text="The reorder job buys this SKU from its preferred supplier."
    )

    class Meta:
        ordering = ["sku", "-is_preferred", "supplier"]
        constraints = [
            models.UniqueConstraint(fields=["supplier", "sku"], name="supplier_item_unique"),
            models.UniqueConstraint(
                fields=["sku"],
                condition=Q(is_preferred=True),
                name="supplier_item_one_preferred_per_sku",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.supplier_id}: {self.sku_id}"


class ReorderRule(models.Model):
    """When a SKU at a location runs low, and how much to order then."""

    class Method(models.TextChoices):
        ORDER_UP_TO = "order_up_to", "Order up to a level"
        FIXED_QUANTITY = "fixed", "Fixed quantity"

    sku = models.ForeignKey(SKU, on_delete=models.CASCADE, related_name="reorder_rules")
    location = models.ForeignKey(Location, on_delete=models.CASCADE, related_name="reorder_rules")
    reorder_point = models.PositiveIntegerField(
        help_text="Reorder when available stock plus supply due within the lead time falls "
        "to or below this."
    )
    method = models.CharField(max_length=12, choices=Method.choices, default=Method.ORDER_UP_TO)
    order_up_to = models.PositiveIntegerField(null=True, blank=True)
    fixed_quantity = models.PositiveIntegerField(null=True, blank=True)
    lead_time_days = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Overrides the supplier's lead time when set."
    )
    safety_stock_days = models.PositiveSmallIntegerField(
        default=0, help_text="Extra days of demand kept when the point is computed from demand."
    )
    basis = models.TextField(
        blank=True, help_text="The numbers the reorder point was last computed from, if it was."
    )
    is_active = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["sku", "location"]
        constraints = [
            models.UniqueConstraint(fields=["sku", "location"], name="reorder_rule_unique"),
            models.CheckConstraint(
                condition=Q(method="order_up_to", order_up_to__isnull=False)
                | Q(method="fixed", fixed_quantity__gt=0),
                name="reorder_rule_quantity_set",
            ),
        ]

    def __str__(self) -> str:
        return f"reorder {self.sku_id}@{self.location_id} at {self.reorder_point}"


class PurchaseOrder(models.Model):
    """A replenishment order to a supplier (drop-ship vendor requests are fulfillment orders)."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        SENT = "sent", "Sent"
        PARTIALLY_RECEIVED = "partially_received", "Partially received"
        RECEIVED = "received", "Received"
        CANCELLED = "cancelled", "Cancelled"

    number = models.CharField(max_length=20, unique=True)
    supplier = models.ForeignKey(Supplier, on_delete=models.PROTECT, related_name="purchase_orders")
    destination = models.ForeignKey(
        Location, on_delete=models.PROTECT, related_name="purchase_orders"
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DRAFT)
    currency = models.CharField(max_length=3, default="USD")
    expected_date = models.DateField(help_text="When the goods are due at the destination.")
    created_by = models.CharField(
        max_length=100, blank=True, help_text="A user, or the job that drafted it."
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    sent_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(
        null=True, blank=True, help_text="When the supplier's mail server took the order."
    )
    received_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["destination", "expected_date"],
                name="po_open_destination_idx",
                condition=Q(status__in=["draft", "sent", "partially_received"]),
            ),
        ]

    def __str__(self) -> str:
        return self.number


OPEN_PURCHASE_ORDER_STATUSES = (
    PurchaseOrder.Status.DRAFT,
    PurchaseOrder.Status.SENT,
    PurchaseOrder.Status.PARTIALLY_RECEIVED,
)


class PurchaseOrderLine(models.Model):
    purchase_order = models.ForeignKey(
        PurchaseOrder, on_delete=models.CASCADE, related_name="lines"
    )
    sku = models.ForeignKey(SKU, on_delete=models.PROTECT, related_name="purchase_order_lines")
    supplier_sku = models.CharField(max_length=64, blank=True)
    quantity_ordered = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    quantity_received = models.PositiveIntegerField(default=0)
    unit_cost_amount = models.DecimalField(**COST, validators=[MinValueValidator(0)])
    reason = models.TextField(
        blank=True, help_text="Why the reorder job proposed this line: the numbers it used."
    )

    class Meta:
        ordering = ["purchase_order", "id"]
        constraints = [
            models.UniqueConstraint(fields=["purchase_order", "sku"], name="po_line_sku_unique"),
            models.CheckConstraint(
                condition=Q(quantity_ordered__gt=0), name="po_line_quantity_positive"
            ),
        ]
        indexes = [models.Index(fields=["sku"], name="po_line_sku_idx")]

    def __str__(self) -> str:
        return f"{self.quantity_ordered} × {self.sku_id}"

    @property
    def quantity_open(self) -> int:
        return max(self.quantity_ordered - self.quantity_received, 0)
