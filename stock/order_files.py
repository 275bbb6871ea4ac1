"""Orders as a file says them: the three formats Loomworks reads, told apart by the header
row, and the rows of a file grouped into orders. Nothing here asks the database; stock.orders
checks what this reads and imports it (README, "Importing orders")."""

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

from django.core.exceptions import ValidationError

from stock.csv_files import FILE_EMPTY, column_name, read_date, read_records
from stock.models import Customer, Item, current_workshop

# File-level messages: the file cannot be read as orders at all.
UNKNOWN_FORMAT = (
    "The header row is not one Loomworks knows. Use the plain columns (date, order_reference, "
    "customer_name, email, sku, quantity), Shopify's order export or Etsy's sold order items, "
    "as they come. The first row has: {found}."
)
MISSING_COLUMNS = "This looks like {format}, but its header row has no {missing} column."
NO_ROWS = "The file has a header row but no orders under it."

# A row's problems and why a line is left out.
VALUE_REQUIRED = "{column} is empty."
EXTRA_CELLS = (
    "This row has {cells} cells but the header has {columns}: "
    "a value with a comma in it needs quotes around it."
)
DIFFERENT_VALUE = "{column} is {value!r} here but {first!r} on row {row}, in the same order."
SAME_ROW = "the same as row {row}, cell for cell: sent twice, unless you remove one"
SKIP_STATUS = "{status} on Shopify"
SKIP_CANCELLED = "cancelled on Shopify"

SKIPPED_STATUSES = {"refunded", "voided"}


@dataclass(frozen=True)
class Format:
    """A file layout: which column holds each thing an order needs, by its normalised name."""

    name: str
    channel: str  # the channel its dispatches get unless the maker types one
    columns: dict[str, str]
    required: tuple[str, ...]
    dates: str  # how its dates are written, for the message when one is not

    def header(self, key: str) -> str:
        return self.columns.get(key, "")


PLAIN = Format(
    name="Loomworks orders",
    channel="CSV",
    columns={
        "date": "date",
        "reference": "order_reference",
        "name": "customer_name",
        "email": "email",
        "sku": "sku",
        "quantity": "quantity",
    },
    required=("date", "reference", "name", "sku", "quantity"),
    dates="write YYYY-MM-DD or DD/MM/YYYY",
)
SHOPIFY = Format(
    name="a Shopify order export",
    channel="Shopify",
    columns={
        "reference": "name",
        "date": "created_at",
        "email": "email",
        "name": "billing_name",
        "other_name": "shipping_name",
        "sku": "lineitem_sku",
        "quantity": "lineitem_quantity",
        "status": "financial_status",
        "cancelled": "cancelled_at",
    },
    required=("reference", "date", "sku", "quantity"),
    dates="Shopify writes 2026-11-23 14:05:11 +0100",
)
ETSY = Format(
    name="an Etsy sold order items export",
    channel="Etsy",
    columns={
        "date": "sale_date",
        "reference": "order_id",
        "name": "ship_name",
        "other_name": "buyer",
        "sku": "sku",
        "quantity": "quantity",
        "variations": "variations",
    },
    required=("date", "reference", "sku", "quantity"),
    dates="Etsy writes MM/DD/YY, like 11/23/26",
)
# Told apart by columns only its own files have, in this order.
FORMATS = [(SHOPIFY, {"lineitem_sku"}), (ETSY, {"sale_date"}), (PLAIN, {"order_reference"})]
ORDER_FIELDS = ("date", "name", "other_name", "email", "status", "cancelled")


# Reading the file ------------------------------------------------------------------------------


@dataclass(eq=False)
class OrderLine:
    row: int
    sku: str
    quantity_text: str
    variations: str = ""
    item: Item | None = None
    quantity: Decimal | None = None
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    skipped: str = ""  # why it is left out

    @property
    def to_send(self) -> bool:
        return not self.skipped


@dataclass(eq=False)
class Order:
    reference: str
    rows: list[int]
    values: dict[str, str]  # its order-level cells, each from the first row that has it
    value_rows: dict[str, int] = field(default_factory=dict)  # ...and that row's number
    lines: list[OrderLine] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    dispatched_on: date | None = None
    customer: Customer | None = None  # an existing customer; None: made at import...
    new_customer_of: "Order | None" = None  # ...by this order of the file (itself, or earlier)

    @property
    def name(self) -> str:
        return self.values.get("name") or self.values.get("other_name", "")

    @property
    def email(self) -> str:
        return self.values.get("email", "")

    @property
    def lines_to_send(self) -> list[OrderLine]:
        return [line for line in self.lines if line.to_send]

    @property
    def ok(self) -> bool:
        return not self.errors and not any(line.errors for line in self.lines)


@dataclass
class OrdersFile:
    format: Format
    channel: str
    orders: list[Order]
    ignored_columns: int


def read_orders(text: str, *, channel: str = "") -> OrdersFile:
    """The file's orders, as it says them: rows grouped by order reference (an order of several
    lines comes as several rows). Raises ValidationError when the file as a whole is not orders."""
    cells, records = read_records(text, what="order lines")
    if cells is None:
        raise ValidationError(FILE_EMPTY, code="empty")
    header = [column_name(cell) for cell in cells]
    layout = _detect(header, cells)
    if not records:
        raise ValidationError(NO_ROWS, code="no_rows")
    index = {key: header.index(name) for key, name in layout.columns.items() if name in header}
    orders: dict[str, Order] = {}
    seen: dict[tuple[str, ...], int] = {}
    for number, row in records:
        values = {key: row[i].strip() if i < len(row) else "" for key, i in index.items()}
        reference = values["reference"]
        order = orders.get(reference) if reference else None
        if order is None:
            order = Order(reference=reference, rows=[], values={})
            orders[reference or f"row {number}"] = order
            if not reference:
                order.errors.append(VALUE_REQUIRED.format(column=layout.header("reference")))
        order.rows.append(number)
        _take_order_values(order, values, number, layout)
        line = OrderLine(
            row=number,
            sku=values["sku"],
            quantity_text=values["quantity"],
            variations=values.get("variations", ""),
        )
        if len(row) > len(header) and any(cell.strip() for cell in row[len(header) :]):
            line.errors.append(EXTRA_CELLS.format(cells=len(row), columns=len(header)))
        same = seen.setdefault(tuple(cell.strip() for cell in row), number)
        if same != number:  # two exports pasted into one file?
            line.warnings.append(SAME_ROW.format(row=same))
        order.lines.append(line)
    for order in orders.values():
        _skip_cancelled(order)
    used = set(layout.columns.values())
    return OrdersFile(
        format=layout,
        channel=" ".join(channel.split()) or layout.channel,
        orders=list(orders.values()),
        ignored_columns=sum(1 for name in header if name and name not in used),
    )


def _detect(header: list[str], cells: list[str]) -> Format:
    for layout, marks in FORMATS:
        if marks <= set(header):
            missing = [
                layout.columns[key] for key in layout.required if layout.columns[key] not in header
            ]
            if missing:
                raise ValidationError(
                    MISSING_COLUMNS.format(format=layout.name, missing=" or ".join(missing)),
                    code="bad_header",
                )
            return layout
    found = ", ".join(cell.strip() for cell in cells if cell.strip())[:300] or "nothing"
    raise ValidationError(UNKNOWN_FORMAT.format(found=found), code="bad_header")


def _take_order_values(order: Order, values: dict[str, str], number: int, layout: Format):
    """Each order-level cell from the first row that has it (Shopify leaves them empty on an
    order's later rows); a later row that says otherwise is a mistake worth fixing."""
    for key in ORDER_FIELDS:
        value = values.get(key, "")
        if not value:
            continue
        if key not in order.values:
            order.values[key] = value
            order.value_rows[key] = number
        elif value != order.values[key]:
            order.errors.append(
                DIFFERENT_VALUE.format(
                    column=layout.header(key),
                    value=value[:100],
                    first=order.values[key][:100],
                    row=order.value_rows[key],
                )
            )


def _skip_cancelled(order: Order) -> None:
    status = order.values.get("status", "").lower()
    reason = ""
    if status in SKIPPED_STATUSES:
        reason = SKIP_STATUS.format(status=status.capitalize())
    elif order.values.get("cancelled"):
        reason = SKIP_CANCELLED
    if reason:
        for line in order.lines:
            line.skipped = reason
        order.errors.clear()  # nothing of it is dispatched: nothing of it needs fixing
        for line in order.lines:
            line.errors.clear()


# Dates, as each format writes them ------------------------------------------------------------


SHOPIFY_MOMENT = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2}))?\s*(?:([+-])(\d{2}):?(\d{2})|Z)?)?"
)
MONTH_FIRST_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{2}|\d{4})")


def read_day(layout: Format, text: str) -> date | None:
    try:
        if layout is SHOPIFY:
            return _shopify_day(text)
        if layout is ETSY:
            m = MONTH_FIRST_DATE.fullmatch(text)
            if m is None:
                return None
            month, day, year = (int(part) for part in m.groups())
            return date(year + 2000 if year < 100 else year, month, day)
    except (ValueError, OverflowError):
        return None
    return read_date(text)


def _shopify_day(text: str) -> date | None:
    """Shopify's "Created at" (2026-11-23 14:05:11 +0100) is a moment: its date is the one it
    was where the workshop is."""
    m = SHOPIFY_MOMENT.fullmatch(text)
    if m is None:
        return None
    year, month, day, hour, minute, second, sign, off_h, off_m = m.groups()
    if hour is None:
        return date(int(year), int(month), int(day))
    offset = timedelta(hours=int(off_h or 0), minutes=int(off_m or 0))
    moment = datetime(
        int(year),
        int(month),
        int(day),
        int(hour),
        int(minute),
        int(second or 0),
        tzinfo=timezone(-offset if sign == "-" else offset),
    )
    if sign is None and not text.endswith("Z"):  # no offset given: the date as written
        return moment.date()
    try:
        return moment.astimezone(current_workshop().zone).date()
    except OverflowError:  # year 1 east of UTC, year 9999 west of it: not a real order
        return None
