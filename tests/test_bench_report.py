"""The bench's report: what a reader of bench/results/*.md and docs/PERFORMANCE.md sees."""

from bench import report
from bench.profiles import ROOT, _bucket


def _target(name, value, limit, passed, **measured):
    return {
        "name": name,
        "target": f"p99_ms < {limit}",
        "passed": passed,
        "measured": {"median_ms": value / 2, "p99_ms": value, **measured},
        "setup": {"statements_per_request": 6},
    }


def test_the_table_shows_each_job_against_its_target_and_the_worker_run():
    record = {
        "targets": {
            "delivery_options": _target("delivery_options", 88.1, 50, False),
            "engine": _target("engine", 3.7, 5, True, decisions_per_second=402.8),
        },
        "sourcing_worker": {
            "orders": 1000,
            "orders_per_second": 31.2,
            "task_run_time": {"median_ms": 17.3, "p99_ms": 38.1},
            "worker": "celery prefork, concurrency 2",
        },
        "profiles": {
            "availability, 1 SKU": {
                "ms_per_request": 29.5,
                "where_the_time_goes": {"ORM": 33.2, "SQL": 17.5, "JSON": 1.0},
                "top_functions": [{"function": "wait (psycopg)", "percent": 7.6}],
                "our_functions_inclusive": [{"function": "authenticate", "percent": 49.7}],
            }
        },
    }
    table = report.markdown(record)
    delivery = "| delivery options, in-process test client (wall per request) |  | 44.0 | 88.1 |"
    assert delivery in table
    assert "| NO |" in table and "| yes |" in table
    assert "| 402.8 |" in table  # the engine's decisions per second
    assert "(1,000 orders) | 31.2 | 17.3 | 38.1 | ≥ 100/s | NO |" in table
    # Shares under 3 % are left out of the profile line; the top function and our code stay.
    assert "ORM 33 %, SQL 18 %." in table and "JSON" not in table
    assert "`authenticate` 50 %" in table


def test_a_broken_invariant_in_any_capture_run_fails_the_run():
    ok, broken = {"invariants": {"ok": True}}, {"invariants": {"ok": False}}
    assert report.invariants_ok({"capture_inprocess": {"1": ok}, "http": {"capture": {}}})
    assert not report.invariants_ok(
        {"capture_inprocess": {"1": ok}, "http": {"capture": {"hot": {"8": broken}}}}
    )


def test_profile_time_is_attributed_to_the_library_that_ran():
    site = "/x/.venv/lib/python3.11/site-packages"
    assert _bucket(f"{site}/psycopg/connection.py") == "SQL: driver and database wait"
    assert _bucket(f"{site}/django/db/models/query.py") == "ORM: queries and model instances"
    assert _bucket(f"{site}/django/template/base.py") == "Django: templates"
    assert _bucket(f"{site}/rest_framework/fields.py") == "DRF: serializers, renderers, views"
    assert _bucket(f"{ROOT}/orders/services/capture.py") == "our code"
    assert _bucket("/usr/lib/python3.11/json/encoder.py") == "JSON"
