"""`python -m bench`: issue 6 §1 measured side by side in one run.

Creates a throwaway PostgreSQL database, seeds `bench.seed`'s network and `bench.scale`'s
dataset (10,000 SKUs × 20 locations, 50,000 customers, `--orders N` historical orders), then
measures, in this order (each step adds rows the next one reads):

1. `raw_limit` — pgbench on the hand-written capture transaction (`bench.rawlimit`);
2. `capture_inprocess` — `place_order` from 1 and 4 threads (`bench.capture`), invariants;
3. `http` — gunicorn + locust: availability (1 and 100 SKUs), capture with uniform SKUs and
   with the hot SKU, at 1, 4, 8 and 16 clients (`bench.http`), invariants after each capture;
4. `backoffice` — admin changelist, order detail and a customer's order history with the
   seeded history (`bench.backoffice`);
5. `services` — the sourcing engine in-process (5-line orders over 20 and 50 locations),
   delivery options and the sourcing job in-process (`bench.engine`, `bench.service`);
6. `sourcing_worker` — the sourcing job through a real Celery worker (`bench.worker`);
7. `profiles` — pyinstrument over each request of the table (`bench.profiles`);
8. `scheduled_jobs` — in a second throwaway database of their own: the reorder job over
   10,000 SKUs × 20 locations and the jeopardy scan over 1,000,000 open orders
   (`bench.reorder`, `bench.jeopardy`).

Throughputs are also given as a ratio to the raw limit at the same number of clients. Writes
`bench/results/<timestamp>.json` and `.md` (the table `docs/PERFORMANCE.md` quotes), prints
the table, and exits 1 when an invariant is broken or a target of issues 3 and 5 (engine,
delivery options, sourcing job, reorder job, jeopardy scan) is missed. The issue 6 targets are
reported, not failed: they are where later issues must get to.
"""

from __future__ import annotations

import importlib
import json
import os
from datetime import UTC, datetime
from pathlib import Path

from bench import report

SUITE_RESULTS_DIR = Path(__file__).resolve().parent / "results"
PARTS = (
    "raw_limit",
    "capture_inprocess",
    "http",
    "backoffice",
    "services",
    "sourcing_worker",
    "profiles",
    "scheduled_jobs",
)


def run(*, parts=PARTS, orders: int = 0, quick: bool = False, environment) -> int:
    from django.db import connection

    from bench.seed import seed_network

    if connection.vendor != "postgresql":
        raise SystemExit("--suite scale needs PostgreSQL: set DATABASE_URL (README Benchmarks).")
    seconds = 3 if quick else 10
    scale = 10 if quick else 1
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    print(f"Creating the throwaway database {connection.settings_dict['NAME']!r}…", flush=True)
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    # Other processes share the cores: the load before and after frames every figure.
    record: dict = {
        "suite": "scale",
        "parts": list(parts),
        "quick": quick,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }
    try:
        from bench.scale import seed_scale

        network = seed_network()
        print("Seeding the scale dataset…", flush=True)
        data = seed_scale(network, orders=orders)
        record["dataset"] = {
            "skus": len(data.sku_codes),
            "stocked_locations": len(data.location_ids),
            "customers": data.customers,
            "historical_orders": data.historical_orders,
            "seed_seconds": data.seed_seconds,
        }
        print(f"  seeded in {data.seed_seconds} s", flush=True)
        # (part, what is printed, how it is measured): run in this order, saved after each.
        steps = (
            (
                "raw_limit",
                "Raw limit (pgbench)",
                lambda: _part("rawlimit").run(data, seconds=seconds),
            ),
            (
                "capture_inprocess",
                "Capture in-process",
                lambda: _part("capture").run(data, seconds=seconds),
            ),
            (
                "http",
                "Over HTTP (gunicorn + locust)",
                lambda: _part("http").run(data, seconds=seconds),
            ),
            ("backoffice", "Back-office reads", lambda: _part("backoffice").run(data)),
            (
                "services",
                "Sourcing engine, delivery options, sourcing job in-process",
                lambda: _services(network, scale),
            ),
            (
                "sourcing_worker",
                "Sourcing job through a Celery worker",
                lambda: _part("worker").run(network, orders=_part("worker").ORDERS // scale),
            ),
            (
                "profiles",
                "Profiles (pyinstrument)",
                lambda: _part("profiles").run(
                    data,
                    out_dir=SUITE_RESULTS_DIR / f"{stamp}-profiles",
                    runs=max(_part("profiles").RUNS // scale, 3),
                ),
            ),
        )
        for part, title, measure in steps:
            if part in parts:
                print(f"{title}…", flush=True)
                # The services' results are judged against issue 3 and 5 targets.
                record["targets" if part == "services" else part] = measure()
                _save_partial(record, stamp)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
    if "scheduled_jobs" in parts:
        print("Scheduled jobs (their own database)…", flush=True)
        record.setdefault("targets", {}).update(_scheduled_jobs(scale))
    record["environment"] = environment()
    record["invariants_ok"] = report.invariants_ok(record)
    record["targets_met"] = all(t["passed"] for t in record.get("targets", {}).values())
    record["complete"] = True
    SUITE_RESULTS_DIR.mkdir(exist_ok=True)
    markdown = report.markdown(record)
    (SUITE_RESULTS_DIR / f"{stamp}.json").write_text(json.dumps(record, indent=2) + "\n")
    (SUITE_RESULTS_DIR / f"{stamp}.md").write_text(markdown)
    print()
    print(markdown)
    print(f"Written: {SUITE_RESULTS_DIR}/{stamp}.json and .md", flush=True)
    return 0 if record["invariants_ok"] and record["targets_met"] else 1


def _part(name: str):
    """A measuring module, imported when its part runs (some start Django's test machinery)."""
    return importlib.import_module(f"bench.{name}")


def _save_partial(record: dict, stamp: str) -> None:
    """What is measured so far, so a part that fails late does not lose the run's figures."""
    SUITE_RESULTS_DIR.mkdir(exist_ok=True)
    partial = {**record, "complete": False}
    (SUITE_RESULTS_DIR / f"{stamp}.json").write_text(json.dumps(partial, indent=2) + "\n")


def _services(network, scale: int) -> dict:
    from bench import engine, service

    results = [
        engine.run(runs=engine.RUNS // scale, candidates=candidates) for candidates in (20, 50)
    ]
    results[0].name = "engine_20_locations"
    results.append(
        service.delivery_options(network, requests=service.DELIVERY_OPTIONS_REQUESTS // scale)
    )
    results.append(service.sourcing_job(network, orders=service.SOURCING_ORDERS // scale))
    return {result.name: result.as_json() for result in results}


def _scheduled_jobs(scale: int) -> dict:
    from django.db import connection

    from bench import jeopardy, reorder
    from bench.seed import seed_network

    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        network = seed_network()
        results = [reorder.run(runs=max(reorder.RUNS // scale, 1))]
        results.append(jeopardy.run(network, orders=jeopardy.ORDERS // scale))
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
    return {result.name: result.as_json() for result in results}
