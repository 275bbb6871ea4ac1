from django.db import migrations

DEFAULTS = ["Raw material", "Fragrance and colour", "Packaging", "Consumable"]


def create(apps, schema_editor):
    Category = apps.get_model("materials", "Category")
    for name in DEFAULTS:
        Category.objects.get_or_create(name=name)


class Migration(migrations.Migration):
    dependencies = [("materials", "0001_catalog")]

    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
