from django.urls import path

from loomworks import people_views as views

app_name = "people"

urlpatterns = [
    path("", views.people_list, name="list"),
]
