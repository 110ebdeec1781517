"""Capture in-process: `orders.services.place_order` called directly from 1 and 4 threads.

Each thread has its own database connection and places orders for `SECONDS`: 3 lines of
uniform random scale SKUs (1–2 units each), shipped standard to New York, paid by card (the
fake gateway), each with its own idempotency key. One call in twenty replays the thread's
previous key with the same body, as a storefront retrying would: it must get the same order
back and create nothing. The invariants (`bench.invariants`) are checked after each run.

Threads share the GIL and the bench's one pinned core, so 4 threads measure how well the
capture overlaps its database waits, not parallel Python.
"""

from __future__ import annotations

import random
import threading
import time

from django.db import connection

from bench import invariants
from bench.results import latency_summary, percentile
from bench.scale import ScaleData
from oms.core.errors import DomainError
from orders.services import place_order

THREADS = (1, 4)
SECONDS = 10
WARMUP = 20
REPLAY_EVERY = 20
ADDRESS = {
    "line1": "1 Main St",
    "city": "New York",
    "region": "NY",
    "postal_code": "10006",
    "country": "US",
}


def order_body(rng: random.Random, data: ScaleData, *, hot: bool = False) -> dict:
    if hot:
        lines = [{"sku": "SC-HOT", "quantity": 1}]
    else:
        lines = [
            {"sku": code, "quantity": rng.randint(1, 2)} for code in rng.sample(data.sku_codes, 3)
        ]
    return {
        "customer": {"email": f"scale{rng.randint(1, data.customers)}@example.com"},
        "lines": lines,
        "delivery": {"method": "ship", "service_level": "standard", "address": ADDRESS},
        "payment": {"method": "card", "reference": "tok_visa"},
    }


def run(data: ScaleData, *, threads=THREADS, seconds: int = SECONDS) -> dict:
    rng = random.Random(6)
    for n in range(WARMUP):
        place_order(
            channel=data.network.channel, idempotency_key=f"warm-{n}", **order_body(rng, data)
        )
    runs = {}
    for count in threads:
        runs[count] = _run_threads(data, count=count, seconds=seconds)
        runs[count]["invariants"] = invariants.check()
    return runs


def _run_threads(data: ScaleData, *, count: int, seconds: int) -> dict:
    latencies: list[list[float]] = [[] for _ in range(count)]
    cpu = [0.0] * count
    counts = [
        {"orders": 0, "replays": 0, "replay_mismatches": 0, "refused": 0} for _ in range(count)
    ]
    errors: list[BaseException] = []
    start = threading.Barrier(count + 1)
    stop_at: list[float] = []

    def worker(index: int) -> None:
        rng = random.Random(1000 * count + index)
        channel = data.network.channel
        last: tuple[str, dict, int] | None = None
        try:
            start.wait()
            started_cpu = time.thread_time()
            n = 0
            while time.perf_counter() < stop_at[0]:
                n += 1
                if last is not None and n % REPLAY_EVERY == 0:
                    key, body, order_id = last
                    replay = True
                else:
                    key, body, order_id = f"cap-{count}-{index}-{n}", order_body(rng, data), None
                    replay = False
                began = time.perf_counter()
                try:
                    result = place_order(channel=channel, idempotency_key=key, **body)
                except DomainError:
                    counts[index]["refused"] += 1
                    continue
                latencies[index].append(time.perf_counter() - began)
                if replay:
                    counts[index]["replays"] += 1
                    if not result.replayed or result.order.pk != order_id:
                        counts[index]["replay_mismatches"] += 1
                else:
                    counts[index]["orders"] += 1
                    last = (key, body, result.order.pk)
            cpu[index] = time.thread_time() - started_cpu
        except BaseException as error:  # reported after the run
            errors.append(error)
        finally:
            connection.close()

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in pool:
        thread.start()
    began = time.perf_counter()
    stop_at.append(began + seconds)
    start.wait()
    for thread in pool:
        thread.join()
    elapsed = time.perf_counter() - began
    if errors:
        raise errors[0]
    samples = [s for per_thread in latencies for s in per_thread]
    totals = {key: sum(c[key] for c in counts) for key in counts[0]}
    summary = latency_summary(samples)
    summary.update(
        {
            "threads": count,
            **totals,
            "seconds": round(elapsed, 2),
            "orders_per_second": round(totals["orders"] / elapsed, 1),
            "p50_ms": summary["median_ms"],
            "p95_ms": round(percentile(samples, 0.95) * 1000, 3),
            "cpu_ms_per_call": round(sum(cpu) / max(len(samples), 1) * 1000, 3),
        }
    )
    return summary
