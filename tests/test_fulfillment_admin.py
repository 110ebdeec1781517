"""The fulfillment back office: every page loads, sourcing rules are checked before they are saved,
and fulfillment work is only looked at."""

import datetime
from decimal import Decimal

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.admin.utils import quote
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from fulfillment import admin as fulfillment_admin
from fulfillment.jeopardy.models import JeopardyAlert, JeopardyDigest, Stage, StageSLA
from fulfillment.models import (
    Carrier,
    CarrierService,
    FulfillmentOrder,
    Holiday,
    Package,
    PickList,
    PickListItem,
    ShippingRate,
    SourcingRuleSet,
)
from fulfillment.services import create_fulfillment_orders
from orders.services import place_order
from tests import factories

REGISTERED = sorted(
    (model for model in admin.site._registry if model._meta.app_label == "fulfillment"),
    key=lambda model: model._meta.label,
)
RULE_SETS_URL = "/admin/fulfillment/sourcingruleset/"
EXPLANATION = "WH-EAST holds every line and is the cheapest to ship from."


def capture(channel):
    payload = factories.order_payload()
    return place_order(
        channel=channel, **{k: payload[k] for k in ("customer", "lines", "delivery", "payment")}
    ).order


def changelist_url(model) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


def change_url(obj) -> str:
    opts = obj._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[quote(obj.pk)])


@pytest.fixture
def ground(standard_service):
    carrier = Carrier.objects.create(
        code="ups", name="UPS", tracking_url_template="https://track.example/{tracking_number}"
    )
    return CarrierService.objects.create(
        carrier=carrier, service_level=standard_service, code="ground", name="Ground"
    )


@pytest.fixture
def fulfillment_order(channel, catalogue, warehouse, ground):
    order = capture(channel)
    create_fulfillment_orders(order=order)
    fulfillment_order = order.fulfillment_orders.get()
    # What the sourcing engine and the warehouse would have recorded; set directly so these
    # tests do not depend on how the engine chooses.
    FulfillmentOrder.objects.filter(pk=fulfillment_order.pk).update(
        carrier_service=ground, explanation=EXPLANATION, tracking_number="1Z999"
    )
    fulfillment_order.refresh_from_db()
    return fulfillment_order


@pytest.fixture
def one_of_everything(staff_user, warehouse, ground, fulfillment_order):
    """At least one row of every fulfillment model."""
    ShippingRate.objects.create(
        carrier_service=ground,
        max_distance_km=500,
        max_weight_kg=Decimal("5.000"),
        base_amount=Decimal("7.50"),
        per_kg_amount=Decimal("0.50"),
        transit_days=2,
    )
    Holiday.objects.create(date=datetime.date(2025, 12, 25), name="Christmas")
    Holiday.objects.create(date=datetime.date(2025, 7, 1), name="Stock count", location=warehouse)
    rule_set = SourcingRuleSet.objects.create(
        name="Default rules", ship_location_types=["store", "warehouse"]
    )
    rule_set.excluded_locations.add(warehouse)
    Package.objects.create(
        fulfillment_order=fulfillment_order,
        weight_kg=Decimal("1.500"),
        carrier=ground.carrier,
        tracking_number="1Z999",
    )
    pick_list = PickList.objects.create(
        location=warehouse,
        strategy=PickList.Strategy.SINGLE,
        carrier=ground.carrier,
        created_by=staff_user,
    )
    PickListItem.objects.create(
        pick_list=pick_list,
        fulfillment_line=fulfillment_order.lines.first(),
        bin_zone="A",
        quantity=2,
    )
    StageSLA.objects.create(stage=Stage.PICKING, max_duration=datetime.timedelta(hours=4))
    JeopardyAlert.objects.create(
        order=fulfillment_order.order,
        fulfillment_order=fulfillment_order,
        location=warehouse,
        kind=JeopardyAlert.Kind.STALLED,
        stage=Stage.RELEASED,
        cause_key=f"stalled:fo:{fulfillment_order.pk}:released",
        message="Released for 5 hours (SLA 4 hours)",
        detected_at=timezone.now(),
    )
    JeopardyDigest.objects.create(manager=staff_user, day=datetime.date(2025, 12, 1))
    return fulfillment_order


# --- Every page loads ----------------------------------------------------------------------


def test_every_fulfillment_model_is_registered():
    for model in apps.get_app_config("fulfillment").get_models():
        assert model in admin.site._registry, f"{model._meta.label} has no admin"
    assert REGISTERED  # else the page test below would check nothing


@pytest.mark.parametrize("model", REGISTERED, ids=lambda model: model._meta.label)
def test_changelist_and_change_page_load(staff_client, one_of_everything, model):
    assert staff_client.get(changelist_url(model)).status_code == 200

    obj = model._default_manager.order_by("pk").first()
    assert obj is not None, f"add a {model._meta.label} to the one_of_everything fixture"
    assert staff_client.get(change_url(obj)).status_code == 200


def test_fulfillment_order_filters_and_search_load(staff_client, one_of_everything):
    url = changelist_url(FulfillmentOrder)
    queries = [
        {"q": one_of_everything.order.number},
        {"q": "1Z999"},
        {"status__exact": "pending", "kind__exact": "ship", "location_type": "warehouse"},
    ]
    for query in queries:
        response = staff_client.get(url, query)
        assert response.status_code == 200, query
        assert list(response.context["cl"].result_list) == [one_of_everything]

    response = staff_client.get(url, {"location_type": "store"})
    assert list(response.context["cl"].result_list) == []


def test_holiday_list_says_all_locations_for_a_holiday_everywhere(staff_client, one_of_everything):
    page = staff_client.get(changelist_url(Holiday)).content.decode()

    assert "All locations" in page
    assert "WH-EAST" in page


# --- Sourcing rule sets --------------------------------------------------------------------


def rule_set_data(**overrides):
    data = {
        "name": "Web rules",
        "channel": "",
        "is_active": "on",
        "ship_location_types": ["warehouse", "3pl"],
        "pickup_location_types": ["store"],
        "weight_cost": "1",
        "weight_transit_days": "2.5",
        "weight_distance": "0.01",
        "weight_priority": "0",
        "split_penalty": "5",
        "max_shipments": "2",
        "backorder_policy": "backorder",
    }
    data.update(overrides)
    return data


def test_adding_a_rule_set_saves_the_checked_types_as_a_sorted_list(staff_client, warehouse):
    response = staff_client.post(
        f"{RULE_SETS_URL}add/", rule_set_data(excluded_locations=[warehouse.pk])
    )

    assert response.status_code == 302
    rule_set = SourcingRuleSet.objects.get()
    assert rule_set.ship_location_types == ["3pl", "warehouse"]
    assert rule_set.pickup_location_types == ["store"]
    assert list(rule_set.excluded_locations.all()) == [warehouse]
    assert (rule_set.max_shipments, rule_set.backorder_policy) == (2, "backorder")
    assert rule_set.weight_transit_days == Decimal("2.5")


def test_rule_set_page_checks_the_stored_types(staff_client):
    rule_set = SourcingRuleSet.objects.create(
        name="Default rules", ship_location_types=["store", "warehouse"]
    )

    response = staff_client.get(change_url(rule_set))

    form = response.context["adminform"].form
    assert form["ship_location_types"].value() == ["store", "warehouse"]
    assert form["pickup_location_types"].value() == []
    assert 'type="checkbox" name="ship_location_types" value="store"' in response.content.decode()


def test_a_rule_set_without_a_ship_type_is_refused_on_the_field(staff_client):
    data = rule_set_data()
    del data["ship_location_types"]

    response = staff_client.post(f"{RULE_SETS_URL}add/", data)

    assert response.status_code == 200
    assert "ship_location_types" in response.context["adminform"].form.errors
    assert not SourcingRuleSet.objects.exists()


def test_a_second_active_default_is_refused_on_channel(staff_client):
    SourcingRuleSet.objects.create(name="Default rules", ship_location_types=["warehouse"])

    response = staff_client.post(f"{RULE_SETS_URL}add/", rule_set_data())

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert list(errors) == ["channel"]
    assert "“Default rules” is already the active default" in errors["channel"][0]
    assert SourcingRuleSet.objects.count() == 1


def test_an_inactive_second_default_and_a_channel_rule_set_are_allowed(staff_client, channel):
    default = SourcingRuleSet.objects.create(name="Default rules", ship_location_types=["store"])

    inactive = rule_set_data(name="Draft default")
    del inactive["is_active"]
    assert staff_client.post(f"{RULE_SETS_URL}add/", inactive).status_code == 302
    web = rule_set_data(channel=channel.pk)
    assert staff_client.post(f"{RULE_SETS_URL}add/", web).status_code == 302

    # Saving the one active default again does not count itself as a second one.
    again = rule_set_data(name="Default rules", ship_location_types=["store"])
    assert staff_client.post(change_url(default), again).status_code == 302
    assert SourcingRuleSet.objects.count() == 3


@pytest.mark.parametrize("field", fulfillment_admin.WEIGHT_FIELDS)
def test_a_negative_weight_is_refused_on_its_field(staff_client, field):
    response = staff_client.post(f"{RULE_SETS_URL}add/", rule_set_data(**{field: "-1"}))

    assert response.status_code == 200
    assert list(response.context["adminform"].form.errors) == [field]
    assert not SourcingRuleSet.objects.exists()


def test_zero_shipments_is_refused_on_its_field(staff_client):
    response = staff_client.post(f"{RULE_SETS_URL}add/", rule_set_data(max_shipments="0"))

    assert response.status_code == 200
    assert list(response.context["adminform"].form.errors) == ["max_shipments"]
    assert not SourcingRuleSet.objects.exists()


def test_rule_set_list_names_the_default_and_the_channels(staff_client, channel):
    SourcingRuleSet.objects.create(name="Default rules", ship_location_types=["warehouse"])
    SourcingRuleSet.objects.create(name="Web rules", channel=channel, ship_location_types=["store"])

    response = staff_client.get(RULE_SETS_URL)

    model_admin = response.context["cl"].model_admin
    scopes = {rule.name: model_admin.scope(rule) for rule in response.context["cl"].result_list}
    assert scopes == {"Default rules": "Default", "Web rules": str(channel)}


# --- Fulfillment orders are looked at, not edited ------------------------------------------


def test_fulfillment_order_page_shows_why_and_links_the_order(staff_client, one_of_everything):
    order = one_of_everything.order

    page = staff_client.get(change_url(one_of_everything)).content.decode()

    assert EXPLANATION in page
    assert f'<a href="{change_url(order)}">{order.number}</a>' in page
    assert 'href="https://track.example/1Z999"' in page
    assert "SKU-A" in page  # the lines inline
    assert 'name="status"' not in page


def test_fulfillment_orders_cannot_be_changed_added_or_deleted(staff_client, fulfillment_order):
    url = change_url(fulfillment_order)

    assert staff_client.post(url, {"status": "shipped", "tracking_number": "X"}).status_code == 403
    assert staff_client.get(f"{changelist_url(FulfillmentOrder)}add/").status_code == 403
    assert staff_client.post(f"{url.removesuffix('change/')}delete/").status_code == 403
    fulfillment_order.refresh_from_db()
    assert (fulfillment_order.status, fulfillment_order.tracking_number) == ("pending", "1Z999")


def test_order_page_shows_its_fulfillment(staff_client, fulfillment_order):
    response = staff_client.get(change_url(fulfillment_order.order))

    assert response.status_code == 200
    [inline] = [
        formset
        for formset in response.context["inline_admin_formsets"]
        if formset.opts.model is FulfillmentOrder
    ]
    assert [form.original for form in inline] == [fulfillment_order]
    page = response.content.decode()
    assert "WH-EAST" in page
    assert EXPLANATION in page
    assert "ups Ground" in page  # the carrier service


# --- Packing slip and shipping label -------------------------------------------------------


def document_url(fulfillment_order, name) -> str:
    return reverse(f"admin:fulfillment_fulfillmentorder_{name}", args=[fulfillment_order.pk])


@pytest.mark.parametrize("name", ["packing_slip", "shipping_label"])
def test_documents_download_as_pdf(staff_client, fulfillment_order, name):
    response = staff_client.get(document_url(fulfillment_order, name))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith(
        f'attachment; filename="FO-{fulfillment_order.pk}-'
    )
    assert response.content.startswith(b"%PDF")


def test_fulfillment_order_page_links_both_documents(staff_client, fulfillment_order):
    page = staff_client.get(change_url(fulfillment_order)).content.decode()

    assert document_url(fulfillment_order, "packing_slip") in page
    assert document_url(fulfillment_order, "shipping_label") in page


def test_documents_need_the_view_permission(client, fulfillment_order):
    clerk = factories.UserFactory(username="clerk", is_staff=True)
    client.force_login(clerk)
    url = document_url(fulfillment_order, "packing_slip")

    assert client.get(url).status_code == 403

    clerk.user_permissions.add(Permission.objects.get(codename="view_fulfillmentorder"))
    assert client.get(url).status_code == 200
