"""Jeopardy alerts in the back office: staff see the live ones, filter them, and act on them
through the services; refusals are messages, never error pages."""

import datetime
from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from fulfillment.jeopardy.models import JeopardyAlert, JeopardyDigest
from fulfillment.models import FulfillmentOrder
from fulfillment.sourcing.service import source_order
from orders.models import Order, OrderEvent
from orders.services import place_order
from tests import factories

pytestmark = pytest.mark.django_db

ALERTS_URL = reverse("admin:fulfillment_jeopardyalert_changelist")
Status = JeopardyAlert.Status
# Session and user, the two counts (filtered and total), the page of alerts with their orders,
# channels, locations and owners, and one query per related filter's choices (location,
# channel, owner). None of it grows with the number of alerts.
CHANGELIST_QUERIES = 8


def capture(channel, **overrides) -> Order:
    payload = factories.order_payload(**overrides)
    return place_order(
        channel=channel, **{k: payload[k] for k in ("customer", "lines", "delivery", "payment")}
    ).order


def released_order(channel, **overrides) -> Order:
    order = capture(channel, **overrides)
    source_order(order_id=order.pk)
    order.refresh_from_db()
    return order


def alert_for(order, **fields) -> JeopardyAlert:
    fo = order.fulfillment_orders.order_by("pk").first()
    defaults = {"fulfillment_order": fo, "location": fo.location if fo else None}
    return factories.JeopardyAlertFactory(order=order, **{**defaults, **fields})


def shown(response) -> list[int]:
    return sorted(alert.pk for alert in response.context["cl"].result_list)


def run_action(client, action, alerts, **extra):
    return client.post(
        ALERTS_URL, {"action": action, "_selected_action": [a.pk for a in alerts], **extra}
    )


def messages_of(response) -> list[tuple[str, str]]:
    return [(message.level_tag, str(message)) for message in get_messages(response.wsgi_request)]


@pytest.fixture
def alerts(catalogue, channel, other_channel, warehouse, store, staff_user):
    """Four alerts of different kinds, severities, locations, channels, ages and states."""
    web = released_order(channel, lines=[{"sku": "SKU-C", "quantity": 1}])
    mobile = released_order(other_channel, lines=[{"sku": "SKU-C", "quantity": 1}])
    now = timezone.now()
    return {
        "critical": alert_for(web, severity=90, detected_at=now - datetime.timedelta(minutes=5)),
        "low": alert_for(
            mobile,
            kind="late_shipment",
            severity=10,
            location=store,
            owner=staff_user,
            status=Status.ACKNOWLEDGED,
            detected_at=now - datetime.timedelta(days=3),
        ),
        "medium": alert_for(
            web, kind="stock_vanished", severity=30, detected_at=now - datetime.timedelta(days=9)
        ),
        "resolved": alert_for(web, severity=60, status=Status.RESOLVED, resolution_note="ok"),
    }


# --- The list ------------------------------------------------------------------------------


def test_the_list_shows_live_alerts_unless_asked(staff_client, alerts):
    response = staff_client.get(ALERTS_URL)

    assert response.status_code == 200
    live = sorted(alerts[name].pk for name in ("critical", "low", "medium"))
    assert shown(response) == live
    # Most severe first.
    assert response.context["cl"].result_list[0].pk == alerts["critical"].pk
    page = response.content.decode()
    assert "critical 90" in page and alerts["critical"].order.number in page

    assert shown(staff_client.get(ALERTS_URL, {"status": "resolved"})) == [alerts["resolved"].pk]
    assert len(shown(staff_client.get(ALERTS_URL, {"status": "all"}))) == 4


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"kind__exact": "late_shipment"}, ["low"]),
        ({"severity_band": "critical"}, ["critical"]),
        ({"severity_band": "medium"}, ["medium"]),
        ({"severity_band": "high", "status": "all"}, ["resolved"]),
        ({"age": "hour"}, ["critical"]),
        ({"age": "week"}, ["low"]),
        ({"age": "older"}, ["medium"]),
        ({"status": "acknowledged"}, ["low"]),
    ],
)
def test_filters(staff_client, alerts, query, expected):
    response = staff_client.get(ALERTS_URL, query)

    assert response.status_code == 200
    assert shown(response) == sorted(alerts[name].pk for name in expected)


def test_filters_by_location_channel_owner_and_search_by_order(
    staff_client, alerts, store, other_channel, staff_user
):
    low = alerts["low"]
    for query in (
        {"location__id__exact": store.pk},
        {"order__channel__id__exact": other_channel.pk},
        {"owner__id__exact": staff_user.pk},
        {"q": low.order.number},
    ):
        assert shown(staff_client.get(ALERTS_URL, query)) == [low.pk], query


def test_the_list_costs_the_same_for_one_alert_or_many(
    staff_client, catalogue, channel, django_assert_num_queries
):
    orders = [released_order(channel, lines=[{"sku": "SKU-C", "quantity": 1}]) for _ in range(6)]
    alert_for(orders[0], owner=factories.StaffFactory(username="owner0"))
    with django_assert_num_queries(CHANGELIST_QUERIES):
        assert staff_client.get(ALERTS_URL).status_code == 200

    for number, order in enumerate(orders[1:], start=1):
        alert_for(order, owner=factories.StaffFactory(username=f"owner{number}"))
    with django_assert_num_queries(CHANGELIST_QUERIES):
        response = staff_client.get(ALERTS_URL)
    assert len(shown(response)) == 6


def test_alerts_are_not_added_changed_or_deleted_by_hand(staff_client, alerts):
    alert = alerts["critical"]
    change_url = reverse("admin:fulfillment_jeopardyalert_change", args=[alert.pk])

    assert staff_client.get(reverse("admin:fulfillment_jeopardyalert_add")).status_code == 403
    page = staff_client.get(change_url)
    assert page.status_code == 200  # view only
    assert 'name="_save"' not in page.content.decode()
    assert staff_client.post(change_url, {"status": "resolved"}).status_code == 403
    delete_url = reverse("admin:fulfillment_jeopardyalert_delete", args=[alert.pk])
    assert staff_client.post(delete_url, {"post": "yes"}).status_code == 403
    alert.refresh_from_db()
    assert alert.status == Status.OPEN


def test_digests_are_listed(staff_client, staff_user):
    JeopardyDigest.objects.create(manager=staff_user, day=datetime.date(2026, 3, 2), alert_count=3)

    response = staff_client.get(reverse("admin:fulfillment_jeopardydigest_changelist"))

    assert response.status_code == 200
    assert "staff" in response.content.decode()


# --- Actions -------------------------------------------------------------------------------


def test_acknowledge_action(staff_client, staff_user, alerts):
    alert = alerts["critical"]

    response = run_action(staff_client, "acknowledge", [alert])

    assert response.status_code == 302
    alert.refresh_from_db()
    assert alert.status == Status.ACKNOWLEDGED
    event = alert.order.events.filter(kind=OrderEvent.Kind.JEOPARDY).get()
    assert event.actor == staff_user
    assert messages_of(response) == [("success", f"Acknowledged: #{alert.pk}.")]


def test_assign_action_asks_for_the_owner_then_assigns(staff_client, staff_user, alerts):
    alert = alerts["critical"]
    owner = factories.StaffFactory(username="dispatch")

    response = run_action(staff_client, "assign", [alert])
    assert response.status_code == 200  # the intermediate page
    assert alert.order.number in response.content.decode()

    response = run_action(
        staff_client, "assign", [alert], apply="yes", owner=owner.pk, note="please call"
    )

    assert response.status_code == 302
    alert.refresh_from_db()
    assert (alert.owner, alert.status) == (owner, Status.ACKNOWLEDGED)


def test_resolve_action_needs_a_note(staff_client, alerts):
    alert = alerts["critical"]

    response = run_action(staff_client, "resolve", [alert], apply="yes", note="")
    assert response.status_code == 200
    assert "note" in response.context["form"].errors
    alert.refresh_from_db()
    assert alert.status == Status.OPEN

    response = run_action(staff_client, "resolve", [alert], apply="yes", note="Shipped today.")
    assert response.status_code == 302
    alert.refresh_from_db()
    assert (alert.status, alert.resolution_note) == (Status.RESOLVED, "Shipped today.")


def test_a_refused_action_is_a_message_not_an_error_page(staff_client, alerts):
    alert = alerts["critical"]  # standard is the only service level: nothing is faster

    response = run_action(staff_client, "expedite", [alert], apply="yes", service_level="")

    assert response.status_code == 302
    [(level, text)] = messages_of(response)
    assert level == "error"
    assert text.startswith(f"Alert #{alert.pk} ({alert.order.number}): No service faster")
    alert.refresh_from_db()
    assert alert.status == Status.OPEN


def test_expedite_action(staff_client, alerts, standard_service):
    express = factories.ServiceLevelFactory(
        code="express", name="Express", transit_days=1, base_amount=Decimal("15.00")
    )
    factories.carrier_rate(express, days=1)
    alert = alerts["critical"]

    response = run_action(staff_client, "expedite", [alert])
    assert response.status_code == 200
    response = run_action(
        staff_client, "expedite", [alert], apply="yes", service_level=express.pk, note="VIP"
    )

    assert response.status_code == 302
    alert.order.refresh_from_db()
    assert alert.order.service_level == express
    fulfillment_order = FulfillmentOrder.objects.get(pk=alert.fulfillment_order_id)
    assert fulfillment_order.carrier_service.service_level == express


def test_resource_action_sends_the_order_back_to_sourcing(staff_client, alerts):
    alert = alerts["critical"]

    response = run_action(staff_client, "resource", [alert])

    assert response.status_code == 302
    assert messages_of(response) == [("success", f"Sent back to sourcing: #{alert.pk}.")]
    alert.order.refresh_from_db()
    assert alert.order.status == Order.Status.PLACED
    assert FulfillmentOrder.objects.get(pk=alert.fulfillment_order_id).status == "cancelled"


def test_split_action_refuses_an_order_without_a_backorder(staff_client, alerts):
    alert = alerts["critical"]

    response = run_action(staff_client, "split", [alert])

    assert response.status_code == 302
    [(level, _)] = messages_of(response)
    assert level == "error"


def test_cancel_late_lines_action_shows_the_units_then_cancels(staff_client, alerts):
    alert = alerts["critical"]

    response = run_action(staff_client, "cancel_late_lines", [alert])
    assert response.status_code == 200
    assert "Late units: 1 of line 1" in response.content.decode()

    response = run_action(staff_client, "cancel_late_lines", [alert], apply="yes", note="")

    assert response.status_code == 302
    alert.order.refresh_from_db()
    assert alert.order.status == Order.Status.CANCELLED  # its only unit was late


def test_notify_new_date_action(staff_client, alerts):
    alert = alerts["critical"]
    new_date = timezone.localdate() + datetime.timedelta(days=10)

    response = run_action(
        staff_client, "notify_new_date", [alert], apply="yes", new_date=new_date.isoformat()
    )

    assert response.status_code == 302
    alert.order.refresh_from_db()
    assert alert.order.promised_date == new_date
    event = alert.order.events.filter(kind=OrderEvent.Kind.JEOPARDY).first()
    assert event.data["new_date"] == new_date.isoformat()


def test_one_refusal_stops_no_other(staff_client, alerts):
    live, resolved = alerts["critical"], alerts["resolved"]

    response = staff_client.post(
        f"{ALERTS_URL}?status=all",
        {"action": "resource", "_selected_action": [live.pk, resolved.pk]},
    )

    assert response.status_code == 302
    assert sorted(level for level, _ in messages_of(response)) == ["error", "success"]
    assert FulfillmentOrder.objects.get(pk=live.fulfillment_order_id).status == "cancelled"
    resolved.refresh_from_db()
    assert resolved.status == Status.RESOLVED
