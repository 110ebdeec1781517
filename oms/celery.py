import os

from celery import Celery
from celery.signals import task_postrun, task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "oms.settings")

app = Celery("oms")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_prerun.connect
@task_postrun.connect
def close_old_database_connections(task=None, **_) -> None:
    """What Django does around each request, around each task: close connections past
    CONN_MAX_AGE or left unusable by an error (a database restart costs the one task that meets
    it, which retries: autoretry on OperationalError). Without it Celery's fixup
    would close every connection around every task (CELERY_DB_REUSE_MAX in settings), so each
    task opened a new PostgreSQL connection and lost its prepared statements: a sourcing task
    took 3× the time of the same call in a web process (bench/worker.py). A task run eagerly
    (`apply()`) runs inside its caller's transaction: that connection is not ours to close."""
    from django.db import close_old_connections

    if task is not None and getattr(task.request, "is_eager", False):
        return
    close_old_connections()
