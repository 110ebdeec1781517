"""Who may open the desk: agents only, with exactly the permissions they need."""

import importlib

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client
from django.urls import URLPattern, reverse

from fulfillment.desk import urls as desk_urls
from fulfillment.desk.permissions import AGENT_GROUP, AGENT_PERMISSIONS, ensure_agents_group
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def screens(place_orders):
    """Every desk screen's URL (GET), with real objects behind them."""
    customer = factories.CustomerFactory()
    address = factories.AddressFactory(customer=customer)
    order = place_orders(customer)[0]
    return {
        "find": reverse("desk:find") + "?q=ada",
        "customer_new": reverse("desk:customer_new"),
        "customer": reverse("desk:customer", args=[customer.pk]),
        "customer_edit": reverse("desk:customer_edit", args=[customer.pk]),
        "address_new": reverse("desk:address_new", args=[customer.pk]),
        "address_edit": reverse("desk:address_edit", args=[customer.pk, address.pk]),
        "order_new": reverse("desk:order_new") + f"?customer={customer.pk}",
        "order": reverse("desk:order", args=[order.number]),
    }


def desk_patterns() -> list[URLPattern]:
    return [p for p in desk_urls.urlpatterns if isinstance(p, URLPattern)]


def test_every_desk_view_declares_its_permissions():
    unguarded = [
        p.name
        for p in desk_patterns()
        if p.name not in desk_urls.PUBLIC_URL_NAMES
        and not getattr(p.callback, "desk_permissions", None)
    ]
    assert unguarded == [], "wrap these views in desk_permission_required"


def test_the_screens_fixture_covers_every_guarded_url(screens):
    # Fragments and POST-only actions are covered by their screens' own tests (403, 405).
    guarded = (
        {p.name for p in desk_patterns()}
        - desk_urls.PUBLIC_URL_NAMES
        - desk_urls.FRAGMENT_AND_ACTION_URL_NAMES
    )
    assert guarded == set(screens)


def test_logged_out_user_is_sent_to_the_desk_login_page(client, screens):
    for name, url in screens.items():
        response = client.get(url)
        assert response.status_code == 302, name
        assert response["Location"].startswith("/desk/login/?next="), name


def test_logged_out_htmx_request_redirects_the_whole_page_to_login(client):
    response = client.get(
        "/desk/?q=ada", HTTP_HX_REQUEST="true", HTTP_HX_CURRENT_URL="http://testserver/desk/"
    )
    assert response.status_code == 200
    assert response["HX-Redirect"] == "/desk/login/?next=/desk/"


def test_staff_without_the_agents_group_is_refused(screens):
    clerk = factories.UserFactory(username="clerk", is_staff=True)
    client = Client()
    client.force_login(clerk)
    for name, url in screens.items():
        response = client.get(url)
        assert response.status_code == 403, name
        assert b"Not allowed" in response.content


def test_agent_opens_every_screen(agent_client, screens):
    for name, url in screens.items():
        assert agent_client.get(url).status_code == 200, name


def test_agent_missing_one_permission_is_refused_that_screen(agent, agent_client, screens):
    group = Group.objects.create(name="Read-only agents")
    group.permissions.set(agent.groups.get().permissions.exclude(codename__in=["change_customer"]))
    agent.groups.set([group])
    assert agent_client.get(screens["customer"]).status_code == 200
    assert agent_client.get(screens["customer_edit"]).status_code == 403


def test_login_page_logs_an_agent_in_and_goes_to_find(agent):
    client = Client(enforce_csrf_checks=True)
    page = client.get("/desk/login/")
    assert page.status_code == 200
    token = page.cookies["csrftoken"].value
    response = client.post(
        "/desk/login/",
        {"username": "agent-ann", "password": "secret-pass", "csrfmiddlewaretoken": token},
    )
    assert response.status_code == 302
    assert response["Location"] == "/desk/"
    find = client.get("/desk/")
    assert b"Ann Agent" in find.content  # the agent's name in the top bar


def test_login_with_a_wrong_password_says_so_and_keeps_the_username(client, agent):
    response = client.post("/desk/login/", {"username": "agent-ann", "password": "nope"})
    assert response.status_code == 200
    assert b"Please enter a correct username and password" in response.content
    assert b'value="agent-ann"' in response.content


def test_logout_is_a_post_and_ends_the_session(agent_client):
    assert agent_client.get("/desk/logout/").status_code == 405  # a link cannot log you out
    response = agent_client.post("/desk/logout/")
    assert response.status_code == 302 and response["Location"] == "/desk/login/"
    assert agent_client.get("/desk/").status_code == 302


def test_posts_without_a_csrf_token_are_refused(csrf_client, screens):
    from customers.models import Customer

    before = Customer.objects.count()
    for name in ("customer_new", "customer_edit", "address_new", "address_edit"):
        response = csrf_client.post(screens[name], {"email": "eve@example.com"})
        assert response.status_code == 403, name
    assert csrf_client.post("/desk/logout/").status_code == 403
    assert Customer.objects.count() == before


def test_agent_cannot_open_admin_pages_or_finance_pages(agent_client, agent):
    # Agents are not staff: every admin page sends them to the admin login. That includes the
    # finance pages there are: the ledger of every payment (an agent reads only the payments
    # of the order on their screen), tax rates, and the channels' API keys.
    for url in (
        "/admin/",
        "/admin/auth/user/",
        "/admin/orders/payment/",
        "/admin/orders/payment/?status=captured",
        "/admin/orders/taxrate/",
        "/admin/orders/channelapikey/",
    ):
        response = agent_client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/admin/login/"), url


def test_agent_made_staff_still_cannot_open_admin_pages_not_granted(agent_client, agent):
    # Should a deployment let agents into the admin, the group still grants only its own.
    agent.is_staff = True
    agent.save(update_fields=["is_staff"])
    for url in (
        "/admin/auth/user/",
        "/admin/auth/group/",
        "/admin/orders/channelapikey/",
        "/admin/orders/taxrate/",
        "/admin/fulfillment/sourcingruleset/",
        "/admin/inventory/stockmovement/",
    ):
        assert agent_client.get(url).status_code == 403, url
    # Finance (accounting) has no screens yet: no admin page exists to grant at all. The
    # payments ledger is not listed: the group grants view_payment for the Order screen's
    # payments, so a staff agent would read it; agents are never staff (the test above).
    assert agent_client.get("/admin/accounting/").status_code == 404


def test_agents_group_from_the_migration_has_exactly_the_agent_permissions():
    migration = importlib.import_module("fulfillment.migrations.0003_agents_group")
    later = importlib.import_module("fulfillment.migrations.0006_agents_see_jeopardy_alerts")
    assert set(migration.AGENT_PERMISSIONS) | set(later.ADDED_PERMISSIONS) == AGENT_PERMISSIONS
    Group.objects.filter(name=AGENT_GROUP).delete()
    loader = MigrationExecutor(connection).loader
    state = loader.project_state(("fulfillment", "0003_agents_group"))
    migration.create_agents_group(state.apps, None)
    state = loader.project_state(("fulfillment", "0006_agents_see_jeopardy_alerts"))
    later.grant(state.apps, None)

    group = Group.objects.get(name=AGENT_GROUP)
    granted = {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.all()}
    assert granted == AGENT_PERMISSIONS
    assert not any(p.split(".")[1].startswith("delete_") for p in granted)
    assert not any(
        p.split(".")[0] in {"accounting", "returns", "reporting", "auth"} for p in granted
    )


def test_ensure_agents_group_repairs_a_group_edited_by_hand(agents_group):
    from django.contrib.auth.models import Permission

    agents_group.permissions.add(Permission.objects.get(codename="delete_order"))
    ensure_agents_group()
    assert not agents_group.permissions.filter(codename="delete_order").exists()
    assert agents_group.permissions.count() == len(AGENT_PERMISSIONS)
