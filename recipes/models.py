"""Products, their variants, and the recipes that make them: versioned, frozen once a batch uses a
version, with lines per batch, per unit or per unit of one variant, in stages (docs/design.md,
"Recipes")."""

from decimal import Decimal

from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

from materials.models import Material
from stock.limits import QUANTITY
from stock.models import Item
from stock.units import Unit


class Product(models.Model):
    """What the workshop sells, before its scents and sizes: "Soy candle"."""

    name = models.CharField(max_length=200)
    code = models.CharField(
        max_length=12, help_text="Short, for batch references: CND makes CND-261123-01."
    )
    description = models.TextField(blank=True)
    shelf_life_days = models.PositiveIntegerField(null=True, blank=True)
    archived = models.BooleanField(default=False)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(Lower("name"), name="product_name_unique_any_case"),
            models.UniqueConstraint(Lower("code"), name="product_code_unique_any_case"),
        ]

    def __str__(self):
        return self.name


class Variant(models.Model):
    """A sellable SKU of a product ("Lavender, 8 oz jar"): an Item of kind variant in the
    ledger, so its lots, stock and cost live there."""

    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="variants")
    item = models.OneToOneField(Item, on_delete=models.PROTECT, related_name="variant")
    name = models.CharField(max_length=200)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["product", "position", "id"]
        constraints = [
            models.UniqueConstraint(
                "product", Lower("name"), name="variant_name_unique_per_product"
            )
        ]

    def __str__(self):
        return f"{self.product.name}: {self.name}"


class Recipe(models.Model):
    """How a product is made. Its versions hold the lines; every batch keeps the one it used."""

    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="recipes")
    name = models.CharField(max_length=200)

    class Meta:
        ordering = ["product__name", "name"]

    def __str__(self):
        return self.name


class RecipeVersion(models.Model):
    """One version of a recipe. A draft may change; the first batch planned on it freezes it, and
    a change after that makes the next version from a copy."""

    recipe = models.ForeignKey(Recipe, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    standard_yield = models.DecimalField(
        **QUANTITY, help_text="Units of product one standard batch makes."
    )
    notes = models.TextField(blank=True)
    # Percentage recipes: lines are entered as a share of this batch mass.
    target_mass = models.DecimalField(**QUANTITY, null=True, blank=True)
    target_unit = models.CharField(max_length=8, choices=Unit.choices, blank=True)
    frozen_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["recipe", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["recipe", "number"], name="version_number_unique"),
            models.CheckConstraint(
                condition=Q(standard_yield__gt=0), name="version_yield_positive"
            ),
            models.CheckConstraint(
                condition=Q(target_mass__isnull=True) | Q(target_mass__gt=0),
                name="version_target_mass_positive",
            ),
        ]

    def __str__(self):
        return f"{self.recipe.name} v{self.number}"

    @property
    def is_frozen(self) -> bool:
        return self.frozen_at is not None

    @property
    def is_percentage(self) -> bool:
        return self.target_mass is not None


class Stage(models.Model):
    """A step of the process (mix and pour, cure, cut and wrap), with its own lines."""

    version = models.ForeignKey(RecipeVersion, on_delete=models.CASCADE, related_name="stages")
    position = models.PositiveIntegerField(default=0)
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    duration_days = models.PositiveIntegerField(default=0)
    expected_loss_percent = models.DecimalField(max_digits=5, decimal_places=2, default=Decimal(0))
    output_item = models.ForeignKey(
        Item,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The semi-finished item this stage ends in (the uncut loaf).",
    )

    class Meta:
        ordering = ["version", "position", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(expected_loss_percent__gte=0) & Q(expected_loss_percent__lt=100),
                name="stage_loss_percent_range",
            )
        ]

    def __str__(self):
        return self.name


class Basis(models.TextChoices):
    PER_BATCH = "batch", "per batch"
    PER_UNIT = "unit", "per unit made"
    PER_VARIANT_UNIT = "variant", "per unit of one variant"
    FIXED = "fixed", "once per batch, whatever its size"


class RecipeLine(models.Model):
    """A material, a quantity in any unit compatible with the material's, and how it scales."""

    version = models.ForeignKey(RecipeVersion, on_delete=models.CASCADE, related_name="lines")
    stage = models.ForeignKey(
        Stage, on_delete=models.PROTECT, null=True, blank=True, related_name="lines"
    )
    material = models.ForeignKey(Material, on_delete=models.PROTECT, related_name="recipe_lines")
    quantity = models.DecimalField(**QUANTITY)
    unit = models.CharField(max_length=8, choices=Unit.choices)
    basis = models.CharField(max_length=8, choices=Basis.choices, default=Basis.PER_BATCH)
    variant = models.ForeignKey(
        Variant, on_delete=models.PROTECT, null=True, blank=True, related_name="recipe_lines"
    )
    percent = models.DecimalField(
        max_digits=9, decimal_places=6, null=True, blank=True, help_text="Percentage recipes."
    )
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["version", "stage__position", "position", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="recipe_line_positive"),
            models.CheckConstraint(
                condition=(Q(basis="variant") & Q(variant__isnull=False))
                | (~Q(basis="variant") & Q(variant__isnull=True)),
                name="recipe_line_variant_iff_per_variant",
            ),
        ]

    def __str__(self):
        return f"{self.quantity} {self.unit} {self.material} {self.get_basis_display()}"


class AchievedYield(models.Model):
    """What a batch of a version really made against what it planned. Written by the batches
    service through recipes.services.achieved_yield_record, so recipes never imports batches;
    the cost estimate learns from the latest of them."""

    version = models.ForeignKey(
        RecipeVersion, on_delete=models.PROTECT, related_name="achieved_yields"
    )
    planned = models.DecimalField(**QUANTITY)
    achieved = models.DecimalField(**QUANTITY)
    reference = models.CharField(max_length=64, unique=True, help_text="The batch reference.")
    recorded_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-recorded_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(planned__gt=0) & Q(achieved__gte=0), name="achieved_yield_sane"
            )
        ]

    def __str__(self):
        return f"{self.reference}: {self.achieved} of {self.planned}"
