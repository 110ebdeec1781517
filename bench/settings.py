"""Settings for `python -m bench`: the project's settings, with a throwaway database.

`bench.__main__` creates the database named in DATABASES["default"]["TEST"] through Django's
test-database machinery (migrations included) and destroys it at the end, so the bench never
writes to the database DATABASE_URL (or var/oms.sqlite3) holds.
"""

import os
import tempfile
from pathlib import Path

# As under pytest: no SECRET_KEY needed, and work enqueued after a commit goes to an
# in-memory broker (the bench times the services, not a worker picking up messages).
os.environ.setdefault("OMS_TESTING", "1")

from oms.settings import *  # noqa: F403
from oms.settings import DATABASES, REST_FRAMEWORK

DEBUG = False  # DEBUG keeps every SQL statement in memory: slower, and not production
# One API key sends thousands of requests in a few seconds; the throttle still runs (its cache
# round trip is part of every request), it just never refuses.
REST_FRAMEWORK = {**REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"caller": "1000000/min"}}

_database = DATABASES["default"]
if _database["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not SQLite's in-memory test database: commits then cost what they cost on disk.
    _test_name = str(Path(tempfile.gettempdir()) / f"oms-bench-{os.getpid()}.sqlite3")
else:
    # Not pytest's `test_<name>`: a bench and a test run may share a server.
    _test_name = f"bench_{_database['NAME']}"
_database["TEST"] = {"NAME": _test_name}

# bench/worker.py only: the worker it starts, and the messages it publishes, use a private
# redis-server; every other process of the bench keeps the in-memory broker.
if os.environ.get("BENCH_BROKER_URL"):
    CELERY_BROKER_URL = os.environ["BENCH_BROKER_URL"]
