"""The benchmark suite: the speed targets of issue 3, measured and checked (`make bench`).

- `engine`: `fulfillment.sourcing.engine.source` on one fixed, seeded request (5 lines,
  50 candidate locations; pure, no database). Target: p99 under 5 ms of CPU on one core.
- `delivery_options`: `POST /api/v1/delivery-options/` through the Django test client
  (middleware, API-key auth, throttle, engine, JSON) against a seeded network of 50
  locations. Target: p99 under 50 ms.
- `sourcing_job`: `fulfillment.sourcing.service.source_order` over orders captured
  beforehand, one after another, each in its own transaction. Target: at least 100 orders
  per second in one process.

`python -m bench` runs them all (or `--only NAME`), writes one JSON file per benchmark and a
`summary.json` to `bench-results/`, prints a summary and exits 1 when a target is missed.
Beside wall time, the database benchmarks report their CPU time and the SQL statements one
warm request or order sends: what another process's load on the machine moves least.
The process is pinned to one CPU core. The database benchmarks run against a throwaway
database that the bench creates and drops itself (Django's test-database machinery, settings
in `bench.settings`): a temporary SQLite file by default, or `bench_<name>` on the
PostgreSQL server `DATABASE_URL` points at. The development and production databases are
never touched. `make test` does not run any of this.
"""
