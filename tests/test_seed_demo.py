"""`make run` loads the demo with seed_demo; running it twice must not change the stock."""

import io

import pytest
from django.core.management import call_command
from django.db.models import Sum

from customers.models import Customer
from fulfillment.models import CarrierService, SourcingRuleSet
from inventory.models import SKU, Location, StockLevel, StockMovement
from orders.models import ChannelAPIKey, SalesChannel

pytestmark = pytest.mark.django_db


def seed() -> str:
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def test_seed_demo_builds_the_demo_world_and_is_safe_to_repeat():
    first = seed()
    on_hand = StockLevel.objects.aggregate(total=Sum("on_hand"))["total"]
    movements = StockMovement.objects.count()

    second = seed()

    assert set(SalesChannel.objects.values_list("code", flat=True)) == {
        "web",
        "mobile",
        "store",
        "call-center",
    }
    assert set(Location.objects.values_list("type", flat=True)) == set(Location.Type.values)
    assert SKU.objects.count() == 200
    assert (
        SKU.objects.filter(code="SKU-0001").exists()
        and SKU.objects.filter(code="SKU-0200").exists()
    )
    assert Customer.objects.count() == 50
    assert CarrierService.objects.exists()
    assert Location.objects.get(code="DS-ACME").contact_email  # POs go to the vendor by email
    assert SourcingRuleSet.objects.filter(channel__isnull=True, is_active=True).count() == 1
    # out-of-stock tail and low-stock SKUs exist
    assert not StockLevel.objects.filter(sku__code="SKU-0200", on_hand__gt=0).exists()
    assert StockLevel.objects.aggregate(total=Sum("on_hand"))["total"] == on_hand
    assert StockMovement.objects.count() == movements
    # every run prints one fresh key per channel, the last run's keys are the usable ones
    for output in (first, second):
        assert output.count("Api-Key ") == 4
    key = second.split("channel web: Api-Key ")[1].split()[0]
    assert ChannelAPIKey.objects.get_from_key(key).channel.code == "web"


def test_create_api_key_prints_a_working_key_last():
    call_command("seed_demo", "--quiet", stdout=io.StringIO())
    out = io.StringIO()
    call_command("create_api_key", "mobile", stdout=out)
    key = out.getvalue().strip().splitlines()[-1]
    assert ChannelAPIKey.objects.get_from_key(key).channel.code == "mobile"


def test_demo_agent_is_a_desk_agent_and_nothing_more():
    from django.contrib.auth import get_user_model

    from fulfillment.desk.permissions import AGENT_GROUP, AGENT_PERMISSIONS

    call_command("seed_demo", "--quiet", stdout=io.StringIO())
    agent = get_user_model().objects.get(username="agent")
    assert list(agent.groups.values_list("name", flat=True)) == [AGENT_GROUP]
    assert not agent.is_staff and not agent.is_superuser  # no admin at all
    assert not agent.user_permissions.exists()
    assert agent.get_all_permissions() == set(AGENT_PERMISSIONS)
    assert agent.check_password("agent")
