"""Writes of batches: plan, start, record a stage, complete, finish the rest, cancel, reverse.

Each is one transaction that locks the batch row first (then the ledger locks items and
balances, by primary key), wrapped in the ledger's retry for deadlocks. Every stage is one
production posting owned by the batch; the cost rule is the ledger's (shares by weight, fixed
values first), fed so that shared inputs spread over every saleable unit and a variant's own
inputs over its own units (docs/design.md, "Batches").
"""

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from batches.models import (
    Batch,
    BatchEvent,
    BatchLot,
    BatchStage,
    BatchVariant,
    EventKind,
    LotRole,
    Status,
)
from recipes.models import Product, RecipeVersion, Variant
from recipes.services import achieved_yield_forget, achieved_yield_replace, version_freeze
from stock.engine import (
    Line,
    LossLine,
    Output,
    PostingResult,
    posting_create,
    run_with_retries,
    split_exactly,
)
from stock.limits import MAX_QUANTITY, QUANTUM
from stock.models import (
    Balance,
    Item,
    ItemKind,
    LossKind,
    Lot,
    Movement,
    Posting,
    PostingKind,
    Workshop,
    current_workshop,
    production_location,
    workshop_today,
)
from stock.services import postings_reverse
from stock.units import Unit, display

OWNER = "batches"

# Messages a maker reads. Tests assert on these.
NO_LOCATION = "Add a stock location first: a batch draws from and delivers to one."
NOTHING_PLANNED = "Plan at least one unit of one variant."
NEGATIVE_UNITS = "{variant}: units cannot be negative."
NOT_A_WHOLE_UNIT = "{variant}: plan whole units."
TOO_MANY_UNITS = "{variant}: that is more units than the ledger can hold."
VARIANT_OF_OTHER_PRODUCT = "{variant} is not a variant of {product}."
ARCHIVED_PRODUCT = "{product} is archived: no new batches of it."
VERSION_OF_OTHER_PRODUCT = "That recipe version makes another product."
COMPLETION_BEFORE_START = "The expected completion cannot be before the production date."
CANCELLED = "Batch {ref} was cancelled: it cannot be run or completed."
NOT_STARTABLE = "Batch {ref} is {status}: only a planned batch can be started."
OUT_OF_ORDER = "{stage} comes later: record {current} first."
NOT_OPEN = "Batch {ref} is {status}: nothing more can be recorded on it."
NEGATIVE_QUANTITY = "{item}: a quantity cannot be negative."
NEGATIVE_OUTPUT = "{variant}: saleable, rejected and in-progress units cannot be negative."
REJECT_REASON = "{variant}: say why {n} units were rejected."
NOT_CANCELLABLE = "Batch {ref} is {status}: only a planned or running batch can be cancelled."
NOT_REVERSIBLE = "Batch {ref} is {status}: only a completed batch can be reversed."
REASON_REQUIRED = "Say why: the reason is kept with the reversal."
CANCEL_REASON = "Say why the batch is cancelled."
RETURN_NOT_USED = "{item} was not used by batch {ref}: only what it used can be returned."
RETURN_TOO_MUCH = "{item}: batch {ref} used {used}; {wanted} cannot be returned."
NO_REST = "Batch {ref} has no units left in progress."
STALE_FORM = (
    "This {stage} form was sent before the batch was reversed, so nothing was recorded. "
    "Open the stage again to record it anew."
)
REST_DOES_NOT_ADD_UP = (
    "{variant}: {n} units were left in progress; saleable, rejected and still not ready must "
    "add up to that."
)
TOTAL_TOO_LARGE = "That is more units than the ledger can hold."
DATE_TOO_FAR = "That date is too far off: check the year."
MADE_MISSING = "Say what {variant} gave: saleable, rejected or not ready yet (0 is an answer)."
SCRAP_NEEDS_ITEM = "Scrap needs an item and a quantity above zero."
NEGATIVE_VALUE = "{item}: a value cannot be negative."
OUTPUT_QUANTITY = "{item}: say how much this stage made (above zero)."
WIP_NAME = "{product} (in progress)"
REST_TO_FINISH = "Units left in progress"


@dataclass(frozen=True)
class Use:
    """One input of a stage as the maker recorded it, in the item's own unit. With no lot the
    ledger draws first-expiry-first under its lock; `variant` marks a variant's own input."""

    item: Item
    quantity: Decimal
    lot: Lot | None = None
    variant: Variant | None = None


@dataclass(frozen=True)
class Made:
    """What the last stage (or finishing the rest) gave of one variant."""

    variant: Variant
    saleable: Decimal
    rejected: Decimal = Decimal(0)
    in_progress: Decimal = Decimal(0)
    reason: str = ""  # why units were rejected


@dataclass(frozen=True)
class Waste:
    item: Item
    quantity: Decimal
    note: str = ""


@dataclass(frozen=True)
class Scrap:
    """Kept as its own item and lot, at its recoverable value. With no item, a new scrap
    item called `name` (in `unit`) is made with the stage, in its transaction."""

    item: Item | None
    quantity: Decimal
    value: Decimal
    name: str = ""
    unit: str = Unit.G


@dataclass(frozen=True)
class Return:
    item: Item
    quantity: Decimal


@dataclass(frozen=True)
class StageDone:
    batch: Batch
    stage: BatchStage
    result: PostingResult | None
    replayed: bool


# Planning ----------------------------------------------------------------------------------


def batch_plan(
    *,
    version: RecipeVersion,
    split: dict[Variant, Decimal],
    production_date: date,
    user,
    idempotency_key: str,
    expected_completion: date | None = None,
    notes: str = "",
    short: bool = False,
) -> Batch:
    """A planned batch: reference, split and stages copied from the version, which is frozen
    from now on. Changes no stock. The same key twice: one batch."""
    product = version.recipe.product
    _check_split(product, split)
    if expected_completion is not None and expected_completion < production_date:
        raise ValidationError({"expected_completion": COMPLETION_BEFORE_START})
    if production_date.year > 9000 or (expected_completion and expected_completion.year > 9000):
        raise ValidationError(DATE_TOO_FAR)
    location = production_location()
    if location is None:
        raise ValidationError(NO_LOCATION)

    @transaction.atomic
    def write() -> Batch:
        earlier = Batch.objects.filter(plan_key=idempotency_key).first()
        if earlier is not None:
            return earlier
        # References come from one workshop-wide pattern: its row is the lock that keeps two
        # plans (of any products) from taking the same number.
        Workshop.objects.select_for_update().filter(pk=current_workshop().pk).first()
        locked = Product.objects.select_for_update().get(pk=product.pk)
        if locked.archived:
            raise ValidationError(ARCHIVED_PRODUCT.format(product=product.name))
        frozen = version_freeze(version=version)
        stages = list(frozen.stages.select_related("output_item").order_by("position", "id"))
        batch = Batch.objects.create(
            reference=_next_reference(locked, production_date),
            product=locked,
            version=frozen,
            location=location,
            planned_units=sum(split.values(), Decimal(0)),
            production_date=production_date,
            expected_completion=expected_completion
            or production_date + timedelta(days=sum(s.duration_days for s in stages)),
            notes=notes.strip(),
            short=short,
            plan_key=idempotency_key,
            created_by=_user(user),
        )
        BatchVariant.objects.bulk_create(
            BatchVariant(batch=batch, variant=v, planned=units) for v, units in split.items()
        )
        BatchStage.objects.bulk_create(
            [
                BatchStage(
                    batch=batch,
                    position=n,
                    name=s.name,
                    recipe_stage=s,
                    duration_days=s.duration_days,
                    expected_loss_percent=s.expected_loss_percent,
                    output_item=s.output_item,
                )
                for n, s in enumerate(stages)
            ]
            or [BatchStage(batch=batch, position=0, name="Make")]
        )
        _event(batch, EventKind.PLANNED, user, note=batch.notes)
        return batch

    try:
        return run_with_retries(write)
    except IntegrityError:  # the same plan, committed by a second tap at the same moment
        earlier = Batch.objects.filter(plan_key=idempotency_key).first()
        if earlier is None:
            raise
        return earlier


def _check_split(product: Product, split: dict[Variant, Decimal]) -> None:
    errors = []
    for variant, units in split.items():
        if variant.product_id != product.pk:
            errors.append(VARIANT_OF_OTHER_PRODUCT.format(variant=variant, product=product))
        elif units < 0:
            errors.append(NEGATIVE_UNITS.format(variant=variant.name))
        elif units != units.to_integral_value():
            errors.append(NOT_A_WHOLE_UNIT.format(variant=variant.name))
        elif units >= MAX_QUANTITY:
            errors.append(TOO_MANY_UNITS.format(variant=variant.name))
    if errors:
        raise ValidationError(errors)
    if not any(units > 0 for units in split.values()):
        raise ValidationError(NOTHING_PLANNED)
    if sum(split.values(), Decimal(0)) >= MAX_QUANTITY:
        raise ValidationError(TOTAL_TOO_LARGE)


def _next_reference(product: Product, day: date) -> str:
    """The workshop's pattern with the next free sequence number for this product and day.
    The product row is locked by the caller, so two plans cannot take the same number."""
    workshop = current_workshop()
    seq = Batch.objects.filter(product=product, production_date=day).count() + 1
    while True:
        reference = workshop.batch_reference(code=product.code.upper(), day=day, seq=seq)
        if "{SEQ}" not in workshop.batch_reference_pattern and seq > 1:
            reference = f"{reference}-{seq:02d}"
        if not Batch.objects.filter(reference__iexact=reference).exists():
            return reference
        seq += 1


# Running -----------------------------------------------------------------------------------


def batch_start(*, batch: Batch, user) -> Batch:
    """The batch is under way: its first stage's clock (curing) starts today."""

    @transaction.atomic
    def write() -> Batch:
        locked = _locked(batch)
        if locked.status == Status.RUNNING:
            return locked  # a second tap
        if locked.status != Status.PLANNED:
            raise ValidationError(
                NOT_STARTABLE.format(ref=locked.reference, status=locked.get_status_display())
            )
        _start(locked, user)
        return locked

    return run_with_retries(write)


def _start(batch: Batch, user) -> None:
    batch.status = Status.RUNNING
    batch.ready_on = _ready_on(batch.stages.order_by("position").first())
    batch.save(update_fields=["status", "ready_on"])
    _event(batch, EventKind.STARTED, user)


def stage_complete(
    *,
    batch: Batch,
    position: int,
    uses: Iterable[Use],
    user,
    idempotency_key: str,
    made: Iterable[Made] = (),
    waste: Iterable[Waste] = (),
    scrap: Iterable[Scrap] = (),
    output_quantity: Decimal | None = None,
    note: str = "",
) -> StageDone:
    """Record stage `position` as done: one production posting that consumes `uses` (and what
    the stage before made) and makes the stage's output: a semi-finished lot (one per variant
    when the stage used a variant's own inputs), or, for the last stage, one lot per variant
    of saleable units. A stage already done (the same form twice, a second tablet) is
    answered with what was recorded, once."""
    uses, made, waste, scrap = list(uses), list(made), list(waste), list(scrap)
    _check_figures(uses, made, waste, scrap)

    @transaction.atomic
    def write() -> StageDone:
        locked = _locked(batch)
        stages = list(locked.stages.select_related("output_item").order_by("position"))
        stage = _stage_to_record(locked, stages, position)
        if stage.is_done:
            return StageDone(batch=locked, stage=stage, result=None, replayed=True)
        # A planned batch starts with its first stage: its row is written once, at the end,
        # with the stage's figures, and its "started" event goes in with the stage's.
        events, starting = [], locked.status == Status.PLANNED
        if starting:
            locked.status = Status.RUNNING
            events.append(_new_event(locked, EventKind.STARTED, user))
        last = stage.position == len(stages) - 1
        splits = _splits(locked)
        before = _lots_from(locked, stage.position - 1) if stage.position else []
        plan = _Production(
            locked,
            splits,
            uses,
            before,
            waste,
            _with_items(scrap),
            # A planned batch has written no posting, so it holds no lots yet.
            standing=Counter() if starting else None,
        )
        if last:
            _refuse_missing(splits, made)
            plan.finish(made, completed_on=workshop_today())
        else:
            plan.carry_on(stage, _wip_item(locked.product, stage), output_quantity)
        result = _post(
            locked, plan.lines, plan.outputs, plan.losses, stage.name, note, user, idempotency_key
        )
        if result.replayed and Posting.objects.filter(reverses=result.posting).exists():
            raise ValidationError(STALE_FORM.format(stage=stage.name), code="stale_form")
        plan.record_lots(result, stage.position)
        stage.posting, stage.done_at, stage.done_by = result.posting, timezone.now(), _user(user)
        stage.note = note.strip()
        stage.save(update_fields=["posting", "done_at", "done_by", "note"])
        locked.stages_done = stage.position + 1
        started = ["status"] if starting else []
        if last:
            _complete(locked, splits, made, user, result.posting, note, events)
        else:
            locked.ready_on = _ready_on(stages[stage.position + 1])
            locked.save(update_fields=[*started, "stages_done", "ready_on"])
            events.append(
                _new_event(locked, EventKind.STAGE, user, stage=stage.name, posting=result.posting)
            )
            BatchEvent.objects.bulk_create(events)
        return StageDone(batch=locked, stage=stage, result=result, replayed=result.replayed)

    return run_with_retries(write)


def _stage_to_record(batch: Batch, stages: list[BatchStage], position: int) -> BatchStage:
    if batch.status == Status.CANCELLED:
        raise ValidationError(CANCELLED.format(ref=batch.reference), code="cancelled")
    if not 0 <= position < len(stages):
        raise ValidationError(NOT_OPEN.format(ref=batch.reference, status="unknown stage"))
    stage = stages[position]
    if stage.is_done:
        return stage
    if batch.status == Status.COMPLETED:
        raise ValidationError(
            NOT_OPEN.format(ref=batch.reference, status=batch.get_status_display().lower())
        )
    if position != batch.stages_done:
        raise ValidationError(
            OUT_OF_ORDER.format(stage=stage.name, current=stages[batch.stages_done].name),
            code="out_of_order",
        )
    return stage


def _refuse_missing(splits, made) -> None:
    said = {m.variant.pk for m in made}
    missing = [s.variant.name for s in splits if s.planned and s.variant_id not in said]
    if missing:
        raise ValidationError([MADE_MISSING.format(variant=name) for name in missing])


def _refuse_rest_figures(waiting, made) -> None:
    """Finishing the rest settles exactly the units left in progress: a stale form (a second
    tablet) cannot make more of them than there are."""
    _refuse_missing(waiting, made)
    by_variant = {m.variant.pk: m for m in made}
    errors = [
        REST_DOES_NOT_ADD_UP.format(variant=s.variant.name, n=display(s.in_progress))
        for s in waiting
        if (m := by_variant[s.variant_id]).saleable + m.rejected + m.in_progress != s.in_progress
    ]
    if errors:
        raise ValidationError(errors)


def _complete(batch, splits, made, user, posting, note, events=()) -> None:
    """The batch's row, split, yield and timeline once its last stage is recorded; `events`:
    the timeline's entries of the same moment not written yet (it started)."""
    by_variant = {m.variant.pk: m for m in made}
    for split in splits:
        m = by_variant.get(split.variant_id) or Made(variant=split.variant, saleable=Decimal(0))
        split.made, split.in_progress = m.saleable, m.in_progress
        # Nothing to show for it: its planned units were rejected (as the ledger's loss says).
        nothing = not (m.saleable or m.in_progress or m.rejected)
        split.rejected = split.planned if nothing else m.rejected
    _save_splits(splits)
    batch.status = Status.COMPLETED
    batch.completed_on = workshop_today()
    batch.ready_on = None
    batch.save(update_fields=["status", "completed_on", "ready_on", "stages_done"])
    _record_yield(batch, splits)
    BatchEvent.objects.bulk_create(
        [
            *events,
            _new_event(batch, EventKind.COMPLETED, user, posting=posting, note=note.strip()),
        ]
    )


def _record_yield(batch: Batch, splits) -> None:
    """The batch's yield as it stands now, in place of any recorded before."""
    achieved_yield_replace(
        version=batch.version,
        planned=batch.planned_units,
        achieved=sum((s.made for s in splits), Decimal(0)),
        reference=batch.reference,
    )


def batch_finish_rest(
    *,
    batch: Batch,
    made: Iterable[Made],
    user,
    idempotency_key: str,
    waste: Iterable[Waste] = (),
    note: str = "",
) -> StageDone:
    """Units that stayed in progress at completion (a glaze to refire) made saleable now: one
    posting that consumes their work-in-progress lots, costed as they were."""
    made, waste = list(made), list(waste)
    _check_figures([], made, waste, [])

    @transaction.atomic
    def write() -> StageDone:
        locked = _locked(batch)
        if locked.status != Status.COMPLETED:
            raise ValidationError(
                NOT_OPEN.format(ref=locked.reference, status=locked.get_status_display().lower())
            )
        earlier = Posting.objects.filter(idempotency_key=idempotency_key).first()
        rest = _rest_lots(locked)
        last = locked.stages.order_by("position").last()
        if earlier is not None or not rest:
            if earlier is not None:
                return StageDone(batch=locked, stage=last, result=None, replayed=True)
            raise ValidationError(NO_REST.format(ref=locked.reference))
        splits = _splits(locked)
        _refuse_rest_figures([s for s in splits if s.in_progress], made)
        plan = _Production(locked, splits, [], rest, waste, [], rest=True)
        plan.finish(made, completed_on=workshop_today())
        result = _post(
            locked, plan.lines, plan.outputs, plan.losses, "rest", note, user, idempotency_key
        )
        plan.record_lots(result, last.position)
        by_variant = {m.variant.pk: m for m in made}
        for split in splits:
            m = by_variant.get(split.variant_id)
            if split.in_progress:
                split.made += m.saleable if m else 0
                split.rejected += m.rejected if m else split.in_progress
                split.in_progress = m.in_progress if m else Decimal(0)
        _save_splits(splits)
        _record_yield(locked, splits)
        _event(locked, EventKind.FINISHED_REST, user, posting=result.posting, note=note.strip())
        return StageDone(batch=locked, stage=last, result=result, replayed=result.replayed)

    return run_with_retries(write)


# Cancel and reverse ------------------------------------------------------------------------


def batch_cancel(
    *,
    batch: Batch,
    note: str,
    user,
    idempotency_key: str,
    returns: Iterable[Return] = (),
) -> Batch:
    """Stop a planned or running batch. What its stages made and still sits on the shelf (work
    in progress) is written off as a loss in one posting, except the unused material the maker
    returns: new lots of it, at what the batch paid for it."""
    returns = [r for r in returns if r.quantity]
    if not note.strip():
        raise ValidationError(CANCEL_REASON)
    for r in returns:
        if r.quantity < 0:
            raise ValidationError(NEGATIVE_QUANTITY.format(item=r.item.name))

    @transaction.atomic
    def write() -> Batch:
        locked = _locked(batch)
        if locked.status == Status.CANCELLED:
            return locked  # a second tap
        if locked.status not in (Status.PLANNED, Status.RUNNING):
            raise ValidationError(
                NOT_CANCELLABLE.format(
                    ref=locked.reference, status=locked.get_status_display().lower()
                )
            )
        posting = None
        wip = _lots_from(locked, locked.stages_done - 1) if locked.stages_done else []
        if wip:
            posting = _write_off(locked, wip, returns, note, user, idempotency_key)
        elif returns:
            raise ValidationError(
                RETURN_NOT_USED.format(item=returns[0].item.name, ref=locked.reference)
            )
        locked.status = Status.CANCELLED
        locked.ready_on = None
        locked.save(update_fields=["status", "ready_on"])
        _event(locked, EventKind.CANCELLED, user, posting=posting, note=note.strip())
        return locked

    return run_with_retries(write)


def _write_off(batch, wip, returns, note, user, idempotency_key) -> Posting:
    used, expiries = _used_by(batch)
    held = [b for row in wip for b in row.on_hand]
    lines = [
        Line(location=b.location, quantity=-b.quantity, lot=b.lot, unusable_ok="any") for b in held
    ]
    outputs = []
    for n, r in enumerate(returns):
        quantity, value = used.get(r.item.pk, (Decimal(0), Decimal(0)))
        if not quantity:
            raise ValidationError(RETURN_NOT_USED.format(item=r.item.name, ref=batch.reference))
        if r.quantity > quantity:
            raise ValidationError(
                RETURN_TOO_MUCH.format(
                    item=r.item.name,
                    ref=batch.reference,
                    used=f"{display(quantity)} {r.item.unit}",
                    wanted=f"{display(r.quantity)} {r.item.unit}",
                )
            )
        outputs.append(
            Output(
                key=f"return{n}",
                item=r.item,
                location=batch.location,
                quantity=r.quantity,
                lot_code=f"{batch.reference}-RET{n + 1}",
                value=(value * r.quantity / quantity).quantize(Decimal("0.0000000001")),
                expiry_date=expiries.get(r.item.pk),
                cap_expiry=False,  # it keeps the date of the lots it came from
            )
        )
    loss = LossLine(
        key="cancelled",
        kind=LossKind.OTHER,
        item=held[0].lot.item,
        quantity=sum((b.quantity for b in held), Decimal(0)),
        weight=Decimal(1),
        note=f"Batch cancelled: {note.strip()}",
    )
    return _post(batch, lines, outputs, [loss], "cancelled", note, user, idempotency_key).posting


def _post(batch, lines, outputs, losses, what, note, user, idempotency_key) -> PostingResult:
    """One production posting of the batch's, owned by it (its reference as owner_ref)."""
    return posting_create(
        kind=PostingKind.PRODUCTION,
        lines=lines,
        outputs=outputs,
        losses=losses,
        user=user,
        idempotency_key=idempotency_key,
        reference=f"{batch.reference} {what}",
        note=note.strip(),
        owner=OWNER,
        owner_ref=batch.reference,
    )


def _used_by(batch: Batch) -> tuple[dict[int, tuple[Decimal, Decimal]], dict[int, date]]:
    """What the batch's standing stage postings drew, per item: (quantity, cost); and the
    earliest expiry among the lots it drew of each."""
    rows = (
        Movement.objects.filter(
            posting__owner=OWNER,
            posting__owner_ref=batch.reference,
            posting__kind=PostingKind.PRODUCTION,
            posting__reversed_by__isnull=True,
            quantity__lt=0,
        )
        .exclude(lot__item__kind=ItemKind.INTERMEDIATE)
        .values("lot__item_id", "quantity", "unit_cost", "lot__expiry_date")
    )
    used: dict[int, tuple[Decimal, Decimal]] = {}
    expiries: dict[int, date] = {}
    for row in rows:
        item = row["lot__item_id"]
        q, v = used.get(item, (Decimal(0), Decimal(0)))
        used[item] = (q - row["quantity"], v - row["quantity"] * row["unit_cost"])
        expiry = row["lot__expiry_date"]
        if expiry is not None and (item not in expiries or expiry < expiries[item]):
            expiries[item] = expiry
    return used, expiries


def batch_reverse(*, batch: Batch, note: str, user, idempotency_key: str) -> Batch:
    """Undo a completed batch (Owners): one reversal per posting it wrote, the last first, in
    one transaction; its output lots are taken back where they sit and its inputs returned.
    Refused once anything but a transfer has drawn from an output lot. The batch runs again
    from its first stage, and can be completed again."""
    if not note.strip():
        raise ValidationError(REASON_REQUIRED)

    @transaction.atomic
    def write() -> Batch:
        locked = _locked(batch)
        if locked.status != Status.COMPLETED:
            earlier = Posting.objects.filter(
                kind=PostingKind.REVERSAL,
                idempotency_key__in=[idempotency_key, f"{idempotency_key[:56]}-0"],
            )
            if locked.status == Status.RUNNING and earlier.exists():
                return locked  # the same form again
            raise ValidationError(
                NOT_REVERSIBLE.format(
                    ref=locked.reference, status=locked.get_status_display().lower()
                )
            )
        postings = list(
            Posting.objects.filter(
                owner=OWNER,
                owner_ref=locked.reference,
                kind=PostingKind.PRODUCTION,
                reversed_by__isnull=True,
            ).order_by("-id")
        )
        postings_reverse(
            postings=postings, note=note.strip(), user=user, idempotency_key=idempotency_key
        )
        locked.stages.update(posting=None, done_at=None, done_by=None)
        locked.splits.update(made=0, rejected=0, in_progress=0)
        locked.status = Status.RUNNING
        locked.stages_done = 0
        locked.completed_on = None
        locked.ready_on = _ready_on(locked.stages.order_by("position").first())
        locked.save(update_fields=["status", "stages_done", "completed_on", "ready_on"])
        achieved_yield_forget(reference=locked.reference)
        _event(locked, EventKind.REVERSED, user, note=note.strip())
        return locked

    return run_with_retries(write)


# The production posting of a stage ---------------------------------------------------------


class _Production:
    """Builds one stage's lines, outputs and losses so that the ledger's spread gives the cost
    rule: shared inputs (keys in `shared_keys`) feed every saleable unit, the scrap and the
    losses; a variant's own inputs feed only that variant's lots."""

    def __init__(self, batch, splits, uses, before, waste, scrap, *, rest=False, standing=None):
        self.batch = batch
        self.all_splits = [s for s in splits if s.planned]
        self.splits = [s for s in splits if s.in_progress] if rest else self.all_splits
        self.codes = _codes(batch.reference, self.all_splits)
        self.tails = suffixes(self.all_splits)
        self.uses = uses
        self.before = before  # BatchLot rows the stage consumes (what the last stage made)
        self.waste = waste
        self.scrap = scrap
        self.rest = rest
        self.outputs: list[Output] = []
        self.losses: list[LossLine] = []
        self.lines: list[Line] = []
        self.roles: list[tuple[str, Variant | None]] = []  # per output: its role and variant
        self.per_variant = any(u.variant for u in uses) or any(b.variant_id for b in before)
        # Read once: nothing adds lots before the posting.
        self.standing = _standing_lots(batch) if standing is None else standing
        self.scrap_before = self.standing[(LotRole.SCRAP, None)]

    # What the variants' own inputs feed: filled by carry_on / finish.
    own_keys: dict[int, list[str]]
    shared_keys: list[str]

    def carry_on(self, stage: BatchStage, item: Item, quantity: Decimal | None) -> None:
        """A stage that is not the last: its output lot(s) of a semi-finished item."""
        self.own_keys, shared = {}, []
        groups = [s for s in self.splits if s.planned] if self.per_variant else [None]
        units = [s.planned for s in groups] if self.per_variant else [self.batch.planned_units]
        if item.unit == Unit.EACH:
            quantities = units
        else:
            if quantity is None or quantity <= 0:
                raise ValidationError(OUTPUT_QUANTITY.format(item=item.name))
            quantities = split_exactly(quantity, units, QUANTUM)
        for split, q, weight in zip(groups, quantities, units, strict=True):
            key = f"w{split.variant_id}" if split else "wip"
            suffix = f"-{self.tails[split.variant_id]}" if split and len(groups) > 1 else ""
            self.outputs.append(
                Output(
                    key=key,
                    item=item,
                    location=self.batch.location,
                    quantity=q,
                    lot_code=f"{self.batch.reference}-S{stage.position + 1}{suffix}",
                    weight=weight,
                )
            )
            self.roles.append((LotRole.WIP, split.variant if split else None))
            shared.append(key)
            if split:
                self.own_keys[split.variant_id] = [key]
        self._losses_and_scrap(shared)
        self._inputs()

    def finish(self, made: list[Made], *, completed_on: date) -> None:
        """The last stage: a lot per variant of saleable units, a work-in-progress lot of the
        units not ready yet, rejects; a variant with nothing to show takes its own inputs as
        a rejection loss."""
        self.own_keys, shared = {}, []
        by_variant = {m.variant.pk: m for m in made}
        life = self.batch.product.shelf_life_days
        expiry = completed_on + timedelta(days=life) if life else None
        wip_item = None  # made or read only when units stay in progress
        standing = self.standing
        for split in self.splits:
            m = by_variant.get(split.variant_id) or Made(variant=split.variant, saleable=0)
            variant, keys = split.variant, []
            code = self.codes[variant.pk]
            if m.saleable:
                keys.append(f"v{variant.pk}")
                k = standing[(LotRole.SALEABLE, variant.pk)]
                self._output(
                    keys[-1],
                    variant.item,
                    m.saleable,
                    (LotRole.SALEABLE, variant),
                    code + (f"-{k + 1}" if k else ""),
                    expiry,
                )
            if m.in_progress:
                wip_item = wip_item or _wip_item(self.batch.product, None)
                keys.append(f"r{variant.pk}")
                k = standing[(LotRole.REST, variant.pk)]
                self._output(
                    keys[-1],
                    wip_item,
                    m.in_progress,
                    (LotRole.REST, variant),
                    code + "-WIP" + (str(k + 1) if k else ""),
                    None,
                )
            shared.extend(keys)
            if keys and m.rejected:
                self.losses.append(
                    LossLine(
                        key=f"j{variant.pk}",
                        kind=LossKind.REJECTION,
                        item=variant.item,
                        quantity=m.rejected,
                        note=m.reason.strip(),
                    )
                )
            elif not keys:
                # Nothing saleable or in progress: its units were rejected, and its own
                # inputs with them (one loss that carries their cost).
                keys = [f"x{variant.pk}"]
                self.losses.append(
                    LossLine(
                        key=keys[0],
                        kind=LossKind.REJECTION,
                        item=variant.item,
                        quantity=m.rejected or self.units_of(split),
                        weight=Decimal(1),
                        note=m.reason.strip() or "Nothing saleable",
                    )
                )
            self.own_keys[variant.pk] = keys
        if not any(o.weight for o in self.outputs):
            # Nothing saleable at all: the whole batch is a loss.
            self.losses.append(
                LossLine(
                    key="lost",
                    kind=LossKind.REJECTION,
                    item=self.splits[0].variant.item,
                    quantity=Decimal(0),
                    weight=Decimal(1),
                    note="Nothing saleable: the batch's shared cost is written off",
                )
            )
            shared.append("lost")
        self._losses_and_scrap(shared)
        self._inputs()

    def units_of(self, split) -> Decimal:
        """The units this posting settles for a variant: its planned ones, or when finishing
        the rest, those left in progress."""
        return split.in_progress if self.rest else split.planned

    def _output(self, key, item, quantity, role_variant, code, expiry) -> None:
        self.outputs.append(
            Output(
                key=key,
                item=item,
                location=self.batch.location,
                quantity=quantity,
                lot_code=code,
                expiry_date=expiry,
                weight=quantity,
            )
        )
        self.roles.append(role_variant)

    def _losses_and_scrap(self, shared: list[str]) -> None:
        for n, w in enumerate(self.waste):
            self.losses.append(
                LossLine(
                    key=f"waste{n}",
                    kind=LossKind.WASTE,
                    item=w.item,
                    quantity=w.quantity,
                    note=w.note.strip(),
                )
            )
            shared.append(f"waste{n}")
        for n, s in enumerate(self.scrap):
            self.outputs.append(
                Output(
                    key=f"scrap{n}",
                    item=s.item,
                    location=self.batch.location,
                    quantity=s.quantity,
                    lot_code=f"{self.batch.reference}-SCRAP{n + 1 + self.scrap_before}",
                    value=s.value,
                )
            )
            self.roles.append((LotRole.SCRAP, None))
            shared.append(f"scrap{n}")
        self.shared_keys = shared

    def _own(self, variant_id: int | None, item_id: int) -> tuple[str, ...] | None:
        if variant_id is None:
            return tuple(self.shared_keys)
        waste = tuple(f"waste{n}" for n, w in enumerate(self.waste) if w.item.pk == item_id)
        return tuple(self.own_keys.get(variant_id, [])) + waste or tuple(self.shared_keys)

    def _inputs(self) -> None:
        for b in self.before:
            for balance in b.on_hand:
                self.lines.append(
                    Line(
                        location=balance.location,
                        quantity=-balance.quantity,
                        lot=b.lot,
                        feeds=self._own(b.variant_id, b.lot.item_id),
                        unusable_ok="expired",  # its expiry is for the finished goods
                    )
                )
        for u in self.uses:
            if not u.quantity:
                continue
            self.lines.append(
                Line(
                    location=self.batch.location,
                    quantity=-u.quantity,
                    lot=u.lot,
                    item=u.item,
                    feeds=self._own(u.variant.pk if u.variant else None, u.item.pk),
                )
            )

    def record_lots(self, result: PostingResult, position: int) -> None:
        if result.replayed and BatchLot.objects.filter(lot__in=result.outputs).exists():
            return
        BatchLot.objects.bulk_create(
            BatchLot(batch=self.batch, lot=lot, role=role, variant=variant, stage=position)
            for lot, (role, variant) in zip(result.outputs, self.roles, strict=True)
        )


def _suffix(variant: Variant, n: int) -> str:
    """The part of a lot code that names the variant: the last part of its SKU (LAV)."""
    tail = variant.item.sku.rsplit("-", 1)[-1].upper()[:8]
    return tail if tail and tail != variant.item.sku.upper() else f"V{n + 1}"


def suffixes(splits) -> dict[int, str]:
    """{variant id: the part of its lot codes that names it}, unique within the batch: the
    last part of each SKU (LAV), or the variant's position (V2) when two would be alike."""
    tails = {s.variant_id: _suffix(s.variant, n) for n, s in enumerate(splits)}
    if len(set(tails.values())) == len(tails):
        return tails
    return {s.variant_id: f"V{n + 1}" for n, s in enumerate(splits)}


def _codes(reference: str, splits) -> dict[int, str]:
    """A variant's lot code: the batch reference and the variant's suffix, or the reference
    alone when the batch makes one variant (a product without variants)."""
    if len(splits) == 1:
        return {splits[0].variant_id: reference}
    return {v: f"{reference}-{tail}" for v, tail in suffixes(splits).items()}


def _standing_lots(batch: Batch) -> Counter:
    """How many lots of each (role, variant) the batch holds that were not reversed: the next
    one's code is numbered after them."""
    rows = (
        BatchLot.objects.filter(batch=batch, lot__voided_by__isnull=True)
        .order_by()  # counted, not listed: no join to the batch for its ordering
        .values_list("role", "variant_id")
    )
    return Counter(rows)


def _wip_item(product: Product, stage: BatchStage | None) -> Item:
    """The stage's semi-finished item, or the product's work-in-progress item (pieces),
    made the first time it is needed."""
    if stage is not None and stage.output_item is not None:
        return stage.output_item
    sku = f"{product.code.upper()}-WIP"
    item = Item.objects.filter(sku__iexact=sku).first()
    if item is not None and item.kind != ItemKind.INTERMEDIATE:
        sku = f"{product.code.upper()}-WIP-PRODUCT"  # a material took the SKU first
        item = Item.objects.filter(sku__iexact=sku).first()
    if item is None:
        item = Item.objects.create(
            sku=sku,
            name=WIP_NAME.format(product=product.name),
            unit=Unit.EACH,
            kind=ItemKind.INTERMEDIATE,
        )
    return item


def lots_before(batch: Batch, position: int) -> list[BatchLot]:
    """What the stage before `position` made that the stage will consume (none for the
    first)."""
    return _lots_from(batch, position - 1) if position else []


def used_items(batch: Batch) -> list[tuple[Item, Decimal]]:
    """The materials the batch's standing stages drew, with how much: what a cancel may
    return."""
    used, _ = _used_by(batch)
    items = Item.objects.in_bulk(list(used))
    return [(items[pk], q) for pk, (q, _) in used.items()]


def _lots_from(batch: Batch, position: int) -> list[BatchLot]:
    """The semi-finished lots stage `position` made that still hold stock, with their
    balances (`on_hand`), for the next stage to consume."""
    rows = list(
        BatchLot.objects.filter(
            batch=batch, stage=position, role=LotRole.WIP, lot__voided_by__isnull=True
        ).select_related("lot__item", "variant")
    )
    return _with_balances(rows)


def _rest_lots(batch: Batch) -> list[BatchLot]:
    rows = list(
        BatchLot.objects.filter(
            batch=batch, role=LotRole.REST, lot__voided_by__isnull=True
        ).select_related("lot__item", "variant")
    )
    return _with_balances(rows)


def _with_balances(rows: list[BatchLot]) -> list[BatchLot]:
    balances = Balance.objects.filter(
        lot_id__in=[r.lot_id for r in rows], quantity__gt=0
    ).select_related("location", "lot__item")
    by_lot: dict[int, list] = {}
    for b in balances:
        by_lot.setdefault(b.lot_id, []).append(b)
    for r in rows:
        r.on_hand = by_lot.get(r.lot_id, [])
    return [r for r in rows if r.on_hand]


# Small pieces ------------------------------------------------------------------------------


def _check_figures(uses, made, waste, scrap) -> None:
    errors = []
    for u in uses:
        if u.quantity < 0:
            errors.append(NEGATIVE_QUANTITY.format(item=u.item.name))
    if sum((m.saleable + m.rejected + m.in_progress for m in made), Decimal(0)) >= MAX_QUANTITY:
        errors.append(TOTAL_TOO_LARGE)
    for m in made:
        if min(m.saleable, m.rejected, m.in_progress) < 0:
            errors.append(NEGATIVE_OUTPUT.format(variant=m.variant.name))
        elif m.rejected and not m.reason.strip():
            errors.append(REJECT_REASON.format(variant=m.variant.name, n=display(m.rejected)))
    for w in waste:
        if w.quantity < 0:
            errors.append(NEGATIVE_QUANTITY.format(item=w.item.name))
    for s in scrap:
        if s.quantity <= 0:
            errors.append(SCRAP_NEEDS_ITEM)
        elif s.value < 0:
            errors.append(NEGATIVE_VALUE.format(item=s.item.name))
    if errors:
        raise ValidationError(list(dict.fromkeys(errors)))


def _locked(batch: Batch) -> Batch:
    # Only the batch's own row: its product and version are read, not locked, so batches of
    # one product never wait on each other.
    return (
        Batch.objects.select_for_update(of=("self",))
        .select_related("product", "version", "location")
        .get(pk=batch.pk)
    )


def _ready_on(stage: BatchStage | None) -> date | None:
    if stage is None or not stage.duration_days:
        return None
    return workshop_today() + timedelta(days=stage.duration_days)


def _user(user):
    return user if getattr(user, "is_authenticated", False) else None


def _event(batch, kind, user, *, stage="", posting=None, note="") -> None:
    _new_event(batch, kind, user, stage=stage, posting=posting, note=note).save()


def _new_event(batch, kind, user, *, stage="", posting=None, note="") -> BatchEvent:
    """A timeline entry, dated now, not saved yet."""
    return BatchEvent(
        batch=batch, kind=kind, stage_name=stage, posting=posting, note=note, user=_user(user)
    )


def _save_splits(splits: list[BatchVariant]) -> None:
    """What each variant gave (made, rejected, in progress), in one UPDATE ... FROM UNNEST on
    PostgreSQL (bulk_update builds a CASE per column and row, which costs more than the
    update itself)."""
    if connection.vendor != "postgresql":
        BatchVariant.objects.bulk_update(splits, ["made", "rejected", "in_progress"])
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {BatchVariant._meta.db_table} AS s SET made = v.made, "
            "rejected = v.rejected, in_progress = v.in_progress "
            "FROM UNNEST(%s::bigint[], %s::numeric[], %s::numeric[], %s::numeric[]) "
            "AS v(id, made, rejected, in_progress) WHERE s.id = v.id",
            [
                [s.pk for s in splits],
                *(
                    [Decimal(getattr(s, f)) for s in splits]  # 0 and Decimal: not one array
                    for f in ("made", "rejected", "in_progress")
                ),
            ],
        )


def _splits(batch: Batch) -> list[BatchVariant]:
    """The batch's split, in the variants' order (which decides their lot-code suffixes), with
    their items; ordered without the default ordering's join to the batch."""
    return list(
        batch.splits.select_related("variant__item").order_by("variant__position", "variant_id")
    )


def _with_items(scrap: list[Scrap]) -> list[Scrap]:
    return [
        s if s.item is not None else replace(s, item=_scrap_item(s.name, s.unit)) for s in scrap
    ]


def _scrap_item(name: str, unit: str) -> Item:
    """A scrap item named on the stage form that the catalog does not have yet (wax offcuts,
    low-grade rough), made inside the stage's transaction: a refused stage leaves none
    behind, and two tablets naming it at once share one."""
    name = " ".join(name.split())[:200]
    existing = Item.objects.filter(kind=ItemKind.SCRAP, name__iexact=name).first()
    if existing is not None:
        return existing
    base = "SCRAP-" + "".join(ch if ch.isalnum() else "-" for ch in name.upper())[:40]
    sku = base
    for n in range(2, 100):
        if not Item.objects.filter(sku__iexact=sku).exists():
            break
        sku = f"{base}-{n}"
    try:
        with transaction.atomic():
            return Item.objects.create(sku=sku, name=name, unit=unit, kind=ItemKind.SCRAP)
    except IntegrityError:  # made by another tablet at the same moment
        return Item.objects.get(sku__iexact=sku)
