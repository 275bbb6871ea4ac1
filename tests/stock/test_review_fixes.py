"""What the first review of the ledger found, each as the behaviour a maker now gets."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction
from django.urls import reverse
from django.utils import timezone

from stock import services
from stock.checks import ledger_violations
from stock.engine import Line, Output, posting_create
from stock.models import (
    Balance,
    Lot,
    PostingKind,
    QuarantineAction,
    Reason,
    workshop_today,
)
from stock.templatetags.stock_tags import money
from tests.stock.factories import ItemFactory, LocationFactory, draw, key, receive

pytestmark = pytest.mark.django_db


def on_hand(lot, location):
    return Balance.objects.get(lot=lot, location=location).quantity


def reverse_posting(posting, note="mistake"):
    return services.posting_reverse(posting=posting, note=note, user=None, idempotency_key=key())


# 1. A reversed receipt's lot code -------------------------------------------------------------


def test_a_reversed_receipts_lot_code_can_be_received_again(wax, storage):
    first = receive(wax, storage, "500", code="W-2611")
    reversal = reverse_posting(first.created_by_posting).posting
    again = receive(wax, storage, "500", code="W-2611")
    first.refresh_from_db()
    assert first.voided_by == reversal
    assert again.pk != first.pk and again.voided_by is None
    assert on_hand(again, storage) == D("500") and on_hand(first, storage) == 0
    with pytest.raises(ValidationError) as err:
        receive(wax, storage, "1", code="W-2611")
    assert err.value.messages == ["Soy wax 464 already has a lot W-2611: choose another code."]


def test_the_database_refuses_to_change_what_a_lot_is(wax, storage):
    lot = receive(wax, storage, "100", code="W1", unit_cost="0.004")
    for change in ({"unit_cost": D("5")}, {"code": "W2"}, {"item": ItemFactory()}):
        with pytest.raises(DatabaseError), transaction.atomic():
            Lot.objects.filter(pk=lot.pk).update(**change)
    with pytest.raises(DatabaseError), transaction.atomic():
        Lot.objects.filter(pk=lot.pk).delete()
    lot.refresh_from_db()
    assert (lot.code, lot.unit_cost) == ("W1", D("0.004"))


def test_a_voided_lot_stays_voided(wax, storage):
    lot = receive(wax, storage, "100")
    reverse_posting(lot.created_by_posting)
    with pytest.raises(DatabaseError), transaction.atomic():
        Lot.objects.filter(pk=lot.pk).update(voided_by=None)


# 2. Reversing an old count ---------------------------------------------------------------------


def test_reversing_a_count_after_a_later_count_is_refused_and_names_it(wax, storage):
    lot = receive(wax, storage, "100", code="W1")
    first = services.count_post(
        location=storage, counts=[(lot, D("90"))], user=None, idempotency_key=key()
    ).posting
    second = services.count_post(
        location=storage, counts=[(lot, D("85"))], user=None, idempotency_key=key()
    ).posting
    with pytest.raises(ValidationError) as err:
        reverse_posting(first)
    assert err.value.messages == [
        f"Soy wax 464 lot W1 at Storage was counted by Stock count #{second.pk} after Stock "
        f"count #{first.pk}: reversing now would undo what that count found. Post an adjustment "
        "or a new count instead."
    ]
    assert on_hand(lot, storage) == D("85")
    reverse_posting(second)  # the latest count may still be undone
    assert on_hand(lot, storage) == D("90")


def test_an_adjustment_counted_over_later_cannot_be_reversed(wax, storage):
    lot = receive(wax, storage, "100", code="W1")
    spilled = services.adjustment_post(
        item=wax,
        lot=lot,
        location=storage,
        quantity=D("-10"),
        reason=Reason.SPILLED,
        user=None,
        idempotency_key=key(),
    ).posting
    services.count_post(location=storage, counts=[(lot, D("88"))], user=None, idempotency_key=key())
    with pytest.raises(ValidationError):
        reverse_posting(spilled)
    assert on_hand(lot, storage) == D("88")


def test_a_count_that_names_the_same_lot_twice_is_refused(wax, storage):
    lot = receive(wax, storage, "100", code="W1")
    with pytest.raises(ValidationError) as err:
        services.count_post(
            location=storage,
            counts=[(lot, D("90")), (lot, D("90"))],
            user=None,
            idempotency_key=key(),
        )
    assert err.value.messages == ["Soy wax 464 lot W1 at Storage is counted twice: enter it once."]
    assert on_hand(lot, storage) == D("100")


# 3. Found stock and a reversed typo price ------------------------------------------------------


def test_found_stock_is_valued_at_the_last_cost_of_a_lot_that_was_not_reversed(wax, storage):
    receive(wax, storage, "100", code="OLD", unit_cost="0.01")
    typo = receive(wax, storage, "100", code="TYPO", unit_cost="50")
    reverse_posting(typo.created_by_posting)
    found = services.adjustment_post(
        item=wax,
        location=storage,
        quantity=D("200"),
        reason=Reason.FOUND,
        user=None,
        idempotency_key=key(),
    ).lots[0]
    assert found.unit_cost == D("0.01")


# 4. Quarantine and expiry ----------------------------------------------------------------------


def test_only_a_write_off_that_says_so_takes_a_quarantined_lot(oil, storage):
    lot = receive(oil, storage, "1000", code="L1")
    services.lot_hold(lot=lot, note="supplier recall", user=None)

    def take(reason):
        return services.adjustment_post(
            item=oil,
            lot=lot,
            location=storage,
            quantity=D("-400"),
            reason=reason,
            user=None,
            idempotency_key=key(),
        )

    for reason in (Reason.OTHER, Reason.SPILLED, Reason.SAMPLE):
        with pytest.raises(ValidationError) as err:
            take(reason)
        assert err.value.messages == [
            "Lavender oil lot L1 is quarantined and cannot be used until it is released."
        ]
    take(Reason.DAMAGED)
    assert on_hand(lot, storage) == D("600")


def test_an_automatic_spill_takes_usable_lots_only(wax, storage):
    today = workshop_today()
    expired = receive(wax, storage, "100", code="OLD", expiry_date=today - timedelta(days=1))
    held = receive(wax, storage, "100", code="HELD", expiry_date=today + timedelta(days=1))
    services.lot_hold(lot=held, note="smells off", user=None)
    good = receive(wax, storage, "300", code="GOOD", expiry_date=today + timedelta(days=60))
    services.adjustment_post(
        item=wax,
        location=storage,
        quantity=D("-150"),
        reason=Reason.SPILLED,
        user=None,
        idempotency_key=key(),
    )
    assert on_hand(good, storage) == D("150")
    assert on_hand(expired, storage) == D("100") and on_hand(held, storage) == D("100")


# 5. Items re-read inside the transaction -------------------------------------------------------


def test_a_unit_changed_while_a_delivery_posts_is_refused(wax, storage):
    line = Line(location=storage, quantity=D("5000"), item=wax, unit_cost=D("0.004"))
    # The Owner switches the material to kg after the form was read, before it posts.
    type(wax).objects.filter(pk=wax.pk).update(unit="kg")
    with pytest.raises(ValidationError) as err:
        posting_create(kind=PostingKind.RECEIPT, lines=[line], user=None, idempotency_key=key())
    assert err.value.messages == [
        "Soy wax 464 was changed while this was being posted (its unit is now kg); nothing "
        "was posted. Check the figures and post again."
    ]
    assert not Lot.objects.exists()


def test_an_item_archived_while_stock_comes_in_is_refused(wax, storage):
    line = Line(location=storage, quantity=D("10"), item=wax)
    type(wax).objects.filter(pk=wax.pk).update(archived=True)
    with pytest.raises(ValidationError) as err:
        posting_create(kind=PostingKind.RECEIPT, lines=[line], user=None, idempotency_key=key())
    assert "it was archived" in err.value.messages[0]


# 6. Stock in archived places -------------------------------------------------------------------


def test_reversing_a_transfer_into_an_archived_location_is_refused(wax, storage, bench):
    lot = receive(wax, storage, "100")
    moved = services.transfer_post(
        from_location=storage,
        to_location=bench,
        quantities=[(lot, D("100"))],
        user=None,
        idempotency_key=key(),
    ).posting
    services.location_set_archived(location=storage, archived=True)
    with pytest.raises(ValidationError) as err:
        reverse_posting(moved)
    assert err.value.messages == ["Storage is archived: stock cannot be put there."]
    assert on_hand(lot, bench) == D("100")


# 7. check_ledger and the database's guards -----------------------------------------------------


def _without_lot_guard(sql, params=()):
    """As a superuser with a psql prompt could: with the triggers off for the session."""
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        cursor.execute(sql, params)
        cursor.execute("SET session_replication_role = DEFAULT")


def test_check_ledger_finds_a_lot_whose_cost_was_edited_by_hand(wax, storage):
    lot = receive(wax, storage, "100", code="W1", unit_cost="0.004")
    _without_lot_guard("UPDATE stock_lot SET unit_cost = 0.005 WHERE id = %s", [lot.pk])
    assert any("was posted at a unit cost of 0.0040000000" in p for p in ledger_violations())


def test_check_ledger_finds_a_lot_its_creating_posting_never_moved(wax, storage):
    lot = receive(wax, storage, "100", code="W1")
    other = draw(receive(wax, storage, "5", code="W2"), storage, "1").posting
    _without_lot_guard(
        "UPDATE stock_lot SET created_by_posting_id = %s WHERE id = %s", [other.pk, lot.pk]
    )
    assert f"Soy wax 464 lot W1: posting #{other.pk}, which made it, has no movement into it." in (
        ledger_violations()
    )


def test_truncating_a_ledger_table_is_refused(wax, storage):
    receive(wax, storage, "100")
    with connection.cursor() as cursor:
        cursor.execute("SET loomworks.allow_truncate = 'off'")
        try:
            with pytest.raises(DatabaseError), transaction.atomic():
                cursor.execute("TRUNCATE stock_movement CASCADE")
        finally:
            cursor.execute("SET loomworks.allow_truncate = 'on'")
    assert ledger_violations() == []


# 8. Today is the workshop's --------------------------------------------------------------------


def test_today_is_the_workshops_date_not_utcs(wax, storage, monkeypatch):
    services.workshop_save(
        name="Pacific soaps",
        time_zone="America/Los_Angeles",
        currency="USD",
        batch_reference_pattern="{CODE}-{YY}{MM}{DD}-{SEQ}",
    )
    # 17:30 in Los Angeles on 1 December is already 2 December in UTC.
    evening = datetime(2026, 12, 1, 17, 30, tzinfo=ZoneInfo("America/Los_Angeles"))
    monkeypatch.setattr(timezone, "now", lambda: evening.astimezone(UTC))
    assert workshop_today() == evening.date()
    expiring_today = receive(wax, storage, "100", code="LAST", expiry_date=evening.date())
    assert expiring_today.received_on == evening.date()
    draw(expiring_today, storage, "10", kind=PostingKind.ADJUSTMENT)  # still usable today
    assert on_hand(expiring_today, storage) == D("90")


def test_an_owner_sets_up_the_workshop_on_the_first_run_page(client, db):
    from tests.factories import UserFactory

    client.force_login(UserFactory(role="Owner", username="first"))
    response = client.get(reverse("dashboard"))
    assert response.status_code == 302 and response.url == reverse("workshop")
    response = client.post(
        reverse("workshop"),
        {
            "name": "Lavender & Lye",
            "time_zone": "Europe/Paris",
            "currency": "eur",
            "batch_reference_pattern": "{CODE}-{YY}{MM}{DD}-{SEQ}",
        },
    )
    assert response.status_code == 302
    html = client.get(reverse("dashboard")).content.decode()
    assert "Lavender &amp; Lye" in html and "Europe/Paris" in html and "EUR" in html


def test_a_pattern_without_a_sequence_is_refused(owner_client):
    response = owner_client.post(
        reverse("workshop"),
        {
            "name": "Shop",
            "time_zone": "UTC",
            "currency": "EUR",
            "batch_reference_pattern": "{CODE}-{YY}",
        },
    )
    assert "The pattern needs {SEQ}" in response.content.decode()


def test_makers_and_viewers_cannot_change_the_workshop(maker_client, viewer_client):
    assert maker_client.get(reverse("workshop")).status_code == 403
    assert viewer_client.post(reverse("workshop"), {"name": "x"}).status_code == 403


# 11. Quarantine: hold or release, who and why --------------------------------------------------


def test_an_empty_quarantine_post_releases_nothing(maker_client, oil, storage):
    lot = receive(oil, storage, "100", code="L1")
    services.lot_hold(lot=lot, note="recall", user=None)
    response = maker_client.post(reverse("stock:lot-quarantine", args=[lot.pk]), {})
    assert response.status_code == 200
    lot.refresh_from_db()
    assert lot.quarantined


def test_a_maker_holds_a_lot_but_only_an_owner_releases_it(
    maker_client, maker, owner, oil, storage
):
    lot = receive(oil, storage, "100", code="L1")
    url = reverse("stock:lot-quarantine", args=[lot.pk])
    long_note = "Supplier recall letter 2026-11-30: " + "batch contaminated. " * 20
    maker_client.post(url, {"action": "hold", "note": long_note})
    lot.refresh_from_db()
    assert lot.quarantined and lot.quarantine_note == long_note.strip()
    page = maker_client.get(reverse("stock:lot", args=[lot.pk])).content.decode()
    assert "Release from quarantine" not in page and "Only an Owner can release" in page
    assert maker_client.post(url, {"action": "release"}).status_code == 403
    maker_client.force_login(owner)
    maker_client.post(url, {"action": "release", "note": "supplier cleared it"})
    lot.refresh_from_db()
    assert not lot.quarantined
    events = list(lot.quarantine_events.order_by("id").values_list("action", "created_by"))
    assert events == [
        (QuarantineAction.HOLD, maker.pk),
        (QuarantineAction.RELEASE, owner.pk),
    ]
    page = maker_client.get(reverse("stock:lot", args=[lot.pk])).content.decode()
    assert "Quarantine history" in page and "supplier cleared it" in page


def test_a_hold_without_a_reason_asks_for_one(maker_client, oil, storage):
    lot = receive(oil, storage, "100", code="L1")
    html = maker_client.post(
        reverse("stock:lot-quarantine", args=[lot.pk]), {"action": "hold", "note": " "}
    ).content.decode()
    assert "Say why the lot is held" in html
    lot.refresh_from_db()
    assert not lot.quarantined


# 12. Huge values on the dashboard --------------------------------------------------------------


def test_the_dashboard_shows_a_workshop_worth_ten_to_the_twenty_four(viewer_client, wax, storage):
    receive(wax, storage, "999999999999", unit_cost="999999999999")
    response = viewer_client.get(reverse("dashboard"))
    assert response.status_code == 200
    assert "EUR 999,999,999,998,000,000,000,001.00" in response.content.decode()
    assert money(D(10) ** 24) == "EUR 1,000,000,000,000,000,000,000,000.00"


# 13. Count sheets of any size ------------------------------------------------------------------


def _lots_at_storage(wax, storage, n):
    posting_create(
        kind=PostingKind.RECEIPT,
        lines=[
            Line(location=storage, quantity=D("10"), item=wax, lot_code=f"L{k:03d}")
            for k in range(n)
        ],
        user=None,
        idempotency_key=key(),
    )
    return list(Balance.objects.filter(location=storage).order_by("lot__code"))


def _sheet_post(client, url, rows, figure, *, next_after=None):
    data = {"idempotency_key": key(), "action": "post"}
    for b in rows:
        data |= {"row": [*data.get("row", []), b.pk]}
        data |= {f"q-{b.pk}": figure, f"seen-{b.pk}": "10", f"shown-{b.pk}": figure}
    if next_after:
        data["next_after"] = next_after
    return client.post(url, data)


def test_a_count_of_four_hundred_lots_goes_sheet_by_sheet(maker_client, wax, storage):
    balances = _lots_at_storage(wax, storage, 400)
    url = reverse("stock:count") + f"?location={storage.pk}"
    html = maker_client.get(url).content.decode()
    assert "Lots 1\N{EN DASH}200 of 400" in html and "L199" in html and "L200" not in html
    second = maker_client.get(url + f"&after={balances[199].pk}").content.decode()
    assert "Lots 201\N{EN DASH}400 of 400" in second and "L200" in second
    response = _sheet_post(maker_client, url, balances[200:], "9")
    assert response.status_code == 302
    assert Balance.objects.filter(location=storage, quantity=9).count() == 200


def test_lots_counted_to_zero_on_one_sheet_do_not_push_lots_past_the_next(
    maker_client, wax, storage
):
    balances = _lots_at_storage(wax, storage, 250)
    url = reverse("stock:count") + f"?location={storage.pk}"
    response = _sheet_post(maker_client, url, balances[:200], "0", next_after=str(balances[199].pk))
    assert response.status_code == 302 and f"after={balances[199].pk}" in response.url
    html = maker_client.get(response.url).content.decode()
    assert "L200" in html and "L249" in html and "L199" not in html


def test_a_figure_typed_on_a_sheet_is_posted_though_the_list_moved_meanwhile(
    maker_client, wax, storage
):
    balances = _lots_at_storage(wax, storage, 250)
    url = reverse("stock:count") + f"?location={storage.pk}"
    draw(balances[0].lot, storage, "10")  # someone empties L000 on sheet 1 meanwhile
    response = _sheet_post(maker_client, url, balances[200:], "7")
    assert response.status_code == 302
    assert Balance.objects.get(pk=balances[200].pk).quantity == 7


# 14. A second count with new figures -----------------------------------------------------------


def test_a_count_posted_again_with_other_figures_says_so(maker_client, wax, storage):
    lot = receive(wax, storage, "100", code="A")
    b = Balance.objects.get(lot=lot, location=storage)
    url = reverse("stock:count") + f"?location={storage.pk}"
    tap = key()
    first = {"idempotency_key": tap, "action": "post", f"q-{b.pk}": "90"}
    first |= {f"seen-{b.pk}": "100", f"shown-{b.pk}": "90"}
    maker_client.post(url, first)
    second = first | {f"q-{b.pk}": "80", f"shown-{b.pk}": "80", f"seen-{b.pk}": "90"}
    html = maker_client.post(url, second).content.decode()
    assert "This form was already posted with other figures" in html
    assert on_hand(lot, storage) == D("90")


# What the second review found ------------------------------------------------------------------


def test_an_expired_write_off_naming_no_lot_takes_the_expired_lots_only(wax, storage):
    today = workshop_today()
    old = receive(wax, storage, "100", code="OLD", expiry_date=today - timedelta(days=1))
    good = receive(wax, storage, "300", code="GOOD", expiry_date=today + timedelta(days=30))

    def write_off(quantity):
        return services.adjustment_post(
            item=wax,
            location=storage,
            quantity=D(quantity),
            reason=Reason.EXPIRED,
            user=None,
            idempotency_key=key(),
        )

    write_off("-100")
    assert on_hand(old, storage) == 0 and on_hand(good, storage) == D("300")
    with pytest.raises(ValidationError) as err:
        write_off("-50")
    assert err.value.messages[0].startswith(
        "Not enough expired Soy wax 464 at Storage: need 50 g, have 0 g in expired lots."
    )


def test_the_same_form_again_after_its_item_was_archived_says_already_posted(wax, storage):
    line = Line(location=storage, quantity=D("10"), item=wax)
    first = posting_create(kind=PostingKind.RECEIPT, lines=[line], user=None, idempotency_key="tap")
    type(wax).objects.filter(pk=wax.pk).update(archived=True)
    wax.archived = True
    again = posting_create(kind=PostingKind.RECEIPT, lines=[line], user=None, idempotency_key="tap")
    assert again.replayed and again.posting == first.posting


@pytest.mark.django_db(transaction=True)
def test_a_count_applied_after_an_adjustment_stops_that_adjustment_being_reversed():
    """The count's posting row is written first, then it waits for a lock while a spill posts;
    the count is applied last, so the spill may no longer be undone."""
    storage = LocationFactory(name="Storage")
    wax, jar = ItemFactory(name="Soy wax"), ItemFactory(name="Amber jar", unit="each")
    w = receive(wax, storage, "100", code="W")
    j = receive(jar, storage, "10", code="J")
    holding, counting = threading.Event(), threading.Event()
    release = threading.Event()

    def hold_the_jar():  # as an Owner editing the jar would, FOR UPDATE on its item
        with transaction.atomic():
            type(jar).objects.select_for_update().get(pk=jar.pk)
            holding.set()
            release.wait(10)
        connection.close()

    def count():
        holding.wait(10)
        counting.set()
        try:
            return services.count_post(
                location=storage,
                counts=[(w, D("80")), (j, D("10"))],
                user=None,
                idempotency_key=key(),
            ).posting
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=2) as pool:
        holder = pool.submit(hold_the_jar)
        counted = pool.submit(count)
        counting.wait(10)
        time.sleep(0.5)  # the count has its posting id and waits for the jar
        spill = services.adjustment_post(
            item=wax,
            lot=w,
            location=storage,
            quantity=D("-5"),
            reason=Reason.SPILLED,
            user=None,
            idempotency_key=key(),
        ).posting
        release.set()
        holder.result(10)
        count_posting = counted.result(10)
    assert count_posting.pk < spill.pk
    assert on_hand(w, storage) == D("80")
    with pytest.raises(ValidationError) as err:
        reverse_posting(spill)
    assert "was counted by" in err.value.messages[0]
    assert on_hand(w, storage) == D("80")


def test_a_production_worth_more_than_the_ledger_holds_gets_a_message(storage):
    gold = ItemFactory(name="Gold", unit="g")
    receive(gold, storage, "999999999999", unit_cost="9999999999999")
    with pytest.raises(ValidationError) as err:
        posting_create(
            kind=PostingKind.PRODUCTION,
            lines=[Line(location=storage, quantity=D("-999999999999"), item=gold)],
            outputs=[Output("ring", ItemFactory(name="Ring", unit="each"), storage, D("1"))],
            user=None,
            idempotency_key=key(),
        )
    assert err.value.messages == ["This production is worth more than the ledger can hold."]
