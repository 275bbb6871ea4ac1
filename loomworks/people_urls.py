from django.urls import path

from loomworks import people_views as views

app_name = "people"

urlpatterns = [
    path("", views.people_list, name="list"),
    path("add/", views.person_add, name="add"),
    path("<int:pk>/role/", views.person_role, name="role"),
    path("<int:pk>/active/", views.person_active, name="active"),
]
