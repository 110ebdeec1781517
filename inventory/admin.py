from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.http import urlencode

from inventory.models import SKU, Location, Reservation, StockLevel, StockMovement
from inventory.selectors import atp_expression
from inventory.services import adjust_stock, receive_stock, set_safety_stock
from oms.core.admin import ReadOnlyModelAdmin
from oms.core.errors import DomainError, InvalidInput

# A count beyond this is a typo (a barcode scanned into the quantity box), not a delivery; it
# also keeps on hand far from the 32-bit column limit.
MAX_STOCK_CHANGE = 1_000_000


@admin.register(SKU)
class SKUAdmin(admin.ModelAdmin):
    list_display = (
        "code",
        "name",
        "price_amount",
        "cost_amount",
        "currency",
        "weight_kg",
        "is_sellable",
    )
    list_filter = ("is_sellable", "currency")
    search_fields = ("code", "name")
    readonly_fields = ("created_at", "updated_at")


@admin.register(Location)
class LocationAdmin(admin.ModelAdmin):
    list_display = (
        "code",
        "name",
        "type",
        "city",
        "region",
        "ships_orders",
        "allows_pickup",
        "handling_days",
        "priority",
        "is_active",
    )
    list_filter = ("type", "is_active", "ships_orders", "allows_pickup", "country")
    search_fields = ("code", "name", "city")


class StockChangeForm(forms.Form):
    """Receive or adjust stock; the business rules are the service's, reported per field."""

    RECEIVE = "receive"
    ADJUST = "adjust"

    sku = forms.CharField(label="SKU code", max_length=64)
    location = forms.ModelChoiceField(queryset=Location.objects.all())
    operation = forms.ChoiceField(
        choices=[
            (RECEIVE, "Receive: units arrived (purchase order, transfer, initial load)"),
            (ADJUST, "Adjust: counted correction (damage, shrinkage, found units)"),
        ],
        widget=forms.RadioSelect,
        initial=RECEIVE,
    )
    quantity = forms.IntegerField(
        min_value=-MAX_STOCK_CHANGE,
        max_value=MAX_STOCK_CHANGE,
        help_text="A receipt adds units (more than zero). An adjustment is signed: -2 removes "
        "two units, 3 adds three.",
    )
    reason = forms.CharField(
        max_length=StockMovement._meta.get_field("reason").max_length,
        required=False,
        help_text="Required for an adjustment.",
    )
    reference = forms.CharField(
        max_length=StockMovement._meta.get_field("reference").max_length,
        required=False,
        help_text="Purchase order, transfer or count sheet.",
    )

    def clean_sku(self) -> SKU:
        code = self.cleaned_data["sku"].strip()
        try:
            return SKU.objects.get(code=code)
        except SKU.DoesNotExist:
            raise ValidationError(f"No SKU has the code {code!r}.") from None


@admin.register(StockLevel)
class StockLevelAdmin(admin.ModelAdmin):
    """Counters change only through receipts, adjustments and reservations (the services)."""

    list_display = ("sku", "location", "on_hand", "reserved", "safety_stock", "atp")
    list_filter = ("location", "location__type")
    search_fields = ("sku__code",)
    list_select_related = ("sku", "location")
    fields = (
        "sku",
        "location",
        "on_hand",
        "reserved",
        "safety_stock",
        "available_to_promise",
        "movements",
        "updated_at",
    )
    readonly_fields = (
        "sku",
        "location",
        "on_hand",
        "reserved",
        "available_to_promise",
        "movements",
        "updated_at",
    )

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(atp=atp_expression())

    @admin.display(description="ATP", ordering="atp")
    def atp(self, obj: StockLevel) -> int:
        return obj.atp

    @admin.display(description="Movements")
    def movements(self, obj: StockLevel) -> str:
        url = reverse("admin:inventory_stockmovement_changelist")
        query = urlencode({"sku__id__exact": obj.sku_id, "location__id__exact": obj.location_id})
        return format_html('<a href="{}?{}">Movements of this SKU here</a>', url, query)

    def has_add_permission(self, request):
        return False  # a stock row appears with its first receipt

    def has_delete_permission(self, request, obj=None):
        return False  # on hand must stay the sum of the row's movements

    def save_model(self, request, obj, form, change):
        # Only safety stock is editable. A plain obj.save() would write back the on hand and
        # reserved read when the page loaded, undoing every reservation made since.
        set_safety_stock(
            sku=obj.sku, location=obj.location, safety_stock=form.cleaned_data["safety_stock"]
        )

    def get_urls(self):
        # Before the default patterns: "<path:object_id>/" would take "adjust/" otherwise.
        return [
            path(
                "adjust/",
                self.admin_site.admin_view(self.adjust_stock_view),
                name="inventory_stocklevel_adjust",
            ),
            *super().get_urls(),
        ]

    def adjust_stock_view(self, request):
        if not request.user.has_perm("inventory.change_stocklevel"):
            raise PermissionDenied
        if request.method == "POST":
            form = StockChangeForm(request.POST)
            if form.is_valid():
                level = self._apply_stock_change(request, form)
                if level is not None:
                    return redirect("admin:inventory_stocklevel_changelist")
        else:
            form = StockChangeForm(
                initial={key: request.GET[key] for key in ("sku", "location") if key in request.GET}
            )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Adjust or receive stock",
            "form": form,
            "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/inventory/stocklevel/adjust_stock.html", context)

    def _apply_stock_change(self, request, form: StockChangeForm) -> StockLevel | None:
        """Call the service; on refusal put its messages on the form and return None."""
        data = form.cleaned_data
        sku, location, quantity = data["sku"], data["location"], data["quantity"]
        try:
            if data["operation"] == StockChangeForm.RECEIVE:
                level = receive_stock(
                    sku=sku,
                    location=location,
                    quantity=quantity,
                    reference=data["reference"],
                    reason=data["reason"],
                    actor=request.user,
                )
                done = f"Received {quantity} × {sku.code} at {location.code}."
            else:
                level = adjust_stock(
                    sku=sku,
                    location=location,
                    quantity=quantity,
                    reason=data["reason"],
                    reference=data["reference"],
                    actor=request.user,
                )
                done = f"Adjusted {sku.code} at {location.code} by {quantity:+d}."
        except InvalidInput as error:
            for field, field_messages in error.errors.items():
                for message in field_messages:
                    form.add_error(field if field in form.fields else None, message)
            return None
        except DomainError as error:
            form.add_error(None, error.message)
            return None
        messages.success(
            request, f"{done} On hand is now {level.on_hand} ({level.reserved} reserved)."
        )
        return level


@admin.register(StockMovement)
class StockMovementAdmin(ReadOnlyModelAdmin):
    list_display = (
        "created_at",
        "kind",
        "sku",
        "location",
        "quantity",
        "reason",
        "reference",
        "actor",
    )
    list_filter = ("kind", "location")
    search_fields = ("sku__code", "reference")
    list_select_related = ("sku", "location", "actor")
    date_hierarchy = "created_at"


@admin.register(Reservation)
class ReservationAdmin(ReadOnlyModelAdmin):
    list_display = (
        "id",
        "order",
        "order_line",
        "sku",
        "location",
        "quantity",
        "state",
        "created_at",
        "closed_at",
    )
    list_filter = ("state", "location")
    # The order lives in a higher app; a lookup string is data, not an import.
    search_fields = ("sku__code", "order_line__order__number")
    list_select_related = ("order_line__order", "sku", "location")
    date_hierarchy = "created_at"

    @admin.display(description="Order", ordering="order_line__order__number")
    def order(self, obj: Reservation) -> str:
        return str(obj.order_line.order)


# Suppliers, reorder rules and purchase orders register themselves on import.
from inventory import purchasing_admin  # noqa: E402, F401
