"""Back-office reads over the seeded history (`--orders N`): what staff wait for at scale.

Through the Django test client (middleware, session auth, templates; no network): the admin
order changelist's first page, filtered by status, and searched by a customer's email; one
order's admin page; and a customer's order history as the storefront asks for it (API list
filtered by `customer_email`). Each is asked `WARMUP` times, then timed `RUNS` times; the
query count is that of one warm request.
"""

from __future__ import annotations

import time

from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client

from bench.results import latency_summary
from bench.scale import ScaleData
from orders.models import Order

RUNS = 20
WARMUP = 2


def run(data: ScaleData, *, runs: int = RUNS) -> dict:
    staff = get_user_model().objects.create_superuser("bench-admin", "admin@example.com", "x")
    admin = Client()
    admin.force_login(staff)
    api = Client(HTTP_AUTHORIZATION=f"Api-Key {data.network.api_key}")
    # A customer with history: the one the latest order belongs to.
    order = Order.objects.select_related("customer").order_by("-pk").first()
    if order is None:
        raise SystemExit("The back-office reads need orders: pass --orders N (or a capture part).")
    email = order.customer.email
    reads = {
        "admin order changelist, first page": (admin, "/admin/orders/order/"),
        "admin changelist, status = placed": (admin, "/admin/orders/order/?status__exact=placed"),
        "admin changelist, searched by email": (admin, f"/admin/orders/order/?q={email}"),
        "admin order detail": (admin, f"/admin/orders/order/{order.pk}/change/"),
        "customer order history (API)": (api, f"/api/v1/orders/?customer_email={email}"),
    }
    results = {}
    for name, (client, url) in reads.items():
        for _ in range(WARMUP):
            _get(client, url)
        queries: list[str] = []

        def count(execute, sql, params, many, context, queries=queries):
            queries.append(sql)
            return execute(sql, params, many, context)

        # Not CaptureQueriesContext: each request's start empties the connection's query log.
        with connection.execute_wrapper(count):
            _get(client, url)
        samples = []
        for _ in range(runs):
            started = time.perf_counter()
            _get(client, url)
            samples.append(time.perf_counter() - started)
        results[name] = {**latency_summary(samples), "queries": len(queries), "url": url}
    return {"orders_in_database": Order.objects.count(), "reads": results}


def _get(client: Client, url: str) -> None:
    response = client.get(url)
    if response.status_code != 200:
        raise AssertionError(f"GET {url} answered {response.status_code}")
