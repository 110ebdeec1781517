"""The daily digest: each location manager gets one email a day listing the live alerts at
their locations, most severe first — however often the job runs."""

import datetime

import pytest
from django.utils import timezone

from fulfillment.jeopardy import digest
from fulfillment.jeopardy.digest import send_jeopardy_digests
from fulfillment.jeopardy.models import JeopardyAlert, JeopardyDigest
from fulfillment.tasks import send_jeopardy_digests_task
from orders.services import place_order
from tests import factories

pytestmark = pytest.mark.django_db

TODAY = datetime.date(2026, 3, 2)
Status = JeopardyAlert.Status


@pytest.fixture
def manager(warehouse):
    user = factories.StaffFactory(username="erin", email="erin@oms.test", first_name="Erin")
    warehouse.manager = user
    warehouse.save(update_fields=["manager"])
    return user


@pytest.fixture
def order(catalogue, channel):
    payload = factories.order_payload()
    return place_order(
        channel=channel, **{k: payload[k] for k in ("customer", "lines", "delivery", "payment")}
    ).order


def alert(order, location, **fields) -> JeopardyAlert:
    return factories.JeopardyAlertFactory(order=order, location=location, **fields)


def test_each_manager_gets_their_live_alerts_most_severe_first(
    manager, warehouse, store, order, mailoutbox
):
    alert(order, warehouse, severity=30, message="Picking for 9 hours.")
    alert(order, warehouse, severity=80, kind="stock_vanished", message="No SKU-A on the shelf.")
    alert(order, warehouse, severity=55, status=Status.ACKNOWLEDGED, message="Packed, waiting.")
    alert(order, warehouse, severity=99, status=Status.RESOLVED, message="Gone.")
    other = factories.StaffFactory(username="sam", email="sam@oms.test")
    store.manager = other
    store.save(update_fields=["manager"])
    alert(order, store, severity=10, message="At the store.")
    alert(order, None, severity=50, message="Nowhere in particular.")

    assert send_jeopardy_digests(today=TODAY) == 2

    mails = {mail.to[0]: mail for mail in mailoutbox}
    assert set(mails) == {"erin@oms.test", "sam@oms.test"}
    mail = mails["erin@oms.test"]
    assert mail.subject == "Jeopardy digest for 2026-03-02: 3 open alert(s) at your locations"
    body = mail.body
    assert body.startswith("Hello Erin,")
    assert "3 open jeopardy alerts at your locations" in body
    assert "(1 critical, 1 high, 1 medium)" in body
    assert body.index("No SKU-A") < body.index("Packed, waiting") < body.index("Picking for 9")
    assert f"[CRITICAL 80] {order.number} at WH-EAST: No SKU-A on the shelf." in body
    assert "Gone." not in body and "At the store." not in body and "Nowhere" not in body
    assert "At the store." in mails["sam@oms.test"].body
    sent = JeopardyDigest.objects.get(manager=manager, day=TODAY)
    assert (sent.alert_count, sent.sent_at is not None) == (3, True)


def test_running_again_the_same_day_sends_nothing(manager, warehouse, order, mailoutbox):
    alert(order, warehouse)

    assert send_jeopardy_digests(today=TODAY) == 1
    assert send_jeopardy_digests(today=TODAY) == 0
    assert len(mailoutbox) == 1

    assert send_jeopardy_digests(today=TODAY + datetime.timedelta(days=1)) == 1
    assert len(mailoutbox) == 2


def test_the_task_sends_once_a_day(manager, warehouse, order, mailoutbox):
    alert(order, warehouse)

    assert send_jeopardy_digests_task() == 1
    assert send_jeopardy_digests_task() == 0
    assert len(mailoutbox) == 1
    assert JeopardyDigest.objects.get().day == timezone.localdate()


def test_no_email_without_live_alerts_or_an_address(manager, warehouse, store, order, mailoutbox):
    alert(order, warehouse, status=Status.RESOLVED)
    no_address = factories.StaffFactory(username="noaddress", email="")
    store.manager = no_address
    store.save(update_fields=["manager"])
    alert(order, store)

    assert send_jeopardy_digests(today=TODAY) == 0
    assert mailoutbox == []
    assert not JeopardyDigest.objects.exists()


def test_a_digest_claimed_by_another_run_is_left_to_it(manager, warehouse, order, mailoutbox):
    alert(order, warehouse)
    JeopardyDigest.objects.create(manager=manager, day=TODAY, claimed_at=timezone.now())

    assert send_jeopardy_digests(today=TODAY) == 0
    assert mailoutbox == []


def test_a_stale_claim_is_taken_over(manager, warehouse, order, mailoutbox):
    """A worker that died between claiming and sending: the email still goes, later."""
    alert(order, warehouse)
    stale = timezone.now() - digest.CLAIM_LEASE - datetime.timedelta(minutes=1)
    JeopardyDigest.objects.create(manager=manager, day=TODAY, claimed_at=stale)

    assert send_jeopardy_digests(today=TODAY) == 1
    assert len(mailoutbox) == 1
    assert JeopardyDigest.objects.get().sent_at is not None


def test_a_long_digest_lists_the_worst_and_counts_the_rest(
    manager, warehouse, order, mailoutbox, monkeypatch
):
    monkeypatch.setattr(digest, "DIGEST_ALERT_LIMIT", 2)
    for severity in (10, 20, 90, 40):
        alert(order, warehouse, severity=severity, message=f"Severity {severity}.")

    send_jeopardy_digests(today=TODAY)

    body = mailoutbox[0].body
    assert "Severity 90." in body and "Severity 40." in body
    assert "Severity 20." not in body
    assert "… and 2 more." in body
    assert "4 open alert(s)" in mailoutbox[0].subject
