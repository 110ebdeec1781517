"""Availability and capture over HTTP: gunicorn serving the throwaway database, locust headless
in another process driving it (`bench/locustfile.py`).

gunicorn: `WORKERS` sync workers (gunicorn's 2 × cores + 1 advice), persistent database
connections (CONN_MAX_AGE=60, what a deployment would set), bench settings (DEBUG off, the
throttle effectively unlimited, Celery messages to memory: no worker runs). Neither process
is pinned: gunicorn's workers, locust and PostgreSQL share the machine's cores, as they would
on a single-box deployment, so these figures include the load generator's own CPU.

Each scenario runs at 1, 4, 8 and 16 users for `SECONDS` after a short warm-up: availability
of 1 and of 100 random scale SKUs per call; capture of 3 uniform random SKUs per order; and
the hot case, every order 1 unit of `SC-HOT`, stocked at one location only, so every capture
queues on the same stock row. The invariants are checked after each capture scenario.
"""

from __future__ import annotations

import csv
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from django.db import connection

from bench import invariants
from bench.rawlimit import unpin
from bench.scale import ScaleData

CLIENTS = (1, 4, 8, 16)
SECONDS = 10
WARMUP_SECONDS = 4
WORKERS = 2 * (os.cpu_count() or 1) + 1
BIN = Path(sys.executable).parent
LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"
AVAILABILITY = ("availability-1", "availability-100")
CAPTURE = ("capture-uniform", "capture-hot")


def run(data: ScaleData, *, clients=CLIENTS, seconds: int = SECONDS) -> dict:
    if not (BIN / "locust").exists():
        raise SystemExit("locust is not installed: `pip install -e '.[dev]'` (README Benchmarks).")
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="bench-http-") as workdir:
        skus = Path(workdir) / "skus.txt"
        skus.write_text("\n".join(data.sku_codes) + "\n")
        server = _start_gunicorn(port, workdir)
        try:
            results: dict = {"availability": {}, "capture": {}}
            for scenario in AVAILABILITY + CAPTURE:
                kind = "availability" if scenario in AVAILABILITY else "capture"
                label = scenario.split("-", 1)[1]
                label = (
                    f"{label} SKU{'s' if label == '100' else ''}"
                    if kind == "availability"
                    else label
                )
                # Every worker must have served the scenario before it is timed: the first
                # request of a process loads code and per-process caches.
                _locust(scenario, WORKERS, WARMUP_SECONDS, port, data, skus, workdir)
                runs = {}
                for count in clients:
                    runs[count] = _locust(scenario, count, seconds, port, data, skus, workdir)
                    if kind == "capture":
                        runs[count]["invariants"] = invariants.check()
                results[kind][label] = runs
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
            log = (Path(workdir) / "gunicorn.log").read_text()
        errors = [line for line in log.splitlines() if "Traceback" in line or "[ERROR]" in line]
        results["server"] = (
            f"gunicorn oms.wsgi, {WORKERS} sync workers, CONN_MAX_AGE=60, bench.settings"
        )
        results["load_generator"] = (
            "locust headless (FastHttpUser, no think time), one process on the same machine"
        )
        results["server_errors_logged"] = len(errors)
    return results


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url() -> str:
    s = connection.settings_dict
    password = f":{s['PASSWORD']}" if s.get("PASSWORD") else ""
    return (
        f"postgres://{s.get('USER') or 'postgres'}{password}@{s.get('HOST') or 'localhost'}:"
        f"{s.get('PORT') or 5432}/{s['NAME']}"
    )


def _start_gunicorn(port: int, workdir: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DATABASE_URL": database_url(),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "CONN_MAX_AGE": "60",
    }
    log = open(Path(workdir) / "gunicorn.log", "w")  # noqa: SIM115 — closed with the process
    server = subprocess.Popen(
        [
            str(BIN / "gunicorn"),
            "oms.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(WORKERS),
            "--log-level",
            "warning",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=unpin,
        cwd=Path(__file__).resolve().parent.parent,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/", timeout=2):
                return server
        except OSError:
            if server.poll() is not None:
                break
            time.sleep(0.3)
    server.kill()
    raise RuntimeError(f"gunicorn did not come up:\n{(Path(workdir) / 'gunicorn.log').read_text()}")


def _locust(scenario, users, seconds, port, data: ScaleData, skus: Path, workdir) -> dict:
    prefix = Path(workdir) / f"{scenario}-{users}-{seconds}"
    env = {
        **os.environ,
        "BENCH_SCENARIO": scenario,
        "BENCH_API_KEY": data.network.api_key,
        "BENCH_SKUS": str(skus),
        "BENCH_CUSTOMERS": str(data.customers),
    }
    command = [
        str(BIN / "locust"),
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "--users",
        str(users),
        "--spawn-rate",
        str(users),
        "--run-time",
        f"{seconds}s",
        "--host",
        f"http://127.0.0.1:{port}",
        "--csv",
        str(prefix),
        "--only-summary",
        "--loglevel",
        "ERROR",
        "--exit-code-on-error",
        "0",
    ]
    completed = subprocess.run(
        command, capture_output=True, text=True, env=env, preexec_fn=unpin, check=False
    )
    stats = Path(f"{prefix}_stats.csv")
    if not stats.exists():
        raise RuntimeError(f"locust failed:\n{completed.stdout}\n{completed.stderr}")
    with stats.open() as handle:
        row = next(r for r in csv.DictReader(handle) if r["Name"] == "Aggregated")

    def number(key: str) -> float | None:
        value = row.get(key, "N/A")
        return None if value in ("N/A", "") else float(value)

    failures = Path(f"{prefix}_failures.csv")
    failure_samples = []
    if failures.exists():
        with failures.open() as handle:
            failure_samples = [r.get("Error", "")[:200] for r in csv.DictReader(handle)][:3]
    return {
        "clients": users,
        "requests": int(number("Request Count") or 0),
        "failures": int(number("Failure Count") or 0),
        "failure_samples": failure_samples,
        "rps": round(number("Requests/s") or 0, 1),
        "mean_ms": number("Average Response Time"),
        "p50_ms": number("50%"),
        "p95_ms": number("95%"),
        "p99_ms": number("99%"),
        "max_ms": number("Max Response Time"),
    }
