"""Rule sets, carrier services and holidays are read once per process, and a change is seen
by the next read: in the transaction that made it at once, everywhere else once it commits.

These tests commit (transaction=True), as production does; the rest of the suite changes
rules inside its test transaction (tests/fulfillment/test_rules_in_database.py).
"""

import threading
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from fulfillment import reference_cache
from fulfillment.models import Holiday, SourcingRuleSet
from fulfillment.sourcing.inputs import candidates_for, rules_for, services_for
from tests import factories
from tests.factories import order_payload

pytestmark = pytest.mark.django_db(transaction=True)

DELIVERY_OPTIONS_URL = "/api/v1/delivery-options/"
MANHATTAN = {"latitude": "40.712800", "longitude": "-74.006000"}
# A second delivery-options request: key lookup, SKUs, pickup stores, ATP rows, candidate
# locations, service levels. No rule set, carrier service, rate band or holiday: the first
# request loaded them (tests/fulfillment/test_delivery_options.py pins the first: 10).
WARM_OPTIONS_QUERIES = 6


def rule_set(channel, **weights):
    return SourcingRuleSet.objects.create(
        name=f"{channel.code} rules",
        channel=channel,
        ship_location_types=["warehouse", "store"],
        pickup_location_types=["store"],
        **weights,
    )


def test_reads_after_the_first_cost_no_query(
    channel, catalogue, warehouse, django_assert_num_queries
):
    rule_set(channel)
    reference_cache.current()  # the first read loads

    with django_assert_num_queries(0):
        rules_for(channel)
        services_for("standard")
        services_for(None)
    with django_assert_num_queries(2):  # ATP rows and candidate locations only
        candidates_for([catalogue[0].pk], ordered_at=datetime(2025, 3, 3, 10, 0, tzinfo=UTC))


def test_a_committed_change_is_read_at_once(channel, catalogue):
    rules = rule_set(channel, weight_cost=Decimal("1"))
    assert rules_for(channel).weight_cost == Decimal("1")

    rules.weight_cost = Decimal("7")
    rules.save()
    assert rules_for(channel).weight_cost == Decimal("7")

    rules.excluded_locations.add(factories.LocationFactory(code="WH-OUT"))
    assert rules_for(channel).excluded_location_ids == {rules.excluded_locations.get().pk}

    rules.delete()
    assert rules_for(channel).weight_cost == Decimal("1")  # the permissive built-in default
    assert "standard" in {service.service_level_code for service in services_for(None)}


def test_a_change_another_process_commits_is_read_at_once(channel, catalogue):
    rules = rule_set(channel, weight_cost=Decimal("1"))
    assert rules_for(channel).weight_cost == Decimal("1")

    # Another process saves (its signal sets a new version token in the shared cache); here
    # the row changes without a signal, and the token changes as the other process's would.
    SourcingRuleSet.objects.filter(pk=rules.pk).update(weight_cost=Decimal("3"))
    reference_cache._shared_cache().set(reference_cache.VERSION_KEY, "another process")

    assert rules_for(channel).weight_cost == Decimal("3")


def test_changes_without_signals_are_read_after_invalidate(channel, catalogue, warehouse):
    first = datetime(2025, 12, 24, 10, 0, tzinfo=UTC)
    assert candidates_for([catalogue[0].pk], ordered_at=first)[0].calendar.holidays == set()

    Holiday.objects.bulk_create([Holiday(date=date(2025, 12, 25), name="Christmas")])
    reference_cache.invalidate()

    (candidate,) = candidates_for([catalogue[0].pk], ordered_at=first)
    assert candidate.calendar.holidays == {date(2025, 12, 25)}


def test_an_uncommitted_change_is_read_only_by_its_transaction_and_undone_by_a_rollback(
    channel, catalogue
):
    rules = rule_set(channel, weight_cost=Decimal("1"))
    assert rules_for(channel).weight_cost == Decimal("1")
    seen_elsewhere = []

    def read_elsewhere():
        seen_elsewhere.append(rules_for(channel).weight_cost)
        connection.close()  # this thread's own connection

    with transaction.atomic():
        rules.weight_cost = Decimal("5")
        rules.save()
        assert rules_for(channel).weight_cost == Decimal("5")
        reader = threading.Thread(target=read_elsewhere)
        reader.start()
        reader.join()
        transaction.set_rollback(True)

    assert seen_elsewhere == [Decimal("1")]
    assert rules_for(channel).weight_cost == Decimal("1")


def test_a_rolled_back_savepoint_leaves_no_trace(channel, catalogue):
    rules = rule_set(channel, weight_cost=Decimal("1"))
    with transaction.atomic():
        rules.weight_cost = Decimal("5")
        rules.save()
        with transaction.atomic():
            rules.weight_cost = Decimal("6")
            rules.save()
            assert rules_for(channel).weight_cost == Decimal("6")
            transaction.set_rollback(True)
        assert rules_for(channel).weight_cost == Decimal("5")
    assert rules_for(channel).weight_cost == Decimal("5")  # committed with the outer block


def test_a_second_delivery_options_request_reads_no_reference_data(
    channel_client, catalogue, django_assert_num_queries
):
    body = {"lines": [{"sku": "SKU-A", "quantity": 1}], "destination": MANHATTAN}
    assert channel_client.post(DELIVERY_OPTIONS_URL, body, format="json").status_code == 200

    with django_assert_num_queries(WARM_OPTIONS_QUERIES):
        response = channel_client.post(DELIVERY_OPTIONS_URL, body, format="json")

    assert response.status_code == 200
    assert [option["service_level"] for option in response.json()["ship"]] == ["standard"]


def test_a_second_capture_reads_no_reference_data(channel_client, catalogue):
    factories.CustomerFactory(email="grace@example.com")  # both captures find the customer

    def capture(key):
        with CaptureQueriesContext(connection) as queries:
            response = channel_client.post(
                "/api/v1/orders/", order_payload(), format="json", HTTP_IDEMPOTENCY_KEY=key
            )
        assert response.status_code == 201, response.json()
        return [query["sql"] for query in queries]

    first, second = capture("first"), capture("second")

    # The rule set, carrier services, rate bands and holidays (tests/orders/test_api_queries.py
    # pins the first capture of a test, which reads them).
    assert len(first) - len(second) == 4
    reference_tables = ("sourcingruleset", "carrierservice", "shippingrate", "holiday")
    assert not [sql for sql in second if any(f"fulfillment_{t}" in sql for t in reference_tables)]
