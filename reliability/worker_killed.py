"""Worker killed: orders placed while the Celery worker is SIGKILLed mid-job (issue 6 §2).

Against a private Redis, gunicorn, a prefork worker and beat (the two sweeps every few
seconds), clients place orders while the worker is killed over and over: a pool process
(the worker puts the message back: acks_late + task_reject_on_worker_lost), then the whole
worker, restarted a moment later (what it had taken stays unacknowledged in Redis for the
visibility timeout; the outbox relay and the sourcing sweep find that work). Every order must
end sourced exactly once: one fulfillment order, one reservation per line in one fulfillment
line, one release on the timeline and in the outbox, stock consistent.
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

NAME = "worker_killed"
CHANNEL = "workerkilled"
SKU = "REL-WORKERKILL"
CLIENTS = 4
KILL_ROUNDS = 3  # each: one pool process, then the whole worker
KILL_AFTER = 1.0  # seconds of work between a (re)start and the next kill
MAX_ORDERS = 2000  # stock for the clients; they stop when the kills are done
# Work a dead worker took is found by the sourcing sweep once the order is 30 s old.
SETTLE_TIMEOUT = 180


def chaos(worker) -> list[dict]:
    """Kill while the worker runs tasks; returns what each kill interrupted."""
    kills = []
    for _ in range(KILL_ROUNDS):
        for whole in (False, True):
            time.sleep(KILL_AFTER)
            deadline = time.monotonic() + 10
            while not worker.in_flight() and time.monotonic() < deadline:
                time.sleep(0.05)  # wait for a task to be running: kill mid-job
            interrupted = worker.in_flight()
            waiting = unsourced(CHANNEL)
            if whole:
                worker.kill()
                worker.start()  # waits until it consumes again
            else:
                worker.kill_child()
            kills.append(
                {
                    "what": "whole worker" if whole else "pool process",
                    "tasks_in_flight": len(interrupted),
                    "orders_unsourced": waiting,
                }
            )
    return kills


def run(context) -> Outcome:
    outcome = Outcome(NAME)
    seed_reference()
    _, api_key = seed_channel(CHANNEL)
    seed_sku(SKU, MAX_ORDERS)
    with background_stack(context.log_dir) as stack:
        worker = stack.worker
        outcome.attempt(
            f"{CLIENTS} clients placing orders while the worker is SIGKILLed mid-job "
            f"{KILL_ROUNDS * 2} times, alternately one pool process (the worker replaces it) "
            "and the whole worker (restarted)"
        )
        capturing = threading.Event()
        capturing.set()
        placed = iter(range(MAX_ORDERS))
        lock = threading.Lock()

        def client_loop(_: int) -> list:
            client = stack.server.client(api_key)
            replies = []
            while capturing.is_set():
                with lock:
                    index = next(placed, None)
                if index is None:
                    break
                replies.append(
                    client.send(
                        "POST",
                        "/api/v1/orders/",
                        order_body(SKU, 1, email=f"wk{index}@example.com"),
                        {"Idempotency-Key": f"worker-killed-{index}"},
                    )
                )
            client.close()
            return replies

        results: list = []
        clients = threading.Thread(
            target=lambda: results.extend(run_together(CLIENTS, client_loop)), name="clients"
        )
        clients.start()
        try:
            kills = chaos(worker)
        finally:
            capturing.clear()
            clients.join()
        replies = [r for result in results if isinstance(result, list) for r in result]
        errors = [r for r in results if isinstance(r, Exception)]
        statuses = Counter(reply.status for reply in replies)
        placed_count = statuses[201]
        outcome.note(f"capture statuses {dict(statuses)}, client errors {errors[:3]}")
        for kill in kills:
            outcome.note(
                f"killed the {kill['what']} with {kill['tasks_in_flight']} tasks in flight, "
                f"{kill['orders_unsourced']} orders unsourced"
            )
        outcome.data.update(statuses=dict(statuses), kills=kills)
        outcome.expect(not errors and set(statuses) == {201}, f"all {len(replies)} orders accepted")
        outcome.expect(
            all(kill["tasks_in_flight"] for kill in kills),
            "every kill interrupted running tasks (mid-job)",
            str([kill["tasks_in_flight"] for kill in kills]),
        )
        lost = worker_lost(context, worker)
        outcome.note(f"the worker logs report {lost} pool processes lost mid-task")
        remaining, waited = wait_for(
            lambda: unsourced(CHANNEL), timeout=SETTLE_TIMEOUT, what="orders not yet sourced"
        )
        outcome.note(f"all orders sourced {waited} s after capture ended ({remaining} left)")
        outcome.data["settle_seconds"] = waited
        # A redelivered message (if any) runs now; a duplicate would show in the counts.
        time.sleep(3)
    sourced_exactly_once(outcome, CHANNEL, placed_count)
    stock_consistency(outcome, [SKU])
    return outcome


def worker_lost(context, worker) -> int:
    return sum(
        (context.log_dir / f"worker-{n}.log").read_text(errors="replace").count("WorkerLostError")
        for n in range(1, worker.starts + 1)
    )
