"""New order: what the desk works out while an agent enters an order. Reads only.

Nothing here decides a rule of its own. Prices, tax and shipping come from orders.pricing,
composed the way `orders.services.place_order` composes them (tax rate of the destination →
`price_lines` → `shipping_price` on the total weight → `order_totals`), so the total on the
screen is the total capture stores (a test holds the two equal). Availability is
`inventory.selectors.availability_by_sku`, delivery options are
`fulfillment.delivery_options.delivery_options`. "Is there enough stock?" is in
`fulfillment.desk.stock_check`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal

from django.db.models import Case, IntegerField, Q, Value, When

from fulfillment.delivery_options import DeliveryOptions, delivery_options
from fulfillment.geo import locate
from inventory.models import SKU, Location
from inventory.selectors import SKUAvailability, availability_by_sku
from oms.core.errors import DomainError
from oms.core.money import Money
from orders.models import Order, SalesChannel, ServiceLevel
from orders.pricing import Totals, order_totals, price_lines, shipping_price, tax_rate_for

# The channel every desk order is placed on (seed_demo creates it).
CALL_CENTER_CHANNEL = "call-center"
# A phone agent picks from a short list; more matches mean the query needs another letter.
SKU_SEARCH_LIMIT = 10


def call_center_channel() -> SalesChannel:
    channel = SalesChannel.objects.filter(code=CALL_CENTER_CHANNEL).first()
    if channel is None:
        raise DomainError(
            f"The {CALL_CENTER_CHANNEL!r} sales channel does not exist; staff create it in the "
            "admin (seed_demo does).",
            code="no_call_center_channel",
        )
    return channel


# --- What the agent has entered ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Delivery:
    """The option chosen on the screen: "ship:<service level>" or "pickup:<location>"."""

    method: str
    code: str

    @classmethod
    def parse(cls, value: str) -> Delivery | None:
        method, _, code = (value or "").partition(":")
        if method in Order.DeliveryMethod.values and code:
            return cls(method, code)
        return None

    @property
    def value(self) -> str:
        return f"{self.method}:{self.code}"

    def as_payload(self, address: dict[str, str]) -> dict[str, object]:
        """The `delivery` argument of place_order."""
        if self.method == Order.DeliveryMethod.SHIP:
            return {"method": self.method, "service_level": self.code, "address": address}
        return {"method": self.method, "location": self.code}


@dataclass(slots=True)
class Draft:
    """The order as typed so far; quantities that are not whole numbers are None."""

    lines: list[tuple[str, int | None]]
    address: dict[str, str]
    delivery: Delivery | None

    def valid_lines(self) -> list[tuple[str, int]]:
        return [(code, quantity) for code, quantity in self.lines if code and quantity]


# --- The quote: lines with availability, delivery options, totals --------------------------


@dataclass(slots=True)
class QuoteLine:
    index: int
    sku_code: str
    quantity: int | None
    sku: SKU | None = None
    availability: SKUAvailability | None = None
    unit_price: Money | None = None
    line_total: Money | None = None
    problem: str = ""

    @property
    def available(self) -> int:
        return self.availability.available if self.availability else 0

    @property
    def short(self) -> bool:
        return bool(self.quantity and not self.problem and self.quantity > self.available)


@dataclass(slots=True)
class Quote:
    currency: str
    lines: list[QuoteLine]
    delivery: Delivery | None
    totals: Totals | None = None
    options: DeliveryOptions | None = None
    # Why no options are shown (no address yet, a line to fix first, ...).
    options_note: str = ""
    # The chosen option by name ("Standard", "Store NYC"), for when it is not offered.
    delivery_name: str = ""
    # Ship services of the channel that cannot send every unit now.
    short_levels: list[OptionChoice] = field(default_factory=list)

    @property
    def has_lines(self) -> bool:
        return bool(self.lines)

    @property
    def nothing_complete(self) -> bool:
        """Options were worked out, and none can send every unit now."""
        return self.options is not None and not (self.options.ship or self.options.pickup)

    @property
    def keeps_unoffered_choice(self) -> bool:
        """The chosen option is not among the options shown: keep it anyway."""
        return bool(self.delivery and self.delivery.value not in {c.value for c in self.choices})

    @property
    def choices(self) -> list[OptionChoice]:
        """The delivery options as radio buttons, the chosen one checked: every option that
        can send every unit, then the ship services that cannot (yet) — choosing one and
        placing the order shows what can be done instead."""
        if not self.options:
            return []
        chosen = self.delivery.value if self.delivery else ""
        return option_choices(self.options, chosen, tuple(self.short_levels))


@dataclass(frozen=True, slots=True)
class OptionChoice:
    value: str  # "ship:<level>" / "pickup:<location>"
    method: str
    name: str
    date: date | None
    price: Money | None = None
    detail: str = ""
    checked: bool = False
    # False: the option exists but cannot send every unit now (placing shows the alternatives).
    complete: bool = True

    @property
    def element_id(self) -> str:
        # Stable across re-renders, so htmx gives the focus back to the same radio.
        return "delivery-" + "".join(c if c.isalnum() else "-" for c in self.value)


def option_choices(
    options: DeliveryOptions, chosen: str = "", short_levels: tuple[OptionChoice, ...] = ()
) -> list[OptionChoice]:
    ship = [
        OptionChoice(
            value=f"ship:{option.service_level}",
            method=Order.DeliveryMethod.SHIP,
            name=option.name,
            date=option.promised_date,
            price=option.price,
            detail=", ".join(option.carriers),
            checked=chosen == f"ship:{option.service_level}",
        )
        for option in options.ship
    ] + [replace(level, checked=chosen == level.value) for level in short_levels]
    pickup = [
        OptionChoice(
            value=f"pickup:{option.location}",
            method=Order.DeliveryMethod.PICKUP,
            name=f"{option.name}, {option.city}",
            date=option.ready_by,
            detail=f"{option.distance_km} km"
            + (" · sent there from another location" if option.by_transfer else ""),
            checked=chosen == f"pickup:{option.location}",
        )
        for option in options.pickup
    ]
    return ship + pickup


def quote(*, channel: SalesChannel, draft: Draft, now=None) -> Quote:
    """Everything the New order screen shows for a draft, in a fixed number of queries."""
    currency = channel.currency
    codes = list(dict.fromkeys(code for code, _ in draft.lines if code))
    skus = {sku.code: sku for sku in SKU.objects.filter(code__in=codes)} if codes else {}
    availability = availability_by_sku(sku_codes=codes)[0] if codes else {}
    lines = []
    for index, (code, quantity) in enumerate(draft.lines):
        line = QuoteLine(index=index, sku_code=code, quantity=quantity)
        line.sku = skus.get(code)
        line.availability = availability.get(code)
        line.problem = _line_problem(line.sku, code, channel)
        if line.sku is not None and not line.problem:
            line.unit_price = Money(line.sku.price_amount, currency)
            if quantity:
                line.line_total = line.unit_price * quantity
        lines.append(line)
    result = Quote(currency=currency, lines=lines, delivery=draft.delivery)

    priceable = [line for line in lines if line.line_total is not None]
    every_line_ready = bool(lines) and len(priceable) == len(lines)
    destination = locate(draft.address) if draft.address.get("country") else None
    if not every_line_ready:
        result.options_note = "Add the SKUs and quantities to see delivery options."
    elif destination is None:
        result.options_note = (
            "Choose or enter an address (a ZIP code is enough) to see delivery options and "
            "pickup stores near the customer."
        )
    else:
        result.options = delivery_options(
            channel=channel,
            lines=[{"sku": line.sku_code, "quantity": line.quantity} for line in lines],
            destination=destination,
            now=now,
        )
        offered = {f"ship:{o.service_level}" for o in result.options.ship} | {
            f"pickup:{o.location}" for o in result.options.pickup
        }
        weight = sum((line.sku.weight_kg * line.quantity for line in lines), start=Decimal("0"))
        result.short_levels = [
            OptionChoice(
                value=f"ship:{level.code}",
                method=Order.DeliveryMethod.SHIP,
                name=level.name,
                date=None,
                price=shipping_price(service_level=level, weight_kg=weight, currency=currency),
                complete=False,
            )
            for level in ServiceLevel.objects.filter(is_active=True, currency=currency)
            if f"ship:{level.code}" not in offered
        ]

    service_level, tax_place, result.delivery_name = _delivery_pricing(draft)
    tax_rate = tax_rate_for(**tax_place) if tax_place else Decimal("0")
    priced = price_lines(
        lines=[(line.index + 1, line.sku, line.quantity) for line in priceable],
        tax_rate=tax_rate,
        currency=currency,
    )
    result.totals = order_totals(
        lines=priced,
        shipping=shipping_price(
            service_level=service_level,
            weight_kg=sum((line.weight_kg for line in priced), start=Decimal("0")),
            currency=currency,
        ),
        currency=currency,
    )
    return result


def _line_problem(sku: SKU | None, code: str, channel: SalesChannel) -> str:
    """The refusals capture would make, said before the agent submits."""
    if sku is None:
        return f"Unknown SKU {code!r}."
    if not sku.is_sellable:
        return f"{code} is not for sale."
    if sku.currency != channel.currency:
        return f"{code} is priced in {sku.currency}; the call center sells in {channel.currency}."
    return ""


def _delivery_pricing(
    draft: Draft,
) -> tuple[ServiceLevel | None, dict[str, str] | None, str]:
    """The service level that prices shipping, the place whose tax applies (as capture takes
    them: a shipment is taxed where it goes, a pickup where the store is), and the option's
    name."""
    delivery = draft.delivery
    if delivery and delivery.method == Order.DeliveryMethod.PICKUP:
        store = (
            Location.objects.filter(code=delivery.code).only("name", "country", "region").first()
        )
        if store is not None:
            return None, {"country": str(store.country), "region": store.region}, store.name
        return None, None, delivery.code
    service_level = None
    if delivery:
        service_level = ServiceLevel.objects.filter(code=delivery.code, is_active=True).first()
    name = service_level.name if service_level else (delivery.code if delivery else "")
    address = draft.address
    if address.get("country"):
        place = {"country": address["country"], "region": address.get("region", "")}
        return service_level, place, name
    return service_level, None, name


# --- Finding SKUs --------------------------------------------------------------------------


@dataclass(slots=True)
class SKUMatch:
    sku: SKU
    availability: SKUAvailability | None

    @property
    def available(self) -> int:
        return self.availability.available if self.availability else 0


def search_skus(query: str, *, channel: SalesChannel) -> list[SKUMatch]:
    """Sellable SKUs whose code or name contains the query: an exact code first, then codes
    that start with it, then the rest by code. Three queries."""
    query = query.strip()
    if not query:
        return []
    skus = list(
        SKU.objects.filter(Q(code__icontains=query) | Q(name__icontains=query))
        .filter(is_sellable=True, currency=channel.currency)
        .annotate(
            rank=Case(
                When(code__iexact=query, then=Value(0)),
                When(code__istartswith=query, then=Value(1)),
                default=Value(2),
                output_field=IntegerField(),
            )
        )
        .order_by("rank", "code")[:SKU_SEARCH_LIMIT]
    )
    availability = availability_by_sku(sku_codes=[sku.code for sku in skus])[0] if skus else {}
    return [SKUMatch(sku, availability.get(sku.code)) for sku in skus]


def exact_sku(query: str, *, channel: SalesChannel) -> SKU | None:
    """The sellable SKU whose code is exactly the query (any case), for Enter in the box."""
    query = query.strip()
    if not query:
        return None
    return SKU.objects.filter(
        code__iexact=query, is_sellable=True, currency=channel.currency
    ).first()
