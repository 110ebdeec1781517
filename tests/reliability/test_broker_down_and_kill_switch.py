"""The fast parts of broker_down and web_killed (README "Reliability"); the scenarios with real
processes (worker_killed, broker_down, web_killed) run in `make reliability` only."""

import os
import subprocess
import sys
from functools import partial

import pytest
from django.conf import settings

from fulfillment.models import FulfillmentOrder
from fulfillment.tasks import source_order_task
from oms.celery import app
from oms.core.models import OutboxMessage
from oms.core.outbox import relay_pending
from oms.core.tasks import _enqueue
from orders.models import Order
from reliability.harness import free_port
from tests.factories import order_payload

KILL_SWITCH = "reliability.kill_switch.KillAfterCommitMiddleware"


def forget_broker_connections():
    """Celery caches its connection and producer pools; both point at the old broker."""
    app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture
def broker_down():
    previous = app.conf.broker_url
    app.conf.broker_url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    forget_broker_connections()
    yield
    app.conf.broker_url = previous
    forget_broker_connections()


@pytest.mark.django_db
def test_an_order_placed_while_the_broker_is_down_is_accepted_and_sourced_once_later(
    catalogue, channel_client, broker_down, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = channel_client.post(
            "/api/v1/orders/", order_payload(), format="json", HTTP_IDEMPOTENCY_KEY="outage-1"
        )

    assert response.status_code == 201
    order = Order.objects.get(number=response.json()["number"])
    held = OutboxMessage.objects.get(topic="order.placed", aggregate_id=str(order.pk))
    assert held.published_at is None  # the outbox holds the work the broker could not take
    assert not FulfillmentOrder.objects.filter(order=order).exists()

    # The broker is back: beat's relay delivers the message, and the sourcing job may be
    # delivered twice (a redelivery after a lost acknowledgement); it works once.
    with django_capture_on_commit_callbacks() as enqueued:
        relay_pending()  # with the catalogue's stock.received messages, held back too
    sourcing = [
        c.args for c in enqueued if isinstance(c, partial) and c.args[0] is source_order_task
    ]
    assert sourcing == [(source_order_task, order.pk)]
    assert enqueued[0].func is _enqueue
    source_order_task(order.pk)
    source_order_task(order.pk)

    order.refresh_from_db()
    held.refresh_from_db()
    assert order.status == Order.Status.RELEASED
    assert FulfillmentOrder.objects.filter(order=order).count() == 1
    assert held.published_at is not None
    assert OutboxMessage.objects.filter(topic="order.placed").count() == 1


def reliability_middleware(**env: str) -> list[str]:
    """MIDDLEWARE as a process started with reliability.settings and `env` would see it."""
    code = "from django.conf import settings; print('\\n'.join(settings.MIDDLEWARE))"
    environment = {
        k: v for k, v in os.environ.items() if not k.startswith("RELIABILITY_KILL_SWITCH")
    }
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**environment, "DJANGO_SETTINGS_MODULE": "reliability.settings", **env},
        capture_output=True,
        text=True,
        check=True,
        cwd=settings.BASE_DIR,
    )
    return result.stdout.split()


def test_the_kill_switch_exists_only_where_the_web_killed_scenario_turns_it_on(tmp_path):
    assert KILL_SWITCH not in settings.MIDDLEWARE
    assert KILL_SWITCH not in reliability_middleware()
    assert reliability_middleware(RELIABILITY_KILL_SWITCH_DIR=str(tmp_path))[0] == KILL_SWITCH
