from django.urls import path

from batches import views

app_name = "batches"

urlpatterns = [
    path("<int:pk>/", views.batch_detail, name="detail"),
    path("ref/<str:reference>/", views.batch_by_reference, name="by_reference"),
]
