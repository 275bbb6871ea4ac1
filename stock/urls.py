from django.urls import path

from stock import views, views_dispatch, views_trace

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
    path("dispatches/<int:pk>/", views_dispatch.dispatch_detail, name="dispatch"),
    path("locations/", views.location_list, name="locations"),
    path("locations/new/", views.location_edit, name="location-new"),
    path("locations/<int:pk>/edit/", views.location_edit, name="location-edit"),
    path("locations/<int:pk>/archive/", views.location_archive, name="location-archive"),
]
