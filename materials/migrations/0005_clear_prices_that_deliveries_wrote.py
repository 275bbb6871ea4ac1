"""Deliveries used to write the supplier's "last price" (issue 12, items 9 and 10). What was
paid is now read from the receipt lines, so the prices a delivery wrote are cleared here and
only what an Owner set stays on the supplier's price list.

A price was a delivery's when it equals the goods price per unit of a line of that supplier
and material received on its `last_paid_on` (the Owner's form never set that date). A row left
with neither a SKU nor a price is dropped when deliveries show the supplier anyway."""

from decimal import ROUND_HALF_UP, Decimal, localcontext

from django.db import migrations
from django.db.models import Exists, OuterRef

COST_PLACES = Decimal(1).scaleb(-10)


def clear_prices_deliveries_wrote(apps, schema_editor):
    SupplierPrice = apps.get_model("materials", "SupplierPrice")
    ReceiptLine = apps.get_model("materials", "ReceiptLine")
    for price in SupplierPrice.objects.exclude(last_paid_on=None).exclude(last_unit_price=None):
        lines = ReceiptLine.objects.filter(
            material_id=price.material_id,
            receipt__supplier_id=price.supplier_id,
            receipt__received_on=price.last_paid_on,
            quantity__gt=0,
        ).values_list("price", "quantity")
        with localcontext(prec=60):
            paid = {(p / q).quantize(COST_PLACES, ROUND_HALF_UP) for p, q in lines}
        if price.last_unit_price in paid:
            price.last_unit_price = None
            price.save(update_fields=["last_unit_price"])
    delivered = ReceiptLine.objects.filter(
        material_id=OuterRef("material_id"), receipt__supplier_id=OuterRef("supplier_id")
    )
    SupplierPrice.objects.filter(supplier_sku="", last_unit_price=None).filter(
        Exists(delivered)
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("materials", "0004_names_unique_in_any_case"),
    ]

    operations = [
        migrations.RunPython(clear_prices_deliveries_wrote, migrations.RunPython.noop),
    ]
