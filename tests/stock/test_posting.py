from dataclasses import replace
from datetime import timedelta
from decimal import Decimal as D

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from stock import services
from stock.checks import ledger_violations
from stock.engine import Line, NothingToPost, posting_create
from stock.migration_checks import refuse_case_duplicates
from stock.models import Balance, Lot, Movement, Posting, PostingKind, Reason
from tests.stock.factories import ItemFactory, draw, key, receive

pytestmark = pytest.mark.django_db


def on_hand(lot, location):
    return Balance.objects.get(lot=lot, location=location).quantity


def test_a_receipt_puts_stock_in_a_new_lot_with_its_cost(wax, storage):
    lot = receive(wax, storage, "5000", unit_cost="0.0042", code="W-2611")
    assert lot.code == "W-2611"
    assert lot.unit_cost == D("0.0042")
    assert on_hand(lot, storage) == D("5000")
    movement = Movement.objects.get(lot=lot)
    assert movement.quantity == D("5000") and movement.unit_cost == D("0.0042")
    assert ledger_violations() == []


def test_a_lot_without_a_code_gets_one_made_up(wax, storage):
    lot = receive(wax, storage, "10")
    assert lot.code == f"R{lot.created_by_posting_id}"


def test_a_lot_tracked_item_needs_a_lot_code_to_be_received(oil, storage):
    with pytest.raises(ValidationError) as err:
        receive(oil, storage, "100")
    assert "Lavender oil is lot-tracked: give the new lot its code." in err.value.messages
    assert not Posting.objects.exists()


def test_a_lot_code_is_unique_per_item_but_not_across_items(wax, oil, storage):
    receive(wax, storage, "10", code="A1")
    receive(oil, storage, "10", code="A1")
    with pytest.raises(ValidationError) as err:
        receive(wax, storage, "10", code="A1")
    assert err.value.messages == ["Soy wax 464 already has a lot A1: choose another code."]


def test_shelf_life_sets_the_expiry_when_none_is_given(storage):
    soap_base = ItemFactory(name="Melt base", shelf_life_days=30)
    lot = receive(soap_base, storage, "1000")
    assert lot.expiry_date == timezone.localdate() + timedelta(days=30)


def test_drawing_more_than_a_lot_holds_names_the_item_lot_and_shortfall(wax, storage):
    lot = receive(wax, storage, "3900", code="W-2611")
    with pytest.raises(ValidationError) as err:
        draw(lot, storage, "4200")
    assert err.value.messages == [
        "Not enough Soy wax 464 (lot W-2611) at Storage: need 4,200 g, have 3,900 g."
    ]
    assert on_hand(lot, storage) == D("3900")
    assert Posting.objects.count() == 1


def test_a_failing_line_posts_none_of_the_others(wax, oil, storage):
    wax_lot = receive(wax, storage, "100")
    oil_lot = receive(oil, storage, "5", code="L1")
    with pytest.raises(ValidationError):
        posting_create(
            kind=PostingKind.DISPATCH,
            lines=[
                Line(location=storage, quantity=D("-50"), lot=wax_lot),
                Line(location=storage, quantity=D("-6"), lot=oil_lot),
            ],
            user=None,
            idempotency_key=key(),
        )
    assert on_hand(wax_lot, storage) == D("100")
    assert on_hand(oil_lot, storage) == D("5")
    assert Posting.objects.count() == 2


def test_an_item_without_lot_tracking_is_drawn_first_expiry_first_then_oldest(wax, storage):
    today = timezone.localdate()
    no_expiry = receive(wax, storage, "100", code="old-no-expiry")
    late = receive(wax, storage, "100", code="late", expiry_date=today + timedelta(days=90))
    soon = receive(wax, storage, "100", code="soon", expiry_date=today + timedelta(days=10))
    posting_create(
        kind=PostingKind.DISPATCH,
        lines=[Line(location=storage, quantity=D("-150"), item=wax)],
        user=None,
        idempotency_key=key(),
    )
    assert on_hand(soon, storage) == 0
    assert on_hand(late, storage) == D("50")
    assert on_hand(no_expiry, storage) == D("100")


def test_an_automatic_draw_skips_expired_and_quarantined_lots(wax, storage):
    today = timezone.localdate()
    expired = receive(wax, storage, "100", code="expired", expiry_date=today - timedelta(days=1))
    held = receive(wax, storage, "100", code="held")
    services.lot_hold(lot=held, note="smells off", user=None)
    good = receive(wax, storage, "100", code="good")
    with pytest.raises(ValidationError) as err:
        posting_create(
            kind=PostingKind.DISPATCH,
            lines=[Line(location=storage, quantity=D("-120"), item=wax)],
            user=None,
            idempotency_key=key(),
        )
    assert err.value.messages == [
        "Not enough Soy wax 464 at Storage: need 120 g, have 100 g in usable lots."
    ]
    posting_create(
        kind=PostingKind.DISPATCH,
        lines=[Line(location=storage, quantity=D("-80"), item=wax)],
        user=None,
        idempotency_key=key(),
    )
    assert on_hand(good, storage) == D("20")
    assert on_hand(expired, storage) == D("100")
    assert on_hand(held, storage) == D("100")


def test_an_expired_lot_cannot_be_used(oil, storage):
    lot = receive(
        oil, storage, "100", code="L-OLD", expiry_date=timezone.localdate() - timedelta(1)
    )
    with pytest.raises(ValidationError) as err:
        draw(lot, storage, "10")
    assert err.value.messages[0].startswith("Lavender oil lot L-OLD expired on ")
    with pytest.raises(ValidationError):
        services.adjustment_post(
            item=oil,
            lot=lot,
            location=storage,
            quantity=D("-5"),
            reason=Reason.SAMPLE,
            user=None,
            idempotency_key=key(),
        )
    assert on_hand(lot, storage) == D("100")


def test_an_expired_lot_can_be_written_off(oil, storage):
    lot = receive(
        oil, storage, "100", code="L-OLD", expiry_date=timezone.localdate() - timedelta(1)
    )
    services.adjustment_post(
        item=oil,
        lot=lot,
        location=storage,
        quantity=D("-100"),
        reason=Reason.EXPIRED,
        user=None,
        idempotency_key=key(),
    )
    assert on_hand(lot, storage) == 0


def test_a_quarantined_lot_cannot_be_used_until_released(oil, storage):
    lot = receive(oil, storage, "100", code="L-Q")
    services.lot_hold(lot=lot, note="supplier recall", user=None)
    with pytest.raises(ValidationError) as err:
        draw(lot, storage, "10")
    assert err.value.messages == [
        "Lavender oil lot L-Q is quarantined and cannot be used until it is released."
    ]
    services.lot_release(lot=lot, note="supplier says fine", user=None)
    draw(lot, storage, "10")
    assert on_hand(lot, storage) == D("90")


def test_the_same_submission_twice_posts_once(wax, storage):
    lot = receive(wax, storage, "100")
    first = draw(lot, storage, "30", idempotency_key="tap-1")
    second = draw(lot, storage, "30", idempotency_key="tap-1")
    assert second.replayed and not first.replayed
    assert replace(second, replayed=False) == first
    assert on_hand(lot, storage) == D("70")


def test_a_key_used_for_another_kind_of_posting_is_refused(wax, storage):
    lot = receive(wax, storage, "100")
    draw(lot, storage, "30", idempotency_key="k")
    with pytest.raises(ValidationError):
        draw(lot, storage, "30", idempotency_key="k", kind=PostingKind.ADJUSTMENT)
    assert on_hand(lot, storage) == D("70")


@pytest.mark.parametrize(
    "quantity, message",
    [
        ("0", "A quantity of zero changes nothing: enter how much."),
        ("0.0000001", "Soy wax 464: 0.0000001 has more than 6 decimal places."),
        ("1e13", "Soy wax 464: 10000000000000 is larger than the ledger can hold."),
    ],
)
def test_bad_quantities_are_refused_with_a_message(wax, storage, quantity, message):
    lot = receive(wax, storage, "100")
    with pytest.raises(ValidationError) as err:
        draw(lot, storage, D(quantity))
    assert err.value.messages == [message]
    assert on_hand(lot, storage) == D("100")


def test_an_archived_item_cannot_receive_stock(storage):
    item = ItemFactory(name="Old jar", archived=True)
    with pytest.raises(ValidationError) as err:
        receive(item, storage, "1")
    assert err.value.messages == ["Old jar is archived: it cannot receive stock."]


def test_a_lot_of_another_item_is_refused(wax, oil, storage):
    oil_lot = receive(oil, storage, "10", code="L1")
    with pytest.raises(ValidationError) as err:
        posting_create(
            kind=PostingKind.DISPATCH,
            lines=[Line(location=storage, quantity=D("-1"), lot=oil_lot, item=wax)],
            user=None,
            idempotency_key=key(),
        )
    assert err.value.messages == ["Lot L1 belongs to Lavender oil, not Soy wax 464."]


def test_postings_and_movements_cannot_be_changed_or_deleted(wax, storage):
    lot = receive(wax, storage, "100")
    posting = lot.created_by_posting
    with pytest.raises(TypeError):
        posting.note = "edited"
        posting.save()
    with pytest.raises(TypeError):
        posting.delete()
    with pytest.raises(TypeError):
        Movement.objects.filter(lot=lot).update(quantity=D("1"))
    with pytest.raises(TypeError):
        Movement.objects.all().delete()


def test_the_database_itself_refuses_to_rewrite_the_ledger(wax, storage):
    lot = receive(wax, storage, "100")
    statements = [
        ("UPDATE stock_movement SET quantity = 1 WHERE lot_id = %s", lot.pk),
        ("DELETE FROM stock_posting WHERE id = %s", lot.created_by_posting_id),
    ]
    for sql, pk in statements:
        with (
            pytest.raises(IntegrityError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql, [pk])
    assert Movement.objects.get(lot=lot).quantity == D("100")


def test_the_database_refuses_a_negative_balance(wax, storage):
    lot = receive(wax, storage, "100")
    with pytest.raises(IntegrityError), transaction.atomic():
        Balance.objects.filter(lot=lot).update(quantity=D("-1"))


def test_an_adjustment_in_books_found_stock_at_the_last_cost(wax, storage):
    receive(wax, storage, "100", unit_cost="0.004")
    result = services.adjustment_post(
        item=wax,
        location=storage,
        quantity=D("25"),
        reason=Reason.FOUND,
        note="behind the shelf",
        user=None,
        idempotency_key=key(),
    )
    lot = result.lots[0]
    assert lot.unit_cost == D("0.004")
    assert on_hand(lot, storage) == D("25")
    assert result.posting.reason == Reason.FOUND
    assert ledger_violations() == []


def test_an_adjustment_needs_a_reason(wax, storage):
    with pytest.raises(ValidationError) as err:
        services.adjustment_post(
            item=wax,
            location=storage,
            quantity=D("25"),
            reason="",
            user=None,
            idempotency_key=key(),
        )
    assert err.value.messages == ["Say why: choose a reason."]


def test_a_count_posts_only_the_differences_and_leaves_uncounted_lots_alone(wax, storage):
    a = receive(wax, storage, "100", code="A")
    b = receive(wax, storage, "100", code="B")
    c = receive(wax, storage, "100", code="C")
    posting = services.count_post(
        location=storage,
        counts=[(a, D("97")), (b, D("100"))],
        user=None,
        idempotency_key=key(),
    ).posting
    assert posting.kind == PostingKind.COUNT
    assert list(posting.movements.values_list("lot__code", "quantity")) == [("A", D("-3"))]
    assert on_hand(a, storage) == D("97")
    assert on_hand(b, storage) == D("100")
    assert on_hand(c, storage) == D("100")


def test_a_count_that_matches_posts_nothing(wax, storage):
    a = receive(wax, storage, "100", code="A")
    with pytest.raises(NothingToPost):
        services.count_post(
            location=storage, counts=[(a, D("100"))], user=None, idempotency_key=key()
        )
    assert Posting.objects.count() == 1


def test_a_count_can_find_stock_in_a_lot_at_a_new_location(wax, storage, bench):
    a = receive(wax, storage, "100", code="A")
    services.count_post(location=bench, counts=[(a, D("12"))], user=None, idempotency_key=key())
    assert on_hand(a, bench) == D("12")
    assert ledger_violations() == []


def test_a_transfer_moves_lots_and_conserves_the_total(wax, oil, storage, bench):
    w = receive(wax, storage, "100")
    o = receive(oil, storage, "50", code="L1")
    services.transfer_post(
        from_location=storage,
        to_location=bench,
        quantities=[(w, D("40")), (o, D("50"))],
        user=None,
        idempotency_key=key(),
    )
    assert (on_hand(w, storage), on_hand(w, bench)) == (D("60"), D("40"))
    assert (on_hand(o, storage), on_hand(o, bench)) == (0, D("50"))
    assert ledger_violations() == []


def test_a_transfer_to_the_same_place_is_refused(wax, storage):
    w = receive(wax, storage, "100")
    with pytest.raises(ValidationError) as err:
        services.transfer_post(
            from_location=storage,
            to_location=storage,
            quantities=[(w, D("1"))],
            user=None,
            idempotency_key=key(),
        )
    assert err.value.messages == ["Choose two different locations to move stock between."]


def test_a_reversal_undoes_a_posting_exactly_once(wax, storage, bench):
    w = receive(wax, storage, "100")
    moved = services.transfer_post(
        from_location=storage,
        to_location=bench,
        quantities=[(w, D("40"))],
        user=None,
        idempotency_key=key(),
    ).posting
    reversal = services.posting_reverse(
        posting=moved, note="wrong shelf", user=None, idempotency_key=key()
    ).posting
    assert reversal.reverses == moved
    assert (on_hand(w, storage), on_hand(w, bench)) == (D("100"), 0)
    with pytest.raises(ValidationError) as err:
        services.posting_reverse(posting=moved, note="again", user=None, idempotency_key=key())
    assert "was already reversed" in err.value.messages[0]
    with pytest.raises(ValidationError):
        services.posting_reverse(posting=reversal, note="undo", user=None, idempotency_key=key())
    assert ledger_violations() == []


def test_reversing_a_receipt_whose_stock_was_used_is_refused(wax, storage):
    w = receive(wax, storage, "100", code="W1")
    used = draw(w, storage, "30").posting
    with pytest.raises(ValidationError) as err:
        services.posting_reverse(
            posting=w.created_by_posting, note="wrong delivery", user=None, idempotency_key=key()
        )
    assert err.value.messages == [
        f"Soy wax 464 lot W1 was used by Dispatch #{used.pk} since "
        f"Receipt #{w.created_by_posting_id} made it: reverse that first."
    ]
    assert on_hand(w, storage) == D("70")


def test_check_ledger_finds_a_balance_that_drifted_from_its_movements(wax, storage):
    w = receive(wax, storage, "100", code="W1")
    Balance.objects.filter(lot=w).update(quantity=D("90"))
    problems = ledger_violations()
    assert problems == [
        f"Soy wax 464 lot W1 at location #{storage.pk}: balance 90.000000, movements sum to "
        "100.000000."
    ]


def test_lots_are_never_deleted_while_the_ledger_refers_to_them(wax, storage):
    w = receive(wax, storage, "100")
    with pytest.raises(Exception):  # noqa: B017 - PROTECT raises ProtectedError
        Lot.objects.filter(pk=w.pk).delete()
    assert Lot.objects.filter(pk=w.pk).exists()


def test_a_posting_needs_as_many_statements_for_twenty_lines_as_for_one(storage):
    lots = [receive(ItemFactory(), storage, "100") for _ in range(20)]
    lots = list(Lot.objects.filter(pk__in=[lot.pk for lot in lots]))  # items not loaded

    def statements(n):
        with CaptureQueriesContext(connection) as ctx:
            posting_create(
                kind=PostingKind.DISPATCH,
                lines=[Line(location=storage, quantity=D("-1"), lot=lot) for lot in lots[:n]],
                user=None,
                idempotency_key=key(),
            )
        return len(ctx)

    assert statements(20) == statements(1)


def test_a_migration_to_unique_names_stops_with_the_clashing_names(storage):
    check = refuse_case_duplicates("stock", "location", "name")
    check(apps, None)  # one "Storage": nothing to say
    with connection.cursor() as cursor:  # as an old database or the admin could have it
        cursor.execute("DROP INDEX location_name_unique_any_case")
        cursor.execute(
            "INSERT INTO stock_location (name, description, archived) VALUES ('STORAGE', '', false)"
        )
    with pytest.raises(RuntimeError) as err:
        check(apps, None)
    assert "locations differ only in case: STORAGE / Storage" in str(err.value)
