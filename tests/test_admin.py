"""The back-office admin: every page loads, and every change goes through a service."""

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.admin.utils import quote
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.urls import reverse

from inventory.models import StockLevel, StockMovement
from orders.models import Order, OrderEvent, OrderHold, Payment
from orders.services import place_hold, place_order, transition
from tests import factories

ADMIN_APPS = {"customers", "inventory", "orders", "core"}
REGISTERED = sorted(
    (model for model in admin.site._registry if model._meta.app_label in ADMIN_APPS),
    key=lambda model: model._meta.label,
)


def place(channel, quantity=2, **extra):
    return place_order(
        channel=channel,
        customer={"email": "grace@example.com", "first_name": "Grace", "last_name": "Hopper"},
        lines=[{"sku": "SKU-A", "quantity": quantity}],
        delivery={
            "method": "ship",
            "service_level": "standard",
            "address": {
                "line1": "1 Main",
                "city": "New York",
                "region": "NY",
                "postal_code": "10001",
                "country": "US",
            },
        },
        payment={"method": "card", "reference": "tok_visa"},
        **extra,
    ).order


def messages_of(response) -> list[tuple[str, str]]:
    return [(message.level_tag, str(message)) for message in get_messages(response.wsgi_request)]


@pytest.fixture
def order(channel, catalogue):
    return place(channel)


@pytest.fixture
def sku_a(catalogue):
    return catalogue[0]


def stock_of(sku, location) -> StockLevel:
    return StockLevel.objects.get(sku=sku, location=location)


def changelist_url(model) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


def change_url(obj) -> str:
    opts = obj._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[quote(obj.pk)])


ADJUST_URL = "/admin/inventory/stocklevel/adjust/"
ORDERS_URL = "/admin/orders/order/"


# --- Every page loads ----------------------------------------------------------------------


def test_every_model_of_the_back_office_apps_is_registered():
    for label in ADMIN_APPS:
        for model in apps.get_app_config(label).get_models():
            assert model in admin.site._registry, f"{model._meta.label} has no admin"


@pytest.fixture
def one_of_everything(staff_user, channel, catalogue, warehouse):
    """At least one row of every registered model, made the way the business makes them."""
    factories.AddressFactory()
    factories.api_key_for(channel)
    order = place(channel, idempotency_key="admin-test-key")
    place_hold(order=order, reason=OrderHold.Reason.FRAUD_REVIEW, note="Check", actor=staff_user)
    supplier = factories.SupplierFactory(code="ACME")
    factories.supplier_item(supplier, catalogue[0])
    factories.reorder_rule(catalogue[0], warehouse)
    factories.sent_purchase_order(supplier, warehouse, [(catalogue[0], 5)], actor=staff_user)
    return order


@pytest.mark.parametrize("model", REGISTERED, ids=lambda model: model._meta.label)
def test_changelist_and_change_page_load(staff_client, one_of_everything, model):
    assert staff_client.get(changelist_url(model)).status_code == 200

    obj = model._default_manager.order_by("pk").first()
    assert obj is not None, f"add a {model._meta.label} to the one_of_everything fixture"
    assert staff_client.get(change_url(obj)).status_code == 200


def test_changelist_search_and_filters_load(staff_client, one_of_everything):
    order = one_of_everything
    queries = {
        ORDERS_URL: {"q": "grace@example.com", "status__exact": "placed", "is_on_hold__exact": "1"},
        "/admin/inventory/stocklevel/": {"q": "SKU-A", "location__type": "warehouse"},
        "/admin/inventory/stockmovement/": {"q": "test", "kind__exact": "receipt"},
        "/admin/orders/orderhold/": {"active": "yes"},
        "/admin/core/outboxmessage/": {"published": "no"},
        "/admin/customers/customer/": {"q": "grace", "tier__exact": "standard"},
    }
    for url, query in queries.items():
        response = staff_client.get(url, query)
        assert response.status_code == 200, url
    response = staff_client.get(ORDERS_URL, queries[ORDERS_URL])
    assert order.number in response.content.decode()


def test_order_page_shows_lines_payments_holds_and_timeline(staff_client, one_of_everything):
    order = one_of_everything
    page = staff_client.get(change_url(order)).content.decode()

    assert "SKU-A" in page
    assert "tok_visa" in page  # the payment inline
    assert "Fraud review" in page  # the hold inline
    assert "Hold placed: Fraud review" in page  # the timeline
    assert 'name="total_amount"' not in page
    assert 'name="status"' not in page


# --- Stock changes through the service -----------------------------------------------------


def test_stock_form_renders_with_the_changelist_button(staff_client, catalogue):
    assert staff_client.get(ADJUST_URL).status_code == 200
    changelist = staff_client.get("/admin/inventory/stocklevel/").content.decode()
    assert ADJUST_URL in changelist


def test_stock_change_page_links_to_the_form_for_its_row(staff_client, sku_a, warehouse):
    level = stock_of(sku_a, warehouse)
    page = staff_client.get(change_url(level)).content.decode()
    assert f"{ADJUST_URL}?sku=SKU-A&amp;location={warehouse.pk}" in page

    response = staff_client.get(ADJUST_URL, {"sku": "SKU-A", "location": warehouse.pk})
    assert response.context["form"]["sku"].value() == "SKU-A"


def test_stock_change_page_links_to_the_rows_movements(staff_client, sku_a, warehouse):
    level = stock_of(sku_a, warehouse)
    query = {"sku__id__exact": sku_a.pk, "location__id__exact": warehouse.pk}

    response = staff_client.get("/admin/inventory/stockmovement/", query)

    assert response.status_code == 200
    assert [m.sku_id for m in response.context["cl"].result_list] == [sku_a.pk]
    assert "sku__id__exact" in staff_client.get(change_url(level)).content.decode()


def test_receiving_stock_adds_on_hand_and_one_movement_by_the_staff_user(
    staff_client, staff_user, sku_a, warehouse
):
    movements_before = StockMovement.objects.count()

    response = staff_client.post(
        ADJUST_URL,
        {
            "sku": "SKU-A",
            "location": warehouse.pk,
            "operation": "receive",
            "quantity": 5,
            "reference": "PO-1001",
        },
    )

    assert response.status_code == 302
    assert response.url == "/admin/inventory/stocklevel/"
    assert stock_of(sku_a, warehouse).on_hand == 15
    assert StockMovement.objects.count() == movements_before + 1
    movement = StockMovement.objects.latest("id")
    assert (movement.kind, movement.quantity, movement.reference) == ("receipt", 5, "PO-1001")
    assert movement.actor == staff_user
    assert ("success", "Received 5 × SKU-A at WH-EAST. On hand is now 15 (0 reserved).") in (
        messages_of(response)
    )


def test_adjusting_below_reserved_is_refused_on_quantity_and_writes_nothing(
    staff_client, order, sku_a, warehouse
):
    assert stock_of(sku_a, warehouse).reserved == 2
    movements_before = StockMovement.objects.count()

    response = staff_client.post(
        ADJUST_URL,
        {
            "sku": "SKU-A",
            "location": warehouse.pk,
            "operation": "adjust",
            "quantity": -9,
            "reason": "Water damage",
        },
    )

    assert response.status_code == 200
    form = response.context["form"]
    assert "below the 2 units reserved" in form.errors["quantity"][0]
    assert form["quantity"].value() == "-9"  # what was typed stays
    assert form["reason"].value() == "Water damage"
    assert StockMovement.objects.count() == movements_before
    assert stock_of(sku_a, warehouse).on_hand == 10


def test_adjusting_without_a_reason_is_refused_on_reason(staff_client, sku_a, warehouse):
    movements_before = StockMovement.objects.count()

    response = staff_client.post(
        ADJUST_URL,
        {"sku": "SKU-A", "location": warehouse.pk, "operation": "adjust", "quantity": -1},
    )

    assert response.status_code == 200
    assert list(response.context["form"].errors) == ["reason"]
    assert StockMovement.objects.count() == movements_before
    assert stock_of(sku_a, warehouse).on_hand == 10


def test_adjusting_down_records_a_signed_movement(staff_client, staff_user, sku_a, warehouse):
    response = staff_client.post(
        ADJUST_URL,
        {
            "sku": "SKU-A",
            "location": warehouse.pk,
            "operation": "adjust",
            "quantity": -3,
            "reason": "Damaged in aisle 4",
        },
    )

    assert response.status_code == 302
    assert stock_of(sku_a, warehouse).on_hand == 7
    movement = StockMovement.objects.latest("id")
    assert (movement.kind, movement.quantity, movement.actor) == ("adjustment", -3, staff_user)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"operation": "receive", "quantity": 0}, "quantity"),
        ({"operation": "receive", "quantity": -2}, "quantity"),
        ({"operation": "adjust", "quantity": 0, "reason": "Count"}, "quantity"),
        ({"operation": "receive", "quantity": 2, "sku": "NOPE"}, "sku"),
        ({"operation": "receive", "quantity": "two"}, "quantity"),
    ],
)
def test_refused_stock_changes_name_the_field(staff_client, sku_a, warehouse, data, field):
    movements_before = StockMovement.objects.count()

    response = staff_client.post(ADJUST_URL, {"sku": "SKU-A", "location": warehouse.pk, **data})

    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert StockMovement.objects.count() == movements_before


def test_a_refused_adjustment_creates_no_stock_row(staff_client, catalogue, store):
    response = staff_client.post(
        ADJUST_URL,
        {
            "sku": "SKU-A",
            "location": store.pk,
            "operation": "adjust",
            "quantity": -1,
            "reason": "x",
        },
    )

    assert "quantity" in response.context["form"].errors
    assert not StockLevel.objects.filter(location=store).exists()


def test_staff_without_change_stocklevel_cannot_use_the_stock_form(client, sku_a, warehouse):
    clerk = factories.UserFactory(username="clerk", is_staff=True)
    clerk.user_permissions.add(Permission.objects.get(codename="view_stocklevel"))
    client.force_login(clerk)

    assert client.get(ADJUST_URL).status_code == 403
    response = client.post(
        ADJUST_URL,
        {"sku": "SKU-A", "location": warehouse.pk, "operation": "receive", "quantity": 5},
    )
    assert response.status_code == 403
    assert stock_of(sku_a, warehouse).on_hand == 10
    assert ADJUST_URL not in client.get("/admin/inventory/stocklevel/").content.decode()


def test_staff_with_change_stocklevel_can_use_the_stock_form(client, catalogue):
    keeper = factories.UserFactory(username="keeper", is_staff=True)
    keeper.user_permissions.add(Permission.objects.get(codename="change_stocklevel"))
    client.force_login(keeper)

    assert client.get(ADJUST_URL).status_code == 200


def test_stock_counters_cannot_be_edited_and_safety_stock_goes_through_the_service(
    staff_client, order, sku_a, warehouse
):
    level = stock_of(sku_a, warehouse)

    response = staff_client.post(
        change_url(level), {"safety_stock": 3, "on_hand": 999, "reserved": 0}
    )

    assert response.status_code == 302
    level.refresh_from_db()
    assert (level.on_hand, level.reserved, level.safety_stock) == (10, 2, 3)
    assert staff_client.get("/admin/inventory/stocklevel/add/").status_code == 403


def test_negative_safety_stock_is_a_form_error(staff_client, sku_a, warehouse):
    level = stock_of(sku_a, warehouse)

    response = staff_client.post(change_url(level), {"safety_stock": -1})

    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    level.refresh_from_db()
    assert level.safety_stock == 0


def location_form(location, **changes) -> dict:
    """The location's change form as the browser posts it, with `changes` typed in."""
    data = {
        "code": location.code,
        "name": location.name,
        "type": location.type,
        "line1": location.line1,
        "city": location.city,
        "region": location.region,
        "postal_code": location.postal_code,
        "country": str(location.country),
        "latitude": str(location.latitude),
        "longitude": str(location.longitude),
        "ships_orders": "on",
        "handling_days": location.handling_days,
        "priority": location.priority,
        "cutoff_time": "14:00:00",
        "working_days": location.working_days,
        "contact_email": "",
        "is_active": "on",
    }
    data.update(changes)
    return data


@pytest.mark.parametrize("days", ["89", "0", "1,2,3", "mon"])
def test_working_days_without_a_weekday_are_a_form_error_on_the_field(
    staff_client, warehouse, days
):
    response = staff_client.post(change_url(warehouse), location_form(warehouse, working_days=days))

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert list(errors) == ["working_days"]
    assert "1 (Monday) to 7 (Sunday)" in errors["working_days"][0]
    warehouse.refresh_from_db()
    assert warehouse.working_days == "12345"


def test_valid_working_days_are_saved_from_the_admin(staff_client, warehouse):
    response = staff_client.post(
        change_url(warehouse), location_form(warehouse, working_days="123456")
    )

    assert response.status_code == 302
    warehouse.refresh_from_db()
    assert warehouse.working_days == "123456"


def test_movements_are_read_only(staff_client, sku_a):
    movement = StockMovement.objects.first()

    response = staff_client.post(change_url(movement), {"quantity": 100, "reason": "edited"})

    assert response.status_code == 403
    movement.refresh_from_db()
    assert movement.quantity == 10
    assert staff_client.get("/admin/inventory/stockmovement/add/").status_code == 403


def test_a_new_channel_key_is_shown_once(staff_client, channel):
    response = staff_client.post(
        "/admin/orders/channelapikey/add/", {"name": "storefront", "channel": channel.pk}
    )

    assert response.status_code == 302
    warnings = [text for level, text in messages_of(response) if level == "warning"]
    assert len(warnings) == 1 and "The API key for storefront is:" in warnings[0]
    assert channel.api_keys.get().name == "storefront"


# --- Order actions -------------------------------------------------------------------------


def run_action(client, action, orders, **extra):
    return client.post(
        ORDERS_URL, {"action": action, "_selected_action": [o.pk for o in orders], **extra}
    )


def test_cancel_action_cancels_releases_stock_and_writes_the_timeline(
    staff_client, staff_user, order, sku_a, warehouse
):
    assert stock_of(sku_a, warehouse).reserved == 2

    response = run_action(staff_client, "cancel_orders", [order])

    assert response.status_code == 302
    order.refresh_from_db()
    assert order.status == Order.Status.CANCELLED
    assert stock_of(sku_a, warehouse).reserved == 0
    event = order.events.get(kind=OrderEvent.Kind.STATUS_CHANGED)
    assert event.actor == staff_user
    assert event.data["note"] == "Cancelled by staff in admin"
    assert order.payments.get().status == Payment.Status.VOIDED
    assert ("success", f"Cancelled {order.number}.") in messages_of(response)


def test_cancel_action_reports_an_order_that_can_no_longer_be_cancelled(
    staff_client, channel, order, sku_a, warehouse
):
    transition(order, Order.Status.RELEASED)
    transition(order, Order.Status.SHIPPED)
    other = place(channel, quantity=1)
    events_before = order.events.count()

    response = run_action(staff_client, "cancel_orders", [order, other])

    order.refresh_from_db()
    assert order.status == Order.Status.SHIPPED
    assert order.events.count() == events_before
    assert stock_of(sku_a, warehouse).reserved == 2  # the shipped order's units stay put
    other.refresh_from_db()
    assert other.status == Order.Status.CANCELLED  # one refusal does not stop the others
    errors = [text for level, text in messages_of(response) if level == "error"]
    assert len(errors) == 1
    assert errors[0].startswith(f"{order.number}: ") and "shipped" in errors[0]
    assert ("success", f"Cancelled {other.number}.") in messages_of(response)


def test_place_hold_action_asks_for_a_reason_then_holds(staff_client, staff_user, order):
    response = run_action(staff_client, "hold_orders", [order])

    assert response.status_code == 200  # the intermediate page
    assert order.number in response.content.decode()
    assert not OrderHold.objects.exists()

    response = run_action(
        staff_client, "hold_orders", [order], apply="yes", reason="address", note="Unit missing"
    )

    assert response.status_code == 302
    order.refresh_from_db()
    assert order.is_on_hold
    hold = order.holds.get()
    assert (hold.reason, hold.note, hold.placed_by) == ("address", "Unit missing", staff_user)
    assert order.events.filter(kind=OrderEvent.Kind.HOLD_PLACED).exists()


def test_place_hold_action_without_a_reason_shows_the_form_again(staff_client, order):
    response = run_action(staff_client, "hold_orders", [order], apply="yes", note="Why?")

    assert response.status_code == 200
    assert "reason" in response.context["form"].errors
    order.refresh_from_db()
    assert not order.is_on_hold
    assert not OrderHold.objects.exists()


def test_place_hold_action_reports_orders_that_cannot_be_held(staff_client, order):
    transition(order, Order.Status.RELEASED)
    transition(order, Order.Status.SHIPPED)

    response = run_action(staff_client, "hold_orders", [order], apply="yes", reason="other")

    assert response.status_code == 302
    assert not OrderHold.objects.exists()
    [(level, text)] = messages_of(response)
    assert level == "error" and text.startswith(f"{order.number}: ")


def test_release_holds_action_clears_the_hold(staff_client, staff_user, order):
    place_hold(order=order, reason=OrderHold.Reason.PAYMENT, actor=staff_user)
    place_hold(order=order, reason=OrderHold.Reason.ADDRESS, actor=staff_user)

    response = run_action(staff_client, "release_holds", [order])

    assert response.status_code == 302
    order.refresh_from_db()
    assert not order.is_on_hold
    assert not order.holds.filter(released_at__isnull=True).exists()
    assert set(order.holds.values_list("released_by", flat=True)) == {staff_user.pk}
    assert ("success", f"Released the holds on {order.number}.") in messages_of(response)


def test_release_holds_on_an_order_without_holds_says_so(staff_client, order):
    response = run_action(staff_client, "release_holds", [order])

    assert ("info", f"No active hold on {order.number}.") in messages_of(response)


# --- The order page is read-only -----------------------------------------------------------


def test_posting_to_the_order_page_changes_nothing(staff_client, order):
    response = staff_client.post(
        change_url(order), {"status": "cancelled", "total_amount": "0.00", "is_on_hold": "on"}
    )

    assert response.status_code == 403
    stored = Order.objects.get(pk=order.pk)
    assert stored.status == Order.Status.PLACED
    assert stored.total_amount == order.total_amount
    assert not stored.is_on_hold


def test_orders_cannot_be_added_or_deleted_in_admin(staff_client, order):
    assert staff_client.get(f"{ORDERS_URL}add/").status_code == 403
    assert staff_client.post(f"{ORDERS_URL}{order.pk}/delete/").status_code == 403
    assert Order.objects.filter(pk=order.pk).exists()
