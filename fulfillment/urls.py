from django.urls import path

from fulfillment.api import DeliveryOptionsView

urlpatterns = [
    path("delivery-options/", DeliveryOptionsView.as_view(), name="delivery-options"),
]

# A change during fulfillment; beside the orders API's own routes (orders cannot import us).
from fulfillment.change_api import OrderChangesView  # noqa: E402

urlpatterns.append(
    path("orders/<str:number>/changes/", OrderChangesView.as_view(), name="order-changes")
)
