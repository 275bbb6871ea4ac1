"""Reads of recipes: what a batch of any size and split needs, whether it can be made from the
usable stock at the production location, what a unit would cost, what changed between versions.

Each runs a fixed number of queries whatever the recipe's size: the lines with their materials,
then the stock they need, in one query each.
"""

from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, localcontext

from django.db.models import F, OuterRef, Subquery, Sum

from materials.models import Material
from recipes.models import AchievedYield, Basis, RecipeLine, RecipeVersion, Stage, Variant
from stock.limits import CENT, COST_QUANTUM, QUANTUM
from stock.models import Balance, Item, Location, Lot, usable_lot, workshop_today
from stock.units import Unit, are_compatible, convert, plain

NO_UNITS = "Choose how many to make: at least one unit."
ACHIEVED_YIELDS_USED = 5  # the estimate learns from the latest five batches of the recipe


def version_lines(version: RecipeVersion) -> list[RecipeLine]:
    """The version's lines with everything the pages and sums need, in one query; each knows
    its quantity in its material's unit (`converted`), which the page shows beside it."""
    lines = list(
        version.lines.select_related(
            "material__item", "stage__output_item", "variant__item"
        ).order_by(F("stage__position").asc(nulls_first=True), "position", "id")
    )
    for line in lines:
        line.converted = in_material_unit(line, line.quantity)
    return lines


def even_split(variants, units) -> dict[int, Decimal]:
    """`units` shared over the variants in whole units, the rest on the first: 25 over two
    is 13 and 12."""
    share, rest = divmod(int(units), max(len(variants), 1))
    return {v.pk: Decimal(share + (rest if n == 0 else 0)) for n, v in enumerate(variants)}


def line_quantity(line: RecipeLine, split: dict[int, Decimal], standard_yield: Decimal) -> Decimal:
    """How much of `line.unit` a batch of this split needs, unrounded."""
    total = sum(split.values(), Decimal(0))
    with localcontext(prec=60):
        if line.basis == Basis.PER_BATCH:
            return line.quantity * total / standard_yield
        if line.basis == Basis.PER_UNIT:
            return line.quantity * total
        if line.basis == Basis.FIXED:  # a test strip, a cloth: the same for any batch
            return line.quantity if total else Decimal(0)
        return line.quantity * split.get(line.variant_id, Decimal(0))


def in_material_unit(line: RecipeLine, quantity: Decimal) -> Decimal:
    item = line.material.item
    return convert(quantity, line.unit, item.unit, item_name=item.name)


# Scaling -----------------------------------------------------------------------------------


@dataclass
class Need:
    material: Material
    quantity: Decimal  # in the material's unit
    stage: Stage | None = None


@dataclass
class Requirement:
    units: Decimal
    by_stage: list[tuple[Stage | None, list[Need]]]
    totals: list[Need]  # per material, all stages together


def requirement(version: RecipeVersion, split: dict[int, Decimal], lines=None) -> Requirement:
    """What a batch of `split` ({variant id: units}) needs, per material in its unit, by stage
    and in total."""
    lines = version_lines(version) if lines is None else lines
    units = sum(split.values(), Decimal(0))
    stages: dict = {}
    totals: dict = {}
    for line in lines:
        q = in_material_unit(line, line_quantity(line, split, version.standard_yield))
        if not q:
            continue
        per_stage = stages.setdefault(line.stage_id, (line.stage, {}))[1]
        _add(per_stage, line.material, q, line.stage)
        _add(totals, line.material, q, None)
    return Requirement(
        units=units,
        by_stage=[(stage, list(needs.values())) for stage, needs in stages.values()],
        totals=list(totals.values()),
    )


def _add(needs: dict, material: Material, q: Decimal, stage) -> None:
    if material.pk in needs:
        needs[material.pk].quantity += q
    else:
        needs[material.pk] = Need(material=material, quantity=q, stage=stage)


# Can I make this? --------------------------------------------------------------------------


@dataclass
class Availability:
    material: Material
    need: Decimal
    have: Decimal
    short: Decimal
    makes: int | None  # whole units this material alone allows at the split
    limiting: bool = False


@dataclass
class CanMake:
    units: Decimal
    location: Location | None
    rows: list[Availability]
    largest: int | None  # the most units that can be made now at this split

    @property
    def can_make(self) -> bool:
        return all(row.short == 0 for row in self.rows)


def usable_stock(items: list[Item], location: Location | None, today: date) -> dict[int, Decimal]:
    """{item id: quantity in usable lots at `location`}, in one query."""
    if location is None or not items:
        return {}
    rows = (
        Balance.objects.filter(
            usable_lot(today, prefix="lot__"),
            location=location,
            quantity__gt=0,
            lot__item__in=items,
        )
        .values("lot__item")
        .annotate(total=Sum("quantity"))
    )
    return {row["lot__item"]: row["total"] for row in rows}


def can_make(
    version: RecipeVersion,
    split: dict[int, Decimal],
    *,
    location: Location | None,
    today: date | None = None,
    lines=None,
) -> CanMake:
    """The requirement against usable stock at the production location: shortages, what each
    material alone allows, and the largest total that can be made now at this split."""
    today = today or workshop_today()
    need = requirement(version, split, lines)
    have = usable_stock([n.material.item for n in need.totals], location, today)
    rows = []
    for n in need.totals:
        stock = have.get(n.material.item_id, Decimal(0))
        makes = None
        if need.units and n.quantity:
            with localcontext(prec=60):
                makes = int((stock * need.units / n.quantity).to_integral_value(ROUND_DOWN))
        rows.append(
            Availability(
                material=n.material,
                need=n.quantity,
                have=stock,
                short=max(n.quantity - stock, Decimal(0)),
                makes=makes,
            )
        )
    limits = [row.makes for row in rows if row.makes is not None]
    largest = min(limits) if limits else None
    for row in rows:
        row.limiting = row.makes is not None and row.makes == largest
    rows.sort(key=lambda row: (row.short == 0, row.material.item.name))
    return CanMake(units=need.units, location=location, rows=rows, largest=largest)


# Cost estimate -----------------------------------------------------------------------------


@dataclass
class LineCost:
    line: RecipeLine
    quantity: Decimal  # in the material's unit
    cost: Decimal
    short: Decimal  # of `quantity`, costed at the last known cost for want of stock


@dataclass
class Estimate:
    units: Decimal
    effective_units: Decimal  # what the batch is expected to yield, from recent batches
    yield_ratio: Decimal
    lines: list[LineCost]
    per_stage: list[tuple[Stage | None, Decimal]]
    per_variant: dict[int, Decimal]  # variant id -> cost per unit
    total: Decimal
    comparison: list[tuple[Decimal, dict[int, Decimal]]] = field(default_factory=list)

    @property
    def any_short(self) -> bool:
        return any(c.short for c in self.lines)


def _stock_for_costing(items, location, today):
    """Usable lots at the location, first expiry first (the order the ledger draws in), and
    each item's last known cost: two queries."""
    lots: dict[int, list[list]] = {item.pk: [] for item in items}
    if location is not None and items:
        balances = (
            Balance.objects.filter(
                usable_lot(today, prefix="lot__"),
                location=location,
                quantity__gt=0,
                lot__item__in=items,
            )
            .order_by(
                "lot__item", F("lot__expiry_date").asc(nulls_last=True), "lot__received_on", "lot"
            )
            .values_list("lot__item", "quantity", "lot__unit_cost")
        )
        for item_id, quantity, unit_cost in balances:
            lots[item_id].append([quantity, unit_cost])
    last = Lot.objects.filter(item=OuterRef("pk"), voided_by__isnull=True).order_by(
        "-received_on", "-id"
    )
    last_costs = dict(
        Item.objects.filter(pk__in=[i.pk for i in items])
        .annotate(last=Subquery(last.values("unit_cost")[:1]))
        .values_list("pk", "last")
    )
    return lots, {pk: cost or Decimal(0) for pk, cost in last_costs.items()}


def _cost_lines(lines, split, standard_yield, lots, last_costs) -> list[LineCost]:
    pool = {item_id: [list(lot) for lot in item_lots] for item_id, item_lots in lots.items()}
    costs = []
    for line in lines:
        q = in_material_unit(line, line_quantity(line, split, standard_yield))
        remaining, cost = q, Decimal(0)
        for lot in pool.get(line.material.item_id, []):
            take = min(lot[0], remaining)
            if take > 0:
                cost += take * lot[1]
                lot[0] -= take
                remaining -= take
            if remaining == 0:
                break
        cost += remaining * last_costs.get(line.material.item_id, Decimal(0))
        costs.append(LineCost(line=line, quantity=q, cost=cost, short=remaining))
    return costs


def yield_ratio(version: RecipeVersion) -> Decimal:
    """What the recipe's recent batches made for each unit planned (1 until one is recorded)."""
    recent = list(
        AchievedYield.objects.filter(version__recipe_id=version.recipe_id).values_list(
            "planned", "achieved"
        )[:ACHIEVED_YIELDS_USED]
    )
    planned = sum((p for p, _ in recent), Decimal(0))
    achieved = sum((a for _, a in recent), Decimal(0))
    if not planned or not achieved:
        return Decimal(1)
    return achieved / planned


def _per_unit(costs, split, ratio) -> dict[int, Decimal]:
    """Cost per unit of each variant: the shared cost spread over every unit the batch is
    expected to make, plus the variant's own cost over its own units."""
    units = sum(split.values(), Decimal(0)) * ratio
    shared = sum((c.cost for c in costs if c.line.basis != Basis.PER_VARIANT_UNIT), Decimal(0))
    result = {}
    with localcontext(prec=60):
        for variant_id, planned in split.items():
            own_units = planned * ratio
            if not own_units:
                continue
            own = sum(
                (c.cost for c in costs if c.line.variant_id == variant_id),
                Decimal(0),
            )
            result[variant_id] = (shared / units + own / own_units).quantize(
                COST_QUANTUM, ROUND_HALF_UP
            )
    return result


def cost_estimate(
    version: RecipeVersion,
    split: dict[int, Decimal],
    *,
    location: Location | None,
    today: date | None = None,
    sizes=(Decimal("0.5"), Decimal(1), Decimal(2), Decimal(4)),
    lines=None,
) -> Estimate:
    """Cost per unit of each variant at today's stock costs: the lots a batch would draw first
    expiry first, the last known cost where stock is short (marked). Compared across batch
    sizes (half, 1x, 2x, 4x the standard yield) at the same proportions."""
    today = today or workshop_today()
    lines = version_lines(version) if lines is None else lines
    items = list({line.material.item_id: line.material.item for line in lines}.values())
    lots, last_costs = _stock_for_costing(items, location, today)
    ratio = yield_ratio(version)
    costs = _cost_lines(lines, split, version.standard_yield, lots, last_costs)
    per_stage: dict = {}
    for c in costs:
        stage = per_stage.setdefault(c.line.stage_id, [c.line.stage, Decimal(0)])
        stage[1] += c.cost
    units = sum(split.values(), Decimal(0))
    comparison = []
    for size in sizes:
        if not units:
            break
        target = version.standard_yield * size
        scaled = {v: q * target / units for v, q in split.items()}
        scaled_costs = _cost_lines(lines, scaled, version.standard_yield, lots, last_costs)
        comparison.append((plain(target), _per_unit(scaled_costs, scaled, ratio)))
    return Estimate(
        units=units,
        effective_units=(units * ratio).quantize(QUANTUM),
        yield_ratio=ratio,
        lines=costs,
        per_stage=[(stage, total.quantize(CENT)) for stage, total in per_stage.values()],
        per_variant=_per_unit(costs, split, ratio),
        total=sum((c.cost for c in costs), Decimal(0)).quantize(CENT, ROUND_HALF_UP),
        comparison=comparison,
    )


# Versions ----------------------------------------------------------------------------------


@dataclass
class LineChange:
    what: str  # "added", "removed", "changed"
    material: Material
    basis: str
    variant: Variant | None
    stage: str
    before: str = ""
    after: str = ""


def _line_key(line: RecipeLine):
    return (line.material_id, line.basis, line.variant_id, line.stage.name if line.stage else "")


def _amount(line: RecipeLine) -> str:
    text = f"{line.quantity.normalize():f} {line.unit}"
    return f"{text} ({line.percent.normalize():f} %)" if line.percent is not None else text


def _grouped(version: RecipeVersion) -> dict:
    """{key: (its first line, its amounts joined)}: a version may list a material twice."""
    groups: dict = {}
    for line in version_lines(version):
        groups.setdefault(_line_key(line), []).append(line)
    return {
        key: (lines[0], " + ".join(sorted(_amount(line) for line in lines)))
        for key, lines in groups.items()
    }


def version_diff(old: RecipeVersion, new: RecipeVersion) -> list[LineChange]:
    """Lines added, removed and changed (quantity or unit) from `old` to `new`."""
    before, after = _grouped(old), _grouped(new)
    changes = []
    for key, (line, amount) in after.items():
        if key not in before:
            changes.append(_change("added", line, after=amount))
        elif before[key][1] != amount:
            changes.append(_change("changed", line, before=before[key][1], after=amount))
    for key, (line, amount) in before.items():
        if key not in after:
            changes.append(_change("removed", line, before=amount))
    return changes


def _change(what, line, before="", after="") -> LineChange:
    return LineChange(
        what=what,
        material=line.material,
        basis=line.get_basis_display(),
        variant=line.variant,
        stage=line.stage.name if line.stage else "",
        before=before,
        after=after,
    )


# Labels ------------------------------------------------------------------------------------


def ingredient_list(
    version: RecipeVersion, variant: Variant, lines=None
) -> list[tuple[str, Decimal | None]]:
    """(label name, grams per unit) for one variant, heaviest first, materials with a label name
    only (packaging has none). A material measured by volume has no mass without a density: it
    is listed after them, its grams None, so the label still names it."""
    masses: dict[str, Decimal] = {}
    by_volume: dict[str, Decimal] = {}
    split = {variant.pk: Decimal(1)}
    for line in version_lines(version) if lines is None else lines:
        name = line.material.label_name
        if not name:
            continue
        if line.basis == Basis.PER_VARIANT_UNIT and line.variant_id != variant.pk:
            continue
        per_unit = line_quantity(line, split, version.standard_yield)
        if are_compatible(line.unit, Unit.G):
            masses[name] = masses.get(name, Decimal(0)) + convert(per_unit, line.unit, Unit.G)
        elif name not in masses:
            by_volume[name] = by_volume.get(name, Decimal(0)) + per_unit
    heaviest = sorted(masses.items(), key=lambda pair: (-pair[1], pair[0]))
    rest = sorted((n for n in by_volume if n not in masses), key=lambda n: (-by_volume[n], n))
    return heaviest + [(name, None) for name in rest]
