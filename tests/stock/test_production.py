"""Production postings: inputs drawn under the lock, outputs costed from what was really drawn,
and the allocations that say which input went into which output."""

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal as D

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from stock import engine, services
from stock.checks import ledger_violations
from stock.engine import Line, LossLine, Output, posting_create
from stock.models import (
    Allocation,
    Balance,
    ItemKind,
    Loss,
    LossKind,
    Lot,
    Movement,
    Posting,
    PostingKind,
    workshop_today,
)
from stock.ownership import register_owner
from stock.selectors import lot_inputs, lot_outputs, lots_downstream, lots_upstream
from tests.stock.factories import ItemFactory, LocationFactory, draw, key, receive
from tests.threads import run_together

pytestmark = pytest.mark.django_db


def on_hand(lot, location):
    return Balance.objects.get(lot=lot, location=location).quantity


@pytest.fixture
def candle_shop(storage):
    """Wax and jars shared by every candle; cedar and lavender oil, each for its own scent."""
    shop = {
        "wax": ItemFactory(name="Soy wax", unit="g"),
        "cedar oil": ItemFactory(name="Cedar oil", unit="ml", lot_tracked=True),
        "lavender oil": ItemFactory(name="Lavender oil", unit="ml", lot_tracked=True),
        "jar": ItemFactory(name="Amber jar", unit="each"),
        "cedar candle": ItemFactory(name="Cedar candle", unit="each", kind=ItemKind.VARIANT),
        "lavender candle": ItemFactory(name="Lavender candle", unit="each", kind=ItemKind.VARIANT),
        "wax scrap": ItemFactory(name="Wax scrap", unit="g", kind=ItemKind.SCRAP),
    }
    receive(shop["wax"], storage, "5000", unit_cost="0.01", code="W1")
    receive(shop["cedar oil"], storage, "100", unit_cost="0.5", code="C1")
    receive(shop["lavender oil"], storage, "100", unit_cost="0.4", code="L1")
    receive(shop["jar"], storage, "50", unit_cost="1.20", code="J1")
    return shop


def pour(shop, storage, idempotency_key=None, **extra):
    """Ten candles from one pour: four cedar, six lavender, 50 g of scrap wax worth 0.50 and
    20 g of wax wasted."""
    return posting_create(
        kind=PostingKind.PRODUCTION,
        lines=[
            Line(location=storage, quantity=D("-1000"), item=shop["wax"]),
            Line(location=storage, quantity=D("-20"), item=shop["cedar oil"], feeds=("cedar",)),
            Line(
                location=storage,
                quantity=D("-30"),
                item=shop["lavender oil"],
                feeds=("lavender",),
            ),
            Line(location=storage, quantity=D("-10"), item=shop["jar"]),
        ],
        outputs=[
            Output("cedar", shop["cedar candle"], storage, D("4"), lot_code="CND-1-CED"),
            Output("lavender", shop["lavender candle"], storage, D("6"), lot_code="CND-1-LAV"),
            Output("scrap", shop["wax scrap"], storage, D("50"), value=D("0.50")),
        ],
        losses=[LossLine("waste", LossKind.WASTE, shop["wax"], D("20"), note="spilled")],
        user=None,
        idempotency_key=idempotency_key or key(),
        reference="CND-1",
        **extra,
    )


def test_a_pour_costs_each_scent_from_the_lots_really_drawn_as_worked_out_by_hand(
    candle_shop, storage
):
    result = pour(candle_shop, storage)
    cedar, lavender, scrap = result.outputs
    # Inputs: wax 1000 g x 0.01 = 10.00; cedar 20 ml x 0.5 = 10.00; lavender 30 ml x 0.4 =
    # 12.00; jars 10 x 1.20 = 12.00. Total 44.00.
    # Scrap is worth 0.50, taken from the shared inputs in proportion to their cost (10 : 12):
    #   wax 0.50 x 10/22 = 0.2272727272 (rounded down), jars the rest, 0.2727272728.
    # The rest of each shared input is spread over the scents by units (4 : 6):
    #   wax 9.7727272728 -> cedar 3.9090909091, lavender 5.8636363637
    #   jars 11.7272727272 -> cedar 4.6909090908, lavender 7.0363636364
    # Each scent's own oil goes to it alone.
    #   cedar 3.9090909091 + 4.6909090908 + 10 = 18.5999999999, / 4 = 4.6500000000
    #   lavender 5.8636363637 + 7.0363636364 + 12 = 24.9000000001, / 6 = 4.1500000000
    allocated = {
        (a.movement.lot.item.name, a.output_lot.item.name): a.cost for a in result.allocations
    }
    assert allocated == {
        ("Soy wax", "Cedar candle"): D("3.9090909091"),
        ("Soy wax", "Lavender candle"): D("5.8636363637"),
        ("Soy wax", "Wax scrap"): D("0.2272727272"),
        ("Cedar oil", "Cedar candle"): D("10.0000000000"),
        ("Lavender oil", "Lavender candle"): D("12.0000000000"),
        ("Amber jar", "Cedar candle"): D("4.6909090908"),
        ("Amber jar", "Lavender candle"): D("7.0363636364"),
        ("Amber jar", "Wax scrap"): D("0.2727272728"),
    }
    assert (cedar.unit_cost, lavender.unit_cost, scrap.unit_cost) == (
        D("4.65"),
        D("4.15"),
        D("0.01"),
    )
    assert (cedar.code, lavender.code) == ("CND-1-CED", "CND-1-LAV")
    assert on_hand(cedar, storage) == 4 and on_hand(lavender, storage) == 6
    assert on_hand(scrap, storage) == 50
    # The output movements carry the lots' unit costs, written in the same transaction.
    assert [m.unit_cost for m in Movement.objects.filter(lot__in=result.outputs)] == [
        D("4.65"),
        D("4.15"),
        D("0.01"),
    ]
    (waste,) = result.losses
    assert (waste.kind, waste.quantity, waste.value) == (LossKind.WASTE, D("20"), D("0"))
    # The 20 g wasted went into no lot: the wax in the lots is the other 980 g.
    wax_in_lots = sum(
        a.quantity for a in result.allocations if a.movement.lot.item.name == "Soy wax"
    )
    assert wax_in_lots == D("980")
    # Nothing is created or lost in the books.
    assert sum(a.cost for a in result.allocations) + waste.value == D("44.00")
    assert ledger_violations() == []


def test_a_variants_own_input_feeds_only_its_own_lot(candle_shop, storage):
    result = pour(candle_shop, storage)
    cedar, lavender, _ = result.outputs
    cedar_oil_lot = Lot.objects.get(item=candle_shop["cedar oil"])
    assert {lot for lot, _ in lots_downstream(cedar_oil_lot)} == {cedar}
    wax_lot = Lot.objects.get(item=candle_shop["wax"])
    assert {lot.item.name for lot, _ in lots_downstream(wax_lot)} == {
        "Cedar candle",
        "Lavender candle",
        "Wax scrap",
    }
    assert {a.movement.lot.item.name for a in lot_inputs(lavender)} == {
        "Soy wax",
        "Lavender oil",
        "Amber jar",
    }
    assert {a.output_lot for a in lot_outputs(cedar_oil_lot)} == {cedar}


def test_one_thousand_grams_and_ten_euros_split_over_three_outputs_add_up_exactly(storage):
    wax = ItemFactory(name="Soy wax", unit="g")
    receive(wax, storage, "1000", unit_cost="0.01")
    outputs = [
        Output(name, ItemFactory(name=f"Candle {name}", unit="each"), storage, D("1"))
        for name in ("a", "b", "c")
    ]
    result = posting_create(
        kind=PostingKind.PRODUCTION,
        lines=[Line(location=storage, quantity=D("-1000"), item=wax)],
        outputs=outputs,
        user=None,
        idempotency_key=key(),
    )
    assert [(a.quantity, a.cost) for a in result.allocations] == [
        (D("333.333333"), D("3.3333333333")),
        (D("333.333333"), D("3.3333333333")),
        (D("333.333334"), D("3.3333333334")),
    ]
    assert sum(a.quantity for a in result.allocations) == D("1000")
    assert sum(a.cost for a in result.allocations) == D("10.00")


def test_lot_tracked_inputs_are_drawn_first_expiry_first_when_no_lot_is_named(storage):
    oil = ItemFactory(name="Cedar oil", unit="ml", lot_tracked=True)
    candle = ItemFactory(name="Cedar candle", unit="each")
    today = workshop_today()
    late = receive(oil, storage, "100", code="LATE", expiry_date=today + timedelta(days=90))
    soon = receive(oil, storage, "15", code="SOON", expiry_date=today + timedelta(days=5))
    receive(oil, storage, "100", code="GONE", expiry_date=today - timedelta(days=1))
    result = posting_create(
        kind=PostingKind.PRODUCTION,
        lines=[Line(location=storage, quantity=D("-40"), item=oil)],
        outputs=[Output("cedar", candle, storage, D("4"))],
        user=None,
        idempotency_key=key(),
    )
    assert [(m.lot.code, m.quantity) for m in result.movements[0]] == [
        ("SOON", D("-15")),
        ("LATE", D("-25")),
    ]
    assert (on_hand(soon, storage), on_hand(late, storage)) == (0, D("75"))


@pytest.mark.django_db(transaction=True)
def test_two_pours_racing_for_the_last_oil_get_the_next_lot_or_a_shortage():
    storage = LocationFactory(name="Storage")
    oil = ItemFactory(name="Cedar oil", unit="ml", lot_tracked=True)
    candle = ItemFactory(name="Cedar candle", unit="each")
    today = workshop_today()
    first = receive(oil, storage, "5", code="FIRST", expiry_date=today + timedelta(days=3))
    second = receive(oil, storage, "5", code="NEXT", expiry_date=today + timedelta(days=30))

    def pour_one(i):
        result = posting_create(
            kind=PostingKind.PRODUCTION,
            lines=[Line(location=storage, quantity=D("-5"), item=oil)],
            outputs=[Output("cedar", candle, storage, D("1"))],
            user=None,
            idempotency_key=key(),
        )
        return [m.lot.code for m in result.movements[0]]

    results = run_together(3, pour_one)
    drawn = sorted(r[0] for r in results if isinstance(r, list))
    refused = [r for r in results if isinstance(r, ValidationError)]
    assert drawn == ["FIRST", "NEXT"]
    assert [e.messages for e in refused] == [
        ["Not enough Cedar oil at Storage: need 5 ml, have 0 ml in usable lots."]
    ]
    assert on_hand(first, storage) == 0 and on_hand(second, storage) == 0
    assert sum(a.quantity for a in Allocation.objects.all()) == D("10")
    assert ledger_violations() == []


def test_a_failure_on_the_last_input_leaves_no_lot_movement_or_allocation(candle_shop, storage):
    before = (Lot.objects.count(), Movement.objects.count(), Posting.objects.count())
    with pytest.raises(ValidationError) as err:
        posting_create(
            kind=PostingKind.PRODUCTION,
            lines=[
                Line(location=storage, quantity=D("-1000"), item=candle_shop["wax"]),
                Line(location=storage, quantity=D("-51"), item=candle_shop["jar"]),
            ],
            outputs=[Output("cedar", candle_shop["cedar candle"], storage, D("4"))],
            user=None,
            idempotency_key=key(),
        )
    assert err.value.messages == [
        "Not enough Amber jar at Storage: need 51 each, have 50 each in usable lots."
    ]
    assert (Lot.objects.count(), Movement.objects.count(), Posting.objects.count()) == before
    assert not Allocation.objects.exists() and not Loss.objects.exists()


def test_a_replay_returns_the_same_result_marked_replayed(candle_shop, storage):
    first = pour(candle_shop, storage, idempotency_key="pour-1")
    again = pour(candle_shop, storage, idempotency_key="pour-1")
    assert again.replayed and not first.replayed
    assert replace(again, replayed=False) == first
    assert Posting.objects.filter(kind=PostingKind.PRODUCTION).count() == 1


def test_scrap_worth_more_than_its_inputs_is_refused(storage):
    wax = ItemFactory(name="Soy wax", unit="g")
    receive(wax, storage, "100", unit_cost="0.01")
    with pytest.raises(ValidationError) as err:
        posting_create(
            kind=PostingKind.PRODUCTION,
            lines=[Line(location=storage, quantity=D("-100"), item=wax)],
            outputs=[
                Output("bar", ItemFactory(name="Bar", unit="each"), storage, D("1")),
                Output("scrap", ItemFactory(name="Scrap", unit="g"), storage, D("5"), value=D(2)),
            ],
            user=None,
            idempotency_key=key(),
        )
    assert err.value.messages == [
        "Scrap is valued at 2, more than the inputs it came from cost (1.0000000000)."
    ]


def test_two_stages_trace_back_through_the_semi_finished_loaf(storage):
    oils = ItemFactory(name="Soap oils", unit="g")
    scent = ItemFactory(name="Lavender oil", unit="ml")
    loaf = ItemFactory(name="Soap loaf", unit="g", kind=ItemKind.INTERMEDIATE)
    bar = ItemFactory(name="Lavender bar", unit="each", kind=ItemKind.VARIANT)
    oil_lot = receive(oils, storage, "2000", unit_cost="0.005")
    scent_lot = receive(scent, storage, "50", unit_cost="0.2")
    mixed = posting_create(
        kind=PostingKind.PRODUCTION,
        lines=[Line(location=storage, quantity=D("-1000"), item=oils)],
        outputs=[Output("loaf", loaf, storage, D("1000"))],
        user=None,
        idempotency_key=key(),
    )
    (loaf_lot,) = mixed.outputs
    cut = posting_create(
        kind=PostingKind.PRODUCTION,
        lines=[
            Line(location=storage, quantity=D("-1000"), lot=loaf_lot),
            Line(location=storage, quantity=D("-10"), item=scent),
        ],
        outputs=[Output("bars", bar, storage, D("10"))],
        user=None,
        idempotency_key=key(),
    )
    (bar_lot,) = cut.outputs
    assert bar_lot.unit_cost == D("0.7")  # (5.00 of oils + 2.00 of scent) / 10 bars
    assert [(lot, depth) for lot, depth in lots_upstream(bar_lot)] == [
        (scent_lot, 1),
        (loaf_lot, 1),
        (oil_lot, 2),
    ]
    assert [lot for lot, _ in lots_downstream(oil_lot)] == [loaf_lot, bar_lot]
    services.transfer_post(
        from_location=storage,
        to_location=LocationFactory(name="Shop"),
        quantities=[(bar_lot, D("4"))],
        user=None,
        idempotency_key=key(),
    )
    assert [lot for lot, _ in lots_downstream(oil_lot)] == [loaf_lot, bar_lot]


# Ownership and reversal ----------------------------------------------------------------------


def test_the_generic_reversal_refuses_a_posting_owned_by_another_app(candle_shop, storage):
    register_owner("batches", label="batch", url=lambda ref: f"/batches/{ref}/")
    result = pour(candle_shop, storage, owner="batches", owner_ref="CND-1")
    with pytest.raises(ValidationError) as err:
        services.posting_reverse(
            posting=result.posting, note="mistake", user=None, idempotency_key=key()
        )
    assert err.value.messages == [
        f"Production #{result.posting.pk} belongs to batch CND-1: reverse it there, so it is "
        "undone with it."
    ]
    assert not Posting.objects.filter(kind=PostingKind.REVERSAL).exists()


def test_the_owner_reverses_a_production_and_its_lots_are_voided(candle_shop, storage):
    result = pour(candle_shop, storage, owner="batches", owner_ref="CND-1")
    wax_lot = Lot.objects.get(item=candle_shop["wax"])
    (reversal,) = services.postings_reverse(
        postings=[result.posting], note="wrong wax", user=None, idempotency_key=key()
    )
    assert reversal.posting.reverses == result.posting
    assert reversal.posting.owner == "batches"
    assert on_hand(wax_lot, storage) == D("5000")
    for lot in result.outputs:
        lot.refresh_from_db()
        assert lot.voided_by == reversal.posting and on_hand(lot, storage) == 0
    # Allocations stay as written; a trace leaves the reversed production out.
    assert Allocation.objects.filter(posting=result.posting).count() == 8
    assert lots_downstream(wax_lot) == []
    assert ledger_violations() == []


def test_a_production_is_not_reversed_once_its_output_was_used(candle_shop, storage):
    result = pour(candle_shop, storage, owner="batches", owner_ref="CND-1")
    cedar = result.outputs[0]
    sold = draw(cedar, storage, "1").posting
    with pytest.raises(ValidationError) as err:
        services.postings_reverse(
            postings=[result.posting], note="wrong wax", user=None, idempotency_key=key()
        )
    assert err.value.messages == [
        f"Cedar candle lot CND-1-CED was used by Dispatch #{sold.pk} since Production "
        f"#{result.posting.pk} made it: reverse that first."
    ]
    assert on_hand(cedar, storage) == 3


def test_a_transfer_of_an_output_does_not_block_its_reversal(candle_shop, storage, bench):
    result = pour(candle_shop, storage, owner="batches", owner_ref="CND-1")
    cedar = result.outputs[0]
    services.transfer_post(
        from_location=storage,
        to_location=bench,
        quantities=[(cedar, D("4"))],
        user=None,
        idempotency_key=key(),
    )
    services.postings_reverse(
        postings=[result.posting], note="wrong wax", user=None, idempotency_key=key()
    )
    # The candles were taken back from the bench, where the transfer had put them.
    assert not Balance.objects.filter(lot=cedar, quantity__gt=0).exists()


def test_two_stages_are_reversed_together_last_first(storage):
    oils = ItemFactory(name="Soap oils", unit="g")
    loaf = ItemFactory(name="Soap loaf", unit="g", kind=ItemKind.INTERMEDIATE)
    bar = ItemFactory(name="Bar", unit="each", kind=ItemKind.VARIANT)
    oil_lot = receive(oils, storage, "1000", unit_cost="0.005")
    mixed = posting_create(
        kind=PostingKind.PRODUCTION,
        lines=[Line(location=storage, quantity=D("-1000"), item=oils)],
        outputs=[Output("loaf", loaf, storage, D("1000"))],
        user=None,
        idempotency_key=key(),
        owner="batches",
        owner_ref="7",
    )
    cut = posting_create(
        kind=PostingKind.PRODUCTION,
        lines=[Line(location=storage, quantity=D("-1000"), lot=mixed.outputs[0])],
        outputs=[Output("bars", bar, storage, D("10"))],
        user=None,
        idempotency_key=key(),
        owner="batches",
        owner_ref="7",
    )
    results = services.postings_reverse(
        postings=[cut.posting, mixed.posting], note="bad batch", user=None, idempotency_key=key()
    )
    assert [r.posting.reverses for r in results] == [cut.posting, mixed.posting]
    assert on_hand(oil_lot, storage) == D("1000")
    assert ledger_violations() == []


def test_outputs_and_losses_belong_to_production_postings_only(wax, storage):
    with pytest.raises(ValueError):
        posting_create(
            kind=PostingKind.ADJUSTMENT,
            lines=[Line(location=storage, quantity=D("1"), item=wax)],
            outputs=[Output("x", wax, storage, D("1"))],
            user=None,
            idempotency_key=key(),
        )


def test_an_input_feeding_an_unknown_output_is_refused(candle_shop, storage):
    with pytest.raises(ValidationError) as err:
        posting_create(
            kind=PostingKind.PRODUCTION,
            lines=[
                Line(location=storage, quantity=D("-5"), item=candle_shop["wax"], feeds=("rose",))
            ],
            outputs=[Output("cedar", candle_shop["cedar candle"], storage, D("1"))],
            user=None,
            idempotency_key=key(),
        )
    assert err.value.messages == [
        "Soy wax feeds 'rose', which is not an output or loss of this posting."
    ]


def test_split_exactly_puts_the_remainder_on_the_last_share():
    assert engine.split_exactly(D("10"), [D(1), D(1), D(1)], D("0.01")) == [
        D("3.33"),
        D("3.33"),
        D("3.34"),
    ]
    assert engine.split_exactly(D("1"), [D(1), D(0)], D("0.01")) == [D("1"), D("0")]


def _as_superuser_without_triggers(sql, params=()):
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        cursor.execute(sql, params)
        cursor.execute("SET session_replication_role = DEFAULT")


def test_check_ledger_finds_a_production_whose_books_do_not_balance(candle_shop, storage):
    result = pour(candle_shop, storage)
    _as_superuser_without_triggers(
        "UPDATE stock_allocation SET cost = cost + 1 WHERE id = %s", [result.allocations[0].pk]
    )
    problems = ledger_violations()
    assert (
        f"Production #{result.posting.pk}: its inputs cost 44.00, but its outputs are worth "
        "45.00 and its losses 0.00."
    ) in problems
    assert any("Cedar candle lot CND-1-CED: unit cost 4.6500000000" in p for p in problems)


def test_check_ledger_finds_an_output_lot_costed_apart_from_its_allocations(candle_shop, storage):
    result = pour(candle_shop, storage)
    _as_superuser_without_triggers(
        "UPDATE stock_lot SET unit_cost = 5 WHERE id = %s", [result.outputs[0].pk]
    )
    problems = ledger_violations()
    assert any(
        "Cedar candle lot CND-1-CED: unit cost 5.0000000000, but its allocated value over its "
        "quantity is 4.6500000000" in p
        for p in problems
    ), problems
