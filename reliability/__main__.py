"""`python -m reliability [--only NAME ...]`: run the scenarios, exit 1 on a broken invariant.

Runs on the PostgreSQL and Redis of DATABASE_URL / REDIS_URL. The database is a throwaway one
(Django's test-database machinery: created, migrated, destroyed); the processes a scenario
starts (gunicorn, Celery) get its name through reliability.settings. Results: one line per
invariant on stdout, and reliability-results/summary.json.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import tempfile
import time
import traceback
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent.parent / "reliability-results"
# Cheapest first: a settings mistake shows in seconds, not after the storms.
NAMES = (
    "production_settings",
    "isolation",
    "retry_storm",
    "flash_sale",
    "web_killed",
    "worker_killed",
    "broker_down",
    "hostile_input",
)


class Context:
    """What scenarios share: one gunicorn started on first use, and the log directory."""

    def __init__(self, stack: ExitStack, log_dir: Path, examples: int) -> None:
        self._stack = stack
        self.examples = examples
        self.log_dir = log_dir
        self._server = None

    def server(self):
        from reliability.harness import gunicorn

        if self._server is None:
            print("  starting gunicorn…", flush=True)
            self._server = self._stack.enter_context(gunicorn(self.log_dir))
        return self._server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reliability", description=__doc__)
    parser.add_argument("--only", action="append", choices=NAMES, help="run only these")
    parser.add_argument(
        "--examples",
        type=int,
        default=1000,
        help="schemathesis cases per operation (hostile_input); fewer is a smoke run",
    )
    args = parser.parse_args(argv)
    names = [name for name in NAMES if name in (args.only or NAMES)]
    modules = {name: importlib.import_module(f"reliability.{name}") for name in names}

    os.environ["DJANGO_SETTINGS_MODULE"] = "reliability.settings"
    import django

    django.setup()
    from django.db import connection
    from django.test.utils import setup_test_environment, teardown_test_environment

    from reliability.harness import Outcome

    if connection.vendor != "postgresql":
        print("make reliability needs PostgreSQL: set DATABASE_URL=postgres://…", file=sys.stderr)
        return 2
    RESULTS_DIR.mkdir(exist_ok=True)
    setup_test_environment()
    print(f"Creating the throwaway database {connection.creation._get_test_db_name()}…")
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    outcomes: list[Outcome] = []
    log_dir = Path(tempfile.mkdtemp(prefix="reliability-"))
    try:
        with ExitStack() as stack:
            context = Context(stack, log_dir, args.examples)
            for name, module in modules.items():
                print(f"\n== {name}: {module.__doc__.splitlines()[0]}", flush=True)
                started = time.monotonic()
                try:
                    outcome = module.run(context)
                except Exception:
                    outcome = Outcome(name)
                    outcome.expect(False, "the scenario ran to the end", traceback.format_exc())
                outcome.data["seconds"] = round(time.monotonic() - started, 1)
                outcomes.append(outcome)
    finally:
        connection.close()
        connection.creation.destroy_test_db(old_name, verbosity=0)
        teardown_test_environment()

    summary = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "passed": all(outcome.passed for outcome in outcomes),
        "scenarios": [outcome.as_json() for outcome in outcomes],
    }
    (RESULTS_DIR / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print("\nscenario              result   seconds")
    for outcome in outcomes:
        verdict = "skipped" if outcome.skipped else ("held" if outcome.passed else "BROKEN")
        print(f"{outcome.name:<21} {verdict:<8} {outcome.data['seconds']:>7}")
        for broken in outcome.broken:
            print(f"    broken: {broken.splitlines()[0][:160]}")
    print(f"JSON in {RESULTS_DIR}/summary.json; process logs in {log_dir}/")
    return 0 if summary["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
