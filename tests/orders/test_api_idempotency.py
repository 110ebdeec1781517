"""Idempotency-Key: a storefront's retry never makes a second order."""

import pytest
from django.db import IntegrityError, transaction

from inventory.models import Reservation, StockLevel
from orders.models import IdempotencyKey, Order
from tests import factories

PROBLEM_JSON = "application/problem+json"


def test_a_retry_with_the_same_key_and_body_returns_the_first_order(
    post_order, catalogue, rows_written
):
    first = post_order(key="checkout-42")
    assert first.status_code == 201, first.json()
    assert "Idempotent-Replayed" not in first
    after_first = rows_written()

    retry = post_order(key="checkout-42")

    assert retry.status_code == 201
    assert retry["Idempotent-Replayed"] == "true"
    assert retry.json()["number"] == first.json()["number"]
    assert retry.json() == first.json()
    assert retry["Location"] == first["Location"]
    assert rows_written() == after_first
    assert Order.objects.count() == 1
    assert Reservation.objects.count() == 2  # one per line, reserved once
    assert dict(StockLevel.objects.values_list("sku__code", "reserved")) == {
        "SKU-A": 2,
        "SKU-B": 1,
        "SKU-C": 0,
    }


def test_the_same_body_with_its_keys_in_another_order_is_still_a_retry(
    post_order, catalogue, rows_written
):
    payload = factories.order_payload()
    first = post_order(payload, key="checkout-42")
    assert first.status_code == 201, first.json()
    after_first = rows_written()

    retry = post_order(dict(reversed(list(payload.items()))), key="checkout-42")

    assert retry.status_code == 201
    assert retry["Idempotent-Replayed"] == "true"
    assert retry.json()["number"] == first.json()["number"]
    assert rows_written() == after_first


def test_the_same_key_with_a_different_body_is_refused(post_order, catalogue, rows_written):
    first = post_order(key="checkout-42")
    assert first.status_code == 201, first.json()
    after_first = rows_written()

    changed = post_order(
        factories.order_payload(lines=[{"sku": "SKU-A", "quantity": 3}]), key="checkout-42"
    )

    assert changed.status_code == 422
    assert changed["Content-Type"] == PROBLEM_JSON
    assert changed.json()["code"] == "idempotency_key_reused"
    assert rows_written() == after_first
    assert Order.objects.get().lines.get(sku_code="SKU-A").quantity == 2


def test_another_channel_using_the_same_key_gets_its_own_order(
    post_order, other_channel_client, catalogue, channel, other_channel
):
    ours = post_order(key="checkout-42")
    theirs = post_order(client=other_channel_client, key="checkout-42")

    assert ours.status_code == 201, ours.json()
    assert theirs.status_code == 201, theirs.json()
    assert "Idempotent-Replayed" not in theirs
    assert theirs.json()["number"] != ours.json()["number"]
    assert theirs.json()["channel"] == "mobile"
    assert sorted(
        IdempotencyKey.objects.filter(key="checkout-42").values_list("channel__code", flat=True)
    ) == ["mobile", "web"]
    assert Order.objects.count() == 2
    assert StockLevel.objects.get(sku__code="SKU-A").reserved == 4


def test_a_key_is_stored_once_per_channel(post_order, catalogue, channel, other_channel):
    assert post_order(key="checkout-42").status_code == 201
    claim = IdempotencyKey.objects.get(channel=channel, key="checkout-42")
    assert claim.order.number is not None

    with pytest.raises(IntegrityError), transaction.atomic():
        IdempotencyKey.objects.create(channel=channel, key="checkout-42", request_hash="x")
    IdempotencyKey.objects.create(channel=other_channel, key="checkout-42", request_hash="x")


def test_a_refused_attempt_does_not_use_up_its_key(post_order, catalogue, rows_written):
    before = rows_written()
    too_many = post_order(
        factories.order_payload(lines=[{"sku": "SKU-A", "quantity": 11}]), key="checkout-42"
    )
    assert too_many.status_code == 409
    assert rows_written() == before

    corrected = post_order(
        factories.order_payload(lines=[{"sku": "SKU-A", "quantity": 10}]), key="checkout-42"
    )

    assert corrected.status_code == 201, corrected.json()
    assert "Idempotent-Replayed" not in corrected
    assert StockLevel.objects.get(sku__code="SKU-A").reserved == 10
