from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.permissions import AllowAny

from oms.core.views import health

urlpatterns = [
    path("admin/", admin.site.urls),
    # The API's shape is public (integrators read it before they have a key); its data is not.
    path(
        "api/schema/",
        SpectacularAPIView.as_view(permission_classes=[AllowAny], authentication_classes=[]),
        name="api-schema",
    ),
    path(
        "api/docs/",
        SpectacularSwaggerView.as_view(
            url_name="api-schema", permission_classes=[AllowAny], authentication_classes=[]
        ),
        name="api-docs",
    ),
    path("api/v1/", include("inventory.urls")),
    path("api/v1/", include("orders.urls")),
    path("api/v1/", include("fulfillment.urls")),
    path("api/v1/", include("fulfillment.location_urls")),
    path("desk/", include("fulfillment.desk.urls")),
    path("health/", health, name="health"),
]

# Unmatched /api/ URLs answer problem+json like the API's own 404s.
handler404 = "oms.core.api.not_found"
