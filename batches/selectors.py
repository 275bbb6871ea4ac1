"""Reads of batches that pages share: what a stage should use, what a plan needs against the
shelf and other batches, and a batch's figures (planned against actual, yield, losses, cost per
unit, work in progress, stage summaries). Quantities and costs come from the ledger rows the
batch's postings wrote, never from a copy; each read runs a fixed number of queries."""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal

from django.db.models import F, OuterRef, Prefetch, Q, Subquery, Sum

from batches.models import (
    Batch,
    BatchEvent,
    BatchLot,
    BatchStage,
    BatchVariant,
    LotRole,
    Status,
)
from recipes.models import RecipeLine, RecipeVersion, Stage
from recipes.selectors import in_material_unit, line_quantity, requirement, version_lines
from stock.limits import QUANTUM
from stock.models import (
    Balance,
    Item,
    ItemKind,
    Location,
    Loss,
    LossKind,
    Movement,
    Posting,
    PostingKind,
    usable_lot,
    workshop_today,
)
from stock.selectors_dispatch import first_expiry_first, lots_to_pick
from stock.units import Unit, are_compatible, convert

# What a stage should use -------------------------------------------------------------------


@dataclass
class PlannedUse:
    """One recipe line of a stage, scaled to the batch: the form's default."""

    line: RecipeLine
    item: Item
    quantity: Decimal  # in the item's unit
    variant_id: int | None
    lots: list[Balance] = field(default_factory=list)  # the picker: usable first-expiry-first
    preview: list[tuple[Balance, Decimal]] = field(default_factory=list)  # what FEFO would take


def stage_lines(batch: Batch, stage: BatchStage, lines=None) -> list[RecipeLine]:
    """The version's lines this stage uses: its own, and on the first stage those given no
    stage."""
    lines = version_lines(batch.version) if lines is None else lines
    if stage.recipe_stage_id is None:
        return lines
    return [
        line
        for line in lines
        if line.stage_id == stage.recipe_stage_id or (line.stage_id is None and stage.position == 0)
    ]


def split_of(batch: Batch) -> dict[int, Decimal]:
    return {s.variant_id: s.planned for s in batch.splits.all()}


def planned_uses(batch: Batch, stage: BatchStage, today: date | None = None) -> list[PlannedUse]:
    """The stage's lines scaled to the batch's split, each with the lots it may use at the
    batch's location (usable ones first-expiry-first, then the others, marked) and the lots a
    first-expiry-first draw would take now (a preview: the ledger decides under its lock)."""
    today = today or workshop_today()
    split = split_of(batch)
    uses = []
    for line in stage_lines(batch, stage):
        item = line.material.item
        q = in_material_unit(line, line_quantity(line, split, batch.version.standard_yield))
        q = q.quantize(Decimal(1) if item.unit == Unit.EACH else QUANTUM, ROUND_CEILING)
        if q:
            uses.append(PlannedUse(line=line, item=item, quantity=q, variant_id=line.variant_id))
    _attach_lots(uses, batch.location, today)
    return uses


def _attach_lots(uses: list[PlannedUse], location: Location, today: date) -> None:
    by_item = lots_to_pick(location, today, items=[u.item for u in uses])
    for u in uses:
        u.lots = by_item.get(u.item.pk, [])
        u.preview, _ = first_expiry_first(u.lots, u.quantity)


# What a plan needs -------------------------------------------------------------------------


@dataclass
class PlanRow:
    item: Item
    need: Decimal
    on_shelf: Decimal  # usable, at the production location
    others: Decimal  # what other planned and running batches still need of it
    short: Decimal

    @property
    def free(self) -> Decimal:
        return self.on_shelf - self.others


@dataclass
class PlanPreview:
    rows: list[PlanRow]
    last_run: Batch | None
    last_notes: list[str]

    @property
    def short(self) -> bool:
        return any(row.short > 0 for row in self.rows)


def plan_preview(
    version: RecipeVersion, split: dict[int, Decimal], location: Location | None
) -> PlanPreview:
    """The requirement of a plan against what a completion may draw at the production
    location, less what the other open batches will still need; and the last run's notes."""
    today = workshop_today()
    need = requirement(version, split)
    items = [n.material.item for n in need.totals]
    on_shelf = _usable_totals(items, location, today)
    others = still_needed(items)
    rows = []
    for n in need.totals:
        item = n.material.item
        have, committed = on_shelf.get(item.pk, Decimal(0)), others.get(item.pk, Decimal(0))
        rows.append(
            PlanRow(
                item=item,
                need=n.quantity,
                on_shelf=have,
                others=committed,
                short=max(n.quantity - max(have - committed, Decimal(0)), Decimal(0)),
            )
        )
    rows.sort(key=lambda r: (r.short == 0, r.item.name))
    last = (
        Batch.objects.filter(version__recipe_id=version.recipe_id, status=Status.COMPLETED)
        .order_by("-completed_on", "-id")
        .prefetch_related("stages", "events")
        .first()
    )
    return PlanPreview(rows=rows, last_run=last, last_notes=_notes_of(last) if last else [])


def _notes_of(batch: Batch) -> list[str]:
    notes = [batch.notes] if batch.notes else []
    notes += [f"{s.name}: {s.note}" for s in batch.stages.all() if s.note]
    notes += [e.note for e in batch.events.all() if e.note and e.note not in notes]
    return notes


def _usable_totals(items, location, today) -> dict[int, Decimal]:
    if location is None or not items:
        return {}
    rows = (
        Balance.objects.filter(
            usable_lot(today, prefix="lot__"), location=location, lot__item__in=items
        )
        .values("lot__item")
        .annotate(total=Sum("quantity"))
    )
    return {r["lot__item"]: r["total"] for r in rows}


def still_needed(items=None, *, exclude: Batch | None = None) -> dict[int, Decimal]:
    """{item id: what planned and running batches still need of it}: their stages not yet
    done, scaled to their splits. Three queries, whatever the number of batches."""
    batches = list(
        Batch.objects.filter(status__in=[Status.PLANNED, Status.RUNNING])
        .exclude(pk=exclude.pk if exclude else None)
        .select_related("version")
        .prefetch_related("splits")
    )
    if not batches:
        return {}
    lines = RecipeLine.objects.filter(version_id__in={b.version_id for b in batches})
    if items is not None:
        lines = lines.filter(material__item__in=items)
    by_version = defaultdict(list)
    for line in lines.select_related("material__item", "stage"):
        by_version[line.version_id].append(line)
    positions = _stage_positions({b.version_id for b in batches})
    needed: dict[int, Decimal] = defaultdict(Decimal)
    for b in batches:
        split = {s.variant_id: s.planned for s in b.splits.all()}
        for line in by_version[b.version_id]:
            if positions.get(line.stage_id, 0) < b.stages_done:
                continue
            q = line_quantity(line, split, b.version.standard_yield)
            needed[line.material.item_id] += in_material_unit(line, q)
    return needed


def _stage_positions(version_ids) -> dict[int | None, int]:
    """{recipe stage id: its index in its version}, the index a batch stage has."""
    positions: dict[int | None, int] = {None: 0}
    current, n = None, 0
    for stage_id, version_id in (
        Stage.objects.filter(version_id__in=version_ids)
        .order_by("version_id", "position", "id")
        .values_list("id", "version_id")
    ):
        if version_id != current:
            current, n = version_id, 0
        positions[stage_id] = n
        n += 1
    return positions


# A batch's figures -------------------------------------------------------------------------


@dataclass
class MaterialRow:
    item: Item
    planned: Decimal
    used: Decimal
    cost: Decimal

    @property
    def difference(self) -> Decimal:
        return self.used - self.planned

    @property
    def percent(self) -> Decimal | None:
        if not self.planned:
            return None
        return (self.difference * 100 / self.planned).quantize(Decimal("0.1"), ROUND_HALF_UP)


@dataclass
class VariantRow:
    split: object  # BatchVariant
    lots: list  # its saleable lots
    unit_cost: Decimal | None  # from its lots: value over quantity

    @property
    def yield_percent(self):
        if not self.split.planned:
            return None
        return (self.split.made * 100 / self.split.planned).quantize(Decimal("0.1"), ROUND_HALF_UP)


@dataclass
class StageSummary:
    stage: BatchStage
    inputs: Decimal | None  # in grams, or units when every item is counted in pieces
    outputs: Decimal | None
    waste: Decimal | None
    rejection: Decimal | None
    scrap: Decimal | None
    measure: str  # "g", "each" or "" (not comparable)

    @property
    def unexplained(self) -> Decimal | None:
        if not self.measure:
            return None
        return self.inputs - self.outputs - self.waste - self.rejection - self.scrap

    @property
    def unexplained_percent(self) -> Decimal | None:
        if not self.measure or not self.inputs:
            return None
        return (self.unexplained * 100 / self.inputs).quantize(Decimal("0.1"), ROUND_HALF_UP)


@dataclass
class BatchFigures:
    batch: Batch
    stages: list[BatchStage]
    variants: list[VariantRow]
    materials: list[MaterialRow]
    losses: list[tuple[str, Item, Decimal, Decimal, str]]  # kind label, item, quantity, value, note
    material_cost: Decimal
    wip_value: Decimal
    wip_lots: list[Balance]
    summaries: list[StageSummary]
    events: list[BatchEvent]
    postings: list[Posting]
    made: Decimal
    yield_percent: Decimal | None

    @property
    def current_stage(self) -> BatchStage | None:
        return next((s for s in self.stages if not s.is_done), None)


def batch_figures(batch: Batch) -> BatchFigures:
    """Everything the batch page shows, read from the batch's rows and the postings it owns."""
    stages = list(batch.stages.select_related("done_by", "posting", "output_item"))
    splits = list(batch.splits.select_related("variant__item"))
    postings = list(
        Posting.objects.filter(owner="batches", owner_ref=batch.reference)
        .select_related("created_by", "reverses")
        .order_by("id")
    )
    standing = [
        p.pk for p in postings if p.kind == PostingKind.PRODUCTION and not _reversed(p, postings)
    ]
    lots = list(
        BatchLot.objects.filter(batch=batch, lot__voided_by__isnull=True).select_related(
            "lot__item", "variant"
        )
    )
    balances = list(
        Balance.objects.filter(lot__in=[b.lot for b in lots], quantity__gt=0).select_related(
            "lot__item", "location"
        )
    )
    inputs = list(
        Movement.objects.filter(posting_id__in=standing, quantity__lt=0).select_related("lot__item")
    )
    losses = list(Loss.objects.filter(posting_id__in=standing).select_related("item"))
    own_lot_ids = {b.lot_id for b in lots}

    materials = _materials(batch, splits, inputs, own_lot_ids)
    variants = []
    for split in splits:
        mine = [
            b.lot for b in lots if b.variant_id == split.variant_id and b.role == LotRole.SALEABLE
        ]
        variants.append(
            VariantRow(split=split, lots=mine, unit_cost=_unit_cost(mine) if mine else None)
        )
    in_progress = {b.lot_id for b in lots if b.role in (LotRole.WIP, LotRole.REST)}
    wip = [b for b in balances if b.lot_id in in_progress]
    made = sum((s.made for s in splits), Decimal(0))
    summaries = _summaries(stages, standing, lots, losses)
    by_stage = {summary.stage.pk: summary for summary in summaries}
    for stage in stages:
        stage.summary = by_stage.get(stage.pk)
    return BatchFigures(
        batch=batch,
        stages=stages,
        variants=variants,
        materials=materials,
        losses=[
            (loss.get_kind_display(), loss.item, loss.quantity, loss.value, loss.note)
            for loss in losses
        ],
        material_cost=sum((m.cost for m in materials), Decimal(0)),
        wip_value=sum((b.quantity * b.lot.unit_cost for b in wip), Decimal(0)),
        wip_lots=wip,
        summaries=summaries,
        events=list(batch.events.select_related("user", "posting")),
        postings=postings,
        made=made,
        yield_percent=(made * 100 / batch.planned_units).quantize(Decimal("0.1"), ROUND_HALF_UP)
        if batch.status == Status.COMPLETED
        else None,
    )


def _reversed(posting: Posting, postings: list[Posting]) -> bool:
    return any(p.reverses_id == posting.pk for p in postings)


def _unit_cost(lots) -> Decimal:
    """One figure per variant: its first lot's unit cost. Units finished later are costed as
    the first ones were, so every lot of a variant carries the same figure."""
    return lots[0].unit_cost


def _materials(batch, splits, inputs, own_lot_ids) -> list[MaterialRow]:
    split = {s.variant_id: s.planned for s in splits}
    planned = {n.material.item_id: n for n in requirement(batch.version, split).totals}
    used: dict[int, list] = {}
    for m in inputs:
        if m.lot_id in own_lot_ids or m.lot.item.kind == ItemKind.INTERMEDIATE:
            continue  # what one stage of the batch made and the next used
        row = used.setdefault(m.lot.item_id, [m.lot.item, Decimal(0), Decimal(0)])
        row[1] -= m.quantity
        row[2] -= m.quantity * m.unit_cost
    rows = []
    for item_id, need in planned.items():
        item, q, cost = used.pop(item_id, [need.material.item, Decimal(0), Decimal(0)])
        rows.append(MaterialRow(item=item, planned=need.quantity, used=q, cost=cost))
    for item, q, cost in used.values():  # extras and substitutes
        rows.append(MaterialRow(item=item, planned=Decimal(0), used=q, cost=cost))
    return rows


def in_grams(quantity: Decimal, item: Item) -> Decimal | None:
    """A quantity as a mass in grams, when the item has one (a count item by its net
    weight), else None."""
    if item.unit == Unit.EACH:
        return quantity * item.net_weight_g if item.net_weight_g else None
    if are_compatible(item.unit, Unit.G):
        return convert(quantity, item.unit, Unit.G)
    return None


def _summaries(stages, standing, lots, losses) -> list[StageSummary]:
    """Per stage done: inputs, outputs, waste, rejection and scrap in one measure (grams
    where every item has a mass, pieces where every item is counted, else not comparable),
    and the difference nothing explains."""
    by_posting = {s.posting_id: s for s in stages if s.posting_id in standing}
    moves = defaultdict(list)
    for m in Movement.objects.filter(posting_id__in=by_posting).select_related("lot__item"):
        moves[m.posting_id].append(m)
    role = {b.lot_id: b.role for b in lots}
    by_stage_losses = defaultdict(list)
    for loss in losses:
        by_stage_losses[loss.posting_id].append(loss)
    summaries = []
    for posting_id, stage in by_posting.items():
        parts = {"in": [], "out": [], "scrap": [], LossKind.WASTE: [], LossKind.REJECTION: []}
        for m in moves[posting_id]:
            key = (
                "in"
                if m.quantity < 0
                else "scrap"
                if role.get(m.lot_id) == LotRole.SCRAP
                else "out"
            )
            parts[key].append((abs(m.quantity), m.lot.item))
        for loss in by_stage_losses[posting_id]:
            if loss.kind in (LossKind.WASTE, LossKind.REJECTION) and loss.quantity:
                parts[loss.kind].append((loss.quantity, loss.item))
        summaries.append(_summary(stage, parts))
    return summaries


def _summary(stage, parts) -> StageSummary:
    everything = [item for rows in parts.values() for _, item in rows]
    if all(item.unit == Unit.EACH for item in everything):
        measure, total = "each", lambda rows: sum((q for q, _ in rows), Decimal(0))
    elif all(in_grams(Decimal(1), item) is not None for item in everything):
        measure = "g"

        def total(rows):
            return sum((in_grams(q, item) for q, item in rows), Decimal(0))
    else:
        return StageSummary(stage, None, None, None, None, None, "")
    return StageSummary(
        stage=stage,
        inputs=total(parts["in"]),
        outputs=total(parts["out"]),
        waste=total(parts[LossKind.WASTE]),
        rejection=total(parts[LossKind.REJECTION]),
        scrap=total(parts["scrap"]),
        measure=measure,
    )


# Lists and the dashboard -------------------------------------------------------------------


def batch_list(*, status="", product=None, since=None, until=None, q=""):
    batches = (
        Batch.objects.select_related("product", "version__recipe")
        .prefetch_related(Prefetch("stages", queryset=BatchStage.objects.order_by("position")))
        # A correlated subquery, not a join: summed for the page's rows only, and the
        # paginator's count stays a plain COUNT of batches (bench/trace.py).
        .annotate(
            made_units=Subquery(
                BatchVariant.objects.filter(batch=OuterRef("pk"))
                .order_by()
                .values("batch")
                .annotate(total=Sum("made"))
                .values("total")
            )
        )
    )
    if status:
        batches = batches.filter(status=status)
    if product is not None:
        batches = batches.filter(product=product)
    if since:
        batches = batches.filter(production_date__gte=since)
    if until:
        batches = batches.filter(production_date__lte=until)
    if q:
        batches = batches.filter(Q(reference__icontains=q) | Q(notes__icontains=q))
    return batches.order_by("-production_date", "-id")


@dataclass
class OpenBatch:
    batch: Batch
    current: BatchStage | None
    wip_value: Decimal


def open_batches() -> dict[str, list[OpenBatch]]:
    """For the dashboard and the bench: running batches with their current stage, those
    curing (ready later) with the work-in-progress value they hold, those ready today, and
    the planned ones. Three queries."""
    today = workshop_today()
    batches = list(
        Batch.objects.filter(status__in=[Status.PLANNED, Status.RUNNING])
        .select_related("product")
        .prefetch_related(Prefetch("stages", queryset=BatchStage.objects.order_by("position")))
        .order_by("ready_on", "production_date", "id")
    )
    values = defaultdict(Decimal)
    rows = (
        Balance.objects.filter(
            lot__batch_lot__batch__in=batches,
            lot__batch_lot__role__in=[LotRole.WIP, LotRole.REST],
            quantity__gt=0,
        )
        .values("lot__batch_lot__batch")
        .annotate(value=Sum(F("quantity") * F("lot__unit_cost")))
    )
    for row in rows:
        values[row["lot__batch_lot__batch"]] = row["value"]
    groups: dict[str, list[OpenBatch]] = {"running": [], "curing": [], "ready": [], "planned": []}
    for b in batches:
        stages = list(b.stages.all())
        current = stages[b.stages_done] if b.stages_done < len(stages) else None
        entry = OpenBatch(batch=b, current=current, wip_value=values[b.pk])
        if b.status == Status.PLANNED:
            groups["planned"].append(entry)
        elif b.ready_on and b.ready_on > today:
            groups["curing"].append(entry)
        elif b.ready_on:
            groups["ready"].append(entry)
        else:
            groups["running"].append(entry)
    return groups
