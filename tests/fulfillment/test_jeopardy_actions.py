"""What staff do about a jeopardy alert, through the services: acknowledge, assign, resolve,
re-source, expedite, split, cancel the late lines, tell the customer a new date.

Each action is on the order's timeline (a `jeopardy` event with the actor), is harmless to
repeat, and refuses clearly when there is nothing it can do — writing nothing then.
"""

import datetime
import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Sum

from fulfillment.jeopardy import fixes, services
from fulfillment.jeopardy.models import JeopardyAlert
from fulfillment.models import FulfillmentOrder, SourcingRuleSet
from fulfillment.notifications import notify_customer
from fulfillment.sourcing.service import source_order
from fulfillment.warehouse import build_pick_lists, confirm_pick, pack, ship
from inventory.models import Reservation, StockLevel
from inventory.services import set_safety_stock
from oms.core import tasks as core_tasks
from oms.core.errors import DomainError, IllegalTransition, InvalidInput
from orders.models import Order, OrderEvent
from orders.services import place_order
from tests import factories

pytestmark = pytest.mark.django_db

Status = JeopardyAlert.Status
FOStatus = FulfillmentOrder.Status
# A Monday morning, before the 14:00 cut-off: promises are easy to check by hand.
MONDAY = datetime.datetime(2026, 3, 2, 10, 0, tzinfo=datetime.UTC)


# --- Set-up --------------------------------------------------------------------------------


@pytest.fixture
def clock(monkeypatch):
    """Every service reads this time: `clock.now = …` moves it."""
    from django.utils import timezone

    class Clock:
        now = MONDAY

    monkeypatch.setattr(timezone, "now", lambda: Clock.now)
    return Clock


@pytest.fixture
def emails(monkeypatch, mailoutbox):
    """Customer emails go as soon as the action commits; other tasks go to the broker."""
    original = core_tasks._enqueue

    def enqueue(task, *args):
        if task.name == notify_customer.name:
            task(*args)
        else:
            original(task, *args)

    monkeypatch.setattr(core_tasks, "_enqueue", enqueue)
    return mailoutbox


@pytest.fixture
def express(standard_service):
    """A faster service level (one day in transit) with its own carrier service."""
    level = factories.ServiceLevelFactory(
        code="express", name="Express", transit_days=1, base_amount=Decimal("15.00")
    )
    factories.carrier_rate(level, base="12.00", days=1)
    return level


@pytest.fixture
def west(catalogue):
    """A second warehouse holding the same SKUs, ranked after WH-EAST."""
    location = factories.LocationFactory(code="WH-WEST", priority=20)
    for sku in catalogue:
        factories.stock(sku, location, 10)
    return location


def capture(channel, **overrides) -> Order:
    payload = factories.order_payload(**overrides)
    return place_order(
        channel=channel, **{k: payload[k] for k in ("customer", "lines", "delivery", "payment")}
    ).order


def released_order(channel, **overrides) -> Order:
    """Captured and sourced: one released fulfillment order at WH-EAST (A×2, B×1)."""
    order = capture(channel, **overrides)
    source_order(order_id=order.pk)
    order.refresh_from_db()
    assert order.status == Order.Status.RELEASED
    return order


def alert_for(order, **fields) -> JeopardyAlert:
    fo = order.fulfillment_orders.order_by("pk").first()
    defaults = {"fulfillment_order": fo, "location": fo.location if fo else None}
    return factories.JeopardyAlertFactory(order=order, **{**defaults, **fields})


def jeopardy_events(order) -> list[OrderEvent]:
    return list(order.events.filter(kind=OrderEvent.Kind.JEOPARDY).order_by("id"))


def actions(order) -> list[str]:
    return [event.data["action"] for event in jeopardy_events(order)]


def backorder_channel(channel, policy: str):
    channel.allows_backorders = True
    channel.save(update_fields=["allows_backorders"])
    SourcingRuleSet.objects.create(
        name=f"{policy} rules",
        channel=channel,
        ship_location_types=["warehouse"],
        backorder_policy=policy,
    )


def ship_everything(order) -> FulfillmentOrder:
    fo = order.fulfillment_orders.get(status=FOStatus.RELEASED)
    (pick_list,) = build_pick_lists(
        location=fo.location, strategy="single", fulfillment_orders=[fo]
    )
    confirm_pick(pick_list=pick_list, picked={i.pk: i.quantity for i in pick_list.items.all()})
    pack(fulfillment_order=fo, packages=[{"weight_kg": "1.5"}])
    return ship(fulfillment_order=fo, carrier=None, tracking_number="1Z999")


# --- The alert's own state -----------------------------------------------------------------


def test_acknowledging_twice_records_it_once(catalogue, channel, staff_user):
    order = released_order(channel)
    alert = alert_for(order)

    services.acknowledge_alert(alert=alert, actor=staff_user)
    services.acknowledge_alert(alert=alert, actor=staff_user)

    alert.refresh_from_db()
    assert alert.status == Status.ACKNOWLEDGED
    assert alert.acknowledged_at is not None
    (event,) = jeopardy_events(order)
    assert event.actor == staff_user
    assert event.data == {
        "alert": alert.pk,
        "kind": "stalled",
        "action": "acknowledged",
        "note": "",
        "from": "open",
        "to": "acknowledged",
    }
    assert (
        event.message == f"Jeopardy alert #{alert.pk} (stalled past its stage sla): acknowledged."
    )


def test_resolving_needs_a_note_and_keeps_the_first(catalogue, channel, staff_user):
    order = released_order(channel)
    alert = alert_for(order)

    with pytest.raises(InvalidInput) as error:
        services.resolve_alert(alert=alert, note="  ", actor=staff_user)
    assert list(error.value.errors) == ["note"]
    assert jeopardy_events(order) == []

    services.resolve_alert(alert=alert, note="Carrier collected late; shipped.", actor=staff_user)
    services.resolve_alert(alert=alert, note="second click", actor=staff_user)

    alert.refresh_from_db()
    assert alert.status == Status.RESOLVED
    assert alert.resolution_note == "Carrier collected late; shipped."
    assert alert.resolved_at is not None
    assert actions(order) == ["resolved"]


def test_a_resolved_alert_stays_resolved(catalogue, channel, staff_user):
    order = released_order(channel)
    alert = alert_for(order)
    services.resolve_alert(alert=alert, note="done", actor=staff_user)
    alert.refresh_from_db()

    with pytest.raises(IllegalTransition):
        services.transition_alert(alert, Status.ACKNOWLEDGED)
    services.acknowledge_alert(alert=alert, actor=staff_user)  # harmless: nothing to do
    with pytest.raises(DomainError) as error:
        fixes.resource_order_for_alert(alert=alert, actor=staff_user)
    assert error.value.code == "alert_resolved"
    alert.refresh_from_db()
    assert alert.status == Status.RESOLVED
    assert actions(order) == ["resolved"]


def test_assigning_gives_an_owner_and_acknowledges(catalogue, channel, staff_user):
    order = released_order(channel)
    alert = alert_for(order)
    owner = factories.StaffFactory(username="dispatch")

    services.assign_alert(alert=alert, owner=owner, actor=staff_user, note="call the DC")
    services.assign_alert(alert=alert, owner=owner, actor=staff_user)  # same owner: a retry

    alert.refresh_from_db()
    assert alert.owner == owner
    assert alert.status == Status.ACKNOWLEDGED
    assert actions(order) == ["assign", "acknowledged"]
    assert "assigned to dispatch — call the DC" in jeopardy_events(order)[0].message

    services.assign_alert(alert=alert, owner=staff_user, actor=staff_user)
    assert "assigned to staff (was dispatch)" in jeopardy_events(order)[-1].message


def test_only_active_staff_can_own_an_alert(catalogue, channel, staff_user):
    order = released_order(channel)
    alert = alert_for(order)
    customer_user = factories.UserFactory(username="shopper")

    with pytest.raises(InvalidInput) as error:
        services.assign_alert(alert=alert, owner=customer_user, actor=staff_user)

    assert list(error.value.errors) == ["owner"]
    alert.refresh_from_db()
    assert (alert.owner, alert.status) == (None, Status.OPEN)


def test_severity_bands():
    assert [services.severity_band(s) for s in (0, 24, 25, 49, 50, 74, 75, 100)] == [
        "low",
        "low",
        "medium",
        "medium",
        "high",
        "high",
        "critical",
        "critical",
    ]
    assert services.severity_range("critical") == (75, None)
    assert services.severity_range("medium") == (25, 50)


# --- Re-source -----------------------------------------------------------------------------


def test_resourcing_moves_the_work_where_the_stock_is(catalogue, channel, warehouse, west):
    order = released_order(channel)
    first = order.fulfillment_orders.get()
    assert first.location == warehouse
    alert = alert_for(order, kind="stock_vanished")
    # What the count found: nothing at WH-EAST can be sold any more.
    for sku in catalogue:
        set_safety_stock(sku=sku, location=warehouse, safety_stock=10)

    fixes.resource_order_for_alert(alert=alert, actor="staff:ops", note="shelf empty")

    first.refresh_from_db()
    order.refresh_from_db()
    assert first.status == FOStatus.CANCELLED
    assert order.status == Order.Status.PLACED  # waiting for the sourcing job
    assert sorted(
        Reservation.objects.filter(
            order_line__order=order, state=Reservation.State.ACTIVE
        ).values_list("sku__code", "location__code", "quantity")
    ) == [("SKU-A", "WH-WEST", 2), ("SKU-B", "WH-WEST", 1)]
    source_order(order_id=order.pk)  # what the after-commit task does
    new = order.fulfillment_orders.exclude(pk=first.pk).get()
    assert (new.location, new.status) == (west, FOStatus.RELEASED)
    alert.refresh_from_db()
    assert alert.status == Status.ACKNOWLEDGED
    event = jeopardy_events(order)[0]
    assert event.actor_label == "staff:ops"
    assert event.data["action"] == "resource"
    assert event.data["cancelled"] == [first.pk]
    assert event.data["new_date"] == order.promised_date.isoformat()
    assert f"cancelled FO-{first.pk} at WH-EAST" in event.message
    assert event.message.endswith("— shelf empty.")


def test_resourcing_a_shipped_order_is_refused(catalogue, channel, staff_user):
    order = released_order(channel)
    alert = alert_for(order, kind="late_shipment")
    ship_everything(order)

    with pytest.raises(IllegalTransition):
        fixes.resource_order_for_alert(alert=alert, actor=staff_user)

    assert jeopardy_events(order) == []


@factories.requires_postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_resources_of_one_alert_do_it_once(catalogue, channel, warehouse, west):
    """Four staff click "re-source" at once: one does it, the others are told there is
    nothing left, and the order holds exactly its units."""
    order = released_order(channel)
    alert = alert_for(order, kind="stock_vanished")
    barrier = threading.Barrier(4)

    def resource(index):
        try:
            barrier.wait(timeout=30)
            fixes.resource_order_for_alert(alert=alert, actor=f"staff:{index}")
            return "done"
        except DomainError as error:
            return error.code
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(resource, range(4)))

    assert sorted(results) == ["done"] + ["nothing_to_resource"] * 3
    assert order.fulfillment_orders.get().status == FOStatus.CANCELLED
    reserved = Reservation.objects.filter(
        order_line__order=order, state=Reservation.State.ACTIVE
    ).aggregate(units=Sum("quantity"))["units"]
    assert reserved == 3
    assert sum(level.reserved for level in StockLevel.objects.all()) == 3
    assert actions(order) == ["resource", "acknowledged"]


# --- Expedite ------------------------------------------------------------------------------


def test_expediting_upgrades_the_parcels_and_promises_again(
    clock, catalogue, channel, express, staff_user
):
    order = released_order(channel)
    fo = order.fulfillment_orders.get()
    # Monday 10:00, before the cut-off: handed over Tuesday, three days by standard → Friday.
    assert order.promised_date == fo.promised_date == datetime.date(2026, 3, 6)
    paid = order.shipping_amount
    alert = alert_for(order)

    fixes.expedite_order(alert=alert, actor=staff_user, note="VIP")

    fo.refresh_from_db()
    order.refresh_from_db()
    assert fo.carrier_service.service_level == express
    assert fo.promised_date == datetime.date(2026, 3, 4)  # Tuesday + one day
    assert fo.shipping_cost_amount > 0
    assert order.service_level == express
    assert order.promised_date == datetime.date(2026, 3, 4)
    assert order.shipping_amount == paid  # the upgrade is on us
    (event, acknowledged) = jeopardy_events(order)
    assert event.data["action"] == "expedite"
    assert (event.data["old_date"], event.data["new_date"]) == ("2026-03-06", "2026-03-04")
    assert event.data["parcels"][0]["old_date"] == "2026-03-06"
    assert (event.data["from_service_level"], event.data["to_service_level"]) == (
        "standard",
        "express",
    )
    assert "promised 2026-03-06 → 2026-03-04" in event.message
    assert acknowledged.data["action"] == "acknowledged"

    # Nothing is faster than express: a second click says so and changes nothing.
    with pytest.raises(DomainError) as error:
        fixes.expedite_order(alert=alert, actor=staff_user)
    assert error.value.code == "no_faster_service"
    assert len(jeopardy_events(order)) == 2


def test_a_packed_parcel_leaves_at_the_next_cut_off_with_a_new_label(
    clock, catalogue, channel, express, staff_user
):
    order = released_order(channel)
    fo = order.fulfillment_orders.get()
    (pick_list,) = build_pick_lists(
        location=fo.location, strategy="single", fulfillment_orders=[fo]
    )
    confirm_pick(pick_list=pick_list, picked={i.pk: i.quantity for i in pick_list.items.all()})
    pack(fulfillment_order=fo, packages=[{"weight_kg": "1.5"}])
    alert = alert_for(order, stage="packed")

    fixes.expedite_order(alert=alert, actor=staff_user)

    fo.refresh_from_db()
    # Packed already: no handling left, it leaves Monday before the cut-off and lands Tuesday.
    assert fo.promised_date == datetime.date(2026, 3, 3)
    event = jeopardy_events(order)[0]
    assert event.data["parcels"][0]["relabel"] is True
    assert "(packed: print a new label)" in event.message


def test_expediting_without_a_faster_service_is_refused(clock, catalogue, channel, staff_user):
    order = released_order(channel)
    fo = order.fulfillment_orders.get()
    alert = alert_for(order)

    with pytest.raises(DomainError) as error:
        fixes.expedite_order(alert=alert, actor=staff_user)

    assert error.value.code == "no_faster_service"
    assert "No service faster than Standard" in error.value.message
    fo.refresh_from_db()
    assert fo.promised_date == datetime.date(2026, 3, 6)
    assert jeopardy_events(order) == []


def test_expediting_to_a_slower_level_is_refused_on_the_field(
    clock, catalogue, channel, express, staff_user
):
    order = released_order(channel)
    alert = alert_for(order)
    slow = factories.ServiceLevelFactory(code="economy", name="Economy", transit_days=6)

    with pytest.raises(InvalidInput) as error:
        fixes.expedite_order(alert=alert, actor=staff_user, service_level=slow)

    assert error.value.errors == {"service_level": ["Economy is not faster than Standard."]}


def test_expediting_a_shipped_order_is_refused(clock, catalogue, channel, express, staff_user):
    order = released_order(channel)
    alert = alert_for(order, kind="late_shipment")
    ship_everything(order)

    with pytest.raises(DomainError) as error:
        fixes.expedite_order(alert=alert, actor=staff_user)

    assert error.value.code == "already_shipped"
    order.refresh_from_db()
    assert order.service_level.code == "standard"


def test_expediting_after_the_friday_cut_off_counts_working_days(
    clock, catalogue, channel, express, staff_user
):
    order = released_order(channel)
    alert = alert_for(order)
    clock.now = datetime.datetime(2026, 3, 6, 15, 0, tzinfo=datetime.UTC)

    fixes.expedite_order(alert=alert, actor=staff_user)

    order.refresh_from_db()
    # Handling starts Monday, the parcel leaves Tuesday, express delivers Wednesday.
    assert order.promised_date == datetime.date(2026, 3, 11)


def test_a_faster_level_whose_carrier_is_no_quicker_is_refused(
    clock, catalogue, channel, staff_user
):
    order = released_order(channel)
    alert = alert_for(order)
    # Sold as next-day, but the only carrier for it takes as long as standard.
    priority = factories.ServiceLevelFactory(code="priority", name="Priority", transit_days=1)
    factories.carrier_rate(priority, carrier="slowco", days=3)

    with pytest.raises(DomainError) as error:
        fixes.expedite_order(alert=alert, actor=staff_user)

    assert error.value.code == "no_faster_service"
    assert "would not bring any parcel" in error.value.message
    order.refresh_from_db()
    assert order.service_level.code == "standard"
    assert jeopardy_events(order) == []


# --- Split ---------------------------------------------------------------------------------


def test_split_ships_what_is_ready_and_backorders_the_rest(catalogue, channel, staff_user):
    backorder_channel(channel, "hold")
    order = capture(
        channel, lines=[{"sku": "SKU-A", "quantity": 12}, {"sku": "SKU-B", "quantity": 1}]
    )
    source_order(order_id=order.pk)
    order.refresh_from_db()
    assert order.status == Order.Status.BACKORDERED
    assert not order.fulfillment_orders.exists()  # the hold policy keeps everything back
    alert = factories.JeopardyAlertFactory(
        order=order, kind="backorder_no_supply", stage="backordered"
    )

    fixes.split_late_lines(alert=alert, actor=staff_user)

    fo = order.fulfillment_orders.get()
    assert fo.status == FOStatus.RELEASED
    assert sorted(fo.lines.values_list("sku__code", "quantity")) == [("SKU-A", 10), ("SKU-B", 1)]
    order.refresh_from_db()
    assert order.status == Order.Status.BACKORDERED  # 2 × SKU-A still to come
    assert order.lines.get(line_number=1).quantity_backordered == 2
    (event, _) = jeopardy_events(order)
    assert event.data["released"] == [fo.pk]
    assert event.data["backordered"] == {"1": 2}
    assert "2 × SKU-A stay backordered" in event.message

    with pytest.raises(DomainError) as error:
        fixes.split_late_lines(alert=alert, actor=staff_user)
    assert error.value.code == "nothing_ready"
    assert order.fulfillment_orders.count() == 1


def test_split_without_a_backorder_is_refused(catalogue, channel, staff_user):
    order = capture(channel)  # every unit reserved: nothing is late
    alert = factories.JeopardyAlertFactory(order=order, stage="awaiting_sourcing")

    with pytest.raises(DomainError) as error:
        fixes.split_late_lines(alert=alert, actor=staff_user)

    assert error.value.code == "nothing_to_split"
    assert jeopardy_events(order) == []


# --- Cancel late lines ---------------------------------------------------------------------


def test_cancelling_late_lines_cancels_the_backordered_units(catalogue, channel, staff_user):
    backorder_channel(channel, "backorder")
    order = capture(
        channel, lines=[{"sku": "SKU-A", "quantity": 12}, {"sku": "SKU-B", "quantity": 1}]
    )
    source_order(order_id=order.pk)
    alert = factories.JeopardyAlertFactory(
        order=order, kind="backorder_no_supply", stage="backordered"
    )
    assert fixes.late_units(alert) == {1: 2}
    total_before = order.total_amount

    fixes.cancel_late_lines(alert=alert, actor=staff_user, note="customer agreed")

    order.refresh_from_db()
    line = order.lines.get(line_number=1)
    assert (line.quantity_cancelled, line.quantity_backordered) == (2, 0)
    assert order.total_amount < total_before  # repriced
    assert order.status != Order.Status.BACKORDERED
    event = next(e for e in jeopardy_events(order) if e.data["action"] == "cancel_lines")
    assert event.data["cancelled"] == {"1": 2}
    assert event.actor == staff_user
    assert "2 × SKU-A (line 1)" in event.message


def test_cancelling_every_late_unit_of_the_only_parcel_cancels_the_order(
    catalogue, channel, staff_user
):
    order = released_order(channel)
    alert = alert_for(order, kind="stock_vanished")
    assert fixes.late_units(alert) == {1: 2, 2: 1}

    fixes.cancel_late_lines(alert=alert, actor=staff_user)

    order.refresh_from_db()
    assert order.status == Order.Status.CANCELLED
    assert order.fulfillment_orders.get().status == FOStatus.CANCELLED


def test_cancelling_when_nothing_is_late_is_refused(catalogue, channel, staff_user):
    order = capture(channel)  # placed, not yet sourced: no parcel, no backorder
    alert = factories.JeopardyAlertFactory(order=order, stage="awaiting_sourcing")

    with pytest.raises(DomainError) as error:
        fixes.cancel_late_lines(alert=alert, actor=staff_user)

    assert error.value.code == "nothing_to_cancel"
    order.refresh_from_db()
    assert order.lines.filter(quantity_cancelled__gt=0).count() == 0


# --- New date ------------------------------------------------------------------------------


def test_the_customer_is_emailed_a_new_date_once(
    clock, catalogue, channel, staff_user, emails, django_capture_on_commit_callbacks
):
    order = released_order(channel)
    alert = alert_for(order)
    new_date = datetime.date(2026, 3, 11)

    with django_capture_on_commit_callbacks(execute=True):
        fixes.notify_new_date(alert=alert, actor=staff_user, new_date=new_date)
    with django_capture_on_commit_callbacks(execute=True):
        fixes.notify_new_date(alert=alert, actor=staff_user, new_date=new_date)

    (mail,) = emails
    assert mail.to == [order.customer.email]
    assert mail.subject == f"A new delivery date for your order {order.number}"
    assert "Your new expected delivery date is 2026-03-11." in mail.body
    order.refresh_from_db()
    assert order.promised_date == new_date
    notices = [e for e in jeopardy_events(order) if e.data["action"] == "notify_new_date"]
    assert len(notices) == 1
    assert (notices[0].data["old_date"], notices[0].data["new_date"]) == (
        "2026-03-06",
        "2026-03-11",
    )
    assert order.events.filter(kind=OrderEvent.Kind.NOTIFICATION).count() == 1

    # Another date for the same alert is another email.
    with django_capture_on_commit_callbacks(execute=True):
        fixes.notify_new_date(alert=alert, actor=staff_user, new_date=datetime.date(2026, 3, 12))
    assert len(emails) == 2


def test_the_current_promise_is_announced_when_no_date_is_given(
    clock, catalogue, channel, staff_user, emails, django_capture_on_commit_callbacks
):
    order = released_order(channel)
    alert = alert_for(order)

    with django_capture_on_commit_callbacks(execute=True):
        fixes.notify_new_date(alert=alert, actor=staff_user)

    (mail,) = emails
    assert "2026-03-06" in mail.body


def test_a_new_date_in_the_past_is_refused(clock, catalogue, channel, staff_user, emails):
    order = released_order(channel)
    alert = alert_for(order)

    with pytest.raises(InvalidInput) as error:
        fixes.notify_new_date(alert=alert, actor=staff_user, new_date=datetime.date(2026, 3, 1))

    assert list(error.value.errors) == ["new_date"]
    assert emails == []
    assert jeopardy_events(order) == []
