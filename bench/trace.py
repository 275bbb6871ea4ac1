"""Benchmark: traceability and the main list pages over a ledger of a million movements.

    DATABASE_URL=postgres:///loomworks python bench/trace.py [--batches 27000] [--runs 7] [--keep]

It makes its own world through the services (two locations, 22 materials from four suppliers,
six products of three scents each, two of them made in two stages through a semi-finished item,
their recipes, an Owner), then bulk-loads (COPY) years of history, a day at a time:

- deliveries: a receipt posting (with its Receipt and lines) into the storage shelves whenever a
  material runs short, and the same morning a transfer of those lots to the bench; scent oils
  and lye are lot-tracked and expire; cotton wicks come in cases that last some 300 batches;
- batches: each stage one production posting owned by the batch, its inputs drawn
  first-expiry-first from the open lots at the bench (a draw now and then spanning two lots),
  shared inputs allocated to every variant's lot by saleable units and a scent only to its own
  variant's lot (the ledger's cost rule, to the ledger's places), a rejected candle now and
  then as a loss; soap and bath bombs go through a semi-finished lot (soap cures for weeks, so
  the last batches are still running), with the batch's rows (split, stages, lots, events,
  achieved yield);
- dispatches: a week after a batch, its units are sold, a customer at a time (mostly one to
  three lines of a unit or three, now and then a shop's order of a dozen each), each order a
  Dispatch with its lines and one dispatch posting; a few orders are cancelled (a reversal:
  the units go back on the shelf and are sold the next day); now and then a damaged candle or
  a spill is written off (an adjustment).

Balances are the sum of each lot's movements at each place. Then ANALYZE, and the ledger check
(check_ledger's own functions) over all of it: it must pass.

Then it times, median of `--runs` after a warm-up, each run beside one of its floor so that a
noisy machine slows both alike, from the busiest material lot (the one the
most batches drew from; it must have fed at least 200 batches and reach 2,000 dispatches):

- `forward_trace` and `recall` from it, and `backward_trace` from the newest saleable lot of a
  two-stage product (soap, bath bombs: back through the semi-finished lot to the deliveries),
  through stock/trace.py;
- their floors: the same recursive SQL (stock/trace.py's own text) over a raw psycopg
  connection, fetching every row: FORWARD_EDGES_SQL then RECALL_SQL for the forward trace (it
  runs both), BACKWARD_EDGES_SQL, RECALL_SQL. `trace_ratio` is the worst of the three ratios;
- EXPLAIN ANALYZE of the three recursive queries, and the indexes they need;
- the main list pages through Django's test client, signed in as an Owner: materials, on hand,
  postings, batches, the busy lot's page and the dashboard, each with its SQL statements; and
  the trace pages (forward, backward, recall) beside them, outside the pages' figures.

It works in its own fresh database (the DATABASE_URL name + "_bench"), made and dropped here,
so the workshop's data is never touched. The last line printed is one JSON object.
"""

import argparse
import json
import os
import random
import re
import statistics
import sys
import time
import warnings
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.posting import (  # noqa: E402  (the repository root is on sys.path only now)
    bench_database_url,
    raw_connection,
    recreate,
)

Q = 10**6  # quantities are kept as integers of millionths (the ledger's six places)
C = 10**10  # unit costs and values as integers of ten-billionths (its ten places)
PER_DAY = 24  # batches a day
SELL_AFTER_DAYS = 7  # a batch's units are sold from a week after it was made
SHELF_LIFE_DAYS = 365  # the products'
CUSTOMERS = 8000
SHOPS = 40  # wholesale customers
WHOLESALE = 0.03  # of orders
CANCELLED = 0.004  # of orders, reversed the same evening
SEED = 20261202

TARGETS = {"trace_ms": 100, "trace_ratio": 2.0, "page_ms": 150, "page_queries": 20}


def fq(n: int) -> str:
    """An integer of millionths as the ledger's decimal text."""
    sign = "-" if n < 0 else ""
    n = abs(n)
    return f"{sign}{n // Q}.{n % Q:06d}"


def fc(n: int) -> str:
    """An integer of ten-billionths as a unit cost's decimal text."""
    sign = "-" if n < 0 else ""
    n = abs(n)
    return f"{sign}{n // C}.{n % C:010d}"


def value_of(take_q: int, cost_c: int) -> int:
    """take x unit cost, rounded half up to ten places (quantities and costs are positive)."""
    return (take_q * cost_c + Q // 2) // Q


def split_int(amount: int, weights: list[int]) -> list[int]:
    """`amount` in proportion to `weights`, rounded down, the remainder on the last (the
    ledger's split_exactly, on integers of its last place)."""
    total = sum(weights)
    parts = [amount * w // total for w in weights[:-1]]
    return [*parts, amount - sum(parts)]


def ratio_half_up(numerator: int, denominator: int) -> int:
    return (2 * numerator + denominator) // (2 * denominator)


# The world ---------------------------------------------------------------------------------

# sku, name, unit, lot-tracked, shelf life, base unit cost, a delivery lasts (batches, lo-hi)
MATERIALS = [
    ("WAX-SOY", "Soy wax", "g", False, None, "0.0042", (8, 20)),
    ("WAX-COCO", "Coconut wax", "g", False, None, "0.0061", (8, 20)),
    ("WICK-CTN", "Cotton wick", "each", False, None, "0.12", (250, 340)),
    ("JAR-AMB", "Amber jar 8 oz", "each", False, None, "0.85", (10, 30)),
    ("TIN-4OZ", "Travel tin 4 oz", "each", False, None, "0.55", (10, 30)),
    ("LID-GLD", "Gold lid", "each", False, None, "0.25", (15, 40)),
    ("LBL-STD", "Label", "each", False, None, "0.05", (30, 80)),
    ("CLAM-6", "Wax melt clamshell", "each", False, None, "0.18", (20, 50)),
    ("OIL-OLV", "Olive oil", "g", False, None, "0.0065", (8, 20)),
    ("OIL-CCN", "Coconut oil", "g", False, None, "0.0048", (8, 20)),
    ("BTR-SHEA", "Shea butter", "g", False, None, "0.0112", (8, 20)),
    ("LYE-NAOH", "Sodium hydroxide", "g", True, 720, "0.0031", (10, 25)),
    ("BOX-SOAP", "Soap box", "each", False, None, "0.22", (15, 40)),
    ("SODA-BIC", "Baking soda", "g", False, None, "0.0015", (8, 20)),
    ("ACID-CIT", "Citric acid", "g", False, None, "0.0028", (8, 20)),
    ("WRAP-BMB", "Bath bomb wrap", "each", False, None, "0.07", (20, 50)),
    ("FO-LAV", "Lavender oil", "g", True, 540, "0.12", (10, 30)),
    ("FO-CED", "Cedar oil", "g", True, 540, "0.09", (10, 30)),
    ("FO-ROS", "Rose oil", "g", True, 540, "0.31", (10, 30)),
    ("FO-ORA", "Orange oil", "g", True, 540, "0.06", (10, 30)),
    ("FO-MNT", "Mint oil", "g", True, 540, "0.08", (10, 30)),
    ("FO-FIG", "Fig oil", "g", True, 540, "0.15", (10, 30)),
]
SUPPLIERS = ["Wax & Wick Supply", "Northern Oils", "Pack It Right", "Chem Direct"]
SUPPLIER_OF = {"WAX": 0, "WIC": 0, "OIL": 1, "BTR": 1, "FO-": 1, "LYE": 3, "SOD": 3, "ACI": 3}

# A product: name, code, scents, weight (share of batches), stages, lines. A line is (stage,
# material SKU, basis, quantity in the material's unit, scent index or None); basis "unit" is
# per unit made, "variant" per unit of that scent, "batch" per batch of the standard yield.
# A two-stage product's first stage ends in a semi-finished item (grams) that the second
# consumes whole.
STANDARD_YIELD = 24


@dataclass
class ProductSpec:
    name: str
    code: str
    scents: list[str]
    weight: int
    stages: list[tuple[str, int, str]]  # (name, duration days, semi-finished output name or "")
    lines: list[tuple[int, str, str, Decimal, int | None]]


PRODUCTS = [
    ProductSpec(
        "Soy candle",
        "CND",
        ["LAV", "CED", "ROS"],
        5,
        [("Pour", 0, "")],
        [
            (0, "WAX-SOY", "unit", Decimal(200), None),
            (0, "WICK-CTN", "unit", Decimal(1), None),
            (0, "JAR-AMB", "unit", Decimal(1), None),
            (0, "LID-GLD", "unit", Decimal(1), None),
            (0, "LBL-STD", "unit", Decimal(1), None),
            (0, "FO-{s}", "variant", Decimal(12), 0),
        ],
    ),
    ProductSpec(
        "Travel tin",
        "TIN",
        ["LAV", "ORA", "MNT"],
        3,
        [("Pour", 0, "")],
        [
            (0, "WAX-SOY", "unit", Decimal(80), None),
            (0, "WICK-CTN", "unit", Decimal(1), None),
            (0, "TIN-4OZ", "unit", Decimal(1), None),
            (0, "LBL-STD", "unit", Decimal(1), None),
            (0, "FO-{s}", "variant", Decimal(5), 0),
        ],
    ),
    ProductSpec(
        "Coconut candle",
        "CCN",
        ["FIG", "ROS", "CED"],
        2,
        [("Pour", 0, "")],
        [
            (0, "WAX-COCO", "unit", Decimal(190), None),
            (0, "WICK-CTN", "unit", Decimal(1), None),
            (0, "JAR-AMB", "unit", Decimal(1), None),
            (0, "LID-GLD", "unit", Decimal(1), None),
            (0, "LBL-STD", "unit", Decimal(1), None),
            (0, "FO-{s}", "variant", Decimal(11), 0),
        ],
    ),
    ProductSpec(
        "Wax melt",
        "WXM",
        ["LAV", "CED", "ORA"],
        2,
        [("Pour", 0, "")],
        [
            (0, "WAX-SOY", "unit", Decimal(30), None),
            (0, "CLAM-6", "unit", Decimal(1), None),
            (0, "LBL-STD", "unit", Decimal(1), None),
            (0, "FO-{s}", "variant", Decimal(3), 0),
        ],
    ),
    ProductSpec(
        "Cold process soap",
        "SOP",
        ["LAV", "ORA", "MNT"],
        2,
        [("Mix and pour", 28, "Soap loaf"), ("Cut and wrap", 0, "")],
        [
            (0, "OIL-OLV", "batch", Decimal(1600), None),
            (0, "OIL-CCN", "batch", Decimal(700), None),
            (0, "BTR-SHEA", "batch", Decimal(250), None),
            (0, "LYE-NAOH", "batch", Decimal(340), None),
            (1, "FO-{s}", "variant", Decimal(4), 0),
            (1, "BOX-SOAP", "unit", Decimal(1), None),
            (1, "LBL-STD", "unit", Decimal(1), None),
        ],
    ),
    ProductSpec(
        "Bath bomb",
        "BMB",
        ["LAV", "ROS", "FIG"],
        2,
        [("Mix", 1, "Bath bomb mix"), ("Press and wrap", 0, "")],
        [
            (0, "SODA-BIC", "batch", Decimal(2400), None),
            (0, "ACID-CIT", "batch", Decimal(1200), None),
            (1, "FO-{s}", "variant", Decimal(3), 0),
            (1, "WRAP-BMB", "unit", Decimal(1), None),
            (1, "LBL-STD", "unit", Decimal(1), None),
        ],
    ),
]
SCENTS = {"LAV": "Lavender", "CED": "Cedar", "ROS": "Rose", "ORA": "Orange", "MNT": "Mint",
          "FIG": "Fig"}  # fmt: skip
SPLITS = [(8, 8, 8), (12, 6, 6), (6, 12, 6), (6, 6, 12), (10, 8, 6), (16, 16, 16), (12, 12, 12)]
LOAF_LOSS = Decimal("0.02")  # what a first stage loses (water, offcuts): a waste loss


@dataclass
class Line:
    stage: int
    item: int  # Item pk
    basis: str
    quantity_q: int
    scent: int | None  # the variant's index for a scent line


@dataclass
class Product:
    spec: ProductSpec
    pk: int
    version: int
    variants: list[tuple[int, int, str]]  # (Variant pk, its Item pk, suffix)
    stages: list[tuple[int, str, int, int | None]]  # (recipe Stage pk, name, days, output item)
    lines: list[Line]


@dataclass
class World:
    storage: object
    bench: object
    owner: object
    items: dict  # sku -> Item
    materials: dict  # item pk -> (Material pk, supplier pk, unit, lot-tracked, shelf life)
    costs: dict  # item pk -> base cost (integer of ten-billionths)
    lasts: dict  # item pk -> (lo, hi) batches a delivery lasts
    products: list[Product]


def make_world() -> World:
    """Locations, suppliers, materials, products, recipes and an Owner, through the services."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from loomworks.roles import sync_role_permissions
    from materials.models import Supplier
    from materials.services import material_create
    from recipes import services as recipes
    from recipes.models import Basis
    from stock.models import Location
    from stock.services import workshop_save

    storage = Location.objects.create(name="Storage shelves")
    bench = Location.objects.create(name="Workshop bench")
    workshop_save(
        name="Bench workshop",
        time_zone="UTC",
        currency="EUR",
        batch_reference_pattern="{CODE}-{YY}{MM}{DD}-{SEQ}",
        production_location=bench,
    )
    sync_role_permissions()
    owner = get_user_model().objects.create_user(
        username="owner", password="bench-only", is_staff=True
    )
    owner.groups.add(Group.objects.get(name="Owner"))
    suppliers = [Supplier.objects.create(name=name) for name in SUPPLIERS]

    items, materials, costs, lasts = {}, {}, {}, {}
    by_sku = {}
    for sku, name, unit, tracked, life, cost, last in MATERIALS:
        supplier = suppliers[SUPPLIER_OF.get(sku[:3], 2)]
        material = material_create(
            sku=sku,
            name=name,
            unit=unit,
            lot_tracked=tracked,
            shelf_life_days=life,
            preferred_supplier=supplier,
            reorder_point=Decimal(1000) if unit == "g" else Decimal(50),
        )
        item = material.item
        items[sku], by_sku[sku] = item, material
        materials[item.pk] = (material.pk, supplier.pk, unit, tracked, life)
        costs[item.pk] = int(Decimal(cost) * C)
        lasts[item.pk] = last

    products = []
    bases = {"unit": Basis.PER_UNIT, "variant": Basis.PER_VARIANT_UNIT, "batch": Basis.PER_BATCH}
    for spec in PRODUCTS:
        product = recipes.product_create(
            name=spec.name,
            code=spec.code,
            shelf_life_days=SHELF_LIFE_DAYS,
            variants=[(SCENTS[s], f"{spec.code}-{s}") for s in spec.scents],
        )
        variants = list(product.variants.select_related("item").order_by("position"))
        version = recipes.recipe_create(
            product=product, name=spec.name, standard_yield=Decimal(STANDARD_YIELD)
        )
        stages = []
        for name, days, output in spec.stages if len(spec.stages) > 1 else []:
            stage = recipes.stage_add(
                version=version, name=name, duration_days=days, output_name=output
            )
            stages.append(stage)
        lines = []
        for stage, sku, basis, quantity, scent in spec.lines:
            for n, s in enumerate(spec.scents) if scent is not None else [(None, None)]:
                material = by_sku[sku.format(s=s)]
                recipes.line_add(
                    version=version,
                    material=material,
                    quantity=quantity,
                    unit=material.item.unit,
                    basis=bases[basis],
                    variant=variants[n] if n is not None else None,
                    stage=stages[stage] if stages else None,
                )
                lines.append(Line(stage, material.item.pk, basis, int(quantity * Q), n))
        recipes.version_freeze(version=version)
        if stages:
            stage_rows = [(s.pk, s.name, s.duration_days, s.output_item_id) for s in stages]
        else:
            stage_rows = [(None, "Make", 0, None)]
        products.append(
            Product(
                spec=spec,
                pk=product.pk,
                version=version.pk,
                variants=[(v.pk, v.item.pk, v.item.sku.rsplit("-", 1)[-1]) for v in variants],
                stages=stage_rows,
                lines=lines,
            )
        )
    return World(storage, bench, owner, items, materials, costs, lasts, products)


# The history, bulk-loaded -------------------------------------------------------------------

MODELS = [
    "stock.Posting",
    "stock.Lot",
    "stock.Movement",
    "stock.Balance",
    "stock.Allocation",
    "stock.Loss",
    "stock.Customer",
    "stock.Dispatch",
    "stock.DispatchLine",
    "materials.Receipt",
    "materials.ReceiptLine",
    "batches.Batch",
    "batches.BatchVariant",
    "batches.BatchStage",
    "batches.BatchLot",
    "batches.BatchEvent",
    "recipes.AchievedYield",
]


def _cell(value) -> str:
    if value is None:
        return r"\N"
    if value is True:
        return "t"
    if value is False:
        return "f"
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return str(value)


class Rows:
    """Rows to COPY as text, in each model's column order, with the ids given here."""

    def __init__(self, cur):
        from django.apps import apps

        self.columns, self.rows, self.next = {}, {}, {}
        for label in MODELS:
            model = apps.get_model(label)
            table = model._meta.db_table
            self.columns[table] = [f.column for f in model._meta.concrete_fields]
            self.rows[table] = []
            cur.execute(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {table}")
            self.next[table] = cur.fetchone()[0]

    def add(self, table: str, *row) -> int:
        """`row` is every column but the id, in the model's order."""
        return self.put(table, self.reserve(table), *row)

    def reserve(self, table: str) -> int:
        """An id for a row written later (a batch, once it is complete or the load ends)."""
        pk = self.next[table]
        self.next[table] = pk + 1
        return pk

    def put(self, table: str, pk: int, *row) -> int:
        self.rows[table].append("\t".join([str(pk), *map(_cell, row)]))
        return pk

    def copy(self, cur) -> dict[str, float]:
        seconds = {}
        for table, rows in self.rows.items():
            start = time.perf_counter()
            with cur.copy(f"COPY {table} ({', '.join(self.columns[table])}) FROM STDIN") as copy:
                for n in range(0, len(rows), 20000):
                    copy.write("\n".join(rows[n : n + 20000]) + "\n")
            cur.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT COALESCE(MAX(id), 1) FROM {table}))"
            )
            seconds[table] = time.perf_counter() - start
        return seconds


@dataclass
class Open:
    """An open lot at the bench: what is left, its cost and expiry."""

    lot: int
    left: int  # millionths
    cost: int  # ten-billionths
    expiry: date | None


@dataclass
class Pending:
    """A batch past its first stage, waiting (curing) for its last."""

    batch: int
    product: Product
    reference: str
    units: tuple[int, ...]
    made: tuple[int, ...]
    loaf: Open
    started: date
    at: datetime  # when it was planned


@dataclass
class History:
    w: World
    rows: Rows
    rng: random.Random
    first_day: date
    open_lots: dict = field(default_factory=lambda: defaultdict(deque))  # item pk -> [Open]
    delivered: Counter = field(default_factory=Counter)
    balances: dict = field(default_factory=lambda: defaultdict(int))  # (lot, location) -> q
    shelf: dict = field(default_factory=lambda: defaultdict(deque))  # variant item -> [lot, n, day]
    pending: dict = field(default_factory=lambda: defaultdict(list))  # day -> [Pending]
    draws: Counter = field(default_factory=Counter)  # material lot -> production postings
    seq: Counter = field(default_factory=Counter)  # (product code, day) -> batches
    usage: dict = field(default_factory=dict)  # item pk -> what a batch that uses it needs
    customers: list = field(default_factory=list)  # (pk, name): shops first
    orders: int = 0
    # the day's receipt and transfer postings, made at the day's first delivery
    receipt: dict = field(default_factory=dict)  # supplier pk -> (posting, Receipt pk, lines)
    transfer: list = field(default_factory=list)  # [posting, lines]

    @property
    def add(self):
        return self.rows.add

    def posting(self, kind, at, reference="", *, reason="", note="", reverses=None, owner="",
                owner_ref="", key=None) -> int:  # fmt: skip
        pk = self.rows.next["stock_posting"]
        return self.add(
            "stock_posting",
            kind,
            reference,
            reason,
            note,
            self.w.owner.pk,
            at,
            key or f"bench-{pk}",
            "",
            reverses,
            owner,
            owner_ref,
        )

    def movement(self, posting, lot, location, quantity_q, cost_c, line) -> int:
        self.balances[(lot, location)] += quantity_q
        return self.add("stock_movement", posting, lot, location, fq(quantity_q), fc(cost_c), line)

    # Deliveries ----------------------------------------------------------------------------

    def deliver(self, item: int, d: date, morning: datetime) -> None:
        """A delivery of `item` into storage, moved to the bench the same morning."""
        material, supplier, unit, _, life = self.w.materials[item]
        if supplier not in self.receipt:
            posting = self.posting("receipt", morning, f"Delivery of {d:%d %b %Y}")
            receipt = self.add(
                "materials_receipt", supplier, f"INV-{posting}", d, "0", posting,
                self.w.owner.pk, morning, "",
            )  # fmt: skip
            self.receipt[supplier] = [posting, receipt, 0]
        if not self.transfer:
            at = morning + timedelta(minutes=5)
            self.transfer = [self.posting("transfer", at, "To the bench"), 0]
        posting, receipt, line = self.receipt[supplier]
        self.receipt[supplier][2] += 1
        self.delivered[item] += 1
        n = self.delivered[item]
        lo, hi = self.w.lasts[item]
        size = self.usage[item] * self.rng.uniform(lo, hi)
        size = max(int(size) // Q, 1) * Q  # whole grams or pieces
        base = self.w.costs[item]
        cost = base + base * ((n * 7) % 11 - 5) // 50  # prices move a little, delivery to delivery
        expiry = d + timedelta(days=life) if life else None
        lot = self.add(
            "stock_lot", item, f"L{n:05d}", expiry, fc(cost), posting, d, False, "", None, morning
        )
        self.movement(posting, lot, self.w.storage.pk, size, cost, line)
        price = (size * cost // Q + C // 200) // (C // 100)  # the line's price in cents
        self.add(
            "materials_receiptline", receipt, material, lot, self.w.storage.pk, fq(size), unit,
            fq(size), f"{price // 100}.{price % 100:02d}", "0", fc(cost),
        )  # fmt: skip
        transfer, tline = self.transfer
        self.movement(transfer, lot, self.w.storage.pk, -size, cost, tline)
        self.movement(transfer, lot, self.w.bench.pk, size, cost, tline + 1)
        self.transfer[1] += 2
        self.open_lots[item].append(Open(lot, size, cost, expiry))

    def draw(self, item: int, need: int, d: date, morning: datetime):
        """First expiry first from the open lots at the bench: [(lot, take, cost, expiry)]."""
        lots = self.open_lots[item]
        while sum(o.left for o in lots) < need:
            self.deliver(item, d, morning)
        taken = []
        while need:
            o = lots[0]
            take = min(o.left, need)
            o.left -= take
            need -= take
            taken.append((o.lot, take, o.cost, o.expiry))
            if not o.left:
                lots.popleft()
        return taken

    # Batches -------------------------------------------------------------------------------

    def need(self, line: Line, units: tuple[int, ...]) -> int:
        if line.basis == "unit":
            return line.quantity_q * sum(units)
        if line.basis == "variant":
            return line.quantity_q * units[line.scent]
        return line.quantity_q * sum(units) // STANDARD_YIELD

    def produce(self, posting, at, d, morning, lines, outputs, stage_losses=()):
        """One production posting: draw each line's need, cost the outputs by the ledger's rule
        and write lots, movements, allocations and losses. `lines` are (Line, need, feeds:
        output index or None for all); `outputs` are (item, quantity, weight, code, cap).
        Returns [(lot, quantity, unit cost, expiry)] per output."""
        loc = self.w.bench.pk
        draws = []  # (line no, lot, take, cost, value, feeds, expiry)
        for n, (line_item, need, feeds) in enumerate(lines):
            for lot, take, cost, expiry in (
                line_item if isinstance(line_item, list) else self.draw(line_item, need, d, morning)
            ):
                draws.append((n, lot, take, cost, value_of(take, cost), feeds, expiry))
        weights = [o[2] for o in outputs]
        everyone = list(range(len(outputs)))
        totals = [0] * len(outputs)
        caps = [o[4] for o in outputs]
        allocations = []  # (draw index, output, quantity, cost)
        for k, (_, _, take, _, value, feeds, expiry) in enumerate(draws):
            fed = everyone if feeds is None else [feeds]
            costs = split_int(value, [weights[t] for t in fed])
            quantities = split_int(take, costs) if value else [take] + [0] * (len(fed) - 1)
            for t, q, c in zip(fed, quantities, costs, strict=True):
                totals[t] += c
                allocations.append((k, t, q, c))
                if expiry is not None and (caps[t] is None or expiry < caps[t]):
                    caps[t] = expiry
        movement_ids = [
            self.movement(posting, lot, loc, -take, cost, n)
            for n, lot, take, cost, _, _, _ in draws
        ]
        for lot in {draw[1] for draw in draws}:
            self.draws[lot] += 1
        made = []
        for t, (item, quantity, _, code, _) in enumerate(outputs):
            cost = ratio_half_up(totals[t] * Q, quantity)
            lot = self.add(
                "stock_lot", item, code, caps[t], fc(cost), posting, d, False, "", None, at
            )
            self.movement(posting, lot, loc, quantity, cost, len(lines) + t)
            made.append((lot, quantity, cost, caps[t]))
        for k, t, q, c in allocations:
            self.add("stock_allocation", posting, movement_ids[k], made[t][0], fq(q), fc(c))
        for kind, item, quantity, note in stage_losses:
            self.add("stock_loss", posting, kind, item, fq(quantity), "0", note)
        return made

    def batch(self, p: Product, d: date, morning: datetime, at: datetime) -> None:
        """A batch planned, started and made today: its one stage, or the first of two."""
        code = p.spec.code
        self.seq[(code, d)] += 1
        reference = f"{code}-{d:%y%m%d}-{self.seq[(code, d)]:02d}"
        units = self.rng.choice(SPLITS)
        made = tuple(u - (self.rng.random() < 0.03) for u in units)  # a cracked one now and then
        batch = self.rows.reserve("batches_batch")
        planned = at - timedelta(hours=2)
        for kind, when in (("planned", planned), ("started", at)):
            self.add("batches_batchevent", batch, kind, "", None, "", self.w.owner.pk, when)
        if len(p.stages) == 1:
            self.last_stage(p, batch, reference, units, made, d, morning, at, stage=0)
            self.batch_row(p, batch, reference, units, d, planned, completed_on=d)
            return
        stage_pk, name, duration, loaf_item = p.stages[0]
        posting = self.posting(
            "production", at, f"{reference} {name}", owner="batches", owner_ref=reference
        )
        lines = [(ln.item, self.need(ln, units), None) for ln in p.lines if ln.stage == 0]
        grams = sum(need for _, need, _ in lines)
        lost = int(grams * LOAF_LOSS)
        [(lot, quantity, cost, expiry)] = self.produce(
            posting, at, d, morning, lines,
            [(loaf_item, grams - lost, 1, f"{reference}-S1", None)],
            [("waste", loaf_item, lost, "Water and offcuts")],
        )  # fmt: skip
        self.add(
            "batches_batchstage", batch, 0, name, stage_pk, duration, "0", loaf_item, posting, at,
            self.w.owner.pk, "",
        )  # fmt: skip
        self.add("batches_batchlot", batch, lot, "wip", None, 0)
        self.add("batches_batchevent", batch, "stage", name, posting, "", self.w.owner.pk, at)
        self.pending[d + timedelta(days=duration)].append(
            Pending(batch, p, reference, units, made, Open(lot, quantity, cost, expiry), d, planned)
        )

    def batch_row(self, p, batch, reference, units, d, planned, *, completed_on=None) -> None:
        """The batch's own row, written once its status is known."""
        days = sum(s[2] for s in p.stages)
        running = completed_on is None
        self.rows.put(
            "batches_batch", batch, reference, p.pk, p.version, self.w.bench.pk, sum(units),
            "running" if running else "completed", d, d + timedelta(days=days),
            d + timedelta(days=days) if running else None, "", False,
            1 if running else len(p.stages), None, self.w.owner.pk, planned, completed_on,
        )  # fmt: skip

    def finish(self, job: Pending, d: date, morning: datetime, at: datetime) -> None:
        """A two-stage batch's last stage: its loaf, the scents and the packaging."""
        loaf = [(job.loaf.lot, job.loaf.left, job.loaf.cost, job.loaf.expiry)]
        self.last_stage(
            job.product, job.batch, job.reference, job.units, job.made, d, morning, at,
            stage=1, before=loaf,
        )  # fmt: skip
        self.batch_row(
            job.product, job.batch, job.reference, job.units, job.started, job.at, completed_on=d
        )

    def still_running(self) -> int:
        """The batches whose last stage is still to come (curing soap): their rows as planned."""
        jobs = [job for day in sorted(self.pending) for job in self.pending[day]]
        for job in jobs:
            p = job.product
            stage_pk, name, duration, _ = p.stages[1]
            self.add(
                "batches_batchstage", job.batch, 1, name, stage_pk, duration, "0", None, None,
                None, None, "",
            )  # fmt: skip
            for (variant, _, _), u in zip(p.variants, job.units, strict=True):
                self.add("batches_batchvariant", job.batch, variant, u, 0, 0, 0)
            self.batch_row(p, job.batch, job.reference, job.units, job.started, job.at)
        return len(jobs)

    def last_stage(self, p, batch, reference, units, made, d, morning, at, *, stage,
                   before=None) -> None:  # fmt: skip
        """The stage that completes a batch: a saleable lot per scent, rejects as a loss."""
        stage_pk, name, duration, _ = p.stages[stage]
        posting = self.posting(
            "production", at, f"{reference} {name}", owner="batches", owner_ref=reference
        )
        lines = [] if before is None else [(before, None, None)]
        for ln in p.lines:
            if ln.stage == stage:
                lines.append((ln.item, self.need(ln, units), ln.scent))
        outputs = [
            (item, m * Q, m, f"{reference}-{tail}", d + timedelta(days=SHELF_LIFE_DAYS))
            for (_, item, tail), m in zip(p.variants, made, strict=True)
        ]
        losses = [
            ("rejection", item, (u - m) * Q, "Cracked")
            for (_, item, _), u, m in zip(p.variants, units, made, strict=True)
            if u > m
        ]
        lots = self.produce(posting, at, d, morning, lines, outputs, losses)
        self.add(
            "batches_batchstage", batch, stage, name, stage_pk, duration, "0", None, posting, at,
            self.w.owner.pk, "",
        )  # fmt: skip
        for (variant, item, _), u, m, (lot, _, cost, _) in zip(
            p.variants, units, made, lots, strict=True
        ):
            self.add("batches_batchvariant", batch, variant, u, m, u - m, 0)
            self.add("batches_batchlot", batch, lot, "saleable", variant, stage)
            self.shelf[item].append([lot, m, cost, d])
        self.add("batches_batchevent", batch, "completed", "", posting, "", self.w.owner.pk, at)
        self.add(
            "recipes_achievedyield", p.version, fq(sum(units) * Q), fq(sum(made) * Q), reference,
            at,
        )  # fmt: skip

    # Sales ---------------------------------------------------------------------------------

    def sell(self, d: date, evening: datetime) -> None:
        """Every unit made a week ago or earlier, sold an order at a time."""
        due = {}
        for item, lots in self.shelf.items():
            n = sum(lot[1] for lot in lots if lot[3] <= d - timedelta(days=SELL_AFTER_DAYS))
            if n:
                due[item] = n
        k = 0
        while due:
            k += 1
            at = evening + timedelta(seconds=20 * k)
            wholesale = self.rng.random() < WHOLESALE
            if wholesale:
                count, sizes = self.rng.randint(3, 6), (6, 12)
                customer = self.customers[self.rng.randrange(SHOPS)]
                channel = "Wholesale"
            else:
                count, sizes = self.rng.choice((1, 1, 1, 2, 2, 3)), (1, 3)
                customer = self.customers[SHOPS + self.rng.randrange(CUSTOMERS - SHOPS)]
                channel = self.rng.choice(("Etsy", "Shopify", "Shopify", "Market"))
            chosen = self.rng.sample(sorted(due), min(count, len(due)))
            self.orders += 1
            order = f"#{10000 + self.orders}"
            dispatch = self.rows.next["stock_dispatch"]
            posting = self.posting(
                "dispatch", at, f"To {customer[1]} ({channel} {order})", owner="dispatches",
                owner_ref=str(dispatch), key=f"dispatch-{dispatch}",
            )  # fmt: skip
            self.add(
                "stock_dispatch", customer[0], posting, d, channel, order, "",
                f"dispatch-{dispatch}", self.w.owner.pk, at,
            )  # fmt: skip
            taken = []
            for line, item in enumerate(chosen):
                want = min(self.rng.randint(*sizes), due[item])
                self.add("stock_dispatchline", dispatch, item, fq(want * Q))
                due[item] -= want
                if not due[item]:
                    del due[item]
                lots = self.shelf[item]
                while want:
                    lot = lots[0]
                    take = min(lot[1], want)
                    lot[1] -= take
                    want -= take
                    self.movement(posting, lot[0], self.w.bench.pk, -take * Q, lot[2], line)
                    taken.append((item, lot, take, line))
                    if not lot[1]:
                        lots.popleft()
            if self.rng.random() < CANCELLED:  # a cancelled order: the units come back
                back = self.posting(
                    "reversal", at + timedelta(seconds=5), f"Reverses #{posting}",
                    note="Order cancelled", reverses=posting, owner="dispatches",
                    owner_ref=str(dispatch),
                )  # fmt: skip
                for item, lot, take, line in reversed(taken):  # back on the shelf, sold next
                    self.movement(back, lot[0], self.w.bench.pk, take * Q, lot[2], line)
                    if not lot[1]:
                        self.shelf[item].appendleft(lot)
                    lot[1] += take

    def write_off(self, d: date, at: datetime) -> None:
        """A damaged candle from the newest lot on the shelf, or a spill of a material."""
        if self.rng.random() < 0.5:
            item = self.rng.choice(sorted(self.shelf))
            lots = [lot for lot in self.shelf[item] if lot[1] > 1]
            if not lots:
                return
            lot = lots[-1]
            posting = self.posting("adjustment", at, "Dropped", reason="damaged")
            self.movement(posting, lot[0], self.w.bench.pk, -Q, lot[2], 0)
            lot[1] -= 1
        else:
            item = self.rng.choice(sorted(i for i, u in self.w.materials.items() if u[2] == "g"))
            lots = [o for o in self.open_lots[item] if o.left > 100 * Q]
            if not lots:
                return
            o = lots[0]
            posting = self.posting("adjustment", at, "Spilled on the bench", reason="spilled")
            self.movement(posting, o.lot, self.w.bench.pk, -50 * Q, o.cost, 0)
            o.left -= 50 * Q


def load_history(conn, w: World, batches: int) -> tuple[dict, dict, int, int]:
    """`batches` batches, PER_DAY a day up to yesterday, with their deliveries and sales,
    COPYed in one transaction. Returns the rows per table, COPY seconds per table, the material
    lot the most production postings drew from, and how many did."""
    from stock.models import workshop_today

    started = time.perf_counter()
    rng = random.Random(SEED)
    cur = conn.cursor()
    rows = Rows(cur)
    days = -(-batches // PER_DAY)
    h = History(w=w, rows=rows, rng=rng, first_day=workshop_today() - timedelta(days=days + 1))
    # What a batch of 24 that uses a material needs of it, for the size of its deliveries.
    total = sum(p.spec.weight for p in w.products)
    usage, users = defaultdict(float), defaultdict(float)
    for p in w.products:
        for ln in p.lines:
            usage[ln.item] += h.need(ln, (8, 8, 8)) * p.spec.weight / total
            users[ln.item] += p.spec.weight / total / (1 if ln.scent is None else len(p.variants))
    h.usage = {item: usage[item] / users[item] for item in usage}
    first = ["Ada", "Ben", "Cleo", "Dan", "Eve", "Finn", "Gia", "Hal", "Ivy", "Jon", "Kai", "Lea",
             "Max", "Nia", "Oto", "Pia", "Quin", "Rae", "Sam", "Tess"]  # fmt: skip
    last = ["Abbott", "Baker", "Clarke", "Dunn", "Ellis", "Fox", "Grant", "Hale", "Irwin", "Jones",
            "Khan", "Lowe", "Moss", "Nash", "Owen", "Price", "Quinn", "Reed", "Shaw", "Todd",
            "Underwood", "Vance", "Walsh", "Young", "Zeller"]  # fmt: skip
    created = datetime(h.first_day.year, h.first_day.month, h.first_day.day, tzinfo=UTC)
    for n in range(CUSTOMERS):
        if n < SHOPS:
            name = f"{last[n % len(last)]} & {last[(n * 7 + 3) % len(last)]} Gifts {n}"
        else:
            name = f"{rng.choice(first)} {rng.choice(last)}"
        email = f"{name.split()[0].lower()}.{n}@example.com"
        h.customers.append((rows.add("stock_customer", name, email, "", "", "", created), name))

    cycle = [p for p in w.products for _ in range(p.spec.weight)]
    done = 0
    for day in range(days):
        d = h.first_day + timedelta(days=day)
        morning = datetime(d.year, d.month, d.day, 7, tzinfo=UTC)
        h.receipt, h.transfer = {}, []
        for n, job in enumerate(h.pending.pop(d, [])):
            h.finish(job, d, morning, morning + timedelta(hours=1, minutes=n))
        for seq in range(PER_DAY):
            if done == batches:
                break
            p = cycle[rng.randrange(len(cycle))]
            h.batch(p, d, morning, morning + timedelta(hours=2, minutes=25 * seq))
            done += 1
        if rng.random() < 0.25:
            h.write_off(d, morning + timedelta(hours=10))
        h.sell(d, morning + timedelta(hours=11))
    running = h.still_running()
    for (lot, location), quantity in h.balances.items():
        rows.add("stock_balance", lot, location, fq(quantity))
    made = time.perf_counter()
    seconds = rows.copy(cur)
    copied = time.perf_counter()
    conn.commit()  # the foreign keys are checked here (Django makes them deferrable)
    seconds["(rows made in Python)"] = made - started
    seconds["(COPY)"] = copied - made
    seconds["(COMMIT: foreign keys checked)"] = time.perf_counter() - copied
    busy = max(h.draws, key=lambda lot: (h.draws[lot], -lot))
    counts = {table: len(r) for table, r in rows.rows.items()}
    counts["(running batches)"] = running
    return counts, seconds, busy, h.draws[busy]


# Measuring ---------------------------------------------------------------------------------

BUSIEST_SQL = """
SELECT m.lot_id, COUNT(DISTINCT m.posting_id)
FROM stock_movement m
JOIN stock_posting p ON p.id = m.posting_id AND p.kind = 'production'
JOIN stock_lot l ON l.id = m.lot_id
JOIN stock_posting r ON r.id = l.created_by_posting_id AND r.kind = 'receipt'
WHERE m.quantity < 0
GROUP BY m.lot_id ORDER BY 2 DESC, 1 LIMIT 1
"""


def busiest_lot() -> tuple[int, int]:
    """The material lot the most production postings drew from, and how many (--reuse)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(BUSIEST_SQL)
        return cursor.fetchone()


def timed(run, runs: int) -> tuple[float, object]:
    """Median milliseconds of `runs` calls after two untimed ones, and the last result."""
    result = None
    for _ in range(2):
        result = run()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        result = run()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), result


def side_by_side(engine, floor, runs: int) -> tuple[float, float]:
    """Median milliseconds of `engine` and of `floor`, run alternately `runs` times each after
    two untimed rounds, so that a noisy machine slows both alike."""
    times = ([], [])
    for n in range(runs + 2):
        for k, run in enumerate((engine, floor)):
            start = time.perf_counter()
            run()
            if n >= 2:
                times[k].append((time.perf_counter() - start) * 1000)
    return statistics.median(times[0]), statistics.median(times[1])


def floor_query(conn, *sqls):
    def run():
        rows = []
        with conn.cursor() as cur:
            for sql, params in sqls:
                cur.execute(sql, params)
                rows.append(cur.fetchall())
        conn.rollback()
        return rows

    return run


INDEX_SCAN = re.compile(
    r"(?:Index Only Scan|Index Scan|Bitmap Index Scan)(?: Backward)? (?:using|on) (\w+)"
)
SEQ_SCAN = re.compile(r"Seq Scan on (\w+)")


def explain(conn, label: str, sql: str, params, out) -> str:
    with conn.cursor() as cur:
        cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
        plan = "\n".join(row[0] for row in cur.fetchall())
    conn.rollback()
    out.write(f"--- {label}\n{plan}\n\n")
    used = sorted({m.group(1) for m in INDEX_SCAN.finditer(plan)})
    seqs = sorted(set(SEQ_SCAN.findall(plan)))
    took = re.search(r"Execution Time: ([\d.]+) ms", plan)
    return (
        f"{label}: {took.group(1) if took else '?'} ms in the server; indexes {', '.join(used)}"
        + (f"; sequential scans of {', '.join(seqs)}" if seqs else "; no sequential scan")
    )


NEEDED_INDEXES = [
    ("stock_movement", "lot_id", "the walk's draws of a lot"),
    ("stock_movement", "posting_id", "what a posting drew of a lot (backward)"),
    ("stock_allocation", "movement_id", "forward: what a draw went into"),
    ("stock_allocation", "output_lot_id", "backward: what went into a lot"),
    ("stock_posting", "reverses_id", "NOT EXISTS a reversal"),
    ("stock_dispatch", "posting_id", "recall: the dispatch of a posting"),
]


def index_report(conn) -> list[str]:
    """For each column the walks look up by: the index that leads with it, if any."""
    lines = []
    with conn.cursor() as cur:
        for table, column, why in NEEDED_INDEXES:
            cur.execute(
                "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x "
                "JOIN pg_class t ON t.oid = x.indrelid JOIN pg_class i ON i.oid = x.indexrelid "
                "JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = x.indkey[0] "
                "WHERE t.relname = %s AND a.attname = %s",
                [table, column],
            )
            found = cur.fetchall()
            name = ", ".join(n for n, _ in found) if found else "MISSING"
            lines.append(f"  {table}({column}) [{why}]: {name}")
    conn.rollback()
    return lines


PAGES = [
    ("materials", "materials:list", None),
    ("on hand", "stock:on-hand", None),
    ("postings", "stock:postings", None),
    ("batches", "batches:list", None),
    ("busy lot", "stock:lot", "lot"),
    ("dashboard", "dashboard", None),
]
# The trace pages themselves, reported beside the list pages (not in slowest_page): the busy
# lot's forward trace and recall list, the two-stage lot's backward trace.
TRACE_PAGES = [
    ("forward", "stock:trace-forward", "lot"),
    ("backward", "stock:trace-backward", "deep"),
    ("recall", "stock:recall", "lot"),
]


def measure_pages(owner, pages, lots: dict[str, int], runs: int) -> list[dict]:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    client = Client()
    client.force_login(owner)
    results = []
    for label, name, arg in pages:
        url = reverse(name, args=[lots[arg]] if arg else [])

        def get(url=url):
            response = client.get(url)
            if response.status_code != 200:
                sys.exit(f"{url} answered {response.status_code}: not a page to time.")
            return response

        ms, response = timed(get, runs)
        with CaptureQueriesContext(connection) as ctx:
            get()
        slowest = sorted(ctx.captured_queries, key=lambda q: -float(q["time"]))[:3]
        results.append(
            {
                "page": label,
                "url": url,
                "ms": ms,
                "queries": len(ctx.captured_queries),
                "bytes": len(response.content),
                "slowest": [(float(q["time"]) * 1000, q["sql"]) for q in slowest],
            }
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=46000)
    parser.add_argument("--runs", type=int, default=9, help="timed runs of each trace and page")
    parser.add_argument("--keep", action="store_true", help="keep the bench database afterwards")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="measure a bench database kept by --keep again, without building it (kept too)",
    )
    args = parser.parse_args()
    args.keep = args.keep or args.reuse

    url = os.environ.get("DATABASE_URL", "")
    if not url:
        sys.exit("Set DATABASE_URL to a PostgreSQL server, e.g. postgres:///loomworks")
    name, bench_url = bench_database_url(url)
    if not args.reuse:
        recreate(url, name)
    os.environ["DATABASE_URL"] = bench_url
    os.environ.setdefault("SECRET_KEY", "bench-only-not-secret")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "loomworks.settings")
    # Pages are rendered through the test client: plain static files, no https redirect.
    os.environ["STATIC_MANIFEST"] = "0"
    os.environ["SECURE_SSL_REDIRECT"] = "0"
    os.environ["SECURE_COOKIES"] = "0"
    os.environ["ALLOWED_HOSTS"] = "testserver"
    warnings.filterwarnings("ignore", message="No directory at")  # whitenoise: no collectstatic

    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection

    from stock.checks import ledger_summary, ledger_violations
    from stock.models import Lot
    from stock.trace import (
        BACKWARD_EDGES_SQL,
        FORWARD_EDGES_SQL,
        RECALL_SQL,
        backward_trace,
        forward_trace,
        recall,
    )

    conn = raw_connection(bench_url)
    if args.reuse:
        owner, built = get_user_model().objects.get(username="owner"), None
        busy_pk, busy_batches = busiest_lot()
        print(f"Reusing the bench database {name}, as built before.")
    else:
        call_command("migrate", verbosity=0)
        started = time.perf_counter()
        w = make_world()
        owner = w.owner
        counts, copied, busy_pk, busy_batches = load_history(conn, w, args.batches)
        loaded = time.perf_counter() - started
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        built = time.perf_counter() - started
        print(f"Built the ledger in {built:.1f} s (rows made and COPYed {loaded:.1f} s, ANALYZE "
              f"{built - loaded:.1f} s), on PostgreSQL ({name}):")  # fmt: skip
        for table, n in counts.items():
            extra = f"  (COPY {copied[table]:.1f} s)" if table in copied else ""
            print(f"  {n:>10,}  {table}{extra}")
        for step, seconds in copied.items():
            if step.startswith("("):
                print(f"  {seconds:9.1f} s {step}")

    start = time.perf_counter()
    summary = ledger_summary()
    problems = ledger_violations()
    checked = time.perf_counter() - start
    print(
        "\ncheck_ledger: {postings:,} postings, {movements:,} movements, {lots:,} lots, "
        "{balances:,} balances".format(**summary)
        + f" in {checked:.1f} s: "
        + ("the ledger is sound." if not problems else f"{len(problems)} problem(s)")
    )
    for problem in problems[:10]:
        print(f"  ledger: {problem}")
    if problems:
        conn.close()
        connection.close()
        sys.exit(f"The bench database {name} breaks the ledger's rules: kept for a look.")

    busy = Lot.objects.select_related("item").get(pk=busy_pk)
    received = recall(busy)
    dispatches = len({r.dispatch_id for r in received})
    customers = len({r.customer_id for r in received})
    trace = forward_trace(busy)
    # Backward: from the newest saleable lot of a two-stage product, two productions deep.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT l.id FROM stock_lot l JOIN batches_batchlot b ON b.lot_id = l.id "
            "WHERE b.stage = 1 AND b.role = 'saleable' ORDER BY l.id DESC LIMIT 1"
        )
        deep = cursor.fetchone()
    deepest = Lot.objects.select_related("item").get(pk=deep[0])
    back = backward_trace(deepest)
    print(
        f"\nBusy lot: {busy.item.name} lot {busy.code} (#{busy.pk}): fed {busy_batches} "
        f"production postings, reaches {trace.lots:,} lots, {dispatches:,} dispatches and "
        f"{customers:,} customers ({len(received):,} recall rows)."
    )
    print(
        f"Backward trace from {deepest.item.name} lot {deepest.code} (#{deepest.pk}, two "
        f"stages deep): {back.lots} lots upstream."
    )
    if busy_batches < 200 or dispatches < 2000:
        print("  WARNING: the busy lot fed fewer than 200 batches or reaches fewer than 2,000 "
              "dispatches: raise --batches.")  # fmt: skip

    runs = args.runs
    floor_conn = raw_connection(bench_url)
    floor_conn.execute("SET jit = off")  # as the site's connections say (loomworks/env.py)
    floor_conn.commit()
    forward_ms, forward_floor = side_by_side(
        lambda: forward_trace(busy),
        floor_query(floor_conn, (FORWARD_EDGES_SQL, [busy.pk]), (RECALL_SQL, [busy.pk])),
        runs,
    )
    backward_ms, backward_floor = side_by_side(
        lambda: backward_trace(deepest),
        floor_query(floor_conn, (BACKWARD_EDGES_SQL, [deepest.pk])),
        runs,
    )
    recall_ms, recall_floor = side_by_side(
        lambda: recall(busy), floor_query(floor_conn, (RECALL_SQL, [busy.pk])), runs
    )
    ratios = {
        "forward": forward_ms / forward_floor,
        "backward": backward_ms / backward_floor,
        "recall": recall_ms / recall_floor,
    }
    worst = max(ratios, key=ratios.get)

    plans = ROOT / "var" / "bench-trace-plans.txt"
    plans.parent.mkdir(exist_ok=True)
    with plans.open("w") as out:
        explained = [
            explain(floor_conn, "FORWARD_EDGES_SQL", FORWARD_EDGES_SQL, [busy.pk], out),
            explain(floor_conn, "BACKWARD_EDGES_SQL", BACKWARD_EDGES_SQL, [deepest.pk], out),
            explain(floor_conn, "RECALL_SQL", RECALL_SQL, [busy.pk], out),
        ]
    indexes = index_report(floor_conn)
    floor_conn.close()
    conn.close()

    lots = {"lot": busy.pk, "deep": deepest.pk}
    pages = measure_pages(owner, PAGES, lots, runs)
    trace_pages = measure_pages(owner, TRACE_PAGES, lots, runs)
    slowest = max(pages, key=lambda p: p["ms"])
    connection.close()
    if not args.keep:
        recreate(url, name, create=False)

    movements = summary["movements"]
    print(f"\nTraces over {movements:,} movements (median of {runs}, each run beside one of its "
          "floor: the same SQL over raw psycopg):")  # fmt: skip
    print(f"  forward trace:  {forward_ms:7.2f} ms   floor {forward_floor:7.2f} ms   "
          f"ratio {ratios['forward']:.2f}")  # fmt: skip
    print(f"  backward trace: {backward_ms:7.2f} ms   floor {backward_floor:7.2f} ms   "
          f"ratio {ratios['backward']:.2f}")  # fmt: skip
    print(f"  recall list:    {recall_ms:7.2f} ms   floor {recall_floor:7.2f} ms   "
          f"ratio {ratios['recall']:.2f}   ({customers:,} customers)")  # fmt: skip
    print(f"  trace_ratio is the worst of the three ({worst}); trace_floor_ms the forward one's.")
    print(f"\nEXPLAIN ANALYZE (plans in {plans.relative_to(ROOT)}):")
    for line in explained:
        print(f"  {line}")
    print("Indexes the walks look up by:")
    print("\n".join(indexes))
    print(f"\nPages (signed in as an Owner; median of {runs}):")
    for p in pages:
        flag = ""
        if p["ms"] > TARGETS["page_ms"] or p["queries"] > TARGETS["page_queries"]:
            flag = "   OVER TARGET"
        print(f"  {p['page']:<10} {p['url']:<22} {p['ms']:8.1f} ms  {p['queries']:3d} queries"
              f"{flag}")  # fmt: skip
        if flag:
            for ms, sql in p["slowest"]:
                print(f"      {ms:8.1f} ms  {sql[:300]}")
    print("Trace pages (beside the targets' list):")
    for p in trace_pages:
        print(f"  {p['page']:<10} {p['url']:<30} {p['ms']:8.1f} ms  {p['queries']:3d} queries  "
              f"{p['bytes'] // 1024:,} KiB")  # fmt: skip
    ok = (
        max(forward_ms, backward_ms, recall_ms) < TARGETS["trace_ms"]
        and ratios[worst] <= TARGETS["trace_ratio"]
        and all(p["ms"] < TARGETS["page_ms"] for p in pages)
        and all(p["queries"] <= TARGETS["page_queries"] for p in pages)
    )
    print("\nTargets (traces < 100 ms and within 2x the floor, pages < 150 ms and <= 20 "
          f"queries): {'met' if ok else 'NOT met'}.")  # fmt: skip
    print(
        json.dumps(
            {
                "movements": movements,
                "build_s": round(built, 1) if built is not None else None,
                "forward_trace_ms": round(forward_ms, 2),
                "backward_trace_ms": round(backward_ms, 2),
                "recall_ms": round(recall_ms, 2),
                "recall_customers": customers,
                "recall_dispatches": dispatches,
                "trace_floor_ms": round(forward_floor, 2),
                "backward_floor_ms": round(backward_floor, 2),
                "recall_floor_ms": round(recall_floor, 2),
                "trace_ratio": round(ratios[worst], 2),
                "trace_ratio_of": worst,
                "forward_ratio": round(ratios["forward"], 2),
                "backward_ratio": round(ratios["backward"], 2),
                "recall_ratio": round(ratios["recall"], 2),
                "slowest_page_ms": round(slowest["ms"], 1),
                "slowest_page": slowest["page"],
                "max_page_queries": max(p["queries"] for p in pages),
                "trace_pages": {p["page"]: [round(p["ms"], 1), p["queries"]] for p in trace_pages},
            }
        )
    )


if __name__ == "__main__":
    main()
