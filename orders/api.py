"""Storefront order API: thin callers of orders.services."""

from datetime import UTC

from django import forms
from django.db.models import Prefetch
from django_filters import rest_framework as filters
from django_filters.fields import IsoDateTimeField
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from customers.selectors import matching_email
from oms.core.schema import problem_response
from orders import services
from orders.models import Order, OrderEvent, OrderLine, Payment, SalesChannel
from orders.serializers import (
    ORDER_EXAMPLE,
    CancelInput,
    OrderCreateInput,
    OrderDetailOutput,
    OrderOutput,
)

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_IDEMPOTENCY_KEY_LENGTH = 255


def caller_channel(request) -> SalesChannel | None:
    """The storefront's channel, or None for a staff member using the back-office session."""
    return getattr(request.auth, "channel", None)


class UTCIsoDateTimeField(IsoDateTimeField):
    """PostgreSQL refuses UTC offsets past ±15:59, Python allows up to ±23:59: compare in UTC."""

    def to_python(self, value):
        value = super().to_python(value)
        if value is None:
            return None
        try:
            return value.astimezone(UTC)
        except OverflowError:
            raise forms.ValidationError("Date out of range.", code="invalid") from None


class UTCIsoDateTimeFilter(filters.IsoDateTimeFilter):
    field_class = UTCIsoDateTimeField


class OrderFilter(filters.FilterSet):
    status = filters.MultipleChoiceFilter(choices=Order.Status.choices)
    created_after = UTCIsoDateTimeFilter(field_name="placed_at", lookup_expr="gte")
    created_before = UTCIsoDateTimeFilter(field_name="placed_at", lookup_expr="lt")
    external_id = filters.CharFilter()
    customer_email = filters.CharFilter(method="filter_customer_email")

    class Meta:
        model = Order
        fields = ["status", "created_after", "created_before", "external_id", "customer_email"]

    def filter_customer_email(self, queryset, name, value):
        return matching_email(queryset, value, field="customer__email")


class OrderViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    lookup_field = "number"
    lookup_value_regex = "[A-Za-z0-9-]+"
    filterset_class = OrderFilter
    serializer_class = OrderOutput

    def get_queryset(self):
        orders = Order.objects.select_related(
            "channel", "customer", "service_level", "pickup_location"
        ).prefetch_related(Prefetch("lines", queryset=OrderLine.objects.order_by("line_number")))
        if self.action in ("retrieve", "cancel"):
            orders = orders.prefetch_related(
                Prefetch("payments", queryset=Payment.objects.order_by("id")),
                Prefetch("events", queryset=OrderEvent.objects.order_by("created_at", "id")),
                # Reverse relations of the fulfillment app, by name: no import upwards.
                "fulfillment_orders__location",
                "fulfillment_orders__carrier_service__carrier",
                "fulfillment_orders__carrier",
                "fulfillment_orders__lines__sku",
            )
        channel = caller_channel(self.request)
        if channel is not None:
            # Scoping here makes another channel's order simply not found (404).
            orders = orders.filter(channel=channel)
        return orders.order_by("-placed_at", "-id")

    def get_serializer_class(self):
        return OrderDetailOutput if self.action in ("retrieve", "cancel") else OrderOutput

    @extend_schema(
        request=OrderCreateInput,
        examples=[
            OpenApiExample("A shipped order", value=ORDER_EXAMPLE, request_only=True),
        ],
        responses={
            201: OrderOutput,
            402: problem_response("The payment was declined (`field`: payment)."),
            422: problem_response(
                "This Idempotency-Key was used with another body (`idempotency_key_reused`)."
            ),
        },
        parameters=[
            OpenApiParameter(
                IDEMPOTENCY_HEADER,
                # Blank (after trimming) is refused as missing.
                {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": MAX_IDEMPOTENCY_KEY_LENGTH,
                    "pattern": r"\S",
                },
                OpenApiParameter.HEADER,
                required=True,
                description="Unique per order attempt; a retry with the same key and body "
                "returns the same order, a different body is refused (422).",
            ),
            OpenApiParameter(
                "Location",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                required=True,
                response=[201],
                description="The order's URL.",
            ),
            OpenApiParameter(
                REPLAYED_HEADER,
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                enum=["true"],
                response=[201],
                description="Present on a retry: the order was placed by an earlier request.",
            ),
        ],
    )
    def create(self, request):
        key = request.headers.get(IDEMPOTENCY_HEADER, "").strip()
        if not key:
            raise ValidationError({IDEMPOTENCY_HEADER: ["This header is required."]})
        if len(key) > MAX_IDEMPOTENCY_KEY_LENGTH:
            raise ValidationError(
                {IDEMPOTENCY_HEADER: [f"At most {MAX_IDEMPOTENCY_KEY_LENGTH} characters."]}
            )
        data = OrderCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        channel = self._channel_for_create(data.validated_data.get("channel"))
        result = services.place_order(
            channel=channel,
            customer=data.validated_data["customer"],
            lines=data.validated_data["lines"],
            delivery=data.validated_data["delivery"],
            payment=data.validated_data["payment"],
            external_id=data.validated_data.get("external_id"),
            idempotency_key=key,
            request_hash=services.request_fingerprint(request.data),
            actor=request.user,
        )
        headers = {}
        if result.replayed:
            order = self.get_queryset().get(pk=result.order.pk)
            headers[REPLAYED_HEADER] = "true"
        else:
            # The order as capture wrote it, with its channel, customer and delivery already
            # attached: reading it back would cost a query of four joins; only lines are read.
            order = result.order
        headers["Location"] = f"{request.path}{order.number}/"
        return Response(OrderOutput(order).data, status=status.HTTP_201_CREATED, headers=headers)

    def _channel_for_create(self, code: str | None) -> SalesChannel:
        channel = caller_channel(self.request)
        if channel is not None:
            if code and code != channel.code:
                raise ValidationError(
                    {"channel": ["A storefront places orders on its own channel."]}
                )
            return channel
        if not code:
            raise ValidationError({"channel": ["Staff must name the channel to place on."]})
        found = SalesChannel.objects.filter(code=code).first()
        if found is None:
            raise ValidationError({"channel": [f"Unknown channel {code!r}."]})
        return found

    @extend_schema(request=CancelInput, responses={200: OrderDetailOutput})
    @action(detail=True, methods=["post"])
    def cancel(self, request, number=None):
        data = CancelInput(data=request.data or {})
        data.is_valid(raise_exception=True)
        order = self.get_object()
        services.cancel_order(
            order=order, actor=request.user, reason=data.validated_data.get("reason", "")
        )
        return Response(OrderDetailOutput(self.get_queryset().get(pk=order.pk)).data)
