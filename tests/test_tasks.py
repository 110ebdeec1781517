"""Background jobs are entry points: each one is safe to run twice."""

from datetime import timedelta

import pytest
from django.utils import timezone

from oms.core import outbox
from oms.core.models import OutboxMessage
from oms.core.tasks import relay_outbox
from orders.models import IdempotencyKey, Payment
from orders.services import cancel_order, place_order
from orders.tasks import purge_expired_idempotency_keys, void_payment_authorization
from tests.factories import order_payload

pytestmark = pytest.mark.django_db


@pytest.fixture
def delivered(monkeypatch):
    seen = []
    monkeypatch.setattr(outbox, "_subscribers", {"test.happened": [seen.append]})
    return seen


def test_relay_delivers_each_message_once_however_often_it_runs(delivered):
    message = outbox.record(topic="test.happened", aggregate_id=1, payload={"x": 1})
    assert relay_outbox() == 1
    assert relay_outbox() == 0
    assert [m.pk for m in delivered] == [message.pk]
    message.refresh_from_db()
    assert message.published_at is not None


def test_a_failing_subscriber_keeps_the_message_for_the_next_run(monkeypatch):
    calls = []

    def flaky(message):
        calls.append(message.pk)
        if len(calls) == 1:
            raise ConnectionError("webhook endpoint down")

    monkeypatch.setattr(outbox, "_subscribers", {"test.happened": [flaky]})
    message = outbox.record(topic="test.happened", aggregate_id=1, payload={})
    assert relay_outbox() == 0
    message.refresh_from_db()
    assert (message.published_at, message.attempts) == (None, 1)
    assert "webhook endpoint down" in message.last_error
    assert relay_outbox() == 1
    assert calls == [message.pk, message.pk]


def test_capture_commits_its_outbox_row_with_the_order(catalogue, channel, delivered):
    payload = order_payload()
    result = place_order(
        channel=channel, **{k: payload[k] for k in ("customer", "lines", "delivery", "payment")}
    )
    assert OutboxMessage.objects.get(topic="order.placed").payload["order"] == result.order.number


def test_purge_keeps_keys_for_the_retention_window_and_is_repeatable(catalogue, channel, settings):
    payload = order_payload()
    args = {k: payload[k] for k in ("customer", "lines", "delivery", "payment")}
    place_order(channel=channel, idempotency_key="old", **args)
    place_order(channel=channel, idempotency_key="fresh", **args)
    IdempotencyKey.objects.filter(key="old").update(
        created_at=timezone.now() - settings.IDEMPOTENCY_KEY_RETENTION - timedelta(minutes=1)
    )
    assert purge_expired_idempotency_keys() == 1
    assert purge_expired_idempotency_keys() == 0
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["fresh"]


def test_void_task_is_safe_to_repeat(catalogue, channel, django_capture_on_commit_callbacks):
    payload = order_payload()
    order = place_order(
        channel=channel, **{k: payload[k] for k in ("customer", "lines", "delivery", "payment")}
    ).order
    with django_capture_on_commit_callbacks() as callbacks:
        cancel_order(order=order)
    assert len(callbacks) >= 1
    payment = order.payments.get()
    assert payment.status == Payment.Status.VOIDED
    void_payment_authorization(payment.pk)
    void_payment_authorization(payment.pk)
    payment.refresh_from_db()
    assert payment.status == Payment.Status.VOIDED


def test_record_many_writes_each_message_once_with_its_payload(db):
    from django.db import transaction

    from oms.core import outbox
    from oms.core.models import OutboxMessage

    with transaction.atomic():
        rows = outbox.record_many(
            topic="fulfillment.released", messages=[(7, {"lines": [1, 2], "at": "WH"}), (8, {})]
        )

    stored = list(OutboxMessage.objects.order_by("id"))
    assert [row.pk for row in rows] == [message.pk for message in stored]
    assert [(m.aggregate_id, m.payload) for m in stored] == [
        ("7", {"lines": [1, 2], "at": "WH"}),
        ("8", {}),
    ]
    assert all(m.published_at is None for m in stored)
