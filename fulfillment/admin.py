"""Fulfillment back office: carriers, rates, holidays and sourcing rules are edited here, so staff
change how orders are sourced without a release; fulfillment work itself is only looked at,
except that staff may record a drop-ship vendor's shipment (through the same service as the
vendor API).
"""

from collections.abc import Callable

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.validators import MinValueValidator
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

import orders.admin  # noqa: F401  (registers OrderAdmin, which we extend at the bottom)
from fulfillment import documents, warehouse
from fulfillment.models import (
    Carrier,
    CarrierService,
    FulfillmentLine,
    FulfillmentOrder,
    Holiday,
    Package,
    PickList,
    PickListItem,
    ShippingRate,
    SourcingRuleSet,
)
from inventory.models import Location
from oms.core.admin import ReadOnlyInlineMixin, ReadOnlyModelAdmin
from oms.core.errors import DomainError, InvalidInput
from orders.models import Order

# URL name suffix → (renderer, link text, file name suffix).
DOCUMENTS: dict[str, tuple[Callable[[FulfillmentOrder], bytes], str, str]] = {
    "packing_slip": (documents.packing_slip_pdf, "Packing slip (PDF)", "packing-slip"),
    "shipping_label": (documents.shipping_label_pdf, "Shipping label (PDF)", "shipping-label"),
}


# --- Carriers and rates --------------------------------------------------------------------


class CarrierServiceInline(admin.TabularInline):
    model = CarrierService
    fields = ("code", "name", "service_level", "is_active")
    extra = 0
    show_change_link = True  # its rates are edited on the service's own page


@admin.register(Carrier)
class CarrierAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "is_active")
    list_filter = ("is_active",)
    search_fields = ("code", "name")
    inlines = [CarrierServiceInline]


class ShippingRateInline(admin.TabularInline):
    model = ShippingRate
    fields = (
        "max_distance_km",
        "max_weight_kg",
        "base_amount",
        "per_kg_amount",
        "currency",
        "transit_days",
    )
    extra = 0


@admin.register(CarrierService)
class CarrierServiceAdmin(admin.ModelAdmin):
    list_display = ("carrier", "code", "name", "service_level", "is_active")
    list_filter = ("carrier", "service_level", "is_active")
    search_fields = ("code", "name", "carrier__code", "carrier__name")
    list_select_related = ("carrier", "service_level")
    inlines = [ShippingRateInline]


@admin.register(ShippingRate)
class ShippingRateAdmin(admin.ModelAdmin):
    list_display = (
        "carrier_service",
        "max_distance_km",
        "max_weight_kg",
        "base_amount",
        "per_kg_amount",
        "currency",
        "transit_days",
    )
    list_filter = (
        "carrier_service__carrier",
        "carrier_service__service_level",
        "carrier_service",
    )
    search_fields = ("carrier_service__code", "carrier_service__carrier__code")
    list_select_related = ("carrier_service__carrier",)


@admin.register(Holiday)
class HolidayAdmin(admin.ModelAdmin):
    list_display = ("date", "name", "where")
    list_filter = ("location",)
    search_fields = ("name",)
    list_select_related = ("location",)
    date_hierarchy = "date"

    @admin.display(description="Location", ordering="location__code")
    def where(self, obj: Holiday) -> str:
        return obj.location.code if obj.location_id else "All locations"


# --- Sourcing rules ------------------------------------------------------------------------

WEIGHT_FIELDS = (
    "weight_cost",
    "weight_transit_days",
    "weight_distance",
    "weight_priority",
    "split_penalty",
)


class SourcingRuleSetForm(forms.ModelForm):
    """Location types as checkboxes instead of raw JSON, and the rules the engine relies on."""

    ship_location_types = forms.MultipleChoiceField(
        choices=Location.Type.choices,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Pick at least one type of location that may ship."},
        help_text="Locations of these types may ship orders to customers.",
    )
    pickup_location_types = forms.MultipleChoiceField(
        choices=Location.Type.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="Locations of these types may hand over pickup orders. None: no pickup.",
    )

    class Meta:
        model = SourcingRuleSet
        fields = (
            "name",
            "channel",
            "is_active",
            "ship_location_types",
            "pickup_location_types",
            "excluded_locations",
            *WEIGHT_FIELDS,
            "max_shipments",
            "backorder_policy",
        )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # A negative weight would reward what it should penalise (a costlier carrier, one more
        # package), and the engine would then prefer the worst plans.
        for name in WEIGHT_FIELDS:
            if name in self.fields:
                self.fields[name].validators.append(MinValueValidator(0))
                self.fields[name].widget.attrs["min"] = 0
        # Named on the field here; the database check (max_shipments_positive) would only give
        # a message about a constraint.
        if "max_shipments" in self.fields:
            self.fields["max_shipments"].validators.append(MinValueValidator(1))
            self.fields["max_shipments"].widget.attrs["min"] = 1

    def clean_ship_location_types(self) -> list[str]:
        # Sorted, so saving the same choice twice stores the same JSON.
        return sorted(self.cleaned_data["ship_location_types"])

    def clean_pickup_location_types(self) -> list[str]:
        return sorted(self.cleaned_data["pickup_location_types"])

    def clean(self):
        cleaned_data = super().clean()
        # The database refuses a second active default (one_active_default_rule_set); say so on
        # the field staff should change rather than failing the save. Two staff saving at the
        # same instant both pass this check; the constraint then fails the later save, so the
        # data stays right even though that person sees an error page.
        if cleaned_data.get("is_active") and not cleaned_data.get("channel"):
            defaults = SourcingRuleSet.objects.filter(channel__isnull=True, is_active=True)
            if self.instance.pk is not None:
                defaults = defaults.exclude(pk=self.instance.pk)
            current = defaults.first()
            if current is not None and "channel" not in self.errors:
                self.add_error(
                    "channel",
                    f"“{current.name}” is already the active default. Pick a channel, or "
                    "deactivate one of the two defaults.",
                )
        return cleaned_data


@admin.register(SourcingRuleSet)
class SourcingRuleSetAdmin(admin.ModelAdmin):
    form = SourcingRuleSetForm
    list_display = ("name", "scope", "backorder_policy", "max_shipments", "is_active")
    list_filter = ("is_active", "backorder_policy")
    search_fields = ("name", "channel__code", "channel__name")
    list_select_related = ("channel",)
    filter_horizontal = ("excluded_locations",)
    readonly_fields = ("updated_at",)
    fieldsets = (
        ("Scope", {"fields": ("name", "channel", "is_active", "updated_at")}),
        (
            "Where from",
            {"fields": ("ship_location_types", "pickup_location_types", "excluded_locations")},
        ),
        (
            "Weights",
            {
                "description": "Each candidate plan scores the sum of these weights times its "
                "cost, days, kilometres, priority and extra packages; the lowest score wins.",
                "fields": WEIGHT_FIELDS,
            },
        ),
        ("Limits", {"fields": ("max_shipments", "backorder_policy")}),
    )

    @admin.display(description="Channel", ordering="channel__code")
    def scope(self, obj: SourcingRuleSet) -> str:
        return str(obj.channel) if obj.channel_id else "Default"


# --- Fulfillment work (written only by services) -------------------------------------------


class LocationTypeFilter(admin.SimpleListFilter):
    title = "location type"
    parameter_name = "location_type"

    def lookups(self, request, model_admin):
        return Location.Type.choices

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(location__type=self.value())
        return queryset


class FulfillmentLineInline(ReadOnlyInlineMixin, admin.TabularInline):
    model = FulfillmentLine
    fields = ("order_line", "sku", "quantity", "quantity_picked", "quantity_shipped")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("order_line", "sku")


class PackageInline(ReadOnlyInlineMixin, admin.TabularInline):
    model = Package
    fields = ("weight_kg", "carrier", "tracking_number", "created_at", "shipped_at")
    readonly_fields = fields


def tracking_link(fulfillment_order: FulfillmentOrder) -> str:
    number = fulfillment_order.tracking_number
    carrier = fulfillment_order.carrier
    if carrier is None and fulfillment_order.carrier_service is not None:
        carrier = fulfillment_order.carrier_service.carrier
    url = carrier.tracking_url(number) if carrier is not None else ""
    if url:
        return format_html('<a href="{}" rel="noopener" target="_blank">{}</a>', url, number)
    return number or "-"


CHANGE_FULFILLMENT = "fulfillment.change_fulfillmentorder"


class VendorShipmentForm(forms.Form):
    """What a drop-ship vendor told us it shipped; the service checks the rest."""

    carrier = forms.ModelChoiceField(
        queryset=Carrier.objects.filter(is_active=True),
        help_text="The carrier the vendor handed the parcels to.",
    )
    tracking_number = forms.CharField(
        max_length=FulfillmentOrder._meta.get_field("tracking_number").max_length
    )


@admin.register(FulfillmentOrder)
class FulfillmentOrderAdmin(ReadOnlyModelAdmin):
    list_display = (
        "id",
        "order_link",
        "location",
        "kind",
        "status",
        "carrier_service",
        "promised_date",
        "tracking_number",
        "released_at",
        "shipped_at",
    )
    list_filter = ("status", "kind", "location", LocationTypeFilter)
    search_fields = ("order__number", "tracking_number", "purchase_order_number")
    list_select_related = ("order", "location", "carrier_service__carrier")
    date_hierarchy = "created_at"
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "order_link",
                    ("kind", "status"),
                    "location",
                    "destination_location",
                    "vendor_request",
                    "documents",
                )
            },
        ),
        ("Why this location", {"fields": ("explanation",)}),
        (
            "Shipping",
            {
                "fields": (
                    "carrier_service",
                    "carrier",
                    "tracking",
                    ("shipping_cost_amount", "currency"),
                    "distance_km",
                    "promised_date",
                )
            },
        ),
        (
            "Dates",
            {
                "fields": (
                    ("created_at", "updated_at"),
                    ("released_at", "shipped_at", "delivered_at"),
                    "ready_at",
                )
            },
        ),
    )
    readonly_fields = ("order_link", "documents", "tracking", "vendor_request")
    inlines = [FulfillmentLineInline, PackageInline]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("carrier")

    @admin.display(description="Order", ordering="order__number")
    def order_link(self, obj: FulfillmentOrder) -> str:
        url = reverse("admin:orders_order_change", args=[obj.order_id])
        return format_html('<a href="{}">{}</a>', url, obj.order)

    @admin.display(description="Tracking")
    def tracking(self, obj: FulfillmentOrder) -> str:
        return tracking_link(obj)

    @admin.display(description="Documents")
    def documents(self, obj: FulfillmentOrder) -> str:
        links = [
            (reverse(f"admin:fulfillment_fulfillmentorder_{name}", args=[obj.pk]), label)
            for name, (_, label, _) in DOCUMENTS.items()
        ]
        return format_html_join(" · ", '<a href="{}">{}</a>', links)

    @admin.display(description="Vendor request")
    def vendor_request(self, obj: FulfillmentOrder) -> str:
        if obj.kind != FulfillmentOrder.Kind.DROPSHIP:
            return "-"
        number = obj.purchase_order_number or "not issued yet (issued on release)"
        if obj.status != FulfillmentOrder.Status.RELEASED:
            return f"Purchase order {number}"
        url = reverse("admin:fulfillment_fulfillmentorder_vendor_shipment", args=[obj.pk])
        return format_html(
            'Purchase order {} · <a href="{}">Confirm the vendor\'s shipment</a>', number, url
        )

    def get_urls(self):
        # Before the default patterns: "<path:object_id>/" would take these otherwise.
        return [
            path(
                "<int:object_id>/vendor-shipment/",
                self.admin_site.admin_view(self.vendor_shipment_view),
                name="fulfillment_fulfillmentorder_vendor_shipment",
            ),
            *(
                path(
                    f"<int:object_id>/{file_suffix}.pdf",
                    self.admin_site.admin_view(self.document_view),
                    {"document": name},
                    name=f"fulfillment_fulfillmentorder_{name}",
                )
                for name, (_, _, file_suffix) in DOCUMENTS.items()
            ),
            *super().get_urls(),
        ]

    def vendor_shipment_view(self, request, object_id: int):
        """Record a drop-ship vendor's shipment confirmation (carrier, tracking number)."""
        if not request.user.has_perm(CHANGE_FULFILLMENT):
            raise PermissionDenied
        fulfillment_order = get_object_or_404(
            FulfillmentOrder.objects.select_related("order", "location"), pk=object_id
        )
        change_url = reverse("admin:fulfillment_fulfillmentorder_change", args=[object_id])
        if request.method == "POST":
            form = VendorShipmentForm(request.POST)
            if form.is_valid() and self._confirm_vendor_shipment(request, fulfillment_order, form):
                return redirect(change_url)
        else:
            form = VendorShipmentForm()
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Confirm the vendor's shipment of FO-{fulfillment_order.pk}",
            "form": form,
            "fulfillment_order": fulfillment_order,
            "lines": fulfillment_order.lines.select_related("sku").order_by("pk"),
            "change_url": change_url,
            "media": self.media + form.media,
        }
        return TemplateResponse(
            request, "admin/fulfillment/fulfillmentorder/vendor_shipment.html", context
        )

    def _confirm_vendor_shipment(
        self, request, fulfillment_order: FulfillmentOrder, form: VendorShipmentForm
    ) -> bool:
        """Call the service; on refusal put its messages on the form and return False."""
        try:
            fo = warehouse.confirm_vendor_shipment(
                fulfillment_order=fulfillment_order,
                carrier=form.cleaned_data["carrier"],
                tracking_number=form.cleaned_data["tracking_number"],
                actor=request.user,
            )
        except InvalidInput as error:
            for field, field_messages in error.errors.items():
                for message in field_messages:
                    form.add_error(field if field in form.fields else None, message)
            return False
        except DomainError as error:
            form.add_error(None, error.message)
            return False
        messages.success(
            request,
            f"FO-{fo.pk} shipped by {fo.location.code}: {fo.carrier} {fo.tracking_number}.",
        )
        return True

    def document_view(self, request, object_id: int, document: str):
        if not request.user.has_perm("fulfillment.view_fulfillmentorder"):
            raise PermissionDenied
        render, _, file_suffix = DOCUMENTS[document]
        fulfillment_order = get_object_or_404(FulfillmentOrder, pk=object_id)
        response = HttpResponse(render(fulfillment_order), content_type="application/pdf")
        filename = f"FO-{fulfillment_order.pk}-{file_suffix}.pdf"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response


@admin.register(FulfillmentLine)
class FulfillmentLineAdmin(ReadOnlyModelAdmin):
    list_display = (
        "id",
        "fulfillment_order",
        "order_line",
        "sku",
        "quantity",
        "quantity_picked",
        "quantity_shipped",
    )
    search_fields = ("fulfillment_order__order__number", "sku__code")
    list_filter = ("fulfillment_order__status",)
    list_select_related = ("fulfillment_order", "order_line", "sku")


@admin.register(Package)
class PackageAdmin(ReadOnlyModelAdmin):
    list_display = (
        "id",
        "fulfillment_order",
        "weight_kg",
        "carrier",
        "tracking_number",
        "created_at",
        "shipped_at",
    )
    list_filter = ("carrier",)
    search_fields = ("tracking_number", "fulfillment_order__order__number")
    list_select_related = ("fulfillment_order", "carrier")
    date_hierarchy = "created_at"


class PickListItemInline(ReadOnlyInlineMixin, admin.TabularInline):
    model = PickListItem
    fields = ("bin_zone", "fulfillment_line", "quantity", "quantity_picked")
    readonly_fields = fields


@admin.register(PickList)
class PickListAdmin(ReadOnlyModelAdmin):
    list_display = (
        "id",
        "location",
        "strategy",
        "zone",
        "carrier",
        "status",
        "created_by",
        "created_at",
        "completed_at",
    )
    list_filter = ("status", "strategy", "location")
    list_select_related = ("location", "carrier", "created_by")
    date_hierarchy = "created_at"
    inlines = [PickListItemInline]


@admin.register(PickListItem)
class PickListItemAdmin(ReadOnlyModelAdmin):
    list_display = (
        "id",
        "pick_list",
        "fulfillment_line",
        "bin_zone",
        "quantity",
        "quantity_picked",
    )
    list_filter = ("pick_list__location",)
    search_fields = ("fulfillment_line__fulfillment_order__order__number",)
    list_select_related = ("pick_list", "fulfillment_line")


# --- On the order page ---------------------------------------------------------------------


class FulfillmentOrderInline(ReadOnlyInlineMixin, admin.TabularInline):
    model = FulfillmentOrder
    verbose_name = "fulfillment"
    verbose_name_plural = "fulfillment"
    fields = (
        "location",
        "kind",
        "status",
        "carrier_used",
        "tracking",
        "promised_date",
        "explanation",
    )
    readonly_fields = fields
    show_change_link = True

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("location", "carrier", "carrier_service__carrier")
        )

    @admin.display(description="Carrier")
    def carrier_used(self, obj: FulfillmentOrder) -> str:
        """The carrier that took it once shipped, else the service chosen at sourcing."""
        if obj.carrier_id and (
            not obj.carrier_service_id or obj.carrier_service.carrier_id != obj.carrier_id
        ):
            return str(obj.carrier)
        return str(obj.carrier_service) if obj.carrier_service_id else "-"

    @admin.display(description="Tracking")
    def tracking(self, obj: FulfillmentOrder) -> str:
        return tracking_link(obj)


# orders may not import fulfillment (dependencies point down), so fulfillment adds its own rows
# to the order page. The check keeps a reloaded module from adding the rows twice.
order_admin = admin.site._registry[Order]
if not any(inline.model is FulfillmentOrder for inline in order_admin.inlines):
    order_admin.inlines = [*order_admin.inlines, FulfillmentOrderInline]

# Jeopardy alerts (admin) and stage SLAs (sla_admin) are administered in their own package.
import fulfillment.jeopardy.admin  # noqa: E402, F401
from fulfillment.jeopardy import sla_admin  # noqa: E402, F401
