"""Where a destination is: ZIP code first, so pickup search finds the stores near a customer."""

from fulfillment.geo import US_STATE_CENTROIDS, locate
from fulfillment.sourcing.rates import distance_km


def test_coordinates_on_the_address_win():
    assert locate(
        {"country": "US", "postal_code": "10001", "latitude": "1.5", "longitude": "2"}
    ) == (
        1.5,
        2.0,
    )


def test_a_us_zip_code_places_the_customer_within_a_few_km():
    midtown = locate({"country": "US", "region": "NY", "postal_code": "10001"})
    empire_state_building = (40.7484, -73.9857)
    assert distance_km(*midtown, *empire_state_building) < 5
    # The state's centre is upstate, far beyond any pickup search radius.
    assert distance_km(*US_STATE_CENTROIDS["NY"], *empire_state_building) > 200


def test_zip_plus_four_uses_its_first_five_digits():
    assert locate({"country": "US", "postal_code": "94105-1234"}) == locate(
        {"country": "US", "postal_code": "94105"}
    )


def test_an_unknown_or_malformed_zip_falls_back_to_the_state_then_the_country():
    assert (
        locate({"country": "US", "region": "NY", "postal_code": "00000"})
        == (US_STATE_CENTROIDS["NY"])
    )
    assert (
        locate({"country": "US", "region": "ca", "postal_code": "ABCDE"})
        == (US_STATE_CENTROIDS["CA"])
    )
    assert locate({"country": "GB", "postal_code": "SW1A 1AA"}) == (54.0, -2.0)
    assert locate({"country": "ZZ"}) is None
