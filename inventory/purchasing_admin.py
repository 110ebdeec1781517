"""Admin for replenishment: suppliers and what they sell, reorder rules, purchase orders.

Purchase orders change state only through `inventory.replenishment.purchasing` (approve and
send, cancel, receive); the admin edits a draft's fields and lines and nothing else.
"""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import F, OuterRef, Subquery, Sum
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from inventory.models import (
    PurchaseOrder,
    PurchaseOrderLine,
    ReorderRule,
    Supplier,
    SupplierItem,
)
from inventory.replenishment.demand import apply_suggested_reorder_points
from inventory.replenishment.purchasing import (
    DRAFT_FIELDS,
    MAX_RECEIPT_KEY_LENGTH,
    ReceiptLine,
    approve_and_send,
    cancel_purchase_order,
    order_total,
    over_receipt_limit,
    receive_purchase_order,
    save_draft_purchase_order,
)
from oms.core.admin import ReadOnlyModelAdmin
from oms.core.errors import DomainError, IllegalTransition, InvalidInput


class SupplierItemInline(admin.TabularInline):
    model = SupplierItem
    extra = 0
    raw_id_fields = ("sku",)
    fields = ("sku", "supplier_sku", "cost_amount", "pack_size", "minimum_quantity", "is_preferred")


@admin.register(Supplier)
class SupplierAdmin(admin.ModelAdmin):
    list_display = (
        "code",
        "name",
        "contact_email",
        "lead_time_days",
        "minimum_order_amount",
        "currency",
        "is_active",
    )
    list_filter = ("is_active", "currency")
    search_fields = ("code", "name", "contact_email")
    inlines = [SupplierItemInline]


@admin.register(SupplierItem)
class SupplierItemAdmin(admin.ModelAdmin):
    """What each supplier sells, across suppliers: which one is preferred for a SKU."""

    list_display = (
        "sku",
        "supplier",
        "supplier_sku",
        "cost_amount",
        "pack_size",
        "minimum_quantity",
        "is_preferred",
    )
    list_filter = ("is_preferred", "supplier")
    search_fields = ("sku__code", "supplier__code", "supplier_sku")
    list_select_related = ("sku", "supplier")
    raw_id_fields = ("sku",)


@admin.register(PurchaseOrderLine)
class PurchaseOrderLineAdmin(ReadOnlyModelAdmin):
    """Lines across purchase orders (what is on order for a SKU); edited on the order's page."""

    list_display = (
        "purchase_order",
        "sku",
        "quantity_ordered",
        "quantity_received",
        "unit_cost_amount",
        "reason",
    )
    list_filter = ("purchase_order__status",)
    search_fields = ("sku__code", "purchase_order__number")
    list_select_related = ("purchase_order", "sku")


@admin.register(ReorderRule)
class ReorderRuleAdmin(admin.ModelAdmin):
    list_display = (
        "sku",
        "location",
        "reorder_point",
        "method",
        "order_up_to",
        "fixed_quantity",
        "lead_time_days",
        "safety_stock_days",
        "is_active",
        "basis",
    )
    list_filter = ("is_active", "method", "location")
    search_fields = ("sku__code",)
    list_select_related = ("sku", "location")
    raw_id_fields = ("sku",)
    readonly_fields = ("basis", "updated_at")
    actions = ["set_reorder_point_from_demand"]

    @admin.action(
        description="Set reorder point from recent demand (shows the numbers)",
        permissions=["change"],
    )
    def set_reorder_point_from_demand(self, request, queryset):
        rules = list(queryset.select_related("sku", "location").order_by("pk"))
        suggestions = apply_suggested_reorder_points(rules=rules)
        by_id = {rule.pk: rule for rule in rules}
        for suggestion in suggestions:
            rule = by_id[suggestion.rule_id]
            messages.success(
                request,
                f"{rule.sku.code} at {rule.location.code}: reorder point "
                f"{suggestion.reorder_point} — {suggestion.basis}.",
            )


class PurchaseOrderLineInline(admin.TabularInline):
    model = PurchaseOrderLine
    extra = 0
    raw_id_fields = ("sku",)
    fields = (
        "sku",
        "supplier_sku",
        "quantity_ordered",
        "quantity_received",
        "unit_cost_amount",
        "reason",
    )
    readonly_fields = ("quantity_received", "reason")

    def _is_draft(self, obj) -> bool:
        return obj is None or obj.status == PurchaseOrder.Status.DRAFT

    def has_add_permission(self, request, obj=None):
        return self._is_draft(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return self._is_draft(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._is_draft(obj) and super().has_delete_permission(request, obj)


class ReceiveForm(forms.Form):
    """One quantity per open line; the service checks over-receipts and names the line."""

    close = forms.BooleanField(
        required=False,
        label="Close short",
        help_text="Nothing more is coming: the order is received with what arrived.",
    )
    receipt_key = forms.CharField(
        max_length=MAX_RECEIPT_KEY_LENGTH,
        required=False,
        label="Delivery note",
        help_text="Books each delivery note once, whoever enters it twice.",
    )

    def __init__(self, *args, purchase_order: PurchaseOrder, **kwargs):
        super().__init__(*args, **kwargs)
        self.order_lines = list(purchase_order.lines.select_related("sku").order_by("pk"))
        for line in self.order_lines:
            self.fields[self.field_name(line)] = forms.IntegerField(
                min_value=0,
                required=False,
                initial=0,
                label=f"{line.sku.code}",
                help_text=f"{line.quantity_ordered} ordered, {line.quantity_received} received "
                f"(at most {over_receipt_limit(line.quantity_ordered)} in all).",
            )

    @staticmethod
    def field_name(line: PurchaseOrderLine) -> str:
        return f"sku_{line.sku.code}"

    def receipt_lines(self) -> list[ReceiptLine]:
        return [
            ReceiptLine(sku=line.sku.code, quantity=quantity)
            for line in self.order_lines
            if (quantity := self.cleaned_data.get(self.field_name(line)) or 0)
        ]


@admin.register(PurchaseOrder)
class PurchaseOrderAdmin(admin.ModelAdmin):
    list_display = (
        "number",
        "supplier",
        "destination",
        "status",
        "expected_date",
        "total",
        "below_minimum",
        "created_by",
        "sent_at",
    )
    list_filter = ("status", "supplier", "destination")
    search_fields = ("number", "supplier__code", "lines__sku__code")
    list_select_related = ("supplier", "destination")
    date_hierarchy = "created_at"
    inlines = [PurchaseOrderLineInline]
    actions = ["approve_and_send_selected", "cancel_selected"]
    readonly_fields = (
        "number",
        "status",
        "receive",
        "created_by",
        "approved_by",
        "sent_at",
        "emailed_at",
        "received_at",
        "created_at",
    )

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.status != PurchaseOrder.Status.DRAFT:
            return (*DRAFT_FIELDS, *self.readonly_fields)
        return self.readonly_fields

    def has_delete_permission(self, request, obj=None):
        return False  # cancel instead: the supplier may hold it, receipts may point at it

    def get_queryset(self, request):
        # The list shows each order's worth; summed in the same query, not once per row.
        return (
            super()
            .get_queryset(request)
            .annotate(
                # A subquery, not a join: searching by a line's SKU must not multiply the sum.
                total_amount=Subquery(
                    PurchaseOrderLine.objects.filter(purchase_order=OuterRef("pk"))
                    .order_by()
                    .values("purchase_order")
                    .annotate(total=Sum(F("quantity_ordered") * F("unit_cost_amount")))
                    .values("total")
                )
            )
        )

    def _total(self, obj: PurchaseOrder) -> Decimal:
        if hasattr(obj, "total_amount"):
            return Decimal(obj.total_amount or 0).quantize(Decimal("0.01"))
        return order_total(obj)

    @admin.display(description="Total")
    def total(self, obj: PurchaseOrder) -> str:
        return f"{self._total(obj)} {obj.currency}"

    @admin.display(description="Below supplier minimum", boolean=True)
    def below_minimum(self, obj: PurchaseOrder) -> bool:
        return self._total(obj) < obj.supplier.minimum_order_amount

    @admin.display(description="Receive")
    def receive(self, obj: PurchaseOrder) -> str:
        if obj.pk is None or obj.status not in (
            PurchaseOrder.Status.SENT,
            PurchaseOrder.Status.PARTIALLY_RECEIVED,
        ):
            return "-"
        url = reverse("admin:inventory_purchaseorder_receive", args=[obj.pk])
        return format_html('<a class="button" href="{}">Receive goods</a>', url)

    def save_model(self, request, obj, form, change):
        try:
            save_draft_purchase_order(purchase_order=obj, created_by=request.user.get_username())
        except IllegalTransition as error:
            raise PermissionDenied(str(error)) from error

    def _each(self, request, queryset, call, done: str) -> None:
        """One transaction per purchase order: one refusal stops no other."""
        succeeded = []
        for purchase_order in queryset.order_by("pk"):
            try:
                call(purchase_order)
            except DomainError as error:
                detail = (
                    " ".join(m for ms in error.errors.values() for m in ms)
                    if isinstance(error, InvalidInput)
                    else error.message
                )
                messages.error(request, f"{purchase_order.number}: {detail}")
            else:
                succeeded.append(purchase_order.number)
        if succeeded:
            messages.success(request, f"{done} {', '.join(succeeded)}.")

    @admin.action(description="Approve and send to the supplier", permissions=["change"])
    def approve_and_send_selected(self, request, queryset):
        self._each(
            request,
            queryset,
            lambda po: approve_and_send(purchase_order=po, actor=request.user),
            "Sent",
        )

    @admin.action(description="Cancel selected purchase orders", permissions=["change"])
    def cancel_selected(self, request, queryset):
        self._each(
            request, queryset, lambda po: cancel_purchase_order(purchase_order=po), "Cancelled"
        )

    def get_urls(self):
        return [
            path(
                "<int:pk>/receive/",
                self.admin_site.admin_view(self.receive_view),
                name="inventory_purchaseorder_receive",
            ),
            *super().get_urls(),
        ]

    def receive_view(self, request, pk: int):
        if not request.user.has_perm("inventory.change_purchaseorder"):
            raise PermissionDenied
        purchase_order = get_object_or_404(
            PurchaseOrder.objects.select_related("supplier", "destination"), pk=pk
        )
        form = ReceiveForm(request.POST or None, purchase_order=purchase_order)
        if request.method == "POST" and form.is_valid():
            try:
                receive_purchase_order(
                    purchase_order=purchase_order,
                    lines=form.receipt_lines(),
                    close=form.cleaned_data["close"],
                    receipt_key=form.cleaned_data["receipt_key"].strip(),
                    actor=request.user,
                )
            except InvalidInput as error:
                fields = {line.sku.code: form.field_name(line) for line in form.order_lines}
                receipt = form.receipt_lines()
                for path_, field_messages in error.errors.items():
                    field = None
                    if path_.startswith("lines["):
                        index = int(path_[len("lines[") : path_.index("]")])
                        field = fields.get(receipt[index].sku)
                    for message in field_messages:
                        form.add_error(field, message)
            except DomainError as error:
                form.add_error(None, error.message)
            else:
                purchase_order.refresh_from_db()
                messages.success(
                    request,
                    f"Received goods for {purchase_order.number}; it is now "
                    f"{purchase_order.get_status_display().lower()}.",
                )
                return redirect("admin:inventory_purchaseorder_change", purchase_order.pk)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Receive {purchase_order.number} from {purchase_order.supplier.code} "
            f"at {purchase_order.destination.code}",
            "form": form,
            "purchase_order": purchase_order,
            "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/inventory/purchaseorder/receive.html", context)
