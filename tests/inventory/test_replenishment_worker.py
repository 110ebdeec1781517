"""The reorder job as beat sends it: through Redis to a real Celery worker, twice."""

import os
import time

import pytest
from django.db import connection

from inventory.models import PurchaseOrder, PurchaseOrderLine
from inventory.tasks import run_reorder_job
from tests.factories import (
    LocationFactory,
    SKUFactory,
    SupplierFactory,
    reorder_rule,
    supplier_item,
)

REDIS_URL = os.environ.get("REDIS_URL", "")


def test_the_task_run_twice_drafts_once(db):
    warehouse = LocationFactory(code="WH-EAST")
    supplier = SupplierFactory(code="ACME")
    sku = SKUFactory(code="SKU-A")
    supplier_item(supplier, sku, pack_size=6)
    reorder_rule(sku, warehouse, reorder_point=5, order_up_to=20)

    assert run_reorder_job() == 1
    assert run_reorder_job() == 0
    assert list(PurchaseOrderLine.objects.values_list("quantity_ordered", flat=True)) == [24]


@pytest.mark.skipif(
    not REDIS_URL or connection.vendor != "postgresql",
    reason="needs REDIS_URL and PostgreSQL (a worker thread shares the database)",
)
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_runs_the_reorder_job_twice_with_the_same_result():
    import redis
    from celery.contrib.testing.worker import start_worker

    from oms.celery import app

    # A database of its own (the sourcing job's worker test empties /15), emptied first.
    broker = REDIS_URL.rsplit("/", 1)[0] + "/7"
    queue = redis.Redis.from_url(broker)
    queue.flushdb()
    previous = app.conf.broker_url
    app.conf.broker_url = broker
    forget_broker_connections(app)
    try:
        warehouse = LocationFactory(code="WH-EAST")
        supplier = SupplierFactory(code="ACME")
        for n in range(5):
            sku = SKUFactory(code=f"SKU-{n}")
            supplier_item(supplier, sku)
            reorder_rule(sku, warehouse, reorder_point=5, order_up_to=20)
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
            run_reorder_job.delay()
            wait_until(lambda: PurchaseOrder.objects.exists())
            first = sorted(PurchaseOrderLine.objects.values_list("sku__code", "quantity_ordered"))
            run_reorder_job.delay()
            # acks_late: a message leaves "unacked" only once the worker has run it.
            wait_until(lambda: queue.llen("celery") == 0 and queue.hlen("unacked") == 0)
        assert PurchaseOrder.objects.count() == 1
        assert sorted(PurchaseOrderLine.objects.values_list("sku__code", "quantity_ordered")) == (
            first
        )
        assert first == [(f"SKU-{n}", 20) for n in range(5)]
    finally:
        app.conf.broker_url = previous
        forget_broker_connections(app)


def wait_until(condition, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the worker did not get there in time"
        time.sleep(0.2)


def forget_broker_connections(app):
    """Celery caches its connection pool and producer pool; both point at the old broker."""
    app._pool = None
    app.amqp._producer_pool = None
