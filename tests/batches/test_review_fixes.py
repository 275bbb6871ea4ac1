"""What an independent review of batches found, each fixed and kept fixed: a stale form after a
reversal, curing past an input's expiry, lot codes that collided, finishing the rest with
figures that did not add up, a rejection counted twice, expiries of returns and of products
without a shelf life, huge figures, and scrap items made outside the stage."""

from datetime import date, timedelta
from decimal import Decimal as D

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

import batches.services
import stock.engine
from batches import selectors, services
from batches.models import BatchLot, LotRole, Status
from recipes import services as recipes
from stock.models import Item, Loss, Lot, workshop_today
from stock.services import lot_hold
from tests.batches.conftest import key, plan, planned_uses
from tests.batches.test_stages import cure, lots_of, mix, soap_plan
from tests.materials.factories import MaterialFactory
from tests.stock.factories import receive

pytestmark = pytest.mark.django_db


def complete(c, batch, k=None, lav=D(5), ced=D(5), lav_wip=D(0)):
    return services.stage_complete(
        batch=batch,
        position=0,
        uses=planned_uses(c),
        made=[
            services.Made(variant=c.lavender, saleable=lav, in_progress=lav_wip),
            services.Made(variant=c.cedar, saleable=ced),
        ],
        user=None,
        idempotency_key=k or key(),
    )


def test_a_form_sent_again_after_the_batch_was_reversed_is_refused(candle):
    batch = plan(candle)
    k = key()
    complete(candle, batch, k)
    services.batch_reverse(batch=batch, note="wrong wax", user=None, idempotency_key=key())
    with pytest.raises(ValidationError) as e:
        complete(candle, batch, k)
    assert "sent before the batch was reversed" in str(e.value)
    batch.refresh_from_db()
    assert batch.status == Status.RUNNING


def test_recording_a_first_stage_from_the_page_answers_with_the_batch(maker_client, soap):
    batch = soap_plan(soap)
    from tests.batches.test_pages import stage_data

    response = maker_client.post(
        reverse("batches:stage", args=[batch.pk, 0]), stage_data(batch, output_quantity="1340")
    )
    assert response.status_code == 302
    batch.refresh_from_db()
    assert batch.stages_done == 1


def test_a_curing_batch_goes_on_and_can_be_cancelled_after_an_input_expired(soap, monkeypatch):
    """The lye expires in 3 days, so the loaf says so too; 28 days later the cure is
    recorded all the same (the loaf is the batch's own work), and the bars carry the date."""
    Lot.objects.filter(pk=soap.lots["lye"].pk).update(
        expiry_date=workshop_today() + timedelta(days=3)
    )
    batch = soap_plan(soap)
    mix(soap, batch)
    later = workshop_today() + timedelta(days=28)
    for module in (stock.engine, batches.services):
        monkeypatch.setattr(module, "workshop_today", lambda: later)
    cure(soap, batch)
    batch.refresh_from_db()
    assert batch.stages_done == 2
    services.batch_cancel(batch=batch, note="old lye", user=None, idempotency_key=key())
    batch.refresh_from_db()
    assert batch.status == Status.CANCELLED


def test_a_batch_whose_loaves_are_held_can_still_be_cancelled(soap):
    batch = soap_plan(soap)
    mix(soap, batch)
    for lot in lots_of(batch, LotRole.WIP, stage=0).values():
        lot_hold(lot=lot, note="recall", user=None)
    services.batch_cancel(batch=batch, note="recall", user=None, idempotency_key=key())
    batch.refresh_from_db()
    assert batch.status == Status.CANCELLED


def test_returned_material_keeps_the_expiry_of_the_lots_it_came_from(soap):
    Lot.objects.filter(pk=soap.lots["lye"].pk).update(
        expiry_date=workshop_today() + timedelta(days=3)
    )
    batch = soap_plan(soap)
    mix(soap, batch)
    services.batch_cancel(
        batch=batch,
        note="stop",
        returns=[services.Return(item=soap.m["Olive oil"].item, quantity=D(200))],
        user=None,
        idempotency_key=key(),
    )
    returned = Lot.objects.get(code=f"{batch.reference}-RET1")
    assert returned.expiry_date == soap.lots["olive"].expiry_date  # none, not the lye's


def test_variants_whose_skus_end_alike_get_lot_codes_of_their_own(bench):
    from recipes.models import Basis

    product = recipes.product_create(
        name="Bar soap",
        code="bar",
        shelf_life_days=365,
        variants=[("Lavender", "BAR-LAV-100"), ("Rose", "BAR-ROSE-100")],
    )
    lav, rose = product.variants.order_by("position")
    oil = MaterialFactory(item__name="Oil", item__unit="g")
    lav_eo = MaterialFactory(item__name="Lav EO", item__unit="g")
    v = recipes.recipe_create(product=product, name="Bar", standard_yield=D(10))
    mixing = recipes.stage_add(version=v, name="Mix")
    recipes.stage_add(version=v, name="Wrap")
    recipes.line_add(version=v, material=oil, quantity=D(100), unit="g", stage=mixing)
    recipes.line_add(
        version=v,
        material=lav_eo,
        quantity=D(1),
        unit="g",
        basis=Basis.PER_VARIANT_UNIT,
        variant=lav,
        stage=mixing,
    )
    receive(oil.item, bench, "1000", unit_cost="0.01", code="O1")
    receive(lav_eo.item, bench, "100", unit_cost="0.10", code="L1")
    batch = services.batch_plan(
        version=v,
        split={lav: D(5), rose: D(5)},
        production_date=workshop_today(),
        user=None,
        idempotency_key=key(),
    )
    services.stage_complete(
        batch=batch,
        position=0,
        uses=[
            services.Use(item=oil.item, quantity=D(100)),
            services.Use(item=lav_eo.item, quantity=D(5), variant=lav),
        ],
        user=None,
        idempotency_key=key(),
    )
    codes = sorted(lots_of(batch, LotRole.WIP, stage=0)[name].code for name in ("Lavender", "Rose"))
    assert codes == ["BAR-01-S1-V1", "BAR-01-S1-V2"]


def test_finishing_the_rest_must_settle_exactly_the_units_left_in_progress(candle):
    batch = plan(candle)
    complete(candle, batch, lav=D(3), lav_wip=D(2))
    with pytest.raises(ValidationError) as e:  # nothing said of the two
        services.batch_finish_rest(
            batch=batch,
            made=[services.Made(variant=candle.lavender, saleable=D(0))],
            user=None,
            idempotency_key=key(),
        )
    assert "2 units were left in progress" in str(e.value)
    services.batch_finish_rest(
        batch=batch,
        made=[services.Made(variant=candle.lavender, saleable=D(1), in_progress=D(1))],
        user=None,
        idempotency_key=key(),
    )
    with pytest.raises(ValidationError):  # a second tablet still showing two
        services.batch_finish_rest(
            batch=batch,
            made=[services.Made(variant=candle.lavender, saleable=D(2))],
            user=None,
            idempotency_key=key(),
        )
    split = batch.splits.get(variant=candle.lavender)
    assert (split.made, split.in_progress) == (4, 1)


def test_a_variant_that_gave_only_rejects_is_rejected_once(candle):
    batch = plan(candle)
    services.stage_complete(
        batch=batch,
        position=0,
        uses=planned_uses(candle),
        made=[
            services.Made(variant=candle.lavender, saleable=D(0), rejected=D(5), reason="cracked"),
            services.Made(variant=candle.cedar, saleable=D(5)),
        ],
        user=None,
        idempotency_key=key(),
    )
    losses = Loss.objects.filter(posting__owner_ref=batch.reference, item=candle.lavender.item)
    assert [(lo.quantity, lo.value) for lo in losses] == [(5, D("25.00"))]
    assert batch.splits.get(variant=candle.lavender).rejected == 5


def test_a_product_that_lost_its_shelf_life_takes_its_inputs_expiry(candle):
    Item.objects.filter(pk__in=[candle.lavender.item_id, candle.cedar.item_id]).update(
        shelf_life_days=10
    )
    recipes.product_update(product=candle.product, name=candle.product.name, shelf_life_days=None)
    batch = plan(candle)
    uses = planned_uses(candle)
    uses[0] = services.Use(item=candle.wax, quantity=D(1000), lot=candle.lots["W2"])
    services.stage_complete(
        batch=batch,
        position=0,
        uses=uses,
        made=[
            services.Made(variant=candle.lavender, saleable=D(5)),
            services.Made(variant=candle.cedar, saleable=D(5)),
        ],
        user=None,
        idempotency_key=key(),
    )
    lot = BatchLot.objects.get(batch=batch, role=LotRole.SALEABLE, variant=candle.lavender).lot
    assert lot.expiry_date == candle.lots["W2"].expiry_date


def test_huge_splits_and_far_off_dates_are_refused_with_a_message(candle):
    with pytest.raises(ValidationError) as e:
        plan(candle, lavender=999_999_999_999, cedar=999_999_999_999)
    assert services.TOTAL_TOO_LARGE in str(e.value)
    with pytest.raises(ValidationError) as e:
        services.batch_plan(
            version=candle.version,
            split={candle.lavender: D(5)},
            production_date=date(9999, 12, 31),
            user=None,
            idempotency_key=key(),
        )
    assert services.DATE_TOO_FAR in str(e.value)


def test_a_refused_stage_leaves_no_new_scrap_item_behind(candle):
    batch = plan(candle)
    uses = planned_uses(candle)
    uses[3] = services.Use(item=candle.jar, quantity=D(25))  # 20 on the shelf
    with pytest.raises(ValidationError):
        services.stage_complete(
            batch=batch,
            position=0,
            uses=uses,
            made=[
                services.Made(variant=candle.lavender, saleable=D(5)),
                services.Made(variant=candle.cedar, saleable=D(5)),
            ],
            scrap=[services.Scrap(item=None, name="Bits", quantity=D(10), value=D("0.10"))],
            user=None,
            idempotency_key=key(),
        )
    assert not Item.objects.filter(name="Bits").exists()


def test_the_batch_page_shows_each_lot_s_cost_when_a_variant_s_lots_differ(candle):
    batch = plan(candle)
    complete(candle, batch, lav=D(3), lav_wip=D(2))
    services.batch_finish_rest(
        batch=batch,
        made=[services.Made(variant=candle.lavender, saleable=D(1), rejected=D(1), reason="x")],
        user=None,
        idempotency_key=key(),
    )
    row = next(
        v
        for v in selectors.batch_figures(batch).variants
        if v.split.variant_id == candle.lavender.pk
    )
    assert len({lot.unit_cost for lot in row.lots}) == 2
