"""Where the time goes per request: pyinstrument over the requests the scale table measures.

Each request is sent through the Django test client in this process (the whole request path:
middleware, API-key or session auth, throttle, view, ORM, renderer; no network, no gunicorn),
`WARMUP` times unprofiled and then `RUNS` times under one pyinstrument session. The session's
sampled time is split by the library whose code was running (self time of each frame: a
psycopg frame waiting on its socket counts as "SQL", an ORM frame building a query as "ORM"),
and the functions with the most self time are listed. The full call tree of each request goes
to `<results>/<stamp>-profiles/<name>.txt` (pyinstrument's text view).
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections import Counter
from pathlib import Path

from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from pyinstrument import Profiler

from bench.capture import ADDRESS
from bench.scale import ScaleData

RUNS = 30
WARMUP = 3
BUDGET_SECONDS = 15  # a slow request is profiled fewer times (at least 3)
INTERVAL = 0.001  # pyinstrument's default: deeper stacks (templates) cost more per sample
ROOT = str(Path(__file__).resolve().parent.parent)
OUR_APPS = ("oms", "orders", "inventory", "customers", "fulfillment", "returns", "accounting")
# First match wins: (what a reader calls it, fragments of the file path).
BUCKETS = (
    ("SQL: driver and database wait", ("/psycopg/", "/psycopg_pool/", "/psycopg_c/")),
    ("Redis (cache, throttle)", ("/redis/", "/django_redis/", "/django/core/cache/")),
    ("ORM: queries and model instances", ("/django/db/",)),
    ("DRF: serializers, renderers, views", ("/rest_framework/",)),
    ("Django: templates", ("/django/template/", "/django/templatetags/")),
    ("Django: admin", ("/django/contrib/admin/",)),
    ("Django: request, middleware, other", ("/django/",)),
    ("JSON", ("/json/",)),
    ("profiled test client", ("/django/test/",)),
)


def run(data: ScaleData, *, out_dir: Path, runs: int = RUNS) -> dict:
    out_dir.mkdir(parents=True, exist_ok=True)
    requests = _requests(data)
    found = {}
    for name, send in requests.items():
        for _ in range(WARMUP):
            send()
        profiler = Profiler(interval=INTERVAL, async_mode="disabled")
        started = time.perf_counter()
        profiler.start()
        sent = 0
        while sent < runs and (sent < 3 or time.perf_counter() - started < BUDGET_SECONDS):
            send()
            sent += 1
        profiler.stop()
        wall_ms = (time.perf_counter() - started) / sent * 1000
        session = profiler.last_session
        (out_dir / f"{_slug(name)}.txt").write_text(profiler.output_text(show_all=False))
        buckets, functions, ours = _self_time(session.root_frame())
        sampled = sum(buckets.values()) or 1.0
        found[name] = {
            "requests": sent,
            "ms_per_request": round(wall_ms, 2),
            "where_the_time_goes": {
                bucket: round(share / sampled * 100, 1) for bucket, share in buckets.most_common()
            },
            "top_functions": [
                {"function": function, "percent": round(seconds / sampled * 100, 1)}
                for function, seconds in functions.most_common(8)
            ],
            "our_functions_inclusive": [
                {"function": function, "percent": round(seconds / sampled * 100, 1)}
                for function, seconds in ours.most_common(8)
            ],
            "profile": str(out_dir / f"{_slug(name)}.txt"),
        }
    (out_dir / "summary.json").write_text(json.dumps(found, indent=2) + "\n")
    return found


def _requests(data: ScaleData) -> dict:
    rng = random.Random(20261123)
    api = Client(HTTP_AUTHORIZATION=f"Api-Key {data.network.api_key}")
    staff, _ = get_user_model().objects.get_or_create(
        username="bench-profiler", defaults={"is_staff": True, "is_superuser": True}
    )
    admin = Client()
    admin.force_login(staff)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.email FROM orders_order o JOIN customers_customer c ON c.id = o.customer_id "
            "ORDER BY o.id DESC LIMIT 1"
        )
        (email,) = cursor.fetchone()

    def capture():
        body = {
            "customer": {"email": f"scale{rng.randint(1, data.customers)}@example.com"},
            "lines": [
                {"sku": code, "quantity": rng.randint(1, 2)}
                for code in rng.sample(data.sku_codes, 3)
            ],
            "delivery": {"method": "ship", "service_level": "standard", "address": ADDRESS},
            "payment": {"method": "card", "reference": "tok_visa"},
        }
        _check(
            api.post(
                "/api/v1/orders/",
                json.dumps(body),
                content_type="application/json",
                HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
            ),
            201,
        )

    def availability(count):
        def ask():
            query = "&".join(f"sku={code}" for code in rng.sample(data.sku_codes, count))
            _check(api.get(f"/api/v1/availability/?{query}"))

        return ask

    def delivery_options():
        lines = [{"sku": sku.code, "quantity": 1} for sku in rng.sample(data.network.skus, 3)]
        body = {"lines": lines, "destination": rng.choice(data.network.destinations)}
        _check(
            api.post("/api/v1/delivery-options/", json.dumps(body), content_type="application/json")
        )

    def get(client, url):
        return lambda: _check(client.get(url))

    return {
        "capture over HTTP (POST /api/v1/orders/)": capture,
        "availability, 1 SKU": availability(1),
        "availability, 100 SKUs": availability(100),
        "delivery options, 3 lines": delivery_options,
        "admin order changelist, first page": get(admin, "/admin/orders/order/"),
        "admin changelist, searched by email": get(admin, f"/admin/orders/order/?q={email}"),
        "customer order history (API)": get(api, f"/api/v1/orders/?customer_email={email}"),
    }


def _check(response, status: int = 200) -> None:
    if response.status_code != status:
        raise AssertionError(
            f"{response.request['PATH_INFO']} answered {response.status_code}: "
            f"{response.content[:300]!r}"
        )


def _self_time(root) -> tuple[Counter, Counter, Counter]:
    """Self time per bucket and per function over the whole tree, and the inclusive time of
    each function of our apps (counted once per call chain, so a recursive call doesn't add
    its time twice)."""
    buckets: Counter = Counter()
    functions: Counter = Counter()
    ours: Counter = Counter()
    stack = [(root, frozenset())] if root is not None else []
    while stack:
        frame, above = stack.pop()
        children = frame.children
        path = frame.file_path or ""
        name = above
        if not frame.is_synthetic and _bucket(path) == "our code":
            key = f"{frame.function} ({path.removeprefix(ROOT + '/')})"
            if key not in above:
                ours[key] += frame.time
                name = above | {key}
        stack.extend((child, name) for child in children)
        own = frame.time - sum(child.time for child in children)
        if own <= 0:
            continue
        if frame.is_synthetic and frame.parent is not None:
            frame = frame.parent  # pyinstrument's "[self]" leaf: its parent's own time
        path = frame.file_path or ""
        buckets[_bucket(path)] += own
        where = path.removeprefix(ROOT + "/") if path.startswith(ROOT) else _library(path)
        functions[f"{frame.function} ({where}:{frame.line_no})"] += own
    return buckets, functions, ours


def _bucket(path: str) -> str:
    relative = path.removeprefix(ROOT + "/")
    if relative != path and "site-packages" not in path and relative.startswith(OUR_APPS):
        return "our code"
    for name, fragments in BUCKETS:
        if any(fragment in path for fragment in fragments):
            return name
    if "site-packages" in path:
        return "other libraries"
    return "Python standard library and interpreter"


def _library(path: str) -> str:
    return path.split("site-packages/", 1)[-1] if "site-packages/" in path else Path(path).name


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-").replace("--", "-")
