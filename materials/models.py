"""Materials, suppliers and deliveries. Every material is an Item in the stock ledger; what the
ledger knows (name, SKU, unit, lot tracking, shelf life, archived) lives there, once."""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

from stock.models import COST, MONEY, QUANTITY, Item, Location, Lot, Posting, workshop_today


class Category(models.Model):
    """An Owner-managed list: raw material, fragrance and colour, packaging, consumable..."""

    name = models.CharField(max_length=100, unique=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "categories"
        constraints = [
            models.UniqueConstraint(
                Lower("name"),
                name="category_name_unique_any_case",
                violation_error_message="A category with this name exists (in any case).",
            )
        ]

    def __str__(self):
        return self.name


class Supplier(models.Model):
    name = models.CharField(max_length=200, unique=True)
    contact = models.CharField("contact person", max_length=200, blank=True)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=50, blank=True)
    website = models.URLField(blank=True)
    notes = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                Lower("name"),
                name="supplier_name_unique_any_case",
                violation_error_message="A supplier with this name exists (in any case).",
            )
        ]

    def __str__(self):
        return self.name


class Material(models.Model):
    item = models.OneToOneField(Item, on_delete=models.PROTECT, related_name="material")
    category = models.ForeignKey(
        Category, on_delete=models.PROTECT, null=True, blank=True, related_name="materials"
    )
    reorder_point = models.DecimalField(
        **QUANTITY,
        null=True,
        blank=True,
        help_text="Reorder when stock on hand falls to this, in the material's unit.",
    )
    reorder_quantity = models.DecimalField(
        **QUANTITY,
        null=True,
        blank=True,
        help_text="How much you usually order. Empty: enough to reach twice the reorder point.",
    )
    preferred_supplier = models.ForeignKey(
        Supplier, on_delete=models.SET_NULL, null=True, blank=True, related_name="preferred_for"
    )
    notes = models.TextField(blank=True)
    label_name = models.CharField(
        max_length=200,
        blank=True,
        help_text="How it is named on a product label (the INCI name for cosmetics).",
    )

    class Meta:
        ordering = ["item__name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(reorder_point__gte=0) | Q(reorder_point__isnull=True),
                name="material_reorder_point_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(reorder_quantity__gt=0) | Q(reorder_quantity__isnull=True),
                name="material_reorder_quantity_positive",
            ),
        ]

    def __str__(self):
        return self.item.name


class SupplierPrice(models.Model):
    """The supplier's price list, as an Owner keeps it: what the supplier calls a material and
    its price per unit of the material. Deliveries never write here; what was last paid is read
    from the receipt lines (materials.selectors.supplier_prices)."""

    material = models.ForeignKey(Material, on_delete=models.CASCADE, related_name="prices")
    supplier = models.ForeignKey(Supplier, on_delete=models.CASCADE, related_name="prices")
    supplier_sku = models.CharField("supplier's SKU", max_length=64, blank=True)
    unit_price = models.DecimalField(
        "price per unit",
        **COST,
        null=True,
        blank=True,
        help_text="The supplier's list price per unit of the material.",
    )

    class Meta:
        ordering = ["supplier__name"]
        constraints = [
            models.UniqueConstraint(
                fields=["material", "supplier"], name="supplier_price_unique_per_material"
            ),
            models.CheckConstraint(
                condition=Q(unit_price__gte=0) | Q(unit_price__isnull=True),
                name="supplier_price_not_negative",
            ),
        ]

    def __str__(self):
        return f"{self.material} from {self.supplier}"


class Receipt(models.Model):
    """One delivery from one supplier: the document behind one receipt posting."""

    supplier = models.ForeignKey(Supplier, on_delete=models.PROTECT, related_name="receipts")
    reference = models.CharField(
        max_length=100, blank=True, help_text="Delivery note or invoice number."
    )
    received_on = models.DateField(default=workshop_today)
    shipping = models.DecimalField(**MONEY, default=Decimal(0))
    posting = models.OneToOneField(Posting, on_delete=models.PROTECT, related_name="receipt")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    notes = models.TextField(blank=True)

    class Meta:
        ordering = ["-received_on", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(shipping__gte=0), name="receipt_shipping_not_negative"
            )
        ]

    def __str__(self):
        return f"Delivery #{self.pk} from {self.supplier}"


class ReceiptLine(models.Model):
    """A line as the maker entered it, and the lot it became."""

    receipt = models.ForeignKey(Receipt, on_delete=models.PROTECT, related_name="lines")
    material = models.ForeignKey(Material, on_delete=models.PROTECT, related_name="receipt_lines")
    lot = models.OneToOneField(Lot, on_delete=models.PROTECT, related_name="receipt_line")
    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="+")
    entered_quantity = models.DecimalField(**QUANTITY)
    entered_unit = models.CharField(max_length=8)
    quantity = models.DecimalField(**QUANTITY, help_text="In the material's unit.")
    price = models.DecimalField(**MONEY, help_text="What the goods on this line cost.")
    shipping_share = models.DecimalField(**MONEY, default=Decimal(0))
    unit_cost = models.DecimalField(**COST, help_text="Landed cost per unit of the material.")

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"{self.entered_quantity} {self.entered_unit} of {self.material}"
