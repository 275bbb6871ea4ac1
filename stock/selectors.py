"""Reads that several stock pages share. Each runs a fixed number of queries per page."""

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.core.paginator import Paginator
from django.db import connection
from django.db.models import (
    Count,
    DecimalField,
    Exists,
    ExpressionWrapper,
    F,
    IntegerField,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
    Window,
)
from django.db.models.functions import Coalesce, Lower

from stock.models import (
    Allocation,
    Balance,
    Item,
    ItemKind,
    Location,
    Lot,
    Movement,
    Posting,
    QuarantineEvent,
    workshop_today,
)
from stock.ownership import owner_link
from stock.trace import DOWNSTREAM, UPSTREAM

PAGE_SIZE = 25
ZERO = Value(Decimal(0), output_field=DecimalField(max_digits=18, decimal_places=6))


@dataclass
class OnHandFilters:
    q: str = ""
    location: Location | None = None
    kind: str = ""
    expiring_within: int | None = None
    in_stock_only: bool = False


@dataclass
class LotRow:
    lot: Lot
    location: Location
    quantity: Decimal
    value: Decimal
    expired: bool
    expiring_soon: bool


@dataclass
class ItemRow:
    item: Item
    on_hand: Decimal
    value: Decimal
    next_expiry: date | None
    rows: list[LotRow] = field(default_factory=list)


def _balance_filter(filters: OnHandFilters, today: date, prefix: str = "") -> Q:
    condition = Q(**{f"{prefix}quantity__gt": 0})
    if filters.location is not None:
        condition &= Q(**{f"{prefix}location": filters.location})
    if filters.expiring_within is not None:
        condition &= Q(
            **{f"{prefix}lot__expiry_date__lte": today + timedelta(days=filters.expiring_within)}
        )
    return condition


def stock_on_hand(filters: OnHandFilters, page_number=1):
    """A page of items with totals, and for each its lots with quantity at each location.

    The totals are added up from the page's own balances, the rows it shows: summing every
    item's lots and balances in the database before paginating reads the whole lot table
    (a ledger of a million movements: hundreds of milliseconds, bench/trace.py)."""
    today = workshop_today()
    items = Item.objects.filter(archived=False)
    if filters.q:
        items = items.filter(Q(name__icontains=filters.q) | Q(sku__icontains=filters.q))
    if filters.kind:
        items = items.filter(kind=filters.kind)
    if filters.in_stock_only or filters.location is not None or filters.expiring_within is not None:
        held = Balance.objects.filter(_balance_filter(filters, today), lot__item=OuterRef("pk"))
        items = items.filter(Exists(held))
    items = items.order_by(Lower("name"), Lower("sku"))
    page = Paginator(items, PAGE_SIZE).get_page(page_number)

    rows = {item.pk: ItemRow(item, Decimal(0), Decimal(0), None) for item in page}
    balances = (
        Balance.objects.filter(_balance_filter(filters, today), lot__item__in=list(rows))
        .select_related("lot", "location")
        .order_by("lot__item", F("lot__expiry_date").asc(nulls_last=True), "lot__received_on")
    )
    soon = today + timedelta(days=30)
    for b in balances:
        expiry = b.lot.expiry_date
        row = rows[b.lot.item_id]
        value = b.quantity * b.lot.unit_cost
        row.on_hand += b.quantity
        row.value += value
        if expiry is not None and (row.next_expiry is None or expiry < row.next_expiry):
            row.next_expiry = expiry
        row.rows.append(
            LotRow(
                lot=b.lot,
                location=b.location,
                quantity=b.quantity,
                value=value,
                expired=expiry is not None and expiry < today,
                expiring_soon=expiry is not None and today <= expiry <= soon,
            )
        )
    return page, list(rows.values())


def lot_with_balances(pk: int) -> Lot:
    lot = Lot.objects.select_related("item", "created_by_posting__created_by").get(pk=pk)
    lot.balance_rows = list(
        lot.balances.filter(quantity__gt=0).select_related("location").order_by("location__name")
    )
    lot.on_hand = sum((b.quantity for b in lot.balance_rows), Decimal(0))
    return lot


def lot_movements(lot: Lot, page_number=1):
    """The lot's movements, newest first, each with the lot's running total after it."""
    movements = (
        Movement.objects.filter(lot=lot)
        .select_related("posting__created_by", "location")
        .annotate(
            running=Window(
                Sum("quantity"), order_by=[F("posting__created_at").asc(), F("id").asc()]
            )
        )
        .order_by("-posting__created_at", "-id")
    )
    return Paginator(movements, PAGE_SIZE).get_page(page_number)


def item_movements(item: Item, page_number=1):
    """All movements of an item's lots, newest first, each with the item's running total."""
    movements = (
        Movement.objects.filter(lot__item=item)
        .select_related("posting__created_by", "location", "lot")
        .annotate(
            running=Window(
                Sum("quantity"), order_by=[F("posting__created_at").asc(), F("id").asc()]
            )
        )
        .order_by("-posting__created_at", "-id")
    )
    return Paginator(movements, PAGE_SIZE).get_page(page_number)


def _per_posting(aggregate):
    """`aggregate` over a posting's movements, as a correlated subquery: the database works it
    out for the rows a page shows, not by joining every movement of the ledger first (a
    million of them: seconds), and a paginator's count stays a plain COUNT of postings."""
    return Coalesce(
        Subquery(
            Movement.objects.filter(posting=OuterRef("pk"))
            .order_by()
            .values("posting")
            .annotate(n=aggregate)
            .values("n"),
            output_field=IntegerField(),
        ),
        0,
    )


def postings(kind: str = "", page_number=1):
    """Newest first, each with what it involved (its first item and how many others) and
    whether it was reversed."""
    first_item = Movement.objects.filter(posting=OuterRef("pk")).order_by("id")
    qs = (
        Posting.objects.select_related("created_by")
        .annotate(
            lines=_per_posting(Count("id")),
            items=_per_posting(Count("lot__item", distinct=True)),
            first_item=Subquery(first_item.values("lot__item__name")[:1]),
            reversed=Exists(Posting.objects.filter(reverses=OuterRef("pk"))),
        )
        .order_by("-created_at", "-id")
    )
    if kind:
        qs = qs.filter(kind=kind)
    return Paginator(qs, PAGE_SIZE).get_page(page_number)


def posting_with_lines(pk: int) -> Posting:
    posting = Posting.objects.select_related("created_by", "reverses", "reversed_by").get(pk=pk)
    posting.lines = list(posting.movements.select_related("lot__item", "location").order_by("id"))
    for m in posting.lines:
        m.value = m.quantity * m.unit_cost
    posting.total_value = sum((m.value for m in posting.lines), Decimal(0))
    posting.owned_by = owner_link(posting)
    posting.loss_rows = list(posting.losses.select_related("item"))
    return posting


def quarantine_history(lot: Lot) -> list[QuarantineEvent]:
    return list(lot.quarantine_events.select_related("created_by").order_by("-created_at", "-id"))


def lot_inputs(lot: Lot) -> list[Allocation]:
    """What went into a lot made by production: each input lot with the quantity and cost
    allocated to this lot (reversed productions left out)."""
    return list(
        Allocation.objects.filter(output_lot=lot, posting__reversed_by__isnull=True)
        .select_related("movement__lot__item", "posting")
        .order_by("movement__lot__item__name", "id")
    )


def lot_outputs(lot: Lot, limit: int | None = None) -> list[Allocation]:
    """The lots a lot went into: each production output with the quantity of this lot in it,
    the latest first (at most `limit`: a busy wax lot went into hundreds; the forward trace
    has them all)."""
    rows = (
        Allocation.objects.filter(movement__lot=lot, posting__reversed_by__isnull=True)
        .select_related("output_lot__item", "posting")
        .order_by("-posting_id", "id")
    )
    return list(rows[:limit] if limit else rows)


# Every lot upstream of a lot (what it was made from, and what that was made from...), or
# downstream of it (what it went into, and so on), in one recursive query. Allocations are only
# written by production, so transfers, counts and adjustments never lead a walk in a circle;
# reversed productions are left out.
_UPSTREAM_SQL = UPSTREAM + "SELECT lot_id, MIN(depth) FROM walk WHERE depth > 0 GROUP BY lot_id"
_DOWNSTREAM_SQL = DOWNSTREAM + "SELECT lot_id, MIN(depth) FROM walk WHERE depth > 0 GROUP BY lot_id"


def _walk(sql: str, lot: Lot) -> list[tuple[Lot, int]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, [lot.pk])
        depths = dict(cursor.fetchall())
    lots = Lot.objects.select_related("item").in_bulk(depths)
    return sorted(
        ((lots[pk], depth) for pk, depth in depths.items()),
        key=lambda pair: (pair[1], pair[0].item.name, pair[0].code),
    )


def lots_upstream(lot: Lot) -> list[tuple[Lot, int]]:
    """(lot, steps back) for every lot that went into `lot`, however many stages back."""
    return _walk(_UPSTREAM_SQL, lot)


def lots_downstream(lot: Lot) -> list[tuple[Lot, int]]:
    """(lot, steps on) for every lot that `lot` went into, however many stages on."""
    return _walk(_DOWNSTREAM_SQL, lot)


@dataclass(frozen=True)
class Feed:
    """One allocation on the way up from a lot: `quantity` of `input_lot` (in its item's
    unit) went into `output_lot`, of which the posting that made it made `made`."""

    output_lot_id: int
    made: Decimal
    input_lot_id: int
    input_item_id: int
    input_is_material: bool
    quantity: Decimal


# Every allocation upstream of a lot, through what production made (semi-finished lots, units
# left in progress, scrap remelted) up to the bought materials, where it stops: a lot of a
# material is an ingredient, whatever made it (a batch's return is still that material). Each
# row carries how much its output lot's posting made of it, so a caller can tell what share of
# an input lot's contents went on. One query; reversed productions are left out.
_FEEDS_SQL = """
WITH RECURSIVE feed(allocation_id, output_lot_id, input_lot_id, posting_id, quantity, depth) AS (
    SELECT a.id, a.output_lot_id, m.lot_id, a.posting_id, a.quantity, 1
    FROM stock_allocation a
    JOIN stock_movement m ON m.id = a.movement_id
    WHERE a.output_lot_id = CAST(%s AS BIGINT)
      AND NOT EXISTS (SELECT 1 FROM stock_posting r WHERE r.reverses_id = a.posting_id)
    UNION
    SELECT a.id, a.output_lot_id, m.lot_id, a.posting_id, a.quantity, feed.depth + 1
    FROM feed
    JOIN stock_lot l ON l.id = feed.input_lot_id
    JOIN stock_item i ON i.id = l.item_id
    JOIN stock_allocation a ON a.output_lot_id = feed.input_lot_id
    JOIN stock_movement m ON m.id = a.movement_id
    WHERE i.kind <> %s
      AND NOT EXISTS (SELECT 1 FROM stock_posting r WHERE r.reverses_id = a.posting_id)
      AND feed.depth < 50
)
SELECT DISTINCT f.allocation_id, f.output_lot_id, f.input_lot_id, l.item_id, i.kind, f.quantity,
    (SELECT SUM(o.quantity) FROM stock_movement o
     WHERE o.posting_id = f.posting_id AND o.lot_id = f.output_lot_id AND o.quantity > 0)
FROM feed f
JOIN stock_lot l ON l.id = f.input_lot_id
JOIN stock_item i ON i.id = l.item_id
ORDER BY f.allocation_id
"""


def _decimal(value) -> Decimal:
    """A figure from a raw query: PostgreSQL gives a Decimal, SQLite a float or an int."""
    return value if isinstance(value, Decimal) else Decimal(str(value))


def feeds_upstream(lot: Lot) -> list[Feed]:
    """What went into `lot`, all the way up to the bought materials, as allocations."""
    with connection.cursor() as cursor:
        cursor.execute(_FEEDS_SQL, [lot.pk, ItemKind.MATERIAL.value])
        rows = cursor.fetchall()
    return [
        Feed(
            output_lot_id=output_lot_id,
            made=_decimal(made),
            input_lot_id=input_lot_id,
            input_item_id=item_id,
            input_is_material=kind == ItemKind.MATERIAL,
            quantity=_decimal(quantity),
        )
        for _, output_lot_id, input_lot_id, item_id, kind, quantity, made in rows
        if made
    ]


def locations_with_stock():
    """Every location with how many lots it holds and their value."""
    value = (
        Balance.objects.filter(location=OuterRef("pk"), quantity__gt=0)
        .order_by()
        .values("location")
        .annotate(
            v=Sum(
                ExpressionWrapper(
                    F("quantity") * F("lot__unit_cost"),
                    output_field=DecimalField(max_digits=30, decimal_places=6),
                )
            )
        )
        .values("v")
    )
    return Location.objects.annotate(
        lots_held=Count("balances", filter=Q(balances__quantity__gt=0)),
        value=Coalesce(Subquery(value), ZERO),
    ).order_by("archived", "name")


def lots_at(location: Location, *, item: Item | None = None, keep=()):
    """Balances at a location with their lots and items: what a count or transfer lists. Rows
    that hold stock, and the rows in `keep` (balance ids a submitted form named) even if they
    have been emptied since, so a figure typed for them is never dropped without a word."""
    balances = Balance.objects.filter(location=location).select_related("lot__item")
    balances = balances.filter(Q(quantity__gt=0) | Q(pk__in=list(keep)))
    if item is not None:
        balances = balances.filter(lot__item=item)
    return balances.order_by(
        "lot__item__name", F("lot__expiry_date").asc(nulls_last=True), "lot__code", "pk"
    )


COUNT_SHEET_SIZE = 200  # three fields a row; Django refuses a form of more than 1,000 fields


@dataclass
class CountSheet:
    balances: list[Balance]
    start: int  # how many lots come before this sheet
    total: int  # lots holding stock at the place, this sheet's included
    next_after: int | None  # the last balance of this sheet, when more lots follow it

    @property
    def end(self) -> int:
        return self.start + len(self.balances)


def _sheet_order(b: Balance):
    lot = b.lot
    return (
        lot.item.name.lower(),
        lot.item_id,
        lot.expiry_date is None,
        lot.expiry_date or date.max,
        lot.code,
        b.pk,
    )


def count_sheet(
    location: Location, *, item: Item | None = None, after: int | None = None, rows=None
) -> CountSheet:
    """One sheet of a location's count: the lots after balance `after` in sheet order (item,
    expiry, code), 200 at most. With `rows` (the balance ids a posted sheet showed), exactly
    those, so a figure typed on a sheet is never dropped because the list moved meanwhile.
    Paging by "after" rather than by page number: a lot counted to zero on one sheet does not
    push a lot of the next sheet onto the one already counted."""
    if rows is not None:
        balances = Balance.objects.filter(location=location, pk__in=list(rows))
        return CountSheet(
            balances=sorted(balances.select_related("lot__item"), key=_sheet_order),
            start=0,
            total=len(rows),
            next_after=None,
        )
    candidates = Balance.objects.filter(location=location).filter(
        Q(quantity__gt=0) | Q(pk=after or 0)
    )
    if item is not None:
        candidates = candidates.filter(lot__item=item)
    ordered = sorted(candidates.select_related("lot__item"), key=_sheet_order)
    start = 0
    if after is not None:
        start = next((n + 1 for n, b in enumerate(ordered) if b.pk == after), 0)
    sheet = ordered[start : start + COUNT_SHEET_SIZE]
    held = [b for b in ordered if b.quantity > 0]
    more = start + COUNT_SHEET_SIZE < len(ordered)
    return CountSheet(
        balances=sheet,
        start=sum(1 for b in ordered[:start] if b.quantity > 0),
        total=len(held),
        next_after=sheet[-1].pk if more and sheet else None,
    )


def lots_for_item(item: Item, location: Location | None = None):
    """Lots of an item that hold stock (at a location), first expiry first: the suggestion
    a form pre-fills is the first usable one."""
    balances = Balance.objects.filter(lot__item=item, quantity__gt=0).select_related(
        "lot__item", "location"
    )
    if location is not None:
        balances = balances.filter(location=location)
    return balances.order_by(
        F("lot__expiry_date").asc(nulls_last=True), "lot__received_on", "lot__id"
    )


def stock_totals() -> dict:
    """A few numbers for the dashboard, in one pass over the balances that hold stock."""
    today = workshop_today()
    soon = Q(lot__expiry_date__gte=today, lot__expiry_date__lte=today + timedelta(days=30))
    totals = Balance.objects.filter(quantity__gt=0).aggregate(
        value=Sum(
            ExpressionWrapper(
                F("quantity") * F("lot__unit_cost"),
                output_field=DecimalField(max_digits=30, decimal_places=6),
            )
        ),
        items_in_stock=Count("lot__item", distinct=True),
        expired_lots=Count("lot", distinct=True, filter=Q(lot__expiry_date__lt=today)),
        expiring_lots=Count("lot", distinct=True, filter=soon),
    )
    totals["value"] = totals["value"] or Decimal(0)
    totals["locations"] = Location.objects.filter(archived=False).count()
    return totals


def recent_postings(limit: int = 10) -> list[Posting]:
    return list(
        Posting.objects.select_related("created_by")
        .annotate(lines=_per_posting(Count("id")))
        .order_by("-created_at", "-id")[:limit]
    )
