"""Labels for a product lot (docs/design.md, "Labels"): what goes on one (product, variant,
batch code, best-before, the ingredient list from what the lot really consumed, the workshop,
a QR code to the lot's page) and the sheets of label stock they are printed on.

The ingredient list is read from the ledger's genealogy, not from the recipe: what the maker
really used, through every semi-finished lot, is what the jar holds. Two queries, whatever the
number of stages or lots."""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_CEILING, Decimal, localcontext

import segno
from django.conf import settings
from django.db.models import F, Q, Sum
from django.urls import reverse
from django.utils.formats import date_format

from batches.models import Batch, BatchLot, LotRole
from batches.selectors import in_grams
from materials.models import Material
from stock.limits import QUANTUM
from stock.models import Lot, current_workshop
from stock.selectors import Feed, feeds_upstream
from stock.units import display

MAX_LABELS = 300  # ten sheets of 30 at a time: more is a slip of the keyboard


# Label stock -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sheet:
    """One kind of label stock, in millimetres: the paper, the grid of labels on it, the first
    label's top-left corner and the pitches (from one label's edge to the next one's). The
    same figures are in static/css/labels.css (`.sheet-<code>`); a test holds them equal."""

    code: str
    name: str
    paper: str  # the @page size: "A4" or "letter" (static/css/labels-<paper>.css)
    paper_width: Decimal
    paper_height: Decimal
    columns: int
    rows: int
    label_width: Decimal
    label_height: Decimal
    top: Decimal
    left: Decimal
    pitch_x: Decimal
    pitch_y: Decimal

    @property
    def page_css(self) -> str:
        """The stylesheet that sets the printed page to this paper, with no margin."""
        return f"css/labels-{self.paper.lower()}.css"

    @property
    def per_sheet(self) -> int:
        return self.columns * self.rows

    @property
    def gap_x(self) -> Decimal:
        return self.pitch_x - self.label_width

    @property
    def gap_y(self) -> Decimal:
        return self.pitch_y - self.label_height

    def corner(self, position: int) -> tuple[Decimal, Decimal]:
        """(left, top) of label `position` (1 = top left, along the rows), from the paper's
        top-left corner."""
        row, column = divmod(position - 1, self.columns)
        return self.left + column * self.pitch_x, self.top + row * self.pitch_y


D = Decimal
SHEETS = {
    sheet.code: sheet
    for sheet in [
        # Avery's A4 template: 3 x 7 labels of 63.5 x 38.1 mm, butt-cut vertically.
        Sheet(
            code="L7160",
            name="Avery L7160 · A4, 21 labels of 63.5 x 38.1 mm",
            paper="A4",
            paper_width=D("210"),
            paper_height=D("297"),
            columns=3,
            rows=7,
            label_width=D("63.5"),
            label_height=D("38.1"),
            top=D("15.15"),
            left=D("7.21"),
            pitch_x=D("66.04"),
            pitch_y=D("38.1"),
        ),
        # Avery's US Letter template, in inches: 2 5/8 x 1 in labels, 1/2 in from the top,
        # 3/16 in from the side, 2 3/4 in from column to column.
        Sheet(
            code="5160",
            name="Avery 5160 · US Letter, 30 labels of 66.7 x 25.4 mm (2⅝ x 1 in)",
            paper="letter",
            paper_width=D("215.9"),
            paper_height=D("279.4"),
            columns=3,
            rows=10,
            label_width=D("66.675"),
            label_height=D("25.4"),
            top=D("12.7"),
            left=D("4.7625"),
            pitch_x=D("69.85"),
            pitch_y=D("25.4"),
        ),
    ]
}


def sheets_of(count: int, start: int, sheet: Sheet) -> list[list[bool]]:
    """The sheets to print `count` labels from position `start` of the first one: per sheet,
    per position, whether a label goes there (the positions before `start` are used already
    and stay blank). Later sheets start at their first position; a sheet ends with its last
    label."""
    cells = [False] * (start - 1) + [True] * count
    return [cells[n : n + sheet.per_sheet] for n in range(0, len(cells), sheet.per_sheet)]


# Which lots get labels ---------------------------------------------------------------------


def product_lots(batch: Batch) -> list[BatchLot]:
    """The batch's saleable lots that stand (not voided), each with its lot, item, variant and
    `made`: how many units the posting that made it made. One query."""
    made_here = Q(lot__movements__posting=F("lot__created_by_posting")) & Q(
        lot__movements__quantity__gt=0
    )
    return list(
        BatchLot.objects.filter(batch=batch, role=LotRole.SALEABLE, lot__voided_by__isnull=True)
        .select_related("lot__item", "variant")
        .annotate(made=Sum("lot__movements__quantity", filter=made_here))
        .order_by("variant__position", "lot_id")
    )


def lot_choice(batch_lot: BatchLot) -> str:
    """How the labels form lists a lot: CND-01-LAV · Lavender · 5 made · best before 3 Jun 2027."""
    lot = batch_lot.lot
    parts = [lot.code]
    if batch_lot.variant:
        parts.append(batch_lot.variant.name)
    if batch_lot.made:
        parts.append(f"{display(batch_lot.made)} made")
    if lot.expiry_date:
        parts.append(f"best before {date_format(lot.expiry_date, 'j M Y')}")
    return " · ".join(parts)


# What a unit is made of --------------------------------------------------------------------


@dataclass(frozen=True)
class Ingredient:
    name: str  # the material's label name
    grams: Decimal | None  # per unit; None when it has no mass (by volume, a count without weight)


def lot_ingredients(lot: Lot) -> list[Ingredient]:
    """What one unit of `lot` is made of, by the materials' label names, heaviest first: the
    mass of every material the lot's allocations took, followed up through semi-finished lots,
    over what its posting made. Materials without a label name (packaging) are left out. One
    measured by volume, or counted without a net weight, has no mass: it follows the weighed
    ones, so the label still names it. Two queries."""
    per_unit = _per_unit(lot.pk, feeds_upstream(lot))
    materials = Material.objects.filter(item_id__in=per_unit).exclude(label_name="")
    masses: dict[str, Decimal] = {}
    other: dict[str, Decimal] = {}
    for material in materials.select_related("item"):
        name = material.label_name.strip()
        if not name:
            continue
        quantity = per_unit[material.item_id]
        grams = in_grams(quantity, material.item)
        if grams is None:
            other[name] = other.get(name, Decimal(0)) + quantity
        else:
            masses[name] = masses.get(name, Decimal(0)) + grams
    heaviest = sorted(masses.items(), key=lambda pair: (-pair[1], pair[0]))
    rest = sorted((n for n in other if n not in masses), key=lambda n: (-other[n], n))
    return [Ingredient(name, grams.quantize(QUANTUM)) for name, grams in heaviest] + [
        Ingredient(name, None) for name in rest
    ]


def _per_unit(lot_id: int, feeds: list[Feed]) -> dict[int, Decimal]:
    """{material item id: how much of it (in its unit) one unit of the lot holds}. A lot's
    contents per unit are the sum, over what was allocated to it, of that quantity over what
    its posting made times the input's own contents per unit (a material lot is all itself)."""
    into: dict[int, list[Feed]] = defaultdict(list)
    for feed in feeds:
        into[feed.output_lot_id].append(feed)
    known: dict[int, dict[int, Decimal]] = {}

    def contents(output_lot_id: int) -> dict[int, Decimal]:
        if output_lot_id not in known:
            total: dict[int, Decimal] = defaultdict(Decimal)
            for feed in into[output_lot_id]:
                share = feed.quantity / feed.made
                if feed.input_is_material:
                    total[feed.input_item_id] += share
                else:
                    for item_id, q in contents(feed.input_lot_id).items():
                        total[item_id] += share * q
            known[output_lot_id] = total
        return known[output_lot_id]

    with localcontext(prec=60):
        return {item_id: q for item_id, q in contents(lot_id).items() if q}


# One label ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Label:
    product: str
    variant: str  # empty when the product has no variants of its own
    code: str
    best_before: date | None
    ingredients: list[Ingredient]
    workshop: str
    url: str  # what the QR code says: the lot's page
    qr_svg: str

    @property
    def ingredient_names(self) -> str:
        return ", ".join(i.name for i in self.ingredients)


def lot_address(lot: Lot, request) -> str:
    """The lot's page as a phone that scans the label reaches it: SITE_URL when it is set,
    else the address this request came to."""
    path = reverse("stock:lot", args=[lot.pk])
    if settings.SITE_URL:
        return settings.SITE_URL + path
    return request.build_absolute_uri(path)


def qr_svg(url: str) -> str:
    """A QR code (never a Micro QR) as an inline SVG element: a viewBox and no size, so the
    stylesheet sizes it; no style attribute, which the Content-Security-Policy would refuse.
    Its quiet zone, four modules, is part of the drawing."""
    qr = segno.make_qr(url, error="m")
    return qr.svg_inline(scale=1, omitsize=True, svgclass="qr", lineclass=None, dark="#000")


def label_for(batch: Batch, batch_lot: BatchLot, url: str) -> Label:
    lot = batch_lot.lot
    variant = batch_lot.variant.name if batch_lot.variant else ""
    return Label(
        product=batch.product.name,
        variant="" if variant == batch.product.name else variant,
        code=lot.code,
        best_before=lot.expiry_date,
        ingredients=lot_ingredients(lot),
        workshop=current_workshop().name,
        url=url,
        qr_svg=qr_svg(url),
    )


def default_count(batch_lot: BatchLot | None) -> int:
    """A label per unit the lot was made with, as far as one print allows."""
    if batch_lot is None or not batch_lot.made:
        return 1
    return max(1, min(int(batch_lot.made.to_integral_value(ROUND_CEILING)), MAX_LABELS))
