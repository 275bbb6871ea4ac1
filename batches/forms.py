"""Batch forms. The stage form is built from the stage's planned uses: one row per recipe line
(quantity in any compatible unit, an optional lot), a few rows for extras and substitutes,
waste and scrap, and on the last stage what each variant gave."""

import re
from dataclasses import dataclass
from decimal import Decimal

from django import forms
from django.core.exceptions import ValidationError

from batches import labels, services
from batches.models import Status
from recipes.models import Product, RecipeVersion
from recipes.selectors import even_split
from stock.forms import IdempotentForm, QuantityField, new_key
from stock.models import Item, ItemKind, Lot, workshop_today
from stock.units import Unit, compatible_units, convert, display, plain

EXTRA_ROWS = 2
WASTE_ROWS = 2
SCRAP_ROWS = 1
FEFO = "first-expiry-first"
NOT_NUMBER_FOR = "{name}: {error}"
UNKNOWN_LOT = "{item}: that lot is not at this batch's location."
NEW_ITEM_NEEDS_NAME = "Give the new scrap item a name, or choose one."
# A date picker reads only ISO dates: left to the locale (en-gb: 02/12/2026) its initial value
# (today, on the plan) is dropped and the picker shows empty.
DATE_INPUT = forms.DateInput(format="%Y-%m-%d", attrs={"type": "date"})


def _unit_choices(unit: str):
    return [(u, u) for u in compatible_units(unit)]


def _amount():
    return QuantityField(required=False, allow_zero=True, label="How much")


def lot_label(balance) -> str:
    lot = balance.lot
    parts = [lot.code, f"{display(balance.quantity)} {lot.item.unit}"]
    if lot.expiry_date:
        parts.append(f"expires {lot.expiry_date:%d %b %Y}")
    if lot.quarantined:
        parts.append("QUARANTINED")
    elif not balance.usable:
        parts.append("EXPIRED")
    return " · ".join(parts)


class PlanForm(IdempotentForm):
    """How many of each variant, when, and notes."""

    production_date = forms.DateField(widget=DATE_INPUT)
    expected_completion = forms.DateField(
        required=False,
        widget=DATE_INPUT,
        help_text="Left empty: the production date plus the stages' durations.",
    )
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    short_ok = forms.BooleanField(
        required=False, label="Save it although materials are short (it is marked short)"
    )

    def __init__(self, *args, version: RecipeVersion, **kwargs):
        super().__init__(*args, **kwargs)
        self.version = version
        self.variants = list(version.recipe.product.variants.select_related("item"))
        initial = even_split(self.variants, version.standard_yield)
        self.fields["production_date"].initial = workshop_today()
        for v in self.variants:
            self.fields[f"v-{v.pk}"] = QuantityField(
                required=False, allow_zero=True, label=v.name, initial=initial[v.pk]
            )

    def variant_fields(self):
        return [self[f"v-{v.pk}"] for v in self.variants]

    def split_by_id(self) -> dict[int, Decimal]:
        if self.is_bound:
            data = {}
            for v in self.variants:
                field = self[f"v-{v.pk}"]
                try:
                    value = self.fields[field.name].clean(field.data)
                except ValidationError:
                    value = None
                if value:
                    data[v.pk] = value
            return data
        return {v.pk: Decimal(self.fields[f"v-{v.pk}"].initial) for v in self.variants}

    def split(self) -> dict:
        return {
            v: self.cleaned_data.get(f"v-{v.pk}") or Decimal(0)
            for v in self.variants
            if self.cleaned_data.get(f"v-{v.pk}")
        }


@dataclass
class UseRow:
    """One row of the stage form as the template lays it out."""

    planned: object  # selectors.PlannedUse, or None for an extra row
    quantity: forms.BoundField
    unit: forms.BoundField
    lot: forms.BoundField | None
    item: forms.BoundField | None = None
    variant: forms.BoundField | None = None


class StageForm(forms.Form):
    """Record one stage. Built from the planned uses; `to_service()` gives the keyword
    arguments of batches.services.stage_complete."""

    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=64)
    note = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, batch, stage, planned, last: bool, wip=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.batch, self.stage, self.planned, self.last = batch, stage, planned, last
        self.fields["idempotency_key"].initial = new_key()
        self.splits = [s for s in batch.splits.all() if s.planned]
        variant_choices = [("", "Shared by all")] + [
            (str(s.variant_id), f"Only {s.variant.name}") for s in self.splits
        ]
        materials = Item.objects.filter(archived=False, kind=ItemKind.MATERIAL).order_by("name")
        for n, use in enumerate(planned):
            self.fields[f"q-{n}"] = QuantityField(
                required=False, allow_zero=True, label=use.item.name, initial=plain(use.quantity)
            )
            self.fields[f"u-{n}"] = forms.ChoiceField(
                choices=_unit_choices(use.item.unit), initial=use.item.unit, label="Unit"
            )
            preview = ", ".join(f"{b.lot.code} {display(q)}" for b, q in use.preview)
            self.fields[f"lot-{n}"] = forms.ChoiceField(
                required=False,
                label="Lot",
                choices=[("", f"First expiry first ({preview or 'none usable'})")]
                + [(str(b.lot_id), lot_label(b)) for b in use.lots],
            )
        for n in range(EXTRA_ROWS):
            self.fields[f"xi-{n}"] = forms.ModelChoiceField(
                queryset=materials, required=False, label="Extra or substitute"
            )
            self.fields[f"xq-{n}"] = QuantityField(
                required=False, allow_zero=True, label="How much"
            )
            self.fields[f"xu-{n}"] = forms.ChoiceField(
                choices=[(u, u) for u in Unit.values], required=False, label="Unit"
            )
            self.fields[f"xv-{n}"] = forms.ChoiceField(
                choices=variant_choices, required=False, label="For"
            )
        inputs = Item.objects.filter(
            pk__in=[u.item.pk for u in planned] + [w.lot.item_id for w in wip]
        )
        for n in range(WASTE_ROWS):
            self.fields[f"wi-{n}"] = forms.ModelChoiceField(
                queryset=inputs, required=False, label="Waste of"
            )
            self.fields[f"wq-{n}"] = QuantityField(
                required=False, allow_zero=True, label="How much"
            )
            self.fields[f"wn-{n}"] = forms.CharField(required=False, label="Note", max_length=200)
        scrap_items = Item.objects.filter(kind=ItemKind.SCRAP, archived=False).order_by("name")
        for n in range(SCRAP_ROWS):
            self.fields[f"si-{n}"] = forms.ModelChoiceField(
                queryset=scrap_items, required=False, label="Scrap item"
            )
            self.fields[f"sn-{n}"] = forms.CharField(
                required=False, max_length=200, label="or a new scrap item"
            )
            self.fields[f"su-{n}"] = forms.ChoiceField(
                choices=[(u, u) for u in Unit.values], initial=Unit.G, label="Its unit"
            )
            self.fields[f"sq-{n}"] = QuantityField(
                required=False, allow_zero=True, label="How much"
            )
            self.fields[f"sv-{n}"] = QuantityField(
                required=False, allow_zero=True, label="Worth (total)"
            )
        if last:
            for s in self.splits:
                v = s.variant_id
                self.fields[f"ok-{v}"] = QuantityField(
                    allow_zero=True, label="Saleable", initial=plain(s.planned)
                )
                self.fields[f"rej-{v}"] = QuantityField(
                    required=False, allow_zero=True, label="Rejected", initial=0
                )
                self.fields[f"why-{v}"] = forms.CharField(
                    required=False, max_length=200, label="Why rejected"
                )
                self.fields[f"wip-{v}"] = QuantityField(
                    required=False, allow_zero=True, label="Not ready yet", initial=0
                )
        elif stage.output_item is not None and stage.output_item.unit != Unit.EACH:
            self.fields["output_quantity"] = QuantityField(
                label=f"{stage.output_item.name} made ({stage.output_item.unit})"
            )

    # Layout helpers for the template.

    def extra_errors(self) -> bool:
        """Whether a folded section (extras, waste, scrap) holds an error: it opens."""
        return any(
            name[:2] in ("xi", "xq", "xu", "xv", "wi", "wq", "si", "sq", "sv", "sn")
            for name in self.errors
        )

    def use_rows(self) -> list[UseRow]:
        return [
            UseRow(planned=use, quantity=self[f"q-{n}"], unit=self[f"u-{n}"], lot=self[f"lot-{n}"])
            for n, use in enumerate(self.planned)
        ]

    def extra_rows(self):
        return [
            UseRow(
                planned=None,
                item=self[f"xi-{n}"],
                quantity=self[f"xq-{n}"],
                unit=self[f"xu-{n}"],
                variant=self[f"xv-{n}"],
                lot=None,
            )
            for n in range(EXTRA_ROWS)
        ]

    def waste_rows(self):
        return [(self[f"wi-{n}"], self[f"wq-{n}"], self[f"wn-{n}"]) for n in range(WASTE_ROWS)]

    def scrap_rows(self):
        return [
            (self[f"si-{n}"], self[f"sn-{n}"], self[f"su-{n}"], self[f"sq-{n}"], self[f"sv-{n}"])
            for n in range(SCRAP_ROWS)
        ]

    def made_rows(self):
        return (
            [
                (
                    s,
                    self[f"ok-{s.variant_id}"],
                    self[f"rej-{s.variant_id}"],
                    self[f"why-{s.variant_id}"],
                    self[f"wip-{s.variant_id}"],
                )
                for s in self.splits
            ]
            if self.last
            else []
        )

    # What the service gets.

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        self.uses, self.waste, self.scrap, self.made = [], [], [], []
        variants = {str(s.variant_id): s.variant for s in self.splits}
        for n, use in enumerate(self.planned):
            quantity = self._converted(f"q-{n}", data.get(f"q-{n}"), data[f"u-{n}"], use.item)
            lot = None
            if data.get(f"lot-{n}"):
                lot = next((b.lot for b in use.lots if str(b.lot_id) == data[f"lot-{n}"]), None)
                if lot is None:
                    self.add_error(f"lot-{n}", UNKNOWN_LOT.format(item=use.item.name))
            if quantity:
                variant = variants.get(str(use.variant_id)) if use.variant_id else None
                self.uses.append(
                    services.Use(item=use.item, quantity=quantity, lot=lot, variant=variant)
                )
        for n in range(EXTRA_ROWS):
            item, q = data.get(f"xi-{n}"), data.get(f"xq-{n}")
            if item and q:
                unit = data.get(f"xu-{n}") or item.unit
                quantity = self._converted(f"xq-{n}", q, unit, item)
                variant = variants.get(data.get(f"xv-{n}") or "")
                if quantity:
                    self.uses.append(services.Use(item=item, quantity=quantity, variant=variant))
            elif q and not item:
                self.add_error(f"xi-{n}", "Choose the material used.")
        for n in range(WASTE_ROWS):
            item, q = data.get(f"wi-{n}"), data.get(f"wq-{n}")
            if item and q:
                self.waste.append(services.Waste(item=item, quantity=q, note=data[f"wn-{n}"]))
            elif q and not item:
                self.add_error(f"wi-{n}", "Choose what was wasted.")
        for n in range(SCRAP_ROWS):
            item, name, q = (
                data.get(f"si-{n}"),
                data.get(f"sn-{n}", "").strip(),
                data.get(f"sq-{n}"),
            )
            if not q:
                continue
            if item is None and not name:
                self.add_error(f"si-{n}", NEW_ITEM_NEEDS_NAME)
                continue
            self.scrap.append((item, name, data[f"su-{n}"], q, data.get(f"sv-{n}") or Decimal(0)))
        for s in self.splits:
            v = s.variant_id
            if not self.last:
                break
            self.made.append(
                services.Made(
                    variant=s.variant,
                    saleable=data.get(f"ok-{v}") or Decimal(0),
                    rejected=data.get(f"rej-{v}") or Decimal(0),
                    in_progress=data.get(f"wip-{v}") or Decimal(0),
                    reason=data.get(f"why-{v}", ""),
                )
            )
        return data

    def _converted(self, name, quantity, unit, item: Item) -> Decimal:
        if not quantity:
            return Decimal(0)
        try:
            return convert(quantity, unit, item.unit, item_name=item.name)
        except ValidationError as exc:
            self.add_error(name, exc)
            return Decimal(0)

    def gains(self) -> list[str]:
        """Variants that gave more saleable units than planned: allowed, worth a second look."""
        if not self.last:
            return []
        return [
            f"{m.variant.name}: {display(m.saleable)} saleable of {display(s.planned)} planned"
            for m, s in zip(self.made, self.splits, strict=True)
            if m.saleable > s.planned
        ]


class FinishRestForm(forms.Form):
    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=64)
    note = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, splits, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["idempotency_key"].initial = new_key()
        self.splits = [s for s in splits if s.in_progress]
        for s in self.splits:
            v = s.variant_id
            self.fields[f"ok-{v}"] = QuantityField(
                allow_zero=True, label="Saleable", initial=plain(s.in_progress)
            )
            self.fields[f"rej-{v}"] = QuantityField(
                required=False, allow_zero=True, label="Rejected", initial=0
            )
            self.fields[f"why-{v}"] = forms.CharField(required=False, label="Why rejected")
            self.fields[f"wip-{v}"] = QuantityField(
                required=False, allow_zero=True, label="Still not ready", initial=0
            )

    def made_rows(self):
        return [
            (
                s,
                self[f"ok-{s.variant_id}"],
                self[f"rej-{s.variant_id}"],
                self[f"why-{s.variant_id}"],
                self[f"wip-{s.variant_id}"],
            )
            for s in self.splits
        ]

    def made(self) -> list:
        d = self.cleaned_data
        return [
            services.Made(
                variant=s.variant,
                saleable=d.get(f"ok-{s.variant_id}") or Decimal(0),
                rejected=d.get(f"rej-{s.variant_id}") or Decimal(0),
                in_progress=d.get(f"wip-{s.variant_id}") or Decimal(0),
                reason=d.get(f"why-{s.variant_id}", ""),
            )
            for s in self.splits
        ]


class CancelForm(IdempotentForm):
    note = forms.CharField(label="Why is it cancelled?", max_length=500)

    def __init__(self, *args, used=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.used = list(used)  # (item, quantity) the batch drew
        for item, quantity in self.used:
            self.fields[f"ret-{item.pk}"] = QuantityField(
                required=False,
                allow_zero=True,
                label=f"Return {item.name} ({item.unit}, used {display(quantity)})",
            )

    def return_fields(self):
        return [self[f"ret-{item.pk}"] for item, _ in self.used]

    def returns(self) -> list:
        return [
            services.Return(item=item, quantity=self.cleaned_data[f"ret-{item.pk}"])
            for item, _ in self.used
            if self.cleaned_data.get(f"ret-{item.pk}")
        ]


class ReverseForm(IdempotentForm):
    note = forms.CharField(label="Why reverse it?", max_length=500)


class BatchFilterForm(forms.Form):
    q = forms.CharField(required=False, label="Reference or note")
    status = forms.ChoiceField(required=False, label="Status")
    product = forms.ModelChoiceField(queryset=None, required=False, empty_label="All products")
    since = forms.DateField(required=False, widget=DATE_INPUT)
    until = forms.DateField(required=False, widget=DATE_INPUT)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["status"].choices = [("", "Any status"), *Status.choices]
        self.fields["product"].queryset = Product.objects.order_by("name")


# Labels ------------------------------------------------------------------------------------

NOT_A_PRODUCT_LOT = (
    "Lot {code} is not a saleable lot of batch {ref}: labels go on finished products. "
    "Choose {choices}."
)
NO_SUCH_LOT = "Choose a saleable lot of batch {ref}: {choices}."
UNKNOWN_SHEET = "Choose a label sheet: {choices}."
COUNT_RANGE = "How many labels: a whole number from 1 to {most}."
START_RANGE = (
    "Start at a label from 1 to {n}: a sheet of {sheet} has {n} labels "
    "({columns} across, {rows} down)."
)
WHOLE_NUMBER = re.compile(r"[0-9]{1,18}")  # a lot's id at most; nothing Python chokes on


def _whole_number(text) -> int | None:
    text = str(text or "").strip()
    return int(text) if WHOLE_NUMBER.fullmatch(text) else None


class LabelsForm(forms.Form):
    """Which of the batch's saleable lots, which label stock, how many labels, and where on a
    sheet already partly used to start. Read from the query string: it changes nothing."""

    lot = forms.CharField(label="Lot")
    sheet = forms.CharField(label="Label sheet")
    count = forms.CharField(label="How many labels")
    start = forms.CharField(
        label="Start at label",
        help_text="Counted along the rows from the top left: on a new sheet, 1.",
    )

    def __init__(self, *args, batch, lots, **kwargs):
        super().__init__(*args, **kwargs)
        self.batch, self.lots = batch, {str(b.lot_id): b for b in lots}
        self.fields["lot"].widget = forms.Select(
            choices=[(str(b.lot_id), labels.lot_choice(b)) for b in lots]
        )
        self.fields["sheet"].widget = forms.Select(
            choices=[(s.code, s.name) for s in labels.SHEETS.values()]
        )
        sheet = labels.SHEETS.get(str(self.data.get("sheet", "")), labels.SHEETS["L7160"])
        number = {"min": 1, "inputmode": "numeric"}
        self.fields["count"].widget = forms.NumberInput(attrs={**number, "max": labels.MAX_LABELS})
        self.fields["start"].widget = forms.NumberInput(attrs={**number, "max": sheet.per_sheet})
        for name, message in [
            ("lot", NO_SUCH_LOT.format(ref=batch.reference, choices=self._lot_codes())),
            ("sheet", UNKNOWN_SHEET.format(choices=", ".join(labels.SHEETS))),
            ("count", COUNT_RANGE.format(most=labels.MAX_LABELS)),
            ("start", _start_range(sheet)),
        ]:
            self.fields[name].error_messages["required"] = message

    def _lot_codes(self) -> str:
        return ", ".join(b.lot.code for b in self.lots.values())

    def clean_lot(self):
        chosen = self.lots.get(self.cleaned_data["lot"].strip())
        if chosen is not None:
            return chosen
        number = _whole_number(self.cleaned_data["lot"])
        other = Lot.objects.filter(pk=number).first() if number is not None else None
        message = NOT_A_PRODUCT_LOT if other else NO_SUCH_LOT
        code = other.code if other else ""
        raise ValidationError(
            message.format(code=code, ref=self.batch.reference, choices=self._lot_codes())
        )

    def clean_sheet(self):
        sheet = labels.SHEETS.get(self.cleaned_data["sheet"].strip())
        if sheet is None:
            raise ValidationError(UNKNOWN_SHEET.format(choices=", ".join(labels.SHEETS)))
        return sheet

    def clean_count(self):
        count = _whole_number(self.cleaned_data["count"])
        if count is None or not 1 <= count <= labels.MAX_LABELS:
            raise ValidationError(COUNT_RANGE.format(most=labels.MAX_LABELS))
        return count

    def clean_start(self):
        sheet = self.cleaned_data.get("sheet") or labels.SHEETS["L7160"]
        start = _whole_number(self.cleaned_data["start"])
        if start is None or not 1 <= start <= sheet.per_sheet:
            raise ValidationError(_start_range(sheet))
        return start


def _start_range(sheet: labels.Sheet) -> str:
    return START_RANGE.format(
        n=sheet.per_sheet, sheet=sheet.code, columns=sheet.columns, rows=sheet.rows
    )
