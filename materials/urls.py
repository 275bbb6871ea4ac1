from django.urls import include, path

from materials import views

app_name = "materials"

urlpatterns = [
    path("", views.material_list, name="list"),
    path("new/", views.material_edit, name="new"),
    path("<int:pk>/", views.material_detail, name="detail"),
    path("<int:pk>/edit/", views.material_edit, name="edit"),
    path("<int:pk>/prices/", views.material_price, name="price"),
    path("reorder/", views.reorder_list, name="reorder"),
    path("receive/", views.receive, name="receive"),
    path("receive/line/", views.receive_line, name="receive-line"),
    path("receive/line-preview/", views.receive_line_preview, name="receive-line-preview"),
    path("receipts/", views.receipt_list, name="receipts"),
    path("receipts/<int:pk>/", views.receipt_detail, name="receipt"),
    path("suppliers/", views.supplier_list, name="suppliers"),
    path("suppliers/new/", views.supplier_edit, name="supplier-new"),
    path("suppliers/<int:pk>/", views.supplier_detail, name="supplier"),
    path("suppliers/<int:pk>/edit/", views.supplier_edit, name="supplier-edit"),
    path("categories/", views.category_list, name="categories"),
    path("categories/<int:pk>/delete/", views.category_delete, name="category-delete"),
    # CSV import and export
    path("", include("materials.csv_urls")),
]
