"""The desk from the keyboard only: an agent types, presses Tab and Enter (and the arrow keys
inside a group of radio buttons), never the mouse. Every action of the order flow is reached
in Tab order, focus is always visible where it is, and what htmx swaps in never takes the
cursor away.
"""

import re

from playwright.sync_api import Locator, Page, expect

from orders.models import Order
from tests.browser.support import force_login, screenshot

# More Tab presses than any screen needs to reach its furthest control from the previous
# step; a control that is not reached within this is not reachable in a sensible order.
MAX_TABS = 40


def tab_to(page: Page, target: Locator, *, backwards: bool = False) -> None:
    """Press Tab (Shift+Tab) until `target` has the focus; fail if it never does."""
    key = "Shift+Tab" if backwards else "Tab"
    for _ in range(MAX_TABS):
        if target.evaluate("element => element === document.activeElement"):
            break
        page.keyboard.press(key)
    expect(target).to_be_focused()
    # Focus is visible: an outline (or the browser's focus ring) is drawn.
    outline = target.evaluate("element => getComputedStyle(element).outlineStyle")
    assert outline != "none", f"no visible focus on {target}"


def test_an_agent_takes_an_order_without_the_mouse(page: Page, agent, shop):
    page.goto("/desk/login/")
    expect(page.get_by_label("Username")).to_be_focused()
    page.keyboard.type(agent.username)
    page.keyboard.press("Tab")
    page.keyboard.type("secret-pass")
    page.keyboard.press("Enter")

    # Find: the cursor is in the box; results come as the agent types; Enter searches too.
    search = page.get_by_role("searchbox")
    expect(search).to_be_focused()
    page.keyboard.type("hopper@navy")
    result = page.locator("#results").get_by_role("link", name="Grace Hopper")
    expect(result).to_be_visible()
    expect(search).to_be_focused()  # the swapped-in results did not take the cursor
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"\?q=hopper%40navy"))
    expect(search).to_be_focused()
    tab_to(page, result)
    screenshot(page, "keyboard-find-result-focused")
    page.keyboard.press("Enter")

    # Customer 360 → New order.
    expect(page.get_by_role("heading", name="Grace Hopper")).to_be_visible()
    tab_to(page, page.locator("main").get_by_role("link", name="New order"))
    page.keyboard.press("Enter")

    # New order: Enter in the SKU box adds the SKU; the cursor goes to its quantity.
    expect(page.get_by_label("Add a SKU")).to_be_focused()
    page.keyboard.type("SKU-A")
    page.keyboard.press("Enter")
    first_quantity = page.locator("tr[data-sku=SKU-A]").get_by_label("Quantity")
    expect(first_quantity).to_be_focused()
    page.keyboard.press("ArrowUp")  # 1 → 2: the quote follows
    expect(page.locator("#line-0-total")).to_have_text("20.00")
    expect(first_quantity).to_be_focused()  # the quote's swaps left the cursor alone

    tab_to(page, page.get_by_label("Add a SKU"))
    page.keyboard.type("sku-b")
    page.keyboard.press("Enter")
    expect(page.locator("tr[data-sku=SKU-B]").get_by_label("Quantity")).to_be_focused()

    # A SKU by part of its name: the matches come as typed; Tab reaches their Add buttons.
    tab_to(page, page.get_by_label("Add a SKU"))
    page.keyboard.type("kettle")
    add = page.get_by_role("button", name="Add SKU-C")
    expect(add).to_be_visible()
    tab_to(page, add)
    page.keyboard.press("Enter")
    expect(page.locator("[data-testid=order-lines] tbody tr")).to_have_count(3)
    expect(page.locator("tr[data-sku=SKU-C]").get_by_label("Quantity")).to_be_focused()

    # Delivery: Tab into the options, the arrow keys choose; each choice re-quotes the
    # order and the swapped-in options keep the cursor on the chosen one.
    options = page.get_by_test_id("delivery-options").get_by_role("radio")
    tab_to(page, options.first)
    pickup = page.get_by_role("radio", name=re.compile("Store NYC"))
    for _ in range(options.count()):
        if pickup.is_checked():
            break
        page.keyboard.press("ArrowDown")
        expect(page.locator(":focus")).to_be_checked()
    expect(pickup).to_be_checked()
    expect(page.get_by_test_id("total")).to_have_text("49.49 USD")
    expect(pickup).to_be_focused()
    screenshot(page, "keyboard-order-new-pickup-focused")

    # Payment; Enter there recomputes the page and the cursor stays in the field.
    token = page.get_by_label("Card or PayPal token")
    tab_to(page, token)
    page.keyboard.type("tok_visa")
    page.keyboard.press("Enter")
    expect(token).to_be_focused()
    expect(token).to_have_value("tok_visa")
    expect(page.get_by_role("radio", name=re.compile("Store NYC"))).to_be_checked()

    tab_to(page, page.get_by_role("button", name="Place order"))
    page.keyboard.press("Enter")
    expect(page.get_by_text(re.compile(r"Order SO-\d+ placed\."))).to_be_visible()
    order = Order.objects.get()
    assert order.delivery_method == "pickup" and order.lines.count() == 3

    # Order screen: open "Change or cancel" of line 2 with Enter, then cancel the line.
    change = page.get_by_text("Change or cancel line 2")
    tab_to(page, change)
    page.keyboard.press("Enter")
    cancel = page.get_by_role("button", name="Cancel line 2")
    tab_to(page, cancel)
    screenshot(page, "keyboard-order-cancel-line-focused")
    page.keyboard.press("Enter")
    expect(page.get_by_text("Line 2 (SKU-B) cancelled.")).to_be_visible()
    expect(page.get_by_test_id("timeline")).to_contain_text("Order changed: line 2 (SKU-B) 1 → 0.")
    assert order.lines.get(line_number=2).quantity_cancelled == 1


def test_the_skip_link_is_the_first_stop_on_a_page_without_a_field_to_type_in(
    page: Page, agent, shop, base_url
):
    force_login(page, agent, base_url)
    page.goto(f"/desk/customers/{shop.pk}/")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()  # shown while it has the focus
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    # Past the brand, the navigation and the logout: the page's first own action.
    expect(page.locator("main").get_by_role("link", name="New order")).to_be_focused()
