from decimal import Decimal

from django import forms
from django.core.exceptions import ValidationError

from materials.models import Category, Material, Supplier
from materials.selectors import Status
from stock.forms import IdempotentForm, QuantityField, TypedNumberMixin
from stock.limits import is_id
from stock.models import COST, MONEY, Location, workshop_today
from stock.units import Unit, compatible_units, convert, plain


class MoneyField(TypedNumberMixin, forms.DecimalField):
    def __init__(self, **kwargs):
        kwargs.setdefault("max_digits", MONEY["max_digits"])
        kwargs.setdefault("decimal_places", MONEY["decimal_places"])
        kwargs.setdefault("min_value", Decimal(0))
        kwargs.setdefault(
            "widget", forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"})
        )
        super().__init__(**kwargs)
        self.error_messages["invalid"] = "Enter an amount, like 12.50."
        self.error_messages["min_value"] = "Enter an amount of zero or more."


class MaterialChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, material):
        return f"{material.item.name} ({material.item.sku}, {material.item.unit})"


def active_materials():
    return Material.objects.filter(item__archived=False).select_related("item")


class MaterialForm(forms.Form):
    sku = forms.CharField(label="SKU", max_length=64)
    name = forms.CharField(max_length=200)
    category = forms.ModelChoiceField(
        queryset=Category.objects.all(), required=False, empty_label="No category"
    )
    unit = forms.ChoiceField(
        choices=Unit.choices,
        help_text="Stock is kept in this unit; any compatible unit can be entered.",
    )
    lot_tracked = forms.BooleanField(
        required=False, label="Track lots", help_text="Each delivery keeps its supplier's lot code."
    )
    shelf_life_days = forms.IntegerField(
        required=False, min_value=0, max_value=36500, label="Shelf life (days)"
    )
    net_weight_g = QuantityField(
        required=False,
        label="Net weight of one (g)",
        help_text="Items counted in pieces: so a batch's stage summary adds up in grams.",
    )
    reorder_point = QuantityField(required=False, allow_zero=True)
    reorder_quantity = QuantityField(required=False, label="Usual order quantity")
    preferred_supplier = forms.ModelChoiceField(
        queryset=Supplier.objects.all(), required=False, empty_label="None"
    )
    notes = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    archived = forms.BooleanField(required=False, help_text="Hide it from lists and deliveries.")
    same_name_ok = forms.BooleanField(required=False)  # the warning's "save it anyway"

    @staticmethod
    def initial_for(material: Material) -> dict:
        item = material.item
        return {
            "sku": item.sku,
            "name": item.name,
            "category": material.category_id,
            "unit": item.unit,
            "lot_tracked": item.lot_tracked,
            "shelf_life_days": item.shelf_life_days,
            "net_weight_g": item.net_weight_g and plain(item.net_weight_g),
            "reorder_point": material.reorder_point and plain(material.reorder_point),
            "reorder_quantity": material.reorder_quantity and plain(material.reorder_quantity),
            "preferred_supplier": material.preferred_supplier_id,
            "notes": material.notes,
            "archived": item.archived,
        }


class MaterialFilterForm(forms.Form):
    q = forms.CharField(required=False, label="Search")
    category = forms.ModelChoiceField(
        queryset=Category.objects.all(), required=False, empty_label="All categories"
    )
    supplier = forms.ModelChoiceField(
        queryset=Supplier.objects.all(), required=False, empty_label="All suppliers"
    )
    status = forms.ChoiceField(choices=Status.CHOICES, required=False)
    include_archived = forms.BooleanField(required=False, label="Show archived")


class SupplierForm(forms.Form):
    name = forms.CharField(max_length=200)
    contact = forms.CharField(max_length=200, required=False, label="Contact person")
    email = forms.EmailField(required=False)
    phone = forms.CharField(max_length=50, required=False)
    website = forms.URLField(required=False, assume_scheme="https")
    notes = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)


class CategoryForm(forms.Form):
    name = forms.CharField(max_length=100, label="New category")


class SupplierPriceForm(forms.Form):
    supplier = forms.ModelChoiceField(queryset=Supplier.objects.all(), empty_label="Supplier…")
    supplier_sku = forms.CharField(max_length=64, required=False, label="Their SKU")
    unit_price = MoneyField(
        required=False, decimal_places=COST["decimal_places"], label="Price per unit"
    )


# Receiving ---------------------------------------------------------------------------------


class ReceiptForm(IdempotentForm):
    supplier = forms.ModelChoiceField(queryset=Supplier.objects.all(), empty_label="Supplier…")
    reference = forms.CharField(max_length=100, required=False, label="Delivery note / invoice")
    received_on = forms.DateField(widget=forms.DateInput(format="%Y-%m-%d", attrs={"type": "date"}))
    location = forms.ModelChoiceField(
        queryset=Location.objects.filter(archived=False),
        empty_label="Where it goes…",
        label="Put away at",
    )
    shipping = MoneyField(
        decimal_places=2,
        required=False,
        help_text="Spread over the lines by their value, so each lot carries its share.",
    )
    notes = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    same_reference_ok = forms.BooleanField(required=False)  # the warning's "save it too"

    def clean_received_on(self):
        received_on = self.cleaned_data["received_on"]
        if received_on > workshop_today():
            raise ValidationError("A delivery cannot arrive in the future: check the date.")
        return received_on


class ReceiptLineForm(forms.Form):
    PRICE_KINDS = [("total", "for the line"), ("unit", "per unit")]

    material = MaterialChoiceField(queryset=active_materials(), empty_label="Material…")
    quantity = QuantityField()
    unit = forms.ChoiceField(
        choices=[("", "its own unit"), *Unit.choices],
        required=False,
    )
    price = MoneyField()
    price_kind = forms.ChoiceField(choices=PRICE_KINDS, initial="total", label="Price is")
    lot_code = forms.CharField(
        max_length=64,
        required=False,
        label="Supplier's lot code",
        help_text="Needed for lot-tracked materials.",
    )
    lot_code.show_optional = False
    expiry_date = forms.DateField(
        required=False,
        widget=forms.DateInput(format="%Y-%m-%d", attrs={"type": "date"}),
        label="Expires",
    )
    location = forms.ModelChoiceField(
        queryset=Location.objects.filter(archived=False),
        required=False,
        empty_label="Same as above",
        label="Put away at",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        material = self.chosen_material()
        if material is not None:  # offer only the units that convert to the material's;
            # any unit still validates, so a wrong one gets the conversion's own message
            unit = material.item.unit
            self.fields["unit"].widget.choices = [("", f"{unit} (its own unit)")] + [
                (u, u) for u in compatible_units(unit)[1:]
            ]

    def chosen_material(self):
        raw = self.data.get(self.add_prefix("material")) if self.is_bound else None
        if not raw or not is_id(raw):
            return None
        return active_materials().filter(pk=int(raw)).first()

    def has_changed(self):
        # A line counts as filled in once it names a material or a quantity.
        return bool(
            self.data.get(self.add_prefix("material")) or self.data.get(self.add_prefix("quantity"))
        )

    def clean(self):
        data = super().clean()
        material = data.get("material")
        if material is None or data.get("quantity") is None:
            return data
        unit = data.get("unit") or material.item.unit
        data["unit"] = unit
        try:
            data["converted"] = convert(
                data["quantity"], unit, material.item.unit, item_name=material.item.name
            )
        except ValidationError as exc:
            self.add_error("unit", exc)
        else:
            if data["converted"] <= 0:
                self.add_error(
                    "quantity",
                    f"Too small to keep in {material.item.unit}: "
                    f"the smallest amount is 0.000001 {material.item.unit}.",
                )
        if material.item.lot_tracked and not data.get("lot_code", "").strip():
            self.add_error(
                "lot_code", f"{material.item.name} is lot-tracked: copy the supplier's lot code."
            )
        return data


class BaseReceiptLineFormSet(forms.BaseFormSet):
    def clean(self):
        if any(self.errors):
            return
        if not any(form.has_changed() for form in self.forms):
            raise ValidationError("Add at least one line: a material and a quantity.")


def receipt_line_formset(*args, blank_lines: int = 0, **kwargs):
    """The delivery's lines; blank lines are extra forms, so leaving them empty is fine."""
    formset = forms.formset_factory(
        ReceiptLineForm,
        formset=BaseReceiptLineFormSet,
        extra=blank_lines,
        max_num=60,
        validate_max=True,
    )
    return formset(*args, prefix="lines", **kwargs)
