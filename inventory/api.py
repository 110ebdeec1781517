"""Availability for storefronts: network and per-location ATP for up to 100 SKUs."""

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from inventory.selectors import availability_by_sku

LocationRow = inline_serializer(
    "LocationAvailability",
    {
        "location": serializers.CharField(),
        "available": serializers.IntegerField(),
        "ships": serializers.BooleanField(),
        "pickup": serializers.BooleanField(),
    },
)
SKURow = inline_serializer(
    "SKUAvailability",
    {
        "sku": serializers.CharField(),
        "available": serializers.IntegerField(),
        "locations": LocationRow.__class__(many=True),
    },
)


class AvailabilityView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("sku", str, many=True, required=True, description="Repeat per SKU.")
        ],
        responses={
            200: inline_serializer("Availability", {"results": SKURow.__class__(many=True)})
        },
    )
    def get(self, request):
        codes = list(dict.fromkeys(code.strip() for code in request.query_params.getlist("sku")))
        codes = [code for code in codes if code]
        if not codes:
            raise ValidationError({"sku": ["Give at least one sku, e.g. ?sku=SKU-0001."]})
        if any("\x00" in code for code in codes):
            # PostgreSQL text cannot hold NUL: refuse it here rather than fail in the query.
            raise ValidationError({"sku": ["Null characters are not allowed."]})
        if len(codes) > settings.MAX_AVAILABILITY_SKUS:
            raise ValidationError(
                {"sku": [f"At most {settings.MAX_AVAILABILITY_SKUS} SKUs per request."]}
            )
        found, unknown = availability_by_sku(sku_codes=codes)
        if unknown:
            raise ValidationError({"sku": [f"Unknown SKU: {', '.join(unknown)}."]})
        return Response(
            {
                "results": [
                    {
                        "sku": entry.sku,
                        "available": entry.available,
                        "locations": [
                            {
                                "location": row.location,
                                "available": row.available,
                                "ships": row.ships,
                                "pickup": row.pickup,
                            }
                            for row in entry.locations
                        ],
                    }
                    for entry in (found[code] for code in codes)
                ]
            }
        )
