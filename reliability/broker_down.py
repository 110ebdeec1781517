"""Broker down: Redis stopped during capture; orders still captured, processed once later
(issue 6 §2).

Against a private Redis, gunicorn, a prefork worker and beat, clients place orders; then
Redis is killed (no persistence: whatever it queued is gone) and they keep placing orders for
a while. Every order must still be accepted (201): the capture commits its outbox row and
only logs that it could not enqueue the relay. When Redis is started again on the same port,
the worker and beat reconnect, the outbox relay and the sourcing sweep find what the outage
held back, and every order ends sourced exactly once.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

from reliability.background import background_stack, sourced_exactly_once, unsourced, wait_for
from reliability.harness import (
    Outcome,
    order_body,
    run_together,
    seed_channel,
    seed_reference,
    seed_sku,
    stock_consistency,
)

NAME = "broker_down"
CHANNEL = "brokerdown"
SKU = "REL-BROKERDOWN"
CLIENTS = 4
BEFORE, DURING, AFTER = 40, 80, 40  # orders placed before, during and after the outage
MIN_OUTAGE = 5.0  # seconds Redis stays down at least
SETTLE_TIMEOUT = 180


def run(context) -> Outcome:
    from oms.core.models import OutboxMessage

    outcome = Outcome(NAME)
    seed_reference()
    _, api_key = seed_channel(CHANNEL)
    seed_sku(SKU, BEFORE + DURING + AFTER)
    with background_stack(context.log_dir) as stack:
        local = threading.local()

        def place(first: int, count: int) -> tuple[Counter, list[float]]:
            def one(index: int):
                if not hasattr(local, "client"):
                    local.client = stack.server.client(api_key)
                started = time.monotonic()
                reply = local.client.send(
                    "POST",
                    "/api/v1/orders/",
                    order_body(SKU, 1, email=f"bd{first + index}@example.com"),
                    {"Idempotency-Key": f"broker-down-{first + index}"},
                )
                return reply.status, time.monotonic() - started

            results = run_together(count, one, workers=CLIENTS)
            statuses = Counter(r[0] if isinstance(r, tuple) else repr(r) for r in results)
            return statuses, sorted(r[1] for r in results if isinstance(r, tuple))

        outcome.attempt(f"{BEFORE} orders with Redis up")
        statuses, _ = place(0, BEFORE)
        outcome.expect(statuses == {201: BEFORE}, "before: every order accepted", str(statuses))

        outcome.attempt(f"Redis SIGKILLed; {DURING} orders while it is down")
        stack.redis.stop()
        down_at = time.monotonic()
        statuses, seconds = place(BEFORE, DURING)
        time.sleep(max(0.0, MIN_OUTAGE - (time.monotonic() - down_at)))
        outage = time.monotonic() - down_at
        outcome.note(
            f"during: statuses {dict(statuses)}, answer p50 {seconds[len(seconds) // 2]:.2f} s, "
            f"max {seconds[-1]:.2f} s; Redis down {outage:.1f} s"
        )
        outcome.data["during"] = {
            "statuses": dict(statuses),
            "p50_seconds": round(seconds[len(seconds) // 2], 3),
            "max_seconds": round(seconds[-1], 3),
            "outage_seconds": round(outage, 1),
        }
        outcome.expect(
            statuses == {201: DURING}, "during the outage: every order accepted", str(statuses)
        )
        held = OutboxMessage.objects.filter(topic="order.placed", published_at__isnull=True).count()
        waiting = unsourced(CHANNEL)
        outcome.note(
            f"when Redis came back: {held} order.placed outbox rows unpublished, "
            f"{waiting} orders unsourced"
        )
        outcome.data.update(outbox_held=held, unsourced_at_return=waiting)
        outcome.expect(
            waiting >= DURING, "the outage held the work back (orders placed, not yet sourced)"
        )

        outcome.attempt(f"Redis started again on port {stack.redis.port}; {AFTER} more orders")
        stack.redis.start()
        statuses, _ = place(BEFORE + DURING, AFTER)
        outcome.expect(statuses == {201: AFTER}, "after: every order accepted", str(statuses))
        remaining, waited = wait_for(
            lambda: unsourced(CHANNEL), timeout=SETTLE_TIMEOUT, what="orders not yet sourced"
        )
        outcome.note(f"all orders sourced {waited} s after the last capture ({remaining} left)")
        outcome.data["settle_seconds"] = waited
        outcome.expect(
            stack.worker.process is not None and stack.worker.process.poll() is None,
            "the worker survived the outage (reconnected)",
        )
        time.sleep(3)  # a duplicate delivery, if any, runs now and shows in the counts
    sourced_exactly_once(outcome, CHANNEL, BEFORE + DURING + AFTER)
    stock_consistency(outcome, [SKU])
    return outcome
