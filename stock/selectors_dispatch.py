"""Reads for the customer and dispatch pages. Each runs a fixed number of queries, however many
customers, dispatches or lines there are."""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.core.paginator import Paginator
from django.db.models import Count, F, Max, Prefetch, Q
from django.db.models.functions import Lower

from stock.models import (
    Balance,
    Customer,
    Dispatch,
    DispatchLine,
    ItemKind,
    Location,
    Movement,
)

PAGE_SIZE = 25
# Offered on the dispatch form beside the channels already used.
USUAL_CHANNELS = ("Etsy", "Shopify", "Market", "Wholesale")


def customers(q: str = "", page_number=1):
    """A page of customers by name (the search matches name, email or phone), each with how
    many dispatches they received that stand (not reversed) and the date of the latest."""
    standing = Q(dispatches__posting__reversed_by__isnull=True)
    qs = Customer.objects.annotate(
        dispatch_count=Count("dispatches", filter=standing),
        last_dispatched=Max("dispatches__dispatched_on", filter=standing),
    )
    if q:
        qs = qs.filter(Q(name__icontains=q) | Q(email__icontains=q) | Q(phone__icontains=q))
    return Paginator(qs.order_by(Lower("name"), "id"), PAGE_SIZE).get_page(page_number)


@dataclass
class DispatchFilters:
    customer: Customer | None = None
    channel: str = ""
    since: date | None = None
    until: date | None = None


def dispatches(filters: DispatchFilters, page_number=1):
    """A page of dispatches, newest first, each with its customer, its lines (item and
    quantity) and whether it was reversed (`d.posting.reversed_by`)."""
    qs = Dispatch.objects.select_related("customer", "posting__reversed_by").prefetch_related(
        Prefetch("lines", queryset=DispatchLine.objects.select_related("item").order_by("id"))
    )
    if filters.customer is not None:
        qs = qs.filter(customer=filters.customer)
    if filters.channel:
        qs = qs.filter(channel__iexact=filters.channel)
    if filters.since is not None:
        qs = qs.filter(dispatched_on__gte=filters.since)
    if filters.until is not None:
        qs = qs.filter(dispatched_on__lte=filters.until)
    return Paginator(qs.order_by("-dispatched_on", "-id"), PAGE_SIZE).get_page(page_number)


def channels() -> list[str]:
    """The channels dispatches were sent through, and the usual ones, by name."""
    used = Dispatch.objects.exclude(channel="").order_by().values_list("channel", flat=True)
    known = {c.lower(): c for c in USUAL_CHANNELS}
    for c in used.distinct():
        known.setdefault(c.lower(), c)
    return sorted(known.values(), key=str.lower)


@dataclass
class SentLine:
    """One line of a dispatch as its page shows it: what was ordered and the lots it came from
    (the posting's movements of that line, as quantities sent)."""

    line: DispatchLine
    drawn: list[tuple[Movement, Decimal]] = field(default_factory=list)


def dispatch_with_lines(pk: int) -> Dispatch:
    """A dispatch with its customer, who recorded it, its reversal if any (who, when, why),
    `sent` (its lines with their lots) and `location` (where it was sent from). Four queries."""
    dispatch = Dispatch.objects.select_related(
        "customer", "created_by", "posting__reversed_by__created_by"
    ).get(pk=pk)
    lines = [SentLine(line) for line in dispatch.lines.select_related("item").order_by("id")]
    movements = (
        Movement.objects.filter(posting_id=dispatch.posting_id, quantity__lt=0)
        .select_related("lot", "location")
        .order_by("id")
        if dispatch.posting_id
        else []
    )
    dispatch.location = None
    for m in movements:
        if m.line < len(lines):
            lines[m.line].drawn.append((m, -m.quantity))
        dispatch.location = m.location
    dispatch.sent = lines
    return dispatch


def dispatch_for_key(key: str) -> Dispatch | None:
    """The dispatch a form with this key already made (a second tap, a resend)."""
    return Dispatch.objects.filter(key=key).first() if key else None


def lots_to_pick(location: Location | None, today: date, *, items=None) -> dict[int, list[Balance]]:
    """{item id: balances} with stock at `location` (of `items`, or of every product variant):
    usable lots first, in the order the ledger draws them (earliest expiry, lots without expiry
    last, then the earliest received), then the expired and quarantined ones. Each balance says
    whether it is `usable` (`Lot.is_usable`, the ledger's one rule). One query. The dispatch
    form's and a batch stage's lot pickers both read it."""
    if location is None:
        return {}
    balances = Balance.objects.filter(
        location=location, quantity__gt=0, lot__voided_by__isnull=True
    )
    if items is None:
        balances = balances.filter(lot__item__kind=ItemKind.VARIANT)
    else:
        balances = balances.filter(lot__item__in=items)
    balances = balances.select_related("lot__item").order_by(
        F("lot__expiry_date").asc(nulls_last=True), "lot__received_on", "lot_id"
    )
    by_item: dict[int, list[Balance]] = defaultdict(list)
    for b in balances:
        b.usable = b.lot.is_usable(today)
        by_item[b.lot.item_id].append(b)
    for rows in by_item.values():
        rows.sort(key=lambda b: not b.usable)  # stable: each group keeps the ledger's order
    return by_item


def first_expiry_first(
    balances: list[Balance], quantity: Decimal | None
) -> tuple[list[tuple[Balance, Decimal]], Decimal]:
    """What a draw of `quantity` with no lot named would take now, and what it would be short
    of: a preview, since the ledger picks under its lock when the dispatch is saved. Without a
    quantity: the first usable lot, all of it."""
    usable = [b for b in balances if b.usable]
    if quantity is None:
        return ([(usable[0], usable[0].quantity)] if usable else []), Decimal(0)
    taken, left = [], quantity
    for b in usable:
        if left <= 0:
            break
        take = min(left, b.quantity)
        taken.append((b, take))
        left -= take
    return taken, max(left, Decimal(0))
