"""Where a destination is, without calling a geocoder (no network in the capture path).

An address with coordinates is used as given; a US address by its ZIP code (the `zipcodes`
package ships the USPS ZIP list with coordinates, no network); otherwise the centre of its US
state, else of its country. A state centroid is good enough for choosing a shipping location
and rate band, not for finding pickup stores within a few dozen km: that is what the ZIP is for.
A real geocoder can fill `latitude`/`longitude` on addresses before they reach us.
"""

from __future__ import annotations

from functools import lru_cache

import zipcodes

US_STATE_CENTROIDS: dict[str, tuple[float, float]] = {
    "AL": (32.8, -86.8), "AK": (64.7, -152.3), "AZ": (34.3, -111.7), "AR": (34.9, -92.4),
    "CA": (37.2, -119.5), "CO": (39.0, -105.5), "CT": (41.6, -72.7), "DE": (39.0, -75.5),
    "DC": (38.9, -77.0), "FL": (28.6, -82.4), "GA": (32.7, -83.4), "HI": (20.3, -156.4),
    "ID": (44.4, -114.6), "IL": (40.0, -89.2), "IN": (39.9, -86.3), "IA": (42.1, -93.5),
    "KS": (38.5, -98.4), "KY": (37.5, -85.3), "LA": (31.1, -92.0), "ME": (45.4, -69.2),
    "MD": (39.1, -76.8), "MA": (42.3, -71.8), "MI": (44.3, -85.4), "MN": (46.3, -94.3),
    "MS": (32.7, -89.7), "MO": (38.4, -92.5), "MT": (47.1, -109.6), "NE": (41.5, -99.8),
    "NV": (39.3, -116.6), "NH": (43.7, -71.6), "NJ": (40.2, -74.7), "NM": (34.4, -106.1),
    "NY": (42.9, -75.5), "NC": (35.6, -79.4), "ND": (47.5, -100.5), "OH": (40.3, -82.8),
    "OK": (35.6, -97.5), "OR": (43.9, -120.6), "PA": (40.9, -77.8), "RI": (41.7, -71.5),
    "SC": (33.9, -80.9), "SD": (44.4, -100.2), "TN": (35.9, -86.4), "TX": (31.5, -99.3),
    "UT": (39.3, -111.7), "VT": (44.1, -72.7), "VA": (37.5, -78.9), "WA": (47.4, -120.5),
    "WV": (38.6, -80.6), "WI": (44.6, -89.9), "WY": (43.0, -107.5),
}  # fmt: skip

COUNTRY_CENTROIDS: dict[str, tuple[float, float]] = {
    "US": (39.8, -98.6), "CA": (56.1, -106.3), "MX": (23.6, -102.6), "GB": (54.0, -2.0),
    "DE": (51.2, 10.4), "FR": (46.6, 2.2), "NL": (52.1, 5.3), "ES": (40.4, -3.7),
    "IT": (42.8, 12.6), "AU": (-25.3, 133.8), "JP": (36.2, 138.3),
}  # fmt: skip


def locate(address: dict[str, str]) -> tuple[float, float] | None:
    latitude, longitude = address.get("latitude"), address.get("longitude")
    if latitude not in (None, "") and longitude not in (None, ""):
        return float(latitude), float(longitude)
    country = (address.get("country") or "").upper()
    region = (address.get("region") or "").upper()
    if country == "US" and (point := us_zip_point(address.get("postal_code") or "")):
        return point
    if country == "US" and region in US_STATE_CENTROIDS:
        return US_STATE_CENTROIDS[region]
    return COUNTRY_CENTROIDS.get(country)


@lru_cache(maxsize=8192)
def us_zip_point(postal_code: str) -> tuple[float, float] | None:
    """The ZIP's centre, from its first five digits (ZIP+4 allowed); None if unknown."""
    zip5 = postal_code.strip()[:5]
    if len(zip5) != 5 or not zip5.isdigit():
        return None
    matches = zipcodes.matching(zip5)
    if not matches:
        return None
    return float(matches[0]["lat"]), float(matches[0]["long"])
