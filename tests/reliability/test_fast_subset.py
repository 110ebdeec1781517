"""The fast subset of `make reliability` (README "Reliability"): the same invariant checks,
in-process through Django's test client, at a scale that takes seconds."""

import pytest

from reliability import flash_sale, isolation, production_settings, retry_storm
from reliability.harness import DjangoClient
from tests.factories import requires_postgres


def assert_held(outcome):
    assert outcome.passed, "\n".join(outcome.broken)


@requires_postgres
@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
def test_a_retry_storm_makes_one_order_per_key_and_replays_identically():
    api_key = retry_storm.setup(keys=10)

    outcome = retry_storm.check(DjangoClient, api_key, keys=10, requests=60, clients=8)

    assert_held(outcome)
    assert outcome.data["statuses"] == {201: 60}


@requires_postgres
@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
def test_a_flash_sale_accepts_exactly_the_units_in_stock_and_never_fails():
    api_key = flash_sale.setup()

    outcome = flash_sale.check(DjangoClient, api_key, rounds=2, units=12, clients=8)

    assert_held(outcome)
    assert [round_["statuses"].get(201) for round_ in outcome.data["rounds"]] == [12, 12]


@pytest.mark.django_db
def test_every_object_route_answers_another_channels_key_with_404_or_a_refusal():
    ids = isolation.setup()

    outcome = isolation.check(DjangoClient, ids)

    assert_held(outcome)
    assert outcome.data["undocumented_routes"] == []
    assert len(outcome.tried) >= 15


def test_check_deploy_is_clean_with_the_production_environment_in_the_readme():
    environment = production_settings.documented_environment()
    assert {"SECRET_KEY", "ALLOWED_HOSTS", "SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS"} <= set(
        environment
    )

    assert_held(production_settings.check())
