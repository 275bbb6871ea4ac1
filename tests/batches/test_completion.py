"""Completing a batch: one posting that consumes what the maker recorded and makes a lot per
variant, costed by the rule in docs/design.md (worked out by hand below)."""

from datetime import timedelta
from decimal import Decimal as D

import pytest
from django.core.exceptions import ValidationError
from django.db.models import Sum

from batches import services
from batches.models import Batch, BatchLot, LotRole, Status
from recipes.models import AchievedYield
from stock.models import Balance, Loss, Lot, Movement, Posting, workshop_today
from stock.services import lot_hold
from tests.batches.conftest import key, plan, planned_uses

pytestmark = pytest.mark.django_db


def complete(c, batch, uses=None, made=None, **kw):
    return services.stage_complete(
        batch=batch,
        position=0,
        uses=planned_uses(c) if uses is None else uses,
        made=made
        if made is not None
        else [
            services.Made(variant=c.lavender, saleable=D(5)),
            services.Made(variant=c.cedar, saleable=D(5)),
        ],
        user=None,
        idempotency_key=kw.pop("idempotency_key", key()),
        **kw,
    )


def saleable(batch, variant):
    return BatchLot.objects.get(batch=batch, variant=variant, role=LotRole.SALEABLE).lot


def test_a_planned_batch_changes_no_stock_and_freezes_its_version(candle):
    before = Movement.objects.count()
    batch = plan(candle)
    assert batch.status == Status.PLANNED
    assert batch.reference == "CND-01"
    assert Movement.objects.count() == before
    candle.version.refresh_from_db()
    assert candle.version.is_frozen
    assert plan(candle).reference == "CND-02"


def test_completion_costs_each_variant_by_the_worked_example(candle):
    """Wax 1,000 g drawn first-expiry-first: W1 800 g x 0.01 = 8.00, W2 200 g x 0.02 = 4.00;
    jars 10 x 1.00 = 10.00. Shared 22.00, less 2.00 of wax offcuts kept as scrap: 20.00 over the
    9 saleable candles = 2.2222222222 each. Lavender oil 50 g x 0.50 = 25.00 over its 4 saleable
    candles (one cracked) = 6.25; cedar oil 50 g x 0.30 = 15.00 over 5 = 3.00.
    Lavender: 8.4722222222 a candle, cedar 5.2222222222."""
    batch = plan(candle)
    done = complete(
        candle,
        batch,
        made=[
            services.Made(variant=candle.lavender, saleable=D(4), rejected=D(1), reason="cracked"),
            services.Made(variant=candle.cedar, saleable=D(5)),
        ],
        scrap=[services.Scrap(item=candle.scrap_item, quantity=D(40), value=D("2.00"))],
    )
    lav, ced = saleable(batch, candle.lavender), saleable(batch, candle.cedar)
    assert (lav.code, ced.code) == ("CND-01-LAV", "CND-01-CED")
    # To six places: the ledger keeps ten, and rounding leaves its remainder on one share.
    assert lav.unit_cost.quantize(D("0.000001")) == D("8.472222")
    assert ced.unit_cost.quantize(D("0.000001")) == D("5.222222")
    scrap = BatchLot.objects.get(batch=batch, role=LotRole.SCRAP).lot
    assert scrap.unit_cost * 40 == D("2.00")
    # Balances equal movements; the wax came out of W1 first.
    assert Balance.objects.get(lot=candle.lots["W1"]).quantity == 0
    assert Balance.objects.get(lot=candle.lots["W2"]).quantity == D(800)
    assert Balance.objects.get(lot=lav).quantity == 4
    # Inputs' cost = outputs' value + losses, to the cent.
    posting = done.result.posting
    inputs = sum(-m.quantity * m.unit_cost for m in posting.movements.filter(quantity__lt=0))
    outputs = D(4) * lav.unit_cost + D(5) * ced.unit_cost + D("2.00")
    losses = Loss.objects.filter(posting=posting).aggregate(v=Sum("value"))["v"]
    assert inputs == D("62.00")
    assert abs(outputs + losses - inputs) < D("0.01")
    rejected = Loss.objects.get(posting=posting, kind="rejection")
    assert (rejected.quantity, rejected.note) == (1, "cracked")
    batch.refresh_from_db()
    assert batch.status == Status.COMPLETED
    assert AchievedYield.objects.get(reference=batch.reference).achieved == 9


def test_completing_a_planned_batch_starts_it_and_writes_its_row_split_timeline_and_yield(
    candle,
):
    """The batch's row is written once, its "started" and "completed" events together: what
    they say is what a start and a completion each wrote on their own."""
    batch = plan(candle)
    done = complete(
        candle,
        batch,
        made=[
            # A plain 0 beside Decimals: the split's figures are written as numbers alike.
            services.Made(variant=candle.lavender, saleable=0, in_progress=D(5)),
            services.Made(variant=candle.cedar, saleable=D(4), rejected=D(1), reason="chipped"),
        ],
    )
    batch.refresh_from_db()
    assert (batch.status, batch.stages_done, batch.ready_on) == (Status.COMPLETED, 1, None)
    assert batch.completed_on == workshop_today()
    assert [(e.kind, e.posting_id) for e in batch.events.all()] == [
        ("planned", None),
        ("started", None),
        ("completed", done.result.posting.pk),
    ]
    assert [(s.made, s.rejected, s.in_progress) for s in batch.splits.all()] == [
        (0, 0, 5),
        (4, 1, 0),
    ]
    assert AchievedYield.objects.get(reference=batch.reference).achieved == 4


def test_an_output_expires_with_its_earliest_input_when_that_is_sooner(candle):
    batch = plan(candle)
    complete(candle, batch)
    today = workshop_today()
    # W1 expires in 60 days, sooner than the candle's shelf life of a year.
    assert saleable(batch, candle.lavender).expiry_date == today + timedelta(days=60)


def test_an_output_expires_after_the_shelf_life_when_its_inputs_last_longer(candle):
    batch = plan(candle)
    w2 = candle.lots["W2"]
    uses = [services.Use(item=candle.wax, quantity=D(1000), lot=w2), *planned_uses(candle)[1:]]
    complete(candle, batch, uses=uses)
    assert saleable(batch, candle.cedar).expiry_date == workshop_today() + timedelta(days=365)


def test_a_variant_own_oil_feeds_only_its_own_lot(candle):
    batch = plan(candle)
    complete(candle, batch)
    ced = saleable(batch, candle.cedar)
    fed_by = set(ced.allocations_in.values_list("movement__lot__item__name", flat=True))
    assert "Cedar oil" in fed_by and "Lavender oil" not in fed_by
    assert "Soy wax" in fed_by


def test_completing_twice_consumes_once(candle):
    batch = plan(candle)
    k = key()
    first = complete(candle, batch, idempotency_key=k)
    again = complete(candle, batch, idempotency_key=k)
    other_tablet = complete(candle, batch)
    assert not first.replayed and again.replayed and other_tablet.replayed
    assert Posting.objects.filter(owner="batches", owner_ref=batch.reference).count() == 1
    assert Balance.objects.get(lot=candle.lots["JAR"]).quantity == 10


def test_a_short_line_leaves_no_movement_and_the_batch_running(candle):
    batch = plan(candle)
    services.batch_start(batch=batch, user=None)
    before = Movement.objects.count()
    uses = planned_uses(candle)
    uses[3] = services.Use(item=candle.jar, quantity=D(25))  # 20 on the shelf
    with pytest.raises(ValidationError) as e:
        complete(candle, batch, uses=uses)
    assert "Not enough Amber jar at Bench: need 25 each, have 20" in str(e.value)
    assert Movement.objects.count() == before
    batch.refresh_from_db()
    assert batch.status == Status.RUNNING and batch.stages_done == 0


def test_an_expired_or_quarantined_lot_is_refused(candle):
    batch = plan(candle)
    lot_hold(lot=candle.lots["LAV"], note="smells off", user=None)
    uses = planned_uses(candle)
    uses[1] = services.Use(
        item=candle.lav_oil, quantity=D(50), lot=candle.lots["LAV"], variant=candle.lavender
    )
    with pytest.raises(ValidationError) as e:
        complete(candle, batch, uses=uses)
    assert "Lavender oil lot LAV1 is quarantined" in str(e.value)
    # Left to the ledger, the only lavender lot is held: not enough usable oil.
    with pytest.raises(ValidationError) as e:
        complete(candle, batch)
    assert "Not enough Lavender oil at Bench" in str(e.value)
    assert not Lot.objects.filter(batch_lot__batch=batch).exists()


def test_a_lot_of_another_material_is_refused(candle):
    batch = plan(candle)
    uses = planned_uses(candle)
    uses[0] = services.Use(item=candle.wax, quantity=D(1000), lot=candle.lots["JAR"])
    with pytest.raises(ValidationError) as e:
        complete(candle, batch, uses=uses)
    assert "Lot JAR1 belongs to Amber jar, not Soy wax." in str(e.value)


def test_completing_a_cancelled_batch_is_refused(candle):
    batch = plan(candle)
    services.batch_cancel(batch=batch, note="no orders", user=None, idempotency_key=key())
    with pytest.raises(ValidationError) as e:
        complete(candle, batch)
    assert "was cancelled" in str(e.value)


def test_a_variant_with_nothing_saleable_turns_its_own_oil_into_a_rejection(candle):
    batch = plan(candle)
    done = complete(
        candle,
        batch,
        made=[
            services.Made(variant=candle.lavender, saleable=D(0), rejected=D(5), reason="sooty"),
            services.Made(variant=candle.cedar, saleable=D(5)),
        ],
    )
    # Shared 8 + 4 + 10 = 22.00 over the 5 cedar candles, plus their own 15.00: 7.40 each.
    assert saleable(batch, candle.cedar).unit_cost == D("7.40")
    lost = Loss.objects.get(posting=done.result.posting, kind="rejection", value__gt=0)
    assert lost.value == D("25.00")  # the lavender oil


def test_a_plan_needs_units_and_an_order_of_dates(candle):
    with pytest.raises(ValidationError) as e:
        plan(candle, lavender=0, cedar=0)
    assert services.NOTHING_PLANNED in str(e.value)
    with pytest.raises(ValidationError):
        plan(candle, expected_completion=workshop_today() - timedelta(days=1))
    assert not Batch.objects.exists()
