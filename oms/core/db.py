"""Retrying whole transactions that PostgreSQL aborted to break a deadlock or a conflict."""

from __future__ import annotations

import functools
import logging
import random
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from django.db import OperationalError, connection

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

# 40P01 deadlock_detected, 40001 serialization_failure: both mean "run it again", and both
# leave nothing written because the whole transaction was rolled back.
TRANSIENT_SQLSTATES = {"40P01", "40001"}
MAX_ATTEMPTS = 4


def _is_transient(error: OperationalError) -> bool:
    cause = error.__cause__
    return getattr(cause, "sqlstate", None) in TRANSIENT_SQLSTATES


def retry_transient(func: Callable[P, R]) -> Callable[P, R]:
    """Run `func` (which opens its own transaction) again after a deadlock or a conflict.

    Inside an outer transaction a retry is impossible (the outer one is aborted), so the error
    is passed up for the outermost caller to retry.
    """

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                return func(*args, **kwargs)
            except OperationalError as error:
                if (
                    not _is_transient(error)
                    or connection.in_atomic_block
                    or attempt == MAX_ATTEMPTS
                ):
                    raise
                logger.warning("Retrying %s after %s (attempt %s)", func.__name__, error, attempt)
                time.sleep(random.uniform(0.005, 0.02) * attempt)
        raise AssertionError("unreachable")

    return wrapper
