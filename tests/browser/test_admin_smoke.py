"""The browser set-up proven on screens that exist: staff work in the Django admin in a real
Chromium against the live server, and each screen is saved under test-results/screenshots/."""

import re

import pytest
from playwright.sync_api import Page, expect

from fulfillment.models import FulfillmentOrder
from fulfillment.sourcing.service import source_order
from orders.services import place_order
from tests import factories
from tests.browser.support import log_in, screenshot


@pytest.fixture
def sourced_order(channel, catalogue):
    """An order as production has it after capture and the sourcing job."""
    payload = factories.order_payload()
    order = place_order(
        channel=channel,
        **{key: payload[key] for key in ("customer", "lines", "delivery", "payment")},
    ).order
    source_order(order_id=order.pk)
    return order


def test_staff_signs_in_and_reads_why_an_order_ships_from_where_it_does(
    page: Page, staff_user, sourced_order
):
    page.goto("/admin/")
    expect(page).to_have_url(re.compile(r"/admin/login/"))
    screenshot(page, "admin-login")

    log_in(page, page.url, staff_user.username)
    expect(page.get_by_role("heading", name="Site administration")).to_be_visible()
    screenshot(page, "admin-index")

    # The model's row, not the "Orders" app heading above it.
    page.locator("#orders-order").get_by_role("link", name="Orders").click()
    expect(page.get_by_role("link", name=sourced_order.number)).to_be_visible()
    screenshot(page, "admin-orders")

    page.get_by_role("link", name=sourced_order.number).click()
    fulfillment_order = FulfillmentOrder.objects.get(order=sourced_order)
    assert fulfillment_order.explanation  # the engine says why it chose the location
    expect(page.get_by_text(fulfillment_order.explanation).first).to_be_visible()
    screenshot(page, "admin-order")


def test_a_wrong_password_is_refused_on_the_form(page: Page, staff_user):
    log_in(page, "/admin/login/", staff_user.username, password="not-the-password")

    expect(page.locator(".errornote")).to_contain_text("correct username and password")
    expect(page).to_have_url(re.compile(r"/admin/login/"))
    expect(page.get_by_label("Username")).to_have_value(staff_user.username)
    screenshot(page, "admin-login-refused")
