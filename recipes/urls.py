from django.urls import path

from recipes import views

app_name = "recipes"

urlpatterns = [
    path("", views.product_list, name="products"),
    path("products/new/", views.product_new, name="product-new"),
    path("products/<int:pk>/", views.product_detail, name="product"),
    path("products/<int:pk>/edit/", views.product_edit, name="product-edit"),
    path("products/<int:pk>/recipes/new/", views.recipe_new, name="recipe-new"),
    path("<int:pk>/", views.recipe_detail, name="recipe"),
    path("versions/<int:pk>/", views.version_detail, name="version"),
    path("versions/<int:pk>/edit/", views.version_edit, name="version-edit"),
    path("versions/<int:pk>/editor/", views.version_editor, name="edit"),
    path("versions/<int:pk>/changes-since/<int:other>/", views.version_diff, name="diff"),
    path("versions/<int:pk>/lines.csv", views.version_lines_csv, name="lines-csv"),
    path("versions/<int:pk>/import/", views.version_lines_import, name="lines-import"),
    path("where-used/material/<int:pk>/", views.material_where_used, name="where-used"),
    path("check/", views.quick_check, name="quick-check"),
]
