"""A worker keeps its database connection between tasks as a web process does between
requests (CONN_MAX_AGE), and drops it when it is too old or broken."""

import time
from types import SimpleNamespace

import pytest
from celery.fixups.django import DjangoWorkerFixup
from celery.signals import task_postrun, task_prerun
from django.conf import settings
from django.db import connection

from oms.celery import app

pytestmark = [
    pytest.mark.django_db(transaction=True),
    # SQLite's in-memory test database ignores close(): nothing to observe there.
    pytest.mark.skipif(
        "postgresql" not in settings.DATABASES["default"]["ENGINE"],
        reason="needs PostgreSQL (DATABASE_URL): an in-memory SQLite connection never closes",
    ),
]

A_WORKER_TASK = SimpleNamespace(request=SimpleNamespace(is_eager=False))


def _connected() -> bool:
    return connection.connection is not None


def test_celerys_fixup_leaves_the_connection_to_us():
    fixup = DjangoWorkerFixup(app)
    connection.ensure_connection()
    for _ in range(10):  # five tasks: before and after each
        fixup.close_database()
    assert _connected()


def test_a_connection_within_its_age_is_kept_across_tasks():
    connection.ensure_connection()
    connection.close_at = time.monotonic() + 60  # what CONN_MAX_AGE=60 sets
    backend = connection.connection.info.backend_pid
    for signal in (task_prerun, task_postrun, task_prerun):
        signal.send(sender=None, task=A_WORKER_TASK)
    assert _connected()
    assert connection.connection.info.backend_pid == backend


def test_an_old_or_broken_connection_is_closed_after_the_task():
    connection.ensure_connection()
    connection.close_at = time.monotonic() - 1  # past CONN_MAX_AGE
    task_postrun.send(sender=None, task=A_WORKER_TASK)
    assert not _connected()

    connection.ensure_connection()
    connection.close_at = time.monotonic() + 60
    connection.errors_occurred = True
    connection.is_usable = lambda: False  # the server went away during the task
    task_postrun.send(sender=None, task=A_WORKER_TASK)
    assert not _connected()
    del connection.is_usable


def test_a_task_run_eagerly_leaves_its_callers_connection_alone():
    connection.ensure_connection()
    connection.close_at = time.monotonic() - 1
    task_postrun.send(sender=None, task=SimpleNamespace(request=SimpleNamespace(is_eager=True)))
    assert _connected()
