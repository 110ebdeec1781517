"""Web process killed between commit and response: the retry gets the stored order (issue 6 §2).

A gunicorn started with the test-only kill switch (reliability/kill_switch.py, enabled by
RELIABILITY_KILL_SWITCH_DIR in reliability.settings only) SIGKILLs its worker process right
after the order's transaction committed, for requests carrying the marker header; it first
writes the body it would have answered. The client sees the connection drop and retries with
the same Idempotency-Key (without the marker): the retry must answer 201 with that very body,
marked as a replay, and exactly one order must exist per key.
"""

from __future__ import annotations

import http.client
import json
import tempfile
from contextlib import ExitStack
from pathlib import Path

from reliability.harness import (
    Outcome,
    gunicorn,
    order_body,
    seed_channel,
    seed_reference,
    seed_sku,
    stock_consistency,
    wait_until_healthy,
)
from reliability.kill_switch import KILL_HEADER

NAME = "web_killed"
KILLS = 5
SKU = "REL-WEBKILL"


def send_and_die(base_url: str, api_key: str, key: str, body: dict) -> str:
    """The marked request, sent once (HttpClient would retry it): returns what went wrong."""
    host, _, port = base_url.removeprefix("http://").partition(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.request(
            "POST",
            "/api/v1/orders/",
            body=json.dumps(body).encode(),
            headers={
                "Authorization": f"Api-Key {api_key}",
                "Content-Type": "application/json",
                "Accept": "application/json",
                "Idempotency-Key": key,
                KILL_HEADER: "1",
            },
        )
        response = connection.getresponse()
        return f"answered {response.status} (the process should have died)"
    except (ConnectionError, http.client.RemoteDisconnected) as error:
        return type(error).__name__
    finally:
        connection.close()


def run(context) -> Outcome:
    from orders.models import IdempotencyKey, Order

    outcome = Outcome(NAME)
    seed_reference()
    _, api_key = seed_channel("webkilled")
    seed_sku(SKU, KILLS * 2)
    lost_bodies = Path(tempfile.mkdtemp(prefix="killed-", dir=context.log_dir))
    with ExitStack() as stack:
        print("  starting gunicorn with the kill switch…", flush=True)
        server = stack.enter_context(
            gunicorn(context.log_dir, env={"RELIABILITY_KILL_SWITCH_DIR": str(lost_bodies)})
        )
        client = server.client(api_key)
        for attempt in range(KILLS):
            key = f"web-killed-{attempt}"
            body = order_body(SKU, 1 + attempt % 2, email=f"killed{attempt}@example.com")
            outcome.attempt(f"POST /api/v1/orders/ ({key}), worker SIGKILLed after commit")
            failure = send_and_die(server.base_url, api_key, key, body)
            outcome.expect(
                failure in ("RemoteDisconnected", "ConnectionResetError"),
                f"{key}: the client saw the connection drop, no answer",
                failure,
            )
            lost = lost_bodies / f"{key}.json"
            outcome.expect(lost.exists(), f"{key}: the process died after the commit")
            wait_until_healthy(server)  # the arbiter starts a new worker
            reply = client.send("POST", "/api/v1/orders/", body, {"Idempotency-Key": key})
            outcome.expect(reply.status == 201, f"{key}: the retry answers 201", str(reply.status))
            outcome.expect(
                reply.headers.get("idempotent-replayed") == "true",
                f"{key}: the retry is a replay of the committed order",
            )
            if lost.exists():
                status, _, lost_body = lost.read_bytes().partition(b"\n")
                outcome.expect(
                    status == b"201" and reply.body == lost_body,
                    f"{key}: the retry's body is the one the killed process would have sent",
                    f"lost {status.decode()} {lost_body[:120]!r}, retry {reply.body[:120]!r}",
                )
            one_order = Order.objects.filter(
                channel__code="webkilled", customer__email=f"killed{attempt}@example.com"
            ).count()
            outcome.expect(one_order == 1, f"{key}: exactly one order", f"{one_order} orders")
        client.close()
    log = server.log.read_text(errors="replace")
    killed = log.count("was sent SIGKILL") + log.count("signal 9")
    outcome.note(f"gunicorn logged {killed} worker deaths by SIGKILL (of {KILLS})")
    outcome.data["kills"] = KILLS
    orders = Order.objects.filter(channel__code="webkilled").count()
    outcome.expect(orders == KILLS, f"exactly {KILLS} orders in all", f"{orders}")
    keys = IdempotencyKey.objects.filter(channel__code="webkilled")
    outcome.expect(
        keys.count() == KILLS and not keys.filter(order__isnull=True).exists(),
        f"{KILLS} idempotency keys, each linked to its order",
    )
    stock_consistency(outcome, [SKU])
    return outcome
