"""`python -m bench [--part P ...] [--orders N] [--quick]`: the whole of issue 6 §1 in one run
(bench/suite.py), written to bench/results/<timestamp>.json and .md.

`python -m bench --suite targets [--only NAME ...]`: only the issue 3 and 5 targets, each on a
small dataset of its own (minutes, not the scale run's half hour), written to bench-results/.
Both exit 1 on a missed issue 3/5 target or a broken invariant."""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import timeit
from datetime import UTC, datetime
from pathlib import Path

from bench.results import Result
from bench.suite import PARTS

RESULTS_DIR = Path(__file__).resolve().parent.parent / "bench-results"
NAMES = ("engine", "delivery_options", "sourcing_job", "reorder_job", "jeopardy_scan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--only", action="append", choices=NAMES, help="with --suite targets: run only these"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a tenth of the runs and orders: a smoke test, not a measure",
    )
    parser.add_argument(
        "--suite",
        choices=("scale", "targets"),
        default="scale",
        help="scale (default): everything of issue 6 §1 on PostgreSQL (bench/suite.py); "
        "targets: only the issue 3 and 5 targets, on small datasets",
    )
    parser.add_argument(
        "--part",
        action="append",
        choices=PARTS,
        help="run only these parts of the scale suite",
    )
    parser.add_argument(
        "--orders",
        type=int,
        default=1_000_000,
        help="historical orders to seed for the back-office reads (default 1,000,000)",
    )
    args = parser.parse_args(argv)
    names = args.only or list(NAMES)
    scale = 10 if args.quick else 1
    core = _pin_to_one_core()
    if args.suite == "scale":
        return _run_scale_suite(args, core)

    results: list[Result] = []
    if "engine" in names:
        from bench import engine

        results.append(engine.run(runs=engine.RUNS // scale))
    database_names = [name for name in names if name != "engine"]
    if database_names:
        results += _run_database_benchmarks(database_names, scale)

    environment = _environment(core)
    RESULTS_DIR.mkdir(exist_ok=True)
    for result in results:
        record = {**result.as_json(), "environment": environment}
        (RESULTS_DIR / f"{result.name}.json").write_text(json.dumps(record, indent=2) + "\n")
    summary = {
        "passed": all(result.passed for result in results),
        "results": {
            r.name: {"value": r.value, "target": r.target, "passed": r.passed} for r in results
        },
        "environment": environment,
    }
    (RESULTS_DIR / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    _print_summary(results, environment)
    return 0 if summary["passed"] else 1


def _run_database_benchmarks(names: list[str], scale: int) -> list[Result]:
    # Django comes up only here: the engine benchmark needs none of it.
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    import django

    django.setup()
    from django.db import connection
    from django.test.utils import setup_test_environment, teardown_test_environment

    from bench import service
    from bench.seed import seed_network

    setup_test_environment()  # the test client's host; e-mail to memory, never to SMTP
    print(f"Creating the throwaway {connection.vendor} database and seeding it…", flush=True)
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        network = seed_network()
        results = []
        if "delivery_options" in names:
            requests = service.DELIVERY_OPTIONS_REQUESTS // scale
            results.append(service.delivery_options(network, requests=requests))
        if "sourcing_job" in names:
            results.append(service.sourcing_job(network, orders=service.SOURCING_ORDERS // scale))
        if "reorder_job" in names:
            from bench import reorder

            results.append(reorder.run(runs=max(reorder.RUNS // scale, 1)))
        if "jeopardy_scan" in names:
            # Last: its million orders would slow every benchmark after it.
            from bench import jeopardy

            results.append(jeopardy.run(network, orders=jeopardy.ORDERS // scale))
        return results
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
        teardown_test_environment()


def _run_scale_suite(args, core: int | None) -> int:
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    import django

    django.setup()
    from django.test.utils import setup_test_environment, teardown_test_environment

    from bench import suite

    setup_test_environment()
    try:
        return suite.run(
            parts=tuple(args.part or suite.PARTS),
            orders=args.orders // 10 if args.quick else args.orders,
            quick=args.quick,
            environment=lambda: _environment(core),
        )
    finally:
        teardown_test_environment()


def _pin_to_one_core() -> int | None:
    """The targets are per core / per process: keep the scheduler from spreading us."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    core = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {core})
    return core


def _environment(core: int | None) -> dict:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": commit,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "processor": _cpu_model(),
        "cpus": os.cpu_count(),
        "pinned_to_core": core,
        # Other processes compete for the core: read wall-time figures with this in mind.
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "reference_loop_us": _reference_loop_us(),
    }


def _reference_loop_us() -> float:
    """Microseconds for `sum(range(1000))`, best of 5: how fast this machine runs Python
    right now, to compare results across machines (a recent laptop: about 6-8 µs)."""
    timer = timeit.Timer("sum(range(1000))")
    loops, _ = timer.autorange()
    return round(min(timer.repeat(5, loops)) / loops * 1e6, 2)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _print_summary(results: list[Result], environment: dict) -> None:
    print()
    print(f"{'benchmark':<18} {'median':>10} {'p99':>10} {'result':>16}  target")
    for result in results:
        measured = result.measured
        if result.name == "sourcing_job":
            median = measured["per_order"]["median_ms"]
            p99 = measured["per_order"]["p99_ms"]
            value = f"{result.value:.1f}/s"
        elif result.name == "jeopardy_scan":
            median, p99 = measured["median_ms"], measured["p99_ms"]
            value = f"{result.value:.2f} s"
        else:
            median, p99 = measured["median_ms"], measured["p99_ms"]
            value = f"{result.value:.2f} ms"
        verdict = "ok" if result.passed else "MISSED"
        print(
            f"{result.name:<18} {median:>8.2f}ms {p99:>8.2f}ms {value:>16}  "
            f"{result.target}: {verdict}"
        )
        cpu = measured.get("cpu") or measured.get("per_order_cpu")
        statements = result.setup.get("statements_per_request") or result.setup.get(
            "statements_per_order"
        )
        if cpu and statements:
            # What the load on a shared machine moves least: our CPU time and round trips.
            print(
                f"{'':<18} {cpu['median_ms']:>8.2f}ms {cpu['p99_ms']:>8.2f}ms "
                f"{'CPU time':>16}  {statements} SQL statements (BEGIN/COMMIT aside)"
            )
    print(
        f"\n{environment['processor']} (core {environment['pinned_to_core']}), "
        f"load {environment['load_average']}, reference loop "
        f"{environment['reference_loop_us']} µs; JSON in {RESULTS_DIR}/"
    )


if __name__ == "__main__":
    sys.exit(main())
