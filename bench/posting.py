"""Benchmark: how long postings take on PostgreSQL, against a floor of the same writes.

    DATABASE_URL=postgres:///loomworks python bench/posting.py [--postings 500] [--profile] [--keep]

Two postings are timed, each side by side with its floor (the same writes done as
hand-written SQL over a raw psycopg connection), alternating one engine posting with one
floor posting so that a noisy machine slows both alike:

- plain: a 20-line dispatch of named lots;
- production: 20 inputs drawn first-expiry-first without naming lots (some lot-tracked, each
  draw spanning two lots; some shared, some feeding one output), two variant outputs with
  weights, one scrap output at a fixed value, one waste loss.

It also counts the SQL statements of a posting for 1 and 20 lines (plain) and 2 and 20 input
lines (production): they must not grow with the lines. `--profile` adds, for each kind of
engine posting, the time per engine step, the share spent in cursor.execute and a cProfile. The
run ends with the ledger check over everything written, floors included.

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
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, localcontext
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

QUANTUM = Decimal("0.000001")
COST_QUANTUM = Decimal("0.0000000001")

# The production posting: which input lines are lot-tracked, and what each feeds.
TRACKED_DRAW = Decimal(3)  # a lot-tracked input: lots of 3 after a first lot of 1.5
PLAIN_DRAW = Decimal(2)
SCRAP_VALUE = Decimal("0.50")


def bench_database_url(url: str) -> tuple[str, str]:
    import dj_database_url

    cfg = dj_database_url.parse(url)
    if cfg["ENGINE"] != "django.db.backends.postgresql":
        sys.exit("bench/posting.py measures PostgreSQL: set DATABASE_URL=postgres://...")
    name = f"{cfg['NAME']}_bench"
    base, _, _ = url.rpartition("/")
    query = url.split("?", 1)[1] if "?" in url else ""
    return name, f"{base}/{name}" + (f"?{query}" if query else "")


def recreate(url: str, name: str, *, create: bool = True) -> None:
    from psycopg import sql

    from loomworks.pgcheck import maintenance_connection

    with maintenance_connection(url) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        if create:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def raw_connection(bench_url: str):
    """The floor's connection: plain psycopg defaults (autocommit off), READ COMMITTED."""
    import dj_database_url
    import psycopg

    cfg = dj_database_url.parse(bench_url)
    params = {
        "dbname": cfg["NAME"],
        "user": cfg.get("USER") or None,
        "password": cfg.get("PASSWORD") or None,
        "host": cfg.get("HOST") or None,
        "port": cfg.get("PORT") or None,
    }
    conn = psycopg.connect(**{k: v for k, v in params.items() if v})
    conn.isolation_level = psycopg.IsolationLevel.READ_COMMITTED
    return conn


def values(rows: int, template: str) -> str:
    return ", ".join([template] * rows)


def split(amount: Decimal, weights: list[Decimal], quantum: Decimal) -> list[Decimal]:
    """`amount` in proportion to `weights`, rounded down, the remainder on the last."""
    total = sum(weights, Decimal(0))
    with localcontext(prec=60):
        parts = [(amount * w / total).quantize(quantum, ROUND_DOWN) for w in weights[:-1]]
    return [*parts, amount - sum(parts, Decimal(0))]


LOT_ROW = "(%s, NULL, %s, %s, false, '', %s, %s, %s, NULL)"
POSTING_INSERT = (
    "INSERT INTO stock_posting (kind, reference, reason, note, created_by_id, created_at, "
    "idempotency_key, fingerprint, reverses_id, owner, owner_ref) "
    "VALUES (%s, '', '', '', NULL, %s, %s, %s, NULL, '', '') RETURNING id"
)


# The plain posting's floor -----------------------------------------------------------------


def plain_floor(conn, location_id: int, lot_ids: list[int]) -> None:
    """A dispatch of one unit from each lot: lock, posting, movements, balances, commit."""
    from django.utils import timezone

    cur = conn.cursor()
    cur.execute(
        "SELECT b.id, b.lot_id, b.quantity, l.unit_cost FROM stock_balance b "
        "JOIN stock_lot l ON l.id = b.lot_id WHERE b.lot_id = ANY(%s) AND b.location_id = %s "
        "ORDER BY b.id FOR UPDATE OF b",
        [lot_ids, location_id],
    )
    held = {lot_id: (pk, quantity, cost) for pk, lot_id, quantity, cost in cur.fetchall()}
    cur.execute(POSTING_INSERT, ["dispatch", timezone.now(), uuid.uuid4().hex, "floor"])
    (posting_id,) = cur.fetchone()
    movements, balances = [], []
    for line, lot_id in enumerate(lot_ids):
        pk, quantity, cost = held[lot_id]
        movements += [posting_id, lot_id, location_id, Decimal(-1), cost, line]
        balances += [pk, quantity - 1]
    cur.execute(
        "INSERT INTO stock_movement (posting_id, lot_id, location_id, quantity, unit_cost, line) "
        f"VALUES {values(len(lot_ids), '(%s, %s, %s, %s, %s, %s)')}",
        movements,
    )
    cur.execute(
        "UPDATE stock_balance AS b SET quantity = v.quantity "
        f"FROM (VALUES {values(len(lot_ids), '(%s::bigint, %s::numeric)')}) AS v(id, quantity) "
        "WHERE b.id = v.id",
        balances,
    )
    conn.commit()


# The production posting and its floor ------------------------------------------------------


@dataclass
class Production:
    """The materials, products and stock of the production benchmark."""

    location: object
    materials: list  # Item, one per input line
    tracked: list  # the lot-tracked materials among them
    feeds: list  # per input line: None (shared) or the output keys it feeds
    variant_a: object
    variant_b: object
    scrap: object
    waste_item: object
    left: dict = field(default_factory=dict)  # tracked item pk -> units left in usable lots
    lots_made: int = 0

    def lines(self, indexes):
        from stock.engine import Line

        return [
            Line(
                location=self.location,
                quantity=-(TRACKED_DRAW if self.materials[i].lot_tracked else PLAIN_DRAW),
                item=self.materials[i],
                feeds=self.feeds[i],
            )
            for i in indexes
        ]

    def outputs(self):
        from stock.engine import Output

        return [
            Output(
                key="a",
                item=self.variant_a,
                location=self.location,
                quantity=Decimal(10),
                weight=Decimal(10),
            ),
            Output(
                key="b",
                item=self.variant_b,
                location=self.location,
                quantity=Decimal(5),
                weight=Decimal(7),
            ),
            Output(
                key="scrap",
                item=self.scrap,
                location=self.location,
                quantity=Decimal(1),
                value=SCRAP_VALUE,
            ),
        ]

    def losses(self):
        from stock.engine import LossLine
        from stock.models import LossKind

        return [
            LossLine(key="waste", kind=LossKind.WASTE, item=self.waste_item, quantity=Decimal(1))
        ]

    def post(self, indexes):
        from stock.engine import posting_create
        from stock.models import PostingKind

        self.drew(indexes)
        return posting_create(
            kind=PostingKind.PRODUCTION,
            lines=self.lines(indexes),
            outputs=self.outputs(),
            losses=self.losses(),
            user=None,
            idempotency_key=uuid.uuid4().hex,
        )

    def drew(self, indexes) -> None:
        for i in indexes:
            if self.materials[i].lot_tracked:
                self.left[self.materials[i].pk] -= TRACKED_DRAW

    def restock(self, *, first: bool = False) -> None:
        """Receive lots of 3 (the first lot 1.5) of each lot-tracked material running low, each
        expiring later than the last, so every draw of 3 spans two lots. Not timed."""
        from stock.engine import Line, posting_create
        from stock.models import PostingKind, workshop_today

        today = workshop_today()
        lines = []
        for item in self.tracked:
            while self.left.get(item.pk, Decimal(0)) < 4 * TRACKED_DRAW:
                self.lots_made += 1
                size = TRACKED_DRAW / 2 if first and item.pk not in self.left else TRACKED_DRAW
                self.left[item.pk] = self.left.get(item.pk, Decimal(0)) + size
                lines.append(
                    Line(
                        location=self.location,
                        quantity=size,
                        item=item,
                        lot_code=f"T{self.lots_made}",
                        expiry_date=today + timedelta(days=30 + self.lots_made),
                        unit_cost=Decimal("0.4") + Decimal(self.lots_made % 7) / 10,
                    )
                )
        if lines:
            posting_create(
                kind=PostingKind.RECEIPT, lines=lines, user=None, idempotency_key=uuid.uuid4().hex
            )


def make_production(location, n_lines: int, postings: int) -> Production:
    """20 materials (every third lot-tracked, one of them also holding an expired lot that
    draws must skip), 2 variants and a scrap item; stock for `postings` postings."""
    from stock.engine import Line, posting_create
    from stock.models import Item, ItemKind, PostingKind, workshop_today

    materials = [
        Item.objects.create(
            sku=f"PROD-{i:02d}", name=f"Production material {i}", unit="g", lot_tracked=i % 3 == 0
        )
        for i in range(n_lines)
    ]
    a, b = n_lines // 2, n_lines * 3 // 4
    feeds = [None if i < a else ("a",) if i < b else ("b",) for i in range(n_lines)]
    production = Production(
        location=location,
        materials=materials,
        tracked=[m for m in materials if m.lot_tracked],
        feeds=feeds,
        variant_a=Item.objects.create(
            sku="VAR-A", name="Variant A", unit="each", kind=ItemKind.VARIANT
        ),
        variant_b=Item.objects.create(
            sku="VAR-B", name="Variant B", unit="each", kind=ItemKind.VARIANT
        ),
        scrap=Item.objects.create(sku="SCRAP", name="Scrap", unit="g", kind=ItemKind.SCRAP),
        waste_item=materials[-1],
    )
    today = workshop_today()
    plenty = PLAIN_DRAW * 2 * (postings + 50)
    lines = [
        Line(location=location, quantity=plenty, item=m, unit_cost=Decimal(i + 1) / 8)
        for i, m in enumerate(materials)
        if not m.lot_tracked
    ]
    lines.append(  # an expired lot of the first tracked material: never drawn
        Line(
            location=location,
            quantity=Decimal(100),
            item=production.tracked[0],
            lot_code="EXPIRED",
            expiry_date=today - timedelta(days=1),
            unit_cost=Decimal(9),
        )
    )
    posting_create(
        kind=PostingKind.RECEIPT, lines=lines, user=None, idempotency_key=uuid.uuid4().hex
    )
    production.restock(first=True)
    return production


def production_floor(conn, p: Production, today) -> None:
    """The production posting's writes by hand: lock the candidate balances, posting, output
    lots, movements, the outputs' balance rows, the drawn balances, allocations, loss."""
    from django.utils import timezone

    cur = conn.cursor()
    location_id = p.location.pk
    cur.execute(
        "SELECT b.id, b.lot_id, b.quantity, l.item_id, l.unit_cost, l.expiry_date, l.received_on "
        "FROM stock_balance b JOIN stock_lot l ON l.id = b.lot_id "
        "WHERE l.item_id = ANY(%s) AND b.location_id = %s AND b.quantity > 0 "
        "AND NOT l.quarantined AND l.voided_by_id IS NULL "
        "AND (l.expiry_date IS NULL OR l.expiry_date >= %s) ORDER BY b.id FOR UPDATE OF b",
        [[m.pk for m in p.materials], location_id, today],
    )
    by_item = {}
    for row in cur.fetchall():
        by_item.setdefault(row[3], []).append(row)
    now = timezone.now()
    key = uuid.uuid4().hex
    cur.execute(POSTING_INSERT, ["production", now, key, "floor"])
    (posting_id,) = cur.fetchone()

    # Draw first expiry first: (line, lot, -quantity, unit cost, cost, feeds)
    draws, balances = [], []
    for line, item in enumerate(p.materials):
        need = TRACKED_DRAW if item.lot_tracked else PLAIN_DRAW
        rows = sorted(by_item[item.pk], key=lambda r: (r[5] is None, r[5], r[6], r[1]))
        for pk, lot_id, quantity, _, cost, _, _ in rows:
            take = min(quantity, need)
            need -= take
            balances += [pk, quantity - take]
            value = (take * cost).quantize(COST_QUANTUM, ROUND_HALF_UP)
            draws.append((line, lot_id, take, cost, value, p.feeds[line]))
            if not need:
                break
    p.drew(range(len(p.materials)))

    # Allocate: scrap's fixed value from the shared inputs by cost, the rest by weight.
    shared = [n for n, d in enumerate(draws) if d[5] is None]
    parts = split(SCRAP_VALUE, [draws[n][4] for n in shared], COST_QUANTUM)
    scrap_parts = dict(zip(shared, parts, strict=True))
    outputs = p.outputs()
    weights = {"a": outputs[0].weight, "b": outputs[1].weight}
    allocations = []  # (draw, output index, quantity, cost)
    totals = [Decimal(0)] * 3
    for n, (_, _, take, _, value, feeds) in enumerate(draws):
        fed = ["a", "b"] if feeds is None else list(feeds)
        rest = value - scrap_parts.get(n, Decimal(0))
        costs = split(rest, [weights[k] for k in fed], COST_QUANTUM)
        targets = [0 if k == "a" else 1 for k in fed]
        if n in scrap_parts:
            targets.append(2)
            costs.append(scrap_parts[n])
        quantities = split(take, costs, QUANTUM) if value else [take] + [0] * (len(costs) - 1)
        for t, q, c in zip(targets, quantities, costs, strict=True):
            totals[t] += c
            allocations.append((n, t, q, c))

    lot_rows = []  # (code, unit cost, item)
    for n, (o, value) in enumerate(zip(outputs, totals, strict=True), 1):
        with localcontext(prec=60):
            cost = (value / o.quantity).quantize(COST_QUANTUM, ROUND_HALF_UP)
        lot_rows.append((f"P{posting_id}-{n}", cost, o.item.pk))
    cur.execute(
        "INSERT INTO stock_lot (code, expiry_date, unit_cost, received_on, quarantined, "
        "quarantine_note, created_at, item_id, created_by_posting_id, voided_by_id) "
        f"VALUES {values(3, LOT_ROW)} RETURNING id",
        [v for code, cost, item in lot_rows for v in (code, cost, today, now, item, posting_id)],
    )
    lot_ids = [row[0] for row in cur.fetchall()]
    movements = []
    for line, lot_id, take, cost, _, _ in draws:
        movements += [posting_id, lot_id, location_id, -take, cost, line]
    for n, (o, lot_id) in enumerate(zip(outputs, lot_ids, strict=True)):
        movements += [
            posting_id,
            lot_id,
            location_id,
            o.quantity,
            lot_rows[n][1],
            len(p.materials) + n,
        ]
    rows = len(draws) + 3
    cur.execute(
        "INSERT INTO stock_movement (posting_id, lot_id, location_id, quantity, unit_cost, line) "
        f"VALUES {values(rows, '(%s, %s, %s, %s, %s, %s)')} RETURNING id",
        movements,
    )
    movement_ids = [row[0] for row in cur.fetchall()]
    cur.execute(
        "INSERT INTO stock_balance (lot_id, location_id, quantity) "
        f"VALUES {values(3, '(%s, %s, %s)')}",
        [
            v
            for o, lot_id in zip(outputs, lot_ids, strict=True)
            for v in (lot_id, location_id, o.quantity)
        ],
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
    loss = p.losses()[0]
    cur.execute(
        "INSERT INTO stock_loss (posting_id, kind, item_id, quantity, value, note) "
        "VALUES (%s, %s, %s, %s, 0, '')",
        [posting_id, loss.kind, loss.item.pk, loss.quantity],
    )
    conn.commit()


# Measuring ---------------------------------------------------------------------------------


def side_by_side(rounds: int, engine, floor, between=None) -> tuple[list[float], list[float]]:
    """Time `engine` and `floor` alternately, `rounds` times each; `between` and a periodic
    ANALYZE run untimed."""
    timings = ([], [])
    for n in range(rounds):
        if n % 50 == 0:
            analyze()  # as autovacuum would, in a run too short for it
        for n, run in enumerate((engine, floor)):
            if between is not None:
                between()
            start = time.perf_counter()
            run()
            timings[n].append((time.perf_counter() - start) * 1000)
    return sorted(timings[0]), sorted(timings[1])


def p95(timings: list[float]) -> float:
    return timings[max(int(len(timings) * 0.95) - 1, 0)]


def analyze() -> None:
    """Planner statistics for the freshly filled tables, as a database in use has."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def count_statements(run, show: bool = False) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from stock.models import workshop_today

    workshop_today()  # the workshop row is cached for a few seconds: read it before counting
    with CaptureQueriesContext(connection) as ctx:
        run()
    if show:
        for query in ctx.captured_queries:
            print(f"    {query['sql'][:150]}")
    return len(ctx.captured_queries)


def profile(label: str, run, times: int) -> None:
    """cProfile of `times` runs, and how much of their time was spent inside cursor.execute."""
    from django.db import connection

    waited = [0.0]

    def timed(execute, sql, params, many, context):
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            waited[0] += time.perf_counter() - start

    start = time.perf_counter()
    with connection.execute_wrapper(timed):
        for _ in range(times):
            run()
    total = time.perf_counter() - start
    print(
        f"\n{label}: {total / times * 1000:.2f} ms a posting, of which "
        f"{waited[0] / times * 1000:.2f} ms in cursor.execute "
        f"({waited[0] / total:.0%}); the rest is Python"
    )
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(times):
        run()
    profiler.disable()
    for order in ("tottime", "cumulative"):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(25)
        print(f"--- {label}, by {order} ---")
        print("\n".join(out.getvalue().splitlines()[6:]))


ENGINE_STEPS = [
    "_with_items_loaded",
    "lines_fingerprint",
    "_check_lines",
    "workshop_today",
    "_lock_items",
    "_lock_balances",
    "_draw",
    "_check_balances",
    "_allocate",
    "_new_lots",
    "_write_rows",
    "_write_movements",
]


def steps(label: str, run, times: int, between=None) -> None:
    """Wall time per posting in each step of the engine (inclusive: `_write_rows` holds the
    inserts and `_write_movements`), in each ORM insert, and in COMMIT."""
    from collections import defaultdict

    from django.db import connection
    from django.db.models.query import QuerySet

    from stock import engine

    spent = defaultdict(float)
    active = [False]  # off while `between` runs

    def timed(name, fn):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                if active[0]:
                    spent[name] += time.perf_counter() - start

        return wrapper

    def timed_queryset(method):
        original = getattr(QuerySet, method)

        def wrapper(self, *args, **kwargs):
            start = time.perf_counter()
            try:
                return original(self, *args, **kwargs)
            finally:
                if active[0]:
                    spent[f"{self.model.__name__}.objects.{method}"] += time.perf_counter() - start

        return original, wrapper

    saved = {name: getattr(engine, name) for name in ENGINE_STEPS}
    for name, fn in saved.items():
        setattr(engine, name, timed(name, fn))
    querysets = {m: timed_queryset(m) for m in ("create", "bulk_create")}
    for method, (_, wrapper) in querysets.items():
        setattr(QuerySet, method, wrapper)
    connection.ensure_connection()
    commit = connection.commit
    connection.commit = timed("COMMIT", commit)
    try:
        total = 0.0
        for _ in range(times):
            if between is not None:
                between()
            active[0] = True
            start = time.perf_counter()
            run()
            total += time.perf_counter() - start
            active[0] = False
    finally:
        for name, fn in saved.items():
            setattr(engine, name, fn)
        for method, (original, _) in querysets.items():
            setattr(QuerySet, method, original)
        del connection.commit
    print(f"\n{label}: {total / times * 1000:.2f} ms a posting; steps (ms, inclusive):")
    for name, seconds in sorted(spent.items(), key=lambda kv: -kv[1]):
        print(f"  {seconds / times * 1000:7.3f}  {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postings", type=int, default=500)
    parser.add_argument("--lines", type=int, default=20)
    parser.add_argument("--profile", action="store_true", help="profile the engine's postings")
    parser.add_argument("--keep", action="store_true", help="keep the bench database afterwards")
    args = parser.parse_args()

    url = os.environ.get("DATABASE_URL", "")
    if not url:
        sys.exit("Set DATABASE_URL to a PostgreSQL server, e.g. postgres:///loomworks")
    name, bench_url = bench_database_url(url)
    recreate(url, name)
    os.environ["DATABASE_URL"] = bench_url
    os.environ.setdefault("SECRET_KEY", "bench-only-not-secret")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "loomworks.settings")

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from stock.engine import Line, posting_create
    from stock.models import Item, Location, PostingKind, workshop_today

    call_command("migrate", verbosity=0)
    floor_conn = raw_connection(bench_url)
    profiled = 50 if args.profile else 0  # postings per profile, three times over

    # The plain posting: a dispatch of one unit from each of 20 lots.
    shelf = Location.objects.create(name="Bench shelf")
    items = [
        Item.objects.create(sku=f"BENCH-{i:02d}", name=f"Bench material {i}", unit="g")
        for i in range(args.lines)
    ]
    per_lot = Decimal(2 * args.postings + 3 * profiled + 20)
    receipt = posting_create(
        kind=PostingKind.RECEIPT,
        lines=[
            Line(location=shelf, quantity=per_lot, item=item, unit_cost=Decimal("0.01"))
            for item in items
        ],
        user=None,
        idempotency_key=uuid.uuid4().hex,
    )
    lots = list(receipt.lots)
    lot_ids = [lot.pk for lot in lots]
    analyze()

    def post(n_lines: int):
        return posting_create(
            kind=PostingKind.DISPATCH,
            lines=[Line(location=shelf, quantity=Decimal(-1), lot=lot) for lot in lots[:n_lines]],
            user=None,
            idempotency_key=uuid.uuid4().hex,
        )

    statements_1 = count_statements(lambda: post(1))
    statements_20 = count_statements(lambda: post(args.lines), show=args.profile)
    engine, floor = side_by_side(
        5, lambda: post(args.lines), lambda: plain_floor(floor_conn, shelf.pk, lot_ids)
    )  # warm up connections and plans
    engine, floor = side_by_side(
        args.postings,
        lambda: post(args.lines),
        lambda: plain_floor(floor_conn, shelf.pk, lot_ids),
    )

    # The production posting.
    production = make_production(shelf, args.lines, args.postings + 3 * profiled + 10)
    every = range(args.lines)
    analyze()
    production_statements_2 = count_statements(lambda: production.post([0, args.lines // 2]))
    production_statements_20 = count_statements(lambda: production.post(every), show=args.profile)
    today = workshop_today()
    for rounds in (5, args.postings):  # warm up, then measure
        p_engine, p_floor = side_by_side(
            rounds,
            lambda: production.post(every),
            lambda: production_floor(floor_conn, production, today),
            between=production.restock,
        )

    if args.profile:
        steps("Plain posting (engine)", lambda: post(args.lines), profiled)
        profile("Plain posting (engine)", lambda: post(args.lines), profiled)

        def produce():
            production.restock()
            production.post(every)

        steps(
            "Production posting (engine)",
            lambda: production.post(every),
            profiled,
            between=production.restock,
        )
        profile("Production posting (engine, restock included)", produce, profiled)

    floor_conn.close()
    from stock.checks import ledger_violations

    problems = ledger_violations()  # the floors' rows obey the ledger's rules too
    for problem in problems[:10]:
        print(f"  ledger: {problem}")
    connection.close()
    if problems:
        sys.exit(f"The bench database {name} breaks the ledger's rules: kept for a look.")
    if not args.keep:
        recreate(url, name, create=False)

    median, floor_median = statistics.median(engine), statistics.median(floor)
    p_median, p_floor_median = statistics.median(p_engine), statistics.median(p_floor)
    print(f"\nPosted {args.postings} postings of {args.lines} lines on PostgreSQL ({name}).")
    print(f"  plain:      median {median:.2f} ms   p95 {p95(engine):.2f} ms")
    print(f"  its floor:  median {floor_median:.2f} ms   p95 {p95(floor):.2f} ms")
    print(f"  ratio {median / floor_median:.2f}   ({median / args.lines:.3f} ms per line)")
    print(f"  SQL statements: {statements_1} for 1 line, {statements_20} for {args.lines} lines")
    print(f"  production: median {p_median:.2f} ms   p95 {p95(p_engine):.2f} ms")
    print(f"  its floor:  median {p_floor_median:.2f} ms   p95 {p95(p_floor):.2f} ms")
    print(f"  ratio {p_median / p_floor_median:.2f}")
    print(
        f"  SQL statements: {production_statements_2} for 2 input lines, "
        f"{production_statements_20} for {args.lines}"
    )
    print(
        json.dumps(
            {
                "median_ms": round(median, 3),
                "p95_ms": round(p95(engine), 3),
                "statements_1_line": statements_1,
                "statements_20_lines": statements_20,
                "floor_median_ms": round(floor_median, 3),
                "ratio": round(median / floor_median, 2),
                "production_median_ms": round(p_median, 3),
                "production_floor_median_ms": round(p_floor_median, 3),
                "production_ratio": round(p_median / p_floor_median, 2),
                "production_statements_2_lines": production_statements_2,
                "production_statements_20_lines": production_statements_20,
            }
        )
    )


if __name__ == "__main__":
    main()
