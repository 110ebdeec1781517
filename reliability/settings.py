"""Settings for `python -m reliability` and the processes it starts (gunicorn, Celery).

The runner creates the database named in DATABASES["default"]["TEST"] through Django's
test-database machinery and destroys it at the end; the processes it starts find that name in
RELIABILITY_DATABASE_NAME, so nothing ever touches the database DATABASE_URL names.
"""

import os
from datetime import timedelta

# No SECRET_KEY needed, and after-commit work goes to an in-memory broker unless a scenario
# starts a worker and gives the processes a private Redis (RELIABILITY_BROKER_URL).
os.environ.setdefault("OMS_TESTING", "1")

from oms.settings import *  # noqa: F403
from oms.settings import CACHES, CELERY_BEAT_SCHEDULE, DATABASES, MIDDLEWARE, REST_FRAMEWORK

DEBUG = False  # what production runs: no browsable API, no SQL kept in memory
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
# Storms send thousands of requests per key in seconds; the throttle still runs, never refuses.
REST_FRAMEWORK = {**REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"caller": "1000000/min"}}
# The shared Redis may hold other runs' keys (ids restart in every throwaway database).
CACHES = {"default": {**CACHES["default"], "KEY_PREFIX": "reliability"}}

_broker = os.environ.get("RELIABILITY_BROKER_URL")
if _broker:
    CELERY_BROKER_URL = _broker
if os.environ.get("RELIABILITY_SWEEP_SECONDS"):
    # Beat in worker_killed / broker_down runs only the two sweeps that bring lost work back,
    # every few seconds instead of every 30 and 60, so a scenario waits seconds, not minutes.
    _every = timedelta(seconds=int(os.environ["RELIABILITY_SWEEP_SECONDS"]))
    CELERY_BEAT_SCHEDULE = {
        name: {**CELERY_BEAT_SCHEDULE[name], "schedule": _every}
        for name in ("relay-outbox", "sweep-unsourced-orders")
    }
if os.environ.get("RELIABILITY_KILL_SWITCH_DIR"):
    # web_killed only: SIGKILL the worker process after the commit, before the response
    # (reliability/kill_switch.py). Never in oms.settings, never without this variable.
    MIDDLEWARE = ["reliability.kill_switch.KillAfterCommitMiddleware", *MIDDLEWARE]

_database = DATABASES["default"]
_test_name = f"reliability_{_database['NAME']}"
_database["TEST"] = {"NAME": _test_name}
if os.environ.get("RELIABILITY_DATABASE_NAME"):
    _database["NAME"] = os.environ["RELIABILITY_DATABASE_NAME"]
