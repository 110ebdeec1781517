from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q


class Stage(models.TextChoices):
    """Where an order or one of its fulfillment orders waits; each has an SLA."""

    AWAITING_SOURCING = "awaiting_sourcing", "Awaiting sourcing"  # order placed
    BACKORDERED = "backordered", "Backordered"  # order backordered
    RELEASED = "released", "Released"  # fulfillment order released to its location
    PICKING = "picking", "Picking"
    PACKED = "packed", "Packed"
    AWAITING_PICKUP = "awaiting_pickup", "Awaiting pickup"  # ready at the store


class StageSLA(models.Model):
    """The longest an order or fulfillment order may stay in a stage.

    The most specific row wins: location and channel, then location, then channel, then the
    global row (neither set).
    """

    stage = models.CharField(max_length=20, choices=Stage.choices)
    location = models.ForeignKey(
        "inventory.Location", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    channel = models.ForeignKey(
        "orders.SalesChannel", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    max_duration = models.DurationField(
        help_text="Longest time in the stage, e.g. '4:00:00' for four hours or '2 00:00:00' "
        "for two days."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "stage SLA"
        verbose_name_plural = "stage SLAs"
        ordering = ["stage", "location", "channel"]
        constraints = [
            # One row per scope; NULL-safe by splitting the four shapes a scope can take.
            models.UniqueConstraint(
                fields=["stage"],
                condition=Q(location__isnull=True, channel__isnull=True),
                name="stage_sla_global_unique",
            ),
            models.UniqueConstraint(
                fields=["stage", "location"],
                condition=Q(location__isnull=False, channel__isnull=True),
                name="stage_sla_location_unique",
            ),
            models.UniqueConstraint(
                fields=["stage", "channel"],
                condition=Q(location__isnull=True, channel__isnull=False),
                name="stage_sla_channel_unique",
            ),
            models.UniqueConstraint(
                fields=["stage", "location", "channel"],
                condition=Q(location__isnull=False, channel__isnull=False),
                name="stage_sla_location_channel_unique",
            ),
        ]

    def __str__(self) -> str:
        scope = " / ".join(str(x) for x in (self.location, self.channel) if x) or "everywhere"
        return f"{self.get_stage_display()} ≤ {self.max_duration} ({scope})"

    def clean(self) -> None:
        if self.max_duration is not None and self.max_duration.total_seconds() <= 0:
            raise ValidationError({"max_duration": "An SLA must allow some time."})


class JeopardyAlert(models.Model):
    """An order that will miss, or has missed, its promise, and what staff did about it."""

    class Kind(models.TextChoices):
        STALLED = "stalled", "Stalled past its stage SLA"
        BACKORDER_NO_SUPPLY = "backorder_no_supply", "Backordered, no supply before the promise"
        STOCK_VANISHED = "stock_vanished", "Stock vanished at the fulfilling location"
        LATE_SHIPMENT = "late_shipment", "Shipped (or shipping) late against the promise"
        NOT_COLLECTED = "not_collected", "Pickup not collected"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        RESOLVED = "resolved", "Resolved"

    order = models.ForeignKey("orders.Order", on_delete=models.CASCADE, related_name="alerts")
    fulfillment_order = models.ForeignKey(
        "fulfillment.FulfillmentOrder",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="alerts",
    )
    location = models.ForeignKey(
        "inventory.Location",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Where the problem is (the fulfilling location); its manager gets the digest.",
    )
    kind = models.CharField(max_length=24, choices=Kind.choices)
    stage = models.CharField(max_length=20, choices=Stage.choices, blank=True)
    # One live alert per cause: the scan inserts on this key and skips it while unresolved.
    cause_key = models.CharField(max_length=100)
    severity = models.PositiveSmallIntegerField(
        default=0, help_text="0–100: higher is later and more valuable (VIP, order value)."
    )
    message = models.CharField(max_length=500)
    detail = models.JSONField(default=dict, blank=True, help_text="The numbers the scan used.")
    detected_at = models.DateTimeField()
    due_by = models.DateTimeField(
        null=True, blank=True, help_text="When the promise breaks (or broke)."
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="jeopardy_alerts",
    )
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.OPEN)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution_note = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-severity", "detected_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["cause_key"],
                condition=~Q(status="resolved"),
                name="jeopardy_alert_one_live_per_cause",
            ),
        ]
        indexes = [
            models.Index(
                fields=["kind", "-severity"],
                name="jeopardy_alert_live_idx",
                condition=~Q(status="resolved"),
            ),
            models.Index(fields=["order", "status"], name="jeopardy_alert_order_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: order {self.order_id}"


class JeopardyDigest(models.Model):
    """One day's digest email to one location manager.

    The row is what makes the daily job safe to run again: it is claimed before the email goes
    (`claimed_at`, a lease another run waits out) and marked once the mail server said yes
    (`sent_at`), so a re-run sends nothing twice and a crash between the two sends it again
    rather than never.
    """

    manager = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="jeopardy_digests"
    )
    day = models.DateField()
    alert_count = models.PositiveIntegerField(default=0)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "jeopardy digest"
        ordering = ["-day", "manager_id"]
        constraints = [
            models.UniqueConstraint(fields=["manager", "day"], name="jeopardy_digest_once_a_day"),
        ]

    def __str__(self) -> str:
        return f"Digest for {self.manager_id} on {self.day}"
