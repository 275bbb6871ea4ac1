"""Batches in stages: semi-finished lots carried from stage to stage with their cost and
genealogy, per variant when a stage used a variant's own inputs; curing dates; cancel with a
return; finishing the rest; reversal and when it is refused."""

from datetime import timedelta
from decimal import Decimal as D

import pytest
from django.core.exceptions import ValidationError

from batches import selectors, services
from batches.models import BatchLot, LotRole, Status
from batches.selectors import batch_figures
from recipes.models import AchievedYield
from stock.models import Balance, Item, Lot, Posting, Reason, workshop_today
from stock.selectors import lots_downstream
from stock.services import adjustment_post, transfer_post
from tests.batches.conftest import key, plan, planned_uses
from tests.stock.factories import LocationFactory, receive

pytestmark = pytest.mark.django_db


def soap_plan(s):
    return services.batch_plan(
        version=s.version,
        split={s.lavender: D(5), s.mint: D(5)},
        production_date=workshop_today(),
        user=None,
        idempotency_key=key(),
    )


def mix(s, batch):
    return services.stage_complete(
        batch=batch,
        position=0,
        uses=[
            services.Use(item=s.m["Olive oil"].item, quantity=D(1000)),
            services.Use(item=s.m["Lye"].item, quantity=D(140)),
            services.Use(item=s.m["Lavender EO"].item, quantity=D(100), variant=s.lavender),
            services.Use(item=s.m["Mint EO"].item, quantity=D(100), variant=s.mint),
        ],
        output_quantity=D(1340),
        user=None,
        idempotency_key=key(),
    )


def cure(s, batch):
    return services.stage_complete(
        batch=batch,
        position=1,
        uses=[],
        output_quantity=D(1206),
        user=None,
        idempotency_key=key(),
    )


def wrap(s, batch, **made):
    return services.stage_complete(
        batch=batch,
        position=2,
        uses=[services.Use(item=s.m["Wrapper"].item, quantity=D(10))],
        made=[
            services.Made(variant=s.lavender, saleable=made.get("lavender", D(5))),
            services.Made(variant=s.mint, saleable=made.get("mint", D(5))),
        ],
        user=None,
        idempotency_key=key(),
    )


def lots_of(batch, role, stage=None):
    rows = BatchLot.objects.filter(batch=batch, role=role, lot__voided_by__isnull=True)
    if stage is not None:
        rows = rows.filter(stage=stage)
    return {r.variant.name if r.variant else None: r.lot for r in rows.select_related("lot")}


def test_three_stages_carry_cost_and_keep_each_scent_to_its_own_bars(soap):
    batch = soap_plan(soap)
    assert batch.expected_completion == workshop_today() + timedelta(days=28)
    mix(soap, batch)
    loaves = lots_of(batch, LotRole.WIP, stage=0)
    # The mix used each scent's own oil: a loaf lot per scent, 670 g each.
    assert {k: v.code for k, v in loaves.items()} == {
        "Lavender": "SOP-01-S1-LAV",
        "Mint": "SOP-01-S1-MNT",
    }
    assert Balance.objects.get(lot=loaves["Lavender"]).quantity == 670
    # Shared 10.00 + 2.80 over the 10 planned bars, 6.40 a half; lavender oil 10.00 its own.
    assert loaves["Lavender"].unit_cost * 670 == pytest.approx(D("16.40"), abs=D("0.000001"))
    batch.refresh_from_db()
    assert batch.status == Status.RUNNING and batch.stages_done == 1
    assert batch.ready_on == workshop_today() + timedelta(days=28)  # curing
    assert [(e.kind, e.stage_name) for e in batch.events.all()] == [
        ("planned", ""),
        ("started", ""),
        ("stage", "Mix"),
    ]
    cure(soap, batch)
    assert Balance.objects.get(lot=loaves["Lavender"]).quantity == 0
    wrap(soap, batch)
    bars = lots_of(batch, LotRole.SALEABLE)
    # Lavender bars: 16.40 of loaf + 5 wrappers x 0.05 = 16.65 over 5 = 3.33.
    assert bars["Lavender"].unit_cost == D("3.33")
    assert bars["Lavender"].code == "SOP-01-LAV"
    downstream = {lot.code for lot, _ in lots_downstream(soap.lots["lav"])}
    assert "SOP-01-LAV" in downstream
    assert not any("MNT" in code for code in downstream)
    olive_reaches = {lot.code for lot, _ in lots_downstream(soap.lots["olive"])}
    assert {"SOP-01-LAV", "SOP-01-MNT"} <= olive_reaches
    batch.refresh_from_db()
    assert batch.status == Status.COMPLETED and batch.ready_on is None
    assert [(e.kind, e.stage_name) for e in batch.events.all()][2:] == [
        ("stage", "Mix"),
        ("stage", "Cure"),
        ("completed", ""),
    ]


def test_a_stage_out_of_order_is_refused_and_changes_nothing(soap):
    batch = soap_plan(soap)
    with pytest.raises(ValidationError) as e:
        cure(soap, batch)
    assert "Cure comes later: record Mix first." in str(e.value)
    assert not Posting.objects.filter(owner="batches").exists()


def test_cancelling_a_running_batch_writes_off_its_loaves_and_returns_unused_oil(soap):
    batch = soap_plan(soap)
    mix(soap, batch)
    olive = soap.m["Olive oil"].item
    services.batch_cancel(
        batch=batch,
        note="lye too weak",
        returns=[services.Return(item=olive, quantity=D(200))],
        user=None,
        idempotency_key=key(),
    )
    batch.refresh_from_db()
    assert batch.status == Status.CANCELLED
    assert all(
        Balance.objects.get(lot=lot).quantity == 0
        for lot in lots_of(batch, LotRole.WIP, stage=0).values()
    )
    returned = Lot.objects.get(item=olive, code="SOP-01-RET1")
    assert Balance.objects.get(lot=returned).quantity == 200
    assert returned.unit_cost == D("0.01")  # what the batch paid for it
    with pytest.raises(ValidationError) as e:
        wrap(soap, batch)
    assert "was cancelled" in str(e.value)


def test_a_return_above_what_the_batch_used_is_refused(soap):
    batch = soap_plan(soap)
    mix(soap, batch)
    with pytest.raises(ValidationError) as e:
        services.batch_cancel(
            batch=batch,
            note="stop",
            returns=[services.Return(item=soap.m["Olive oil"].item, quantity=D(1001))],
            user=None,
            idempotency_key=key(),
        )
    assert "used 1,000 g; 1,001 g cannot be returned" in str(e.value)
    batch.refresh_from_db()
    assert batch.status == Status.RUNNING


def test_units_left_in_progress_are_finished_later_at_the_same_cost(candle):
    batch = plan(candle)
    services.stage_complete(
        batch=batch,
        position=0,
        uses=planned_uses(candle),
        made=[
            services.Made(variant=candle.lavender, saleable=D(3), in_progress=D(2)),
            services.Made(variant=candle.cedar, saleable=D(5)),
        ],
        user=None,
        idempotency_key=key(),
    )
    first = lots_of(batch, LotRole.SALEABLE)["Lavender"]
    rest = lots_of(batch, LotRole.REST)["Lavender"]
    assert rest.code == "CND-01-LAV-WIP" and rest.unit_cost == first.unit_cost
    services.batch_finish_rest(
        batch=batch,
        made=[services.Made(variant=candle.lavender, saleable=D(2))],
        user=None,
        idempotency_key=key(),
    )
    finished = Lot.objects.get(code="CND-01-LAV-2")
    assert finished.unit_cost == first.unit_cost
    assert Balance.objects.get(lot=rest).quantity == 0
    split = batch.splits.get(variant=candle.lavender)
    assert (split.made, split.in_progress) == (5, 0)
    assert AchievedYield.objects.get(reference=batch.reference).achieved == 10


def _complete_candles(c):
    batch = plan(c)
    services.stage_complete(
        batch=batch,
        position=0,
        uses=planned_uses(c),
        made=[
            services.Made(variant=c.lavender, saleable=D(5)),
            services.Made(variant=c.cedar, saleable=D(5)),
        ],
        user=None,
        idempotency_key=key(),
    )
    return batch


def test_reversing_a_batch_returns_its_inputs_and_it_can_be_completed_again(candle):
    batch = _complete_candles(candle)
    services.batch_reverse(batch=batch, note="wrong wax", user=None, idempotency_key=key())
    batch.refresh_from_db()
    assert batch.status == Status.RUNNING and batch.stages_done == 0
    assert Balance.objects.get(lot=candle.lots["W1"]).quantity == 800
    assert Balance.objects.get(lot=candle.lots["JAR"]).quantity == 20
    assert not AchievedYield.objects.filter(reference=batch.reference).exists()
    assert not lots_of(batch, LotRole.SALEABLE)
    services.stage_complete(
        batch=batch,
        position=0,
        uses=planned_uses(candle),
        made=[
            services.Made(
                variant=candle.lavender, saleable=D(0), rejected=D(5), reason="none poured"
            ),
            services.Made(variant=candle.cedar, saleable=D(10)),
        ],
        user=None,
        idempotency_key=key(),
    )
    assert lots_of(batch, LotRole.SALEABLE)["Cedar"].code == "CND-01-CED"
    # Its yield is recorded anew: one row, the second completion's.
    assert AchievedYield.objects.get(reference=batch.reference).achieved == 10


def test_a_reversal_is_refused_once_an_adjustment_drew_from_an_output(candle):
    batch = _complete_candles(candle)
    lav = lots_of(batch, LotRole.SALEABLE)["Lavender"]
    adjustment_post(
        item=lav.item,
        location=candle.bench,
        quantity=D(-1),
        reason=Reason.DAMAGED,
        lot=lav,
        user=None,
        idempotency_key=key(),
    )
    with pytest.raises(ValidationError) as e:
        services.batch_reverse(batch=batch, note="oops", user=None, idempotency_key=key())
    assert "CND-01-LAV" in str(e.value)
    batch.refresh_from_db()
    assert batch.status == Status.COMPLETED


def test_a_reversal_is_refused_once_another_batch_drew_from_an_output(soap, candle):
    batch = _complete_candles(candle)
    lav = lots_of(batch, LotRole.SALEABLE)["Lavender"]
    gift = plan(candle)
    services.stage_complete(
        batch=gift,
        position=0,
        uses=[
            services.Use(item=candle.jar, quantity=D(1)),
            services.Use(item=lav.item, quantity=D(1), lot=lav),  # a candle in a gift set
        ],
        made=[
            services.Made(
                variant=candle.lavender, saleable=D(0), rejected=D(5), reason="none poured"
            ),
            services.Made(variant=candle.cedar, saleable=D(1)),
        ],
        user=None,
        idempotency_key=key(),
    )
    with pytest.raises(ValidationError) as e:
        services.batch_reverse(batch=batch, note="oops", user=None, idempotency_key=key())
    assert "CND-02" in str(e.value)


def test_a_transfer_does_not_block_a_reversal(candle):
    batch = _complete_candles(candle)
    lav = lots_of(batch, LotRole.SALEABLE)["Lavender"]
    shop = LocationFactory(name="Shop")
    transfer_post(
        from_location=candle.bench,
        to_location=shop,
        quantities=[(lav, D(3))],
        user=None,
        idempotency_key=key(),
    )
    services.batch_reverse(batch=batch, note="wrong wax", user=None, idempotency_key=key())
    assert Balance.objects.get(lot=lav, location=shop).quantity == 0
    assert Balance.objects.get(lot=lav, location=candle.bench).quantity == 0
    lav.refresh_from_db()
    assert lav.voided_by is not None


def test_each_stage_summary_adds_up_in_grams_when_count_items_have_a_net_weight(soap):
    Item.objects.filter(pk=soap.m["Wrapper"].item.pk).update(net_weight_g=D(5))
    Item.objects.filter(pk__in=[soap.lavender.item_id, soap.mint.item_id]).update(
        net_weight_g=D(110)
    )
    batch = soap_plan(soap)
    mix(soap, batch)
    cure(soap, batch)
    wrap(soap, batch)
    summaries = batch_figures(batch).summaries
    mixed, cured, wrapped = summaries
    assert (mixed.measure, mixed.inputs, mixed.outputs, mixed.unexplained) == ("g", 1340, 1340, 0)
    # Curing lost 134 g of water: the 10 % the recipe expects.
    assert (cured.inputs, cured.outputs, cured.unexplained_percent) == (1340, 1206, D("10.0"))
    # 1,206 g of cured loaf and 10 wrappers of 5 g make 10 bars of 110 g: 156 g trimmed.
    assert (wrapped.inputs, wrapped.outputs, wrapped.unexplained) == (1256, 1100, 156)


def test_without_a_net_weight_a_stage_with_pieces_is_not_comparable(soap):
    batch = soap_plan(soap)
    mix(soap, batch)
    cure(soap, batch)
    wrap(soap, batch)
    wrapped = batch_figures(batch).summaries[2]
    assert wrapped.measure == "" and wrapped.unexplained is None


def test_an_expired_lot_is_refused_and_listed_last(candle):
    old = receive(
        candle.wax,
        candle.bench,
        "500",
        unit_cost="0.01",
        code="OLD",
        expiry_date=workshop_today() - timedelta(days=1),
    )
    batch = plan(candle)
    uses = selectors.planned_uses(batch, batch.stages.get())
    wax = next(u for u in uses if u.item == candle.wax)
    assert [b.lot.code for b in wax.lots] == ["W1", "W2", "OLD"]
    assert [b.lot.code for b, _ in wax.preview] == ["W1", "W2"]
    with pytest.raises(ValidationError) as e:
        services.stage_complete(
            batch=batch,
            position=0,
            uses=[services.Use(item=candle.wax, quantity=D(100), lot=old)],
            made=[
                services.Made(
                    variant=candle.lavender, saleable=D(0), rejected=D(5), reason="none poured"
                ),
                services.Made(variant=candle.cedar, saleable=D(1)),
            ],
            user=None,
            idempotency_key=key(),
        )
    assert "Soy wax lot OLD expired on" in str(e.value)


def test_a_completion_that_leaves_a_planned_variant_out_is_refused(candle):
    batch = plan(candle)
    with pytest.raises(ValidationError) as e:
        services.stage_complete(
            batch=batch,
            position=0,
            uses=planned_uses(candle),
            made=[services.Made(variant=candle.cedar, saleable=D(5))],
            user=None,
            idempotency_key=key(),
        )
    assert "Say what Lavender gave" in str(e.value)
    assert not Posting.objects.filter(owner="batches").exists()
