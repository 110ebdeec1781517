"""Distance and carrier price for one parcel. Pure: no ORM, no database."""

from __future__ import annotations

import math
from decimal import Decimal

from fulfillment.sourcing.types import RateBand, Service
from oms.core.money import quantize

# Mean Earth radius (IUGG); carriers price by distance bands hundreds of km wide, so the
# spherical model's ~0.5 % error never moves a parcel into another band in practice.
EARTH_RADIUS_KM = 6371.0088


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle (haversine) distance between two points given in degrees."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    half_dphi = (phi2 - phi1) / 2
    half_dlambda = math.radians(lon2 - lon1) / 2
    a = math.sin(half_dphi) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(half_dlambda) ** 2
    # min() guards against a rounding error pushing `a` just past 1 for antipodal points.
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def rate_for(service: Service, distance_km: float, weight_kg: Decimal) -> RateBand | None:
    """The band that prices this parcel: among the bands covering both its distance and its
    weight, the one with the smallest distance, then the smallest weight. None if none does."""
    best: RateBand | None = None
    for band in service.rates:
        if band.max_distance_km < distance_km or band.max_weight_kg < weight_kg:
            continue
        if best is None or (band.max_distance_km, band.max_weight_kg) < (
            best.max_distance_km,
            best.max_weight_kg,
        ):
            best = band
    return best


def parcel_price(band: RateBand, weight_kg: Decimal) -> Decimal:
    return quantize(band.base_amount + band.per_kg_amount * weight_kg)
