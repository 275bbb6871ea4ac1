from decimal import Decimal

from django import forms
from django.core.exceptions import ValidationError

from materials.models import Material
from recipes.models import Basis, Recipe, RecipeVersion, Variant
from recipes.selectors import even_split
from stock.forms import QuantityField
from stock.units import Unit, compatible_units


class ProductForm(forms.Form):
    name = forms.CharField(max_length=200)
    code = forms.CharField(
        max_length=12, help_text="Short, for batch references: CND makes CND-261123-01."
    )
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    shelf_life_days = forms.IntegerField(
        min_value=0, max_value=36500, required=False, label="Shelf life (days)"
    )
    variants = forms.CharField(
        widget=forms.Textarea(
            attrs={"rows": 4, "placeholder": "Lavender, CND-LAV\nCedar, CND-CED"}
        ),
        required=False,
        help_text="One per line: the variant's name, a comma, its SKU. Empty: one variant, "
        "named and coded as the product.",
    )

    def clean_variants(self):
        variants = []
        for n, row in enumerate(self.cleaned_data["variants"].splitlines(), start=1):
            if not row.strip():
                continue
            name, _, sku = row.rpartition(",")
            if not name.strip() or not sku.strip():
                raise ValidationError(f"Line {n}: write the name, a comma, then the SKU.")
            variants.append((name.strip(), sku.strip()))
        return variants


class ProductEditForm(forms.Form):
    name = forms.CharField(max_length=200)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    shelf_life_days = forms.IntegerField(
        min_value=0, max_value=36500, required=False, label="Shelf life (days)"
    )
    archived = forms.BooleanField(required=False, help_text="No longer made or sold.")


class VariantForm(forms.Form):
    name = forms.CharField(max_length=200)
    sku = forms.CharField(max_length=64, label="SKU")


class RecipeForm(forms.Form):
    name = forms.CharField(max_length=200)
    standard_yield = QuantityField(label="A standard batch makes (units)")
    notes = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    target_mass = QuantityField(
        required=False,
        label="In percentages of a batch of",
        help_text="For soap and skincare: give the batch mass, then each line as a percentage.",
    )
    target_unit = forms.ChoiceField(
        choices=[("", "—")] + [(u, u) for u in compatible_units(Unit.G)], required=False
    )


class VersionForm(forms.Form):
    standard_yield = QuantityField(label="A standard batch makes (units)")
    notes = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    target_mass = QuantityField(required=False, label="Batch mass (percentage recipes)")
    target_unit = forms.ChoiceField(
        choices=[("", "—")] + [(u, u) for u in compatible_units(Unit.G)], required=False
    )


class LineForm(forms.Form):
    material = forms.ModelChoiceField(
        queryset=Material.objects.filter(item__archived=False).select_related("item"),
        empty_label="Choose a material…",
    )
    quantity = QuantityField(required=False)
    unit = forms.ChoiceField(
        choices=[("", "its own unit"), *Unit.choices],
        required=False,
        help_text="Any unit that converts to the material's.",
    )
    basis = forms.ChoiceField(choices=Basis.choices, initial=Basis.PER_BATCH)
    variant = forms.ModelChoiceField(
        queryset=Variant.objects.none(), required=False, empty_label="—"
    )
    stage = forms.ModelChoiceField(queryset=None, required=False, empty_label="No stage")
    percent = QuantityField(required=False, label="Percent of the batch")

    def __init__(self, *args, version: RecipeVersion, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["variant"].queryset = version.recipe.product.variants.all()
        self.fields["stage"].queryset = version.stages.order_by("position", "id")
        self.fields["material"].label_from_instance = lambda m: f"{m.item.name} ({m.item.sku})"
        self.fields["quantity"].show_optional = False
        if version.is_percentage:
            self.fields["percent"].help_text = "Or, for packaging, a quantity instead."
        else:
            del self.fields["percent"]


class StageForm(forms.Form):
    name = forms.CharField(max_length=100)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    duration_days = forms.IntegerField(min_value=0, max_value=3650, initial=0, label="Days")
    expected_loss_percent = forms.DecimalField(
        min_value=Decimal(0),
        max_value=Decimal("99.99"),
        decimal_places=2,
        initial=Decimal(0),
        label="Expected loss (%)",
    )
    output_name = forms.CharField(
        max_length=200,
        required=False,
        label="Ends in (semi-finished)",
        help_text="The uncut soap loaf, the sorted rough: kept on the shelf as a lot.",
    )


class SplitForm(forms.Form):
    """How many of each variant a batch would make."""

    def __init__(self, *args, variants, standard_yield: Decimal, **kwargs):
        super().__init__(*args, **kwargs)
        self.variants = list(variants)
        initial = even_split(self.variants, standard_yield)
        for v in self.variants:
            self.fields[f"v-{v.pk}"] = QuantityField(
                required=False, allow_zero=True, label=v.name, initial=initial[v.pk]
            )

    def split(self) -> dict[int, Decimal]:
        if self.is_bound and self.is_valid():
            return {
                v.pk: self.cleaned_data[f"v-{v.pk}"] or Decimal(0)
                for v in self.variants
                if self.cleaned_data.get(f"v-{v.pk}")
            }
        return {v.pk: Decimal(self.fields[f"v-{v.pk}"].initial) for v in self.variants}

    def clean(self):
        data = super().clean()
        if not self.errors and not any(data.get(f"v-{v.pk}") for v in self.variants):
            raise ValidationError("Choose how many to make: at least one unit.")
        return data


class QuickCheckForm(forms.Form):
    """The dashboard's "can I make this?": a recipe and how many."""

    recipe = forms.ModelChoiceField(
        queryset=Recipe.objects.filter(product__archived=False).select_related("product"),
        empty_label="Choose a recipe…",
    )
    units = QuantityField(label="How many")


class LinesImportForm(forms.Form):
    file = forms.FileField(label="CSV file", help_text="CSV UTF-8, the column names in row 1.")
