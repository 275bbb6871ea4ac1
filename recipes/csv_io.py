"""A version's lines as CSV: exported as they are, imported into a draft after a preview that
marks each bad row. Numbers and units are read as the forms read them."""

import csv
import io
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db.models.functions import Lower

from materials.models import Material
from recipes import services
from recipes.models import Basis, RecipeVersion
from stock.units import parse_unit, plain, to_decimal

COLUMNS = ["material_sku", "quantity", "unit", "basis", "variant_sku", "stage", "percent"]
REQUIRED = ["material_sku"]
MAX_LINES = 500
BASES = {
    "batch": Basis.PER_BATCH,
    "per batch": Basis.PER_BATCH,
    "unit": Basis.PER_UNIT,
    "per unit": Basis.PER_UNIT,
    "per unit made": Basis.PER_UNIT,
    "variant": Basis.PER_VARIANT_UNIT,
    "per variant": Basis.PER_VARIANT_UNIT,
    "per unit of one variant": Basis.PER_VARIANT_UNIT,
    "fixed": Basis.FIXED,
    "once per batch": Basis.FIXED,
}
MISSING_COLUMNS = "The first row must name the columns; material_sku is missing (found: {found})."
TOO_MANY = "A version holds at most {limit} lines; with this file it would have {count}."
UNKNOWN_MATERIAL = "No material has the SKU {sku}."
UNKNOWN_BASIS = "Basis {basis!r}: write batch, unit, variant or fixed."
UNKNOWN_VARIANT = "{product} has no variant with the SKU {sku}."
UNKNOWN_STAGE = "This version has no stage called {stage}: add it first."
NOT_A_NUMBER = "{column}: {value!r} is not a number."


def export_rows(version: RecipeVersion, lines) -> list[list[str]]:
    return [
        [
            line.material.item.sku,
            plain(line.quantity),
            line.unit,
            line.basis,
            line.variant.item.sku if line.variant else "",
            line.stage.name if line.stage else "",
            plain(line.percent) if line.percent is not None else "",
        ]
        for line in lines
    ]


@dataclass
class Row:
    number: int  # as in the spreadsheet: the header is row 1
    cells: dict
    fields: dict | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def shown(self) -> list[str]:
        return [self.cells.get(column, "") for column in COLUMNS]


@dataclass
class Preview:
    rows: list[Row]

    @property
    def ok(self) -> bool:
        return bool(self.rows) and not any(row.errors for row in self.rows)


def preview(version: RecipeVersion, text: str) -> Preview:
    """Every row, read and checked as `line_add` would check it; nothing is written. A file
    that cannot be read at all raises ValidationError."""
    first = text.lstrip("\r\n").split("\n", 1)[0]
    delimiter = max([",", ";", "\t"], key=first.count)
    try:
        records = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error as exc:
        raise ValidationError(f"The file could not be read as CSV: {exc}.") from None
    records = [
        (n, cells) for n, cells in enumerate(records, start=1) if any(c.strip() for c in cells)
    ]
    if not records:
        raise ValidationError("The file is empty.")
    header = [cell.strip().lower().replace(" ", "_") for cell in records[0][1]]
    if "material_sku" not in header:
        raise ValidationError(MISSING_COLUMNS.format(found=", ".join(header) or "nothing"))
    if len(records) - 1 + version.lines.count() > MAX_LINES:
        raise ValidationError(
            TOO_MANY.format(limit=MAX_LINES, count=len(records) - 1 + version.lines.count())
        )
    skus = {
        cells[header.index("material_sku")].strip().lower()
        for _, cells in records[1:]
        if len(cells) > header.index("material_sku")
    }
    materials = {
        m.item.sku.lower(): m
        for m in Material.objects.select_related("item")
        .annotate(sku_lower=Lower("item__sku"))
        .filter(sku_lower__in=skus)
    }
    variants = {
        v.item.sku.lower(): v for v in version.recipe.product.variants.select_related("item")
    }
    stages = {s.name.lower(): s for s in version.stages.all()}
    rows = []
    for number, cells in records[1:]:
        row = Row(number, dict(zip(header, (c.strip() for c in cells), strict=False)))
        _read(row, version, materials, variants, stages)
        rows.append(row)
    return Preview(rows)


def _read(row: Row, version, materials, variants, stages) -> None:
    cells = row.cells
    material = materials.get(cells.get("material_sku", "").lower())
    if material is None:
        row.errors.append(UNKNOWN_MATERIAL.format(sku=cells.get("material_sku", "") or "(empty)"))
        return
    fields = {"material": material}
    for column in ("quantity", "percent"):
        if cells.get(column):
            try:
                fields[column] = to_decimal(cells[column])
            except ValidationError:
                row.errors.append(NOT_A_NUMBER.format(column=column, value=cells[column]))
    try:
        fields["unit"] = parse_unit(cells["unit"]) if cells.get("unit") else ""
    except ValidationError as exc:
        row.errors += exc.messages
    basis = cells.get("basis", "").lower() or "batch"
    if basis not in BASES:
        row.errors.append(UNKNOWN_BASIS.format(basis=cells.get("basis")))
    fields["basis"] = BASES.get(basis, Basis.PER_BATCH)
    if cells.get("variant_sku"):
        fields["variant"] = variants.get(cells["variant_sku"].lower())
        if fields["variant"] is None:
            row.errors.append(
                UNKNOWN_VARIANT.format(
                    product=version.recipe.product.name, sku=cells["variant_sku"]
                )
            )
    if cells.get("stage"):
        fields["stage"] = stages.get(cells["stage"].lower())
        if fields["stage"] is None:
            row.errors.append(UNKNOWN_STAGE.format(stage=cells["stage"]))
    if row.errors:
        return
    try:
        services.line_check(version=version, **fields)
    except ValidationError as exc:
        row.errors += exc.messages
        return
    row.fields = fields


def import_lines(version: RecipeVersion, text: str):
    """Check the file again (the draft may have changed) and add its lines, all or nothing."""
    checked = preview(version, text)
    if not checked.ok:
        raise ValidationError("Some rows are not right: check the preview again.")
    return services.lines_import(version=version, lines=[row.fields for row in checked.rows])
