"""An agent on the phone: find the customer, enter an order, confirm it, change it — in
Chromium against the live server. Screenshots of each screen go to test-results/screenshots/.
The agent and the shop (fixtures `agent`, `shop`) are in conftest.py.
"""

import re
from datetime import timedelta

from django.utils import timezone
from playwright.sync_api import Page, expect

from customers.models import Customer
from customers.services import DUPLICATE_EMAIL
from fulfillment.jeopardy.models import JeopardyAlert
from orders.models import Order, SalesChannel
from orders.services import place_order
from tests import factories
from tests.browser.support import force_login, log_in, screenshot


def add_sku(page: Page, typed: str) -> None:
    """Type a SKU code in the box and press Enter: the page comes back with the line."""
    lines = page.locator("[data-testid=order-lines] tbody tr")
    before = lines.count()
    box = page.get_by_label("Add a SKU")
    box.fill(typed)
    box.press("Enter")
    expect(lines).to_have_count(before + 1)


def open_new_order(page: Page, customer, base_url: str, agent) -> None:
    force_login(page, agent, base_url)
    page.goto(f"/desk/orders/new/?customer={customer.pk}")
    expect(page.get_by_role("heading", name=re.compile("New order for"))).to_be_visible()


def test_agent_enters_a_pickup_order_then_cancels_a_line(page: Page, agent, shop):
    log_in(page, "/desk/login/", agent.username)
    search = page.get_by_role("searchbox")
    expect(search).to_be_focused()
    search.press_sequentially("hopper@navy")
    result = page.locator("#results").get_by_role("link", name="Grace Hopper")
    expect(result).to_be_visible()  # as typed, without pressing Enter
    screenshot(page, "desk-find")
    result.click()
    expect(page.get_by_role("heading", name="Grace Hopper")).to_be_visible()
    screenshot(page, "desk-customer-360")
    page.locator("main").get_by_role("link", name="New order").click()
    expect(page.get_by_label("Add a SKU")).to_be_focused()
    screenshot(page, "desk-order-new-empty")

    add_sku(page, "SKU-A")
    expect(page.get_by_label("Quantity").first).to_be_focused()
    add_sku(page, "sku-b")
    # The third by part of its name: results as the agent types, then Add.
    page.get_by_label("Add a SKU").press_sequentially("kettle")
    page.get_by_role("button", name="Add SKU-C").click()
    expect(page.locator("[data-testid=order-lines] tbody tr")).to_have_count(3)
    expect(page.get_by_label("Add a SKU")).to_have_value("")

    # Live availability and totals follow the quantity as it is typed.
    first_line = page.locator("tr[data-sku=SKU-A]")
    first_line.get_by_label("Quantity").fill("16")  # the warehouse's 10 and the store's 5
    expect(first_line.get_by_text("Only 15 available")).to_be_visible()
    expect(page.get_by_text("No option can deliver every unit now")).to_be_visible()
    first_line.get_by_label("Quantity").fill("2")
    expect(first_line.locator("#line-0-total")).to_have_text("20.00")
    expect(first_line.get_by_text("15 available")).to_be_visible()

    pickup = page.get_by_role("radio", name=re.compile("Store NYC"))
    expect(pickup).to_be_visible()
    option = page.locator("label", has=pickup)
    ready_by = re.search(r"ready by (\w{3} \d+ \w{3} \d{4})", option.inner_text()).group(1)
    pickup.check()
    # Collected in New Jersey, where no tax rate is set: the quote follows the choice.
    expect(page.get_by_test_id("total")).to_have_text("49.49 USD")
    page.get_by_label("Card or PayPal token").fill("tok_visa")
    screenshot(page, "desk-order-new-filled")

    page.get_by_role("button", name="Place order").click()
    expect(page.get_by_text(re.compile(r"Order SO-\d+ placed\."))).to_be_visible()
    expect(page.get_by_test_id("promised-date")).to_have_text(ready_by)
    order = Order.objects.get()
    assert order.delivery_method == "pickup" and order.lines.count() == 3
    assert order.channel.code == "call-center"
    screenshot(page, "desk-order-confirmation")

    page.get_by_text("Change or cancel line 2").click()
    page.get_by_role("button", name="Cancel line 2").click()
    expect(page.get_by_text("Line 2 (SKU-B) cancelled.")).to_be_visible()
    timeline = page.get_by_test_id("timeline")
    expect(timeline).to_contain_text("Order changed: line 2 (SKU-B) 1 → 0.")
    expect(timeline.locator("li").first).to_contain_text("by Ann Agent")
    assert order.lines.get(line_number=2).quantity_cancelled == 1
    screenshot(page, "desk-order-line-cancelled")


def test_a_validation_error_shows_beside_its_field(page: Page, agent, shop, base_url):
    open_new_order(page, shop, base_url, agent)
    add_sku(page, "SKU-A")
    page.get_by_label("Quantity").fill("0")
    page.get_by_role("button", name="Place order").click()

    quantity = page.locator("[data-field=lines-0-quantity]")
    expect(quantity.locator(".field-errors")).to_have_text("Quantity must be at least 1.")
    expect(quantity.get_by_label("Quantity")).to_have_value("0")  # kept as typed
    expect(quantity.get_by_label("Quantity")).to_be_focused()
    expect(page.locator("[data-field=delivery] .field-errors")).to_contain_text(
        "Choose how the order reaches the customer"
    )
    assert Order.objects.count() == 0
    screenshot(page, "desk-order-new-errors")


def test_a_double_clicked_submit_makes_one_order(page: Page, agent, shop, base_url):
    open_new_order(page, shop, base_url, agent)
    add_sku(page, "SKU-A")
    page.get_by_role("radio", name=re.compile("Standard")).check()
    page.get_by_label("Card or PayPal token").fill("tok_visa")
    expect(page.get_by_test_id("shipping")).not_to_have_text("0.00")

    # The same form sent twice at once with the browser's cookies, token and key.
    statuses = page.locator("form#order-form").evaluate(
        """form => {
            const send = () => {
                const body = new FormData(form);
                body.set("command", "place");
                const url = form.getAttribute("action");
                return fetch(url, {method: "POST", body, redirect: "manual"})
                    .then(response => response.status);
            };
            return Promise.all([send(), send()]);
        }"""
    )
    assert statuses == [0, 0]  # both redirected (opaque with redirect: "manual")
    assert Order.objects.count() == 1

    # A person's double click on the button, then the back button and submit again.
    page.get_by_role("button", name="Place order").dblclick()
    already = page.get_by_text(re.compile("already placed order SO-")).first
    expect(already).to_be_visible()
    page.go_back()
    page.get_by_role("button", name="Place order").click()
    expect(already).to_be_visible()
    assert Order.objects.count() == 1
    expect(page).to_have_url(re.compile(f"/desk/orders/{Order.objects.get().number}/"))


def test_not_enough_stock_offers_the_alternatives(page: Page, agent, shop, base_url):
    open_new_order(page, shop, base_url, agent)
    add_sku(page, "SKU-A")
    page.get_by_label("Quantity").fill("12")
    page.get_by_role("radio", name=re.compile("Standard")).check()
    page.get_by_label("Card or PayPal token").fill("tok_visa")
    page.get_by_role("button", name="Place order").click()

    alternatives = page.get_by_test_id("alternatives")
    expect(alternatives).to_contain_text("SKU-A: 10 instead of 12")  # what ships from stock
    screenshot(page, "desk-order-new-not-enough-stock")
    assert Order.objects.count() == 0
    alternatives.get_by_role("button", name=re.compile("Pick up at Store NYC")).click()
    expect(page.get_by_role("radio", name=re.compile("Store NYC"))).to_be_checked()
    page.get_by_role("button", name="Place order").click()
    expect(page.get_by_text(re.compile(r"Order SO-\d+ placed\."))).to_be_visible()
    assert Order.objects.get().pickup_location.code == "STORE-NYC"


def test_without_javascript_an_order_is_still_entered_and_read(browser, base_url, agent, shop):
    context = browser.new_context(
        base_url=base_url, java_script_enabled=False, viewport={"width": 1280, "height": 800}
    )
    try:
        page = context.new_page()
        open_new_order(page, shop, base_url, agent)
        add_sku(page, "SKU-A")  # Enter posts the form; the page comes back with the line
        page.get_by_label("Quantity").fill("3")
        page.get_by_role("button", name="Update", exact=True).click()
        expect(page.locator("#line-0-total")).to_have_text("30.00")
        page.get_by_role("radio", name=re.compile("Standard")).check()
        page.get_by_label("Card or PayPal token").fill("tok_visa")
        page.get_by_role("button", name="Place order").click()

        expect(page.get_by_text(re.compile(r"Order SO-\d+ placed\."))).to_be_visible()
        expect(page.get_by_test_id("timeline")).to_contain_text("Order placed on call-center")
        assert Order.objects.get().lines.get().quantity == 3
        screenshot(page, "desk-order-without-javascript")
    finally:
        context.close()


def test_an_agent_cannot_open_a_finance_page(page: Page, agent, shop, base_url):
    # There is no accounting app yet, so the finance pages are the admin's: the ledger of
    # every payment across all orders (an agent reads only the payments of the order on the
    # desk's Order screen) and the tax rates. Agents are not staff, so the admin sends them
    # to its own login and shows none of it; the desk links to no finance page at all.
    placed = place_order(
        channel=SalesChannel.objects.get(code="call-center"),
        **factories.order_payload(customer={"email": shop.email}),
    ).order
    payment = placed.payments.get()  # a real payment the ledger would list
    force_login(page, agent, base_url)
    for path in ("/admin/orders/payment/", f"/admin/orders/payment/{payment.pk}/change/"):
        page.goto(path)
        expect(page).to_have_url(re.compile(r"/admin/login/\?next=/admin/orders/payment/"))
        expect(page.get_by_text("not authorized to access this page")).to_be_visible()
        expect(page.locator("#result_list")).to_have_count(0)  # no list of payments
        expect(page.get_by_text(placed.number)).to_have_count(0)
    screenshot(page, "desk-agent-refused-payments")
    page.goto("/admin/orders/taxrate/")
    expect(page).to_have_url(re.compile(r"/admin/login/\?next=/admin/orders/taxrate/"))
    expect(page.get_by_text("not authorized to access this page")).to_be_visible()

    page.goto("/desk/")
    links = page.locator("a[href^='/admin/']")
    expect(links).to_have_count(0)  # the desk offers no way into the admin


def test_an_order_for_a_new_customer_starts_on_the_new_order_screen(
    page: Page, agent, shop, base_url
):
    force_login(page, agent, base_url)
    page.goto("/desk/orders/new/")
    search = page.get_by_label("Find the customer")
    expect(search).to_be_focused()
    search.fill("nia@example.com")
    search.press("Enter")
    expect(page.get_by_test_id("no-customer")).to_be_visible()
    new = page.get_by_test_id("new-customer")
    expect(new.get_by_label("Email")).to_have_value("nia@example.com")  # as searched for
    screenshot(page, "desk-order-new-choose-customer")

    # An email already on file (in another case) is refused beside the field, with the way
    # to the customer who has it; nothing typed is lost, nothing is written.
    new.get_by_label("Email").fill("Grace.Hopper@navy.example")
    new.get_by_label("First name").fill("Nia")
    new.get_by_label("Last name").fill("Okafor")
    new.get_by_role("button", name="Create and start the order").click()
    email = page.locator("[data-field=new-email]")
    expect(email.locator(".field-errors")).to_have_text(DUPLICATE_EMAIL)
    expect(email.get_by_label("Email")).to_be_focused()
    duplicate = page.get_by_test_id("duplicate")
    expect(duplicate.get_by_role("link", name="Order for Grace Hopper")).to_be_visible()
    expect(page.get_by_label("Last name")).to_have_value("Okafor")
    assert Customer.objects.count() == 1
    screenshot(page, "desk-order-new-customer-duplicate")

    email.get_by_label("Email").fill("nia@example.com")
    page.get_by_role("button", name="Create and start the order").click()
    expect(page.get_by_role("heading", name="New order for Nia Okafor")).to_be_visible()
    expect(page.get_by_label("Add a SKU")).to_be_focused()

    # No address on file: a ZIP code finds the pickup stores near them.
    add_sku(page, "SKU-A")
    page.get_by_label("ZIP / postal code").fill("10006")
    pickup = page.get_by_role("radio", name=re.compile("Store NYC"))
    pickup.check()
    page.get_by_label("Card or PayPal token").fill("tok_visa")
    page.get_by_role("button", name="Place order").click()
    expect(page.get_by_text(re.compile(r"Order SO-\d+ placed\."))).to_be_visible()
    order = Order.objects.get()
    assert order.customer.email == "nia@example.com" and order.customer.last_name == "Okafor"
    assert order.pickup_location.code == "STORE-NYC"


def test_the_order_screen_shows_the_orders_jeopardy_alerts(page: Page, agent, shop, base_url):
    order = place_order(
        channel=SalesChannel.objects.get(code="call-center"),
        **factories.order_payload(customer={"email": shop.email}),
    ).order
    JeopardyAlert.objects.create(
        order=order,
        kind=JeopardyAlert.Kind.STALLED,
        stage="awaiting_sourcing",
        cause_key=f"stalled:{order.pk}",
        severity=82,
        message=f"{order.number} has waited for sourcing past its 4-hour SLA.",
        detected_at=timezone.now(),
        due_by=timezone.now() + timedelta(hours=5),
        owner=factories.UserFactory(first_name="Sam", last_name="Supervisor"),
    )
    force_login(page, agent, base_url)
    page.goto(f"/desk/orders/{order.number}/")

    alerts = page.get_by_test_id("alerts")
    expect(alerts).to_contain_text("Stalled past its stage SLA")
    expect(alerts).to_contain_text("Critical · 82")
    expect(alerts).to_contain_text("Sam Supervisor")
    expect(alerts.get_by_role("button")).to_have_count(0)  # read-only for agents
    screenshot(page, "desk-order-alerts")
