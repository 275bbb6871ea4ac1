from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from loomworks import views, views_search
from stock import views as stock_views

admin.site.site_header = "Loomworks admin"
admin.site.site_title = "Loomworks admin"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("healthz", views.healthz, name="healthz"),
    path("search/", views_search.search, name="search"),
    path(
        "sign-in/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("sign-out/", auth_views.LogoutView.as_view(), name="logout"),
    path("workshop/", stock_views.workshop_settings, name="workshop"),
    path("people/", include("loomworks.people_urls")),
    path("stock/", include("stock.urls")),
    path("materials/", include("materials.urls")),
    path("recipes/", include("recipes.urls")),
    path("batches/", include("batches.urls")),
    path("admin/login/", views.admin_sign_in, name="admin-sign-in"),
    path("admin/", admin.site.urls),
]
