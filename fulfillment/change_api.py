"""`POST /api/v1/orders/{number}/changes/`: lower or cancel lines, change the ship-to address.

A thin caller of `fulfillment.changes.change_order`. It lives in fulfillment because a change
cancels fulfillment orders, and orders cannot import fulfillment; it answers with the same
body as `GET /api/v1/orders/{number}/`, read through the orders API's own (channel-scoped)
queryset, so another channel's order is simply not found.
"""

from __future__ import annotations

from django.conf import settings
from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from fulfillment.changes import change_order
from oms.core.api import StrictSerializer
from orders.api import OrderViewSet
from orders.serializers import AddressInput, OrderDetailOutput


class LineChangeInput(StrictSerializer):
    line_number = serializers.IntegerField(min_value=1)
    quantity = serializers.IntegerField(
        min_value=0,
        max_value=settings.MAX_LINE_QUANTITY,
        help_text="Units still wanted: lower than the line has, or 0 to cancel the line.",
    )


class OrderChangeInput(StrictSerializer):
    lines = LineChangeInput(
        many=True, required=False, allow_empty=False, max_length=settings.MAX_ORDER_LINES
    )
    ship_to = AddressInput(required=False, help_text="The new ship-to address (ship orders).")
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True)

    def validate(self, attrs):
        if "lines" not in attrs and "ship_to" not in attrs:
            raise serializers.ValidationError(
                {"lines": ["Send the lines to change, a new ship_to address, or both."]}
            )
        return attrs


def _orders(request):
    """The orders API's detail queryset: its channel scoping and its prefetches."""
    return OrderViewSet(request=request, action="retrieve", format_kwarg=None).get_queryset()


class OrderChangesView(APIView):
    @extend_schema(request=OrderChangeInput, responses={200: OrderDetailOutput})
    def post(self, request, number: str):
        data = OrderChangeInput(data=request.data)
        data.is_valid(raise_exception=True)
        order_id = _orders(request).filter(number=number).values_list("pk", flat=True).first()
        if order_id is None:
            raise Http404
        change_order(
            order_id=order_id,
            lines=data.validated_data.get("lines"),
            ship_to=data.validated_data.get("ship_to"),
            actor=request.user,
            reason=data.validated_data.get("reason", ""),
        )
        return Response(OrderDetailOutput(_orders(request).get(pk=order_id)).data)
