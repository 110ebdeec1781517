"""API for locations' systems and staff: the work waiting at a location, and each warehouse step.

Thin callers of fulfillment.warehouse. A location's system — a drop-ship vendor's too — signs
in as a staff user holding `fulfillment.change_fulfillmentorder` (HTTP Basic over TLS, or the
back-office session); a storefront's channel key opens nothing here. Every step is idempotent,
so a scanner that retries after a timeout gets the current state back.
"""

from __future__ import annotations

import json
from decimal import Decimal

from django.db import transaction
from django.db.models import Prefetch, QuerySet
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_serializer,
)
from rest_framework import generics, serializers
from rest_framework.authentication import BasicAuthentication, SessionAuthentication
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import BasePermission
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from fulfillment import warehouse
from fulfillment.documents import packing_slip_pdf, shipping_label_pdf
from fulfillment.models import (
    Carrier,
    FulfillmentLine,
    FulfillmentOrder,
    Package,
    PickList,
    PickListItem,
)
from inventory.models import Location
from oms.core.api import StrictSerializer
from oms.core.errors import DomainError, IllegalTransition

WORK_STATUSES = [
    FulfillmentOrder.Status.RELEASED,
    FulfillmentOrder.Status.PICKING,
    FulfillmentOrder.Status.PACKED,
    FulfillmentOrder.Status.READY_FOR_PICKUP,
]
PERMISSION = "fulfillment.change_fulfillmentorder"
# Goods on their way to a store are few (a truck's worth, not a warehouse's backlog); past this
# many the list shows the oldest and `inbound.count` says how many more are on the road.
INBOUND_LIMIT = 100


class CanWorkFulfillment(BasePermission):
    """Active staff with the permission to change fulfillment orders; never a channel key."""

    message = "Sign in as staff allowed to change fulfillment orders."

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(
            user
            and user.is_authenticated
            and getattr(user, "is_active", False)
            and getattr(user, "is_staff", False)
            and user.has_perm(PERMISSION)
        )


class PDFRenderer(BaseRenderer):
    """Lets a client ask for `Accept: application/pdf`; errors still go out as JSON."""

    media_type = "application/pdf"
    format = "pdf"
    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        if isinstance(data, bytes):
            return data
        return json.dumps(data, default=str).encode()


# --- Shapes --------------------------------------------------------------------------------


class FulfillmentLineOutput(serializers.Serializer):
    sku = serializers.CharField(source="sku.code")
    quantity = serializers.IntegerField()
    quantity_picked = serializers.IntegerField()
    quantity_shipped = serializers.IntegerField()


class FulfillmentOutput(serializers.Serializer):
    id = serializers.IntegerField()
    order = serializers.CharField(source="order.number")
    location = serializers.CharField(source="location.code")
    kind = serializers.CharField()
    status = serializers.CharField()
    carrier = serializers.SerializerMethodField()
    tracking_number = serializers.CharField()
    purchase_order_number = serializers.CharField()
    shipped_at = serializers.DateTimeField(allow_null=True)
    delivered_at = serializers.DateTimeField(allow_null=True)
    lines = FulfillmentLineOutput(many=True)

    # Null for a pickup at the store: no carrier ever takes it.
    @extend_schema_field({"type": "string", "nullable": True})
    def get_carrier(self, fo: FulfillmentOrder) -> str | None:
        if fo.carrier_id:
            return fo.carrier.code
        for package in fo.packages.all():
            if package.carrier_id:
                return package.carrier.code
        return fo.carrier_service.carrier.code if fo.carrier_service_id else None


class InboundOutput(FulfillmentOutput):
    """A transfer (or a vendor's parcel) on its way to this store, to be received there."""

    destination = serializers.CharField(source="destination_location.code")


class InboundListOutput(serializers.Serializer):
    count = serializers.IntegerField(help_text="Everything on its way here, listed or not.")
    results = InboundOutput(many=True)


@extend_schema_serializer(many=False)
class LocationWorkOutput(serializers.Serializer):
    """The location's own work (paginated) and, apart, what it has to receive."""

    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = FulfillmentOutput(many=True, help_text="Work to do here, oldest release first.")
    inbound = InboundListOutput(
        help_text="Shipped to this store and not yet received, oldest shipment first: receive "
        "each with POST /api/v1/fulfillments/{id}/receive/."
    )


class PickLineInput(StrictSerializer):
    sku = serializers.CharField(max_length=64)
    quantity_picked = serializers.IntegerField(min_value=0)


class PickInput(StrictSerializer):
    lines = PickLineInput(
        many=True,
        required=False,
        help_text="Units found per SKU; SKUs not listed were picked in full. "
        "Omit to confirm everything picked.",
    )


class PackageInput(StrictSerializer):
    weight_kg = serializers.DecimalField(max_digits=9, decimal_places=3, min_value=Decimal("0.001"))


class PackInput(StrictSerializer):
    packages = PackageInput(many=True, allow_empty=False)


class ShipInput(StrictSerializer):
    carrier = serializers.SlugField(
        max_length=32,
        required=False,
        allow_blank=True,
        help_text="Carrier code; defaults to the carrier chosen at sourcing.",
    )
    tracking_number = serializers.CharField(max_length=100, required=False, allow_blank=True)


class VendorShipmentInput(StrictSerializer):
    carrier = serializers.SlugField(max_length=32, help_text="Code of the carrier that took it.")
    tracking_number = serializers.CharField(max_length=100)


# --- Views ---------------------------------------------------------------------------------


def fulfillment_queryset() -> QuerySet[FulfillmentOrder]:
    return FulfillmentOrder.objects.select_related(
        "order", "location", "carrier", "carrier_service__carrier"
    ).prefetch_related(
        Prefetch("lines", queryset=FulfillmentLine.objects.select_related("sku").order_by("pk")),
        Prefetch("packages", queryset=Package.objects.select_related("carrier").order_by("pk")),
    )


class LocationView(APIView):
    authentication_classes = [BasicAuthentication, SessionAuthentication]
    permission_classes = [CanWorkFulfillment]


class LocationWorkView(LocationView, generics.ListAPIView):
    """Released work at a location, oldest release first: what to pick, pack, ship, hand over.

    Apart from it, under `inbound`, what is on its way to this store and has to be received
    there: transfers (and drop-ship vendors' parcels) for its pickup orders that have shipped.
    A fixed number of queries whatever the length of either list.
    """

    serializer_class = FulfillmentOutput
    filter_backends = []

    def get_location(self) -> Location:
        if not hasattr(self, "_location"):
            self._location = get_object_or_404(Location, code=self.kwargs["code"])
        return self._location

    def get_queryset(self):
        return (
            fulfillment_queryset()
            .filter(location=self.get_location(), status__in=WORK_STATUSES)
            .order_by("released_at", "id")
        )

    def get_inbound_queryset(self):
        # The kinds `warehouse.receive_transfer` takes: goods that travel to the pickup store.
        return (
            fulfillment_queryset()
            .select_related("destination_location")
            .filter(
                destination_location=self.get_location(),
                kind__in=[FulfillmentOrder.Kind.TRANSFER, FulfillmentOrder.Kind.DROPSHIP],
                status=FulfillmentOrder.Status.SHIPPED,
            )
            .order_by("shipped_at", "id")
        )

    @extend_schema(responses={200: LocationWorkOutput})
    def get(self, request, *args, **kwargs):
        response = self.list(request, *args, **kwargs)
        inbound = self.get_inbound_queryset()
        response.data["inbound"] = {
            "count": inbound.count(),
            "results": InboundOutput(inbound[:INBOUND_LIMIT], many=True).data,
        }
        return response


class FulfillmentActionView(LocationView):
    def get_fulfillment(self, pk: int) -> FulfillmentOrder:
        return get_object_or_404(fulfillment_queryset(), pk=pk)

    def respond(self, fo: FulfillmentOrder) -> Response:
        return Response(FulfillmentOutput(self.get_fulfillment(fo.pk)).data)


class PickView(FulfillmentActionView):
    @extend_schema(request=PickInput, responses={200: FulfillmentOutput})
    def post(self, request, pk: int):
        data = PickInput(data=request.data or {})
        data.is_valid(raise_exception=True)
        fo = self.get_fulfillment(pk)
        with transaction.atomic():
            if fo.status == FulfillmentOrder.Status.RELEASED:
                warehouse.build_pick_lists(
                    location=fo.location,
                    strategy=PickList.Strategy.SINGLE,
                    fulfillment_orders=[fo],
                    actor=request.user,
                )
            elif fo.status == FulfillmentOrder.Status.PENDING:
                raise IllegalTransition(
                    f"FO-{fo.pk} is not released to {fo.location.code} yet.", status=fo.status
                )
            for pick_list, picked in self._picked_by_list(fo, data.validated_data.get("lines")):
                warehouse.confirm_pick(pick_list=pick_list, picked=picked, actor=request.user)
        return self.respond(fo)

    def _picked_by_list(self, fo, lines) -> list[tuple[PickList, dict[int, int]]]:
        """Turn {sku, quantity_picked} into units per pick item, item by item in list order."""
        items = list(
            PickListItem.objects.filter(
                pick_list__status=PickList.Status.OPEN,
                pick_list__items__fulfillment_line__fulfillment_order=fo,
            )
            .select_related("pick_list", "fulfillment_line__sku")
            .distinct()
            .order_by("pick_list_id", "pk")
        )
        shared = {i.pick_list_id for i in items if i.fulfillment_line.fulfillment_order_id != fo.pk}
        if shared:
            raise DomainError(
                f"FO-{fo.pk} is on pick list {min(shared)} with other orders; confirm that "
                "list instead.",
                code="shared_pick_list",
            )
        remaining: dict[str, int] = {}
        errors: dict[str, list[str]] = {}
        for index, line in enumerate(lines or []):
            code = line["sku"]
            needed = sum(i.quantity for i in items if i.fulfillment_line.sku.code == code)
            if code in remaining:
                errors[f"lines[{index}].sku"] = [f"{code} is listed twice."]
            elif not needed:
                errors[f"lines[{index}].sku"] = [f"FO-{fo.pk} has nothing of {code} to pick."]
            elif line["quantity_picked"] > needed:
                errors[f"lines[{index}].quantity_picked"] = [
                    f"Only {needed} unit(s) of {code} were to be picked."
                ]
            remaining[code] = line["quantity_picked"]
        if errors:
            raise ValidationError(errors)
        by_list: dict[int, tuple[PickList, dict[int, int]]] = {}
        for item in items:
            code = item.fulfillment_line.sku.code
            units = item.quantity
            if code in remaining:
                units = min(item.quantity, remaining[code])
                remaining[code] -= units
            by_list.setdefault(item.pick_list_id, (item.pick_list, {}))[1][item.pk] = units
        return list(by_list.values())


class PackView(FulfillmentActionView):
    @extend_schema(request=PackInput, responses={200: FulfillmentOutput})
    def post(self, request, pk: int):
        data = PackInput(data=request.data)
        data.is_valid(raise_exception=True)
        fo = self.get_fulfillment(pk)
        warehouse.pack(
            fulfillment_order=fo,
            packages=[{"weight_kg": p["weight_kg"]} for p in data.validated_data["packages"]],
            actor=request.user,
        )
        return self.respond(fo)


class ShipView(FulfillmentActionView):
    @extend_schema(request=ShipInput, responses={200: FulfillmentOutput})
    def post(self, request, pk: int):
        data = ShipInput(data=request.data or {})
        data.is_valid(raise_exception=True)
        fo = self.get_fulfillment(pk)
        carrier = None
        code = data.validated_data.get("carrier")
        if code:
            carrier = Carrier.objects.filter(code=code, is_active=True).first()
            if carrier is None:
                raise ValidationError({"carrier": [f"Unknown carrier {code!r}."]})
        warehouse.ship(
            fulfillment_order=fo,
            carrier=carrier,
            tracking_number=data.validated_data.get("tracking_number", ""),
            actor=request.user,
        )
        return self.respond(fo)


class DeliverView(FulfillmentActionView):
    @extend_schema(request=None, responses={200: FulfillmentOutput})
    def post(self, request, pk: int):
        fo = self.get_fulfillment(pk)
        warehouse.confirm_delivery(fulfillment_order=fo, actor=request.user)
        return self.respond(fo)


class ReceiveTransferView(FulfillmentActionView):
    """The pickup store received a transfer: the units go on hand there, held for the order."""

    @extend_schema(request=None, responses={200: FulfillmentOutput})
    def post(self, request, pk: int):
        fo = self.get_fulfillment(pk)
        warehouse.receive_transfer(fulfillment_order=fo, actor=request.user)
        return self.respond(fo)


class ReadyForPickupView(FulfillmentActionView):
    @extend_schema(request=None, responses={200: FulfillmentOutput})
    def post(self, request, pk: int):
        fo = self.get_fulfillment(pk)
        warehouse.mark_ready_for_pickup(fulfillment_order=fo, actor=request.user)
        return self.respond(fo)


class PickupView(FulfillmentActionView):
    @extend_schema(request=None, responses={200: FulfillmentOutput})
    def post(self, request, pk: int):
        fo = self.get_fulfillment(pk)
        warehouse.confirm_pickup(fulfillment_order=fo, actor=request.user)
        return self.respond(fo)


class VendorShipmentView(FulfillmentActionView):
    """A drop-ship vendor confirms it shipped one of its purchase orders.

    Sending the same confirmation again returns the same result; another tracking number for a
    purchase order that already shipped is a 409.
    """

    @extend_schema(request=VendorShipmentInput, responses={200: FulfillmentOutput})
    def post(self, request, code: str, number: str):
        data = VendorShipmentInput(data=request.data or {})
        data.is_valid(raise_exception=True)
        fo = get_object_or_404(
            fulfillment_queryset(),
            location__code=code,
            location__type=Location.Type.DROPSHIP_VENDOR,
            kind=FulfillmentOrder.Kind.DROPSHIP,
            purchase_order_number=number,
        )
        carrier_code = data.validated_data["carrier"]
        carrier = Carrier.objects.filter(code=carrier_code, is_active=True).first()
        if carrier is None:
            raise ValidationError({"carrier": [f"Unknown carrier {carrier_code!r}."]})
        warehouse.confirm_vendor_shipment(
            fulfillment_order=fo,
            carrier=carrier,
            tracking_number=data.validated_data["tracking_number"],
            actor=request.user,
        )
        return self.respond(fo)


class DocumentView(FulfillmentActionView):
    renderer_classes = [JSONRenderer, PDFRenderer]
    document = "document"

    def render_pdf(self, fo: FulfillmentOrder) -> bytes:
        raise NotImplementedError

    @extend_schema(
        responses={
            (200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY, description="PDF")
        }
    )
    def get(self, request, pk: int):
        fo = self.get_fulfillment(pk)
        response = HttpResponse(self.render_pdf(fo), content_type="application/pdf")
        filename = f"{self.document}-{fo.order.number}-FO-{fo.pk}.pdf"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response


class PackingSlipView(DocumentView):
    document = "packing-slip"

    def render_pdf(self, fo: FulfillmentOrder) -> bytes:
        return packing_slip_pdf(fo)


class ShippingLabelView(DocumentView):
    document = "label"

    def render_pdf(self, fo: FulfillmentOrder) -> bytes:
        return shipping_label_pdf(fo)
