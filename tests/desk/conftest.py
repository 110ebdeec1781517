"""Desk fixtures: an agent (in the Agents group), logged-in clients, real orders."""

import itertools

import pytest
from django.test import Client

from fulfillment.desk.permissions import ensure_agents_group
from orders.services import place_order
from tests import factories


@pytest.fixture
def agents_group(db):
    # The migration creates the group; a flushed database (transactional tests) has lost it.
    return ensure_agents_group()


@pytest.fixture
def agent(agents_group):
    user = factories.UserFactory(username="agent-ann", first_name="Ann", last_name="Agent")
    user.groups.add(agents_group)
    return user


@pytest.fixture
def agent_client(agent):
    client = Client()
    client.force_login(agent)
    return client


@pytest.fixture
def csrf_client(agent):
    """A logged-in browser that, like a real one, must send the CSRF token."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(agent)
    return client


@pytest.fixture
def place_orders(catalogue, channel, warehouse):
    """place_orders(customer, n) places n real one-line orders for the customer."""
    numbers = itertools.count(1)

    def place(customer, count=1, *, quantity=1, sku="SKU-A"):
        factories.stock(next(s for s in catalogue if s.code == sku), warehouse, count * quantity)
        orders = []
        for _ in range(count):
            payload = factories.order_payload(
                customer={"email": customer.email},
                lines=[{"sku": sku, "quantity": quantity}],
                external_id=f"EXT-{next(numbers):04d}",
            )
            orders.append(place_order(channel=channel, **payload).order)
        return orders

    return place
