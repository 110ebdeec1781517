"""The sourcing job through a real Celery worker: orders per second from queue to released.

`ORDERS` orders are captured in-process first (the bench process's broker is in memory, so
nothing sources them yet). Then a private redis-server (no persistence, a free port) and
`celery -A oms worker` (prefork, one pool process per core, the production task settings:
acks_late, prefetch 1) start against the throwaway database, and the bench publishes one
`source_order_task` message per order to that broker, as each capture's after-commit hook
would. The clock runs from the first message published to the last order released; the
worker's own log gives each task's run time. Neither the worker nor Redis is pinned: they share
the two cores with PostgreSQL, as on a one-box deployment.

Afterwards every order must have moved to released exactly once on its timeline; anything
else fails the run.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

from django.db import connection

from bench.http import database_url
from bench.rawlimit import unpin
from bench.results import latency_summary
from bench.seed import Network
from bench.service import capture_orders
from reliability.background import RedisServer, Worker

ORDERS = 1000
CONCURRENCY = os.cpu_count() or 1
TIMEOUT_SECONDS = 600
SUCCEEDED = re.compile(r"source_order_task\[[\w-]+\] succeeded in (?P<seconds>[\d.e-]+)s")


def run(network: Network, *, orders: int = ORDERS) -> dict:
    from fulfillment.models import FulfillmentOrder
    from fulfillment.tasks import source_order_task
    from oms.celery import app
    from orders.models import Order, OrderEvent

    print(f"  capturing {orders} orders for the worker…", flush=True)
    ids = capture_orders(network, orders)
    with tempfile.TemporaryDirectory(prefix="oms-bench-worker-") as workdir, ExitStack() as stack:
        redis = RedisServer(Path(workdir))
        redis.start()
        stack.callback(redis.stop)
        worker = _start_worker(Path(workdir), redis.url)
        stack.callback(worker.stop)

        def released() -> int:
            return (
                FulfillmentOrder.objects.filter(order_id__in=ids)
                .values("order_id")
                .distinct()
                .count()
            )

        started = time.perf_counter()
        with app.connection_for_write(redis.url) as broker:
            for order_id in ids:
                source_order_task.apply_async((order_id,), connection=broker)
        published = time.perf_counter() - started
        done = released()
        while done < len(ids) and time.perf_counter() - started < TIMEOUT_SECONDS:
            time.sleep(0.1)
            done = released()
        elapsed = time.perf_counter() - started
        task_seconds = [
            float(m["seconds"]) for m in SUCCEEDED.finditer(worker.log.read_text(errors="replace"))
        ]
    if done < len(ids):
        raise AssertionError(f"The worker released {done} of {len(ids)} orders in {elapsed:.0f} s")
    releases = Counter(
        OrderEvent.objects.filter(
            order_id__in=ids, kind=OrderEvent.Kind.STATUS_CHANGED, data__to=Order.Status.RELEASED
        ).values_list("order_id", flat=True)
    )
    if set(releases.values()) != {1} or len(releases) != len(ids):
        raise AssertionError(
            f"Not released exactly once: {len(ids) - len(releases)} orders never, "
            f"{sum(n > 1 for n in releases.values())} more than once."
        )
    return {
        "orders": len(ids),
        "seconds": round(elapsed, 3),
        "orders_per_second": round(len(ids) / elapsed, 1),
        "publish_seconds": round(published, 3),
        "task_run_time": latency_summary(task_seconds) if task_seconds else None,
        "worker": f"celery prefork, concurrency {CONCURRENCY}, private redis-server",
        "released_exactly_once": True,
        "database": connection.vendor,
    }


def _start_worker(workdir: Path, broker_url: str) -> Worker:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DATABASE_URL": database_url(),
        "BENCH_BROKER_URL": broker_url,
        "CONN_MAX_AGE": "60",
        "PYTHONUNBUFFERED": "1",
    }
    worker = Worker(workdir, env, concurrency=CONCURRENCY, name="bench", preexec_fn=unpin)
    worker.start()
    return worker
