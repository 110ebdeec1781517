"""Order capture through the storefront API: the server prices, reserves and refuses."""

from decimal import Decimal

import pytest

from inventory.models import SKU, Reservation, StockLevel
from orders.models import Order, Payment
from tests import factories

ORDERS_URL = "/api/v1/orders/"
PROBLEM_JSON = "application/problem+json"


def reserved_at(location) -> dict[str, int]:
    return dict(StockLevel.objects.filter(location=location).values_list("sku__code", "reserved"))


# --- Pricing -------------------------------------------------------------------------------


def test_order_is_priced_from_the_catalogue_and_reserves_stock(
    post_order, catalogue, warehouse, channel
):
    response = post_order()

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "placed"
    assert body["channel"] == "web"
    assert body["currency"] == "USD"
    assert response["Location"] == f"{ORDERS_URL}{body['number']}/"
    # SKU-A 10.00 × 2 and SKU-B 25.50 × 1, New York tax 8% per line.
    assert [
        (line["sku"], line["quantity"], line["unit_price"], line["line_total"], line["tax"])
        for line in body["lines"]
    ] == [("SKU-A", 2, "10.00", "20.00", "1.60"), ("SKU-B", 1, "25.50", "25.50", "2.04")]
    # Standard shipping: 5.00 + 1.00/kg × (3 units × 0.5 kg).
    assert {k: body[k] for k in ("subtotal", "discount", "tax", "shipping", "total")} == {
        "subtotal": "45.50",
        "discount": "0.00",
        "tax": "3.64",
        "shipping": "6.50",
        "total": "55.64",
    }

    order = Order.objects.get(number=body["number"])
    assert order.channel == channel
    assert order.customer.email == "grace@example.com"
    assert (
        order.subtotal_amount,
        order.tax_amount,
        order.shipping_amount,
        order.total_amount,
    ) == (Decimal("45.50"), Decimal("3.64"), Decimal("6.50"), Decimal("55.64"))
    assert list(
        order.lines.values_list("sku_code", "quantity", "unit_price_amount", "line_total_amount")
    ) == [
        ("SKU-A", 2, Decimal("10.00"), Decimal("20.00")),
        ("SKU-B", 1, Decimal("25.50"), Decimal("25.50")),
    ]
    payment = order.payments.get()
    assert (payment.status, payment.amount) == (Payment.Status.AUTHORIZED, Decimal("55.64"))
    assert reserved_at(warehouse) == {"SKU-A": 2, "SKU-B": 1, "SKU-C": 0}


def test_totals_that_binary_floats_cannot_add_up_are_still_accepted(post_order, catalogue):
    # 29.49 + 2.36 + 6.00 is 37.849999… in floating point; money must compare exactly.
    response = post_order(
        factories.order_payload(
            lines=[{"sku": "SKU-B", "quantity": 1}, {"sku": "SKU-C", "quantity": 1}]
        )
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert {k: body[k] for k in ("subtotal", "tax", "shipping", "total")} == {
        "subtotal": "29.49",
        "tax": "2.36",
        "shipping": "6.00",
        "total": "37.85",
    }
    assert Order.objects.get(number=body["number"]).total_amount == Decimal("37.85")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        pytest.param(
            lambda p: p["lines"][0].update(unit_price="0.01"), "lines[0].unit_price", id="price"
        ),
        pytest.param(lambda p: p.update(total="0.01"), "total", id="total"),
        pytest.param(lambda p: p.update(status="shipped"), "status", id="status"),
    ],
)
def test_prices_totals_and_status_sent_by_the_client_are_refused(
    post_order, catalogue, rows_written, change, field
):
    payload = factories.order_payload()
    change(payload)
    before = rows_written()

    response = post_order(payload)

    assert response.status_code == 400
    assert response["Content-Type"] == PROBLEM_JSON
    body = response.json()
    assert list(body["errors"]) == [field]
    assert field.rsplit(".", 1)[-1] in body["errors"][field][0]  # the message names the field
    assert rows_written() == before


# --- Bad input writes nothing --------------------------------------------------------------


def _stop_selling_sku_a(payload):
    SKU.objects.filter(code="SKU-A").update(is_sellable=False)


def _drop(*path):
    def change(payload):
        *parents, last = path
        for key in parents:
            payload = payload[key]
        del payload[last]

    return change


def _pickup_at(code):
    return lambda p: p.update(delivery={"method": "pickup", "location": code})


# Each case edits the payload in place, or returns the request to send instead.
BAD_INPUT = [
    pytest.param(lambda p: p["lines"][0].update(sku="NOPE"), "lines[0].sku", id="unknown-sku"),
    pytest.param(_stop_selling_sku_a, "lines[0].sku", id="unsellable-sku"),
    pytest.param(lambda p: p["lines"][0].update(quantity=0), "lines[0].quantity", id="qty-0"),
    pytest.param(lambda p: p["lines"][0].update(quantity=-1), "lines[0].quantity", id="qty-neg"),
    pytest.param(
        lambda p: p["lines"][0].update(quantity=1_000_000), "lines[0].quantity", id="qty-huge"
    ),
    pytest.param(lambda p: p["lines"][0].update(quantity=1.5), "lines[0].quantity", id="qty-1.5"),
    pytest.param(lambda p: p["lines"][0].update(quantity="abc"), "lines[0].quantity", id="qty-abc"),
    pytest.param(lambda p: p.update(lines=[]), "lines", id="no-lines"),
    pytest.param(
        lambda p: p["customer"].update(email="not-an-email"), "customer.email", id="bad-email"
    ),
    pytest.param(_drop("delivery", "address"), "delivery.address", id="ship-without-address"),
    pytest.param(
        _drop("delivery", "address", "city"),
        "delivery.address.city",
        id="address-without-city",
    ),
    pytest.param(
        lambda p: p["delivery"]["address"].update(country="XX"),
        "delivery.address.country",
        id="bad-country",
    ),
    pytest.param(_pickup_at("NOWHERE"), "delivery.location", id="unknown-pickup-location"),
    pytest.param(_pickup_at("WH-EAST"), "delivery.location", id="location-without-pickup"),
    pytest.param(
        lambda p: p["delivery"].update(service_level="teleport"),
        "delivery.service_level",
        id="unknown-service-level",
    ),
    pytest.param(
        lambda p: p["payment"].update(method="bitcoin"), "payment.method", id="unknown-payment"
    ),
    pytest.param(_drop("payment", "reference"), "payment.reference", id="card-without-token"),
    pytest.param(
        lambda p: {"data": b'{"lines": [', "content_type": "application/json"},
        None,
        id="malformed-json",
    ),
    pytest.param(
        lambda p: {"data": p, "format": "json", "key": None}, "Idempotency-Key", id="no-key"
    ),
    pytest.param(
        lambda p: p["lines"][1].update(quantity=0), "lines[1].quantity", id="second-line-bad"
    ),
]


@pytest.mark.parametrize(("prepare", "field"), BAD_INPUT)
def test_bad_input_is_refused_and_writes_nothing(
    channel_client, catalogue, warehouse, rows_written, prepare, field
):
    payload = factories.order_payload()
    request = prepare(payload) or {"data": payload, "format": "json"}
    key = request.pop("key", "attempt-1")
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    before = rows_written()

    response = channel_client.post(ORDERS_URL, **request, **headers)

    assert response.status_code == 400
    assert response["Content-Type"] == PROBLEM_JSON
    body = response.json()
    assert body["status"] == 400
    if field is None:  # not JSON at all: there is no field to name
        assert body["code"] == "parse_error"
    else:
        assert field in body["errors"], body
    assert rows_written() == before


# --- Stock ---------------------------------------------------------------------------------


def test_more_than_on_hand_is_refused_with_what_is_available(post_order, catalogue, rows_written):
    before = rows_written()

    response = post_order(factories.order_payload(lines=[{"sku": "SKU-A", "quantity": 11}]))

    assert response.status_code == 409
    assert response["Content-Type"] == PROBLEM_JSON
    body = response.json()
    assert body["code"] == "insufficient_stock"
    assert body["lines"] == [
        {"field": "lines[0].quantity", "sku": "SKU-A", "requested": 11, "available": 10}
    ]
    assert rows_written() == before


def test_a_backordering_channel_takes_the_order_and_backorders_the_shortfall(
    post_order, catalogue, channel, warehouse
):
    channel.allows_backorders = True
    channel.save(update_fields=["allows_backorders"])

    response = post_order(factories.order_payload(lines=[{"sku": "SKU-A", "quantity": 11}]))

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "backordered"
    assert [(line["quantity"], line["quantity_backordered"]) for line in body["lines"]] == [(11, 1)]
    order = Order.objects.get(number=body["number"])
    assert order.status == Order.Status.BACKORDERED
    assert order.lines.get().quantity_backordered == 1
    assert reserved_at(warehouse)["SKU-A"] == 10
    assert list(Reservation.objects.values_list("location__code", "quantity")) == [("WH-EAST", 10)]


def test_pickup_order_reserves_at_the_store_and_charges_no_shipping(
    post_order, catalogue, warehouse, store
):
    sku_a, sku_b, _ = catalogue
    factories.stock(sku_a, store, 5)
    factories.stock(sku_b, store, 5)

    response = post_order(
        factories.order_payload(delivery={"method": "pickup", "location": "STORE-NYC"})
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["delivery"] == {"method": "pickup", "location": "STORE-NYC"}
    assert body["shipping"] == "0.00"
    assert body["subtotal"] == "45.50"
    assert Decimal(body["total"]) == Decimal(body["subtotal"]) + Decimal(body["tax"])
    order = Order.objects.get(number=body["number"])
    assert order.pickup_location == store
    assert order.shipping_amount == Decimal("0.00")
    assert reserved_at(store) == {"SKU-A": 2, "SKU-B": 1}
    assert reserved_at(warehouse) == {"SKU-A": 0, "SKU-B": 0, "SKU-C": 0}


# --- Payment -------------------------------------------------------------------------------


def test_declined_payment_is_refused_and_writes_nothing(post_order, catalogue, rows_written):
    before = rows_written()

    response = post_order(
        factories.order_payload(payment={"method": "card", "reference": "tok_decline_card"})
    )

    assert response.status_code == 402
    assert response["Content-Type"] == PROBLEM_JSON
    assert response.json()["code"] == "payment_declined"
    assert rows_written() == before


# --- External ids --------------------------------------------------------------------------


def test_external_id_is_unique_per_channel(
    post_order, other_channel_client, catalogue, channel, other_channel, rows_written
):
    first = post_order(factories.order_payload(external_id="SHOP-1001"), key="first")
    assert first.status_code == 201, first.json()
    before = rows_written()

    again = post_order(factories.order_payload(external_id="SHOP-1001"), key="second")

    assert again.status_code == 409
    assert again["Content-Type"] == PROBLEM_JSON
    assert again.json()["code"] == "duplicate_external_id"
    assert rows_written() == before

    elsewhere = post_order(
        factories.order_payload(external_id="SHOP-1001"), client=other_channel_client, key="second"
    )

    assert elsewhere.status_code == 201, elsewhere.json()
    assert elsewhere.json()["external_id"] == "SHOP-1001"
    assert sorted(
        Order.objects.filter(external_id="SHOP-1001").values_list("channel__code", flat=True)
    ) == ["mobile", "web"]
