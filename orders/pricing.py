"""Prices, tax and shipping, computed on the server from the catalogue (never from the client)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from oms.core import hotpath
from oms.core.money import Money, money_sum
from orders.models import ServiceLevel, TaxRate


@dataclass(frozen=True, slots=True)
class PricedLine:
    line_number: int
    sku_id: int
    sku_code: str
    name: str
    quantity: int
    unit_price: Money
    line_total: Money
    tax: Money
    weight_kg: Decimal


@dataclass(frozen=True, slots=True)
class Totals:
    subtotal: Money
    discount: Money
    tax: Money
    shipping: Money
    total: Money


def tax_rate_for(*, country: str, region: str) -> Decimal:
    """The region's rate if it has one, else the country's, else zero (one query)."""
    # hotpath.fetch: filter(country=…, region__in=…) without the query compiler (every capture)
    rates = {
        rate.region: rate.rate
        for rate in hotpath.fetch(TaxRate, "region", [region or "", ""], country=country)
    }
    if region and region in rates:
        return rates[region]
    return rates.get("", Decimal("0"))


def shipping_price(
    *, service_level: ServiceLevel | None, weight_kg: Decimal, currency: str
) -> Money:
    if service_level is None:  # pickup in store
        return Money.zero(currency)
    return Money(service_level.base_amount + service_level.per_kg_amount * weight_kg, currency)


def price_lines(
    *, lines: list[tuple[int, object, int]], tax_rate: Decimal, currency: str
) -> list[PricedLine]:
    """`lines` are (line_number, sku, quantity); tax is rounded per line so refunds can use it."""
    priced = []
    for line_number, sku, quantity in lines:
        unit_price = Money(sku.price_amount, currency)
        line_total = unit_price * quantity
        priced.append(
            PricedLine(
                line_number=line_number,
                sku_id=sku.pk,
                sku_code=sku.code,
                name=sku.name,
                quantity=quantity,
                unit_price=unit_price,
                line_total=line_total,
                tax=line_total * tax_rate,
                weight_kg=sku.weight_kg * quantity,
            )
        )
    return priced


def order_totals(*, lines: list[PricedLine], shipping: Money, currency: str) -> Totals:
    subtotal = money_sum([line.line_total for line in lines], currency)
    tax = money_sum([line.tax for line in lines], currency)
    discount = Money.zero(currency)
    return Totals(
        subtotal=subtotal,
        discount=discount,
        tax=tax,
        shipping=shipping,
        total=subtotal - discount + tax + shipping,
    )
