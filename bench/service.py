"""The database benchmarks: delivery options (p99 < 50 ms) and the sourcing job (≥ 100/s).

Both run against the network `bench.seed` puts in the throwaway database. Call `run_all`
only with that database in place (see `bench.__main__`).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection
from django.test import Client

from bench.results import Result, latency_summary
from bench.seed import SEED, Network
from fulfillment.models import FulfillmentOrder
from fulfillment.sourcing.service import source_order
from oms.core.errors import DomainError
from orders.services import place_order

DELIVERY_OPTIONS_URL = "/api/v1/delivery-options/"
DELIVERY_OPTIONS_TARGET_P99_MS = 50.0
DELIVERY_OPTIONS_REQUESTS = 1000
DELIVERY_OPTIONS_BODIES = 100  # distinct carts × destinations, asked in turn
SOURCING_TARGET_PER_SECOND = 100.0
SOURCING_ORDERS = 300
WARMUP = 20


@contextmanager
def counting_statements() -> Iterator[list[str]]:
    """The SQL statements run inside the block (savepoints too; BEGIN and COMMIT are not)."""
    statements: list[str] = []

    def count(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        yield statements


def _cart(rng: random.Random, network: Network) -> list[dict]:
    skus = rng.sample(network.skus, rng.randint(1, 5))
    return [{"sku": sku.code, "quantity": rng.randint(1, 2)} for sku in skus]


def delivery_options(network: Network, *, requests: int = DELIVERY_OPTIONS_REQUESTS) -> Result:
    rng = random.Random(SEED + 1)
    bodies = [
        json.dumps({"lines": _cart(rng, network), "destination": rng.choice(network.destinations)})
        for _ in range(DELIVERY_OPTIONS_BODIES)
    ]
    client = Client(HTTP_AUTHORIZATION=f"Api-Key {network.api_key}")

    def ask(body: str) -> dict:
        response = client.post(DELIVERY_OPTIONS_URL, body, content_type="application/json")
        if response.status_code != 200:
            raise AssertionError(f"delivery options answered {response.status_code}: {body}")
        return response.json()

    for body in bodies[:WARMUP]:
        ask(body)
    # Load-independent: the statements one warm request sends.
    with counting_statements() as statements:
        ask(bodies[0])
    wall, cpu = [], []
    ship_options = pickup_options = 0
    for n in range(requests):
        body = bodies[n % len(bodies)]
        started, started_cpu = time.perf_counter(), time.thread_time()
        answer = ask(body)
        cpu.append(time.thread_time() - started_cpu)
        wall.append(time.perf_counter() - started)
        ship_options += len(answer["ship"])
        pickup_options += len(answer["pickup"])
    measured = latency_summary(wall)
    measured["cpu"] = latency_summary(cpu)
    return Result(
        name="delivery_options",
        description=(
            f"POST {DELIVERY_OPTIONS_URL} through the Django test client (middleware, API-key "
            f"auth, throttle, engine, JSON): {requests} requests over {len(bodies)} seeded carts "
            "of 1–5 lines to 12 US metro addresses; wall time per request"
        ),
        target=f"p99_ms < {DELIVERY_OPTIONS_TARGET_P99_MS}",
        metric="p99_ms",
        limit=DELIVERY_OPTIONS_TARGET_P99_MS,
        higher_is_better=False,
        measured=measured,
        setup={
            "database": connection.vendor,
            "statements_per_request": len(statements),  # BEGIN/COMMIT not counted
            "mean_ship_options": round(ship_options / requests, 2),
            "mean_pickup_options": round(pickup_options / requests, 2),
        },
    )


def capture_orders(network: Network, count: int) -> list[int]:
    """Place `count` orders (1–5 lines; one in five a pickup at a store in the metro)."""
    rng = random.Random(SEED + 2)
    metros = list(network.stores_by_metro)
    ids = []
    for n in range(count):
        metro = rng.randrange(len(metros))
        if rng.random() < 0.2:
            store = rng.choice(network.stores_by_metro[metros[metro]])
            delivery = {"method": "pickup", "location": store.code}
        else:
            delivery = {
                "method": "ship",
                "service_level": rng.choice(["standard", "standard", "express", "next-day"]),
                "address": network.destinations[metro],
            }
        try:
            result = place_order(
                channel=network.channel,
                customer={"email": f"customer{n % 50}@example.com", "first_name": "Bench"},
                lines=_cart(rng, network),
                delivery=delivery,
                payment={"method": "card", "reference": "tok_visa"},
            )
        except DomainError:
            continue  # a cart the network cannot fill: the job never sees it
        ids.append(result.order.pk)
    if len(ids) < count * 0.95:
        raise AssertionError(f"Only {len(ids)} of {count} captures succeeded: check the seed.")
    return ids


def sourcing_job(network: Network, *, orders: int = SOURCING_ORDERS) -> Result:
    ids = capture_orders(network, orders + WARMUP)
    warmup, ids = ids[:WARMUP], ids[WARMUP:]
    for order_id in warmup[:-1]:
        source_order(order_id=order_id)
    # Load-independent: the statements one warm order sends.
    with counting_statements() as statements:
        source_order(order_id=warmup[-1])
    wall, cpu = [], []
    started_all = time.perf_counter()
    for order_id in ids:
        started, started_cpu = time.perf_counter(), time.thread_time()
        source_order(order_id=order_id)
        cpu.append(time.thread_time() - started_cpu)
        wall.append(time.perf_counter() - started)
    elapsed = time.perf_counter() - started_all
    released = FulfillmentOrder.objects.filter(
        order_id__in=ids, status=FulfillmentOrder.Status.RELEASED
    ).values("order_id")
    sourced = len({row["order_id"] for row in released})
    if sourced != len(ids):
        raise AssertionError(f"The job released fulfillment for {sourced} of {len(ids)} orders.")
    measured = {
        "orders": len(ids),
        "seconds": round(elapsed, 3),
        "orders_per_second": round(len(ids) / elapsed, 1),
        "per_order": latency_summary(wall),
        "per_order_cpu": latency_summary(cpu),
    }
    return Result(
        name="sourcing_job",
        description=(
            f"fulfillment.sourcing.service.source_order over {len(ids)} orders captured "
            "beforehand (1–5 lines, 80 % ship, 20 % pickup), one after another in one process, "
            "each in its own transaction"
        ),
        target=f"orders_per_second >= {SOURCING_TARGET_PER_SECOND}",
        metric="orders_per_second",
        limit=SOURCING_TARGET_PER_SECOND,
        higher_is_better=True,
        measured=measured,
        setup={
            "database": connection.vendor,
            "statements_per_order": len(statements),  # BEGIN/COMMIT not counted
            "fulfillment_orders": FulfillmentOrder.objects.filter(order_id__in=ids).count(),
        },
    )
