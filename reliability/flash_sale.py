"""Flash sale: 64 concurrent clients buy one SKU with 100 units, 3 rounds (issue 6 §2).

Each round restocks the SKU to exactly 100 available units and lets 64 clients buy one unit at
a time until they are refused. Exactly 100 orders are accepted per round, refusals are 409
`insufficient_stock`, never a 5xx (deadlocks and serialization failures are retried inside the
service), and the stock rows stay consistent.
"""

from __future__ import annotations

from collections import Counter

from reliability.harness import ClientFactory, Outcome, order_body, run_together, stock_consistency

NAME = "flash_sale"
UNITS = 100
CLIENTS = 64
ROUNDS = 3
# Each client keeps buying until refused; this bounds a round if refusals never come.
ATTEMPTS_PER_CLIENT = 8
SKU = "REL-FLASH"


def setup() -> str:
    from reliability.harness import seed_channel, seed_reference, seed_sku

    seed_reference()
    _, api_key = seed_channel("flash")
    seed_sku(SKU, 0)
    return api_key


def restock(units: int) -> None:
    """Make exactly `units` available again: release every earlier round's reservations."""
    from inventory.models import Location, Reservation, StockLevel
    from inventory.services import receive_stock
    from orders.models import Order
    from orders.services import cancel_order

    for order in Order.objects.filter(channel__code="flash").exclude(status="cancelled"):
        cancel_order(order=order, actor=None, reason="flash sale round over")
    level = StockLevel.objects.filter(sku__code=SKU).first()
    on_hand = level.on_hand if level else 0
    assert not Reservation.objects.filter(sku__code=SKU, state="active").exists()
    if on_hand < units:
        from inventory.models import SKU as SKUModel

        receive_stock(
            sku=SKUModel.objects.get(code=SKU),
            location=Location.objects.get(code="WH-REL"),
            quantity=units - on_hand,
            reference="flash sale restock",
        )


def check_round(
    client_for: ClientFactory,
    api_key: str,
    *,
    round_number: int,
    units: int = UNITS,
    clients: int = CLIENTS,
    outcome: Outcome,
) -> None:
    outcome.attempt(
        f"round {round_number}: {clients} clients buying 1 × {SKU} each until refused "
        f"({units} available)"
    )
    restock(units)

    def buyer(index: int):
        client = client_for(api_key)
        replies = []
        for attempt in range(ATTEMPTS_PER_CLIENT):
            reply = client.send(
                "POST",
                "/api/v1/orders/",
                order_body(SKU, 1, email=f"flash{index}@example.com"),
                {"Idempotency-Key": f"flash-{round_number}-{index}-{attempt}"},
            )
            replies.append(reply)
            if reply.status != 201:
                break
        return replies

    results = run_together(clients, buyer)
    errors = [r for r in results if isinstance(r, Exception)]
    outcome.expect(not errors, "every client got answers", f"{errors[:3]}")
    replies = [reply for result in results if isinstance(result, list) for reply in result]
    statuses = Counter(reply.status for reply in replies)
    codes = Counter((reply.json() or {}).get("code") for reply in replies if reply.status != 201)
    outcome.note(f"round {round_number}: statuses {dict(statuses)}, refusal codes {dict(codes)}")
    outcome.data.setdefault("rounds", []).append(
        {"statuses": dict(statuses), "refusal_codes": dict(codes)}
    )
    server_errors = sum(count for status, count in statuses.items() if status >= 500)
    outcome.expect(server_errors == 0, f"round {round_number}: zero 5xx", f"{server_errors} 5xx")
    outcome.expect(
        statuses[201] == units,
        f"round {round_number}: exactly {units} accepted",
        f"{statuses[201]} accepted",
    )
    outcome.expect(
        set(codes) <= {"insufficient_stock"},
        f"round {round_number}: every refusal is insufficient_stock",
        f"{dict(codes)}",
    )
    stock_consistency(outcome, [SKU])


def check(
    client_for: ClientFactory,
    api_key: str,
    *,
    rounds: int = ROUNDS,
    units: int = UNITS,
    clients: int = CLIENTS,
    outcome: Outcome | None = None,
) -> Outcome:
    outcome = outcome or Outcome(NAME)
    for round_number in range(1, rounds + 1):
        check_round(
            client_for,
            api_key,
            round_number=round_number,
            units=units,
            clients=clients,
            outcome=outcome,
        )
    return outcome


def run(context) -> Outcome:
    api_key = setup()
    server = context.server()
    return check(server.client, api_key)
