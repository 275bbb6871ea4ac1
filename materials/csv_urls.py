"""CSV import and export. Included by materials/urls.py inside the `materials` namespace."""

from django.urls import path

from materials import views_csv

urlpatterns = [
    path("import/", views_csv.material_import, name="import"),
    path("import/example.csv", views_csv.material_import_example, name="import-example"),
    path("import/<slug:token>/", views_csv.material_import_preview, name="import-preview"),
    path("import/<slug:token>/confirm/", views_csv.material_import_confirm, name="import-confirm"),
    path("export/materials.csv", views_csv.export_materials, name="export-materials"),
    path("export/lots.csv", views_csv.export_lots, name="export-lots"),
    path("export/receipts.csv", views_csv.export_receipts, name="export-receipts"),
]
