"""Orders from a CSV file become dispatches (README, "Importing orders").

stock.order_files reads the file (Loomworks' plain columns, Shopify's order export or Etsy's
sold order items) into orders without asking the database. Here `orders_preview` checks them
against it (SKUs, what was already dispatched, customers, usable stock) and writes nothing;
`orders_import` reads and checks again under locks and writes one dispatch per order, all in one
transaction, all or nothing.
"""

import hashlib
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Q, Sum
from django.db.models.functions import Lower

from stock.dispatches import NOT_SOLD, Sent, customer_save, dispatch_create
from stock.engine import WHOLE_PIECES, fmt, run_with_retries
from stock.limits import MAX_QUANTITY, QUANTITY_PLACES
from stock.models import (
    Balance,
    Customer,
    Dispatch,
    DispatchLine,
    Item,
    ItemKind,
    Location,
    usable_lot,
    workshop_today,
)
from stock.order_files import (
    ETSY,
    VALUE_REQUIRED,
    Format,
    Order,
    OrderLine,
    OrdersFile,
    read_day,
    read_orders,
)
from stock.units import Unit, plain, to_decimal

# A row's problems: the import waits until they are fixed.
TOO_LONG = "{column} is longer than {limit:,} characters."
BAD_DATE = "{column}: {value!r} is not a date; {expected}."
FUTURE_DATE = "{column}: {date:%d %b %Y} is in the future."
BAD_EMAIL = "{column}: {value!r} is not an email address."
NO_CUSTOMER = "The order has no customer: {columns} {verb} empty."
UNKNOWN_SKU = "No product has the SKU {sku}."
NOT_A_NUMBER = "{column}: {value!r} is not a number."
UNCLEAR_NUMBER = "{column}: {reason}"
NOT_POSITIVE = "{column}: {value} must be more than 0."
QUANTITY_TOO_FINE = "{column}: {value} has more than {places} decimal places."
QUANTITY_TOO_LARGE = "{column}: {value} is too large."
NOT_ENOUGH = (
    "Not enough {item} at {location}: the file sends {need}, {have} in usable lots "
    "(quarantined and expired lots are left out)."
)
ORDER_FAILED = "Order {reference} (row {row}) could not be dispatched, so nothing was: {reason}"

# Why a line is left out; listed in the preview, never dispatched.
SKIP_NO_SKU = "no SKU: not a product Loomworks keeps (a gift card, a tip, shipping?)"
SKIP_DISPATCHED = "already dispatched: Dispatch #{pk} of {on:%d %b %Y}"

# Worth a look, imported all the same.
WAS_REVERSED = "Dispatch #{pk} of this line was reversed: it will be dispatched again"
NEW_CUSTOMER = "new customer"

MAX_QUANTITY_TEXT = 30
MAX_LENGTHS = {
    "reference": Dispatch._meta.get_field("order_reference").max_length,
    "name": Customer._meta.get_field("name").max_length,
    "email": Customer._meta.get_field("email").max_length,
    "sku": Item._meta.get_field("sku").max_length,
}


# Checking the orders ---------------------------------------------------------------------------


@dataclass
class OrdersPreview:
    file: OrdersFile
    location: Location

    @property
    def orders(self) -> list[Order]:
        return self.file.orders

    @property
    def to_dispatch(self) -> list[Order]:
        return [order for order in self.orders if order.lines_to_send]

    @property
    def skipped(self) -> list[tuple[Order, OrderLine]]:
        return [(o, line) for o in self.orders for line in o.lines if line.skipped]

    @property
    def problems(self) -> list[tuple[str, str]]:
        """Each problem once, with the rows that have it: ("Rows 4, 9", "No product has ...")."""
        rows: dict[str, list[int]] = defaultdict(list)
        for order in self.orders:
            for message in order.errors:
                rows[message].append(order.rows[0])
            for line in order.lines:
                for message in line.errors:
                    rows[message].append(line.row)
        return [(_rows_label(numbers), message) for message, numbers in rows.items()]

    @property
    def new_customers(self) -> int:
        return sum(1 for o in self.to_dispatch if o.new_customer_of is o)

    @property
    def ok(self) -> bool:
        return bool(self.to_dispatch) and all(order.ok for order in self.orders)


def _rows_label(numbers: list[int], shown: int = 20) -> str:
    numbers = sorted(set(numbers))
    label = ", ".join(str(n) for n in numbers[:shown])
    if len(numbers) > shown:
        label += f" and {len(numbers) - shown:,} more"
    return f"Row{'s' if len(numbers) > 1 else ''} {label}"


def orders_preview(*, text: str, channel: str = "", location: Location) -> OrdersPreview:
    """Every order of the file checked against the database. Writes nothing."""
    orders = read_orders(text, channel=channel)
    items = _items(orders)
    return _check(orders, items, location)


def _items(orders: OrdersFile, *, lock: bool = False) -> dict[str, Item]:
    """{lower-case SKU: item} for the SKUs of the file, in one query; locked FOR UPDATE, in
    primary-key order, when importing."""
    skus = {line.sku.lower() for o in orders.orders for line in o.lines if line.sku}
    found = Item.objects.annotate(lower_sku=Lower("sku")).filter(lower_sku__in=skus)
    if lock:
        found = found.select_for_update(of=("self",)).order_by("pk")
    return {item.sku.lower(): item for item in found}


def _check(orders: OrdersFile, items: dict[str, Item], location: Location) -> OrdersPreview:
    today = workshop_today()
    dispatched = _dispatched_lines(orders, items)
    for order in orders.orders:
        for line in order.lines:
            if line.to_send:
                _check_line(line, order, items, dispatched, orders.format)
        if order.lines_to_send:
            _check_order(order, orders.format, today)
    _find_customers(orders.orders)
    _check_stock(orders.orders, location, today)
    return OrdersPreview(file=orders, location=location)


def _dispatched_lines(orders: OrdersFile, items) -> dict[tuple[str, int], list[dict]]:
    """{(order reference, item id): its earlier dispatches of this channel}, one query."""
    references = {o.reference for o in orders.orders if o.reference}
    found = (
        DispatchLine.objects.annotate(channel=Lower("dispatch__channel"))
        .filter(
            channel=orders.channel.lower(),
            dispatch__order_reference__in=references,
            item__in=list(items.values()),
        )
        .values(
            "item_id",
            "dispatch_id",
            "dispatch__order_reference",
            "dispatch__dispatched_on",
            "dispatch__posting__reversed_by",
        )
        .order_by("dispatch_id")
    )
    dispatched = defaultdict(list)
    for row in found:
        dispatched[(row["dispatch__order_reference"], row["item_id"])].append(row)
    return dispatched


def _check_line(line: OrderLine, order: Order, items, dispatched, layout: Format) -> None:
    if not line.sku:
        line.skipped = SKIP_NO_SKU
        return
    column = layout.header("sku")
    if len(line.sku) > MAX_LENGTHS["sku"]:
        line.errors.append(TOO_LONG.format(column=column, limit=MAX_LENGTHS["sku"]))
        return
    line.item = items.get(line.sku.lower())
    if line.item is None:
        line.errors.append(UNKNOWN_SKU.format(sku=line.sku))
        return
    if line.item.kind != ItemKind.VARIANT:
        line.errors.append(NOT_SOLD.format(item=line.item.name))
        return
    earlier = dispatched.get((order.reference, line.item.pk), [])
    standing = [row for row in earlier if row["dispatch__posting__reversed_by"] is None]
    if standing:
        first = standing[0]
        line.skipped = SKIP_DISPATCHED.format(
            pk=first["dispatch_id"], on=first["dispatch__dispatched_on"]
        )
        return
    for row in earlier:
        line.warnings.append(WAS_REVERSED.format(pk=row["dispatch_id"]))
    line.quantity = _quantity(line, layout.header("quantity"))


def _quantity(line: OrderLine, column: str) -> Decimal | None:
    text = line.quantity_text
    if not text:
        line.errors.append(VALUE_REQUIRED.format(column=column))
        return None
    if len(text) > MAX_QUANTITY_TEXT:
        line.errors.append(TOO_LONG.format(column=column, limit=MAX_QUANTITY_TEXT))
        return None
    try:
        value = to_decimal(text)
    except ValidationError as exc:
        if exc.code == "not_a_number":
            line.errors.append(NOT_A_NUMBER.format(column=column, value=text))
        else:
            line.errors.append(UNCLEAR_NUMBER.format(column=column, reason=exc.messages[0]))
        return None
    exponent = value.normalize().as_tuple().exponent
    problem = None
    if value <= 0:
        problem = NOT_POSITIVE.format(column=column, value=text)
    elif value >= MAX_QUANTITY:
        problem = QUANTITY_TOO_LARGE.format(column=column, value=text)
    elif isinstance(exponent, int) and -exponent > QUANTITY_PLACES:
        problem = QUANTITY_TOO_FINE.format(column=column, value=text, places=QUANTITY_PLACES)
    elif line.item.unit == Unit.EACH and value % 1:
        problem = WHOLE_PIECES.format(item=line.item.name, quantity=text)
    if problem:
        line.errors.append(problem)
        return None
    return plain(value)


def _check_order(order: Order, layout: Format, today: date) -> None:
    """What the order's dispatch needs: a date that is not in the future, a customer, values
    that fit; checked only for orders that have something to send."""
    name_column = "name" if order.values.get("name") else "other_name"
    for key, column, value in [
        ("reference", "reference", order.reference),
        ("name", name_column, order.name),
        ("email", "email", order.email),
    ]:
        if len(value) > MAX_LENGTHS[key]:
            order.errors.append(
                TOO_LONG.format(column=layout.header(column), limit=MAX_LENGTHS[key])
            )
    if not order.name:
        names = [layout.header(key) for key in ("name", "other_name") if layout.header(key)]
        order.errors.append(
            NO_CUSTOMER.format(columns=" and ".join(names), verb="are" if len(names) > 1 else "is")
        )
    email = order.email
    if email and len(email) <= MAX_LENGTHS["email"]:
        try:
            validate_email(email)
        except ValidationError:
            order.errors.append(BAD_EMAIL.format(column=layout.header("email"), value=email))
    _check_date(order, layout, today)


def _check_date(order: Order, layout: Format, today: date) -> None:
    column, text = layout.header("date"), order.values.get("date", "")
    if not text:
        order.errors.append(VALUE_REQUIRED.format(column=column))
        return
    day = read_day(layout, text)
    if day is None:
        order.errors.append(BAD_DATE.format(column=column, value=text[:100], expected=layout.dates))
    elif day > today:
        order.errors.append(FUTURE_DATE.format(column=column, date=day))
    else:
        order.dispatched_on = day


def _find_customers(orders: list[Order]) -> None:
    """Who each order goes to: an existing customer, else the new customer an earlier order of
    the file brings, else a new one (`order.new_customer_of` is the order that brings it). One
    query."""
    sending = [o for o in orders if o.lines_to_send and o.name]
    emails = {o.email.lower() for o in sending if o.email}
    names = {o.name.lower() for o in sending}
    existing = _People()
    found = Customer.objects.annotate(lower_email=Lower("email"), lower_name=Lower("name"))
    for customer in found.filter(Q(lower_email__in=emails) | Q(lower_name__in=names)).order_by(
        "pk"
    ):
        existing.add(customer)
    new = _People()
    for order in sending:
        order.customer = existing.match(order)
        if order.customer is None:
            order.new_customer_of = new.match(order)
            if order.new_customer_of is None:
                order.new_customer_of = order
                order.warnings.append(NEW_CUSTOMER)
                new.add(order)


class _People:
    """Customers (or the orders that will make them), found as an order's customer is: by email
    (whatever its case), else by name (whatever its case) unless both have an email and they
    differ. The first added wins."""

    def __init__(self):
        self.by_email, self.by_name = {}, defaultdict(list)

    def add(self, person) -> None:
        if person.email:
            self.by_email.setdefault(person.email.lower(), person)
        self.by_name[person.name.lower()].append(person)

    def match(self, order: Order):
        if order.email and order.email.lower() in self.by_email:
            return self.by_email[order.email.lower()]
        namesakes = self.by_name.get(order.name.lower(), [])
        return next((p for p in namesakes if not (p.email and order.email)), None)


def _check_stock(orders: list[Order], location: Location, today: date) -> None:
    """The file's total of each item against its usable stock at the location, one query: a
    shortage is named on every row of that item."""
    lines = [line for o in orders for line in o.lines_to_send if line.quantity is not None]
    need: dict[int, Decimal] = defaultdict(Decimal)
    for line in lines:
        need[line.item.pk] += line.quantity
    have = dict(
        Balance.objects.filter(location=location, lot__item__in=list(need), quantity__gt=0)
        .filter(usable_lot(today, "lot__"))
        .values("lot__item")
        .annotate(total=Sum("quantity"))
        .values_list("lot__item", "total")
    )
    for line in lines:
        item = line.item
        if need[item.pk] > have.get(item.pk, 0):
            line.errors.append(
                NOT_ENOUGH.format(
                    item=item.name,
                    location=location.name,
                    need=fmt(need[item.pk], item),
                    have=fmt(have.get(item.pk, Decimal(0)), item),
                )
            )


# Importing ------------------------------------------------------------------------------------


class ImportRejected(ValidationError):
    """Rows of the file are bad (the database may have changed since the preview)."""

    def __init__(self, preview: OrdersPreview):
        count = len(preview.problems)
        super().__init__(
            f"{count} problem{'s' if count != 1 else ''} in the file; nothing was imported.",
            code="rows_rejected",
        )
        self.preview = preview


@dataclass(frozen=True)
class OrdersImported:
    dispatches: list[Dispatch]
    new_customers: int = 0
    skipped: int = 0
    replayed: bool = False  # this upload was imported before: what it wrote


def upload_keys_prefix(idempotency_key: str) -> str:
    """What the keys of one upload's dispatches start with."""
    return "o" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:15] + "-"


def order_key(idempotency_key: str, channel: str, reference: str) -> str:
    """One order's dispatch key: the upload's key and the order. The upload's, not the file's:
    the same file uploaded again after a dispatch was reversed dispatches that order again."""
    order = hashlib.sha256(f"{channel.lower()}\0{reference}".encode()).hexdigest()[:40]
    return upload_keys_prefix(idempotency_key) + order


def orders_import(
    *, text: str, channel: str = "", location: Location, user, idempotency_key: str, note: str = ""
) -> OrdersImported:
    """One dispatch per order of the file that has something to send, in one transaction, all or
    nothing. The file is checked again inside it, after the file's items are locked, so two
    imports of overlapping files at the same moment dispatch each order line once. The same
    `idempotency_key` again writes nothing and returns what the first wrote (`replayed`)."""
    if not idempotency_key:
        raise ValueError("an upload needs its idempotency key")
    prefix = upload_keys_prefix(idempotency_key)

    @transaction.atomic
    def write() -> OrdersImported:
        orders = read_orders(text, channel=channel)
        items = _items(orders, lock=True)  # lock order: items, then the ledger's balances
        earlier = list(Dispatch.objects.filter(key__startswith=prefix).order_by("pk"))
        if earlier:
            return OrdersImported(dispatches=earlier, replayed=True)
        preview = _check(orders, items, location)
        if not all(order.ok for order in preview.orders):
            raise ImportRejected(preview)
        made, customers = [], {}
        for order in preview.to_dispatch:
            made.append(_dispatch(order, preview, customers, user, idempotency_key, note))
        return OrdersImported(
            dispatches=made,
            new_customers=preview.new_customers,
            skipped=len(preview.skipped),
        )

    return run_with_retries(write)


def _dispatch(order: Order, preview: OrdersPreview, made, user, key, note) -> Dispatch:
    """The order's dispatch, and its customer if new (`made`: {order reference: new customer})."""
    customer = order.customer or made.get(order.new_customer_of.reference)
    if customer is None:
        customer = customer_save(name=order.name, email=order.email)
        made[order.reference] = customer
    channel = preview.file.channel
    buyer = order.values.get("other_name", "")
    if preview.file.format is ETSY and buyer and buyer != order.name:
        note = "\n".join(part for part in (note, f"Etsy buyer: {buyer}") if part)
    try:
        return dispatch_create(
            customer=customer,
            lines=[Sent(item=line.item, quantity=line.quantity) for line in order.lines_to_send],
            location=preview.location,
            user=user,
            idempotency_key=order_key(key, channel, order.reference),
            dispatched_on=order.dispatched_on,
            channel=channel,
            order_reference=order.reference,
            note=note,
        )
    except ValidationError as exc:
        raise ValidationError(
            ORDER_FAILED.format(
                reference=order.reference, row=order.rows[0], reason=" ".join(exc.messages)
            ),
            code="order_failed",
        ) from exc
