import logging
from functools import partial

from celery import shared_task
from django.db import transaction

from oms.core import outbox

logger = logging.getLogger(__name__)


def _enqueue(task, *args) -> None:
    try:
        task.delay(*args)
    except Exception:  # broker down: the periodic sweeps pick the work up later
        logger.warning("Could not enqueue %s%s; a sweep will.", task.name, args, exc_info=True)


def enqueue_on_commit(task, *args) -> None:
    """Enqueue after commit; a broker outage must never turn a committed change into a 500."""
    transaction.on_commit(partial(_enqueue, task, *args), robust=True)


@shared_task(acks_late=True, ignore_result=True)
def relay_outbox() -> int:
    return outbox.relay_pending()
