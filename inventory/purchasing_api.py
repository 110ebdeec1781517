"""Receiving purchase orders over the API, for the receiving dock's scanner or a 3PL's system.

Staff with `inventory.change_purchaseorder` sign in with HTTP Basic (over TLS) or the
back-office session; a storefront's channel key opens nothing here. The work is
`inventory.replenishment.purchasing.receive_purchase_order`; an `Idempotency-Key` header makes
a retried receipt harmless.
"""

from __future__ import annotations

from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.authentication import BasicAuthentication, SessionAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from inventory.models import PurchaseOrder, PurchaseOrderLine
from inventory.replenishment.purchasing import (
    MAX_RECEIPT_KEY_LENGTH,
    ReceiptLine,
    receive_purchase_order,
)
from oms.core.api import StrictSerializer

PERMISSION = "inventory.change_purchaseorder"


class CanReceivePurchaseOrders(BasePermission):
    message = "Sign in as staff allowed to change purchase orders."

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(
            user
            and user.is_authenticated
            and getattr(user, "is_active", False)
            and getattr(user, "is_staff", False)
            and user.has_perm(PERMISSION)
        )


class ReceiptLineInput(StrictSerializer):
    sku = serializers.CharField(max_length=64)
    quantity = serializers.IntegerField(min_value=1, max_value=1_000_000)


class ReceiptInput(StrictSerializer):
    lines = ReceiptLineInput(many=True, required=False, default=list)
    close = serializers.BooleanField(
        default=False,
        help_text="Nothing more is coming: close the order short after booking these lines.",
    )


class PurchaseOrderLineOutput(serializers.Serializer):
    sku = serializers.CharField(source="sku.code")
    quantity_ordered = serializers.IntegerField()
    quantity_received = serializers.IntegerField()


class PurchaseOrderOutput(serializers.Serializer):
    number = serializers.CharField()
    status = serializers.CharField()
    supplier = serializers.CharField(source="supplier.code")
    destination = serializers.CharField(source="destination.code")
    expected_date = serializers.DateField()
    received_at = serializers.DateTimeField(allow_null=True)
    lines = PurchaseOrderLineOutput(many=True)


def purchase_order_queryset():
    return PurchaseOrder.objects.select_related("supplier", "destination").prefetch_related(
        Prefetch("lines", queryset=PurchaseOrderLine.objects.select_related("sku").order_by("pk"))
    )


class PurchaseOrderReceiptView(APIView):
    """Goods of a sent purchase order arrived: stock goes up, backorders are re-sourced.

    Short deliveries leave the order partially received; `close` ends it short. A line more
    than PO_OVER_RECEIPT_PERCENT over its ordered quantity is refused (400, naming the line);
    a draft, cancelled or received order is a 409.
    """

    authentication_classes = [BasicAuthentication, SessionAuthentication]
    permission_classes = [CanReceivePurchaseOrders]

    @extend_schema(
        request=ReceiptInput,
        responses={200: PurchaseOrderOutput},
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                str,
                OpenApiParameter.HEADER,
                description="The same key again books nothing twice (e.g. the delivery note).",
            )
        ],
    )
    def post(self, request, number: str):
        data = ReceiptInput(data=request.data or {})
        data.is_valid(raise_exception=True)
        purchase_order = get_object_or_404(PurchaseOrder, number=number)
        key = request.headers.get("Idempotency-Key", "").strip()
        if len(key) > MAX_RECEIPT_KEY_LENGTH:
            raise serializers.ValidationError(
                {"Idempotency-Key": [f"At most {MAX_RECEIPT_KEY_LENGTH} characters."]}
            )
        receive_purchase_order(
            purchase_order=purchase_order,
            lines=[
                ReceiptLine(sku=line["sku"].strip(), quantity=line["quantity"])
                for line in data.validated_data["lines"]
            ],
            close=data.validated_data["close"],
            receipt_key=key,
            actor=request.user,
        )
        received = purchase_order_queryset().get(pk=purchase_order.pk)
        return Response(PurchaseOrderOutput(received).data)
