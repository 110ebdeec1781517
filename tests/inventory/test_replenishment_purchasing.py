"""Purchase orders: approve and send (emailed once), cancel, receive (admin and API), and what
receiving does for backordered orders; promise dates for backorders from incoming supply."""

import datetime

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from fulfillment.sourcing.service import source_order
from fulfillment.tasks import orders_needing_sourcing
from inventory.models import PurchaseOrder, StockLevel, StockMovement
from inventory.replenishment.purchasing import (
    ReceiptLine,
    approve_and_send,
    cancel_purchase_order,
    create_purchase_order,
    receive_purchase_order,
)
from inventory.tasks import email_purchase_order
from oms.core import tasks as core_tasks
from oms.core.errors import IllegalTransition, InvalidInput
from oms.core.models import OutboxMessage
from oms.core.tasks import relay_outbox
from orders.models import Order
from orders.services import place_order
from tests.factories import (
    SalesChannelFactory,
    SKUFactory,
    SupplierFactory,
    api_key_for,
    order_payload,
    sent_purchase_order,
    stock,
    supplier_item,
)

pytestmark = pytest.mark.django_db
PROBLEM_JSON = "application/problem+json"


@pytest.fixture
def acme(db):
    return SupplierFactory(code="ACME", lead_time_days=5, contact_email="orders@acme.test")


@pytest.fixture
def sku(db):
    return SKUFactory(code="SKU-A")


@pytest.fixture
def emails(monkeypatch, mailoutbox):
    """The supplier email goes out as soon as the approval commits."""
    original = core_tasks._enqueue

    def enqueue(task, *args):
        if task.name == email_purchase_order.name:
            task(*args)
        else:
            original(task, *args)

    monkeypatch.setattr(core_tasks, "_enqueue", enqueue)
    return mailoutbox


def draft(supplier, destination, lines, **fields):
    return create_purchase_order(
        supplier=supplier,
        destination=destination,
        expected_date=timezone.localdate() + datetime.timedelta(days=5),
        lines=[{"sku": item, "quantity": quantity} for item, quantity in lines],
        **fields,
    )


def on_hand(sku, location) -> int:
    return StockLevel.objects.get(sku=sku, location=location).on_hand


# --- Approve, send, cancel ---------------------------------------------------------------------


def test_approving_sends_and_emails_the_supplier_once(
    acme, sku, warehouse, staff_user, emails, django_capture_on_commit_callbacks
):
    supplier_item(acme, sku, cost="3.50")
    purchase_order = draft(acme, warehouse, [(sku, 24)])
    with django_capture_on_commit_callbacks(execute=True):
        approve_and_send(purchase_order=purchase_order, actor=staff_user)
    with django_capture_on_commit_callbacks(execute=True):
        approve_and_send(purchase_order=purchase_order, actor=staff_user)  # a double click
    assert email_purchase_order(purchase_order.pk) is False  # a redelivered task

    purchase_order.refresh_from_db()
    assert purchase_order.status == PurchaseOrder.Status.SENT
    assert purchase_order.approved_by == staff_user
    assert purchase_order.sent_at and purchase_order.emailed_at
    (mail,) = emails
    assert mail.to == ["orders@acme.test"]
    assert mail.subject == f"Purchase order {purchase_order.number}"
    assert "24 × SKU-A (your ACME-SKU-A)" in mail.body
    assert "at 3.50" in mail.body and "Total: 84.00 USD" in mail.body
    assert purchase_order.expected_date.isoformat() in mail.body


def test_an_order_below_the_supplier_minimum_is_refused_until_staff_add_to_it(
    acme, sku, warehouse, staff_user
):
    acme.minimum_order_amount = 100
    acme.save()
    purchase_order = draft(acme, warehouse, [(sku, 10)])  # 10 × 4.00, the SKU's own cost
    with pytest.raises(InvalidInput) as refused:
        approve_and_send(purchase_order=purchase_order, actor=staff_user)
    assert "below ACME's minimum order of 100" in refused.value.errors["supplier"][0]
    purchase_order.refresh_from_db()
    assert purchase_order.status == PurchaseOrder.Status.DRAFT

    purchase_order.lines.update(quantity_ordered=25)
    approve_and_send(purchase_order=purchase_order, actor=staff_user)
    purchase_order.refresh_from_db()
    assert purchase_order.status == PurchaseOrder.Status.SENT


def test_cancel_a_sent_order_but_not_a_received_one(acme, sku, warehouse):
    purchase_order = sent_purchase_order(acme, warehouse, [(sku, 5)])
    cancel_purchase_order(purchase_order=purchase_order)
    cancel_purchase_order(purchase_order=purchase_order)  # twice is harmless
    purchase_order.refresh_from_db()
    assert purchase_order.status == PurchaseOrder.Status.CANCELLED
    with pytest.raises(IllegalTransition):
        approve_and_send(purchase_order=purchase_order, actor=None)

    received = sent_purchase_order(acme, warehouse, [(sku, 5)])
    receive_purchase_order(purchase_order=received, lines=[ReceiptLine("SKU-A", 5)])
    with pytest.raises(IllegalTransition):
        cancel_purchase_order(purchase_order=received)


# --- Receiving ---------------------------------------------------------------------------------


def test_receiving_adds_stock_through_movements_under_then_complete(acme, sku, warehouse):
    other = SKUFactory(code="SKU-B")
    purchase_order = sent_purchase_order(acme, warehouse, [(sku, 10), (other, 4)])

    receive_purchase_order(purchase_order=purchase_order, lines=[ReceiptLine("SKU-A", 6)])
    purchase_order.refresh_from_db()
    assert purchase_order.status == PurchaseOrder.Status.PARTIALLY_RECEIVED
    assert on_hand(sku, warehouse) == 6
    movement = StockMovement.objects.get(sku=sku, location=warehouse)
    assert (movement.kind, movement.quantity, movement.reference) == (
        "receipt",
        6,
        purchase_order.number,
    )

    receive_purchase_order(
        purchase_order=purchase_order,
        lines=[ReceiptLine("SKU-A", 4), ReceiptLine("SKU-B", 4)],
    )
    purchase_order.refresh_from_db()
    assert purchase_order.status == PurchaseOrder.Status.RECEIVED
    assert purchase_order.received_at is not None
    assert (on_hand(sku, warehouse), on_hand(other, warehouse)) == (10, 4)
    assert list(purchase_order.lines.values_list("quantity_received", flat=True)) == [10, 4]
    assert OutboxMessage.objects.filter(topic="stock.received").count() == 3


def test_a_short_delivery_can_be_closed(acme, sku, warehouse):
    purchase_order = sent_purchase_order(acme, warehouse, [(sku, 10)])
    receive_purchase_order(
        purchase_order=purchase_order, lines=[ReceiptLine("SKU-A", 7)], close=True
    )
    purchase_order.refresh_from_db()
    assert purchase_order.status == PurchaseOrder.Status.RECEIVED
    assert on_hand(sku, warehouse) == 7


def test_over_receipt_within_the_allowance_is_taken_beyond_it_refused(
    acme, sku, warehouse, settings
):
    settings.PO_OVER_RECEIPT_PERCENT = 10
    purchase_order = sent_purchase_order(acme, warehouse, [(sku, 20)])
    with pytest.raises(InvalidInput) as refused:
        receive_purchase_order(purchase_order=purchase_order, lines=[ReceiptLine("SKU-A", 23)])
    assert "10% over-receipt allowance (at most 22)" in refused.value.errors["lines[0].quantity"][0]
    assert not StockMovement.objects.exists()  # nothing written

    receive_purchase_order(purchase_order=purchase_order, lines=[ReceiptLine("SKU-A", 22)])
    purchase_order.refresh_from_db()
    assert purchase_order.status == PurchaseOrder.Status.RECEIVED
    assert on_hand(sku, warehouse) == 22


def test_receiving_a_sku_not_on_the_order_or_a_draft_is_refused(acme, sku, warehouse):
    SKUFactory(code="SKU-X")
    purchase_order = sent_purchase_order(acme, warehouse, [(sku, 5)])
    with pytest.raises(InvalidInput) as refused:
        receive_purchase_order(purchase_order=purchase_order, lines=[ReceiptLine("SKU-X", 1)])
    assert "lines[0].sku" in refused.value.errors
    with pytest.raises(IllegalTransition):
        receive_purchase_order(
            purchase_order=draft(acme, warehouse, [(sku, 1)]), lines=[ReceiptLine("SKU-A", 1)]
        )


def test_the_same_receipt_key_books_once(acme, sku, warehouse):
    purchase_order = sent_purchase_order(acme, warehouse, [(sku, 10)])
    for _ in range(2):
        receive_purchase_order(
            purchase_order=purchase_order, lines=[ReceiptLine("SKU-A", 4)], receipt_key="DN-1"
        )
    assert on_hand(sku, warehouse) == 4


# --- Backorders: promised from supply, filled on receipt ---------------------------------------


@pytest.fixture
def backorder_channel(db):
    return SalesChannelFactory(code="call-center", allows_backorders=True)


def capture(channel, **overrides):
    payload = order_payload(**overrides)
    return place_order(
        channel=channel, **{k: payload[k] for k in ("customer", "lines", "delivery", "payment")}
    ).order


def test_receiving_a_purchase_order_fills_a_backorder_promised_from_it(
    acme,
    sku,
    warehouse,
    standard_service,
    ny_tax,
    backorder_channel,
    django_capture_on_commit_callbacks,
):
    stock(sku, warehouse, 2)
    monday = datetime.date(2030, 1, 7)
    purchase_order = sent_purchase_order(acme, warehouse, [(sku, 10)], expected_date=monday)
    order = capture(backorder_channel, lines=[{"sku": "SKU-A", "quantity": 5}])
    source_order(order_id=order.pk)
    line = order.lines.get()
    assert line.quantity_backordered == 3
    # Arrives Monday, put away that day, handled Tuesday → leaves Wednesday (1 handling day),
    # then 3 carrier days: Thursday, Friday, Monday.
    assert line.supply_date == datetime.date(2030, 1, 14)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {api_key_for(backorder_channel)}")
    shown = client.get(f"/api/v1/orders/{order.number}/").json()
    assert shown["lines"][0]["promised_date"] == "2030-01-14"

    with django_capture_on_commit_callbacks(execute=True):
        receive_purchase_order(purchase_order=purchase_order, lines=[ReceiptLine("SKU-A", 10)])
    assert on_hand(sku, warehouse) == 12
    with django_capture_on_commit_callbacks(execute=True):
        relay_outbox()  # fulfillment's subscriber hears stock.received for the SKU
    assert orders_needing_sourcing(sku_id=sku.pk) == [order.pk]
    source_order(order_id=order.pk)  # as the worker runs the re-sourcing it enqueued

    order.refresh_from_db()
    line.refresh_from_db()
    assert order.status == Order.Status.RELEASED
    assert line.quantity_backordered == 0
    shown = client.get(f"/api/v1/orders/{order.number}/").json()
    assert shown["lines"][0]["promised_date"] == order.promised_date.isoformat()
    assert StockLevel.objects.get(sku=sku, location=warehouse).reserved == 5


def test_a_later_backorder_waits_behind_an_earlier_one_for_the_same_supply(
    acme, sku, warehouse, standard_service, ny_tax, backorder_channel
):
    first_week, second_week = datetime.date(2030, 1, 7), datetime.date(2030, 1, 14)
    sent_purchase_order(acme, warehouse, [(sku, 4)], expected_date=first_week)
    sent_purchase_order(acme, warehouse, [(sku, 4)], expected_date=second_week)
    earlier = capture(backorder_channel, lines=[{"sku": "SKU-A", "quantity": 3}])
    later = capture(backorder_channel, lines=[{"sku": "SKU-A", "quantity": 3}])
    for order in (earlier, later):
        source_order(order_id=order.pk)
    assert earlier.lines.get().supply_date == datetime.date(2030, 1, 14)
    assert later.lines.get().supply_date == datetime.date(2030, 1, 21)  # units 4–6 of 8


def test_no_supply_no_date(sku, warehouse, standard_service, ny_tax, backorder_channel):
    stock(sku, warehouse, 1)
    order = capture(backorder_channel, lines=[{"sku": "SKU-A", "quantity": 3}])
    source_order(order_id=order.pk)
    assert order.lines.get().supply_date is None


# --- Drafts typed in by staff --------------------------------------------------------------


def test_a_draft_typed_in_is_numbered_from_its_key(acme, warehouse):
    from inventory.replenishment.purchasing import save_draft_purchase_order

    draft = PurchaseOrder(
        supplier=acme, destination=warehouse, expected_date=datetime.date(2026, 12, 1)
    )
    save_draft_purchase_order(purchase_order=draft, created_by="staff")

    draft.refresh_from_db()
    assert draft.number == f"PO-{draft.pk:06d}"
    assert (draft.status, draft.created_by) == ("draft", "staff")


def test_a_sent_purchase_order_cannot_be_edited_as_a_draft(acme, warehouse, sku):
    from inventory.replenishment.purchasing import save_draft_purchase_order

    sent = sent_purchase_order(acme, warehouse, [(sku, 10)])
    edited = PurchaseOrder.objects.get(pk=sent.pk)
    edited.expected_date = datetime.date(2030, 1, 1)

    with pytest.raises(IllegalTransition, match="only a draft"):
        save_draft_purchase_order(purchase_order=edited, created_by="staff")

    assert PurchaseOrder.objects.get(pk=sent.pk).expected_date == sent.expected_date
