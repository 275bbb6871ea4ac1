"""Traceability on a graph built by hand: two wax lots into three candle batches of two scents
each (each scent's own oil fed only its own lots), their lots dispatched to four customers (and
a fifth whose order came back). Every answer below is written out by hand."""

from decimal import Decimal as D

import pytest
from django.core.exceptions import ValidationError

from batches import services
from batches.models import BatchLot, LotRole
from stock import trace
from stock.dispatches import Sent, customer_save, dispatch_create, dispatch_reverse
from stock.models import Balance, Reason
from stock.services import adjustment_post, lot_release, lots_hold
from tests.batches.conftest import key

pytestmark = pytest.mark.django_db


def _batch(c, wax_lot):
    """2 lavender and 2 cedar candles from 400 g of the named wax lot."""
    batch = services.batch_plan(
        version=c.version,
        split={c.lavender: D(2), c.cedar: D(2)},
        production_date=c.lots["W1"].received_on,
        user=None,
        idempotency_key=key(),
    )
    services.stage_complete(
        batch=batch,
        position=0,
        uses=[
            services.Use(item=c.wax, quantity=D(400), lot=wax_lot),
            services.Use(item=c.lav_oil, quantity=D(20), variant=c.lavender),
            services.Use(item=c.ced_oil, quantity=D(20), variant=c.cedar),
            services.Use(item=c.jar, quantity=D(4)),
        ],
        made=[
            services.Made(variant=c.lavender, saleable=D(2)),
            services.Made(variant=c.cedar, saleable=D(2)),
        ],
        user=None,
        idempotency_key=key(),
    )
    return {
        bl.variant.name: bl.lot
        for bl in BatchLot.objects.filter(batch=batch, role=LotRole.SALEABLE).select_related(
            "lot", "variant"
        )
    }


def _send(c, customer, lot, n, **kw):
    return dispatch_create(
        customer=customer,
        lines=[Sent(item=lot.item, quantity=D(n), lot=lot)],
        location=c.bench,
        user=None,
        idempotency_key=key(),
        channel="Etsy",
        order_reference=kw.get("order", f"#{customer.name}"),
    )


@pytest.fixture
def graph(candle):
    c = candle
    g = {
        "b1": _batch(c, c.lots["W1"]),
        "b2": _batch(c, c.lots["W1"]),
        "b3": _batch(c, c.lots["W2"]),
    }
    people = {
        n: customer_save(name=n, email=f"{n.lower()}@example.com")
        for n in ("Ann", "Ben", "Cat", "Dan", "Eve")
    }
    _send(c, people["Ann"], g["b1"]["Lavender"], 1)
    _send(c, people["Ben"], g["b1"]["Cedar"], 1)
    _send(c, people["Ben"], g["b2"]["Lavender"], 1)
    _send(c, people["Cat"], g["b2"]["Cedar"], 2)
    _send(c, people["Dan"], g["b3"]["Lavender"], 2)
    _send(c, people["Dan"], g["b3"]["Cedar"], 1)
    returned = _send(c, people["Eve"], g["b2"]["Lavender"], 1)
    dispatch_reverse(dispatch=returned, note="came back unopened", user=None, idempotency_key=key())
    g["people"] = people
    return g


def _who(received):
    return sorted((r.name, r.lot.code, r.quantity) for r in received)


def test_forward_from_a_wax_lot_reaches_its_two_batches_customers_only(candle, graph):
    received = trace.recall(candle.lots["W1"])
    assert _who(received) == [
        ("Ann", "CND-01-LAV", 1),
        ("Ben", "CND-01-CED", 1),
        ("Ben", "CND-02-LAV", 1),
        ("Cat", "CND-02-CED", 2),
    ]  # not Dan (W2), not Eve (returned)
    forward = trace.forward_trace(candle.lots["W1"])
    made = {step.lot.code: step.quantity for step in forward.steps}
    assert made == {"CND-01-LAV": 200, "CND-01-CED": 200, "CND-02-LAV": 200, "CND-02-CED": 200}
    assert {s.owner[0] for s in forward.steps} == {"batch CND-01", "batch CND-02"}


def test_forward_from_a_scent_s_own_oil_reaches_only_that_scent_s_customers(candle, graph):
    assert _who(trace.recall(candle.lots["LAV"])) == [
        ("Ann", "CND-01-LAV", 1),
        ("Ben", "CND-02-LAV", 1),
        ("Dan", "CND-03-LAV", 2),
    ]  # not Cat, who had cedar only
    assert _who(trace.recall(candle.lots["CED"])) == [
        ("Ben", "CND-01-CED", 1),
        ("Cat", "CND-02-CED", 2),
        ("Dan", "CND-03-CED", 1),
    ]


def test_backward_from_a_candle_lot_reaches_the_receipts_with_each_share(candle, graph):
    back = trace.backward_trace(graph["b2"]["Cedar"])
    steps = {s.lot.code: (s.drew, s.quantity) for s in back.steps}
    # Batch 2 drew 400 g of W1 and 4 jars for both scents, 20 g of cedar oil for cedar only.
    assert steps == {"W1": (400, 200), "CED1": (20, 20), "JAR1": (4, 2)}
    assert all(s.lot.created_by_posting.kind == "receipt" for s in back.steps)


def test_the_reconciliation_accounts_for_every_unit(candle, graph):
    adjustment_post(
        item=candle.lavender.item,
        location=candle.bench,
        quantity=D(-1),
        reason=Reason.DAMAGED,
        lot=graph["b1"]["Lavender"],
        user=None,
        idempotency_key=key(),
    )
    rows = {r.lot.code: r for r in trace.reconciliation(trace.affected_lots(candle.lots["W1"]))}
    w1 = rows["W1"]
    assert (w1.made, w1.used, w1.dispatched, w1.in_stock, w1.written_off) == (800, 800, 0, 0, 0)
    lav = rows["CND-01-LAV"]
    assert (lav.made, lav.dispatched, lav.in_stock, lav.written_off) == (2, 1, 0, 1)
    returned = rows["CND-02-LAV"]  # Eve's came back: 1 to Ben, 1 on the shelf
    assert (returned.made, returned.dispatched, returned.in_stock) == (2, 1, 1)
    assert all(r.balances for r in rows.values())
    assert len(rows) == 5


def test_a_recall_quarantines_every_affected_lot_in_stock_until_an_owner_releases_it(candle, graph):
    affected = trace.affected_lots(candle.lots["CED"])
    held = lots_hold(lots=affected, note="customer reports soot", user=None)
    assert {lot.code for lot in held} == {"CED1", "CND-01-CED", "CND-02-CED", "CND-03-CED"}
    cedar = candle.cedar.item
    with pytest.raises(ValidationError) as e:
        _send(candle, graph["people"]["Ann"], graph["b1"]["Cedar"], 1)
    assert "lot CND-01-CED is quarantined" in str(e.value)
    with pytest.raises(ValidationError) as e:  # left to the ledger: nothing usable
        dispatch_create(
            customer=graph["people"]["Ann"],
            lines=[Sent(item=cedar, quantity=D(1))],
            location=candle.bench,
            user=None,
            idempotency_key=key(),
        )
    assert "Not enough Soy candle Cedar at Bench" in str(e.value)
    lot_release(lot=graph["b3"]["Cedar"], note="tested fine", user=None)
    sent = dispatch_create(
        customer=graph["people"]["Ann"],
        lines=[Sent(item=cedar, quantity=D(1))],
        location=candle.bench,
        user=None,
        idempotency_key=key(),
    )
    assert sent.posting.movements.get().lot.code == "CND-03-CED"


def test_a_dispatch_draws_first_expiry_first(candle, graph):
    # Batches 1 and 2 used W1, which expires in 60 days: their candles expire first.
    sent = dispatch_create(
        customer=graph["people"]["Ann"],
        lines=[Sent(item=candle.cedar.item, quantity=D(1))],
        location=candle.bench,
        user=None,
        idempotency_key=key(),
    )
    assert sent.posting.movements.get().lot.code == "CND-01-CED"
    assert Balance.objects.get(lot=graph["b1"]["Cedar"]).quantity == 0


def test_a_batch_whose_output_was_dispatched_cannot_be_reversed(candle, graph):
    batch = graph["b1"]["Lavender"].batch_lot.batch
    with pytest.raises(ValidationError) as e:
        services.batch_reverse(batch=batch, note="oops", user=None, idempotency_key=key())
    assert "dispatch" in str(e.value)


def test_a_dispatch_form_sent_again_with_other_lines_is_refused(candle, graph):
    k = key()
    ann = graph["people"]["Ann"]
    lot = graph["b3"]["Cedar"]
    dispatch_create(
        customer=ann,
        lines=[Sent(item=lot.item, quantity=D(1))],
        location=candle.bench,
        user=None,
        idempotency_key=k,
    )
    with pytest.raises(ValidationError) as e:
        dispatch_create(
            customer=ann,
            lines=[Sent(item=lot.item, quantity=D(2))],
            location=candle.bench,
            user=None,
            idempotency_key=k,
        )
    assert "already sent with other lines" in str(e.value)


def test_an_order_reference_too_long_for_its_column_is_a_message(candle, graph):
    with pytest.raises(ValidationError) as e:
        dispatch_create(
            customer=graph["people"]["Ann"],
            lines=[Sent(item=candle.cedar.item, quantity=D(1))],
            location=candle.bench,
            user=None,
            idempotency_key=key(),
            order_reference="#" * 65,
        )
    assert "at most 64 characters" in str(e.value)


def test_a_dispatch_reversed_twice_says_so(candle, graph):
    sent = _send(candle, graph["people"]["Ann"], graph["b3"]["Cedar"], 1)
    dispatch_reverse(dispatch=sent, note="returned", user=None, idempotency_key=key())
    with pytest.raises(ValidationError) as e:
        dispatch_reverse(dispatch=sent, note="again", user=None, idempotency_key=key())
    assert "was already reversed" in str(e.value)


def test_a_soap_s_own_fragrance_in_its_first_stage_reaches_only_its_own_customers(soap):
    from tests.batches.test_stages import cure, lots_of, mix, soap_plan, wrap

    batch = soap_plan(soap)
    mix(soap, batch)
    cure(soap, batch)
    wrap(soap, batch)
    bars = lots_of(batch, LotRole.SALEABLE)
    lena, mo = customer_save(name="Lena"), customer_save(name="Mo")
    for customer, lot in ((lena, bars["Lavender"]), (mo, bars["Mint"])):
        dispatch_create(
            customer=customer,
            lines=[Sent(item=lot.item, quantity=D(2), lot=lot)],
            location=lot.batch_lot.batch.location,
            user=None,
            idempotency_key=key(),
        )
    assert _who(trace.recall(soap.lots["lav"])) == [("Lena", "SOP-01-LAV", 2)]
    assert _who(trace.recall(soap.lots["mint"])) == [("Mo", "SOP-01-MNT", 2)]
    assert _who(trace.recall(soap.lots["olive"])) == [
        ("Lena", "SOP-01-LAV", 2),
        ("Mo", "SOP-01-MNT", 2),
    ]
