"""hostile_input's channel pass (README "Reliability"): the orders it seeds, the dictionaries
and hook that make its requests name real things, and the checks that hold every order of the
channel to the last accepted answer about it."""

import tomllib
from collections import Counter

import pytest
from hypothesis import find

from orders.models import Order
from orders.services import cancel_order
from reliability import hostile_channel, hostile_input, schemathesis_hooks
from reliability.harness import Outcome
from tests.reliability.recorded import recorded_post


@pytest.fixture
def ids(db):
    return hostile_input.setup()


def channel_post(ids, path, body) -> dict:
    """POST with the channel's key."""
    return recorded_post(f"Api-Key {ids['api_key']}", path, body)


def explain(before, interactions) -> Outcome:
    outcome = Outcome("hostile_input")
    after = hostile_channel.order_states(hostile_input.CHANNEL)
    hostile_channel.explain_channel_orders(outcome, before, after, interactions)
    return outcome


def test_the_channel_pass_has_orders_to_change_and_names_them_in_its_config(ids):
    config = tomllib.loads(hostile_channel.channel_config(ids))
    states = hostile_channel.order_states(hostile_input.CHANNEL)

    assert sorted(states) == sorted(ids["order_numbers"])
    assert len(states) == hostile_channel.SEEDED_ORDERS
    # Two lines each (3 tees, 2 mugs), all reserved, one authorised payment.
    assert {state[3] for state in states.values()} == {5}
    assert {len(state[1]) for state in states.values()} == {2}
    assert config["dictionaries"]["orders"]["values"] == ids["order_numbers"]
    assert config["dictionaries"]["channels"]["values"] == [hostile_input.CHANNEL]
    assert config["parameters"]["path.number"]["dictionary"] == "orders"
    assert config["parameters"]["body.lines[*].sku"]["dictionary"] == "skus"


def test_accepted_cancels_and_changes_explain_the_orders_they_touched(ids):
    before = hostile_channel.order_states(hostile_input.CHANNEL)
    first, second = ids["order_numbers"][:2]

    interactions = [
        channel_post(ids, f"/api/v1/orders/{first}/cancel/", {"reason": "hostile"}),
        channel_post(
            ids,
            f"/api/v1/orders/{second}/changes/",
            {"lines": [{"line_number": 1, "quantity": 1}]},
        ),
        channel_post(ids, f"/api/v1/orders/{second}/changes/", {"lines": []}),
    ]

    assert [item["status"] for item in interactions] == [200, 200, 400]
    outcome = explain(before, interactions)
    assert outcome.passed, outcome.broken
    after = hostile_channel.order_states(hostile_input.CHANNEL)
    assert after[first][0] == "cancelled" and after[first][3] == 0
    assert after[second][3] == 3  # one tee and two mugs still held


def test_an_order_changed_without_an_accepted_answer_breaks_the_check(ids):
    before = hostile_channel.order_states(hostile_input.CHANNEL)
    number = ids["order_numbers"][0]
    refused = channel_post(ids, f"/api/v1/orders/{number}/cancel/", {"reason": "x" * 501})
    # As if the refused request had cancelled the order anyway.
    cancel_order(order=Order.objects.get(number=number), actor=None, reason="behind the back")

    outcome = explain(before, [refused])

    assert refused["status"] == 400
    assert len(outcome.broken) == 1
    assert number in outcome.broken[0] and "no accepted answer" in outcome.broken[0]


def test_a_short_write_operation_and_one_never_accepted_are_broken():
    templates = hostile_input.operation_templates()
    tried = {
        "POST /api/v1/orders/": Counter({201: 40, 400: 960}),
        "GET /api/v1/availability/": Counter({400: 1200}),
        "POST /api/v1/orders/{number}/cancel/": Counter({200: 10, 404: 300}),
    }
    outcome = Outcome("hostile_input")

    hostile_input.expect_coverage(
        outcome,
        "channel",
        tried,
        templates,
        ["--exclude-path-regex", hostile_input.STAFF_PATHS],
        1000,
    )

    short, never = (
        line.split(marker, 1)[1].split(", ")
        for line, marker in zip(outcome.broken, ["1000 cases: ", "requests: "], strict=True)
    )
    assert "POST /api/v1/orders/{number}/cancel/: 310" in short
    assert "POST /api/v1/delivery-options/: 0" in short  # never tried at all
    assert not [op for op in short if op.startswith("POST /api/v1/orders/: ")]  # 1,000: enough
    assert "GET /api/v1/availability/" in never
    assert "POST /api/v1/orders/" not in never
    assert not [op for op in short + never if "fulfillments" in op]  # the staff pass's


def test_the_hook_lets_availability_queries_name_real_skus(monkeypatch):
    monkeypatch.setattr(schemathesis_hooks, "SKUS", ["TEE-RED-M", "MUG-BLUE"])
    generated = {"sku": ["\x00garbage"]}

    strategy = schemathesis_hooks.flatmap_query(None, generated)

    real = find(strategy, lambda query: query["sku"] != generated["sku"])
    assert real["sku"] and set(real["sku"]) <= {"TEE-RED-M", "MUG-BLUE"}
    assert find(strategy, lambda query: True) == generated  # the generated one stays possible
    # A malformed query (a negative case) is left as generated.
    assert find(schemathesis_hooks.flatmap_query(None, {"sku": 5}), lambda q: True) == {"sku": 5}
