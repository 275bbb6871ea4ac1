"""A product's batch history: its completed batches in date order, each with its yield, its cost
per unit per variant and, per material, what it used against what its recipe planned; and per
material the variance over the runs ("Soy wax: +4.1 % over 8 runs").

Every figure is read from what the batches wrote: saleable units from their splits, a cost per
unit from their saleable lots (never recomputed), what was used from the negative movements of
their standing production postings (docs/design.md, "Batch history"). Five queries, whatever
the number of batches; the latest RUNS_SHOWN runs at most.
"""

from collections import defaultdict
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import F

from batches.models import Batch, BatchLot, BatchVariant, LotRole, Status
from batches.selectors import MaterialRow
from batches.services import OWNER
from recipes.models import Product, RecipeLine, Variant
from recipes.selectors import requirement
from stock.models import Item, ItemKind, Movement, PostingKind

RUNS_SHOWN = 50
ONE_PLACE = Decimal("0.1")


def percent(part: Decimal, whole: Decimal) -> Decimal | None:
    if not whole:
        return None
    return (part * 100 / whole).quantize(ONE_PLACE, ROUND_HALF_UP)


@dataclass
class Run:
    """One completed batch, as the history shows it."""

    batch: Batch
    saleable: Decimal  # what its splits say was made saleable
    unit_costs: list[Decimal | None]  # per variant of the history, from its saleable lots
    materials: dict[int, MaterialRow]  # item id -> planned and used (cost left at 0)

    @property
    def planned(self) -> Decimal:
        return self.batch.planned_units

    @property
    def yield_percent(self) -> Decimal | None:
        return percent(self.saleable, self.planned)


@dataclass
class MaterialVariance:
    """One material over the runs: used against planned in each, and over all of them (what
    the runs that planned it used in total against what they planned in total, so a test
    pour of two candles weighs less than a batch of forty)."""

    item: Item
    cells: list[MaterialRow | None]  # one per run, in the runs' order; None: not in that run
    planned: Decimal  # over the runs that planned it
    used: Decimal  # by those runs
    runs: int  # how many runs planned it
    extra_runs: int  # runs that used it without planning it
    extra_used: Decimal  # what those used

    @property
    def percent(self) -> Decimal | None:
        return percent(self.used - self.planned, self.planned)


@dataclass
class ProductHistory:
    product: Product
    variants: list[Variant]  # every variant any shown run planned, in the product's order
    runs: list[Run]  # oldest first
    materials: list[MaterialVariance]
    earlier: bool  # older completed runs exist than those shown

    @property
    def planned(self) -> Decimal:
        return sum((r.planned for r in self.runs), Decimal(0))

    @property
    def material_rows(self) -> list[tuple[Run, list[MaterialRow | None]]]:
        """Each run with its cell per material, in the order of `materials`."""
        return [(run, [m.cells[n] for m in self.materials]) for n, run in enumerate(self.runs)]

    @property
    def saleable(self) -> Decimal:
        return sum((r.saleable for r in self.runs), Decimal(0))

    @property
    def yield_percent(self) -> Decimal | None:
        return percent(self.saleable, self.planned)


def product_history(product: Product, *, limit: int | None = None) -> ProductHistory:
    """The product's completed batches (a reversed batch is running again, so it is not one),
    the latest `limit` of them, oldest first."""
    limit = limit or RUNS_SHOWN
    latest = list(
        Batch.objects.filter(product=product, status=Status.COMPLETED)
        .select_related("version")
        .order_by("-production_date", "-completed_on", "-id")[: limit + 1]
    )
    batches = latest[:limit][::-1]
    splits = _splits(batches)
    variants = _variants(splits)
    lots = _saleable_lots(batches)
    used = _used(batches)
    lines = _lines(batches)
    runs = []
    for batch in batches:
        split = {s.variant_id: s.planned for s in splits[batch.pk]}
        planned = requirement(batch.version, split, lines[batch.version_id]).totals
        runs.append(
            Run(
                batch=batch,
                saleable=sum((s.made for s in splits[batch.pk]), Decimal(0)),
                unit_costs=[lots[batch.pk].get(v.pk) for v in variants],
                materials=_used_against_planned(planned, used[batch.reference]),
            )
        )
    return ProductHistory(
        product=product,
        variants=variants,
        runs=runs,
        materials=_variances(runs),
        earlier=len(latest) > limit,
    )


def _splits(batches) -> dict[int, list[BatchVariant]]:
    by_batch: dict[int, list[BatchVariant]] = defaultdict(list)
    for s in BatchVariant.objects.filter(batch__in=batches).select_related("variant"):
        by_batch[s.batch_id].append(s)
    return by_batch


def _variants(splits) -> list[Variant]:
    seen = {s.variant_id: s.variant for rows in splits.values() for s in rows if s.planned}
    return sorted(seen.values(), key=lambda v: (v.position, v.pk))


def _saleable_lots(batches) -> dict[int, dict[int, Decimal]]:
    """{batch id: {variant id: unit cost}}: a variant's first saleable lot that stands, as the
    batch page reads it (units finished later are costed as the first ones were)."""
    costs: dict[int, dict[int, Decimal]] = defaultdict(dict)
    rows = (
        BatchLot.objects.filter(
            batch__in=batches, role=LotRole.SALEABLE, lot__voided_by__isnull=True
        )
        .order_by("batch", "stage", "id")
        .values_list("batch_id", "variant_id", "lot__unit_cost")
    )
    for batch_id, variant_id, unit_cost in rows:
        costs[batch_id].setdefault(variant_id, unit_cost)
    return costs


def _used(batches) -> dict[str, dict[int, list]]:
    """{batch reference: {item id: [item, quantity]}}: what the batches' standing production
    postings drew, leaving out what one stage of the batch made and the next used (its own
    lots, semi-finished items), as the batch page counts it."""
    own = BatchLot.objects.filter(batch__in=batches).values("lot_id")
    moves = (
        Movement.objects.filter(
            posting__owner=OWNER,
            posting__owner_ref__in=[b.reference for b in batches],
            posting__kind=PostingKind.PRODUCTION,
            posting__reversed_by__isnull=True,
            quantity__lt=0,
        )
        .exclude(lot__item__kind=ItemKind.INTERMEDIATE)
        .exclude(lot_id__in=own)
        .select_related("lot__item")
        .annotate(ref=F("posting__owner_ref"))
    )
    used: dict[str, dict[int, list]] = defaultdict(dict)
    for m in moves:
        row = used[m.ref].setdefault(m.lot.item_id, [m.lot.item, Decimal(0)])
        row[1] -= m.quantity
    return used


def _lines(batches) -> dict[int, list[RecipeLine]]:
    """The lines of every version the batches used, in one query, for `requirement`."""
    by_version: dict[int, list[RecipeLine]] = defaultdict(list)
    lines = (
        RecipeLine.objects.filter(version_id__in={b.version_id for b in batches})
        .select_related("material__item", "stage")
        .order_by(F("stage__position").asc(nulls_first=True), "position", "id")
    )
    for line in lines:
        by_version[line.version_id].append(line)
    return by_version


def _used_against_planned(planned, used: dict[int, list]) -> dict[int, MaterialRow]:
    rows = {}
    for need in planned:
        item = need.material.item
        _, quantity = used.get(item.pk, (item, Decimal(0)))
        rows[item.pk] = MaterialRow(
            item=item, planned=need.quantity, used=quantity, cost=Decimal(0)
        )
    for item_id, (item, quantity) in used.items():
        if item_id not in rows:  # extras and substitutes
            rows[item_id] = MaterialRow(
                item=item, planned=Decimal(0), used=quantity, cost=Decimal(0)
            )
    return rows


def _variances(runs: list[Run]) -> list[MaterialVariance]:
    """Per material, newest recipe's order first (then what only older runs or extras used)."""
    items: dict[int, Item] = {}
    for run in reversed(runs):
        for item_id, row in run.materials.items():
            items.setdefault(item_id, row.item)
    variances = []
    for item_id, item in items.items():
        cells = [run.materials.get(item_id) for run in runs]
        planned = [c for c in cells if c is not None and c.planned]
        extras = [c for c in cells if c is not None and not c.planned]
        variances.append(
            MaterialVariance(
                item=item,
                cells=cells,
                planned=sum((c.planned for c in planned), Decimal(0)),
                used=sum((c.used for c in planned), Decimal(0)),
                runs=len(planned),
                extra_runs=len(extras),
                extra_used=sum((c.used for c in extras), Decimal(0)),
            )
        )
    variances.sort(key=lambda v: v.runs == 0)  # extras last, the order otherwise kept
    return variances
