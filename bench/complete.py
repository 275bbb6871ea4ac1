"""Benchmark: how long completing a batch takes on PostgreSQL, against a floor of the same writes.

    DATABASE_URL=postgres:///loomworks python bench/complete.py [--batches 200]
        [--history 20000] [--profile] [--keep]

It makes its own world: 20 materials (every third of the first 15 lot-tracked, the scent oils
too), a candle in three scents and its one-stage recipe of 20 lines (15 per batch, 2 per unit
made, one per unit of each scent), and a 2-line recipe of another product for counting
statements. Then it bulk-loads (COPY) a history of `--history` completed batches, 8 a day:
each batch with its split, its stage and its lots (batches_batch, _batchvariant, _batchstage,
_batchlot, _batchevent, the achieved yield), its production posting with the inputs drawn
first-expiry-first from receipts of lots that ran out long ago (a draw now and then spanning
two lots), three output lots costed by the cost rule, the allocations, and the balances; the
saleable lots of all but the last week were sold by a daily dispatch. The loaded ledger obeys
the ledger's rules (balances are the sum of movements, production costs add up).

Then it completes `--batches` batches of the 20-line recipe (8 + 8 + 8 candles) through the
real service, `batches.services.stage_complete`, each side by side with its floor: the same
writes done as hand-written SQL over a raw psycopg connection (lock the batch and the balance
rows, insert the posting, the output lots, movements and balances, update the drawn balances,
insert the allocations and the batch's lots, update the stage, the split and the batch, insert
its events and its yield), alternating one service completion with one floor completion so
that a noisy machine slows both alike. Planning each batch (`batch_plan`), restocking the
bench and selling the candles a week's batches later as in the history (so the stock on hand
stays what a workshop keeps) are not timed.

It counts the SQL statements of one completion of the 2-line and of the 20-line recipe: they
must be equal. It compares the first 50 timed completions with the last 50: the cost must not
grow as the history does. `--profile` adds, for the service, the time in each SQL statement,
the time in each step of the service and of the engine, and a cProfile. The run ends with the
ledger check over everything written, history and floors included.

It works in its own fresh database (the DATABASE_URL name + "_bench"), made and dropped here,
so the workshop's data is never touched. The last line printed is one JSON object.
"""

import argparse
import cProfile
import io
import json
import os
import pstats
import statistics
import sys
import time
import uuid
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext
from functools import cached_property
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.posting import (  # noqa: E402  (the repository root is on sys.path only now)
    COST_QUANTUM,
    QUANTUM,
    analyze,
    count_statements,
    p95,
    raw_connection,
    recreate,
    split,
    values,
)

SPLIT = (Decimal(8), Decimal(8), Decimal(8))  # the timed batches: 24 candles, 8 of each scent
STANDARD_YIELD = Decimal(24)
SHELF_LIFE_DAYS = 365  # the candle's
PER_DAY = 8  # historic batches a day
SOLD_AFTER_DAYS = 7  # a historic batch's candles are sold a week after it was made
HISTORY_SPLITS = [  # each 24 candles, so the shared lines draw alike and the scents differ
    (Decimal(8), Decimal(8), Decimal(8)),
    (Decimal(12), Decimal(6), Decimal(6)),
    (Decimal(6), Decimal(6), Decimal(12)),
    (Decimal(10), Decimal(8), Decimal(6)),
]
HISTORY_LOT_DRAWS = Decimal(25)  # a historic delivery lasts about 25 batches
LOT_DRAWS = Decimal("2.5")  # a delivery in the timed run: 2 or 3 open lots a material
FIRST_WINDOW = 50  # the first and the last 50 completions are compared


# The world ---------------------------------------------------------------------------------


@dataclass
class Material:
    item: object  # stock.models.Item
    material: object  # materials.models.Material
    base_cost: Decimal


@dataclass
class RecipeSpec:
    """A recipe as the bench built it: its version and, per line, (material, basis, quantity
    in the material's unit, the variant a per-variant line is for)."""

    version: object
    variants: list
    lines: list  # (Material, basis, quantity, variant index or None)

    def needs(self, units) -> list[tuple[object, Decimal, int | None]]:
        """Per line: (item, quantity, own variant index or None), for a split of `units`,
        as a maker who changes nothing records them."""
        from recipes.models import Basis

        total = sum(units, Decimal(0))
        needs = []
        for m, basis, quantity, own in self.lines:
            if basis == Basis.PER_BATCH:
                q = quantity * total / STANDARD_YIELD
            elif basis == Basis.PER_UNIT:
                q = quantity * total
            else:
                q = quantity * units[own]
            needs.append((m.item, q.quantize(QUANTUM), own))
        return needs

    def uses(self, units):
        from batches.services import Use

        return [
            Use(item=item, quantity=q, variant=self.variants[own] if own is not None else None)
            for item, q, own in self.needs(units)
        ]

    def made(self, units):
        from batches.services import Made

        return [Made(variant=v, saleable=u) for v, u in zip(self.variants, units, strict=True)]

    @cached_property
    def planned(self) -> tuple[list, list]:
        """The uses and the made of a batch of SPLIT, made once, before any timing."""
        return self.uses(SPLIT), self.made(SPLIT)

    def draws(self, units) -> dict[int, Decimal]:
        taken = defaultdict(Decimal)
        for item, q, _ in self.needs(units):
            taken[item.pk] += q
        return taken


@dataclass
class World:
    location: object
    product: object
    materials: list[Material]
    candle: RecipeSpec  # 20 lines
    melt: RecipeSpec  # 2 lines, for counting statements
    left: dict = field(default_factory=dict)  # item pk -> usable stock not yet spoken for
    lots_made: int = 0
    shelf: deque = field(default_factory=deque)  # saleable lots on hand: (pk, units), oldest first

    def restock(self, ahead: Decimal = Decimal(2)) -> None:
        """Receive a lot of 2.5 completions' worth of every material with less than `ahead`
        completions' worth left, each expiring later than the last. Not timed."""
        from stock.engine import Line, posting_create
        from stock.models import PostingKind, workshop_today

        today = workshop_today()
        per_batch = self.candle.draws(SPLIT)
        lines = []
        for m in self.materials:
            need = per_batch[m.item.pk]
            while self.left.get(m.item.pk, Decimal(0)) < ahead * need:
                self.lots_made += 1
                size = (LOT_DRAWS * need).quantize(Decimal(1))
                self.left[m.item.pk] = self.left.get(m.item.pk, Decimal(0)) + size
                lines.append(
                    Line(
                        location=self.location,
                        quantity=size,
                        item=m.item,
                        lot_code=f"S{self.lots_made}",
                        expiry_date=(
                            today + timedelta(days=30 + self.lots_made)
                            if m.item.shelf_life_days
                            else None
                        ),
                        unit_cost=lot_cost(m, self.lots_made),
                    )
                )
        if lines:
            posting_create(
                kind=PostingKind.RECEIPT, lines=lines, user=None, idempotency_key=uuid.uuid4().hex
            )

    def shelve(self, lots, units=SPLIT) -> None:
        """The saleable lots a completion made (lots or their primary keys)."""
        for lot, u in zip(lots, units, strict=True):
            self.shelf.append((getattr(lot, "pk", lot), u))

    def sell(self) -> None:
        """The market, as in the history: what is older than a week's batches is sold, a
        day's worth at a time, so the stock on hand stays what a workshop keeps. Not timed."""
        from stock.engine import Line, posting_create
        from stock.models import Lot, PostingKind

        keep = SOLD_AFTER_DAYS * PER_DAY * len(SPLIT)
        if len(self.shelf) < keep + PER_DAY * len(SPLIT):
            return
        sold = [self.shelf.popleft() for _ in range(len(self.shelf) - keep)]
        lots = Lot.objects.select_related("item").in_bulk([pk for pk, _ in sold])
        posting_create(
            kind=PostingKind.DISPATCH,
            lines=[Line(location=self.location, quantity=-u, lot=lots[pk]) for pk, u in sold],
            user=None,
            idempotency_key=uuid.uuid4().hex,
        )

    def spend(self, recipe: RecipeSpec, units=SPLIT) -> None:
        for pk, q in recipe.draws(units).items():
            self.left[pk] -= q

    def plan(self, recipe: RecipeSpec, units=SPLIT):
        """A planned batch, with the stock it needs on the bench. Not timed."""
        from batches.services import batch_plan
        from stock.models import workshop_today

        self.sell()
        self.restock()
        self.spend(recipe, units)
        return batch_plan(
            version=recipe.version,
            split=dict(zip(recipe.variants, units, strict=True)),
            production_date=workshop_today(),
            user=None,
            idempotency_key=uuid.uuid4().hex,
        )


def lot_cost(m: Material, n: int) -> Decimal:
    """Prices move a little from one delivery to the next."""
    return (m.base_cost * (1 + Decimal(n % 5) / 20)).quantize(COST_QUANTUM)


def make_world() -> World:
    """The candle and the wax melt, their materials and recipes, through the services."""
    from materials.services import material_create
    from recipes import services as recipes
    from recipes.models import Basis
    from stock.models import Location

    location = Location.objects.create(name="Workshop bench")
    specs = [
        (f"MAT-{i + 1:02d}", f"Material {i + 1:02d}", "g", i % 3 == 0, Decimal("0.004") * (i + 1))
        for i in range(15)
    ]
    specs += [
        ("JAR-8OZ", "Amber jar 8 oz", "each", False, Decimal("0.85")),
        ("LID-70", "Gold lid 70 mm", "each", False, Decimal("0.25")),
        ("OIL-LAV", "Lavender oil", "g", True, Decimal("0.12")),
        ("OIL-CED", "Cedar oil", "g", True, Decimal("0.09")),
        ("OIL-ROS", "Rose oil", "g", True, Decimal("0.31")),
    ]
    materials = []
    for sku, name, unit, tracked, cost in specs:
        material = material_create(
            sku=sku,
            name=name,
            unit=unit,
            lot_tracked=tracked,
            shelf_life_days=540 if tracked else None,
        )
        materials.append(Material(item=material.item, material=material, base_cost=cost))

    def recipe(name, code, skus, lines) -> tuple[object, RecipeSpec]:
        product = recipes.product_create(
            name=name, code=code, shelf_life_days=SHELF_LIFE_DAYS, variants=skus
        )
        variants = list(product.variants.order_by("position"))
        version = recipes.recipe_create(product=product, name=name, standard_yield=STANDARD_YIELD)
        for m, basis, quantity, own in lines:
            recipes.line_add(
                version=version,
                material=m.material,
                quantity=quantity,
                unit=m.item.unit,
                basis=basis,
                variant=variants[own] if own is not None else None,
            )
        return product, RecipeSpec(version=version, variants=variants, lines=lines)

    scents = [("Lavender", "CND-LAV"), ("Cedar", "CND-CED"), ("Rose", "CND-ROS")]
    lines = [(materials[i], Basis.PER_BATCH, Decimal(24 * (i + 1)), None) for i in range(15)]
    lines += [(materials[i], Basis.PER_UNIT, Decimal(1), None) for i in (15, 16)]
    lines += [(materials[17 + v], Basis.PER_VARIANT_UNIT, Decimal(10), v) for v in range(3)]
    product, candle = recipe("Soy candle", "cnd", scents, lines)
    _, melt = recipe(
        "Wax melt",
        "wxm",
        [(n, s.replace("CND", "WXM")) for n, s in scents],
        [lines[0], lines[17]],
    )
    recipes.version_freeze(version=candle.version)
    return World(location=location, product=product, materials=materials, candle=candle, melt=melt)


# The cost rule, for the history and the floor -----------------------------------------------

_SHARES: dict = {}


def shares(take: Decimal, value: Decimal, own: int | None, weights) -> list:
    """One drawn lot's (output, quantity, cost) shares: a variant's own input all to that
    variant's lot; a shared input's cost by the outputs' weights, its quantity by those
    costs (the ledger's rule with no fixed values and no losses)."""
    key = (take, value, own, weights)
    if key not in _SHARES:
        if own is not None:
            _SHARES[key] = [(own, take, value)]
        else:
            costs = split(value, list(weights), COST_QUANTUM)
            quantities = split(take, costs, QUANTUM)
            _SHARES[key] = list(zip(range(len(weights)), quantities, costs, strict=True))
    return _SHARES[key]


def cost_outputs(draws, units, made_on: date):
    """Allocations (draw, output, quantity, cost) and, per output, (unit cost, expiry): the
    value allocated over the units, and the product's shelf life capped by the earliest lot
    that went into it. `draws` are (line, lot, take, unit cost, value, own, expiry)."""
    allocations = []
    totals = [Decimal(0)] * len(units)
    caps = [made_on + timedelta(days=SHELF_LIFE_DAYS)] * len(units)
    for n, (_, _, take, _, value, own, expiry) in enumerate(draws):
        for t, q, c in shares(take, value, own, units):
            totals[t] += c
            allocations.append((n, t, q, c))
            if expiry is not None and expiry < caps[t]:
                caps[t] = expiry
    with localcontext(prec=60):
        costs = [
            (v / u).quantize(COST_QUANTUM, ROUND_HALF_UP)
            for v, u in zip(totals, units, strict=True)
        ]
    return allocations, list(zip(costs, caps, strict=True))


def suffix(variant) -> str:
    return variant.item.sku.rsplit("-", 1)[-1].upper()[:8]


# The history, bulk-loaded -------------------------------------------------------------------

COLUMNS = {
    "stock_posting": "id, kind, reference, reason, note, created_at, idempotency_key, "
    "created_by_id, reverses_id, fingerprint, owner, owner_ref",
    "stock_lot": "id, code, expiry_date, unit_cost, received_on, quarantined, quarantine_note, "
    "created_at, item_id, created_by_posting_id, voided_by_id",
    "stock_movement": "id, quantity, unit_cost, location_id, lot_id, posting_id, line",
    "stock_balance": "id, quantity, location_id, lot_id",
    "stock_allocation": "id, quantity, cost, movement_id, output_lot_id, posting_id",
    "batches_batch": "id, reference, planned_units, status, production_date, "
    "expected_completion, ready_on, notes, short, stages_done, plan_key, created_at, "
    "completed_on, created_by_id, location_id, product_id, version_id",
    "batches_batchvariant": "id, planned, made, rejected, in_progress, batch_id, variant_id",
    "batches_batchstage": "id, position, name, duration_days, expected_loss_percent, done_at, "
    "note, batch_id, done_by_id, output_item_id, posting_id, recipe_stage_id",
    "batches_batchlot": "id, role, stage, batch_id, lot_id, variant_id",
    "batches_batchevent": "id, kind, stage_name, note, at, batch_id, posting_id, user_id",
    "recipes_achievedyield": "id, planned, achieved, reference, recorded_at, version_id",
}


class Rows:
    """Rows to COPY, each table's ids following what the table holds already."""

    def __init__(self, cur):
        self.rows = {table: [] for table in COLUMNS}
        self.next = {}
        for table in COLUMNS:
            cur.execute(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {table}")
            self.next[table] = cur.fetchone()[0]

    def add(self, table: str, *row) -> int:
        pk = self.next[table]
        self.next[table] += 1
        self.rows[table].append((pk, *row))
        return pk

    def copy(self, cur) -> None:
        for table, rows in self.rows.items():
            with cur.copy(f"COPY {table} ({COLUMNS[table]}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            cur.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT MAX(id) FROM {table}))"
            )


def load_history(conn, w: World, batches: int) -> dict[str, int]:
    """`batches` completed batches of the candle, 8 a day up to yesterday, with the receipts
    they drew from and the dispatches that sold them, COPYed in one transaction."""
    from stock.models import workshop_today

    cur = conn.cursor()
    rows = Rows(cur)
    add = rows.add
    loc, recipe = w.location.pk, w.candle
    product, version = w.product.pk, recipe.version.pk
    variants = [(v.pk, v.item.pk, suffix(v)) for v in recipe.variants]
    by_item = {m.item.pk: m for m in w.materials}
    lot_size = {
        pk: (HISTORY_LOT_DRAWS * q).quantize(Decimal(1)) for pk, q in recipe.draws(SPLIT).items()
    }
    days = -(-batches // PER_DAY)
    first = workshop_today() - timedelta(days=days + 1)
    open_lots = defaultdict(deque)  # item pk -> [lot id, left, unit cost, expiry], oldest first
    left = defaultdict(Decimal)
    delivered = Counter()
    balances = {}  # lot id -> quantity at the bench
    made_on = defaultdict(list)  # day -> the saleable lots made that day: (lot, quantity, cost)
    done = 0
    for day in range(days):
        d = first + timedelta(days=day)
        morning = datetime(d.year, d.month, d.day, 8, tzinfo=UTC)
        receipt, receipt_lines = None, 0
        for seq in range(1, PER_DAY + 1):
            if done == batches:
                break
            units = HISTORY_SPLITS[done % len(HISTORY_SPLITS)]
            at = morning + timedelta(minutes=50 * seq)
            needs = recipe.needs(units)
            for item, q, _ in needs:  # the morning's delivery, when something runs short
                while left[item.pk] < q:
                    if receipt is None:
                        receipt = add(
                            "stock_posting",
                            "receipt",
                            f"Delivery of {d:%d %b %Y}",
                            "",
                            "",
                            morning,
                            f"history-receipt-{day}",
                            None,
                            None,
                            "",
                            "",
                            "",
                        )
                    delivered[item.pk] += 1
                    n = delivered[item.pk]
                    size = lot_size[item.pk] / (2 if n == 1 else 1)
                    cost = lot_cost(by_item[item.pk], n)
                    life = item.shelf_life_days
                    expiry = d + timedelta(days=life) if life else None
                    lot = add(
                        "stock_lot",
                        f"H{n:05d}",
                        expiry,
                        cost,
                        d,
                        False,
                        "",
                        morning,
                        item.pk,
                        receipt,
                        None,
                    )
                    add("stock_movement", size, cost, loc, lot, receipt, receipt_lines)
                    receipt_lines += 1
                    balances[lot] = size
                    open_lots[item.pk].append([lot, size, cost, expiry])
                    left[item.pk] += size
            reference = f"{w.product.code}-{d:%y%m%d}-{seq:02d}"
            posting = add(
                "stock_posting",
                "production",
                f"{reference} Make",
                "",
                "",
                at,
                f"history-{done}",
                None,
                None,
                "",
                "batches",
                reference,
            )
            batch = add(
                "batches_batch",
                reference,
                sum(units, Decimal(0)),
                "completed",
                d,
                d,
                None,
                "",
                False,
                1,
                None,
                at - timedelta(hours=2),
                d,
                None,
                loc,
                product,
                version,
            )
            draws = []  # first expiry first: the oldest open lot
            for line, (item, q, own) in enumerate(needs):
                need, lots = q, open_lots[item.pk]
                left[item.pk] -= q
                while need:
                    entry = lots[0]
                    take = min(entry[1], need)
                    entry[1] -= take
                    need -= take
                    balances[entry[0]] -= take
                    value = (take * entry[2]).quantize(COST_QUANTUM, ROUND_HALF_UP)
                    draws.append((line, entry[0], take, entry[2], value, own, entry[3]))
                    if not entry[1]:
                        lots.popleft()
            allocations, outputs = cost_outputs(draws, units, d)
            movement_ids = [
                add("stock_movement", -take, cost, loc, lot, posting, line)
                for line, lot, take, cost, _, _, _ in draws
            ]
            output_lots = []
            for n, ((variant, item, tail), u, (cost, expiry)) in enumerate(
                zip(variants, units, outputs, strict=True)
            ):
                lot = add(
                    "stock_lot",
                    f"{reference}-{tail}",
                    expiry,
                    cost,
                    d,
                    False,
                    "",
                    at,
                    item,
                    posting,
                    None,
                )
                add("stock_movement", u, cost, loc, lot, posting, len(needs) + n)
                add("batches_batchvariant", u, u, 0, 0, batch, variant)
                add("batches_batchlot", "saleable", 0, batch, lot, variant)
                balances[lot] = u
                output_lots.append(lot)
                made_on[day].append((lot, u, cost))
            for n, t, q, c in allocations:
                add("stock_allocation", q, c, movement_ids[n], output_lots[t], posting)
            add("batches_batchstage", 0, "Make", 0, 0, at, "", batch, None, None, posting, None)
            for kind, when, by in (
                ("planned", at - timedelta(hours=2), None),
                ("started", at, None),
                ("completed", at, posting),
            ):
                add("batches_batchevent", kind, "", "", when, batch, by, None)
            total = sum(units, Decimal(0))
            add("recipes_achievedyield", total, total, reference, at, version)
            done += 1
        sold = made_on.pop(day - SOLD_AFTER_DAYS, [])
        if sold:  # the market: a week's old candles, sold out
            evening = morning + timedelta(hours=10)
            dispatch = add(
                "stock_posting",
                "dispatch",
                f"Market of {d:%d %b %Y}",
                "",
                "",
                evening,
                f"history-dispatch-{day}",
                None,
                None,
                "",
                "",
                "",
            )
            for line, (lot, u, cost) in enumerate(sold):
                add("stock_movement", -u, cost, loc, lot, dispatch, line)
                balances[lot] = Decimal(0)
    for lot, quantity in balances.items():
        add("stock_balance", quantity, loc, lot)
    rows.copy(cur)
    conn.commit()
    return {table: len(r) for table, r in rows.rows.items()}


# The floor ----------------------------------------------------------------------------------


@dataclass
class FloorBatch:
    id: int
    stage_id: int
    splits: list  # (BatchVariant id, Variant, planned units), in the variants' order


def plan_floor(w: World) -> FloorBatch:
    """A batch planned through the service, as the service's are, for the floor to complete.
    Not timed."""
    from batches.models import BatchVariant

    batch = w.plan(w.candle)
    by_pk = {v.pk: v for v in w.candle.variants}
    splits = [
        (pk, by_pk[variant_id], planned)
        for pk, variant_id, planned in BatchVariant.objects.filter(batch=batch).values_list(
            "id", "variant_id", "planned"
        )
    ]
    return FloorBatch(id=batch.pk, stage_id=batch.stages.get().pk, splits=splits)


FLOOR_POSTING = (
    "INSERT INTO stock_posting (kind, reference, reason, note, created_by_id, created_at, "
    "idempotency_key, fingerprint, reverses_id, owner, owner_ref) "
    "VALUES ('production', %s, '', '', NULL, %s, %s, 'floor', NULL, 'batches', %s) RETURNING id"
)
LOT_ROW = "(%s, %s, %s, %s, false, '', %s, %s, %s, NULL)"
BATCH_LOT_ROW = "('saleable', 0, %s, %s, %s)"


def complete_floor(conn, w: World, fb: FloorBatch, today: date) -> list[int]:
    """What completing the batch writes, by hand: lock the batch and the candidate balances,
    the posting, output lots, movements, the outputs' balances, the drawn balances,
    allocations, the batch's lots, its stage, split, status, events and yield; commit."""
    from django.utils import timezone

    cur = conn.cursor()
    location_id = w.location.pk
    cur.execute("SELECT reference FROM batches_batch WHERE id = %s FOR UPDATE", [fb.id])
    (reference,) = cur.fetchone()
    units = tuple(planned for _, _, planned in fb.splits)
    needs = w.candle.needs(units)
    cur.execute(
        "SELECT b.id, b.lot_id, b.quantity, l.item_id, l.unit_cost, l.expiry_date, l.received_on "
        "FROM stock_balance b JOIN stock_lot l ON l.id = b.lot_id "
        "WHERE l.item_id = ANY(%s) AND b.location_id = %s AND b.quantity > 0 "
        "AND NOT l.quarantined AND l.voided_by_id IS NULL "
        "AND (l.expiry_date IS NULL OR l.expiry_date >= %s) ORDER BY b.id FOR UPDATE OF b",
        [[item.pk for item, _, _ in needs], location_id, today],
    )
    by_item = defaultdict(list)
    for row in cur.fetchall():
        by_item[row[3]].append(row)
    now = timezone.now()
    cur.execute(FLOOR_POSTING, [f"{reference} Make", now, uuid.uuid4().hex, reference])
    (posting_id,) = cur.fetchone()

    draws, balances = [], []  # draws: (line, lot, take, unit cost, value, own, expiry)
    for line, (item, need, own) in enumerate(needs):
        rows = sorted(by_item[item.pk], key=lambda r: (r[5] is None, r[5], r[6], r[1]))
        for pk, lot_id, quantity, _, cost, expiry, _ in rows:
            take = min(quantity, need)
            need -= take
            balances += [pk, quantity - take]
            value = (take * cost).quantize(COST_QUANTUM, ROUND_HALF_UP)
            draws.append((line, lot_id, take, cost, value, own, expiry))
            if not need:
                break
    allocations, outputs = cost_outputs(draws, units, today)

    cur.execute(
        "INSERT INTO stock_lot (code, expiry_date, unit_cost, received_on, quarantined, "
        "quarantine_note, created_at, item_id, created_by_posting_id, voided_by_id) "
        f"VALUES {values(len(units), LOT_ROW)} RETURNING id",
        [
            v
            for (_, variant, _), (cost, expiry) in zip(fb.splits, outputs, strict=True)
            for v in (
                f"{reference}-{suffix(variant)}",
                expiry,
                cost,
                today,
                now,
                variant.item.pk,
                posting_id,
            )
        ],
    )
    lot_ids = [row[0] for row in cur.fetchall()]
    movements = []
    for line, lot_id, take, cost, _, _, _ in draws:
        movements += [posting_id, lot_id, location_id, -take, cost, line]
    for n, (lot_id, u, (cost, _)) in enumerate(zip(lot_ids, units, outputs, strict=True)):
        movements += [posting_id, lot_id, location_id, u, cost, len(needs) + n]
    cur.execute(
        "INSERT INTO stock_movement (posting_id, lot_id, location_id, quantity, unit_cost, line) "
        f"VALUES {values(len(movements) // 6, '(%s, %s, %s, %s, %s, %s)')} RETURNING id",
        movements,
    )
    movement_ids = [row[0] for row in cur.fetchall()]
    cur.execute(
        "INSERT INTO stock_balance (lot_id, location_id, quantity) "
        f"VALUES {values(len(units), '(%s, %s, %s)')}",
        [v for lot_id, u in zip(lot_ids, units, strict=True) for v in (lot_id, location_id, u)],
    )
    cur.execute(
        "UPDATE stock_balance AS b SET quantity = v.quantity "
        f"FROM (VALUES {values(len(balances) // 2, '(%s::bigint, %s::numeric)')}) "
        "AS v(id, quantity) WHERE b.id = v.id",
        balances,
    )
    cur.execute(
        "INSERT INTO stock_allocation (posting_id, movement_id, output_lot_id, quantity, cost) "
        f"VALUES {values(len(allocations), '(%s, %s, %s, %s, %s)')}",
        [v for n, t, q, c in allocations for v in (posting_id, movement_ids[n], lot_ids[t], q, c)],
    )
    cur.execute(
        "INSERT INTO batches_batchlot (role, stage, batch_id, lot_id, variant_id) "
        f"VALUES {values(len(units), BATCH_LOT_ROW)}",
        [
            v
            for lot_id, (_, variant, _) in zip(lot_ids, fb.splits, strict=True)
            for v in (fb.id, lot_id, variant.pk)
        ],
    )
    cur.execute(
        "UPDATE batches_batchstage SET posting_id = %s, done_at = %s WHERE id = %s",
        [posting_id, now, fb.stage_id],
    )
    cur.execute(
        "UPDATE batches_batchvariant AS s SET made = v.made "
        f"FROM (VALUES {values(len(units), '(%s::bigint, %s::numeric)')}) AS v(id, made) "
        "WHERE s.id = v.id",
        [v for pk, _, planned in fb.splits for v in (pk, planned)],
    )
    cur.execute(
        "UPDATE batches_batch SET status = 'completed', stages_done = 1, completed_on = %s, "
        "ready_on = NULL WHERE id = %s",
        [today, fb.id],
    )
    cur.execute(
        "INSERT INTO batches_batchevent (kind, stage_name, note, at, batch_id, posting_id, "
        "user_id) VALUES ('started', '', '', %s, %s, NULL, NULL), "
        "('completed', '', '', %s, %s, %s, NULL)",
        [now, fb.id, now, fb.id, posting_id],
    )
    total = sum(units, Decimal(0))
    cur.execute(
        "INSERT INTO recipes_achievedyield (planned, achieved, reference, recorded_at, "
        "version_id) VALUES (%s, %s, %s, %s, %s)",
        [total, total, reference, now, w.candle.version.pk],
    )
    conn.commit()
    return lot_ids


# Measuring ---------------------------------------------------------------------------------


def complete(w: World, recipe: RecipeSpec, batch, *, shelve: bool = True):
    """Complete a planned batch through the service; its candles go on the shelf."""
    from batches.services import stage_complete

    uses, made = recipe.planned
    done = stage_complete(
        batch=batch,
        position=0,
        uses=uses,
        made=made,
        user=None,
        idempotency_key=uuid.uuid4().hex,
    )
    if shelve:
        w.shelve(done.result.outputs)
    return done


def side_by_side(rounds: int, service, floor, prepare, after) -> tuple[list, list]:
    """Time `service` and `floor` alternately, `rounds` times each, in the order they ran; each
    is handed what `prepare(side)` planned for it and its result goes to `after`, both
    untimed, and a periodic ANALYZE runs untimed."""
    timings = ([], [])
    for n in range(rounds):
        if n % 50 == 0:
            analyze()  # as autovacuum would, in a run too short for it
        for side, run in enumerate((service, floor)):
            planned = prepare(side)
            start = time.perf_counter()
            result = run(planned)
            timings[side].append((time.perf_counter() - start) * 1000)
            after(result)
    return timings


SERVICE_STEPS = [  # (module or class in batches.services, function): timed by --profile
    (None, "_locked"),
    (None, "_start"),
    (None, "_standing_lots"),
    (None, "_wip_item"),
    ("_Production", "finish"),
    (None, "posting_create"),
    ("_Production", "record_lots"),
    (None, "_complete"),
    (None, "_record_yield"),
    (None, "_event"),
]


def profile(w: World, times: int) -> None:
    """Of `times` completions through the service each (planning not included): the time in
    each kind of SQL statement and the share of cursor.execute, the time in each step of the
    service and of the engine (inclusive), and a cProfile."""
    import re

    from django.db import connection

    from batches import services
    from bench.posting import ENGINE_STEPS
    from stock import engine

    def each(run) -> float:
        total = 0.0
        for _ in range(times):
            batch = w.plan(w.candle)
            start = time.perf_counter()
            done = run(batch)
            total += time.perf_counter() - start
            w.shelve(done.result.outputs)
        return total

    spent = defaultdict(lambda: [0, 0.0])

    def timed_sql(execute, sql, params, many, context):
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            shape = re.sub(r'"s\d+_x\d+"', '"..."', " ".join(sql.split()))[:100]
            spent[shape][0] += 1
            spent[shape][1] += time.perf_counter() - start

    def run_sql(batch):
        with connection.execute_wrapper(timed_sql):
            return complete(w, w.candle, batch, shelve=False)

    total = each(run_sql)
    executed = sum(seconds for _, seconds in spent.values())
    print(
        f"\nService completion: {total / times * 1000:.2f} ms, of which "
        f"{executed / times * 1000:.2f} ms in cursor.execute ({executed / total:.0%}; "
        "COMMIT not included); the rest is Python"
    )
    print("  ms per completion, statements per completion, statement:")
    for shape, (count, seconds) in sorted(spent.items(), key=lambda kv: -kv[1][1]):
        print(f"  {seconds / times * 1000:7.3f}  x{count / times:3.1f}  {shape}")

    steps = defaultdict(float)

    def timed(name, fn):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                steps[name] += time.perf_counter() - start

        return wrapper

    saved = [
        (services, name, getattr(services, name)) for owner, name in SERVICE_STEPS if not owner
    ]
    saved += [
        (services._Production, name, getattr(services._Production, name))
        for owner, name in SERVICE_STEPS
        if owner
    ]
    saved += [(engine, name, getattr(engine, name)) for name in ENGINE_STEPS]
    for owner, name, fn in saved:
        setattr(owner, name, timed(name if owner is not engine else f"engine.{name}", fn))
    connection.ensure_connection()
    connection.commit = timed("COMMIT", connection.commit)
    try:
        total = each(lambda batch: complete(w, w.candle, batch, shelve=False))
    finally:
        for owner, name, fn in saved:
            setattr(owner, name, fn)
        del connection.commit
    print(f"\nService completion: {total / times * 1000:.2f} ms; steps (ms, inclusive):")
    for name, seconds in sorted(steps.items(), key=lambda kv: -kv[1]):
        print(f"  {seconds / times * 1000:7.3f}  {name}")

    profiler = cProfile.Profile()

    def run_profiled(batch):
        profiler.enable()
        try:
            return complete(w, w.candle, batch, shelve=False)
        finally:
            profiler.disable()

    each(run_profiled)
    for order in ("tottime", "cumulative"):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(30)
        print(f"--- service completion, by {order} ---")
        print("\n".join(out.getvalue().splitlines()[6:]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--history", type=int, default=20_000)
    parser.add_argument("--profile", action="store_true", help="profile the service")
    parser.add_argument("--keep", action="store_true", help="keep the bench database afterwards")
    args = parser.parse_args()

    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        sys.exit("bench/complete.py measures PostgreSQL: set DATABASE_URL=postgres://...")
    from bench.posting import bench_database_url

    name, bench_url = bench_database_url(url)
    recreate(url, name)
    os.environ["DATABASE_URL"] = bench_url
    os.environ.setdefault("SECRET_KEY", "bench-only-not-secret")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "loomworks.settings")

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from stock.models import Balance, ItemKind, workshop_today

    call_command("migrate", verbosity=0)
    floor_conn = raw_connection(bench_url)

    started = time.perf_counter()
    world = make_world()
    loaded = load_history(floor_conn, world, args.history)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")  # a database in use has been vacuumed
    load_seconds = time.perf_counter() - started
    on_hand = Balance.objects.filter(quantity__gt=0).order_by("lot_id")
    for pk, quantity in on_hand.filter(lot__item__kind=ItemKind.MATERIAL).values_list(
        "lot__item_id", "quantity"
    ):  # what the last deliveries of the history left
        world.left[pk] = world.left.get(pk, Decimal(0)) + quantity
    world.shelf.extend(  # the history's last week of candles
        on_hand.filter(lot__item__kind=ItemKind.VARIANT).values_list("lot_id", "quantity")
    )
    print(
        f"Loaded a history of {loaded['batches_batch']:,} batches in {load_seconds:.0f} s: "
        f"{loaded['stock_posting']:,} postings, {loaded['stock_movement']:,} movements, "
        f"{loaded['stock_lot']:,} lots, {loaded['stock_allocation']:,} allocations, "
        f"{loaded['stock_balance']:,} balances."
    )

    # Statements of one completion, once each recipe has completed a batch (the first makes
    # the product's work-in-progress item).
    for recipe in (world.melt, world.candle):
        complete(world, recipe, world.plan(recipe))
    melt, candle = world.plan(world.melt), world.plan(world.candle)
    statements_2 = count_statements(lambda: complete(world, world.melt, melt))
    statements_20 = count_statements(
        lambda: complete(world, world.candle, candle), show=args.profile
    )

    today = workshop_today()

    def prepare(side: int):
        return world.plan(world.candle) if side == 0 else plan_floor(world)

    def service(batch):
        return complete(world, world.candle, batch, shelve=False).result.outputs

    def floor(fb: FloorBatch) -> list[int]:
        return complete_floor(floor_conn, world, fb, today)

    for rounds in (5, args.batches):  # warm up connections and plans, then measure
        ran, floor_ran = side_by_side(rounds, service, floor, prepare, world.shelve)

    if args.profile:
        profile(world, 50)

    floor_conn.close()
    from stock.checks import ledger_violations

    problems = ledger_violations()  # the history's and the floors' rows obey the rules too
    for problem in problems[:10]:
        print(f"  ledger: {problem}")
    connection.close()
    if problems:
        sys.exit(f"The bench database {name} breaks the ledger's rules: kept for a look.")
    if not args.keep:
        recreate(url, name, create=False)

    timings, floor_timings = sorted(ran), sorted(floor_ran)
    median, floor_median = statistics.median(timings), statistics.median(floor_timings)
    window = min(FIRST_WINDOW, len(ran) // 2)
    first_median = statistics.median(ran[:window])
    last_median = statistics.median(ran[-window:])
    floor_first = statistics.median(floor_ran[:window])  # noise shows in the floor's too
    floor_last = statistics.median(floor_ran[-window:])
    print(
        f"\nCompleted {args.batches} batches of a 20-line, 3-variant recipe on PostgreSQL "
        f"({name}), over a history of {args.history:,} batches."
    )
    print(f"  service:    median {median:.2f} ms   p95 {p95(timings):.2f} ms")
    print(f"  its floor:  median {floor_median:.2f} ms   p95 {p95(floor_timings):.2f} ms")
    print(f"  ratio {median / floor_median:.2f}   (target: at most 3)")
    print(
        f"  SQL statements: {statements_2} for 2 lines, {statements_20} for 20 lines "
        "(target: no more for 20)"
    )
    print(
        f"  first {window}: median {first_median:.2f} ms   last {window}: median "
        f"{last_median:.2f} ms   ({last_median / first_median - 1:+.0%}; target: at most +20 %)"
    )
    print(
        f"  its floor:  first {window}: median {floor_first:.2f} ms   last {window}: median "
        f"{floor_last:.2f} ms   ({floor_last / floor_first - 1:+.0%}: what the machine did)"
    )
    print(
        json.dumps(
            {
                "median_ms": round(median, 3),
                "p95_ms": round(p95(timings), 3),
                "floor_median_ms": round(floor_median, 3),
                "ratio": round(median / floor_median, 2),
                "statements_2_lines": statements_2,
                "statements_20_lines": statements_20,
                "first_50_median_ms": round(first_median, 3),
                "last_50_median_ms": round(last_median, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
