"""What makers and owners do with stock: adjust, count, transfer, reverse, quarantine, places,
and the workshop's settings. Each builds lines and calls the posting engine (stock.engine),
the only code that changes stock."""

import re
from collections import defaultdict
from datetime import date
from decimal import Decimal
from zoneinfo import available_timezones

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from stock.engine import (
    KEY_USED,
    Line,
    PostingResult,
    posting_create,
    posting_with_key,
    result_of,
    run_with_retries,
)
from stock.models import (
    Balance,
    Location,
    Lot,
    Movement,
    Posting,
    PostingKind,
    QuarantineAction,
    QuarantineEvent,
    Reason,
    Workshop,
    forget_workshop,
)
from stock.naming import save_named, unique_name
from stock.ownership import owner_link
from stock.units import display

ALREADY_REVERSED = "{posting} was already reversed by {by}."
NOT_REVERSIBLE = "{posting} is itself a reversal; reverse nothing twice, post a new correction."
OWNED_BY = "{posting} belongs to {owner}: reverse it there, so it is undone with it."
REVERSE_REASON_REQUIRED = "Say why this posting is being reversed."
COUNTED_SINCE = (
    "{item} lot {lot} at {location} was counted by {count} after {posting}: reversing now would "
    "undo what that count found. Post an adjustment or a new count instead."
)
USED_SINCE = "{item} lot {lot} was used by {by} since {posting} made it: reverse that first."
STILL_HELD = (
    "{item} lot {lot} still holds {quantity} at {location} after the reversal (it was moved or "
    "counted since): move it back or count it before reversing."
)
REASON_REQUIRED = "Say why: choose a reason."
SAME_LOCATION = "Choose two different locations to move stock between."
ALREADY_HELD = "{lot} is already quarantined."
NOT_HELD = "{lot} is not quarantined."
STILL_HOLDS_STOCK = "{location} still holds stock: move or count it out before archiving."

WORKSHOP_NAME_REQUIRED = "Give the workshop a name."
ARCHIVED_PLACE = "That location is archived: choose one in use."
UNKNOWN_TIME_ZONE = "{zone} is not a time zone we know: choose one, like Europe/Paris."
BAD_CURRENCY = "A currency is a three-letter code, like EUR, USD or GBP."
PATTERN_NEEDS_SEQ = "The pattern needs {SEQ}, so two batches of one day get different references."
PATTERN_UNKNOWN = "The pattern may use {CODE}, {YYYY}, {YY}, {MM}, {DD} and {SEQ}; not {token}."
PATTERN_TOKENS = {"CODE", "YYYY", "YY", "MM", "DD", "SEQ"}


def adjustment_post(
    *,
    item,
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
) -> PostingResult:
    """Put stock in (quantity > 0) or take it out (quantity < 0), saying why. Only a write-off
    (expired, damaged) may take a named expired or quarantined lot."""
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


def count_post(
    *, location: Location, counts: list[tuple], user, idempotency_key: str, note: str = ""
) -> PostingResult:
    """Post counted quantities at one location: (lot, counted) or (lot, counted, the balance the
    person saw, which must still hold). Lots not listed stay untouched; a lot listed twice is
    refused. Raises NothingToPost when every count matches the books."""
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
) -> PostingResult:
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


# Reversals ---------------------------------------------------------------------------------


def posting_reverse(*, posting: Posting, note: str, user, idempotency_key: str) -> PostingResult:
    """The generic reversal of a stock posting: the opposite movements, with a reason. A posting
    owned by another app (a batch's) is refused with a pointer to its owner."""
    if (owned := owner_link(posting)) is not None:
        raise ValidationError(OWNED_BY.format(posting=posting, owner=owned[0]), code="owned")
    return postings_reverse(
        postings=[posting], note=note, user=user, idempotency_key=idempotency_key
    )[0]


def postings_reverse(
    *, postings: list[Posting], note: str, user, idempotency_key: str
) -> list[PostingResult]:
    """Reverse postings in the order given (a batch's stages: the last first), in one
    transaction: each gets a reversal posting with the opposite movements, and the lots it made
    are voided, so their codes can be used again. Refused when a lot it made has been used
    since, when a later count has set one of its lots, or when a balance would go negative.
    The owning app calls this inside its own transaction, after locking its own row."""
    if not note.strip():
        raise ValidationError(REVERSE_REASON_REQUIRED, code="reason_required")
    return run_with_retries(
        lambda: _reverse_all(
            postings=postings, note=note, user=user, idempotency_key=idempotency_key
        )
    )


@transaction.atomic
def _reverse_all(*, postings, note, user, idempotency_key) -> list[PostingResult]:
    plans = []
    for n, posting in enumerate(postings):
        if posting.kind == PostingKind.REVERSAL:
            raise ValidationError(NOT_REVERSIBLE.format(posting=posting), code="not_reversible")
        key = idempotency_key if len(postings) == 1 else f"{idempotency_key[:56]}-{n}"
        earlier = posting_with_key(key)
        if earlier is not None and earlier.reverses_id != posting.pk:
            raise ValidationError(KEY_USED, code="key_used")
        plans.append((posting, key, earlier))
    if all(earlier for *_, earlier in plans):  # the same form again: what it wrote
        return [result_of(earlier, n_lines=earlier.movements.count()) for *_, earlier in plans]
    for posting, *_ in plans:
        by = Posting.objects.filter(reverses=posting).first()
        if by is not None:
            raise ValidationError(
                ALREADY_REVERSED.format(posting=posting, by=by), code="already_reversed"
            )
    _raise_reversal_problems(postings)
    results = []
    for posting, key, _ in plans:
        try:
            result = posting_create(
                kind=PostingKind.REVERSAL,
                lines=_taking_back(posting),
                user=user,
                idempotency_key=key,
                reference=f"Reverses #{posting.pk}",
                note=note,
                reverses=posting,
                owner=posting.owner,
                owner_ref=posting.owner_ref,
            )
        except ValidationError as exc:
            by = Posting.objects.filter(reverses=posting).first()
            if by is not None:  # someone reversed it at the same moment
                raise ValidationError(
                    ALREADY_REVERSED.format(posting=posting, by=by), code="already_reversed"
                ) from exc
            raise
        Lot.objects.filter(created_by_posting=posting, voided_by__isnull=True).update(
            voided_by=result.posting
        )
        results.append(result)
    # Checked again under the locks the reversals hold: a count or a draw that committed
    # after the first check is seen here, and the whole reversal is undone.
    _raise_reversal_problems(postings, include_held=True)
    return results


def _taking_back(posting: Posting) -> list[Line]:
    """The opposite of each movement of `posting`. A lot the posting made is taken back where
    it now sits: a transfer since moved it, and a transfer does not block a reversal."""
    movements = list(posting.movements.select_related("lot__item", "location").order_by("id"))
    made = {
        m.lot_id for m in movements if m.quantity > 0 and m.lot.created_by_posting_id == posting.pk
    }
    sits = defaultdict(list)
    for b in Balance.objects.filter(lot_id__in=made, quantity__gt=0).select_related("location"):
        sits[b.lot_id].append(b)
    lines = []
    for m in movements:
        if m.lot_id not in made:
            lines.append(Line(location=m.location, quantity=-m.quantity, lot=m.lot))
            continue
        # Where it was made first, then wherever else it went.
        places = sorted(sits[m.lot_id], key=lambda b: (b.location_id != m.location_id, b.pk))
        left = m.quantity
        for b in places:
            take = min(left, b.quantity)
            if take:
                lines.append(Line(location=b.location, quantity=-take, lot=m.lot))
                left -= take
        if left:  # not all there: the ledger names the shortfall
            lines.append(Line(location=m.location, quantity=-left, lot=m.lot))
    return lines


def _raise_reversal_problems(postings: list[Posting], *, include_held: bool = False) -> None:
    problems = _reversal_problems(postings, include_held=include_held)
    if problems:
        raise ValidationError(problems, code="not_reversible")


def _reversal_problems(postings: list[Posting], *, include_held: bool) -> list[str]:
    """Why these postings cannot be reversed as they stand (three queries)."""
    ids = [p.pk for p in postings]
    by_id = {p.pk: p for p in postings}
    problems = []
    # A later count of one of their lots at the same place (a count since undone aside).
    # "Later" by movement id: movements are written after the balance rows are locked, so at
    # one lot and place a higher id was applied later (a posting's own id is taken before it
    # waits for the locks, so it can be lower and still apply later).
    last_touch = {}  # (lot, location) -> (the reversed posting's last movement id, its posting)
    touched = Movement.objects.filter(posting_id__in=ids).values_list(
        "lot_id", "location_id", "id", "posting_id"
    )
    for lot_id, location_id, movement_id, posting_id in touched:
        key = (lot_id, location_id)
        if key not in last_touch or movement_id > last_touch[key][0]:
            last_touch[key] = (movement_id, posting_id)
    counts = (
        Movement.objects.filter(
            posting__kind=PostingKind.COUNT,
            posting__reversed_by__isnull=True,
            lot_id__in={lot_id for lot_id, _ in last_touch},
            location_id__in={loc_id for _, loc_id in last_touch},
            id__gt=min((m for m, _ in last_touch.values()), default=0),
        )
        .exclude(posting_id__in=ids)
        .select_related("posting", "lot__item", "location")
        .order_by("id")
    )
    for m in counts:
        touch = last_touch.get((m.lot_id, m.location_id))
        if touch is not None and m.pk > touch[0]:
            problems.append(
                COUNTED_SINCE.format(
                    item=m.lot.item.name,
                    lot=m.lot.code,
                    location=m.location.name,
                    count=m.posting,
                    posting=by_id[touch[1]],
                )
            )
    # A lot they made, drawn since by a posting that is not a move, not undone, not theirs.
    used = (
        Movement.objects.filter(lot__created_by_posting_id__in=ids, quantity__lt=0)
        .exclude(posting_id__in=ids)
        .exclude(posting__kind__in=[PostingKind.TRANSFER, PostingKind.REVERSAL])
        .filter(posting__reversed_by__isnull=True)
        .select_related("posting", "lot__item")
        .order_by("posting_id")
    )
    for m in used[:5]:
        by = owner_link(m.posting)
        problems.append(
            USED_SINCE.format(
                item=m.lot.item.name,
                lot=m.lot.code,
                by=f"{m.posting} ({by[0]})" if by else m.posting,
                posting=by_id[m.lot.created_by_posting_id],
            )
        )
    if include_held:
        held = Balance.objects.filter(
            lot__created_by_posting_id__in=ids, quantity__gt=0
        ).select_related("lot__item", "location")
        for b in held[:5]:
            problems.append(
                STILL_HELD.format(
                    item=b.lot.item.name,
                    lot=b.lot.code,
                    quantity=f"{display(b.quantity)} {b.lot.item.unit}",
                    location=b.location.name,
                )
            )
    return list(dict.fromkeys(problems))


# Quarantine --------------------------------------------------------------------------------


def lot_hold(*, lot: Lot, note: str, user) -> Lot:
    """Hold a lot back from use: no draw, batch or dispatch takes it until it is released.
    Its stock stays where it is."""
    return _quarantine(lot=lot, action=QuarantineAction.HOLD, note=note, user=user)


def lot_release(*, lot: Lot, note: str, user) -> Lot:
    """Release a held lot (Owners only: the view checks stock.release_lot)."""
    return _quarantine(lot=lot, action=QuarantineAction.RELEASE, note=note, user=user)


HOLD_REASON_REQUIRED = "Say why these lots are held (a customer complaint, a recall)."
HOLD_NOTE_MAX = 2000
HOLD_NOTE_BAD = "Write the reason as plain text, at most {n} characters."


@transaction.atomic
def lots_hold(*, lots: list[Lot], note: str, user) -> list[Lot]:
    """Hold every lot of a recall at once, in one transaction (lot rows locked by primary
    key): those already held stay held, the others are held with this reason. Returns the
    lots it held."""
    if not note.strip():
        raise ValidationError(HOLD_REASON_REQUIRED)
    if "\x00" in note or len(note) > HOLD_NOTE_MAX:
        raise ValidationError(HOLD_NOTE_BAD.format(n=HOLD_NOTE_MAX))
    locked = list(
        Lot.objects.select_for_update(of=("self",))
        .filter(pk__in=[lot.pk for lot in lots], quarantined=False, voided_by__isnull=True)
        .order_by("pk")
    )
    for lot in locked:
        lot.quarantined, lot.quarantine_note = True, note.strip()
    Lot.objects.bulk_update(locked, ["quarantined", "quarantine_note"])
    QuarantineEvent.objects.bulk_create(
        QuarantineEvent(
            lot=lot,
            action=QuarantineAction.HOLD,
            note=note.strip(),
            created_by=user if getattr(user, "is_authenticated", False) else None,
        )
        for lot in locked
    )
    return locked


@transaction.atomic
def _quarantine(*, lot: Lot, action: str, note: str, user) -> Lot:
    lot = Lot.objects.select_for_update(of=("self",)).select_related("item").get(pk=lot.pk)
    hold = action == QuarantineAction.HOLD
    if lot.quarantined == hold:
        raise ValidationError((ALREADY_HELD if hold else NOT_HELD).format(lot=lot))
    lot.quarantined = hold
    lot.quarantine_note = note.strip() if hold else ""
    lot.save(update_fields=["quarantined", "quarantine_note"])
    QuarantineEvent.objects.create(
        lot=lot,
        action=action,
        note=note.strip(),
        created_by=user if getattr(user, "is_authenticated", False) else None,
    )
    return lot


# Places ------------------------------------------------------------------------------------


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
        raise ValidationError(STILL_HOLDS_STOCK.format(location=location.name))
    location.archived = archived
    location.save(update_fields=["archived"])
    return location


# The workshop ------------------------------------------------------------------------------


def check_reference_pattern(pattern: str) -> str:
    pattern = pattern.strip()
    for token in re.findall(r"\{([^}]*)\}", pattern):
        if token not in PATTERN_TOKENS:
            raise ValidationError(
                {"batch_reference_pattern": PATTERN_UNKNOWN.format(token="{" + token + "}")}
            )
    if "{SEQ}" not in pattern:
        raise ValidationError({"batch_reference_pattern": PATTERN_NEEDS_SEQ})
    return pattern


def workshop_save(
    *,
    name: str,
    time_zone: str,
    currency: str,
    batch_reference_pattern: str,
    production_location: Location | None = None,
) -> Workshop:
    """The workshop's settings, saved by its Owner (the first-run page)."""
    name = " ".join(name.split())
    if not name:
        raise ValidationError({"name": WORKSHOP_NAME_REQUIRED})
    if time_zone not in available_timezones():
        raise ValidationError({"time_zone": UNKNOWN_TIME_ZONE.format(zone=time_zone)})
    currency = currency.strip().upper()
    if not re.fullmatch(r"[A-Z]{3}", currency):
        raise ValidationError({"currency": BAD_CURRENCY})
    pattern = check_reference_pattern(batch_reference_pattern)
    if production_location is not None and production_location.archived:
        raise ValidationError({"production_location": ARCHIVED_PLACE})
    workshop, _ = Workshop.objects.update_or_create(
        pk=1,
        defaults={
            "name": name,
            "time_zone": time_zone,
            "currency": currency,
            "batch_reference_pattern": pattern,
            "production_location": production_location,
            "configured_at": timezone.now(),
        },
    )
    transaction.on_commit(forget_workshop)
    forget_workshop()
    return workshop
