"""Who may use the desk: a logged-in user holding the permissions a screen declares.

The "Agents" group (migrations `fulfillment.0003_agents_group` and
`0006_agents_see_jeopardy_alerts`) holds exactly AGENT_PERMISSIONS.
"""

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.models import Group, Permission
from django.contrib.auth.views import redirect_to_login
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import resolve_url
from django.template.response import TemplateResponse
from django_htmx.http import HttpResponseClientRedirect

AGENT_GROUP = "Agents"

# What a call-center agent needs, and nothing more ("app_label.codename"). The migration that
# creates the group keeps its own frozen copy; a test checks the two agree.
AGENT_PERMISSIONS = frozenset(
    {
        # Find and Customer 360: read, create and edit customers and their addresses.
        "customers.view_customer",
        "customers.add_customer",
        "customers.change_customer",
        "customers.view_address",
        "customers.add_address",
        "customers.change_address",
        # Order screens: read orders with their lines, payments, holds and timeline; place
        # orders; change them (cancel an order or a line, quantities, address, holds).
        "orders.view_order",
        "orders.add_order",
        "orders.change_order",
        "orders.view_orderline",
        "orders.view_payment",
        "orders.view_orderhold",
        "orders.view_orderevent",
        "orders.view_saleschannel",
        "orders.view_servicelevel",
        # New order: SKUs by code or name and availability per location.
        "inventory.view_sku",
        "inventory.view_location",
        "inventory.view_stocklevel",
        # Order screen: shipments with tracking.
        "fulfillment.view_fulfillmentorder",
        "fulfillment.view_fulfillmentline",
        # Order screen: the order's live jeopardy alerts, so the agent can tell the customer.
        "fulfillment.view_jeopardyalert",
        "fulfillment.view_package",
        "fulfillment.view_carrier",
    }
)


def ensure_agents_group() -> Group:
    """The Agents group with exactly AGENT_PERMISSIONS (repairs a group edited by hand).

    The migration creates it; seed_demo and tests whose database was flushed call this.
    """
    group, _ = Group.objects.get_or_create(name=AGENT_GROUP)
    wanted = Q(pk__in=[])
    for name in AGENT_PERMISSIONS:
        app_label, codename = name.split(".")
        wanted |= Q(content_type__app_label=app_label, codename=codename)
    permissions = list(Permission.objects.filter(wanted))
    if len(permissions) != len(AGENT_PERMISSIONS):
        raise LookupError("Some agent permissions do not exist: run migrate.")
    group.permissions.set(permissions)
    return group


def desk_permission_required(*perms: str) -> Callable:
    """Wrap a desk view: logged out → the desk login page; missing a permission → 403.

    The permissions are "app_label.codename" strings, all required. The wrapped view carries
    them as `desk_permissions` so a test can check every desk URL declares some.
    """
    if not perms:
        raise ValueError("A desk view must name the permissions it needs.")

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if not request.user.is_authenticated:
                login_url = resolve_url("desk:login")
                if getattr(request, "htmx", False):
                    # A fragment request must not swap the login page into the results:
                    # the whole page goes to the login, and back to where it was after.
                    back_to = request.htmx.current_url_abs_path or request.get_full_path()
                    return HttpResponseClientRedirect(redirect_to_login(back_to, login_url).url)
                return redirect_to_login(request.get_full_path(), login_url)
            if not request.user.has_perms(perms):
                return TemplateResponse(request, "desk/403.html", status=403)
            return view(request, *args, **kwargs)

        wrapped.desk_permissions = perms
        return wrapped

    return decorator
