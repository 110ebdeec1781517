"""Staff edit stage SLAs in the admin; what the scan cannot use is refused on the field."""

from datetime import timedelta

import pytest
from django.urls import reverse

from fulfillment.jeopardy.models import Stage, StageSLA

pytestmark = pytest.mark.django_db

ADD_URL = reverse("admin:fulfillment_stagesla_add")


def post(staff_client, **data):
    body = {"stage": Stage.RELEASED, "max_duration": "4:00:00", "location": "", "channel": ""}
    return staff_client.post(ADD_URL, {**body, **data})


def errors(response):
    return response.context["adminform"].form.errors


def test_staff_add_a_location_sla_and_see_it_listed(staff_client, warehouse):
    response = post(staff_client, location=warehouse.pk)
    assert response.status_code == 302
    rule = StageSLA.objects.get()
    assert (rule.stage, rule.location, rule.max_duration) == (
        Stage.RELEASED,
        warehouse,
        timedelta(hours=4),
    )
    listing = staff_client.get(reverse("admin:fulfillment_stagesla_changelist"))
    assert listing.status_code == 200
    assert warehouse.code in listing.content.decode()


def test_an_order_stage_cannot_be_scoped_to_a_location(staff_client, warehouse):
    response = post(staff_client, stage=Stage.AWAITING_SOURCING, location=warehouse.pk)
    assert list(errors(response)) == ["location"]
    assert not StageSLA.objects.exists()


def test_a_second_sla_for_the_same_scope_is_refused_in_words(staff_client, channel):
    StageSLA.objects.create(stage=Stage.PICKING, channel=channel, max_duration=timedelta(hours=2))
    response = post(staff_client, stage=Stage.PICKING, channel=channel.pk)
    assert list(errors(response)) == ["stage"]
    assert "already an SLA for picking (web)" in errors(response)["stage"][0]
    assert StageSLA.objects.count() == 1


def test_an_sla_must_allow_some_time(staff_client):
    response = post(staff_client, max_duration="0:00:00")
    assert list(errors(response)) == ["max_duration"]
