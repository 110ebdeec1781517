"""Inputs schemathesis found answered with 500 on PostgreSQL (`make reliability`)."""


def test_a_nul_character_in_a_sku_is_refused_not_a_server_error(channel_client, catalogue):
    response = channel_client.get("/api/v1/availability/", {"sku": "SKU-A\x00"})

    assert response.status_code == 400
    assert "sku" in response.json()["errors"]


def test_an_order_date_filter_with_a_large_utc_offset_is_compared_in_utc(channel_client, db):
    response = channel_client.get("/api/v1/orders/", {"created_after": "2026-01-01T00:00:00+18:32"})

    assert response.status_code == 200


def test_an_order_date_filter_out_of_range_once_in_utc_is_refused(channel_client, db):
    response = channel_client.get(
        "/api/v1/orders/", {"created_before": "0001-01-01T00:00:00+05:00"}
    )

    assert response.status_code == 400
    assert "created_before" in response.json()["errors"]
