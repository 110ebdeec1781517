"""`python -m bench --suite scale`: issue 6 §1 measured side by side in one run.

Creates the throwaway PostgreSQL database, seeds `bench.seed`'s network and `bench.scale`'s
dataset, then measures in this order (each step adds rows the next one reads):

1. `raw_limit` — pgbench on the hand-written capture transaction (`bench.rawlimit`);
2. `capture_inprocess` — `place_order` from 1 and 4 threads (`bench.capture`), invariants;
3. `http` — gunicorn + locust: availability (1 and 100 SKUs), capture with uniform SKUs and
   with the hot SKU, at 1, 4, 8 and 16 clients (`bench.http`), invariants after each capture;
4. `backoffice` — admin changelist, order detail and a customer's order history with the
   seeded history (`bench.backoffice`).

Throughputs are also given as a ratio to the raw limit at the same number of clients. Writes
`bench/results/<timestamp>.json` and `.md` (the table `docs/PERFORMANCE.md` quotes), prints
the table, and exits 1 when an invariant is broken (speed misses are reported, not failed:
the targets of issue 6 are where later issues must get to).
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

from bench import report

SUITE_RESULTS_DIR = Path(__file__).resolve().parent / "results"
PARTS = ("raw_limit", "capture_inprocess", "http", "backoffice")


def run(*, parts=PARTS, orders: int = 0, quick: bool = False, environment) -> int:
    from django.db import connection

    from bench.seed import seed_network

    if connection.vendor != "postgresql":
        raise SystemExit("--suite scale needs PostgreSQL: set DATABASE_URL (README Benchmarks).")
    seconds = 3 if quick else 10
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
        if "raw_limit" in parts:
            from bench import rawlimit

            print("Raw limit (pgbench)…", flush=True)
            record["raw_limit"] = rawlimit.run(data, seconds=seconds)
        if "capture_inprocess" in parts:
            from bench import capture

            print("Capture in-process…", flush=True)
            record["capture_inprocess"] = capture.run(data, seconds=seconds)
        if "http" in parts:
            from bench import http

            print("Over HTTP (gunicorn + locust)…", flush=True)
            record["http"] = http.run(data, seconds=seconds)
        if "backoffice" in parts:
            from bench import backoffice

            print("Back-office reads…", flush=True)
            record["backoffice"] = backoffice.run(data)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
    record["environment"] = environment()
    record["invariants_ok"] = report.invariants_ok(record)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    SUITE_RESULTS_DIR.mkdir(exist_ok=True)
    markdown = report.markdown(record)
    (SUITE_RESULTS_DIR / f"{stamp}.json").write_text(json.dumps(record, indent=2) + "\n")
    (SUITE_RESULTS_DIR / f"{stamp}.md").write_text(markdown)
    print()
    print(markdown)
    print(f"Written: {SUITE_RESULTS_DIR}/{stamp}.json and .md", flush=True)
    return 0 if record["invariants_ok"] else 1
