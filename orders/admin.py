from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.template.response import TemplateResponse
from django.utils.html import format_html_join
from rest_framework_api_key.admin import APIKeyModelAdmin

from oms.core.admin import ReadOnlyInlineMixin, ReadOnlyModelAdmin
from oms.core.errors import DomainError
from oms.core.paginator import LookaheadPaginator, requested_page
from orders.admin_changelist import SEARCH_HELP_TEXT, PlacedDateFilter, search_orders
from orders.models import (
    ChannelAPIKey,
    IdempotencyKey,
    Order,
    OrderEvent,
    OrderHold,
    OrderLine,
    Payment,
    SalesChannel,
    ServiceLevel,
    TaxRate,
)
from orders.services import cancel_order, place_hold, release_all_holds

CANCEL_REASON = "Cancelled by staff in admin"
RELEASE_NOTE = "Released in admin"


@admin.register(SalesChannel)
class SalesChannelAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "type", "currency", "is_active", "allows_backorders")
    list_filter = ("type", "is_active", "allows_backorders")
    search_fields = ("code", "name")


@admin.register(ChannelAPIKey)
class ChannelAPIKeyAdmin(APIKeyModelAdmin):
    """The base class shows the generated key once, on creation; only its hash is stored."""

    list_display = (
        "prefix",
        "name",
        "channel",
        "created",
        "expiry_date",
        "_has_expired",
        "revoked",
    )
    list_filter = ("channel", "revoked", "created")
    search_fields = ("name", "prefix", "channel__code")
    list_select_related = ("channel",)

    def get_readonly_fields(self, request, obj=None):
        fields = super().get_readonly_fields(request, obj)
        # Moving a live credential to another channel would hand that channel's orders to
        # whoever holds it; issue a new key instead.
        return (*fields, "channel") if obj is not None else fields


@admin.register(TaxRate)
class TaxRateAdmin(admin.ModelAdmin):
    list_display = ("country", "region", "name", "rate")
    list_filter = ("country",)
    search_fields = ("name", "region")


@admin.register(ServiceLevel)
class ServiceLevelAdmin(admin.ModelAdmin):
    list_display = (
        "code",
        "name",
        "transit_days",
        "base_amount",
        "per_kg_amount",
        "currency",
        "is_active",
    )
    list_filter = ("is_active",)
    search_fields = ("code", "name")


# --- Orders --------------------------------------------------------------------------------


class OrderLineInline(ReadOnlyInlineMixin, admin.TabularInline):
    model = OrderLine
    fields = (
        "line_number",
        "sku_code",
        "name",
        "quantity",
        "quantity_cancelled",
        "quantity_backordered",
        "unit_price_amount",
        "tax_amount",
        "line_total_amount",
    )
    readonly_fields = fields


class PaymentInline(ReadOnlyInlineMixin, admin.TabularInline):
    model = Payment
    fields = (
        "method",
        "status",
        "amount",
        "currency",
        "reference",
        "gateway_reference",
        "created_at",
        "updated_at",
    )
    readonly_fields = fields


class OrderHoldInline(ReadOnlyInlineMixin, admin.TabularInline):
    model = OrderHold
    fields = ("reason", "note", "placed_by", "placed_at", "released_by", "released_at")
    readonly_fields = fields


class OrderEventInline(ReadOnlyInlineMixin, admin.TabularInline):
    model = OrderEvent
    verbose_name = "timeline event"
    verbose_name_plural = "timeline"
    fields = ("created_at", "kind", "message", "actor_label")
    readonly_fields = fields
    ordering = ("created_at", "id")


class PlaceHoldForm(forms.Form):
    # No reason is preselected: staff must pick one, not inherit the first by accident.
    reason = forms.ChoiceField(choices=[("", "---------"), *OrderHold.Reason.choices])
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        required=False,
        help_text="Shown on the order's timeline.",
    )


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    """Orders are read here and changed only by actions that call orders.services."""

    list_display = (
        "number",
        "channel",
        "customer",
        "status",
        "is_on_hold",
        "total_amount",
        "currency",
        "delivery_method",
        "promised_date",
        "placed_at",
    )
    # A million orders: every part of the list is read from an index (orders/admin_changelist.py).
    # No date_hierarchy: its links come from a DISTINCT over every order; PlacedDateFilter
    # offers ranges instead.
    list_filter = ("status", "channel", "is_on_hold", "delivery_method", PlacedDateFilter)
    # What search_orders looks in; named here so the admin shows the search box.
    search_fields = ("number", "external_id", "customer__email")
    search_help_text = SEARCH_HELP_TEXT
    list_select_related = ("channel", "customer")
    # The orders an index keeps in order; any other column would sort every order on a click
    # (seconds at 10^6). Narrow the list first: a filtered or searched list is short.
    sortable_by = ("number", "placed_at")
    # The unfiltered COUNT(*) and the per-choice facet counts each read every order.
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    actions = ["cancel_orders", "hold_orders", "release_holds"]
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "number",
                    "channel",
                    "external_id",
                    "customer",
                    ("status", "is_on_hold"),
                    ("placed_at", "updated_at"),
                )
            },
        ),
        (
            "Delivery",
            {
                "fields": (
                    "delivery_method",
                    "service_level",
                    "ship_to_address",
                    "pickup_location",
                    "promised_date",
                )
            },
        ),
        (
            "Money",
            {
                "fields": (
                    "currency",
                    "subtotal_amount",
                    "discount_amount",
                    "tax_amount",
                    "shipping_amount",
                    "total_amount",
                )
            },
        ),
    )
    readonly_fields = (
        "number",
        "channel",
        "external_id",
        "customer",
        "status",
        "is_on_hold",
        "placed_at",
        "updated_at",
        "delivery_method",
        "service_level",
        "ship_to_address",
        "pickup_location",
        "promised_date",
        "currency",
        "subtotal_amount",
        "discount_amount",
        "tax_amount",
        "shipping_amount",
        "total_amount",
    )
    inlines = [OrderLineInline, PaymentInline, OrderHoldInline, OrderEventInline]

    def get_search_results(self, request, queryset, search_term):
        search = search_orders(queryset, search_term)
        if search.note:
            messages.info(request, search.note)
        return search.orders, False

    def get_paginator(self, request, queryset, per_page, orphans=0, allow_empty_first_page=True):
        return LookaheadPaginator(
            queryset,
            per_page,
            orphans=orphans,
            allow_empty_first_page=allow_empty_first_page,
            current_page=requested_page(request),
        )

    def has_add_permission(self, request):
        return False  # orders are captured by place_order (API, desk), never typed in here

    def has_change_permission(self, request, obj=None):
        # Without an object this gates the actions, which change orders through services.
        # For one order the page is view-only, so a save can never write a stale row back.
        if obj is not None:
            return False
        return super().has_change_permission(request)

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Ship to")
    def ship_to_address(self, obj: Order) -> str:
        keys = ("name", "line1", "line2", "city", "region", "postal_code", "country", "phone")
        parts = [str(obj.ship_to[key]) for key in keys if obj.ship_to.get(key)]
        return format_html_join(", ", "{}", ((part,) for part in parts)) or "-"

    def _each_order(self, request, queryset, call) -> list[str]:
        """Call a service per order, each in its own transaction: one refusal stops no other."""
        succeeded = []
        for order in queryset.order_by("pk"):
            try:
                call(order)
            except DomainError as error:
                messages.error(request, f"{order.number}: {error.message}")
            else:
                succeeded.append(order.number)
        return succeeded

    @admin.action(description="Cancel selected orders", permissions=["change"])
    def cancel_orders(self, request, queryset):
        cancelled = self._each_order(
            request,
            queryset,
            lambda order: cancel_order(order=order, actor=request.user, reason=CANCEL_REASON),
        )
        if cancelled:
            messages.success(request, f"Cancelled {', '.join(cancelled)}.")

    @admin.action(description="Place hold on selected orders", permissions=["change"])
    def hold_orders(self, request, queryset):
        # First call: show the reason form. The form posts back to this action with "apply".
        if "apply" in request.POST:
            form = PlaceHoldForm(request.POST)
            if form.is_valid():
                reason, note = form.cleaned_data["reason"], form.cleaned_data["note"]
                held = self._each_order(
                    request,
                    queryset,
                    lambda order: place_hold(
                        order=order, reason=reason, note=note, actor=request.user
                    ),
                )
                if held:
                    label = OrderHold.Reason(reason).label
                    messages.success(
                        request, f"Placed a {label.lower()} hold on {', '.join(held)}."
                    )
                return None  # back to the changelist
        else:
            form = PlaceHoldForm()
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Place a hold",
            "form": form,
            "orders": queryset.select_related("customer").order_by("pk"),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "action": "hold_orders",
            "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/orders/order/place_hold.html", context)

    @admin.action(description="Release holds on selected orders", permissions=["change"])
    def release_holds(self, request, queryset):
        counts: dict[str, int] = {}

        def release(order: Order) -> None:
            counts[order.number] = release_all_holds(
                order=order, actor=request.user, note=RELEASE_NOTE
            )

        self._each_order(request, queryset, release)
        released = [number for number, count in counts.items() if count]
        not_held = [number for number, count in counts.items() if not count]
        if released:
            messages.success(request, f"Released the holds on {', '.join(released)}.")
        if not_held:
            messages.info(request, f"No active hold on {', '.join(not_held)}.")


@admin.register(OrderLine)
class OrderLineAdmin(ReadOnlyModelAdmin):
    list_display = (
        "order",
        "line_number",
        "sku_code",
        "name",
        "quantity",
        "quantity_cancelled",
        "quantity_backordered",
        "line_total_amount",
    )
    search_fields = ("order__number", "sku_code")
    list_select_related = ("order",)


@admin.register(Payment)
class PaymentAdmin(ReadOnlyModelAdmin):
    list_display = (
        "order",
        "method",
        "status",
        "amount",
        "currency",
        "gateway_reference",
        "created_at",
    )
    list_filter = ("method", "status", "currency")
    search_fields = ("order__number", "gateway_reference")
    list_select_related = ("order",)
    date_hierarchy = "created_at"


class HoldActiveFilter(admin.SimpleListFilter):
    title = "active"
    parameter_name = "active"

    def lookups(self, request, model_admin):
        return [("yes", "Active"), ("no", "Released")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(released_at__isnull=True)
        if self.value() == "no":
            return queryset.filter(released_at__isnull=False)
        return queryset


@admin.register(OrderHold)
class OrderHoldAdmin(ReadOnlyModelAdmin):
    list_display = (
        "order",
        "reason",
        "is_active",
        "placed_by",
        "placed_at",
        "released_by",
        "released_at",
    )
    list_filter = ("reason", HoldActiveFilter)
    search_fields = ("order__number", "note")
    list_select_related = ("order", "placed_by", "released_by")
    date_hierarchy = "placed_at"

    @admin.display(boolean=True, description="Active")
    def is_active(self, obj: OrderHold) -> bool:
        return obj.is_active


@admin.register(OrderEvent)
class OrderEventAdmin(ReadOnlyModelAdmin):
    list_display = ("created_at", "order", "kind", "message", "actor_label")
    list_filter = ("kind",)
    search_fields = ("order__number", "message")
    list_select_related = ("order",)
    date_hierarchy = "created_at"


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(ReadOnlyModelAdmin):
    list_display = ("key", "channel", "order", "created_at")
    list_filter = ("channel",)
    search_fields = ("key", "order__number")
    list_select_related = ("channel", "order")
    date_hierarchy = "created_at"
