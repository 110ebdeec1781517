"""Drop-ship: lines sourced to a vendor become a purchase order emailed to the vendor; the
vendor's shipment confirmation — through the service, the vendor API or the admin — completes
them (stock, reservation, payment, order status, customer email)."""

import pytest
from django.contrib.auth.models import Permission
from django.core.cache import cache
from django.db.models import Sum
from django.urls import reverse
from rest_framework.test import APIClient

from fulfillment.changes import change_order_lines
from fulfillment.models import Carrier, FulfillmentOrder
from fulfillment.notifications import (
    notify_customer,
    send_purchase_order,
    send_purchase_order_cancellation,
)
from fulfillment.services import create_fulfillment_orders, release_fulfillment
from fulfillment.sourcing.service import source_order
from fulfillment.warehouse import (
    build_pick_lists,
    confirm_pick,
    confirm_pickup,
    confirm_vendor_shipment,
    pack,
    receive_transfer,
    ship,
)
from inventory.models import Location, Reservation, StockLevel, StockMovement
from oms.core import outbox
from oms.core import tasks as core_tasks
from oms.core.errors import DomainError, IllegalTransition, InvalidInput
from orders.models import Order, OrderEvent, Payment
from orders.services import cancel_order, place_hold, place_order
from tests.factories import LocationFactory, SKUFactory, UserFactory, order_payload, stock

pytestmark = pytest.mark.django_db

Status = FulfillmentOrder.Status
PROBLEM_JSON = "application/problem+json"


# --- Set-up --------------------------------------------------------------------------------


@pytest.fixture
def emails(monkeypatch, mailoutbox):
    """Emails (to customers and vendors) go out as soon as the change commits."""
    original = core_tasks._enqueue
    inline = {notify_customer.name, send_purchase_order.name, send_purchase_order_cancellation.name}

    def enqueue(task, *args):
        if task.name in inline:
            task(*args)
        else:
            original(task, *args)

    monkeypatch.setattr(core_tasks, "_enqueue", enqueue)
    return mailoutbox


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def vendor(db):
    return LocationFactory(
        code="VENDOR-1",
        name="Gadget Works",
        type=Location.Type.DROPSHIP_VENDOR,
        priority=1,
        contact_email="orders@gadget.example",
    )


@pytest.fixture
def gadget(vendor):
    sku = SKUFactory(code="SKU-VENDOR", name="Gadget", price_amount="40.00")
    stock(sku, vendor, 3)
    return sku


@pytest.fixture
def dhl(db):
    return Carrier.objects.create(
        code="dhl", name="DHL", tracking_url_template="https://dhl.example/t/{tracking_number}"
    )


def capture(channel, lines):
    payload = order_payload(lines=lines)
    return place_order(
        channel=channel, **{k: payload[k] for k in ("customer", "lines", "delivery", "payment")}
    ).order


def source(order) -> list[FulfillmentOrder]:
    create_fulfillment_orders(order=order)
    release_fulfillment(order=order)
    order.refresh_from_db()
    return list(order.fulfillment_orders.order_by("pk"))


def dropship_order(channel, quantity=2, committed=None):
    order = capture(channel, [{"sku": "SKU-VENDOR", "quantity": quantity}])
    if committed is None:
        (fo,) = source(order)
    else:
        with committed():
            (fo,) = source(order)
    fo.refresh_from_db()
    return order, fo


def on_hand(sku, location) -> int:
    return StockLevel.objects.get(sku=sku, location=location).on_hand


def movements_total(sku, location) -> int:
    return (
        StockMovement.objects.filter(sku=sku, location=location).aggregate(t=Sum("quantity"))["t"]
        or 0
    )


def captured(order):
    return order.payments.filter(status=Payment.Status.CAPTURED).aggregate(t=Sum("amount"))["t"]


# --- The vendor request --------------------------------------------------------------------


def test_a_dropship_line_becomes_a_purchase_order_emailed_to_the_vendor(
    gadget, vendor, standard_service, ny_tax, channel, emails, committed
):
    order, fo = dropship_order(channel, committed=committed)

    assert (fo.kind, fo.location, fo.status) == (FulfillmentOrder.Kind.DROPSHIP, vendor, "released")
    assert fo.purchase_order_number == f"DS-{fo.pk:06d}"
    (mail,) = emails
    assert mail.to == ["orders@gadget.example"]
    assert fo.purchase_order_number in mail.subject
    for text in (fo.purchase_order_number, order.number, "2 × SKU-VENDOR", "1 Liberty Plaza"):
        assert text in mail.body
    timeline = list(
        order.events.filter(data__purchase_order=fo.purchase_order_number).values_list(
            "message", flat=True
        )
    )
    assert len(timeline) == 2
    assert "issued to VENDOR-1" in timeline[0]
    assert "Emailed purchase order" in timeline[1]

    # The email task may run again (a retried message): the vendor gets one email.
    assert send_purchase_order(fo.pk) is False
    assert len(emails) == 1


def test_a_vendor_without_an_email_address_is_flagged_on_the_timeline(
    gadget, vendor, standard_service, ny_tax, channel, emails, committed
):
    Location.objects.filter(pk=vendor.pk).update(contact_email="")  # test set-up

    order, fo = dropship_order(channel, committed=committed)

    assert emails == []
    assert fo.purchase_order_number
    assert order.events.filter(message__contains="send it by hand").exists()


def test_a_held_order_sends_no_purchase_order(
    gadget, vendor, standard_service, ny_tax, channel, dhl, emails, committed
):
    order = capture(channel, [{"sku": "SKU-VENDOR", "quantity": 1}])
    place_hold(order=order, reason="fraud_review")
    with committed():
        (fo,) = source(order)

    assert (fo.status, fo.purchase_order_number) == (Status.PENDING, "")
    assert emails == []
    with pytest.raises(IllegalTransition):
        confirm_vendor_shipment(fulfillment_order=fo, carrier=dhl, tracking_number="V1")
    assert not StockMovement.objects.filter(kind="shipment").exists()


def test_a_vendors_part_of_a_pickup_order_goes_to_the_pickup_store(
    gadget, vendor, store, standard_service, ny_tax, channel, dhl, emails, committed
):
    payload = order_payload(
        lines=[{"sku": "SKU-VENDOR", "quantity": 1}],
        delivery={"method": "pickup", "location": store.code},
    )
    order = place_order(
        channel=channel, **{k: payload[k] for k in ("customer", "lines", "delivery", "payment")}
    ).order
    with committed():
        (fo,) = source(order)

    assert (fo.kind, fo.location, fo.destination_location) == (
        FulfillmentOrder.Kind.DROPSHIP,
        vendor,
        store,
    )
    (po_mail,) = emails
    assert "Ship to our store" in po_mail.body and store.code in po_mail.body

    with committed():
        confirm_vendor_shipment(fulfillment_order=fo, carrier=dhl, tracking_number="V1")
    # On its way to the store: the vendor's stock left, nobody is charged or told yet.
    assert StockMovement.objects.get(location=vendor, quantity__lt=0).kind == "transfer_out"
    assert on_hand(gadget, vendor) == 2 == movements_total(gadget, vendor)
    order.refresh_from_db()
    assert (order.status, captured(order)) == (Order.Status.RELEASED, None)

    with committed():
        receive_transfer(fulfillment_order=fo)

    level = StockLevel.objects.get(sku=gadget, location=store)
    assert (level.on_hand, level.reserved) == (1, 1) == (movements_total(gadget, store), 1)
    order.refresh_from_db()
    assert order.status == Order.Status.READY_FOR_PICKUP
    assert len([m for m in emails if "ready for pickup" in m.subject]) == 1
    confirm_pickup(fulfillment_order=order.fulfillment_orders.get(kind="pickup"))
    order.refresh_from_db()
    assert order.status == Order.Status.COMPLETED
    assert captured(order) == order.total_amount


# --- A cancelled purchase order ------------------------------------------------------------


def relay(committed):
    """Deliver the outbox as the relay does, twice: a cancellation from the orders app is
    relayed (`order.cancelled`) and then its fulfillment side (`fulfillment.cancelled`)."""
    for _ in range(2):
        with committed():
            outbox.relay_pending()


def cancellations(mailbox):
    return [mail for mail in mailbox if "is cancelled" in mail.subject]


def test_cancelling_the_order_tells_the_vendor_not_to_ship_its_purchase_order(
    gadget, vendor, standard_service, ny_tax, channel, emails, committed
):
    order, fo = dropship_order(channel, committed=committed)
    number = fo.purchase_order_number
    relay(committed)  # what capture and release left in the outbox
    assert len(emails) == 1  # the purchase order

    with committed():
        cancel_order(order=order, reason="customer changed their mind")
    relay(committed)

    fo.refresh_from_db()
    assert fo.status == Status.CANCELLED
    (mail,) = cancellations(emails)
    assert mail.to == ["orders@gadget.example"]
    assert number in mail.subject
    for text in (number, order.number, "do not ship", "2 × SKU-VENDOR"):
        assert text in mail.body
    assert order.events.filter(
        message=f"Emailed the cancellation of purchase order {number} to VENDOR-1 "
        "(orders@gadget.example).",
        data__purchase_order=number,
    ).exists()

    # The relay or the task running again tells the vendor nothing more.
    relay(committed)
    assert send_purchase_order_cancellation(fo.pk) is False
    assert len(cancellations(emails)) == 1
    assert order.events.filter(data__key=f"purchase_order_cancelled:{fo.pk}").count() == 1


def test_an_order_change_cancels_the_old_purchase_order_and_issues_a_new_one(
    gadget, vendor, standard_service, ny_tax, channel, emails, committed
):
    order, fo = dropship_order(channel, quantity=2, committed=committed)
    old_number = fo.purchase_order_number

    with committed():
        change_order_lines(order.pk, [{"line_number": 1, "quantity": 1}], reason="one is enough")
    relay(committed)
    with committed():
        (replacement,) = source_order(order_id=order.pk)

    (cancelled,) = cancellations(emails)
    assert old_number in cancelled.subject and "2 × SKU-VENDOR" in cancelled.body
    replacement.refresh_from_db()
    assert replacement.purchase_order_number not in ("", old_number)
    new_mail = emails[-1]
    assert replacement.purchase_order_number in new_mail.subject
    assert "1 × SKU-VENDOR" in new_mail.body
    assert [m.subject for m in emails] == [
        f"Purchase order {old_number}: please ship to our customer",
        f"Purchase order {old_number} is cancelled: please do not ship",
        f"Purchase order {replacement.purchase_order_number}: please ship to our customer",
    ]


def test_a_purchase_order_cancelled_before_it_was_emailed_is_never_sent(
    gadget, vendor, standard_service, ny_tax, channel, emails, committed
):
    order, fo = dropship_order(channel)  # its email task has not run yet

    with committed():
        cancel_order(order=order)
    relay(committed)

    assert send_purchase_order(fo.pk) is False  # the late task: nothing to ship
    (mail,) = emails
    assert fo.purchase_order_number in mail.subject and "is cancelled" in mail.subject


def test_a_vendor_without_an_email_is_told_by_hand_of_the_cancellation(
    gadget, vendor, standard_service, ny_tax, channel, emails, committed
):
    Location.objects.filter(pk=vendor.pk).update(contact_email="")  # test set-up
    order, fo = dropship_order(channel, committed=committed)

    with committed():
        cancel_order(order=order)
    relay(committed)
    relay(committed)

    assert emails == []
    (flag,) = order.events.filter(data__key=f"purchase_order_cancelled:{fo.pk}")
    assert "tell the vendor by hand" in flag.message
    assert fo.purchase_order_number in flag.message


def test_a_purchase_order_never_issued_needs_no_cancellation(
    gadget, vendor, standard_service, ny_tax, channel, emails, committed
):
    order = capture(channel, [{"sku": "SKU-VENDOR", "quantity": 1}])
    place_hold(order=order, reason="fraud_review")
    (fo,) = source(order)  # held: pending, no purchase order number

    with committed():
        cancel_order(order=order)
    relay(committed)

    fo.refresh_from_db()
    assert (fo.status, fo.purchase_order_number) == (Status.CANCELLED, "")
    assert emails == []
    assert send_purchase_order_cancellation(fo.pk) is False


# --- The vendor's confirmation -------------------------------------------------------------


def test_the_vendors_confirmation_completes_the_lines(
    gadget, vendor, standard_service, ny_tax, channel, dhl, emails, committed
):
    order, fo = dropship_order(channel, committed=committed)
    reservation = Reservation.objects.get(order_line__order=order)

    with committed():
        confirm_vendor_shipment(fulfillment_order=fo, carrier=dhl, tracking_number=" DHL-77 ")

    fo.refresh_from_db()
    assert (fo.status, fo.carrier, fo.tracking_number) == (Status.SHIPPED, dhl, "DHL-77")
    assert on_hand(gadget, vendor) == 1 == movements_total(gadget, vendor)
    assert StockMovement.objects.get(location=vendor, kind="shipment").quantity == -2
    reservation.refresh_from_db()
    assert reservation.state == Reservation.State.FULFILLED
    assert StockLevel.objects.get(sku=gadget, location=vendor).reserved == 0
    order.refresh_from_db()
    assert order.status == Order.Status.SHIPPED
    assert captured(order) == order.total_amount
    (customer_mail,) = [m for m in emails if m.to == ["grace@example.com"]]
    assert "on its way" in customer_mail.subject
    assert "DHL" in customer_mail.body and "https://dhl.example/t/DHL-77" in customer_mail.body


def test_a_vendor_shipping_part_of_an_order_ships_it_partially(
    catalogue, gadget, vendor, warehouse, channel, dhl
):
    order = capture(
        channel, [{"sku": "SKU-A", "quantity": 1}, {"sku": "SKU-VENDOR", "quantity": 1}]
    )
    fos = {fo.kind: fo for fo in source(order)}
    assert set(fos) == {FulfillmentOrder.Kind.SHIP, FulfillmentOrder.Kind.DROPSHIP}

    confirm_vendor_shipment(
        fulfillment_order=fos[FulfillmentOrder.Kind.DROPSHIP], carrier=dhl, tracking_number="V1"
    )

    order.refresh_from_db()
    assert order.status == Order.Status.PARTIALLY_SHIPPED
    vendor_line = order.lines.get(sku=gadget)
    assert captured(order) == (
        vendor_line.line_total_amount + vendor_line.tax_amount + order.shipping_amount
    )

    warehouse_fo = fos[FulfillmentOrder.Kind.SHIP]
    (pick_list,) = build_pick_lists(
        location=warehouse, strategy="single", fulfillment_orders=[warehouse_fo]
    )
    confirm_pick(pick_list=pick_list, picked={i.pk: i.quantity for i in pick_list.items.all()})
    pack(fulfillment_order=warehouse_fo, packages=[{"weight_kg": 1}])
    ship(fulfillment_order=warehouse_fo, carrier=dhl, tracking_number="W1")

    order.refresh_from_db()
    assert order.status == Order.Status.SHIPPED
    assert captured(order) == order.total_amount


def test_confirming_again_is_harmless_but_another_tracking_number_is_refused(
    gadget, vendor, standard_service, ny_tax, channel, dhl
):
    order, fo = dropship_order(channel)
    confirm_vendor_shipment(fulfillment_order=fo, carrier=dhl, tracking_number="V1")
    confirm_vendor_shipment(fulfillment_order=fo, carrier=dhl, tracking_number="V1")

    with pytest.raises(DomainError) as error:
        confirm_vendor_shipment(fulfillment_order=fo, carrier=dhl, tracking_number="V2")

    assert error.value.code == "already_shipped"
    assert StockMovement.objects.filter(kind="shipment").count() == 1
    assert order.payments.filter(status=Payment.Status.CAPTURED).count() == 1
    fo.refresh_from_db()
    assert fo.tracking_number == "V1"


@pytest.mark.parametrize(
    ("carrier", "tracking", "field"),
    [
        (None, "V1", "carrier"),
        ("dhl", "  ", "tracking_number"),
        ("dhl", "X" * 101, "tracking_number"),
    ],
)
def test_a_confirmation_without_carrier_or_tracking_is_refused_naming_the_field(
    gadget, vendor, standard_service, ny_tax, channel, dhl, carrier, tracking, field
):
    _, fo = dropship_order(channel)

    with pytest.raises(InvalidInput) as error:
        confirm_vendor_shipment(
            fulfillment_order=fo, carrier=dhl if carrier else None, tracking_number=tracking
        )

    assert field in error.value.errors
    fo.refresh_from_db()
    assert fo.status == Status.RELEASED
    assert on_hand(gadget, vendor) == 3


def test_only_a_dropship_fulfillment_takes_a_vendor_confirmation(
    catalogue, warehouse, channel, dhl
):
    order = capture(channel, [{"sku": "SKU-A", "quantity": 1}])
    (fo,) = source(order)

    with pytest.raises(DomainError) as error:
        confirm_vendor_shipment(fulfillment_order=fo, carrier=dhl, tracking_number="V1")

    assert error.value.code == "not_dropship"


# --- The vendor API ------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def fresh_throttle_budget():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def vendor_system(db):
    """The vendor's system signs in like a location's: staff with the one permission."""
    user = UserFactory(username="gadget-works", is_staff=True)
    user.user_permissions.add(
        Permission.objects.get(
            content_type__app_label="fulfillment", codename="change_fulfillmentorder"
        )
    )
    client = APIClient()
    client.force_login(user)
    return client


def shipment_url(vendor_code, number):
    return f"/api/v1/vendors/{vendor_code}/purchase-orders/{number}/shipment/"


def test_the_vendor_confirms_over_http(
    gadget, vendor, standard_service, ny_tax, channel, dhl, vendor_system
):
    order, fo = dropship_order(channel)
    body = {"carrier": "dhl", "tracking_number": "DHL-1"}

    response = vendor_system.post(
        shipment_url("VENDOR-1", fo.purchase_order_number), body, format="json"
    )
    again = vendor_system.post(
        shipment_url("VENDOR-1", fo.purchase_order_number), body, format="json"
    )

    assert response.status_code == 200
    data = response.json()
    assert (data["status"], data["carrier"], data["tracking_number"]) == (
        "shipped",
        "dhl",
        "DHL-1",
    )
    assert data["purchase_order_number"] == fo.purchase_order_number
    assert [line["quantity_shipped"] for line in data["lines"]] == [2]
    assert (again.status_code, again.json()) == (200, data)
    assert StockMovement.objects.filter(kind="shipment").count() == 1
    order.refresh_from_db()
    assert order.status == Order.Status.SHIPPED


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"tracking_number": "DHL-1"}, "carrier"),
        ({"carrier": "dhl"}, "tracking_number"),
        ({"carrier": "pigeon", "tracking_number": "DHL-1"}, "carrier"),
        ({"carrier": "dhl", "tracking_number": "DHL-1", "status": "shipped"}, "status"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_writes_nothing(
    gadget, vendor, standard_service, ny_tax, channel, dhl, vendor_system, body, field
):
    _, fo = dropship_order(channel)

    response = vendor_system.post(
        shipment_url("VENDOR-1", fo.purchase_order_number), body, format="json"
    )

    assert response.status_code == 400
    assert response["Content-Type"] == PROBLEM_JSON
    assert field in response.json()["errors"]
    fo.refresh_from_db()
    assert fo.status == Status.RELEASED
    assert not StockMovement.objects.filter(kind="shipment").exists()


def test_a_conflicting_or_wrong_state_confirmation_is_a_409(
    gadget, vendor, standard_service, ny_tax, channel, dhl, vendor_system
):
    _, fo = dropship_order(channel)
    url = shipment_url("VENDOR-1", fo.purchase_order_number)
    vendor_system.post(url, {"carrier": "dhl", "tracking_number": "DHL-1"}, format="json")

    conflict = vendor_system.post(
        url, {"carrier": "dhl", "tracking_number": "DHL-2"}, format="json"
    )

    assert conflict.status_code == 409
    assert conflict.json()["code"] == "already_shipped"

    cancelled, cancelled_fo = dropship_order(channel, quantity=1)
    cancel_order(order=cancelled)
    refused = vendor_system.post(
        shipment_url("VENDOR-1", cancelled_fo.purchase_order_number),
        {"carrier": "dhl", "tracking_number": "DHL-3"},
        format="json",
    )
    assert refused.status_code == 409
    assert StockMovement.objects.filter(kind="shipment").count() == 1


def test_another_vendor_or_an_unknown_order_is_not_found(
    gadget, vendor, standard_service, ny_tax, channel, dhl, vendor_system
):
    _, fo = dropship_order(channel)
    LocationFactory(code="VENDOR-2", type=Location.Type.DROPSHIP_VENDOR)
    body = {"carrier": "dhl", "tracking_number": "DHL-1"}

    assert (
        vendor_system.post(
            shipment_url("VENDOR-2", fo.purchase_order_number), body, format="json"
        ).status_code
        == 404
    )
    assert (
        vendor_system.post(shipment_url("VENDOR-1", "DS-999999"), body, format="json").status_code
        == 404
    )
    assert not StockMovement.objects.filter(kind="shipment").exists()


def test_a_channel_key_or_a_clerk_cannot_confirm(
    gadget, vendor, standard_service, ny_tax, channel, dhl, channel_client
):
    _, fo = dropship_order(channel)
    url = shipment_url("VENDOR-1", fo.purchase_order_number)
    body = {"carrier": "dhl", "tracking_number": "DHL-1"}
    clerk = APIClient()
    clerk.force_login(UserFactory(username="clerk", is_staff=True))

    assert channel_client.post(url, body, format="json").status_code == 401
    assert clerk.post(url, body, format="json").status_code == 403
    fo.refresh_from_db()
    assert fo.status == Status.RELEASED


# --- The admin -----------------------------------------------------------------------------


def admin_url(fo):
    return reverse("admin:fulfillment_fulfillmentorder_vendor_shipment", args=[fo.pk])


def test_the_fulfillment_page_links_to_the_confirmation_form(
    gadget, vendor, standard_service, ny_tax, channel, staff_client
):
    _, fo = dropship_order(channel)

    page = staff_client.get(reverse("admin:fulfillment_fulfillmentorder_change", args=[fo.pk]))
    form = staff_client.get(admin_url(fo))

    assert page.status_code == 200
    assert fo.purchase_order_number in page.content.decode()
    assert admin_url(fo) in page.content.decode()
    assert form.status_code == 200
    assert 'name="tracking_number"' in form.content.decode()


def test_staff_confirm_the_vendors_shipment_in_the_admin(
    gadget, vendor, standard_service, ny_tax, channel, dhl, staff_client, staff_user
):
    order, fo = dropship_order(channel)

    response = staff_client.post(admin_url(fo), {"carrier": dhl.pk, "tracking_number": "DHL-9"})

    assert response.status_code == 302
    assert response["Location"] == reverse(
        "admin:fulfillment_fulfillmentorder_change", args=[fo.pk]
    )
    fo.refresh_from_db()
    assert (fo.status, fo.carrier, fo.tracking_number) == (Status.SHIPPED, dhl, "DHL-9")
    order.refresh_from_db()
    assert order.status == Order.Status.SHIPPED
    assert on_hand(gadget, vendor) == 1 == movements_total(gadget, vendor)
    assert order.events.filter(kind=OrderEvent.Kind.FULFILLMENT, actor=staff_user).exists()


def test_the_admin_form_shows_what_is_wrong(
    gadget, vendor, standard_service, ny_tax, channel, dhl, staff_client
):
    _, fo = dropship_order(channel)

    missing = staff_client.post(admin_url(fo), {"carrier": dhl.pk, "tracking_number": ""})
    assert missing.status_code == 200
    assert missing.context["form"].errors["tracking_number"]

    staff_client.post(admin_url(fo), {"carrier": dhl.pk, "tracking_number": "DHL-9"})
    conflict = staff_client.post(admin_url(fo), {"carrier": dhl.pk, "tracking_number": "DHL-10"})
    assert conflict.status_code == 200
    (message,) = conflict.context["form"].non_field_errors()
    assert "already shipped" in message
    assert "already shipped" in conflict.content.decode()
    fo.refresh_from_db()
    assert fo.tracking_number == "DHL-9"


def test_staff_without_the_permission_cannot_confirm(
    gadget, vendor, standard_service, ny_tax, channel, dhl, client
):
    _, fo = dropship_order(channel)
    viewer = UserFactory(username="viewer", is_staff=True)
    viewer.user_permissions.add(
        Permission.objects.get(
            content_type__app_label="fulfillment", codename="view_fulfillmentorder"
        )
    )
    client.force_login(viewer)

    response = client.post(admin_url(fo), {"carrier": dhl.pk, "tracking_number": "DHL-9"})

    assert response.status_code == 403
    fo.refresh_from_db()
    assert fo.status == Status.RELEASED
