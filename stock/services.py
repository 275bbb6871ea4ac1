"""The posting service: the only code that changes stock (DESIGN.md section 1, rule 1).

`posting_create` is the core. It runs one transaction at READ COMMITTED that
  1. writes the posting row (its unique idempotency key makes a second submission a no-op),
  2. creates the lots that incoming lines bring,
  3. makes sure every balance row it will touch exists (INSERT ... ON CONFLICT DO NOTHING:
     a row lock cannot see a row another transaction is still inserting),
  4. locks those rows with SELECT ... FOR UPDATE in primary-key order (one global order, so two
     postings never wait for each other in a circle),
  5. refuses a negative balance or a draw from an expired or quarantined lot, with a message that
     names the item, the lot and the shortfall,
  6. writes the movements in bulk and updates the balances.
A deadlock or serialization failure is retried from the top, outside the transaction.

The other services here are what makers do (adjust, count, transfer, reverse); each builds lines
and calls `posting_create`.
"""

import hashlib
import logging
import random
import time
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from loomworks.naming import save_named, unique_name
from stock.models import (
    COST_PLACES,
    QUANTITY_PLACES,
    Balance,
    Item,
    Location,
    Lot,
    Movement,
    Posting,
    PostingKind,
    Reason,
)
from stock.units import Unit, display, plain

logger = logging.getLogger(__name__)

# Messages a maker reads. Tests assert on these.
INSUFFICIENT_LOT = "Not enough {item} (lot {lot}) at {location}: need {need}, have {have}."
INSUFFICIENT_ITEM = "Not enough {item} at {location}: need {need}, have {have} in usable lots."
EXPIRED_LOT = "{item} lot {lot} expired on {date:%d %b %Y} and cannot be used."
QUARANTINED_LOT = "{item} lot {lot} is quarantined and cannot be used until it is released."
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
COST_OUT_OF_RANGE = "{item}: a unit cost of {cost} is out of range (at most {places} decimals)."
BALANCE_TOO_LARGE = "{item} (lot {lot}) at {location} would hold more than the ledger can."
ALREADY_REVERSED = "{posting} was already reversed by {by}."
NOT_REVERSIBLE = "{posting} is itself a reversal; reverse nothing twice, post a new correction."
REASON_REQUIRED = "Say why: choose a reason."
SAME_LOCATION = "Choose two different locations to move stock between."
LOCKED_OUT = "Stock is busy with other postings right now; nothing was posted. Try again."
RACE_LOST = "Another posting changed these lots at the same moment; nothing was posted. Try again."
ALL_MATCHED = "Every counted quantity matches the books; nothing needed posting."

MAX_ATTEMPTS = 5
RETRYABLE_SQLSTATES = {"40P01", "40001"}  # deadlock_detected, serialization_failure
MAX_QUANTITY = Decimal(10) ** 12
MAX_COST = Decimal(10) ** 13

# Postings that may take stock out of an expired or quarantined lot: they remove or move it,
# nobody uses it. Production, dispatch, samples and gifts may not.
WRITE_OFF_REASONS = {
    Reason.EXPIRED,
    Reason.DAMAGED,
    Reason.SPILLED,
    Reason.COUNT_CORRECTION,
    Reason.OTHER,
}


class NothingToPost(ValidationError):
    """Every line cancelled out (a count that matched the books): no posting was written."""


@dataclass(frozen=True)
class Line:
    """One intended change. A negative quantity takes stock out, a positive one puts it in.

    - `lot` given: that lot.
    - `lot` None, quantity negative: drawn from `item`'s lots at `location`, first expiry first,
      then first in, first out (items that are not lot-tracked only).
    - `lot` None, quantity positive: a new lot of `item` (`lot_code`, `expiry_date`, `unit_cost`).
    - `counted`: `quantity` is the counted total of `lot` at `location`; the posting moves the
      difference from the balance at the moment it is locked. With `expected`, the count is
      refused if that balance is no longer what the person saw.
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

    @property
    def the_item(self) -> Item:
        return self.lot.item if self.lot is not None else self.item


def fmt(quantity: Decimal, item: Item) -> str:
    return f"{display(quantity)} {item.unit}"


def may_draw_unusable(kind: str, reason: str = "") -> bool:
    if kind in (PostingKind.COUNT, PostingKind.REVERSAL, PostingKind.TRANSFER):
        return True
    return kind == PostingKind.ADJUSTMENT and reason in WRITE_OFF_REASONS


def lot_unusable_reason(lot: Lot, today: date) -> str | None:
    if lot.quarantined:
        return QUARANTINED_LOT.format(item=lot.item.name, lot=lot.code)
    if lot.is_expired(today):
        return EXPIRED_LOT.format(item=lot.item.name, lot=lot.code, date=lot.expiry_date)
    return None


def posting_create(
    *,
    kind: str,
    lines: list[Line],
    user,
    idempotency_key: str,
    reference: str = "",
    reason: str = "",
    note: str = "",
    reverses: Posting | None = None,
) -> Posting:
    """Write one posting, all or nothing. The same idempotency key again returns the first one."""
    if not idempotency_key or len(idempotency_key) > 64:
        raise ValueError("idempotency_key must be 1 to 64 characters")
    fingerprint = lines_fingerprint(kind, lines, reference, reason)
    existing = posting_for_key(idempotency_key, kind, fingerprint)
    if existing is not None:
        return existing
    lines = _with_items_loaded(lines)
    _check_lines(kind, lines)
    try:
        return run_with_retries(
            lambda: _write_posting(
                kind=kind,
                lines=lines,
                user=user if getattr(user, "is_authenticated", False) else None,
                idempotency_key=idempotency_key,
                fingerprint=fingerprint,
                reference=reference,
                reason=reason,
                note=note,
                reverses=reverses,
            )
        )
    except IntegrityError:
        # The same key committed by a concurrent request, or a concurrent new lot code.
        existing = posting_for_key(idempotency_key, kind, fingerprint)
        if existing is not None:
            return existing
        raise ValidationError(RACE_LOST, code="race_lost") from None


def posting_for_key(key: str, kind: str, fingerprint: str) -> Posting | None:
    """The posting already written with this key (marked `replayed`), or None. A key that
    comes back with other lines (back button, corrected figures) is refused, not ignored."""
    posting = Posting.objects.filter(idempotency_key=key).first()
    if posting is None:
        return None
    # Postings written before fingerprints existed carry none: their key alone decides.
    if posting.kind != kind or posting.fingerprint not in (fingerprint, ""):
        raise ValidationError(KEY_USED, code="key_used")
    posting.replayed = True
    return posting


def lines_fingerprint(kind: str, lines: list[Line], reference: str = "", reason: str = "") -> str:
    """A digest of what a submission asks for (its lines, its reference and reason: for a
    delivery, the supplier), kept with its idempotency key. Numbers enter in plain form, so
    the same figures always give the same digest."""

    def number(value):
        return plain(value) if value is not None and value.is_finite() else value

    parts = [kind, reference.strip(), reason]
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
                    number(line.unit_cost) if line.unit_cost is not None else "",
                    line.received_on or "",
                    line.counted,
                )
            )
        )
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def run_with_retries(write):
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


def _with_items_loaded(lines: list[Line]) -> list[Line]:
    """Lines whose lots know their items, fetched in one query rather than one per line."""
    item_field = Lot._meta.get_field("item")
    missing = {line.lot.pk for line in lines if line.lot and not item_field.is_cached(line.lot)}
    if not missing:
        return lines
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


def _check_lines(kind: str, lines: list[Line]) -> None:
    """Checks that need no database: each error names the item."""
    if not lines:
        raise ValidationError(NO_LINES, code="no_lines")
    errors = []
    for line in lines:
        item = line.the_item
        if item is None:
            raise ValueError("a line names its lot or its item")
        q = line.quantity
        if not isinstance(q, Decimal) or not q.is_finite():
            raise TypeError(f"quantity must be a finite Decimal, got {q!r}")
        if _too_fine(q, QUANTITY_PLACES):
            errors.append(
                TOO_MANY_DECIMALS.format(
                    item=item.name, quantity=f"{abs(q):f}", places=QUANTITY_PLACES
                )
            )
        elif abs(q) >= MAX_QUANTITY:
            errors.append(TOO_LARGE.format(item=item.name, quantity=f"{abs(q):f}"))
        elif q == 0 and not line.counted:
            errors.append(ZERO_QUANTITY)
        elif item.unit == Unit.EACH and q != q.to_integral_value():
            errors.append(WHOLE_PIECES.format(item=item.name, quantity=f"{abs(q):f}"))
        elif line.counted and (line.lot is None or q < 0):
            raise ValueError("a counted line names its lot and a quantity of zero or more")
        if line.lot is not None and line.item is not None and line.lot.item_id != line.item.pk:
            errors.append(
                LOT_OF_OTHER_ITEM.format(lot=line.lot.code, other=line.lot.item, item=line.item)
            )
        if line.lot is None and q < 0 and item.lot_tracked:
            errors.append(LOT_REQUIRED.format(item=item.name))
        if line.lot is None and q > 0:
            if item.lot_tracked and not line.lot_code.strip():
                errors.append(LOT_CODE_REQUIRED.format(item=item.name))
            cost = line.unit_cost
            if cost is not None and cost < 0:
                errors.append(NEGATIVE_COST.format(item=item.name))
            elif cost is not None and not _fits(cost, COST_PLACES, MAX_COST):
                errors.append(
                    COST_OUT_OF_RANGE.format(item=item.name, cost=cost, places=COST_PLACES)
                )
        if q > 0 and not line.counted and kind != PostingKind.REVERSAL:
            if item.archived:
                errors.append(ARCHIVED_ITEM.format(item=item.name))
            if line.location.archived:
                errors.append(ARCHIVED_LOCATION.format(location=line.location.name))
    if errors:
        raise ValidationError(list(dict.fromkeys(errors)))


@transaction.atomic
def _write_posting(
    *, kind, lines, user, idempotency_key, fingerprint, reference, reason, note, reverses
):
    today = timezone.localdate()
    posting = Posting.objects.create(
        kind=kind,
        reference=_fit(reference, Posting._meta.get_field("reference").max_length),
        reason=reason,
        note=note,
        created_by=user,
        idempotency_key=idempotency_key,
        fingerprint=fingerprint,
        reverses=reverses,
    )
    new_lots = _create_lots(posting, lines, today)

    # Which (lot, location) rows this posting touches, and where it may draw from.
    pairs = set()
    draws = []  # (line index, item id, location id)
    for i, line in enumerate(lines):
        if line.lot is not None:
            pairs.add((line.lot.pk, line.location.pk))
        elif line.quantity > 0:
            pairs.add((new_lots[i].pk, line.location.pk))
        else:
            draws.append((i, line.item.pk, line.location.pk))
    Balance.objects.bulk_create(
        [Balance(lot_id=lot_id, location_id=loc_id) for lot_id, loc_id in sorted(pairs)],
        ignore_conflicts=True,
    )
    balances = _lock_balances(pairs, {(item_id, loc_id) for _, item_id, loc_id in draws})
    by_pair = {(b.lot_id, b.location_id): b for b in balances}

    # The signed change per balance row, in the order lines came.
    deltas: dict[tuple[int, int], Decimal] = defaultdict(Decimal)
    errors = []
    allow_unusable = may_draw_unusable(kind, reason)
    for i, line in enumerate(lines):
        if line.lot is not None:
            key = (line.lot.pk, line.location.pk)
            if line.counted:
                now = by_pair[key].quantity
                if line.expected is not None and now != line.expected:
                    errors.append(
                        COUNT_STALE.format(
                            item=line.lot.item.name,
                            lot=line.lot.code,
                            location=line.location.name,
                            seen=fmt(line.expected, line.lot.item),
                            now=fmt(now, line.lot.item),
                        )
                    )
                deltas[key] += line.quantity - now
            else:
                deltas[key] += line.quantity
        elif line.quantity > 0:
            deltas[(new_lots[i].pk, line.location.pk)] += line.quantity
        else:
            errors += _allocate_draw(line, balances, deltas, allow_unusable, today)

    movements = []
    changed = []
    for key, delta in deltas.items():
        if delta == 0:
            continue
        balance = by_pair[key]
        lot = balance.lot  # read by the locking statement: its expiry and quarantine are current
        if delta < 0:
            if not allow_unusable and (problem := lot_unusable_reason(lot, today)):
                errors.append(problem)
            if balance.quantity + delta < 0:
                errors.append(
                    INSUFFICIENT_LOT.format(
                        item=lot.item.name,
                        lot=lot.code,
                        location=balance.location.name,
                        need=fmt(-delta, lot.item),
                        have=fmt(balance.quantity, lot.item),
                    )
                )
        if balance.quantity + delta >= MAX_QUANTITY:
            errors.append(
                BALANCE_TOO_LARGE.format(
                    item=lot.item.name, lot=lot.code, location=balance.location.name
                )
            )
        balance.quantity += delta
        changed.append(balance)
        movements.append(
            Movement(
                posting=posting,
                lot_id=key[0],
                location_id=key[1],
                quantity=delta,
                unit_cost=lot.unit_cost,
            )
        )
    if errors:
        raise ValidationError(list(dict.fromkeys(errors)))
    if not movements:
        raise NothingToPost(ALL_MATCHED, code="nothing_to_post")
    Movement.objects.bulk_create(movements)
    _write_balances(changed)
    return posting


def _write_balances(balances: list[Balance]) -> None:
    """New quantities for locked balance rows, in one UPDATE ... FROM (VALUES ...) on PostgreSQL
    (bulk_update's CASE grows with the square of the rows)."""
    if connection.vendor != "postgresql":
        Balance.objects.bulk_update(balances, ["quantity"])
        return
    values = ", ".join(["(%s, %s::numeric)"] * len(balances))
    params = [p for b in balances for p in (b.pk, b.quantity)]
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE stock_balance AS b SET quantity = v.quantity "
            f"FROM (VALUES {values}) AS v(id, quantity) WHERE b.id = v.id",
            params,
        )


def _create_lots(posting: Posting, lines: list[Line], today: date) -> dict[int, Lot]:
    """One new lot per incoming line that names none. Returns {line index: lot}."""
    wanted = {i: line for i, line in enumerate(lines) if line.lot is None and line.quantity > 0}
    if not wanted:
        return {}
    prefix = posting.kind[0].upper()
    codes = {}
    for n, (i, line) in enumerate(wanted.items(), start=1):
        suffix = f"-{n}" if len(wanted) > 1 else ""
        codes[i] = line.lot_code.strip() or f"{prefix}{posting.pk}{suffix}"
    taken = set(
        Lot.objects.filter(
            item_id__in={line.item.pk for line in wanted.values()}, code__in=set(codes.values())
        ).values_list("item_id", "code")
    )
    seen = set()
    errors = []
    for i, line in wanted.items():
        key = (line.item.pk, codes[i])
        if key in taken or key in seen:
            errors.append(LOT_CODE_TAKEN.format(item=line.item.name, code=codes[i]))
        seen.add(key)
    if errors:
        raise ValidationError(errors)
    new = {
        i: Lot(
            item=line.item,
            code=codes[i],
            expiry_date=line.expiry_date
            or _expiry_from_shelf_life(line.item, line.received_on or today),
            unit_cost=line.unit_cost
            if line.unit_cost is not None
            else item_last_unit_cost(line.item),
            created_by_posting=posting,
            received_on=line.received_on or today,
        )
        for i, line in wanted.items()
    }
    Lot.objects.bulk_create(new.values())
    return new


def _expiry_from_shelf_life(item: Item, received_on: date) -> date | None:
    if item.shelf_life_days:
        try:
            return received_on + timedelta(days=item.shelf_life_days)
        except OverflowError:
            return None
    return None


def _fit(text: str, length: int) -> str:
    """A reference made of names, shortened to fit its column."""
    text = text.strip()
    return text if len(text) <= length else text[: length - 1] + "…"


def _lock_balances(pairs, draw_places) -> list[Balance]:
    """Lock every balance row the posting may touch, in primary-key order, in one statement.

    The conditions are IN lists (a few rows more than needed at most: a lot's balance at
    another of the posting's locations), so a 5,000-line import is one plain index scan."""
    condition = Q(pk__in=[])
    if pairs:
        condition |= Q(
            lot_id__in={lot_id for lot_id, _ in pairs},
            location_id__in={loc_id for _, loc_id in pairs},
        )
    if draw_places:
        condition |= Q(
            lot__item_id__in={item_id for item_id, _ in draw_places},
            location_id__in={loc_id for _, loc_id in draw_places},
            quantity__gt=0,
        )
    return list(
        Balance.objects.select_for_update(of=("self",))
        .select_related("lot__item", "location")
        .filter(condition)
        .order_by("pk")
    )


def _allocate_draw(line, balances, deltas, allow_unusable, today) -> list[str]:
    """Spread a draw over the item's lots at the location: first expiry first, then oldest."""
    item = line.item
    candidates = [
        b
        for b in balances
        if b.lot.item_id == item.pk and b.location_id == line.location.pk and b.quantity > 0
    ]
    if not allow_unusable:
        candidates = [b for b in candidates if lot_unusable_reason(b.lot, today) is None]
    candidates.sort(
        key=lambda b: (
            b.lot.expiry_date is None,
            b.lot.expiry_date or date.max,
            b.lot.received_on,
            b.lot_id,
        )
    )
    remaining = -line.quantity
    for balance in candidates:
        key = (balance.lot_id, balance.location_id)
        available = balance.quantity + deltas[key]
        take = min(available, remaining)
        if take > 0:
            deltas[key] -= take
            remaining -= take
        if remaining == 0:
            return []
    have = -line.quantity - remaining
    return [
        INSUFFICIENT_ITEM.format(
            item=item.name,
            location=line.location.name,
            need=fmt(-line.quantity, item),
            have=fmt(have, item),
        )
    ]


# What makers do ------------------------------------------------------------------------------


def adjustment_post(
    *,
    item: Item,
    location: Location,
    quantity: Decimal,
    reason: str,
    user,
    idempotency_key: str,
    lot: Lot | None = None,
    lot_code: str = "",
    expiry_date: date | None = None,
    unit_cost: Decimal | None = None,
    note: str = "",
) -> Posting:
    """Put stock in (quantity > 0) or take it out (quantity < 0), saying why."""
    if reason not in Reason.values:
        raise ValidationError(REASON_REQUIRED, code="reason_required")
    line = Line(
        location=location,
        quantity=quantity,
        lot=lot,
        item=item,
        lot_code=lot_code,
        expiry_date=expiry_date,
        unit_cost=unit_cost,
    )
    return posting_create(
        kind=PostingKind.ADJUSTMENT,
        lines=[line],
        user=user,
        idempotency_key=idempotency_key,
        reason=reason,
        note=note,
    )


def item_last_unit_cost(item: Item) -> Decimal:
    """What the latest lot of an item cost: the value stock found without a cost is booked at
    (looked up inside the posting's transaction, so a repeated submission asks the same)."""
    last = item.lots.order_by("-received_on", "-id").values_list("unit_cost", flat=True).first()
    return last if last is not None else Decimal(0)


def count_post(
    *,
    location: Location,
    counts: list[tuple],
    user,
    idempotency_key: str,
    note: str = "",
) -> Posting:
    """Post counted quantities at one location: (lot, counted) or (lot, counted, the balance the
    person saw, which must still hold). Lots not listed stay untouched.

    Raises NothingToPost when every count matches the books.
    """
    lines = [
        Line(
            location=location,
            quantity=count[1],
            lot=count[0],
            counted=True,
            expected=count[2] if len(count) > 2 else None,
        )
        for count in counts
    ]
    return posting_create(
        kind=PostingKind.COUNT,
        lines=lines,
        user=user,
        idempotency_key=idempotency_key,
        reason=Reason.COUNT_CORRECTION,
        note=note,
    )


def transfer_post(
    *,
    from_location: Location,
    to_location: Location,
    quantities: list[tuple[Lot, Decimal]],
    user,
    idempotency_key: str,
    note: str = "",
) -> Posting:
    """Move (lot, quantity) pairs from one location to another."""
    if from_location.pk == to_location.pk:
        raise ValidationError(SAME_LOCATION, code="same_location")
    lines = []
    for lot, q in quantities:
        lines.append(Line(location=from_location, quantity=-q, lot=lot))
        lines.append(Line(location=to_location, quantity=q, lot=lot))
    return posting_create(
        kind=PostingKind.TRANSFER,
        lines=lines,
        user=user,
        idempotency_key=idempotency_key,
        reference=f"{from_location.name} → {to_location.name}",
        note=note,
    )


def posting_reverse(*, posting: Posting, note: str, user, idempotency_key: str) -> Posting:
    """A new posting with the opposite movements. Refused when it would make a balance negative."""
    if not note.strip():
        raise ValidationError("Say why this posting is being reversed.", code="reason_required")
    if posting.kind == PostingKind.REVERSAL:
        raise ValidationError(NOT_REVERSIBLE.format(posting=posting), code="not_reversible")
    by = Posting.objects.filter(reverses=posting).first()
    if by is not None:
        existing = Posting.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None and existing.pk == by.pk:
            existing.replayed = True
            return existing
        raise ValidationError(
            ALREADY_REVERSED.format(posting=posting, by=by), code="already_reversed"
        )
    lines = [
        Line(location=m.location, quantity=-m.quantity, lot=m.lot)
        for m in posting.movements.select_related("lot__item", "location")
    ]
    try:
        return posting_create(
            kind=PostingKind.REVERSAL,
            lines=lines,
            user=user,
            idempotency_key=idempotency_key,
            reference=f"Reverses #{posting.pk}",
            note=note,
            reverses=posting,
        )
    except ValidationError as exc:
        by = Posting.objects.filter(reverses=posting).first()
        if by is None:
            raise
        # Someone reversed it at the same moment (the one-reversal rule is a unique key).
        raise ValidationError(
            ALREADY_REVERSED.format(posting=posting, by=by), code="already_reversed"
        ) from exc


@transaction.atomic
def lot_set_quarantine(*, lot: Lot, quarantined: bool, note: str = "") -> Lot:
    """Hold a lot back from use (or release it). Its stock stays where it is."""
    lot = Lot.objects.select_for_update().get(pk=lot.pk)
    lot.quarantined = quarantined
    lot.quarantine_note = note.strip()[:200] if quarantined else ""
    lot.save(update_fields=["quarantined", "quarantine_note"])
    return lot


def location_save(
    *, location: Location | None = None, name: str, description: str = ""
) -> Location:
    name = unique_name(Location.objects, name, noun="location", instance=location)
    location = location or Location()
    location.name = name
    location.description = description.strip()
    return save_named(location, noun="location")


def location_set_archived(*, location: Location, archived: bool) -> Location:
    if archived and location.balances.filter(quantity__gt=0).exists():
        raise ValidationError(
            f"{location.name} still holds stock: move or count it out before archiving."
        )
    location.archived = archived
    location.save(update_fields=["archived"])
    return location
