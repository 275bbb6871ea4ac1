"""Forms of the customer and dispatch pages. A dispatch form is a header (who, when, which
channel, from where) and a set of lines (a product variant, how many, optionally the lot)."""

from decimal import Decimal

from django import forms
from django.core.exceptions import ValidationError

from stock.dispatches import IN_THE_FUTURE, NO_DISPATCH_LINES, Sent
from stock.forms import IdempotentForm, QuantityField
from stock.limits import is_id
from stock.models import Customer, Dispatch, Item, Location, workshop_today
from stock.selectors_dispatch import first_expiry_first
from stock.units import Unit, display

MAX_LINES = 40
FEFO = "First expiry first"
BLANK_LINES = 3  # a new dispatch starts with this many lines; "Add a line" gives more

CUSTOMER_REQUIRED = "Choose the customer, or type a new customer's name."
CUSTOMER_TWICE = "Choose a customer from the list or type a new one, not both."
CUSTOMER_EXISTS = "There is already a customer called {name}: choose them from the list."
CHOOSE_ITEM = "Choose what was sent."
HOW_MANY = "Say how many were sent."
UNKNOWN_LOT = "That lot holds no {item} at {location}: choose one of the list."
TOO_MANY_LINES = "At most {n} lines in one dispatch: send the rest as another."

_DATE = forms.DateInput(format="%Y-%m-%d", attrs={"type": "date"})


def _field(model, name) -> dict:
    """A form field's size as the model's column has it."""
    return {"max_length": model._meta.get_field(name).max_length}


class CustomerForm(forms.Form):
    name = forms.CharField(**_field(Customer, "name"))
    email = forms.EmailField(required=False, **_field(Customer, "email"))
    phone = forms.CharField(required=False, **_field(Customer, "phone"))
    address = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    notes = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Anything worth remembering: gift wrap, allergies, a shop's opening hours.",
    )


class CustomerSearchForm(forms.Form):
    q = forms.CharField(required=False, label="Name, email or phone")


class DispatchFilterForm(forms.Form):
    customer = forms.ModelChoiceField(
        queryset=Customer.objects.order_by("name", "id"),
        required=False,
        empty_label="All customers",
    )
    channel = forms.ChoiceField(required=False)
    since = forms.DateField(required=False, widget=_DATE, label="Sent from")
    until = forms.DateField(required=False, widget=_DATE, label="to")

    def __init__(self, *args, channels=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["channel"].choices = [("", "All channels")] + [(c, c) for c in channels]


class DispatchForm(IdempotentForm):
    """Who, when, through which channel and from where. The customer is chosen, or typed in
    (saved with the dispatch)."""

    customer = forms.ModelChoiceField(
        queryset=Customer.objects.order_by("name", "id"),
        required=False,
        empty_label="Choose a customer…",
    )
    new_customer = forms.CharField(
        required=False, label="or a new customer", **_field(Customer, "name")
    )
    new_customer_email = forms.EmailField(
        required=False, label="Their email", **_field(Customer, "email")
    )
    dispatched_on = forms.DateField(widget=_DATE, label="Sent on")
    channel = forms.CharField(
        required=False,
        widget=forms.TextInput(attrs={"list": "channels", "autocomplete": "off"}),
        help_text="Etsy, Shopify, a market…",
        **_field(Dispatch, "channel"),
    )
    order_reference = forms.CharField(
        required=False, label="Order number", **_field(Dispatch, "order_reference")
    )
    location = forms.ModelChoiceField(
        queryset=Location.objects.filter(archived=False),
        empty_label="Sent from…",
        label="Sent from",
        widget=forms.Select(attrs={"class": "refreshes-lines"}),
    )
    note = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["dispatched_on"].initial = workshop_today()
        for name in ("customer", "new_customer"):
            self.fields[name].show_optional = False  # one of the two is needed

    def chosen_location(self) -> Location | None:
        """The location the lines are picked at, before the form is validated: their lot
        lists depend on it."""
        raw = self.data.get("location") if self.is_bound else self.initial.get("location")
        if isinstance(raw, Location):
            return raw
        if not is_id(raw):
            return None
        return Location.objects.filter(archived=False, pk=int(raw)).first()

    def clean_dispatched_on(self):
        day = self.cleaned_data["dispatched_on"]
        if day > workshop_today():
            raise ValidationError(IN_THE_FUTURE)
        return day

    def clean(self):
        data = super().clean()
        chosen, typed = data.get("customer"), " ".join(data.get("new_customer", "").split())
        data["new_customer"] = typed
        if chosen is None and not typed:
            self.add_error("customer", CUSTOMER_REQUIRED)
        elif chosen is not None and typed:
            self.add_error("new_customer", CUSTOMER_TWICE)
        elif typed and Customer.objects.filter(name__iexact=typed).exists():
            self.add_error("new_customer", CUSTOMER_EXISTS.format(name=typed))
        return data


def item_label(item: Item, balances: list) -> str:
    usable = sum((b.quantity for b in balances if b.usable), Decimal(0))
    unit = "" if item.unit == Unit.EACH else f" {item.unit}"
    return f"{item.name} ({item.sku}) · {display(usable)}{unit} usable"


def lot_label(balance) -> str:
    """A lot as a line's list offers it: code, how much is here, expiry, and what makes it
    unusable, in capitals, so a lot listed last is not taken by mistake."""
    lot = balance.lot
    parts = [lot.code, f"{display(balance.quantity)} {lot.item.unit}"]
    if lot.expiry_date:
        parts.append(f"expires {lot.expiry_date:%d %b %Y}")
    if lot.quarantined:
        parts.append("QUARANTINED")
    elif not balance.usable:
        parts.append("EXPIRED")
    return " · ".join(parts)


def fefo_label(balances: list, quantity: Decimal | None) -> str:
    """The "first expiry first" choice, with what it would take now: a preview, since the
    ledger picks under its lock when the dispatch is saved."""
    taken, short = first_expiry_first(balances, quantity)
    if not taken:
        return f"{FEFO} (none usable here)"
    if quantity is None:
        return f"{FEFO} (from {taken[0][0].lot.code})"
    lots = ", ".join(f"{b.lot.code} {display(q)}" for b, q in taken)
    if short:
        usable = display(quantity - short)
        return f"{FEFO} ({lots}; only {usable} usable here)"
    return f"{FEFO} ({lots})"


class DispatchLineForm(forms.Form):
    """One line: a product variant, how many, and a lot (empty: first expiry first). A line
    with neither a product nor a quantity is left out."""

    item = forms.ChoiceField(required=False, label="Product")
    quantity = QuantityField(
        required=False,
        label="How many",
        widget=forms.TextInput(
            attrs={"inputmode": "decimal", "autocomplete": "off", "class": "refreshes-lines"}
        ),
    )
    lot = forms.ChoiceField(required=False, label="Lot")

    def __init__(self, *args, items: dict, item_choices: list, lots: dict, location, **kwargs):
        super().__init__(*args, **kwargs)
        self.items, self.location = items, location
        self.fields["item"].choices = [("", "Choose a product…"), *item_choices]
        self.fields["item"].widget.attrs["class"] = "refreshes-lines"
        self.chosen = self._chosen_item()
        self.balances = lots.get(self.chosen.pk, []) if self.chosen else []
        fefo = fefo_label(self.balances, self._typed_quantity()) if self.chosen else FEFO
        self.fields["lot"].choices = [
            ("", fefo),
            *((str(b.lot_id), lot_label(b)) for b in self.balances),
        ]
        self.fields["lot"].error_messages["invalid_choice"] = UNKNOWN_LOT.format(
            item=self.chosen.name if self.chosen else "of it",
            location=location.name if location else "the place chosen",
        )

    def _raw(self, name):
        return self.data.get(self.add_prefix(name)) if self.is_bound else self.initial.get(name)

    def _chosen_item(self) -> Item | None:
        raw = str(self._raw("item") or "")
        return self.items.get(int(raw)) if is_id(raw) else None

    def _typed_quantity(self) -> Decimal | None:
        try:
            return self.fields["quantity"].clean(self._raw("quantity"))
        except ValidationError:
            return None

    def has_changed(self):
        # A line counts once it names a product or a quantity.
        return bool(self._raw("item") or str(self._raw("quantity") or "").strip())

    def clean(self):
        data = super().clean()
        item, quantity = self.chosen, data.get("quantity")
        self.sent = None
        if item is None and quantity is None and "quantity" not in self.errors:
            return data  # a blank line
        if item is None and quantity is not None:
            self.add_error("item", CHOOSE_ITEM)
        elif item is not None and quantity is None and "quantity" not in self.errors:
            self.add_error("quantity", HOW_MANY)
        if self.errors:
            return data
        lot = next((b.lot for b in self.balances if str(b.lot_id) == data.get("lot")), None)
        self.sent = Sent(item=item, quantity=quantity, lot=lot)
        return data


class BaseDispatchLineFormSet(forms.BaseFormSet):
    def clean(self):
        if any(self.errors):
            return
        if not any(form.has_changed() for form in self.forms):
            raise ValidationError(NO_DISPATCH_LINES)

    def sent(self) -> list[Sent]:
        return [f.sent for f in self.forms if f.has_changed() and f.sent is not None]


def dispatch_line_formset(
    data=None, *, items: dict, lots: dict, location, initial=None, extra: int = 0
):
    """The dispatch's lines. `items`: the product variants that can be chosen ({pk: Item});
    `lots`: their balances at `location` (selectors_dispatch.lots_to_pick)."""
    formset = forms.formset_factory(
        DispatchLineForm,
        formset=BaseDispatchLineFormSet,
        extra=extra,
        max_num=MAX_LINES,
        validate_max=True,
        absolute_max=MAX_LINES,
    )
    item_choices = [(str(pk), item_label(item, lots.get(pk, []))) for pk, item in items.items()]
    return formset(
        data,
        initial=initial,
        prefix="lines",
        error_messages={"too_many_forms": TOO_MANY_LINES.format(n=MAX_LINES)},
        form_kwargs={
            "items": items,
            "item_choices": item_choices,
            "lots": lots,
            "location": location,
        },
    )


class DispatchReverseForm(IdempotentForm):
    note = forms.CharField(
        label="Why? (a return, a cancelled order)",
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=1000,
    )
