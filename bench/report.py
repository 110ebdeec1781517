"""The Markdown table of a `--suite scale` run: one row per measurement and client count.

Throughput rows carry their ratio to the raw limit at the same number of clients (pgbench on
the hand-written transaction): the share of what this machine's database allows that the
Python path reaches.
"""

from __future__ import annotations

HEADER = (
    "| measurement | clients | per second | p50 ms | p95 ms | p99 ms | ratio to raw limit | "
    "notes |\n|---|---:|---:|---:|---:|---:|---:|---|\n"
)


def invariants_ok(record: dict) -> bool:
    checks = [run["invariants"] for run in record.get("capture_inprocess", {}).values()]
    for runs in record.get("http", {}).get("capture", {}).values():
        checks += [run["invariants"] for run in runs.values()]
    return all(check["ok"] for check in checks)


def _ratio(record: dict, clients: int, per_second: float | None) -> str:
    raw = record.get("raw_limit", {}).get("clients", {}).get(clients)
    if not raw or not per_second:
        return ""
    return f"{per_second / raw['tps']:.2f}"


def _orm_ratio(record: dict, clients: int, per_second: float) -> str:
    orm = record.get("raw_limit", {}).get("orm_shaped", {}).get("clients", {}).get(clients)
    return f"{per_second / orm['tps']:.2f} of ORM-shaped; " if orm else ""


def _row(name, clients, per_second, summary, ratio="", notes="") -> str:
    def ms(key):
        value = summary.get(key)
        return "" if value is None else f"{value:.1f}"

    rate = "" if per_second is None else f"{per_second:,.0f}"
    return (
        f"| {name} | {clients} | {rate} | {ms('p50_ms')} | {ms('p95_ms')} | {ms('p99_ms')} | "
        f"{ratio} | {notes} |\n"
    )


def markdown(record: dict) -> str:
    out = []
    dataset = record.get("dataset", {})
    out.append(
        f"Dataset: {dataset.get('skus', 0):,} SKUs × {dataset.get('stocked_locations', 0)} "
        f"locations, {dataset.get('customers', 0):,} customers, "
        f"{dataset.get('historical_orders', 0):,} historical orders "
        f"(seeded in {dataset.get('seed_seconds', 0)} s).\n\n"
    )
    out.append(HEADER)
    raw = record.get("raw_limit", {}).get("clients", {})
    for clients, run in raw.items():
        notes = f"{run['transactions']:,} tx, {run['failed']} failed"
        out.append(_row("raw limit (pgbench)", clients, run["tps"], run, "1.00", notes))
    orm = record.get("raw_limit", {}).get("orm_shaped", {}).get("clients", {})
    for clients, run in orm.items():
        notes = f"{run['transactions']:,} tx, {run['failed']} failed; place_order's statements"
        ratio = _ratio(record, clients, run["tps"])
        out.append(_row("raw limit, ORM-shaped (pgbench)", clients, run["tps"], run, ratio, notes))
    for threads, run in record.get("capture_inprocess", {}).items():
        notes = (
            f"{run['orders']:,} orders, {run['replays']} replays "
            f"({run['replay_mismatches']} wrong), {run['cpu_ms_per_call']:.1f} ms CPU/call; "
            f"{_orm_ratio(record, int(threads), run['orders_per_second'])}"
            f"invariants {'ok' if run['invariants']['ok'] else 'BROKEN'}"
        )
        out.append(
            _row(
                "capture in-process (threads)",
                threads,
                run["orders_per_second"],
                run,
                _ratio(record, int(threads), run["orders_per_second"]),
                notes,
            )
        )
    http = record.get("http", {})
    for kind, runs in http.get("availability", {}).items():
        for clients, run in runs.items():
            notes = f"{run['requests']:,} requests, {run['failures']} failed"
            out.append(_row(f"availability {kind} over HTTP", clients, run["rps"], run, "", notes))
    for kind, runs in http.get("capture", {}).items():
        for clients, run in runs.items():
            notes = (
                f"{run['requests']:,} requests, {run['failures']} failed; invariants "
                f"{'ok' if run['invariants']['ok'] else 'BROKEN'}"
            )
            ratio = _ratio(record, int(clients), run["rps"])
            out.append(_row(f"capture over HTTP, {kind}", clients, run["rps"], run, ratio, notes))
    if http.get("server"):
        out.append(f"\nServer: {http['server']}. Load generator: {http.get('load_generator')}.\n")
    reads = record.get("backoffice", {})
    if reads:
        out.append("\n| back-office read | median ms | p99 ms | queries |\n|---|---:|---:|---:|\n")
        for name, run in reads.get("reads", {}).items():
            out.append(
                f"| {name} | {run['median_ms']:.1f} | {run['p99_ms']:.1f} | {run['queries']} |\n"
            )
    out.append(_services(record))
    out.append(_profiles(record))
    env = record.get("environment", {})
    if env:
        out.append(
            f"\n{env.get('processor')}, {env.get('cpus')} CPUs, load {env.get('load_average')}, "
            f"reference loop {env.get('reference_loop_us')} µs, commit {env.get('commit')}, "
            f"{env.get('at')}.\n"
        )
    return "".join(out)


# (result name, what the row measures)
SERVICE_ROWS = (
    ("engine_20_locations", "sourcing engine, 5 lines over 20 locations (CPU per decision)"),
    ("engine", "sourcing engine, 5 lines over 50 locations (CPU per decision)"),
    ("delivery_options", "delivery options, in-process test client (wall per request)"),
    ("sourcing_job", "sourcing job in-process (wall per order)"),
    ("reorder_job", "reorder job, 10,000 SKUs × 20 locations (seconds per run)"),
    ("jeopardy_scan", "jeopardy scan, 1,000,000 open orders (seconds per run)"),
)


def _services(record: dict) -> str:
    targets = record.get("targets", {})
    worker = record.get("sourcing_worker")
    if not targets and not worker:
        return ""
    out = [
        "\n| service or job | per second | median ms | p99 ms | target | met | notes |\n"
        "|---|---:|---:|---:|---|---|---|\n"
    ]
    for name, label in SERVICE_ROWS:
        result = targets.get(name)
        if not result:
            continue
        measured, setup = result["measured"], result["setup"]
        timing = measured.get("per_order") or measured
        per_second = measured.get("orders_per_second") or measured.get("decisions_per_second")
        notes = []
        if measured.get("cpu"):
            notes.append(f"CPU p99 {measured['cpu']['p99_ms']:.1f} ms")
        if measured.get("per_order_cpu"):
            notes.append(f"CPU median {measured['per_order_cpu']['median_ms']:.1f} ms")
        for key in ("statements_per_request", "statements_per_order", "statements_per_run"):
            if setup.get(key):
                notes.append(f"{setup[key]} statements")
        rate = f"{per_second:,.1f}" if per_second else ""
        out.append(
            f"| {label} | {rate} | {timing['median_ms']:.1f} | {timing['p99_ms']:.1f} | "
            f"{result['target']} | {'yes' if result['passed'] else 'NO'} | "
            f"{'; '.join(notes)} |\n"
        )
    if worker:
        task = worker.get("task_run_time") or {}
        out.append(
            f"| sourcing job through a Celery worker ({worker['orders']:,} orders) | "
            f"{worker['orders_per_second']:,.1f} | {task.get('median_ms', 0):.1f} | "
            f"{task.get('p99_ms', 0):.1f} | ≥ 100/s | "
            f"{'yes' if worker['orders_per_second'] >= 100 else 'NO'} | {worker['worker']}; "
            "ms are the task's run time per the worker log; released exactly once |\n"
        )
    return "".join(out)


def _profiles(record: dict) -> str:
    profiles = record.get("profiles")
    if not profiles:
        return ""
    out = ["\nWhere the time goes per request (pyinstrument, share of sampled time):\n\n"]
    for name, profile in profiles.items():
        shares = ", ".join(
            f"{bucket} {share:.0f} %"
            for bucket, share in profile["where_the_time_goes"].items()
            if share >= 3
        )
        top = "; ".join(
            f"`{f['function']}` {f['percent']:.0f} %" for f in profile["top_functions"][:3]
        )
        inclusive = "; ".join(
            f"`{f['function']}` {f['percent']:.0f} %"
            for f in profile.get("our_functions_inclusive", [])[:4]
        )
        out.append(
            f"- **{name}** ({profile['ms_per_request']:.1f} ms a request under the profiler): "
            f"{shares}. Top self time: {top}. Our code, inclusive: {inclusive}.\n"
        )
    return "".join(out)
