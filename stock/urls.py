from django.urls import path

from stock import views, views_dispatch, views_orders, views_trace

app_name = "stock"

urlpatterns = [
    path("", views.on_hand, name="on-hand"),
    path("lots/<int:pk>/", views.lot_detail, name="lot"),
    path("lots/<int:pk>/quarantine/", views.lot_quarantine, name="lot-quarantine"),
    path("lots/<int:pk>/forward/", views_trace.trace_forward, name="trace-forward"),
    path("lots/<int:pk>/backward/", views_trace.trace_backward, name="trace-backward"),
    path("lots/<int:pk>/recall/", views_trace.recall, name="recall"),
    path("lots/<int:pk>/recall/csv/", views_trace.recall_csv, name="recall-csv"),
    path("lots/<int:pk>/recall/hold/", views_trace.recall_hold, name="recall-hold"),
    path("postings/", views.posting_list, name="postings"),
    path("postings/<int:pk>/", views.posting_detail, name="posting"),
    path("postings/<int:pk>/reverse/", views.posting_reverse, name="posting-reverse"),
    path("adjust/", views.adjustment_new, name="adjust"),
    path("count/", views.count_new, name="count"),
    path("transfer/", views.transfer_new, name="transfer"),
    path("customers/", views_dispatch.customer_list, name="customers"),
    path("customers/new/", views_dispatch.customer_new, name="customer-new"),
    path("customers/<int:pk>/", views_dispatch.customer_detail, name="customer"),
    path("customers/<int:pk>/edit/", views_dispatch.customer_edit, name="customer-edit"),
    path("dispatches/", views_dispatch.dispatch_list, name="dispatches"),
    path("dispatches/new/", views_dispatch.dispatch_new, name="dispatch-new"),
    path("dispatches/<int:pk>/", views_dispatch.dispatch_detail, name="dispatch"),
    path("dispatches/<int:pk>/reverse/", views_dispatch.dispatch_reverse, name="dispatch-reverse"),
    path("orders/import/", views_orders.orders_import, name="orders-import"),
    path(
        "orders/import/example.csv",
        views_orders.orders_import_example,
        name="orders-import-example",
    ),
    path(
        "orders/import/<str:token>/",
        views_orders.orders_import_preview,
        name="orders-import-preview",
    ),
    path(
        "orders/import/<str:token>/confirm/",
        views_orders.orders_import_confirm,
        name="orders-import-confirm",
    ),
    path("locations/", views.location_list, name="locations"),
    path("locations/new/", views.location_edit, name="location-new"),
    path("locations/<int:pk>/edit/", views.location_edit, name="location-edit"),
    path("locations/<int:pk>/archive/", views.location_archive, name="location-archive"),
]
