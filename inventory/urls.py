from django.urls import path

from inventory.api import AvailabilityView
from inventory.purchasing_api import PurchaseOrderReceiptView

urlpatterns = [
    path("availability/", AvailabilityView.as_view(), name="availability"),
    path(
        "purchase-orders/<str:number>/receipts/",
        PurchaseOrderReceiptView.as_view(),
        name="purchase-order-receipts",
    ),
]
