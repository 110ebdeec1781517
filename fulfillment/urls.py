from django.urls import path

from fulfillment.api import DeliveryOptionsView

urlpatterns = [
    path("delivery-options/", DeliveryOptionsView.as_view(), name="delivery-options"),
]
