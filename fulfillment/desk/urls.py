"""/desk/ URLs (namespace "desk"). Mounted from oms/urls.py."""

from django.contrib.auth import views as auth_views
from django.urls import path

from fulfillment.desk import customer_views, order_screen, order_views, views
from fulfillment.desk.forms import DeskLoginForm

app_name = "desk"

urlpatterns = [
    path(
        "login/",
        auth_views.LoginView.as_view(
            template_name="desk/login.html",
            authentication_form=DeskLoginForm,
            redirect_authenticated_user=True,
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),  # POST only
    path("", views.find, name="find"),
    path("customers/new/", customer_views.customer_new, name="customer_new"),
    path("customers/<int:pk>/", customer_views.customer_detail, name="customer"),
    path("customers/<int:pk>/edit/", customer_views.customer_edit, name="customer_edit"),
    path("customers/<int:pk>/addresses/new/", customer_views.address_new, name="address_new"),
    path(
        "customers/<int:pk>/addresses/<int:address_pk>/edit/",
        customer_views.address_edit,
        name="address_edit",
    ),
    path("orders/new/", order_views.order_new, name="order_new"),
    path("orders/new/skus/", order_views.order_sku_search, name="order_sku_search"),
    path("orders/new/quote/", order_views.order_quote, name="order_quote"),
    path("orders/<str:number>/", order_screen.order_detail, name="order"),
    path("orders/<str:number>/cancel/", order_screen.order_cancel, name="order_cancel"),
    path(
        "orders/<str:number>/lines/<int:line_number>/", order_screen.order_line, name="order_line"
    ),
    path("orders/<str:number>/address/", order_screen.order_address, name="order_address"),
    path("orders/<str:number>/holds/", order_screen.order_hold, name="order_hold"),
    path(
        "orders/<str:number>/holds/<int:hold_pk>/release/",
        order_screen.order_hold_release,
        name="order_hold_release",
    ),
]

# Views that need no login (everything else must be wrapped in desk_permission_required).
PUBLIC_URL_NAMES = frozenset({"login", "logout"})
# Guarded like every screen, but not pages to open: htmx fragments and POST-only actions.
FRAGMENT_AND_ACTION_URL_NAMES = frozenset(
    {
        "order_sku_search",
        "order_quote",
        "order_cancel",
        "order_line",
        "order_address",
        "order_hold",
        "order_hold_release",
    }
)
