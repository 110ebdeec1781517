"""Packing slips and shipping labels as PDF (fpdf2): printed at the location, kept with the order.

The standard PDF fonts cover Latin-1 only; other characters are transliterated (é stays,
Ł becomes L) rather than failing the print run.
"""

from __future__ import annotations

import unicodedata
from decimal import Decimal

from django.utils import timezone
from fpdf import FPDF

from fulfillment.models import FulfillmentOrder
from inventory.models import Location

FONT = "Helvetica"
# A 4 × 6 inch label: what thermal label printers at every carrier take.
LABEL_SIZE_MM = (101.6, 152.4)
LABEL_MARGIN_MM = 5
CODE39_CHARACTERS = set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-. $/+%")
# fpdf2 draws a Code 39 character as 3 wide elements (w) and 6 narrow ones (w/3), then a
# narrow gap: 16/3 × w per character.
CODE39_UNITS_PER_CHARACTER = Decimal(16) / 3
MAX_WIDE_BAR_MM = 1.2


def _text(value: object) -> str:
    """What the core fonts can print: Latin-1, with other letters reduced to their base form."""
    text = str(value if value is not None else "")
    text = text.replace("—", "-").replace("–", "-").replace("’", "'").replace("“", '"')
    text = text.replace("”", '"').replace("…", "...")
    if all(ord(char) < 256 for char in text):
        return text
    decomposed = unicodedata.normalize("NFKD", text)
    kept = "".join(char for char in decomposed if ord(char) < 256)
    return unicodedata.normalize("NFKC", kept)


def _fulfillment(fulfillment_order: FulfillmentOrder) -> FulfillmentOrder:
    return FulfillmentOrder.objects.select_related(
        "order__customer",
        "order__pickup_location",
        "order__service_level",
        "location",
        "destination_location",
        "carrier_service__carrier",
    ).get(pk=fulfillment_order.pk)


def _location_address(location: Location) -> list[str]:
    return [
        line
        for line in (
            location.name,
            location.line1,
            " ".join(part for part in (location.postal_code, location.city) if part),
            ", ".join(part for part in (location.region, str(location.country)) if part),
        )
        if line
    ]


def ship_to_lines(fo: FulfillmentOrder) -> list[str]:
    """Where the parcel goes: the customer's address, or the store for pickups and transfers."""
    if fo.kind == FulfillmentOrder.Kind.TRANSFER and fo.destination_location is not None:
        return _location_address(fo.destination_location)
    order = fo.order
    if fo.kind == FulfillmentOrder.Kind.PICKUP or not order.ship_to:
        store = order.pickup_location or fo.location
        customer = order.customer.full_name or order.customer.email
        return [f"Pickup: {customer}", *_location_address(store)]
    address = order.ship_to
    name = address.get("recipient") or order.customer.full_name or order.customer.email
    return [
        line
        for line in (
            name,
            address.get("line1", ""),
            address.get("line2", ""),
            " ".join(p for p in (address.get("postal_code", ""), address.get("city", "")) if p),
            ", ".join(p for p in (address.get("region", ""), address.get("country", "")) if p),
        )
        if line
    ]


def _carrier(fo: FulfillmentOrder):
    """The carrier that took the goods, else the one on the packages, else the plan's."""
    if fo.carrier_id:
        return fo.carrier
    package = fo.packages.select_related("carrier").filter(carrier__isnull=False).first()
    if package is not None:
        return package.carrier
    return fo.carrier_service.carrier if fo.carrier_service_id else None


def _weight_kg(fo: FulfillmentOrder) -> Decimal:
    """The packed weight, or the catalogue weight of the goods before packing."""
    packed = sum((p.weight_kg for p in fo.packages.all()), start=Decimal("0"))
    if packed:
        return packed
    return sum(
        (line.sku.weight_kg * line.quantity for line in fo.lines.select_related("sku")),
        start=Decimal("0"),
    )


def _document(size="A4") -> FPDF:
    pdf = FPDF(format=size, unit="mm")
    pdf.set_creator("OMS")
    pdf.set_creation_date(timezone.now())
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    return pdf


def packing_slip_pdf(fulfillment_order: FulfillmentOrder) -> bytes:
    """What is in the box, for the customer (and the packer's check)."""
    fo = _fulfillment(fulfillment_order)
    order = fo.order
    pdf = _document()
    pdf.set_title(_text(f"Packing slip {order.number} FO-{fo.pk}"))
    width = pdf.epw

    pdf.set_font(FONT, "B", 18)
    pdf.cell(width, 10, "Packing slip", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, "", 10)
    pdf.cell(
        width,
        6,
        _text(f"Order {order.number}  -  FO-{fo.pk}  -  {fo.get_kind_display()}"),
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.cell(
        width,
        6,
        _text(f"Placed {order.placed_at:%Y-%m-%d}  -  printed {timezone.now():%Y-%m-%d %H:%M}"),
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.ln(4)

    top = pdf.get_y()
    half = width / 2
    pdf.set_font(FONT, "B", 10)
    pdf.cell(half, 6, "From", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, "", 10)
    for line in _location_address(fo.location):
        pdf.cell(half, 5, _text(line), new_x="LMARGIN", new_y="NEXT")
    left_bottom = pdf.get_y()
    pdf.set_xy(pdf.l_margin + half, top)
    pdf.set_font(FONT, "B", 10)
    pdf.cell(half, 6, "Ship to", new_x="LEFT", new_y="NEXT")
    pdf.set_font(FONT, "", 10)
    for line in ship_to_lines(fo):
        pdf.cell(half, 5, _text(line), new_x="LEFT", new_y="NEXT")
    pdf.set_xy(pdf.l_margin, max(left_bottom, pdf.get_y()) + 6)

    columns = (("SKU", 0.2), ("Item", 0.5), ("Ordered", 0.1), ("Picked", 0.1), ("Shipped", 0.1))
    pdf.set_font(FONT, "B", 10)
    for title, share in columns:
        pdf.cell(width * share, 7, title, border="B")
    pdf.ln()
    pdf.set_font(FONT, "", 10)
    lines = fo.lines.select_related("sku", "order_line").order_by("pk")
    for line in lines:
        values = (
            line.sku.code,
            line.order_line.name,
            line.quantity,
            line.quantity_picked,
            line.quantity_shipped,
        )
        for (_, share), value in zip(columns, values, strict=True):
            text = _text(value)
            while pdf.get_string_width(text) > width * share - 2 and len(text) > 1:
                text = text[:-1]
            pdf.cell(width * share, 6, text)
        pdf.ln()
    pdf.ln(4)
    carrier = _carrier(fo)
    if carrier is not None or fo.tracking_number:
        pdf.cell(
            width,
            6,
            _text(f"Carrier: {carrier.name if carrier else '-'}    Tracking: {fo.tracking_number}"),
            new_x="LMARGIN",
            new_y="NEXT",
        )
    pdf.cell(
        width,
        6,
        _text(f"Packages: {fo.packages.count()}    Weight: {_weight_kg(fo)} kg"),
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.ln(6)
    pdf.set_font(FONT, "I", 9)
    pdf.multi_cell(
        width,
        5,
        "Something missing or damaged? Contact us with your order number within 30 days.",
    )
    return bytes(pdf.output())


def _code39(text: str) -> str | None:
    """The tracking number as a Code 39 symbol (with start/stop), or None if it cannot be."""
    upper = text.upper()
    if not upper or not set(upper) <= CODE39_CHARACTERS:
        return None
    return f"*{upper}*"


def shipping_label_pdf(fulfillment_order: FulfillmentOrder) -> bytes:
    """A 4 × 6 inch label: from, to, carrier, tracking number (barcode and text), weight."""
    fo = _fulfillment(fulfillment_order)
    order = fo.order
    pdf = _document(LABEL_SIZE_MM)
    pdf.set_margins(LABEL_MARGIN_MM, LABEL_MARGIN_MM, LABEL_MARGIN_MM)
    pdf.set_auto_page_break(auto=False)
    pdf.set_xy(LABEL_MARGIN_MM, LABEL_MARGIN_MM)
    pdf.set_title(_text(f"Label {order.number} FO-{fo.pk}"))
    width = pdf.epw

    pdf.set_font(FONT, "B", 7)
    pdf.cell(width, 4, "FROM", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, "", 8)
    for line in _location_address(fo.location):
        pdf.cell(width, 3.8, _text(line), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.line(LABEL_MARGIN_MM, pdf.get_y(), LABEL_MARGIN_MM + width, pdf.get_y())
    pdf.ln(2)

    pdf.set_font(FONT, "B", 8)
    pdf.cell(width, 5, "SHIP TO", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, "B", 13)
    for line in ship_to_lines(fo):
        pdf.cell(width, 6, _text(line), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.line(LABEL_MARGIN_MM, pdf.get_y(), LABEL_MARGIN_MM + width, pdf.get_y())
    pdf.ln(2)

    carrier = _carrier(fo)
    service = fo.carrier_service.name if fo.carrier_service_id else ""
    pdf.set_font(FONT, "B", 16)
    pdf.cell(
        width, 8, _text(carrier.name if carrier else "Carrier to be assigned"), new_x="LMARGIN"
    )
    pdf.set_y(pdf.get_y() + 8)
    pdf.set_font(FONT, "", 9)
    pdf.cell(
        width,
        5,
        _text(f"{service}  Weight: {_weight_kg(fo)} kg  Packages: {fo.packages.count()}"),
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.ln(3)

    tracking = fo.tracking_number
    symbol = _code39(tracking)
    if symbol is not None:
        wide = min(MAX_WIDE_BAR_MM, width / float(CODE39_UNITS_PER_CHARACTER * len(symbol)))
        pdf.set_fill_color(0)
        pdf.code39(symbol, x=LABEL_MARGIN_MM, y=pdf.get_y(), w=wide, h=22)
        pdf.set_y(pdf.get_y() + 24)
    pdf.set_font(FONT, "B", 15 if len(tracking) <= 22 else 10)
    pdf.cell(
        width,
        8,
        _text(tracking or "NO TRACKING NUMBER YET"),
        align="C",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.ln(2)
    pdf.set_font(FONT, "", 8)
    pdf.cell(width, 4, _text(f"Order {order.number}  FO-{fo.pk}"), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
