from django.urls import path

from batches import views

app_name = "batches"

urlpatterns = [
    path("", views.batch_list, name="list"),
    path("plan/", views.batch_plan, name="plan"),
    path("bench/", views.bench, name="bench"),
    path("history/<int:pk>/", views.product_history, name="history"),
    path("<int:pk>/", views.batch_detail, name="detail"),
    path("<int:pk>/start/", views.batch_start, name="start"),
    path("<int:pk>/stage/<int:position>/", views.stage_record, name="stage"),
    path("<int:pk>/rest/", views.batch_finish_rest, name="finish-rest"),
    path("<int:pk>/cancel/", views.batch_cancel, name="cancel"),
    path("<int:pk>/reverse/", views.batch_reverse, name="reverse"),
    path("<int:pk>/labels/", views.batch_labels, name="labels"),
    path("ref/<path:reference>/", views.batch_by_reference, name="by_reference"),
]
