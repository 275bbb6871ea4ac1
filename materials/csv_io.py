"""Materials in and out of CSV files.

Import: `stock.csv_files.read_upload` turns the uploaded bytes into text (size, encoding),
`import_preview` reads the table and checks every row against the database without writing
anything, and `materials_import` re-checks the same text inside one transaction and writes
categories, suppliers, locations, materials and ONE receipt posting for the opening stock, all or
nothing.

Export: `materials_rows`, `lots_rows` and `receipts_rows` read in one query each, whatever the
number of rows, and give text cells; the views hand them to materials.spreadsheets.csv_response,
which escapes every formula-like cell.
"""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import DecimalField, Exists, F, OuterRef, Sum
from django.db.models.functions import Coalesce, Lower, Upper

from materials.models import Category, Material, ReceiptLine, Supplier
from materials.services import SKU_TAKEN, category_save, supplier_save
from stock.csv_files import FILE_EMPTY, column_name, read_date, read_records
from stock.engine import (
    ARCHIVED_LOCATION,
    WHOLE_PIECES,
    Line,
    posting_create,
    posting_with_key,
    run_with_retries,
)
from stock.limits import COST_PLACES, MAX_COST, MAX_QUANTITY, QUANTITY_PLACES
from stock.models import Balance, Item, ItemKind, Location, Posting, PostingKind, workshop_today
from stock.services import location_save
from stock.units import Unit, parse_unit, plain, to_decimal

MAX_SHELF_LIFE_DAYS = 36500
OPENING_STOCK_REFERENCE = "Opening stock import"
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Column:
    name: str
    says: str
    required: bool = False


# The import columns, in the order an export writes them.
COLUMNS = [
    Column("sku", "Your code for the material. Each SKU once, and not already in Loomworks.", True),
    Column("name", "What the material is called: Soy wax 464.", True),
    Column("category", "Raw material, Packaging... A category that does not exist is created."),
    Column("unit", "The unit stock is kept in: " + ", ".join(Unit.values) + ".", True),
    Column("lot_tracked", "yes or no (also true/false, 1/0). Empty: no."),
    Column("shelf_life_days", "Whole days a lot keeps, for its expiry date. Empty: it keeps."),
    Column("reorder_point", "Reorder when stock falls to this, in the material's unit."),
    Column("reorder_quantity", "How much you usually order; more than 0."),
    Column("preferred_supplier", "A supplier that does not exist is created."),
    Column("notes", "Anything else."),
    Column("quantity", "Opening stock on hand, in the material's unit. Empty: none."),
    Column("unit_cost", "What one unit of the opening stock cost, up to 10 decimals. Empty: 0."),
    Column("lot_code", "The lot of the opening stock; required for lot-tracked materials."),
    Column("expiry_date", "YYYY-MM-DD or DD/MM/YYYY. Empty: from the shelf life."),
    Column("location", "Where the opening stock is; required with a quantity. Created if new."),
]
COLUMN_NAMES = [c.name for c in COLUMNS]
REQUIRED_COLUMNS = [c.name for c in COLUMNS if c.required]
STOCK_COLUMNS = ("unit_cost", "lot_code", "expiry_date")
MAX_LENGTHS = {
    "sku": 64,
    "name": 200,
    "category": 100,
    "preferred_supplier": 200,
    "lot_code": 64,
    "location": 100,
}

# Messages a maker reads. Tests assert on these.
NO_ROWS = "The file has a header row but no materials under it."
MISSING_COLUMNS = (
    "The header row has no {missing} column. The first row names the columns; "
    "sku, name and unit are required. The first row has: {found}."
)
COLUMN_TWICE = "The column {name} appears twice in the header row."
EXTRA_CELLS = (
    "This row has {cells} cells but the header has {columns}: "
    "a value with a comma in it needs quotes around it."
)
VALUE_REQUIRED = "{column} is empty."
TOO_LONG = "{column} is longer than {limit} characters."
SKU_TWICE = "SKU {sku} is also on row {rows}: each SKU may appear once."
NOT_YES_NO = "lot_tracked: {value!r} is not yes or no."
NOT_A_NUMBER = "{column}: {value!r} is not a number."
UNCLEAR_NUMBER = "{column}: {reason}"  # the forms' own words (stock.units.to_decimal)
TOO_MANY_DECIMALS = "{column}: {value} has more than {places} decimal places."
NUMBER_TOO_LARGE = "{column}: {value} is too large."
NEGATIVE = "{column}: {value} cannot be negative."
NOT_POSITIVE = "{column}: {value} must be more than 0."
QUANTITY_NOT_POSITIVE = (
    "quantity: {value} must be more than 0; leave it empty for no opening stock."
)
NOT_WHOLE_DAYS = "shelf_life_days: {value} is not a whole number of days."
SHELF_LIFE_TOO_LONG = "shelf_life_days: {value} is more than {limit:,} days."
BAD_DATE = "expiry_date: {value!r} is not a date; write YYYY-MM-DD or DD/MM/YYYY."
LOT_CODE_NEEDED = "{name} is lot-tracked: give the lot_code of its opening stock."
LOCATION_NEEDED = "location is empty: say where the opening stock of {name} is."
STOCK_WITHOUT_QUANTITY = "{columns} given but no quantity: add the quantity or clear {them}."
NAME_TWICE = "the name is also on row {rows}: tell them apart before a delivery mixes them up"
NAME_TAKEN = "{sku} is already called {name}: tell them apart before a delivery mixes them up"
NEW_CATEGORY = "new category {name}"
NEW_SUPPLIER = "new supplier {name}"
NEW_LOCATION = "new location {name}"
ALREADY_EXPIRED = "the opening stock expired on {date:%d %b %Y}"
NO_UNIT_COST = "no unit_cost: the opening stock is valued at 0"
IMPORT_RACE = (
    "Someone changed materials at the same moment; nothing was imported. Check the preview again."
)

YES = {"yes", "y", "true", "1"}
NO = {"no", "n", "false", "0", ""}


# Reading the file ------------------------------------------------------------------------------


@dataclass
class Table:
    header: list[str]  # normalised column names
    records: list[tuple[int, list[str]]]  # (row number as in the spreadsheet, cells)
    ignored_columns: list[str]


def read_table(text: str) -> Table:
    """The header and the non-empty rows, or a ValidationError for the file as a whole."""
    cells, records = read_records(text, what="materials")
    if cells is None:
        raise ValidationError(FILE_EMPTY, code="empty")
    header = [column_name(cell) for cell in cells]
    errors = []
    for name in dict.fromkeys(header):
        if name in COLUMN_NAMES and header.count(name) > 1:
            errors.append(COLUMN_TWICE.format(name=name))
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if missing:
        found = ", ".join(cell for cell in header if cell) or "nothing"
        errors.append(MISSING_COLUMNS.format(missing=" or ".join(missing), found=found))
    if errors:
        raise ValidationError(errors, code="bad_header")
    if not records:
        raise ValidationError(NO_ROWS, code="no_rows")
    ignored = [name for name in dict.fromkeys(header) if name and name not in COLUMN_NAMES]
    return Table(header=header, records=records, ignored_columns=ignored)


def _unescape(cell: str) -> str:
    """A cell an export escaped ('=SUM...) comes back as it was."""
    cell = cell.strip()
    if len(cell) > 1 and cell[0] == "'" and cell[1] in "=+-@":
        return cell[1:]
    return cell


# Checking the rows -----------------------------------------------------------------------------


@dataclass
class ImportRow:
    """One row of the file: what it says, parsed, and what is wrong with it."""

    number: int
    sku: str = ""
    name: str = ""
    category: str = ""
    unit: str = ""
    lot_tracked: bool = False
    shelf_life_days: int | None = None
    reorder_point: Decimal | None = None
    reorder_quantity: Decimal | None = None
    preferred_supplier: str = ""
    notes: str = ""
    quantity: Decimal | None = None
    unit_cost: Decimal | None = None
    lot_code: str = ""
    expiry_date: date | None = None
    location: str = ""
    errors: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # imported all the same

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def has_stock(self) -> bool:
        return self.quantity is not None

    @property
    def value(self) -> Decimal | None:
        if self.quantity is None:
            return None
        return self.quantity * (self.unit_cost or Decimal(0))


@dataclass
class ImportPreview:
    rows: list[ImportRow]
    ignored_columns: list[str]
    new_categories: list[str]
    new_suppliers: list[str]
    new_locations: list[str]

    @property
    def bad_rows(self) -> list[ImportRow]:
        return [row for row in self.rows if row.errors]

    @property
    def ok(self) -> bool:
        return bool(self.rows) and not self.bad_rows

    @property
    def stock_rows(self) -> list[ImportRow]:
        return [row for row in self.rows if row.has_stock]

    @property
    def stock_value(self) -> Decimal:
        return sum((row.value for row in self.stock_rows), Decimal(0))


def import_preview(text: str) -> ImportPreview:
    """Every row of the file checked, against the file and the database. Writes nothing.

    Raises ValidationError when the file as a whole cannot be read (no header, required columns
    missing, too many rows)."""
    table = read_table(text)
    rows = [_parse_row(number, table.header, cells) for number, cells in table.records]
    _check_skus(rows)
    _warn_same_names(rows)
    new_categories = _flag_new(rows, "category", Category, NEW_CATEGORY)
    new_suppliers = _flag_new(rows, "preferred_supplier", Supplier, NEW_SUPPLIER)
    new_locations = _check_locations(rows)
    return ImportPreview(
        rows=rows,
        ignored_columns=table.ignored_columns,
        new_categories=new_categories,
        new_suppliers=new_suppliers,
        new_locations=new_locations,
    )


def _parse_row(number: int, header: list[str], cells: list[str]) -> ImportRow:
    row = ImportRow(number=number)
    errors = row.errors
    if len(cells) > len(header) and any(cell.strip() for cell in cells[len(header) :]):
        errors.append(EXTRA_CELLS.format(cells=len(cells), columns=len(header)))
    raw = {name: "" for name in COLUMN_NAMES}
    for name, cell in zip(header, cells, strict=False):
        if name in raw:
            raw[name] = _unescape(cell)
    for name, limit in MAX_LENGTHS.items():
        if len(raw[name]) > limit:
            errors.append(TOO_LONG.format(column=name, limit=limit))
            raw[name] = raw[name][:limit]

    row.sku = raw["sku"]
    row.name = " ".join(raw["name"].split())
    for name in ("sku", "name"):
        if not getattr(row, name):
            errors.append(VALUE_REQUIRED.format(column=name))
    if raw["unit"]:
        try:
            row.unit = parse_unit(raw["unit"])
        except ValidationError as exc:
            errors.extend(exc.messages)
    else:
        errors.append(VALUE_REQUIRED.format(column="unit"))
    row.category = " ".join(raw["category"].split())
    row.preferred_supplier = " ".join(raw["preferred_supplier"].split())
    row.location = " ".join(raw["location"].split())
    row.notes = raw["notes"]
    row.lot_code = raw["lot_code"]

    flag = raw["lot_tracked"].lower()
    if flag in YES:
        row.lot_tracked = True
    elif flag not in NO:
        errors.append(NOT_YES_NO.format(value=raw["lot_tracked"]))

    days = _number(raw, "shelf_life_days", errors, minimum=Decimal(0))
    if days is not None:
        if days != days.to_integral_value():
            errors.append(NOT_WHOLE_DAYS.format(value=raw["shelf_life_days"]))
        elif days > MAX_SHELF_LIFE_DAYS:
            errors.append(SHELF_LIFE_TOO_LONG.format(value=days, limit=MAX_SHELF_LIFE_DAYS))
        else:
            row.shelf_life_days = int(days)
    row.reorder_point = _number(raw, "reorder_point", errors, minimum=Decimal(0))
    row.reorder_quantity = _number(raw, "reorder_quantity", errors, positive=True)
    row.unit_cost = _number(
        raw, "unit_cost", errors, minimum=Decimal(0), places=COST_PLACES, limit=MAX_COST
    )
    row.quantity = _number(raw, "quantity", errors, positive=True)
    if row.quantity is not None and row.unit == Unit.EACH and row.quantity % 1:
        # The posting refuses it at confirm (stock.services): the preview says it first.
        errors.append(WHOLE_PIECES.format(item=row.name or row.sku, quantity=row.quantity))
    if raw["expiry_date"]:
        row.expiry_date = read_date(raw["expiry_date"])
        if row.expiry_date is None:
            errors.append(BAD_DATE.format(value=raw["expiry_date"]))

    if raw["quantity"]:
        if row.lot_tracked and not row.lot_code:
            errors.append(LOT_CODE_NEEDED.format(name=row.name or row.sku or "This material"))
        if not row.location:
            errors.append(LOCATION_NEEDED.format(name=row.name or row.sku or "this material"))
        if not raw["unit_cost"]:
            row.flags.append(NO_UNIT_COST)
        if row.expiry_date and row.expiry_date < workshop_today():
            row.flags.append(ALREADY_EXPIRED.format(date=row.expiry_date))
    else:
        given = [name for name in STOCK_COLUMNS if raw[name]]
        if given:
            errors.append(
                STOCK_WITHOUT_QUANTITY.format(
                    columns=", ".join(given), them="it" if len(given) == 1 else "them"
                )
            )
    return row


def _number(
    raw,
    column,
    errors,
    *,
    minimum=None,
    positive=False,
    places=QUANTITY_PLACES,
    limit=MAX_QUANTITY,
) -> Decimal | None:
    """A number read as the forms read it (stock.units.to_decimal: "1,5" is 1.5, "1,500" is
    refused as ambiguous), of at most `places` decimals and under `limit`, as the ledger keeps
    it; or None (and an error) if not."""
    text = raw[column]
    if not text:
        return None
    try:
        value = to_decimal(text)
    except ValidationError as exc:
        if exc.code == "not_a_number":
            errors.append(NOT_A_NUMBER.format(column=column, value=text))
        else:
            errors.append(UNCLEAR_NUMBER.format(column=column, reason=exc.messages[0]))
        return None
    exponent = value.normalize().as_tuple().exponent
    if isinstance(exponent, int) and -exponent > places:
        errors.append(TOO_MANY_DECIMALS.format(column=column, value=text, places=places))
        return None
    if abs(value) >= limit:
        errors.append(NUMBER_TOO_LARGE.format(column=column, value=text))
        return None
    if column == "quantity" and value <= 0:
        errors.append(QUANTITY_NOT_POSITIVE.format(value=text))
        return None
    if positive and value <= 0:
        errors.append(NOT_POSITIVE.format(column=column, value=text))
        return None
    if minimum is not None and value < minimum:
        errors.append(NEGATIVE.format(column=column, value=text))
        return None
    return plain(value)


def _warn_same_names(rows: list[ImportRow]) -> None:
    """A name twice in the file, or already a material's (whatever its case): imported all the
    same, with a warning, since the names are the maker's to choose."""
    by_name: dict[str, list[ImportRow]] = {}
    for row in rows:
        if row.name:
            by_name.setdefault(row.name.lower(), []).append(row)
    for same in by_name.values():
        for row in same:
            others = [str(other.number) for other in same if other is not row]
            if others:
                row.warnings.append(NAME_TWICE.format(rows=", ".join(others)))
    taken = Item.objects.filter(kind=ItemKind.MATERIAL).annotate(lower=Lower("name"))
    for item in taken.filter(lower__in=list(by_name)).only("sku", "name"):
        for row in by_name[item.name.lower()]:
            row.warnings.append(NAME_TAKEN.format(sku=item.sku, name=item.name))


def _check_skus(rows: list[ImportRow]) -> None:
    """Each SKU once in the file (whatever its case) and not already in the database."""
    by_sku: dict[str, list[ImportRow]] = {}
    for row in rows:
        if row.sku:
            by_sku.setdefault(row.sku.upper(), []).append(row)
    for same in by_sku.values():
        if len(same) > 1:
            for row in same:
                others = ", ".join(str(o.number) for o in same if o is not row)
                row.errors.append(SKU_TWICE.format(sku=row.sku, rows=others))
    taken = dict(
        Item.objects.annotate(upper_sku=Upper("sku"))
        .filter(upper_sku__in=list(by_sku))
        .values_list("upper_sku", "name")
    )
    for upper, name in taken.items():
        for row in by_sku[upper]:
            row.errors.append(SKU_TAKEN.format(sku=row.sku, name=name))


def _existing_names(model, names: Iterable[str]) -> dict[str, object]:
    """{lower-case name: object} of the rows of `model` with one of `names`, in one query."""
    wanted = {name.lower() for name in names if name}
    if not wanted:
        return {}
    found = model.objects.annotate(lower_name=Lower("name")).filter(lower_name__in=wanted)
    return {obj.lower_name: obj for obj in found}


def _flag_new(rows, attribute, model, message) -> list[str]:
    """The names `rows` give in `attribute` that `model` does not have yet, flagged on the first
    row that brings each."""
    existing = _existing_names(model, (getattr(row, attribute) for row in rows))
    new = {}
    for row in rows:
        name = getattr(row, attribute)
        if name and name.lower() not in existing and name.lower() not in new:
            new[name.lower()] = name
            row.flags.append(message.format(name=name))
    return list(new.values())


def _check_locations(rows: list[ImportRow]) -> list[str]:
    stock_rows = [row for row in rows if row.has_stock]
    existing = _existing_names(Location, (row.location for row in stock_rows))
    new = {}
    for row in stock_rows:
        if not row.location:
            continue
        key = row.location.lower()
        location = existing.get(key)
        if location is not None and location.archived:
            row.errors.append(ARCHIVED_LOCATION.format(location=location.name))
        elif location is None and key not in new:
            new[key] = row.location
            row.flags.append(NEW_LOCATION.format(name=row.location))
    return list(new.values())


# Writing the import ----------------------------------------------------------------------------


class ImportRejected(ValidationError):
    """Rows of the file are bad (the database may have changed since the preview)."""

    def __init__(self, preview: ImportPreview):
        count = len(preview.bad_rows)
        super().__init__(
            f"{count} row{'s' if count != 1 else ''} of the file cannot be imported; "
            "nothing was imported.",
            code="rows_rejected",
        )
        self.preview = preview


class _Replayed(Exception):
    def __init__(self, posting):
        self.posting = posting


@dataclass
class ImportResult:
    materials: int = 0
    lots: int = 0
    new_categories: list[str] = field(default_factory=list)
    new_suppliers: list[str] = field(default_factory=list)
    new_locations: list[str] = field(default_factory=list)
    posting: Posting | None = None
    replayed: bool = False


def materials_import(*, text: str, user, idempotency_key: str, note: str = "") -> ImportResult:
    """Import the materials of a CSV file and their opening stock, all or nothing.

    The file is checked again inside the transaction (the database may have changed since the
    preview); any bad row raises ImportRejected with the fresh preview. The opening stock is ONE
    receipt posting whose idempotency key is `idempotency_key`: the same key again imports
    nothing and returns a result with `replayed` set."""
    if not idempotency_key or len(idempotency_key) > 64:
        raise ValueError("idempotency_key must be 1 to 64 characters")
    posting = posting_with_key(idempotency_key)
    if posting is not None:
        return ImportResult(posting=posting, replayed=True)
    try:
        return run_with_retries(
            lambda: _write_import(text=text, user=user, idempotency_key=idempotency_key, note=note)
        )
    except _Replayed as replay:
        return ImportResult(posting=replay.posting, replayed=True)
    except (IntegrityError, ValidationError) as exc:
        # A concurrent confirm of the same file won (same SKUs, categories, suppliers), or
        # someone created one of these at the same moment.
        posting = posting_with_key(idempotency_key)
        if posting is not None:
            return ImportResult(posting=posting, replayed=True)
        if isinstance(exc, ValidationError):
            raise
        raise ValidationError(IMPORT_RACE, code="race_lost") from None


@transaction.atomic
def _write_import(*, text, user, idempotency_key, note) -> ImportResult:
    preview = import_preview(text)
    if not preview.ok:
        raise ImportRejected(preview)
    rows = preview.rows
    categories = _get_or_create(Category, [r.category for r in rows], category_save)
    suppliers = _get_or_create(Supplier, [r.preferred_supplier for r in rows], supplier_save)
    locations = _get_or_create(Location, [r.location for r in rows if r.has_stock], location_save)

    # The same as materials.services.material_create, in bulk: a file may hold 5,000 rows.
    items = Item.objects.bulk_create(
        [
            Item(
                sku=row.sku,
                name=row.name,
                unit=row.unit,
                kind=ItemKind.MATERIAL,
                lot_tracked=row.lot_tracked,
                shelf_life_days=row.shelf_life_days,
            )
            for row in rows
        ],
        batch_size=1000,
    )
    Material.objects.bulk_create(
        [
            Material(
                item=item,
                category=categories.get(row.category.lower()),
                reorder_point=row.reorder_point,
                reorder_quantity=row.reorder_quantity,
                preferred_supplier=suppliers.get(row.preferred_supplier.lower()),
                notes=row.notes,
            )
            for row, item in zip(rows, items, strict=True)
        ],
        batch_size=1000,
    )
    lines = [
        Line(
            location=locations[row.location.lower()],
            quantity=row.quantity,
            item=item,
            lot_code=row.lot_code,
            expiry_date=row.expiry_date,
            unit_cost=row.unit_cost if row.unit_cost is not None else Decimal(0),
        )
        for row, item in zip(rows, items, strict=True)
        if row.has_stock
    ]
    posting = None
    if lines:
        result = posting_create(
            kind=PostingKind.RECEIPT,
            lines=lines,
            user=user,
            idempotency_key=idempotency_key,
            reference=OPENING_STOCK_REFERENCE,
            note=note,
        )
        posting = result.posting
        if result.replayed:  # pragma: no cover - the SKUs clash first
            raise _Replayed(posting)
    return ImportResult(
        materials=len(items),
        lots=len(lines),
        new_categories=preview.new_categories,
        new_suppliers=preview.new_suppliers,
        new_locations=preview.new_locations,
        posting=posting,
    )


def _get_or_create(model, names: list[str], save) -> dict[str, object]:
    """{lower-case name: object} for every name, creating the missing ones with `save`."""
    found = _existing_names(model, names)
    for name in names:
        if name and name.lower() not in found:
            found[name.lower()] = save(name=name)
    return found


# Export ----------------------------------------------------------------------------------------
# The rows are text; materials.spreadsheets.csv_response writes them with every formula-like cell
# escaped, so a spreadsheet shows "=HYPERLINK(...)" as text instead of running it.


def _text(value) -> str:
    """A cell as a spreadsheet should read it: 4535.9237, 2026-11-24, yes, empty for None."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Decimal):
        return f"{plain(value):f}"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _cells(*values) -> list[str]:
    return [_text(value) for value in values]


def _money(value: Decimal | None) -> str:
    """Money to the cent, as a spreadsheet sums it: 22.25, 8.00."""
    return str((value or Decimal(0)).quantize(CENT, ROUND_HALF_UP))


MATERIALS_HEADER = [*COLUMN_NAMES[:10], "archived", "on_hand", "value"]


def materials_rows() -> Iterator[list]:
    """One row per material: the import's material columns, then its stock. One query."""
    balance = "item__lots__balances__quantity"
    materials = (
        Material.objects.select_related("item", "category", "preferred_supplier")
        .annotate(
            on_hand=Coalesce(Sum(balance), Decimal(0), output_field=DecimalField()),
            value=Sum(
                F(balance) * F("item__lots__unit_cost"),
                output_field=DecimalField(max_digits=36, decimal_places=12),
            ),
        )
        .order_by("item__name", "item__sku")
    )
    for m in materials:
        item = m.item
        yield _cells(
            item.sku,
            item.name,
            m.category.name if m.category else "",
            item.unit,
            item.lot_tracked,
            item.shelf_life_days,
            m.reorder_point,
            m.reorder_quantity,
            m.preferred_supplier.name if m.preferred_supplier else "",
            m.notes,
            item.archived,
            m.on_hand,
            _money(m.value),
        )


LOTS_HEADER = [
    "sku",
    "material",
    "lot_code",
    "location",
    "quantity",
    "unit",
    "unit_cost",
    "value",
    "expiry_date",
    "received_on",
    "quarantined",
]


def lots_rows() -> Iterator[list]:
    """One row per lot of a material and location that holds stock. One query."""
    balances = (
        Balance.objects.filter(quantity__gt=0, lot__item__material__isnull=False)
        .select_related("lot__item", "location")
        .order_by("lot__item__name", "lot__item__sku", "lot__expiry_date", "lot__id", "location")
    )
    for b in balances:
        lot = b.lot
        yield _cells(
            lot.item.sku,
            lot.item.name,
            lot.code,
            b.location.name,
            b.quantity,
            lot.item.unit,
            lot.unit_cost,
            _money(b.quantity * lot.unit_cost),
            lot.expiry_date,
            lot.received_on,
            lot.quarantined,
        )


RECEIPTS_HEADER = [
    "receipt",
    "received_on",
    "supplier",
    "reference",
    "sku",
    "material",
    "entered_quantity",
    "entered_unit",
    "quantity",
    "unit",
    "price",
    "shipping_share",
    "unit_cost",
    "lot_code",
    "expiry_date",
    "reversed",
]


def receipts_rows() -> Iterator[list]:
    """One row per line of every delivery received, oldest first. One query."""
    lines = (
        ReceiptLine.objects.select_related("receipt__supplier", "material__item", "lot")
        .annotate(reversed=Exists(Posting.objects.filter(reverses=OuterRef("receipt__posting"))))
        .order_by("receipt__received_on", "receipt_id", "id")
    )
    for line in lines:
        receipt, item = line.receipt, line.material.item
        yield _cells(
            receipt.pk,
            receipt.received_on,
            receipt.supplier.name,
            receipt.reference,
            item.sku,
            item.name,
            line.entered_quantity,
            line.entered_unit,
            line.quantity,
            item.unit,
            line.price,
            line.shipping_share,
            line.unit_cost,
            line.lot.code,
            line.lot.expiry_date,
            "yes" if line.reversed else "no",
        )
