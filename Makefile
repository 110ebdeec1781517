# Developer entry points. `make run` and `make test` work on a fresh machine with Python 3.11:
# no database or broker server needed (SQLite and kombu's filesystem transport under var/).
# DATABASE_URL / REDIS_URL switch to PostgreSQL / Redis (see README "Configuration").

VENV := .venv
BIN := $(VENV)/bin
PYTHON := $(BIN)/python
# pyproject pins Python 3.11; fall back to python3 and let pip say so if it is another version.
BOOTSTRAP_PYTHON := $(shell command -v python3.11 2>/dev/null || command -v python3)
PYTEST_ARGS ?=

.PHONY: venv run test lint

venv: $(VENV)/.installed

# The stamp makes re-runs instant; editing pyproject.toml (dependencies) reinstalls.
$(VENV)/.installed: pyproject.toml
	test -x $(PYTHON) || $(BOOTSTRAP_PYTHON) -m venv $(VENV)
	$(PYTHON) -m pip install -e ".[dev]"
	touch $@

# Settings refuse to start without SECRET_KEY unless DEBUG is on; `make run` is for development.
run: export DEBUG := 1
# Procfile.dev says `python` and `celery`: the virtual environment's ones.
run: export PATH := $(CURDIR)/$(BIN):$(PATH)
run: venv
	$(PYTHON) manage.py migrate
	$(PYTHON) manage.py seed_demo
	$(BIN)/honcho -f Procfile.dev start

# The settings detect pytest: no SECRET_KEY needed; SQLite unless DATABASE_URL is set.
test: venv
	$(BIN)/pytest $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	DEBUG=1 $(PYTHON) manage.py makemigrations --check --dry-run

# Issue 6 §1 in one run on PostgreSQL (README "Benchmarks"); exits non-zero on a broken
# invariant or a missed issue 3/5 target.
# Not part of `make test`. BENCH_ARGS="--suite targets" runs only those, "--quick" is a smoke run.
# .PHONY matters here: bench/ is also a directory, which make would call up to date.
.PHONY: bench
bench: venv
	$(PYTHON) -m bench $(BENCH_ARGS)

# Faults and hostile input against real processes (README "Reliability"); needs PostgreSQL
# (DATABASE_URL). Exits non-zero on a broken invariant. RELIABILITY_ARGS="--only retry_storm".
.PHONY: reliability
reliability: venv
	$(PYTHON) -m reliability $(RELIABILITY_ARGS)
