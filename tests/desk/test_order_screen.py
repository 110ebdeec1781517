"""The Order screen: what an agent reads about an order and the changes they may make."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from fulfillment.jeopardy.models import JeopardyAlert
from fulfillment.models import Carrier, FulfillmentOrder
from fulfillment.sourcing.service import source_order
from fulfillment.warehouse import build_pick_lists, confirm_pick, pack, ship
from inventory.models import StockLevel
from orders.models import Order, OrderEvent, OrderHold
from orders.services import place_order
from tests import factories
from tests.desk.html import field_error

pytestmark = pytest.mark.django_db


@pytest.fixture
def place(catalogue, channel, agent):
    """place(lines) places a real order (by the agent, as the desk does)."""

    def make(lines=(("SKU-A", 2), ("SKU-B", 1)), **overrides):
        payload = factories.order_payload(
            lines=[{"sku": sku, "quantity": quantity} for sku, quantity in lines], **overrides
        )
        return place_order(channel=channel, actor=agent, **payload).order

    return make


def url(order, action="", *args) -> str:
    if not action:
        return reverse("desk:order", args=[order.number])
    return reverse(f"desk:order_{action}", args=[order.number, *args])


def text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


def ship_everything(order) -> FulfillmentOrder:
    source_order(order_id=order.pk)
    fo = order.fulfillment_orders.get()
    (pick_list,) = build_pick_lists(
        location=fo.location, strategy="single", fulfillment_orders=[fo]
    )
    confirm_pick(pick_list=pick_list, picked={i.pk: i.quantity for i in pick_list.items.all()})
    pack(fulfillment_order=fo, packages=[{"weight_kg": "1.5"}])
    return ship(fulfillment_order=fo, carrier=None, tracking_number="1Z999")


# --- Reading -------------------------------------------------------------------------------


def test_the_screen_shows_status_lines_payments_and_who_did_what(agent_client, place):
    order = place()
    page = agent_client.get(url(order))

    assert page.status_code == 200
    body = text(page)
    assert f"Order {order.number}" in body and "Placed" in body
    assert "SKU-A" in body and "SKU-B" in body
    assert order.promised_date.strftime("%a %-d %b %Y") in body
    assert "Card" in body and "Authorized" in body and f"{order.total_amount} USD" in body
    assert "Order placed on web" in body and "by Ann Agent" in body  # the timeline, and who
    assert "Not sourced to a location yet." in body


def test_shipments_show_the_carrier_and_a_tracking_link(agent_client, place):
    Carrier.objects.filter(code="parcelco").update(
        name="ParcelCo", tracking_url_template="https://track.example/{tracking_number}"
    )
    order = place()
    ship_everything(order)

    body = text(agent_client.get(url(order)))
    assert "Shipped" in body and "ParcelCo" in body
    assert '<a href="https://track.example/1Z999"' in body
    assert "2 × SKU-A" in body
    # Nothing is left to change on a shipped order: no actions offered.
    for action in ("Cancel the whole order", "Change or cancel", "Change address", "Place a hold"):
        assert action not in body


def test_only_the_actions_the_state_allows_are_offered(agent_client, place, store):
    body = text(agent_client.get(url(place())))
    for action in ("Cancel the whole order", "Change or cancel", "Change address", "Place a hold"):
        assert action in body

    pickup = place(delivery={"method": "pickup", "location": store.code})
    body = text(agent_client.get(url(pickup)))
    assert "Change address" not in body  # collected at the store, not shipped
    assert "Cancel the whole order" in body

    cancelled = place()
    agent_client.post(url(cancelled, "cancel"), {"cancel-reason": "customer called"})
    body = text(agent_client.get(url(cancelled)))
    for action in ("Cancel the whole order", "Change or cancel", "Change address", "Place a hold"):
        assert action not in body


def test_an_agent_without_change_order_reads_but_cannot_act(agent, agent_client, place):
    group = Group.objects.create(name="Read-only agents")
    group.permissions.set(agent.groups.get().permissions.exclude(codename="change_order"))
    agent.groups.set([group])
    order = place()

    body = text(agent_client.get(url(order)))
    assert "Cancel the whole order" not in body and "Place a hold" not in body
    assert agent_client.post(url(order, "cancel"), {}).status_code == 403
    assert agent_client.post(url(order, "hold"), {"hold-reason": "other"}).status_code == 403
    order.refresh_from_db()
    assert order.status == Order.Status.PLACED and not order.is_on_hold


def test_actions_are_posts_and_login_only(agent_client, client, place):
    order = place()
    assert agent_client.get(url(order, "cancel")).status_code == 405
    response = client.post(url(order, "cancel"), {})
    assert response.status_code == 302 and response["Location"].startswith("/desk/login/")
    order.refresh_from_db()
    assert order.status == Order.Status.PLACED


# --- Actions -------------------------------------------------------------------------------


def test_cancelling_the_order_goes_on_the_timeline_and_gives_the_stock_back(
    agent, agent_client, place
):
    order = place()
    response = agent_client.post(url(order, "cancel"), {"cancel-reason": "customer called"})

    assert response.status_code == 302 and response["Location"] == url(order)
    order.refresh_from_db()
    assert order.status == Order.Status.CANCELLED
    event = order.events.filter(kind=OrderEvent.Kind.STATUS_CHANGED).last()
    assert event.actor == agent and "customer called" in event.message
    assert StockLevel.objects.get(sku__code="SKU-A").reserved == 0
    page = agent_client.get(response["Location"])
    assert f"Order {order.number} cancelled." in text(page)
    assert "customer called" in text(page) and "by Ann Agent" in text(page)


def test_cancelling_a_line_and_lowering_a_quantity_go_on_the_timeline(agent_client, place):
    order = place(lines=[("SKU-A", 3), ("SKU-B", 1), ("SKU-C", 2)])
    events = order.events.count()

    response = agent_client.post(
        url(order, "line", 2), {"line-2-quantity": "1", "command": "cancel_line"}
    )
    assert response.status_code == 302
    response = agent_client.post(
        url(order, "line", 1), {"line-1-quantity": "1", "line-1-reason": "too many"}
    )
    assert response.status_code == 302

    lines = {line.line_number: line for line in order.lines.all()}
    assert lines[2].quantity_cancelled == 1 and lines[1].quantity_cancelled == 2
    assert order.events.count() > events
    page = text(agent_client.get(url(order)))
    assert "Line 1 (SKU-A) changed to 1." in page
    assert "Order changed: line 2 (SKU-B) 1 → 0." in page
    assert "line 1 (SKU-A) 3 → 1. Reason: too many" in page
    assert StockLevel.objects.get(sku__code="SKU-A").reserved == 1


def test_cancelling_the_last_line_cancels_the_order(agent_client, place):
    order = place(lines=[("SKU-A", 1)])
    response = agent_client.post(url(order, "line", 1), {"command": "cancel_line"})
    order.refresh_from_db()
    assert order.status == Order.Status.CANCELLED
    assert "the order is cancelled" in text(agent_client.get(response["Location"]))


def test_raising_a_quantity_is_refused_beside_the_field_and_writes_nothing(agent_client, place):
    order = place()
    events = order.events.count()
    page = agent_client.post(url(order, "line", 1), {"line-1-quantity": "5"})

    assert page.status_code == 200
    assert "a change can lower it, not raise it" in field_error(page.content, "line-1-quantity")
    assert 'value="5"' in text(page)  # what was typed is kept
    assert order.events.count() == events
    assert order.lines.get(line_number=1).quantity_cancelled == 0


def test_changing_the_address_goes_on_the_timeline(agent_client, place):
    order = place()
    data = {
        "ship_to-line1": "350 Fifth Avenue",
        "ship_to-city": "New York",
        "ship_to-region": "NY",
        "ship_to-postal_code": "10118",
        "ship_to-country": "US",
        "ship_to-reason": "moved",
    }
    response = agent_client.post(url(order, "address"), data)

    assert response.status_code == 302
    order.refresh_from_db()
    assert order.ship_to["line1"] == "350 Fifth Avenue"
    assert "Ship-to address changed to 350 Fifth Avenue" in text(agent_client.get(url(order)))


def test_an_incomplete_address_is_refused_beside_the_field(agent_client, place):
    order = place()
    before = order.ship_to
    page = agent_client.post(
        url(order, "address"),
        {"ship_to-line1": "350 Fifth Avenue", "ship_to-country": "US", "ship_to-city": ""},
    )
    assert page.status_code == 200
    assert "required" in field_error(page.content, "ship_to-city")
    assert 'value="350 Fifth Avenue"' in text(page)
    order.refresh_from_db()
    assert order.ship_to == before


def test_an_address_nobody_delivers_to_is_said_beside_the_country(agent_client, place):
    order = place()
    page = agent_client.post(
        url(order, "address"),
        {
            "ship_to-line1": "1 Rue de Rivoli",
            "ship_to-city": "Tórshavn",
            "ship_to-postal_code": "100",
            "ship_to-country": "FO",
        },
    )
    assert "We cannot deliver to this place." in field_error(page.content, "ship_to-country")


def test_placing_and_releasing_a_hold_go_on_the_timeline(agent, agent_client, place):
    order = place()
    response = agent_client.post(
        url(order, "hold"), {"hold-reason": "fraud_review", "hold-note": "odd address"}
    )
    assert response.status_code == 302
    order.refresh_from_db()
    hold = OrderHold.objects.get(order=order)
    assert order.is_on_hold and hold.placed_by == agent
    page = text(agent_client.get(url(order)))
    assert "On hold" in page and "Hold placed: Fraud review — odd address" in page

    response = agent_client.post(
        url(order, "hold_release", hold.pk), {f"hold-{hold.pk}-note": "ok"}
    )
    assert response.status_code == 302
    order.refresh_from_db()
    assert not order.is_on_hold
    assert "Hold released: Fraud review — ok" in text(agent_client.get(url(order)))


def test_a_hold_needs_a_known_reason(agent_client, place):
    order = place()
    page = agent_client.post(url(order, "hold"), {"hold-reason": "whim"})
    assert page.status_code == 200
    assert "Select a valid choice" in field_error(page.content, "hold-reason")
    assert not OrderHold.objects.exists()


def test_an_action_the_order_has_moved_past_is_refused_with_a_message(agent_client, place):
    order = place()
    ship_everything(order)
    events = order.events.count()

    page = agent_client.post(url(order, "cancel"), {"cancel-reason": "too late"})
    assert page.status_code == 200
    assert "can no longer be cancelled" in text(page)  # said, though the form is not offered
    order.refresh_from_db()
    assert order.status == Order.Status.SHIPPED and order.events.count() == events


# --- Queries -------------------------------------------------------------------------------


def test_the_screen_asks_the_same_number_of_queries_whatever_the_lines_and_events(
    agent_client, place, django_assert_num_queries
):
    small = place(lines=[("SKU-A", 1)])
    source_order(order_id=small.pk)
    large = place(lines=[("SKU-A", 2), ("SKU-B", 2), ("SKU-C", 2)])
    ship_everything(large)
    agent_client.post(url(large, "hold"), {"hold-reason": "other"})
    for number, owner in enumerate((None, factories.UserFactory(), factories.UserFactory())):
        alert(large, cause_key=f"stalled:{number}", owner=owner)

    # session, user, 2 × permissions; order; lines, payments, events, holds, fulfillment
    # orders, their lines, packages; live jeopardy alerts with their owners
    with django_assert_num_queries(ORDER_SCREEN_QUERIES):
        agent_client.get(url(small))
    with django_assert_num_queries(ORDER_SCREEN_QUERIES):
        agent_client.get(url(large))


ORDER_SCREEN_QUERIES = 13


# --- Jeopardy alerts -----------------------------------------------------------------------


def alert(order, **fields) -> JeopardyAlert:
    values = {
        "kind": JeopardyAlert.Kind.STALLED,
        "stage": "awaiting_sourcing",
        "cause_key": f"stalled:{order.pk}",
        "severity": 40,
        "message": f"Order {order.number} waits for sourcing past its SLA.",
        "detected_at": timezone.now(),
        "due_by": timezone.now() + timedelta(hours=6),
        **fields,
    }
    return JeopardyAlert.objects.create(order=order, **values)


def test_the_agent_sees_the_orders_live_alerts_read_only(agent_client, place, warehouse):
    order = place()
    supervisor = factories.UserFactory(first_name="Sam", last_name="Supervisor")
    due = timezone.now().replace(microsecond=0) + timedelta(days=1)
    alert(
        order,
        kind=JeopardyAlert.Kind.BACKORDER_NO_SUPPLY,
        cause_key="backorder:1",
        severity=80,
        message="No purchase order brings SKU-A before the promise.",
        due_by=due,
        owner=supervisor,
        status=JeopardyAlert.Status.ACKNOWLEDGED,
        location=warehouse,
    )
    alert(order, cause_key="stalled:1", severity=30)
    alert(order, cause_key="stalled:0", status=JeopardyAlert.Status.RESOLVED, message="Old news.")

    page = agent_client.get(url(order))
    body = text(page)
    section = body[body.index('data-testid="alerts"') : body.index('id="lines-heading"')]

    assert "2 open alerts" in section
    rows = re.findall(r'data-testid="alert" data-kind="(\w+)"', section)
    assert rows == ["backorder_no_supply", "stalled"]  # worst first
    assert "Backordered, no supply before the promise" in section
    assert "No purchase order brings SKU-A before the promise." in section
    assert "Critical · 80" in section and "Medium · 30" in section
    assert timezone.localtime(due).strftime("%a %-d %b %Y %H:%M") in section
    assert "Acknowledged" in section and "Sam Supervisor" in section
    assert "Unassigned" in section and "Open" in section
    assert "Old news." not in body  # resolved alerts are history, not the agent's concern
    assert "<form" not in section and "<button" not in section  # nothing to act on here


def test_an_order_without_live_alerts_shows_no_alert_panel(agent_client, place):
    order = place()
    alert(order, status=JeopardyAlert.Status.RESOLVED)
    assert 'data-testid="alerts"' not in text(agent_client.get(url(order)))


def test_someone_who_may_read_orders_but_not_alerts_sees_no_alert_panel(
    agents_group, place, client
):
    order = place()
    alert(order)
    reader = factories.UserFactory(username="reader")
    reader.user_permissions.set(agents_group.permissions.exclude(codename="view_jeopardyalert"))
    client.force_login(reader)

    page = client.get(url(order))

    assert page.status_code == 200
    assert 'data-testid="alerts"' not in text(page)
