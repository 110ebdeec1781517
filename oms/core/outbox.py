"""Write outbox rows inside a service's transaction; deliver them to subscribers after commit.

Lower apps record what happened (`record`); higher apps react by subscribing in their
AppConfig.ready() (`subscribe`), so no lower app imports a higher one.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from django.db import transaction
from django.utils import timezone

from oms.core import hotpath
from oms.core.models import OutboxMessage

logger = logging.getLogger(__name__)

Handler = Callable[[OutboxMessage], None]
_subscribers: dict[str, list[Handler]] = defaultdict(list)

# Small enough that one relay run holds its row locks briefly, large enough to drain a burst of
# captures (the relay also runs after each commit) within a few beat periods.
RELAY_BATCH_SIZE = 200
MAX_ATTEMPTS = 10


def subscribe(topic: str, handler: Handler) -> None:
    if handler not in _subscribers[topic]:
        _subscribers[topic].append(handler)


def record(*, topic: str, aggregate_id: Any, payload: dict[str, Any]) -> OutboxMessage:
    message = OutboxMessage(topic=topic, aggregate_id=str(aggregate_id), payload=payload)
    hotpath.insert([message])  # every capture writes one
    from oms.core.tasks import enqueue_on_commit, relay_outbox

    enqueue_on_commit(relay_outbox)
    return message


def record_many(
    *, topic: str, messages: Iterable[tuple[Any, dict[str, Any]]]
) -> list[OutboxMessage]:
    """`record` for several (aggregate_id, payload) pairs of one topic: one INSERT, one relay."""
    rows = [
        OutboxMessage(topic=topic, aggregate_id=str(aggregate_id), payload=payload)
        for aggregate_id, payload in messages
    ]
    hotpath.insert(rows)  # the sourcing job writes one batch per order
    if rows:
        from oms.core.tasks import enqueue_on_commit, relay_outbox

        enqueue_on_commit(relay_outbox)
    return rows


def relay_pending(*, batch_size: int = RELAY_BATCH_SIZE) -> int:
    """Deliver one batch of pending messages; returns how many were delivered."""
    delivered = 0
    with transaction.atomic():
        batch = list(
            OutboxMessage.objects.select_for_update(skip_locked=True)
            .filter(published_at__isnull=True, attempts__lt=MAX_ATTEMPTS)
            .order_by("id")[:batch_size]
        )
        now = timezone.now()
        for message in batch:
            try:
                with transaction.atomic():
                    for handler in _subscribers.get(message.topic, []):
                        handler(message)
            except Exception as error:  # a failing subscriber retries later, others go on
                logger.exception("Outbox handler failed for %s", message)
                message.attempts += 1
                message.last_error = repr(error)[:2000]
                message.save(update_fields=["attempts", "last_error"])
                continue
            message.published_at = now
            message.attempts += 1
            message.save(update_fields=["published_at", "attempts"])
            delivered += 1
    return delivered
