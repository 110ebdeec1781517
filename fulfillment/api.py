"""Delivery options for checkout pages and agents."""

from django.conf import settings
from django_countries.serializer_fields import CountryField
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from fulfillment.delivery_options import delivery_options
from fulfillment.geo import locate
from oms.core.api import StrictSerializer
from orders.models import SalesChannel
from orders.serializers import LineInput


class DestinationInput(StrictSerializer):
    latitude = serializers.DecimalField(
        max_digits=9, decimal_places=6, min_value=-90, max_value=90, required=False
    )
    longitude = serializers.DecimalField(
        max_digits=9, decimal_places=6, min_value=-180, max_value=180, required=False
    )
    postal_code = serializers.CharField(max_length=20, required=False, allow_blank=True)
    region = serializers.CharField(max_length=100, required=False, allow_blank=True)
    city = serializers.CharField(max_length=100, required=False, allow_blank=True)
    line1 = serializers.CharField(max_length=200, required=False, allow_blank=True)
    line2 = serializers.CharField(max_length=200, required=False, allow_blank=True)
    country = CountryField(required=False)

    def validate(self, attrs):
        if ("latitude" in attrs) != ("longitude" in attrs):
            raise ValidationError({"latitude": ["Send latitude and longitude together."]})
        if "latitude" not in attrs and "country" not in attrs:
            raise ValidationError(
                {"country": ["Send an address with a country, or latitude and longitude."]}
            )
        if "country" in attrs:
            attrs["country"] = str(attrs["country"])
        return attrs


class DeliveryOptionsInput(StrictSerializer):
    channel = serializers.SlugField(max_length=32, required=False)
    lines = LineInput(many=True, allow_empty=False, max_length=settings.MAX_ORDER_LINES)
    destination = DestinationInput()


class DeliveryOptionsView(APIView):
    @extend_schema(
        request=DeliveryOptionsInput,
        responses={
            200: inline_serializer(
                "DeliveryOptions",
                {
                    "ship": inline_serializer(
                        "ShipOption",
                        {
                            "service_level": serializers.CharField(),
                            "name": serializers.CharField(),
                            "price": serializers.DecimalField(max_digits=14, decimal_places=2),
                            "currency": serializers.CharField(),
                            "promised_date": serializers.DateField(),
                            "carriers": serializers.ListField(child=serializers.CharField()),
                        },
                        many=True,
                    ),
                    "pickup": inline_serializer(
                        "PickupOption",
                        {
                            "location": serializers.CharField(),
                            "name": serializers.CharField(),
                            "city": serializers.CharField(),
                            "distance_km": serializers.FloatField(),
                            "ready_by": serializers.DateField(),
                            "by_transfer": serializers.BooleanField(),
                        },
                        many=True,
                    ),
                },
            )
        },
    )
    def post(self, request):
        data = DeliveryOptionsInput(data=request.data)
        data.is_valid(raise_exception=True)
        channel = self._channel(data.validated_data.get("channel"))
        destination = locate({k: str(v) for k, v in data.validated_data["destination"].items()})
        if destination is None:
            raise ValidationError({"destination.country": ["We cannot deliver to this place."]})
        options = delivery_options(
            channel=channel, lines=data.validated_data["lines"], destination=destination
        )
        return Response(
            {
                "ship": [
                    {
                        "service_level": option.service_level,
                        "name": option.name,
                        "price": f"{option.price.amount:.2f}",
                        "currency": option.price.currency,
                        "promised_date": option.promised_date,
                        "carriers": list(option.carriers),
                    }
                    for option in options.ship
                ],
                "pickup": [
                    {
                        "location": option.location,
                        "name": option.name,
                        "city": option.city,
                        "distance_km": option.distance_km,
                        "ready_by": option.ready_by,
                        "by_transfer": option.by_transfer,
                    }
                    for option in options.pickup
                ],
            }
        )

    def _channel(self, code: str | None) -> SalesChannel:
        channel = getattr(self.request.auth, "channel", None)
        if channel is not None:
            if code and code != channel.code:
                raise ValidationError({"channel": ["A storefront asks for its own channel only."]})
            return channel
        found = SalesChannel.objects.filter(code=code or "").first()
        if found is None:
            raise ValidationError({"channel": ["Staff must name a known channel."]})
        return found
