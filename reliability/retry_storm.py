"""Retry storm: a storefront retries every order many times at once (issue 6 §2).

1,000 requests over 100 Idempotency-Keys, shuffled and sent concurrently: exactly one order per
key, and every answer for a key is byte-for-byte the first one's body (only the
Idempotent-Replayed header tells a replay apart).
"""

from __future__ import annotations

import random
import threading
from collections import defaultdict

from reliability.harness import ClientFactory, Outcome, order_body, run_together, stock_consistency

NAME = "retry_storm"
KEYS = 100
REQUESTS = 1000
CLIENTS = 32
SKU = "REL-STORM"


def setup(keys: int = KEYS) -> str:
    """The storm's channel, stock for every key, reference data; returns the API key."""
    from reliability.harness import seed_channel, seed_reference, seed_sku

    seed_reference()
    _, api_key = seed_channel("storm")
    seed_sku(SKU, keys * 2)
    return api_key


def check(
    client_for: ClientFactory,
    api_key: str,
    *,
    keys: int = KEYS,
    requests: int = REQUESTS,
    clients: int = CLIENTS,
    outcome: Outcome | None = None,
) -> Outcome:
    from orders.models import IdempotencyKey, Order

    outcome = outcome or Outcome(NAME)
    before = Order.objects.filter(channel__code="storm").count()
    schedule = [index % keys for index in range(requests)]
    random.Random(6).shuffle(schedule)
    outcome.attempt(
        f"{requests} POST /api/v1/orders/ over {keys} Idempotency-Keys, shuffled, "
        f"{clients} concurrent clients"
    )
    connections = {}

    def send(index: int):
        key = schedule[index]
        client = connections.setdefault(threading.get_ident(), client_for(api_key))
        reply = client.send(
            "POST",
            "/api/v1/orders/",
            order_body(SKU, 1 + key % 2, email=f"storm{key}@example.com"),
            {"Idempotency-Key": f"storm-{key}"},
        )
        return key, reply

    results = run_together(requests, send, workers=clients)
    errors = [r for r in results if isinstance(r, Exception)]
    outcome.expect(not errors, "every request got an answer", f"{len(errors)} failed: {errors[:3]}")
    by_key = defaultdict(list)
    statuses = defaultdict(int)
    for result in results:
        if isinstance(result, Exception):
            continue
        key, reply = result
        by_key[key].append(reply)
        statuses[reply.status] += 1
    outcome.note(f"statuses {dict(sorted(statuses.items()))}")
    outcome.data["statuses"] = dict(statuses)
    outcome.expect(
        set(statuses) <= {201},
        "every request answered 201 (first answer or its replay)",
        f"{dict(statuses)}",
    )
    differing = [key for key, replies in by_key.items() if len({r.body for r in replies}) != 1]
    firsts = [
        key
        for key, replies in by_key.items()
        if sum(r.headers.get("idempotent-replayed") != "true" for r in replies) != 1
    ]
    outcome.expect(
        not differing,
        "every replay is identical to the first answer",
        f"{len(differing)} keys answered differently, e.g. storm-{differing[:3]}",
    )
    outcome.expect(
        not firsts,
        "exactly one answer per key is the first (no Idempotent-Replayed header)",
        f"{len(firsts)} keys, e.g. storm-{firsts[:3]}",
    )
    numbers = {
        (reply.json() or {}).get("number") for replies in by_key.values() for reply in replies
    }
    orders = Order.objects.filter(channel__code="storm").count() - before
    outcome.expect(orders == keys, f"exactly {keys} orders", f"{orders} orders")
    outcome.expect(
        len(numbers) == keys, f"{keys} distinct order numbers answered", str(len(numbers))
    )
    claimed = IdempotencyKey.objects.filter(channel__code="storm", key__startswith="storm-")
    outcome.expect(
        claimed.count() == keys and not claimed.filter(order__isnull=True).exists(),
        f"{keys} idempotency keys, each linked to its order",
    )
    stock_consistency(outcome, [SKU])
    return outcome


def run(context) -> Outcome:
    api_key = setup()
    server = context.server()
    return check(server.client, api_key)
