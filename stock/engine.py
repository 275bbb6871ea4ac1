"""The posting engine: the only code that changes stock.

`posting_create` writes one posting in one transaction at READ COMMITTED. The steps, in order:

  1. insert the posting row: its unique idempotency key makes a second submission a replay;
  2. lock the items the lines name (FOR SHARE, by primary key) and re-read them: a unit,
     lot tracking or archive flag that changed since the caller looked is refused;
  3. lock every balance row the posting may touch (FOR UPDATE, by primary key, one statement),
     making the rows that do not exist yet first;
  4. draw: named lots as named, the rest first-expiry-first over usable lots, under the lock;
  5. refuse a negative balance or an unusable lot, with a message that names the item, the lot
     and the shortfall;
  6. production only: spread the drawn lots' costs over the outputs and losses (allocations),
     so each output lot's unit cost is its allocated value over its quantity;
  7. create the new lots, write the movements, the new and changed balances, the allocations
     and the losses, in bulk.

Lock order, everywhere: the caller's own row first (a batch), then items, then balances, each
by primary key. A deadlock or serialization failure is retried from the top, outside the
transaction (`run_with_retries`). The rules are in docs/design.md, "The stock ledger".
"""

import functools
import hashlib
import logging
import random
import re
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, localcontext

from django.core.exceptions import ValidationError
from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import Q

from stock.limits import (
    COST_PLACES,
    COST_QUANTUM,
    MAX_COST,
    MAX_QUANTITY,
    MAX_VALUE,
    QUANTITY_PLACES,
    QUANTUM,
)
from stock.models import (
    Allocation,
    Balance,
    Item,
    Location,
    Loss,
    LossKind,
    Lot,
    Movement,
    Posting,
    PostingKind,
    Reason,
    lot_is_usable,
    workshop_today,
)
from stock.units import Unit, display, plain

logger = logging.getLogger(__name__)

# Messages a maker reads. Tests assert on these.
INSUFFICIENT_LOT = "Not enough {item} (lot {lot}) at {location}: need {need}, have {have}."
INSUFFICIENT_ITEM = "Not enough {item} at {location}: need {need}, have {have} in usable lots."
INSUFFICIENT_EXPIRED = (
    "Not enough expired {item} at {location}: need {need}, have {have} in expired lots. "
    "To write off a lot that has not expired, name it and say why (damaged)."
)
EXPIRED_LOT = "{item} lot {lot} expired on {date:%d %b %Y} and cannot be used."
QUARANTINED_LOT = "{item} lot {lot} is quarantined and cannot be used until it is released."
VOIDED_LOT = "{item} lot {lot} was reversed and holds nothing."
LOT_REQUIRED = "{item} is lot-tracked: choose which lot."
LOT_CODE_REQUIRED = "{item} is lot-tracked: give the new lot its code."
LOT_CODE_TAKEN = "{item} already has a lot {code}: choose another code."
LOT_OF_OTHER_ITEM = "Lot {lot} belongs to {other}, not {item}."
ZERO_QUANTITY = "A quantity of zero changes nothing: enter how much."
WHOLE_PIECES = "{item} is counted in whole pieces: {quantity} is not a whole number."
TOO_MANY_DECIMALS = "{item}: {quantity} has more than {places} decimal places."
TOO_LARGE = "{item}: {quantity} is larger than the ledger can hold."
ARCHIVED_ITEM = "{item} is archived: it cannot receive stock."
ARCHIVED_LOCATION = "{location} is archived: stock cannot be put there."
NEGATIVE_COST = "{item}: a unit cost cannot be negative."
NO_LINES = "Nothing to post: add at least one line."
KEY_USED = (
    "This form was already posted with other figures, so nothing more was posted. "
    "Reload the page to start a new one."
)
COUNT_STALE = (
    "The books for {item} lot {lot} at {location} changed since the count was shown "
    "(then {seen}, now {now}). Show the differences again before posting."
)
COUNTED_TWICE = "{item} lot {lot} at {location} is counted twice: enter it once."
COST_OUT_OF_RANGE = "{item}: a unit cost of {cost} is out of range (at most {places} decimals)."
BALANCE_TOO_LARGE = "{item} (lot {lot}) at {location} would hold more than the ledger can."
ITEM_CHANGED = (
    "{item} was changed while this was being posted ({what}); nothing was posted. "
    "Check the figures and post again."
)
LOCKED_OUT = "Stock is busy with other postings right now; nothing was posted. Try again."
VALUE_TOO_LARGE = "This production is worth more than the ledger can hold."
UNIT_COST_TOO_LARGE = "{item}: that comes to a cost per unit larger than the ledger can hold."
MADE_UP_CODE_TAKEN = (
    "A lot code made up for this posting is already used by a lot typed in by hand: give the "
    "new lots their codes."
)
RACE_LOST = "Another posting changed these lots at the same moment; nothing was posted. Try again."
ALL_MATCHED = "Every counted quantity matches the books; nothing needed posting."
NOT_PRODUCTION = "Only a production posting has outputs and losses."
OUTPUT_NOT_POSITIVE = "{item}: an output needs a quantity above zero."
INPUT_NOT_NEGATIVE = "{item}: a production input takes stock out (a negative quantity)."
OUTPUT_KEY_TWICE = "Two outputs or losses are both called {key!r}."
UNKNOWN_FEED = "{item} feeds {key!r}, which is not an output or loss of this posting."
NO_FEED = "{item} feeds nothing: name at least one output, or leave it shared."
NEGATIVE_SHARE = "{item}: a cost share or value cannot be negative."
COST_NOWHERE = (
    "{item} costs {cost} but feeds no output that takes a share of cost: give an output "
    "a share, or record where it went."
)
LOSS_MORE_THAN_DRAWN = "{lost} of {item} lost, but only {drawn} of it was used."
SCRAP_TOO_VALUABLE = "{item} is valued at {value}, more than the inputs it came from cost ({cost})."

MAX_ATTEMPTS = 5
RETRYABLE_SQLSTATES = {"40P01", "40001"}  # deadlock_detected, serialization_failure

# Adjustments that write stock off may take it out of an expired or quarantined lot, when the
# lot is named: that is what they are for. Every other draw takes usable lots only.
WRITE_OFF_REASONS = {Reason.EXPIRED, Reason.DAMAGED}
# Postings that move or correct stock rather than use it: they may touch any named lot.
MOVES_ANY_LOT = {PostingKind.COUNT, PostingKind.REVERSAL, PostingKind.TRANSFER}
# Postings that may draw a lot-tracked item first-expiry-first when no lot is named.
AUTO_DRAWS_LOT_TRACKED = {PostingKind.PRODUCTION, PostingKind.DISPATCH}


class NothingToPost(ValidationError):
    """Every line cancelled out (a count that matched the books): no posting was written."""


@dataclass(frozen=True)
class Line:
    """One intended change. A negative quantity takes stock out, a positive one puts it in.

    - `lot` given: that lot.
    - `lot` None, quantity negative: drawn from `item`'s usable lots at `location`, first expiry
      first, then first in, first out.
    - `lot` None, quantity positive: a new lot of `item` (`lot_code`, `expiry_date`,
      `unit_cost`; no cost: the item's last known cost).
    - `counted`: `quantity` is the counted total of `lot` at `location`; the posting moves the
      difference from the balance at the moment it is locked. With `expected`, the count is
      refused if that balance is no longer what the person saw.
    - `feeds` (production inputs): the keys of the outputs and losses this input went into;
      None for a shared input, which feeds them all.
    """

    location: Location
    quantity: Decimal
    lot: Lot | None = None
    item: Item | None = None
    lot_code: str = ""
    expiry_date: date | None = None
    unit_cost: Decimal | None = None
    received_on: date | None = None  # a new lot's date, when it is not today (a late entry)
    counted: bool = False
    expected: Decimal | None = None  # counted lines: the balance the person saw
    feeds: tuple[str, ...] | None = None
    # A named lot that may be drawn although it is not usable: "expired" (a batch's own
    # semi-finished lot, whose expiry only tells the finished goods theirs), "any" (expired or
    # held: a cancelled batch writing off its own work in progress). Empty: usable lots only.
    unusable_ok: str = ""

    @property
    def the_item(self) -> Item:
        return self.lot.item if self.lot is not None else self.item


@dataclass(frozen=True)
class Output:
    """A lot a production posting makes. Its unit cost is not given: it is the value allocated
    to it from the lots really drawn, over its quantity.

    `weight` is its share of the cost of every input that feeds it (saleable units, usually;
    by default its quantity). `value` fixes what it is worth instead (scrap at its recoverable
    value), taken from the inputs that feed it in proportion to their cost."""

    key: str
    item: Item
    location: Location
    quantity: Decimal
    lot_code: str = ""
    expiry_date: date | None = None
    weight: Decimal | None = None
    value: Decimal | None = None
    # False: the given expiry stands (material returned to the shelf keeps its own date);
    # by default an output never outlives the earliest lot allocated to it.
    cap_expiry: bool = True


@dataclass(frozen=True)
class LossLine:
    """What a production posting consumed into no lot: waste, rejects, water lost. By default
    it takes no share of cost (the outputs carry it); a `weight` gives it one."""

    key: str
    kind: str
    item: Item
    quantity: Decimal
    weight: Decimal = Decimal(0)
    note: str = ""


@dataclass(frozen=True)
class PostingResult:
    """What one posting wrote, or had written when it is a replay of the same key."""

    posting: Posting
    replayed: bool
    lots: tuple[Lot | None, ...]  # per line: the lot it created
    movements: tuple[tuple[Movement, ...], ...]  # per line (a draw: one per lot it took from)
    outputs: tuple[Lot, ...] = ()  # per output: its lot
    allocations: tuple[Allocation, ...] = ()
    losses: tuple[Loss, ...] = ()


def fmt(quantity: Decimal, item: Item) -> str:
    return f"{display(quantity)} {item.unit}"


def may_draw_unusable(kind: str, reason: str = "") -> bool:
    """Whether a posting may take stock out of a named expired or quarantined lot."""
    return kind in MOVES_ANY_LOT or (kind == PostingKind.ADJUSTMENT and reason in WRITE_OFF_REASONS)


def unusable_reason(*, item_name, code, quarantined, voided, expiry, today) -> str | None:
    if voided:
        return VOIDED_LOT.format(item=item_name, lot=code)
    if quarantined:
        return QUARANTINED_LOT.format(item=item_name, lot=code)
    if expiry is not None and expiry < today:
        return EXPIRED_LOT.format(item=item_name, lot=code, date=expiry)
    return None


# The entry point ---------------------------------------------------------------------------


def posting_create(
    *,
    kind: str,
    lines: list[Line],
    user,
    idempotency_key: str,
    outputs: list[Output] = (),
    losses: list[LossLine] = (),
    reference: str = "",
    reason: str = "",
    note: str = "",
    reverses: Posting | None = None,
    owner: str = "",
    owner_ref: str = "",
) -> PostingResult:
    """Write one posting, all or nothing. The same idempotency key again returns what the first
    wrote (`replayed`); the same key with other figures is refused. May be called inside the
    caller's own transaction (a receipt, a batch): it then runs in a savepoint."""
    if not idempotency_key or len(idempotency_key) > 64:
        raise ValueError("idempotency_key must be 1 to 64 characters")
    outputs, losses = list(outputs), list(losses)
    lines = _with_items_loaded(lines)
    fingerprint = lines_fingerprint(
        kind,
        lines,
        reference,
        reason,
        outputs,
        losses,
        owner=owner,
        owner_ref=owner_ref,
        reverses=reverses,
    )
    try:
        _check_lines(kind, lines, outputs, losses)
    except ValidationError:
        # The same form again, after something it names changed (an item archived since):
        # it was posted, so say so rather than why it could not be posted now.
        existing = posting_for_key(idempotency_key, kind, fingerprint)
        if existing is not None:
            return result_of(existing, n_lines=len(lines), n_outputs=len(outputs))
        raise
    request = _Request(
        kind=kind,
        lines=lines,
        outputs=outputs,
        losses=losses,
        user=user if getattr(user, "is_authenticated", False) else None,
        idempotency_key=idempotency_key,
        fingerprint=fingerprint,
        reference=_fit(reference, Posting._meta.get_field("reference").max_length),
        reason=reason,
        note=note,
        reverses=reverses,
        owner=owner,
        owner_ref=owner_ref,
    )
    try:
        return run_with_retries(lambda: _write(request))
    except IntegrityError as exc:
        # The same key committed by a concurrent request (or long ago), or a lot code taken.
        return _explain_conflict(request, exc)


def posting_with_key(key: str) -> Posting | None:
    """The posting written with this idempotency key, whatever it held (a form that writes
    more than stock, such as an import, asks this before rebuilding what it would write)."""
    return Posting.objects.filter(idempotency_key=key).first()


def posting_for_key(key: str, kind: str, fingerprint: str) -> Posting | None:
    """The posting already written with this key, or None. A key that comes back with other
    figures (back button, corrected figures) is refused, not ignored. The one replay check."""
    posting = posting_with_key(key)
    if posting is None:
        return None
    # Postings written before fingerprints existed carry none: their key alone decides.
    if posting.kind != kind or posting.fingerprint not in (fingerprint, ""):
        raise ValidationError(KEY_USED, code="key_used")
    return posting


def result_of(posting: Posting, *, n_lines: int, n_outputs: int = 0) -> PostingResult:
    """What a posting wrote, read back (a replay answers with it)."""
    movements = list(posting.movements.select_related("lot__item", "location").order_by("id"))
    per_line = [[] for _ in range(n_lines)]
    lots = [None] * n_lines
    outputs = [None] * n_outputs
    for m in movements:
        if m.line < n_lines:
            per_line[m.line].append(m)
            if m.lot.created_by_posting_id == posting.pk and m.quantity > 0:
                lots[m.line] = m.lot
        elif m.line - n_lines < n_outputs:
            outputs[m.line - n_lines] = m.lot
    return PostingResult(
        posting=posting,
        replayed=True,
        lots=tuple(lots),
        movements=tuple(tuple(ms) for ms in per_line),
        outputs=tuple(outputs),
        allocations=tuple(posting.allocations.order_by("id")),
        losses=tuple(posting.losses.order_by("id")),
    )


def lines_fingerprint(
    kind: str,
    lines: list[Line],
    reference: str = "",
    reason: str = "",
    outputs: Iterable[Output] = (),
    losses: Iterable[LossLine] = (),
    *,
    owner: str = "",
    owner_ref: str = "",
    reverses: Posting | None = None,
) -> str:
    """A digest of what a submission asks for, kept with its idempotency key. Numbers enter
    in plain form, so the same figures always give the same digest."""

    def number(value):
        if value is None:
            return ""
        return plain(value) if value.is_finite() else value

    parts = [
        kind,
        reference.strip(),
        reason,
        owner,
        owner_ref,
        str(reverses.pk if reverses else ""),
    ]
    for line in lines:
        parts.append(
            "|".join(
                str(v)
                for v in (
                    line.lot.pk if line.lot is not None else "",
                    line.item.pk if line.item is not None else "",
                    line.location.pk,
                    number(line.quantity),
                    line.lot_code.strip(),
                    line.expiry_date or "",
                    number(line.unit_cost),
                    line.received_on or "",
                    line.counted,
                    ",".join(line.feeds) if line.feeds is not None else "*",
                )
            )
            + (f"|{line.unusable_ok}" if line.unusable_ok else "")
        )
    for o in outputs:
        parts.append(
            "|".join(
                str(v)
                for v in (
                    "out",
                    o.key,
                    o.item.pk,
                    o.location.pk,
                    number(o.quantity),
                    o.lot_code.strip(),
                    o.expiry_date or "",
                    number(o.weight),
                    number(o.value),
                )
            )
            + ("" if o.cap_expiry else "|uncapped")
        )
    for loss in losses:
        parts.append(
            "|".join(
                str(v) for v in ("loss", loss.key, loss.kind, loss.item.pk, number(loss.quantity))
            )
            + f"|{number(loss.weight)}"
        )
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def run_with_retries(write: Callable):
    """Run `write` (a function that opens its own transaction) again after a deadlock or a
    serialization failure, a few times, outside any transaction. Services in other apps that
    write a posting together with rows of their own use it around their whole transaction."""
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            return write()
        except OperationalError as exc:
            sqlstate = getattr(exc.__cause__, "sqlstate", None)
            if sqlstate not in RETRYABLE_SQLSTATES or connection.in_atomic_block:
                raise
            if attempt == MAX_ATTEMPTS:
                logger.warning("posting gave up after %s attempts: %s", attempt, exc)
                raise ValidationError(LOCKED_OUT, code="locked_out") from exc
            logger.info("posting retried after %s (attempt %s)", sqlstate, attempt)
            time.sleep(random.uniform(0.01, 0.05) * attempt)
    raise AssertionError("unreachable")


def item_last_unit_cost(item: Item) -> Decimal:
    """What the latest lot of an item cost, reversed lots skipped: the value stock found
    without a cost is booked at."""
    last = (
        item.lots.filter(voided_by__isnull=True)
        .order_by("-received_on", "-id")
        .values_list("unit_cost", flat=True)
        .first()
    )
    return last if last is not None else Decimal(0)


def split_exactly(amount: Decimal, weights: list[Decimal], quantum: Decimal) -> list[Decimal]:
    """`amount` shared in proportion to `weights`, each share rounded down to `quantum`, the
    remainder on the last share with a weight, so the shares add up to `amount` exactly."""
    total = sum(weights, Decimal(0))
    if not weights or total == 0:
        return [Decimal(0)] * len(weights)
    last = max(i for i, w in enumerate(weights) if w)
    shares = []
    with localcontext(prec=60):
        for i, w in enumerate(weights):
            shares.append(
                Decimal(0) if i == last else (amount * w / total).quantize(quantum, ROUND_DOWN)
            )
        shares[last] = amount - sum(shares, Decimal(0))
    return shares


# Checks that need no database --------------------------------------------------------------


def _with_items_loaded(lines: list[Line]) -> list[Line]:
    """Lines whose lots know their items, fetched in one query rather than one per line."""
    item_field = Lot._meta.get_field("item")
    missing = {line.lot.pk for line in lines if line.lot and not item_field.is_cached(line.lot)}
    if not missing:
        return list(lines)
    loaded = Lot.objects.select_related("item").in_bulk(missing)
    return [
        replace(line, lot=loaded[line.lot.pk]) if line.lot and line.lot.pk in loaded else line
        for line in lines
    ]


def _too_fine(value: Decimal, places: int) -> bool:
    exponent = value.normalize().as_tuple().exponent
    return isinstance(exponent, int) and -exponent > places


def _fits(value: Decimal, places: int, limit: Decimal) -> bool:
    return value.is_finite() and not _too_fine(value, places) and abs(value) < limit


def _quantity_problem(item: Item, q: Decimal, *, counted: bool = False) -> str | None:
    if not isinstance(q, Decimal) or not q.is_finite():
        raise TypeError(f"quantity must be a finite Decimal, got {q!r}")
    if _too_fine(q, QUANTITY_PLACES):
        return TOO_MANY_DECIMALS.format(
            item=item.name, quantity=f"{abs(q):f}", places=QUANTITY_PLACES
        )
    if abs(q) >= MAX_QUANTITY:
        return TOO_LARGE.format(item=item.name, quantity=f"{abs(q):f}")
    if q == 0 and not counted:
        return ZERO_QUANTITY
    if item.unit == Unit.EACH and q != q.to_integral_value():
        return WHOLE_PIECES.format(item=item.name, quantity=f"{abs(q):f}")
    return None


def _check_lines(kind: str, lines: list[Line], outputs, losses) -> None:
    """Checks that need no database: each error names the item."""
    if not lines and not outputs:
        raise ValidationError(NO_LINES, code="no_lines")
    if (outputs or losses) and kind != PostingKind.PRODUCTION:
        raise ValueError(NOT_PRODUCTION)
    errors = []
    counted = set()
    for line in lines:
        item = line.the_item
        if item is None:
            raise ValueError("a line names its lot or its item")
        q = line.quantity
        if problem := _quantity_problem(item, q, counted=line.counted):
            errors.append(problem)
        elif line.counted and (line.lot is None or q < 0):
            raise ValueError("a counted line names its lot and a quantity of zero or more")
        if line.counted:
            if (line.lot.pk, line.location.pk) in counted:
                errors.append(
                    COUNTED_TWICE.format(
                        item=item.name, lot=line.lot.code, location=line.location.name
                    )
                )
            counted.add((line.lot.pk, line.location.pk))
        if line.lot is not None and line.item is not None and line.lot.item_id != line.item.pk:
            errors.append(
                LOT_OF_OTHER_ITEM.format(lot=line.lot.code, other=line.lot.item, item=line.item)
            )
        if line.lot is None and q < 0 and item.lot_tracked and kind not in AUTO_DRAWS_LOT_TRACKED:
            errors.append(LOT_REQUIRED.format(item=item.name))
        if kind == PostingKind.PRODUCTION and q > 0:
            errors.append(INPUT_NOT_NEGATIVE.format(item=item.name))
        if line.lot is None and q > 0:
            if item.lot_tracked and not line.lot_code.strip():
                errors.append(LOT_CODE_REQUIRED.format(item=item.name))
            errors += _cost_problems(item, line.unit_cost)
        if q > 0 and not line.counted:
            errors += _incoming_problems(item, line.location)
    if outputs or losses:
        errors += _check_production(lines, outputs, losses)
    if errors:
        raise ValidationError(list(dict.fromkeys(errors)))


def _cost_problems(item: Item, cost: Decimal | None) -> list[str]:
    if cost is not None and cost < 0:
        return [NEGATIVE_COST.format(item=item.name)]
    if cost is not None and not _fits(cost, COST_PLACES, MAX_COST):
        return [COST_OUT_OF_RANGE.format(item=item.name, cost=cost, places=COST_PLACES)]
    return []


def _incoming_problems(item: Item, location: Location) -> list[str]:
    """Stock may not be put into an archived item or location: it would hide there."""
    errors = []
    if item.archived:
        errors.append(ARCHIVED_ITEM.format(item=item.name))
    if location.archived:
        errors.append(ARCHIVED_LOCATION.format(location=location.name))
    return errors


def _check_production(lines: list[Line], outputs: list[Output], losses: list[LossLine]):
    errors = []
    keys = [o.key for o in outputs] + [loss.key for loss in losses]
    for k in {k for k in keys if keys.count(k) > 1}:
        errors.append(OUTPUT_KEY_TWICE.format(key=k))
    for o in outputs:
        problem = _quantity_problem(o.item, o.quantity)
        if problem or o.quantity < 0:
            errors.append(problem or OUTPUT_NOT_POSITIVE.format(item=o.item.name))
        if o.item.lot_tracked and not o.lot_code.strip():
            errors.append(LOT_CODE_REQUIRED.format(item=o.item.name))
        if (o.weight is not None and o.weight < 0) or (o.value is not None and o.value < 0):
            errors.append(NEGATIVE_SHARE.format(item=o.item.name))
        errors += _incoming_problems(o.item, o.location)
    for loss in losses:
        if loss.kind not in LossKind.values:
            raise ValueError(f"unknown loss kind {loss.kind!r}")
        if loss.quantity < 0 or loss.weight < 0:
            errors.append(NEGATIVE_SHARE.format(item=loss.item.name))
        elif problem := _quantity_problem(loss.item, loss.quantity, counted=True):
            errors.append(problem)
    for line in lines:
        if line.feeds is None:
            continue
        if not line.feeds:
            errors.append(NO_FEED.format(item=line.the_item.name))
        for k in line.feeds:
            if k not in keys:
                errors.append(UNKNOWN_FEED.format(item=line.the_item.name, key=k))
    return errors


# The transaction ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Request:
    kind: str
    lines: list[Line]
    outputs: list[Output]
    losses: list[LossLine]
    user: object
    idempotency_key: str
    fingerprint: str
    reference: str
    reason: str
    note: str
    reverses: Posting | None
    owner: str
    owner_ref: str


@dataclass(slots=True)
class _Held:
    """A locked balance row, with what the posting needs of its lot (read under the lock)."""

    id: int
    lot_id: int
    location_id: int
    quantity: Decimal
    code: str
    expiry: date | None
    quarantined: bool
    voided: bool
    unit_cost: Decimal
    received_on: date
    item_id: int


@dataclass(slots=True)
class _Move:
    """One movement to write: line `line` changes (lot, location) by `delta`."""

    line: int
    lot_id: int | None  # None: a lot this posting creates (see `new`)
    location_id: int
    delta: Decimal
    unit_cost: Decimal | None = None
    new: int | None = None  # index into the posting's new lots


@dataclass
class _Plan:
    moves: list[_Move] = field(default_factory=list)
    totals: dict = field(default_factory=lambda: defaultdict(Decimal))  # (lot, loc) -> delta
    errors: list[str] = field(default_factory=list)


_HELD_FIELDS = (
    "pk",
    "lot_id",
    "location_id",
    "quantity",
    "lot__code",
    "lot__expiry_date",
    "lot__quarantined",
    "lot__voided_by_id",
    "lot__unit_cost",
    "lot__received_on",
    "lot__item_id",
)


@transaction.atomic
def _write(r: _Request) -> PostingResult:
    today = workshop_today()
    posting = Posting(
        kind=r.kind,
        reference=r.reference,
        reason=r.reason,
        note=r.note,
        created_by=r.user,
        idempotency_key=r.idempotency_key,
        fingerprint=r.fingerprint,
        reverses=r.reverses,
        owner=r.owner,
        owner_ref=r.owner_ref,
    )
    _insert([posting], _POSTING_COLUMNS)  # the same key again: IntegrityError, a replay
    items = _lock_items(r)
    held = _lock_balances(r)
    plan = _draw(r, held, items, today)
    _check_balances(plan, held, items, r)
    if plan.errors:
        raise ValidationError(list(dict.fromkeys(plan.errors)))
    allocations, loss_values, output_costs = _allocate(r, plan, held, items)
    caps = _input_expiries(plan, held, allocations)
    new_lots = _new_lots(r, posting, output_costs, today, caps)
    if not plan.moves and not new_lots:
        raise NothingToPost(ALL_MATCHED, code="nothing_to_post")
    return _write_rows(r, posting, plan, held, new_lots, allocations, loss_values)


def _lock_items(r: _Request) -> dict[int, Item]:
    """Lock the posting's items against change (FOR SHARE, by primary key) and refuse when
    one changed since the caller read it: grams must not land in an item now kept in kg."""
    seen = {line.the_item.pk: line.the_item for line in r.lines}
    seen.update({o.item.pk: o.item for o in r.outputs})
    seen.update({loss.item.pk: loss.item for loss in r.losses})
    ids = sorted(seen)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT id, unit, lot_tracked, archived FROM stock_item "
                "WHERE id = ANY(%s) ORDER BY id FOR SHARE",
                [ids],
            )
            rows = cursor.fetchall()
    else:
        rows = Item.objects.filter(pk__in=ids).values_list("pk", "unit", "lot_tracked", "archived")
    errors = []
    for pk, unit, lot_tracked, archived in rows:
        item = seen[pk]
        changed = []
        if unit != item.unit:
            changed.append(f"its unit is now {unit}")
        if lot_tracked != item.lot_tracked:
            changed.append("lot tracking was " + ("turned on" if lot_tracked else "turned off"))
        if archived != item.archived:
            changed.append("it was " + ("archived" if archived else "restored"))
        if changed:
            errors.append(ITEM_CHANGED.format(item=item.name, what=", ".join(changed)))
    if errors:
        raise ValidationError(errors)
    return seen


def _lock_balances(r: _Request) -> dict[tuple[int, int], _Held]:
    """Lock every balance row the posting may touch, in primary-key order, in one statement;
    rows that named lots need at new places are made first (INSERT ... ON CONFLICT DO NOTHING:
    a row lock cannot see a row another transaction is still inserting) and locked after."""
    named = {(line.lot.pk, line.location.pk) for line in r.lines if line.lot is not None}
    draws = {
        (line.item.pk, line.location.pk)
        for line in r.lines
        if line.lot is None and line.quantity < 0
    }
    held = _select_held(named, draws)
    missing = named - held.keys()
    if missing:
        Balance.objects.bulk_create(
            [Balance(lot_id=lot_id, location_id=loc_id) for lot_id, loc_id in sorted(missing)],
            ignore_conflicts=True,
        )
        held.update(_select_held(missing, set()))
    return held


# The balance rows a posting touches, locked in primary-key order; their lots are locked FOR
# SHARE in the same statement, so a hold, a release or a void of a lot waits for the postings
# in flight, and a posting that waited reads the lot as it is now. IN lists (a few rows more
# than needed at most: a lot's balance at another of the posting's locations), so a 5,000-line
# import is one plain index scan. Two kinds of rows: those of named lots (the balance's own
# columns) and the candidates of draws (the lot's item too). A posting that has only one kind
# asks for it alone; one that has both finds them in two branches, each with its own index, as
# one OR over both tables leaves the planner no index to start from (it scans stock_lot once
# many lots are on hand). The conditions are said again outside the branches, so a row that
# changed while this waited for its lock is judged as it is now.
_HELD_SELECT = """
SELECT b.id, b.lot_id, b.location_id, b.quantity, l.code, l.expiry_date, l.quarantined,
       l.voided_by_id, l.unit_cost, l.received_on, l.item_id
FROM stock_balance b JOIN stock_lot l ON l.id = b.lot_id
WHERE {where}
ORDER BY b.id
FOR UPDATE OF b FOR SHARE OF l
"""
_HELD_NAMED = "(b.lot_id = ANY(%(lots)s) AND b.location_id = ANY(%(lot_places)s))"
_HELD_DRAWN = (
    "(l.item_id = ANY(%(items)s) AND b.location_id = ANY(%(draw_places)s) AND b.quantity > 0)"
)
_HELD_BRANCHES = """b.id IN (
    SELECT b.id FROM stock_balance b WHERE {named}
    UNION ALL
    SELECT b.id FROM stock_balance b JOIN stock_lot l ON l.id = b.lot_id WHERE {drawn}
  ) AND ({named} OR {drawn})"""
_HELD_SQL = {
    (True, False): _HELD_SELECT.format(where=_HELD_NAMED),
    (False, True): _HELD_SELECT.format(where=_HELD_DRAWN),
    (True, True): _HELD_SELECT.format(
        where=_HELD_BRANCHES.format(named=_HELD_NAMED, drawn=_HELD_DRAWN)
    ),
}


def _select_held(pairs, draw_places) -> dict[tuple[int, int], _Held]:
    lot_ids, pair_places = [p[0] for p in pairs], list({p[1] for p in pairs})
    item_ids, draw_locs = list({d[0] for d in draw_places}), list({d[1] for d in draw_places})
    if not lot_ids and not item_ids:
        return {}
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                _HELD_SQL[(bool(lot_ids), bool(item_ids))],
                {
                    "lots": lot_ids,
                    "lot_places": pair_places,
                    "items": item_ids,
                    "draw_places": draw_locs,
                },
            )
            rows = cursor.fetchall()
    else:  # SQLite (make run): one writer at a time, no row locks to take
        rows = (
            Balance.objects.filter(
                Q(lot_id__in=lot_ids, location_id__in=pair_places)
                | Q(lot__item_id__in=item_ids, location_id__in=draw_locs, quantity__gt=0)
            )
            .order_by("pk")
            .values_list(*_HELD_FIELDS)
        )
    return {(row[1], row[2]): _Held(*row) for row in rows}


def _draw(r: _Request, held, items, today) -> _Plan:
    """Turn the lines into movements: named lots as named, counts as differences from the
    locked balance, unnamed draws first-expiry-first over usable lots."""
    plan = _Plan()
    allow_unusable = may_draw_unusable(r.kind, r.reason)
    on_hand = defaultdict(list)  # (item, location) -> locked rows holding stock, for draws
    if any(line.lot is None and line.quantity < 0 for line in r.lines):
        for row in held.values():
            if row.quantity > 0:
                on_hand[(row.item_id, row.location_id)].append(row)
    for i, line in enumerate(r.lines):
        if line.lot is None and line.quantity > 0:
            plan.moves.append(_Move(i, None, line.location.pk, line.quantity, new=i))
        elif line.lot is None:
            # An "expired" write-off that names no lot takes the expired lots, nothing else.
            expired = r.kind == PostingKind.ADJUSTMENT and r.reason == Reason.EXPIRED
            rows = on_hand[(line.item.pk, line.location.pk)]
            _draw_first_expiry_first(i, line, plan, rows, items, today, expired_only=expired)
        else:
            key = (line.lot.pk, line.location.pk)
            row = held[key]
            delta = line.quantity
            if line.counted:
                if line.expected is not None and row.quantity != line.expected:
                    plan.errors.append(
                        COUNT_STALE.format(
                            item=line.lot.item.name,
                            lot=row.code,
                            location=line.location.name,
                            seen=fmt(line.expected, line.lot.item),
                            now=fmt(row.quantity, line.lot.item),
                        )
                    )
                delta = line.quantity - row.quantity - plan.totals[key]
            if delta == 0:
                continue
            if delta > 0 and row.voided:
                plan.errors.append(VOIDED_LOT.format(item=line.lot.item.name, lot=row.code))
            if delta < 0 and not allow_unusable:
                problem = unusable_reason(
                    item_name=line.lot.item.name,
                    code=row.code,
                    quarantined=row.quarantined and line.unusable_ok != "any",
                    voided=row.voided,
                    expiry=None if line.unusable_ok else row.expiry,
                    today=today,
                )
                if problem:
                    plan.errors.append(problem)
            plan.totals[key] += delta
            plan.moves.append(_Move(i, row.lot_id, row.location_id, delta, row.unit_cost))
    return plan


def _draw_first_expiry_first(i, line, plan, rows, items, today, *, expired_only=False) -> None:
    """Draw `line` from `rows`, the locked rows of its item at its location that hold stock."""
    item = items[line.item.pk]

    def may_take(row) -> bool:
        if expired_only:
            return not row.voided and row.expiry is not None and row.expiry < today
        return lot_is_usable(
            quarantined=row.quarantined, voided=row.voided, expiry=row.expiry, today=today
        )

    candidates = sorted(
        (row for row in rows if may_take(row)),
        key=lambda row: (row.expiry is None, row.expiry or date.max, row.received_on, row.lot_id),
    )
    remaining = -line.quantity
    for row in candidates:
        key = (row.lot_id, row.location_id)
        take = min(row.quantity + plan.totals[key], remaining)
        if take > 0:
            plan.totals[key] -= take
            plan.moves.append(_Move(i, row.lot_id, row.location_id, -take, row.unit_cost))
            remaining -= take
        if remaining == 0:
            return
    plan.errors.append(
        (INSUFFICIENT_EXPIRED if expired_only else INSUFFICIENT_ITEM).format(
            item=item.name,
            location=line.location.name,
            need=fmt(-line.quantity, item),
            have=fmt(-line.quantity - remaining, item),
        )
    )


def _check_balances(plan: _Plan, held, items, r: _Request) -> None:
    locations = {line.location.pk: line.location for line in r.lines}
    for key, delta in plan.totals.items():
        row = held[key]
        item = items[row.item_id]
        if row.quantity + delta < 0:
            plan.errors.append(
                INSUFFICIENT_LOT.format(
                    item=item.name,
                    lot=row.code,
                    location=locations[row.location_id].name,
                    need=fmt(-delta, item),
                    have=fmt(row.quantity, item),
                )
            )
        elif row.quantity + delta >= MAX_QUANTITY:
            plan.errors.append(
                BALANCE_TOO_LARGE.format(
                    item=item.name, lot=row.code, location=locations[row.location_id].name
                )
            )


# Production: which input went into which output, and at what cost -------------------------


@dataclass(slots=True)
class _Target:
    key: str
    item: Item
    weight: Decimal
    value: Decimal | None  # fixed (scrap)
    output: int | None  # index into r.outputs, or None for a loss


def _targets(r: _Request) -> list[_Target]:
    targets = [
        _Target(o.key, o.item, o.quantity if o.weight is None else o.weight, o.value, n)
        for n, o in enumerate(r.outputs)
    ]
    targets += [_Target(loss.key, loss.item, loss.weight, None, None) for loss in r.losses]
    return targets


def _allocate(r: _Request, plan: _Plan, held, items):
    """See `_spread`; in a decimal context wide enough for any value the ledger holds."""
    with localcontext(prec=60):
        allocations, loss_values, output_values = _spread(r, plan, held, items)
    too_large = [v for v in (*loss_values, *output_values) if v >= MAX_VALUE]
    if too_large or any(cost >= MAX_VALUE for *_, cost in allocations):
        raise ValidationError(VALUE_TOO_LARGE, code="too_large")
    for o, value in zip(r.outputs, output_values, strict=True):
        if value / o.quantity >= MAX_COST:
            raise ValidationError(UNIT_COST_TOO_LARGE.format(item=o.item.name))
    return allocations, loss_values, output_values


def _spread(r: _Request, plan: _Plan, held, items):
    """Spread each drawn lot's cost (and quantity) over the outputs and losses its line feeds:
    fixed values (scrap) first, in proportion to the inputs' cost, then the rest by weight.
    Shares are rounded to the ledger's places with the remainder on the last, so the posting's
    input cost equals its outputs' value plus its losses' value, exactly.

    Returns (allocations as (move index, output index, quantity, cost), the value of each
    loss, the value of each output)."""
    if r.kind != PostingKind.PRODUCTION or not (r.outputs or r.losses):
        return [], [], []
    targets = _targets(r)
    by_key = {t.key: n for n, t in enumerate(targets)}
    inputs = []  # (move index, target indexes, cost)
    for m, move in enumerate(plan.moves):
        line = r.lines[move.line]
        fed = range(len(targets)) if line.feeds is None else [by_key[k] for k in line.feeds]
        cost = (-move.delta * move.unit_cost).quantize(COST_QUANTUM, ROUND_HALF_UP)
        inputs.append((m, list(fed), cost))

    shares = defaultdict(Decimal)  # (input n, target n) -> cost
    errors = []
    for t, target in enumerate(targets):
        if target.value is None:
            continue
        feeding = [(n, cost) for n, (_, fed, cost) in enumerate(inputs) if t in fed]
        total = sum((cost for _, cost in feeding), Decimal(0))
        if target.value > total:
            errors.append(
                SCRAP_TOO_VALUABLE.format(item=target.item.name, value=target.value, cost=total)
            )
            continue
        parts = split_exactly(target.value, [cost for _, cost in feeding], COST_QUANTUM)
        for (n, _), part in zip(feeding, parts, strict=True):
            shares[(n, t)] += part
    for n, (m, fed, cost) in enumerate(inputs):
        rest = cost - sum((shares[(n, t)] for t in fed), Decimal(0))
        weighted = [t for t in fed if targets[t].value is None and targets[t].weight > 0]
        if rest < 0:
            item = items[held[(plan.moves[m].lot_id, plan.moves[m].location_id)].item_id]
            errors.append(SCRAP_TOO_VALUABLE.format(item=item.name, value=cost - rest, cost=cost))
        elif rest > 0 and not weighted:
            item = items[held[(plan.moves[m].lot_id, plan.moves[m].location_id)].item_id]
            errors.append(COST_NOWHERE.format(item=item.name, cost=rest))
        elif weighted:
            parts = split_exactly(rest, [targets[t].weight for t in weighted], COST_QUANTUM)
            for t, part in zip(weighted, parts, strict=True):
                shares[(n, t)] += part
    if errors:
        raise ValidationError(list(dict.fromkeys(errors)))

    lost = _lost_quantities(r, plan, held, targets, inputs)
    allocations = []
    values = [Decimal(0)] * len(targets)
    for n, (m, fed, cost) in enumerate(inputs):
        quantity = -plan.moves[m].delta - lost[n]
        lot_targets = [t for t in fed if targets[t].output is not None]
        lot_costs = [shares[(n, t)] for t in lot_targets]
        if cost:  # its quantity follows its cost: what the losses took is not in any lot
            to_lots = sum(lot_costs, Decimal(0))
            if to_lots != cost and not lost[n]:
                with localcontext(prec=60):
                    quantity = (quantity * to_lots / cost).quantize(QUANTUM, ROUND_DOWN)
            q_parts = split_exactly(quantity, lot_costs, QUANTUM)
        else:  # a free input: its quantity follows the weights
            weights = [targets[t].weight for t in lot_targets]
            if not any(weights):
                weights = [Decimal(1)] * len(lot_targets)
            q_parts = split_exactly(quantity, weights, QUANTUM)
        for t in fed:
            values[t] += shares[(n, t)]
        for t, q in zip(lot_targets, q_parts, strict=True):
            if q or shares[(n, t)]:
                allocations.append((m, targets[t].output, q, shares[(n, t)]))
    output_values = [values[t] for t, target in enumerate(targets) if target.output is not None]
    loss_values = [values[t] for t, target in enumerate(targets) if target.output is None]
    return allocations, loss_values, output_values


def _lost_quantities(r: _Request, plan: _Plan, held, targets, inputs) -> dict[int, Decimal]:
    """How much of each input a loss of the same item took (20 g of the wax went to waste), in
    proportion to the inputs of that item that feed it: that much went into no lot."""
    lost = defaultdict(Decimal)
    errors = []
    for t, target in enumerate(targets):
        if target.output is not None:
            continue
        loss = r.losses[t - len(r.outputs)]
        same = [
            (n, -plan.moves[m].delta)
            for n, (m, fed, _) in enumerate(inputs)
            if t in fed
            and held[(plan.moves[m].lot_id, plan.moves[m].location_id)].item_id == loss.item.pk
        ]
        if not same or not loss.quantity:
            continue
        drawn = sum((q for _, q in same), Decimal(0))
        if loss.quantity > drawn:
            errors.append(
                LOSS_MORE_THAN_DRAWN.format(
                    item=loss.item.name,
                    lost=fmt(loss.quantity, loss.item),
                    drawn=fmt(drawn, loss.item),
                )
            )
            continue
        parts = split_exactly(loss.quantity, [q for _, q in same], QUANTUM)
        for (n, _), part in zip(same, parts, strict=True):
            lost[n] += part
    if errors:
        raise ValidationError(errors)
    return lost


# Writing -----------------------------------------------------------------------------------


def _input_expiries(plan: _Plan, held, allocations) -> dict[int, date]:
    """Per output: the earliest expiry among the lots allocated to it. An output never
    outlives what went into it."""
    earliest: dict[int, date] = {}
    for m, output, _, _ in allocations:
        move = plan.moves[m]
        expiry = held[(move.lot_id, move.location_id)].expiry
        if expiry is not None and (output not in earliest or expiry < earliest[output]):
            earliest[output] = expiry
    return earliest


def _new_lots(r: _Request, posting: Posting, output_values, today, caps) -> list[Lot]:
    """The lots this posting makes, in order: one per incoming line that names no lot, then
    one per output, costed from the value allocated to it, expiring no later than the earliest
    lot allocated to it."""
    wanted = [(i, line) for i, line in enumerate(r.lines) if line.lot is None and line.quantity > 0]
    count = len(wanted) + len(r.outputs)
    prefix = posting.kind[0].upper()
    last_costs = {}

    def new_lot(n, item, code, expiry, cost, received_on) -> Lot:
        return Lot(
            item=item,
            code=code.strip() or _made_up_code(prefix, posting, n, count),
            expiry_date=expiry or expiry_from_shelf_life(item, received_on),
            unit_cost=cost,
            created_by_posting=posting,
            received_on=received_on,
        )

    lots = []
    for n, (_, line) in enumerate(wanted, start=1):
        cost = line.unit_cost
        if cost is None:
            if line.item.pk not in last_costs:
                last_costs[line.item.pk] = item_last_unit_cost(line.item)
            cost = last_costs[line.item.pk]
        lots.append(
            new_lot(n, line.item, line.lot_code, line.expiry_date, cost, line.received_on or today)
        )
    for n, (o, value) in enumerate(zip(r.outputs, output_values, strict=True), len(wanted) + 1):
        with localcontext(prec=60):
            cost = (value / o.quantity).quantize(COST_QUANTUM, ROUND_HALF_UP)
        lot = new_lot(n, o.item, o.lot_code, o.expiry_date, cost, today)
        cap = caps.get(n - len(wanted) - 1) if o.cap_expiry else None
        if cap is not None and (lot.expiry_date is None or cap < lot.expiry_date):
            lot.expiry_date = cap
        lots.append(lot)
    codes = [(lot.item_id, lot.code) for lot in lots]
    twice = {c for c in codes if codes.count(c) > 1}
    if twice:
        names = {lot.item_id: lot.item.name for lot in lots}
        raise ValidationError(
            [LOT_CODE_TAKEN.format(item=names[i], code=code) for i, code in sorted(twice)]
        )
    return lots


def _made_up_code(prefix: str, posting: Posting, n: int, count: int) -> str:
    return f"{prefix}{posting.pk}" + (f"-{n}" if count > 1 else "")


def expiry_from_shelf_life(item: Item, received_on: date) -> date | None:
    if item.shelf_life_days:
        try:
            return received_on + timedelta(days=item.shelf_life_days)
        except OverflowError:
            return None
    return None


def _write_rows(r, posting, plan, held, new_lots, allocations, loss_values) -> PostingResult:
    _insert(new_lots, _LOT_COLUMNS)  # a code taken meanwhile: IntegrityError, explained above
    n_lines = len(r.lines)
    line_lots = [None] * n_lines
    for i, lot in zip(
        [i for i, line in enumerate(r.lines) if line.lot is None and line.quantity > 0],
        new_lots,
        strict=False,
    ):
        line_lots[i] = lot
    output_lots = new_lots[len(new_lots) - len(r.outputs) :]
    movements = []
    for move in plan.moves:
        if move.new is not None:
            lot = line_lots[move.new]
            movements.append(
                _row(
                    Movement,
                    (posting.pk, lot.pk, move.location_id, move.delta, lot.unit_cost, move.line),
                    posting=posting,
                    lot=lot,
                )
            )
        else:
            movements.append(
                _row(
                    Movement,
                    (
                        posting.pk,
                        move.lot_id,
                        move.location_id,
                        move.delta,
                        move.unit_cost,
                        move.line,
                    ),
                    posting=posting,
                )
            )
    for n, (o, lot) in enumerate(zip(r.outputs, output_lots, strict=True)):
        movements.append(
            _row(
                Movement,
                (posting.pk, lot.pk, o.location.pk, o.quantity, lot.unit_cost, n_lines + n),
                posting=posting,
                lot=lot,
                location=o.location,
            )
        )
    # A new lot's balance row cannot exist elsewhere yet: it is inserted, not locked.
    new_ids = {lot.pk for lot in new_lots}
    _write_movements(
        movements,
        opened=[(m.lot_id, m.location_id, m.quantity) for m in movements if m.lot_id in new_ids],
        changed=[
            (held[key].id, held[key].quantity + delta)
            for key, delta in plan.totals.items()
            if delta
        ],
    )
    allocation_rows = [
        _row(
            Allocation,
            (posting.pk, movements[m].pk, output_lots[o].pk, q, cost),
            posting=posting,
            movement=movements[m],
            output_lot=output_lots[o],
        )
        for m, o, q, cost in allocations
    ]
    _insert(allocation_rows, _ALLOCATION_COLUMNS)
    loss_rows = [
        Loss(
            posting=posting,
            kind=loss.kind,
            item=loss.item,
            quantity=loss.quantity,
            value=value,
            note=loss.note,
        )
        for loss, value in zip(r.losses, loss_values, strict=True)
    ]
    _insert(loss_rows, _LOSS_COLUMNS)
    per_line = [[] for _ in range(n_lines)]
    for m in movements[: len(plan.moves)]:
        per_line[m.line].append(m)
    return PostingResult(
        posting=posting,
        replayed=False,
        lots=tuple(line_lots),
        movements=tuple(tuple(ms) for ms in per_line),
        outputs=tuple(output_lots),
        allocations=tuple(allocation_rows),
        losses=tuple(loss_rows),
    )


def _row(model, values: tuple, **related):
    """A new ledger row: its model instance from the values of its columns in `_columns`
    order, with the related instances it was made from cached, as keyword construction
    would leave it. Positional construction costs less than half as much, over hundreds of
    movements and allocations a posting."""
    obj = model(None, *values)
    obj._state.fields_cache.update(related)
    return obj


def _columns(model) -> tuple[str, ...]:
    """The columns an insert writes: every concrete field but the primary key, in the model's
    order (a foreign key by its `_id`), as bulk_create writes them."""
    fields = model._meta.concrete_fields
    assert fields[0].primary_key and all(f.column == f.attname for f in fields)
    return tuple(f.attname for f in fields[1:])


_POSTING_COLUMNS = _columns(Posting)
_LOT_COLUMNS = _columns(Lot)
_MOVEMENT_COLUMNS = _columns(Movement)
_ALLOCATION_COLUMNS = _columns(Allocation)
_LOSS_COLUMNS = _columns(Loss)


@functools.cache
def _unnest(model, columns: tuple[str, ...]) -> tuple[str, tuple[bool, ...]]:
    """UNNEST(%s::type[], ...): one array per column, so the statement's text and its number of
    parameters stay the same however many rows go in (psycopg parses a statement of more than
    50 parameters anew every time). Also, per column, whether it is numeric."""
    # Each array is cast to its column's type without a length or precision (varchar, not
    # varchar(64)): an explicit cast would cut a value short where the column refuses it.
    types = [
        re.sub(r"\(.*\)", "", model._meta.get_field(column).db_type(connection))
        for column in columns
    ]
    sql = "UNNEST(" + ", ".join(f"%s::{t}[]" for t in types) + ")"
    return sql, tuple(t == "numeric" for t in types)


def _numbers(values: list) -> list:
    """A numeric column's values as Decimals: psycopg refuses an array that mixes 0 and
    Decimal("1.5"), where the ORM takes either."""
    return [v if v is None or isinstance(v, Decimal) else Decimal(v) for v in values]


def _insert(objs: list, columns: tuple[str, ...]) -> None:
    """Insert new ledger rows, all of one model, and give each its primary key, as
    bulk_create does. On PostgreSQL: one INSERT ... SELECT FROM UNNEST(...) RETURNING id
    (bulk_create's preparation of every value costs more than the database's work);
    elsewhere bulk_create."""
    if not objs:
        return
    model = type(objs[0])
    if connection.vendor != "postgresql":
        model.objects.bulk_create(objs)
        return
    unnest, numeric = _unnest(model, columns)
    arrays = [[getattr(obj, column) for obj in objs] for column in columns]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {model._meta.db_table} ({', '.join(columns)}) "
            f"SELECT * FROM {unnest} RETURNING id",
            [_numbers(a) if n else a for a, n in zip(arrays, numeric, strict=True)],
        )
        _saved(objs, cursor.fetchall())  # RETURNING gives them in order, as bulk_create trusts


def _saved(objs: list, ids: list[tuple[int]]) -> None:
    """Rows inserted: their primary keys, and their instances marked as from the database."""
    alias = connection.alias
    for obj, (pk,) in zip(objs, ids, strict=True):
        obj.pk = pk
        obj._state.adding = False
        obj._state.db = alias


_OPEN_BALANCES = (
    "INSERT INTO stock_balance (lot_id, location_id, quantity) "
    "SELECT * FROM UNNEST(%s::bigint[], %s::bigint[], %s::numeric[])"
)
_CHANGE_BALANCES = (
    "UPDATE stock_balance AS b SET quantity = v.quantity "
    "FROM UNNEST(%s::bigint[], %s::numeric[]) AS v(id, quantity) WHERE b.id = v.id"
)


def _write_movements(movements: list[Movement], *, opened, changed) -> None:
    """The movements, with the balances they change: the rows of new lots inserted (`opened`:
    lot, location, quantity) and the locked rows set to their new quantities (`changed`: id,
    quantity). On PostgreSQL one statement (the balances' writes in WITH clauses beside the
    movements' insert), so the cache is written with what it caches in one round trip."""
    if connection.vendor != "postgresql":
        _insert(movements, _MOVEMENT_COLUMNS)
        Balance.objects.bulk_create(
            [Balance(lot_id=lot, location_id=loc, quantity=q) for lot, loc, q in opened]
        )
        Balance.objects.bulk_update([Balance(pk=pk, quantity=q) for pk, q in changed], ["quantity"])
        return
    unnest, numeric = _unnest(Movement, _MOVEMENT_COLUMNS)
    arrays = [[getattr(m, column) for m in movements] for column in _MOVEMENT_COLUMNS]
    params = [_numbers(a) if n else a for a, n in zip(arrays, numeric, strict=True)]
    clauses = [
        f"moved AS (INSERT INTO stock_movement ({', '.join(_MOVEMENT_COLUMNS)}) "
        f"SELECT * FROM {unnest} RETURNING id)"
    ]
    if opened:
        clauses.append(f"opened AS ({_OPEN_BALANCES})")
        params += [[r[0] for r in opened], [r[1] for r in opened], _numbers([r[2] for r in opened])]
    if changed:
        clauses.append(f"changed AS ({_CHANGE_BALANCES})")
        params += [[pk for pk, _ in changed], _numbers([q for _, q in changed])]
    with connection.cursor() as cursor:
        # Ids come from the sequence in the order the rows went in.
        cursor.execute(f"WITH {', '.join(clauses)} SELECT id FROM moved ORDER BY id", params)
        _saved(movements, cursor.fetchall())


def _fit(text: str, length: int) -> str:
    """A reference made of names, shortened to fit its column."""
    text = text.strip()
    return text if len(text) <= length else text[: length - 1] + "…"


def _explain_conflict(r: _Request, exc: IntegrityError) -> PostingResult:
    """After a unique key refused the posting: a replay of the same key, or a lot code that
    another posting took at the same moment, or a race the maker can simply retry."""
    existing = posting_for_key(r.idempotency_key, r.kind, r.fingerprint)
    if existing is not None:
        return result_of(existing, n_lines=len(r.lines), n_outputs=len(r.outputs))
    wanted = [(line.item, line.lot_code.strip()) for line in r.lines if line.lot is None]
    wanted += [(o.item, o.lot_code.strip()) for o in r.outputs]
    taken = [
        LOT_CODE_TAKEN.format(item=item.name, code=code)
        for item, code in wanted
        if code and Lot.objects.filter(item=item, code=code, voided_by__isnull=True).exists()
    ]
    if taken:
        raise ValidationError(taken, code="lot_code_taken")
    constraint = getattr(getattr(exc.__cause__, "diag", None), "constraint_name", "") or ""
    if "lot_code" in constraint:  # a code made up from the posting's number was typed before
        raise ValidationError(MADE_UP_CODE_TAKEN, code="lot_code_taken")
    raise ValidationError(RACE_LOST, code="race_lost")
