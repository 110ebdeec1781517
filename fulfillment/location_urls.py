from django.urls import path

from fulfillment import location_api as views

urlpatterns = [
    path("locations/<str:code>/work/", views.LocationWorkView.as_view(), name="location-work"),
    path("fulfillments/<int:pk>/pick/", views.PickView.as_view(), name="fulfillment-pick"),
    path("fulfillments/<int:pk>/pack/", views.PackView.as_view(), name="fulfillment-pack"),
    path("fulfillments/<int:pk>/ship/", views.ShipView.as_view(), name="fulfillment-ship"),
    path("fulfillments/<int:pk>/deliver/", views.DeliverView.as_view(), name="fulfillment-deliver"),
    path(
        "fulfillments/<int:pk>/receive/",
        views.ReceiveTransferView.as_view(),
        name="fulfillment-receive",
    ),
    path(
        "fulfillments/<int:pk>/ready-for-pickup/",
        views.ReadyForPickupView.as_view(),
        name="fulfillment-ready-for-pickup",
    ),
    path("fulfillments/<int:pk>/pickup/", views.PickupView.as_view(), name="fulfillment-pickup"),
    path(
        "vendors/<str:code>/purchase-orders/<str:number>/shipment/",
        views.VendorShipmentView.as_view(),
        name="vendor-shipment",
    ),
    path(
        "fulfillments/<int:pk>/packing-slip.pdf",
        views.PackingSlipView.as_view(),
        name="fulfillment-packing-slip",
    ),
    path(
        "fulfillments/<int:pk>/label.pdf",
        views.ShippingLabelView.as_view(),
        name="fulfillment-label",
    ),
]
