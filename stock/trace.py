"""Traceability: where a lot came from, where it went, who received it (docs/design.md,
"Traceability").

Every walk is one recursive query over the ledger's allocations (production: which input
movement went into which output lot) and dispatch movements, in the database; reversed
productions and dispatches are left out. The same SQL runs on PostgreSQL and SQLite. A
variant's own inputs were allocated only to that variant's lots, so a forward trace from the
cedar oil reaches the cedar candles and their customers, not everyone who bought from the batch.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from django.db import connection
from django.db.models import Exists, OuterRef, Sum

from stock.limits import COST_QUANTUM, QUANTUM
from stock.models import Balance, Lot, Movement, Posting, PostingKind
from stock.ownership import owner_link

MAX_DEPTH = 50  # no real process has fifty stages; a guard, not a limit anyone meets

NOT_REVERSED = "NOT EXISTS (SELECT 1 FROM stock_posting r WHERE r.reverses_id = {posting})"

# Lots downstream of a start lot: what it went into, and what that went into.
DOWNSTREAM = f"""
WITH RECURSIVE walk(lot_id, depth) AS (
    SELECT CAST(%s AS BIGINT), 0
    UNION
    SELECT a.output_lot_id, walk.depth + 1
    FROM walk
    JOIN stock_movement m ON m.lot_id = walk.lot_id AND m.quantity < 0
    JOIN stock_allocation a ON a.movement_id = m.id
    WHERE {NOT_REVERSED.format(posting="a.posting_id")} AND walk.depth < {MAX_DEPTH}
)
"""

# Lots upstream of a start lot: what it was made from, and what that was made from.
UPSTREAM = f"""
WITH RECURSIVE walk(lot_id, depth) AS (
    SELECT CAST(%s AS BIGINT), 0
    UNION
    SELECT m.lot_id, walk.depth + 1
    FROM walk
    JOIN stock_allocation a ON a.output_lot_id = walk.lot_id
    JOIN stock_movement m ON m.id = a.movement_id
    WHERE {NOT_REVERSED.format(posting="a.posting_id")} AND walk.depth < {MAX_DEPTH}
)
"""

FORWARD_EDGES_SQL = (
    DOWNSTREAM
    + f"""
SELECT m.lot_id, a.output_lot_id, a.posting_id, SUM(a.quantity)
FROM (SELECT DISTINCT lot_id FROM walk) w
JOIN stock_movement m ON m.lot_id = w.lot_id AND m.quantity < 0
JOIN stock_allocation a ON a.movement_id = m.id
WHERE {NOT_REVERSED.format(posting="a.posting_id")}
GROUP BY m.lot_id, a.output_lot_id, a.posting_id
"""
)

BACKWARD_EDGES_SQL = (
    UPSTREAM
    + f"""
SELECT a.output_lot_id, m.lot_id, a.posting_id, SUM(a.quantity), SUM(a.cost),
       (SELECT -SUM(d.quantity) FROM stock_movement d
         WHERE d.posting_id = a.posting_id AND d.lot_id = m.lot_id)
FROM (SELECT DISTINCT lot_id FROM walk) w
JOIN stock_allocation a ON a.output_lot_id = w.lot_id
JOIN stock_movement m ON m.id = a.movement_id
WHERE {NOT_REVERSED.format(posting="a.posting_id")}
GROUP BY a.output_lot_id, m.lot_id, a.posting_id
"""
)

# Who received the start lot or anything made from it: the recall list, in one query.
RECALL_SQL = (
    DOWNSTREAM
    + f"""
SELECT d.id, c.id, c.name, c.email, d.channel, d.order_reference, d.dispatched_on,
       m.lot_id, -SUM(m.quantity)
FROM (SELECT DISTINCT lot_id FROM walk) w
JOIN stock_movement m ON m.lot_id = w.lot_id AND m.quantity < 0
JOIN stock_posting p ON p.id = m.posting_id AND p.kind = 'dispatch'
JOIN stock_dispatch d ON d.posting_id = p.id
JOIN stock_customer c ON c.id = d.customer_id
WHERE {NOT_REVERSED.format(posting="p.id")}
GROUP BY d.id, c.id, c.name, c.email, d.channel, d.order_reference, d.dispatched_on, m.lot_id
ORDER BY c.name, d.dispatched_on, d.id, m.lot_id
"""
)

AFFECTED_SQL = DOWNSTREAM + "SELECT DISTINCT lot_id FROM walk"


def _rows(sql: str, params) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _decimal(value, quantum: Decimal = QUANTUM) -> Decimal:
    """A sum from raw SQL as the ledger keeps it: SQLite adds decimals up as floats, so they
    are rounded back to the ledger's places (six for quantities, ten for costs)."""
    if isinstance(value, Decimal):
        return value
    return Decimal(str(value or 0)).quantize(quantum, ROUND_HALF_UP)


# The recall list ---------------------------------------------------------------------------


@dataclass
class Received:
    """One customer's share of the affected stock, from one dispatch and one lot."""

    dispatch_id: int
    customer_id: int
    name: str
    email: str
    channel: str
    order_reference: str
    dispatched_on: date
    lot: Lot
    quantity: Decimal


def recall(lot: Lot, lots: dict[int, Lot] | None = None) -> list[Received]:
    """Every customer who received `lot` or anything made from it (name, email, order, date,
    quantity, lot), reversed dispatches and productions left out. Two queries, or one when
    `lots` (the forward trace's) holds every lot it names."""
    rows = _rows(RECALL_SQL, [lot.pk])
    named = {row[7] for row in rows}
    if lots is None or not named <= lots.keys():
        lots = Lot.objects.select_related("item").in_bulk(named)
    return [
        Received(
            dispatch_id=d,
            customer_id=c,
            name=name,
            email=email,
            channel=channel,
            order_reference=order,
            dispatched_on=on if isinstance(on, date) else date.fromisoformat(on),
            lot=lots[lot_id],
            quantity=_decimal(q),
        )
        for d, c, name, email, channel, order, on, lot_id, q in rows
    ]


def affected_lots(lot: Lot) -> list[Lot]:
    """The lot and every lot made from it, however many stages on."""
    ids = [row[0] for row in _rows(AFFECTED_SQL, [lot.pk])]
    return list(Lot.objects.filter(pk__in=ids).select_related("item").order_by("id"))


# Forward and backward ----------------------------------------------------------------------


@dataclass
class Step:
    """One edge of a trace: `lot` went into (forward) or came from (backward) its parent
    through `posting`, with `quantity` of the input in it."""

    lot: Lot
    posting: Posting
    quantity: Decimal  # of the input lot, allocated to the output lot
    owner: tuple[str, str | None] | None
    drew: Decimal | None = None  # backward: how much of the input the posting drew in all
    cost: Decimal | None = None
    children: list["Step"] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)


@dataclass
class Trace:
    start: Lot
    steps: list[Step]  # the first level; each step holds its own children
    received: list[Received] = field(default_factory=list)  # forward: of the start lot itself
    lots: int = 0


def forward_trace(lot: Lot) -> Trace:
    """The batches `lot` went into, their output lots, and on, with the dispatches of each.
    Three queries, whatever the size of the tree: the walk, the lots it names (with their
    items and the postings that made them, read once for the tree and the recall list
    alike), the recall list."""
    edges = _rows(FORWARD_EDGES_SQL, [lot.pk])
    lots = _lots(lot, edges)
    received = recall(lot, lots)
    by_lot = defaultdict(list)
    for r in received:
        by_lot[r.lot.pk].append(r)
    steps = _tree(lot, edges, lots, parent_at=0, child_at=1, output_at=1)
    for step in _each(steps):
        step.received = by_lot.get(step.lot.pk, [])
    return Trace(start=lot, steps=steps, received=by_lot.get(lot.pk, []), lots=_count(steps))


def backward_trace(lot: Lot) -> Trace:
    """What `lot` was made from, down to the receipts, with at each step how much the posting
    drew of the input and the share of it that went into this lot. Two queries."""
    edges = _rows(BACKWARD_EDGES_SQL, [lot.pk])
    steps = _tree(lot, edges, _lots(lot, edges), parent_at=0, child_at=1, output_at=0)
    return Trace(start=lot, steps=steps, lots=_count(steps))


def _lots(start: Lot, edges) -> dict[int, Lot]:
    """Every lot a trace names (the start lot too), with its item and creating posting."""
    return Lot.objects.select_related("item", "created_by_posting").in_bulk(
        {start.pk} | {e[0] for e in edges} | {e[1] for e in edges}
    )


def _tree(start: Lot, edges, lots: dict[int, Lot], *, parent_at: int, child_at: int, output_at):
    # An edge's posting is the production that made its output lot: read with the lots.
    postings = {e[2]: lots[e[output_at]].created_by_posting for e in edges}
    strays = {pk for pk, posting in postings.items() if posting.pk != pk}
    if strays:  # a guard: the engine writes no allocation to a lot another posting made
        postings.update(Posting.objects.in_bulk(strays))
    owners = {pk: owner_link(posting) for pk, posting in postings.items()}  # once a posting
    children = defaultdict(list)
    for e in edges:
        posting = postings[e[2]]
        children[e[parent_at]].append(
            Step(
                lot=lots[e[child_at]],
                posting=posting,
                quantity=_decimal(e[3]),
                owner=owners[e[2]],
                cost=_decimal(e[4], COST_QUANTUM) if len(e) > 4 else None,
                drew=_decimal(e[5]) if len(e) > 5 else None,
            )
        )

    def grow(lot_id: int, seen: frozenset) -> list[Step]:
        level = sorted(children.get(lot_id, []), key=lambda s: (s.lot.item.name, s.lot.code))
        for step in level:
            if step.lot.pk not in seen:  # a guard: allocations never make a circle
                step.children = grow(step.lot.pk, seen | {step.lot.pk})
        return level

    return grow(start.pk, frozenset({start.pk}))


def _each(steps: list[Step]):
    for step in steps:
        yield step
        yield from _each(step.children)


def _count(steps: list[Step]) -> int:
    return len({s.lot.pk for s in _each(steps)})


# Reconciliation ----------------------------------------------------------------------------


@dataclass
class Reconciled:
    """Where every unit of an affected lot went: made = dispatched + in stock + used in
    batches + written off (adjustments and counts), reversed postings left out."""

    lot: Lot
    made: Decimal
    dispatched: Decimal
    in_stock: Decimal
    used: Decimal
    written_off: Decimal

    @property
    def accounted(self) -> Decimal:
        return self.dispatched + self.in_stock + self.used + self.written_off

    @property
    def balances(self) -> bool:
        return self.accounted == self.made


def reconciliation(lots: list[Lot]) -> list[Reconciled]:
    """Per lot, in two queries: its movements summed by what kind of posting made them (a
    reversed posting and its reversal left out: they cancel), and its balances."""
    ids = [lot.pk for lot in lots]
    sums = defaultdict(lambda: defaultdict(Decimal))
    rows = (
        Movement.objects.filter(lot_id__in=ids)
        .exclude(posting__kind=PostingKind.REVERSAL)
        # NOT EXISTS, not the LEFT JOIN ... IS NULL that reversed_by__isnull makes: PostgreSQL
        # takes that for one row in a million and walks every posting (half a second for a
        # busy lot's 850 lots, bench/trace.py).
        .exclude(Exists(Posting.objects.filter(reverses=OuterRef("posting"))))
        .values("lot_id", "posting__kind", "posting_id", "lot__created_by_posting_id")
        .annotate(total=Sum("quantity"))
    )
    for row in rows:
        made_here = row["posting_id"] == row["lot__created_by_posting_id"]
        kind = "made" if made_here else row["posting__kind"]
        sums[row["lot_id"]][kind] += row["total"]
    stock = dict(
        Balance.objects.filter(lot_id__in=ids)
        .values("lot_id")
        .annotate(total=Sum("quantity"))
        .values_list("lot_id", "total")
    )
    result = []
    for lot in lots:
        s = sums[lot.pk]
        result.append(
            Reconciled(
                lot=lot,
                made=s["made"],
                dispatched=-s[PostingKind.DISPATCH],
                in_stock=stock.get(lot.pk, Decimal(0)),
                used=-s[PostingKind.PRODUCTION],
                written_off=-(s[PostingKind.ADJUSTMENT] + s[PostingKind.COUNT]),
            )
        )
    return result
