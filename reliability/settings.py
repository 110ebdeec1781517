"""Settings for `python -m reliability` and the processes it starts (gunicorn, Celery).

The runner creates the database named in DATABASES["default"]["TEST"] through Django's
test-database machinery and destroys it at the end; the processes it starts find that name in
RELIABILITY_DATABASE_NAME, so nothing ever touches the database DATABASE_URL names.
"""

import os

# No SECRET_KEY needed, and after-commit work goes to an in-memory broker unless a scenario
# starts a worker and gives the processes a private Redis (RELIABILITY_BROKER_URL).
os.environ.setdefault("OMS_TESTING", "1")

from oms.settings import *  # noqa: F403
from oms.settings import CACHES, DATABASES, REST_FRAMEWORK

DEBUG = False  # what production runs: no browsable API, no SQL kept in memory
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
# Storms send thousands of requests per key in seconds; the throttle still runs, never refuses.
REST_FRAMEWORK = {**REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"caller": "1000000/min"}}
# The shared Redis may hold other runs' keys (ids restart in every throwaway database).
CACHES = {"default": {**CACHES["default"], "KEY_PREFIX": "reliability"}}

_broker = os.environ.get("RELIABILITY_BROKER_URL")
if _broker:
    CELERY_BROKER_URL = _broker

_database = DATABASES["default"]
_test_name = f"reliability_{_database['NAME']}"
_database["TEST"] = {"NAME": _test_name}
if os.environ.get("RELIABILITY_DATABASE_NAME"):
    _database["NAME"] = os.environ["RELIABILITY_DATABASE_NAME"]
