import uuid
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import available_timezones

from django import forms
from django.core.exceptions import ValidationError

from stock.limits import QUANTITY
from stock.models import (
    Item,
    ItemKind,
    Location,
    Lot,
    PostingKind,
    QuarantineAction,
    Reason,
    workshop_today,
)
from stock.selectors import lots_for_item
from stock.units import Unit, compatible_units, convert, display, to_decimal


def new_key() -> str:
    return uuid.uuid4().hex


# The app's own words for a number too large or too precise, instead of Django's digits talk.
NUMBER_MESSAGES = {
    "max_digits": "That is more than Loomworks can hold: check the number.",
    "max_whole_digits": "That is more than Loomworks can hold: check the number.",
    "max_decimal_places": "Use at most %(max)s decimal places.",
}


class TypedNumberMixin:
    """Numbers as people type them (stock.units.to_decimal): "1,5" is one and a half,
    "1,500" is refused as ambiguous, "1e3" is not a number."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.error_messages.update(NUMBER_MESSAGES)

    def to_python(self, value):
        if isinstance(value, str):
            value = value.strip().replace("\u00a0", "")
        if value in self.empty_values:
            return None
        if isinstance(value, str):
            try:
                return to_decimal(value)
            except ValidationError as exc:
                if exc.code == "not_a_number":
                    raise ValidationError(self.error_messages["invalid"], code="invalid") from None
                raise
        return super().to_python(value)


class QuantityField(TypedNumberMixin, forms.DecimalField):
    """A positive quantity as typed on a tablet: a decimal keypad, at most 6 decimals."""

    def __init__(self, *, allow_zero=False, **kwargs):
        kwargs.setdefault("max_digits", QUANTITY["max_digits"])
        kwargs.setdefault("decimal_places", QUANTITY["decimal_places"])
        kwargs.setdefault("min_value", Decimal(0) if allow_zero else None)
        kwargs.setdefault(
            "widget", forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"})
        )
        super().__init__(**kwargs)
        self.allow_zero = allow_zero
        self.error_messages["invalid"] = "Enter a number, like 250 or 1.5."
        self.error_messages["min_value"] = "Enter zero or more."

    def validate(self, value):
        super().validate(value)
        if value is not None and not self.allow_zero and value <= 0:
            raise ValidationError("Enter a quantity above zero.", code="not_positive")


class IdempotentForm(forms.Form):
    """Carries a key made when the form is first shown: a double tap posts once."""

    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=64)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["idempotency_key"].initial = new_key()


def lot_label(balance) -> str:
    lot = balance.lot
    parts = [lot.code, f"{display(balance.quantity)} {lot.item.unit} at {balance.location.name}"]
    if lot.expiry_date:
        parts.append(f"expires {lot.expiry_date:%d %b %Y}")
    if lot.quarantined:
        parts.append("quarantined")
    elif lot.is_expired():
        parts.append("EXPIRED")
    return " · ".join(parts)


class AdjustmentForm(IdempotentForm):
    DIRECTIONS = [("out", "Take out"), ("in", "Put in")]

    item = forms.ModelChoiceField(
        queryset=Item.objects.filter(archived=False), empty_label="Choose an item…"
    )
    location = forms.ModelChoiceField(
        queryset=Location.objects.filter(archived=False), empty_label="Choose a location…"
    )
    direction = forms.ChoiceField(choices=DIRECTIONS, widget=forms.RadioSelect, initial="out")
    quantity = QuantityField()
    unit = forms.ChoiceField(choices=Unit.choices)
    lot = forms.ModelChoiceField(
        queryset=Lot.objects.none(),
        required=False,
        empty_label="First expiry first (automatic)",
        help_text="Lot-tracked items need a lot.",
        error_messages={"invalid_choice": "Choose a lot of this item."},
    )
    lot_code = forms.CharField(
        max_length=64,
        required=False,
        label="New lot code",
        help_text="Putting in: leave the lot empty and give a code to start a new lot.",
    )
    reason = forms.ChoiceField(choices=[("", "Choose a reason…"), *Reason.choices])
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        item = self._chosen("item", Item)
        location = self._chosen("location", Location)
        self.item_obj = item
        if item is not None:
            # Offer the compatible units; any unit validates, so a wrong one gets a clear message.
            self.fields["unit"].widget.choices = [(u, u) for u in compatible_units(item.unit)]
            self.fields["unit"].initial = item.unit
            balances = list(lots_for_item(item, location))
            self.fields["lot"].queryset = Lot.objects.filter(item=item)
            blank = (
                "Choose a lot (or, putting in, a new one: its code below)"
                if item.lot_tracked
                else "Automatic: out, first expiry first; in, a new lot"
            )
            self.fields["lot"].choices = [("", blank)] + [
                (b.lot_id, lot_label(b)) for b in balances
            ]
            if item.lot_tracked:
                self.fields["lot"].show_optional = False
                today = workshop_today()
                suggestion = next((b for b in balances if b.lot.is_usable(today)), None)
                if suggestion is not None:
                    self.fields["lot"].initial = suggestion.lot_id

    def _chosen(self, name, model):
        raw = self.data.get(name) if self.is_bound else self.initial.get(name)
        if isinstance(raw, model):
            return raw
        try:
            return model.objects.filter(archived=False).get(pk=int(raw))
        except (TypeError, ValueError, model.DoesNotExist):
            return None

    def clean(self):
        data = super().clean()
        item, lot = data.get("item"), data.get("lot")
        if item is None or data.get("quantity") is None:
            return data
        if lot is not None and lot.item_id != item.pk:
            self.add_error("lot", f"Lot {lot.code} belongs to {lot.item}, not {item}.")
        unit = data.get("unit") or item.unit
        try:
            data["converted"] = convert(data["quantity"], unit, item.unit, item_name=item.name)
        except ValidationError as exc:
            self.add_error("unit", exc)
            return data
        going_out = data.get("direction") == "out"
        if item.lot_tracked and lot is None and going_out:
            self.add_error("lot", f"{item.name} is lot-tracked: choose which lot.")
        if item.lot_tracked and lot is None and not going_out and not data.get("lot_code"):
            self.add_error("lot_code", f"{item.name} is lot-tracked: choose a lot or give a code.")
        return data

    def signed_quantity(self) -> Decimal:
        q = self.cleaned_data["converted"]
        return -q if self.cleaned_data["direction"] == "out" else q


class LocationForm(forms.Form):
    name = forms.CharField(max_length=100)
    description = forms.CharField(max_length=200, required=False)


class ChooseLocationForm(forms.Form):
    location = forms.ModelChoiceField(
        queryset=Location.objects.filter(archived=False), empty_label="Choose a location…"
    )
    item = forms.ModelChoiceField(
        queryset=Item.objects.filter(archived=False),
        required=False,
        empty_label="All items",
        label="Only this item",
    )


@dataclass
class QuantityRow:
    """One balance row of a count or transfer form, as the template shows it."""

    balance: object
    field: object
    difference: Decimal | None = None


class LotQuantitiesForm(IdempotentForm):
    """One optional quantity per balance row: blank means "not this one"."""

    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    allow_zero = False

    def __init__(self, *args, balances, **kwargs):
        super().__init__(*args, **kwargs)
        self.balances = list(balances)
        for b in self.balances:
            self.fields[f"q-{b.pk}"] = QuantityField(
                required=False, allow_zero=self.allow_zero, label=b.lot.code
            )

    def rows(self) -> list[QuantityRow]:
        return [QuantityRow(b, self[f"q-{b.pk}"]) for b in self.balances]

    def entered(self) -> list[tuple]:
        """(balance, quantity) for every row that has one."""
        return [
            (b, self.cleaned_data[f"q-{b.pk}"])
            for b in self.balances
            if self.cleaned_data.get(f"q-{b.pk}") is not None
        ]

    def clean(self):
        data = super().clean()
        if any(name.startswith("q-") for name in self.errors):
            raise ValidationError(
                "Some figures could not be read: check the rows marked in red.", code="rows"
            )
        if not self.errors and not self.entered():
            raise ValidationError("Enter at least one quantity.", code="empty")
        return data


class CountForm(LotQuantitiesForm):
    """Counted quantities, each with the balance the person saw when the form was shown, so a
    posting made meanwhile is noticed instead of being overwritten."""

    allow_zero = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for b in self.balances:
            # What "Books say" showed on the page being posted (the template writes it).
            self.fields[f"seen-{b.pk}"] = QuantityField(required=False, allow_zero=True)

    def changed_since_preview(self) -> bool:
        """True when a counted figure differs from the one the preview showed (each row sends
        back what it showed as shown-<pk>): posting it would post what nobody saw."""
        return any(
            self.data.get(f"shown-{b.pk}", "") != self.data.get(f"q-{b.pk}", "")
            for b in self.balances
        )

    def counts(self) -> list[tuple]:
        """(lot, counted, the balance seen) for every counted row."""
        return [(b.lot, q, self.cleaned_data.get(f"seen-{b.pk}")) for b, q in self.entered()]

    def rows(self) -> list[QuantityRow]:
        counted = dict(self.entered()) if self.is_bound and self.is_valid() else {}
        return [
            QuantityRow(
                b,
                self[f"q-{b.pk}"],
                difference=counted[b] - b.quantity if b in counted else None,
            )
            for b in self.balances
        ]


class TransferForm(LotQuantitiesForm):
    to_location = forms.ModelChoiceField(
        queryset=Location.objects.filter(archived=False),
        empty_label="Choose where it goes…",
        label="Move to",
    )

    def __init__(self, *args, from_location, already_posted=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["to_location"].queryset = Location.objects.filter(archived=False).exclude(
            pk=from_location.pk
        )
        self.from_location = from_location
        # A second tap of a posted form: the stock it moved is gone from here, so the figures
        # go to the posting service as they are, which answers "already posted".
        self.already_posted = already_posted

    def clean(self):
        data = super().clean()
        if self.already_posted:
            return data
        for b, q in self.entered():
            if q > b.quantity:
                self.add_error(
                    f"q-{b.pk}",
                    f"Only {display(b.quantity)} {b.lot.item.unit} of lot {b.lot.code} is here.",
                )
        return data


class ReverseForm(IdempotentForm):
    note = forms.CharField(
        label="Why reverse it?", widget=forms.Textarea(attrs={"rows": 2}), max_length=1000
    )


class QuarantineForm(forms.Form):
    action = forms.ChoiceField(choices=QuarantineAction.choices)
    note = forms.CharField(
        required=False, label="Why?", widget=forms.Textarea(attrs={"rows": 2}), max_length=2000
    )

    def clean(self):
        data = super().clean()
        if data.get("action") == QuarantineAction.HOLD and not data.get("note", "").strip():
            self.add_error("note", "Say why the lot is held: the supplier's recall, a smell...")
        return data


class WorkshopForm(forms.Form):
    name = forms.CharField(max_length=100, label="Workshop name")
    time_zone = forms.ChoiceField(
        help_text="'Today' follows it: expiry checks, received dates, what is expiring soon."
    )
    currency = forms.CharField(
        max_length=3, help_text="Three letters, like EUR, USD or GBP: every price and cost."
    )
    batch_reference_pattern = forms.CharField(
        max_length=40,
        label="Batch reference pattern",
        help_text="{CODE} the product's code, {YYYY} or {YY}, {MM}, {DD} the production date, "
        "{SEQ} the day's number. CND-261123-01 is {CODE}-{YY}{MM}{DD}-{SEQ}.",
    )
    production_location = forms.ModelChoiceField(
        queryset=Location.objects.filter(archived=False),
        required=False,
        empty_label="The first location (until you choose)",
        help_text="Where batches draw their materials from and put what they make.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["time_zone"].choices = [(z, z) for z in sorted(available_timezones())]


class OnHandFilterForm(forms.Form):
    q = forms.CharField(required=False, label="Search")
    location = forms.ModelChoiceField(
        queryset=Location.objects.all(), required=False, empty_label="All locations"
    )
    kind = forms.ChoiceField(choices=[("", "All kinds")], required=False)
    expiring_within = forms.IntegerField(
        required=False, min_value=0, max_value=3650, label="Expiring within (days)"
    )
    in_stock_only = forms.BooleanField(required=False, label="In stock only")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [("", "All kinds"), *ItemKind.choices]


class PostingFilterForm(forms.Form):
    kind = forms.ChoiceField(choices=[("", "All kinds"), *PostingKind.choices], required=False)
