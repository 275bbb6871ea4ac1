from datetime import timedelta
from decimal import Decimal as D

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from stock.models import Balance, Location, Posting, PostingKind
from tests.stock.factories import ItemFactory, LocationFactory, draw, key, receive

pytestmark = pytest.mark.django_db


def on_hand(lot, location):
    return Balance.objects.get(lot=lot, location=location).quantity


# Stock on hand ---------------------------------------------------------------------------


def test_on_hand_lists_items_with_their_lots_locations_and_value(viewer_client, wax, oil, storage):
    receive(wax, storage, "5000", unit_cost="0.0042", code="W-2611")
    receive(oil, storage, "250", unit_cost="0.08", code="LAV-1")
    response = viewer_client.get(reverse("stock:on-hand"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Soy wax 464" in html and "W-2611" in html and "5,000 g" in html
    assert "EUR 21.00" in html  # 5000 g x 0.0042
    assert "LAV-1" in html and "EUR 20.00" in html


def test_on_hand_filters_by_location_and_by_expiry(viewer_client, wax, oil, storage, bench):
    today = timezone.localdate()
    receive(wax, bench, "100", code="ON-BENCH")
    receive(oil, storage, "10", code="SOON", expiry_date=today + timedelta(days=5))
    receive(oil, storage, "10", code="LATER", expiry_date=today + timedelta(days=200))
    html = viewer_client.get(reverse("stock:on-hand"), {"location": bench.pk}).content.decode()
    assert "ON-BENCH" in html and "Lavender oil" not in html
    html = viewer_client.get(reverse("stock:on-hand"), {"expiring_within": 30}).content.decode()
    assert "SOON" in html and "LATER" not in html and "ON-BENCH" not in html


def test_on_hand_marks_expired_lots_and_items_that_are_out(viewer_client, oil, storage):
    ItemFactory(name="Empty jar")
    receive(oil, storage, "10", code="OLD", expiry_date=timezone.localdate() - timedelta(days=1))
    html = viewer_client.get(reverse("stock:on-hand")).content.decode()
    assert "expired" in html
    assert "Empty jar" in html and ">out<" in html


def test_on_hand_reads_in_the_same_number_of_queries_for_3_or_30_items(viewer_client, storage):
    def queries_for_page():
        with CaptureQueriesContext(connection) as ctx:
            assert viewer_client.get(reverse("stock:on-hand")).status_code == 200
        return len(ctx)

    for _ in range(3):
        receive(ItemFactory(), storage, "10")
    few = queries_for_page()
    for _ in range(27):
        receive(ItemFactory(), storage, "10")
    assert queries_for_page() == few


def test_on_hand_answers_htmx_filtering_with_just_the_results(viewer_client, wax, storage):
    receive(wax, storage, "10")
    response = viewer_client.get(reverse("stock:on-hand"), {"q": "wax"}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert 'id="results"' in html and "Soy wax 464" in html
    assert "<html" not in html


def test_a_bad_filter_says_so_instead_of_failing(viewer_client):
    response = viewer_client.get(reverse("stock:on-hand"), {"expiring_within": "soon"})
    assert response.status_code == 200
    assert "Enter a whole number" in response.content.decode()


# Lots and postings -------------------------------------------------------------------------


def test_a_lot_page_shows_who_moved_it_and_the_running_total(viewer_client, maker, wax, storage):
    lot = receive(wax, storage, "100", code="W-1", user=maker)
    draw(lot, storage, "30", user=maker)
    draw(lot, storage, "20", user=maker)
    html = viewer_client.get(reverse("stock:lot", args=[lot.pk])).content.decode()
    assert html.count(maker.get_full_name() or maker.username) >= 3
    for running in (">100 g<", ">70 g<", ">50 g<"):
        assert running in html


def test_a_missing_lot_or_posting_is_a_404(viewer_client):
    assert viewer_client.get(reverse("stock:lot", args=[999999])).status_code == 404
    assert viewer_client.get(reverse("stock:posting", args=[999999])).status_code == 404


def test_an_owner_reverses_a_posting_from_its_page(owner_client, wax, storage):
    lot = receive(wax, storage, "100")
    used = draw(lot, storage, "30").posting
    page = owner_client.get(reverse("stock:posting", args=[used.pk])).content.decode()
    assert "Reverse this posting" in page
    response = owner_client.post(
        reverse("stock:posting-reverse", args=[used.pk]),
        {"note": "counted wrong", "idempotency_key": key()},
        follow=True,
    )
    assert "Reversal #" in response.content.decode()
    assert on_hand(lot, storage) == D("100")


def test_a_reversal_without_a_reason_is_refused(owner_client, wax, storage):
    lot = receive(wax, storage, "100")
    used = draw(lot, storage, "30").posting
    response = owner_client.post(
        reverse("stock:posting-reverse", args=[used.pk]), {"note": "", "idempotency_key": key()}
    )
    assert response.status_code == 200
    assert "This field is required." in response.content.decode()
    assert on_hand(lot, storage) == D("70")


def test_a_maker_cannot_reverse_postings(maker_client, wax, storage):
    lot = receive(wax, storage, "100")
    used = draw(lot, storage, "30").posting
    assert (
        "Reverse this posting"
        not in maker_client.get(reverse("stock:posting", args=[used.pk])).content.decode()
    )
    response = maker_client.post(
        reverse("stock:posting-reverse", args=[used.pk]), {"note": "x", "idempotency_key": key()}
    )
    assert response.status_code == 403
    assert on_hand(lot, storage) == D("70")


def test_the_postings_list_filters_by_kind(viewer_client, wax, storage):
    lot = receive(wax, storage, "100")
    draw(lot, storage, "1")
    html = viewer_client.get(reverse("stock:postings"), {"kind": "dispatch"}).content.decode()
    assert "Dispatch" in html and "Receipt" not in html.split("<tbody>")[1]


# Adjustments -------------------------------------------------------------------------------


def adjust(client, **fields):
    data = {"direction": "out", "reason": "damaged", "note": "", "idempotency_key": key()}
    data.update({k: v.pk if hasattr(v, "pk") else v for k, v in fields.items()})
    return client.post(reverse("stock:adjust"), data)


def test_a_maker_takes_stock_out_in_another_unit(maker_client, wax, storage):
    lot = receive(wax, storage, "5000")
    response = adjust(maker_client, item=wax, location=storage, quantity="1.5", unit="kg")
    assert response.status_code == 302
    assert on_hand(lot, storage) == D("3500")
    posting = Posting.objects.get(kind=PostingKind.ADJUSTMENT)
    assert posting.reason == "damaged"


def test_a_double_tapped_adjustment_posts_once(maker_client, wax, storage):
    lot = receive(wax, storage, "100")
    fields = {"item": wax, "location": storage, "quantity": "10", "unit": "g"}
    same_key = key()
    adjust(maker_client, idempotency_key=same_key, **fields)
    response = adjust(maker_client, idempotency_key=same_key, **fields)
    assert response.status_code == 302
    assert on_hand(lot, storage) == D("90")
    assert Posting.objects.filter(kind=PostingKind.ADJUSTMENT).count() == 1


@pytest.mark.parametrize(
    "quantity, unit, message",
    [
        ("abc", "g", "Enter a number, like 250 or 1.5."),
        ("1,500", "g", "1,500 could mean 1500 or 1.5: write it without the comma."),
        ("1e3", "g", "Enter a number, like 250 or 1.5."),
        ("0", "g", "Enter a quantity above zero."),
        ("-5", "g", "Enter a quantity above zero."),
        ("1.1234567", "g", "Use at most 6 decimal places."),
        ("5", "ml", "Soy wax 464 is counted in g: a quantity in ml cannot be converted."),
        ("500", "g", "Not enough Soy wax 464 at Storage: need 500 g, have 100 g in usable lots."),
    ],
)
def test_bad_adjustments_explain_themselves_and_post_nothing(
    maker_client, wax, storage, quantity, unit, message
):
    lot = receive(wax, storage, "100")
    response = adjust(maker_client, item=wax, location=storage, quantity=quantity, unit=unit)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert on_hand(lot, storage) == D("100")
    assert not Posting.objects.filter(kind=PostingKind.ADJUSTMENT).exists()


def test_an_adjustment_refuses_a_lot_of_another_item_an_archived_item_or_unknown_place(
    maker_client, wax, oil, storage
):
    oil_lot = receive(oil, storage, "10", code="L1")
    receive(wax, storage, "100")
    html = adjust(
        maker_client, item=wax, location=storage, quantity="1", unit="g", lot=oil_lot
    ).content.decode()
    assert "Choose a lot of this item." in html
    old = ItemFactory(name="Old jar", archived=True)
    html = adjust(maker_client, item=old, location=storage, quantity="1", unit="g").content.decode()
    assert "Select a valid choice" in html
    html = adjust(maker_client, item=wax, location=987654, quantity="1", unit="g").content.decode()
    assert "Select a valid choice" in html
    assert not Posting.objects.filter(kind=PostingKind.ADJUSTMENT).exists()


def test_a_lot_tracked_item_needs_its_lot_named(maker_client, oil, storage):
    receive(oil, storage, "10", code="L1")
    html = adjust(maker_client, item=oil, location=storage, quantity="1", unit="ml").content
    assert "Lavender oil is lot-tracked: choose which lot." in html.decode()


def test_the_form_suggests_the_first_expiring_lot_of_a_lot_tracked_item(maker_client, oil, storage):
    today = timezone.localdate()
    receive(oil, storage, "10", code="LATE", expiry_date=today + timedelta(days=90))
    soon = receive(oil, storage, "10", code="SOON", expiry_date=today + timedelta(days=9))
    response = maker_client.post(
        reverse("stock:adjust"),
        {"item": oil.pk, "location": storage.pk, "refresh": "1"},
        HTTP_HX_REQUEST="true",
    )
    html = response.content.decode()
    assert 'id="item-fields"' in html and "<html" not in html
    assert f'<option value="{soon.pk}" selected>SOON' in html
    assert html.index("SOON") < html.index("LATE")


def test_a_viewer_cannot_adjust_stock(viewer_client, wax, storage):
    lot = receive(wax, storage, "100")
    assert viewer_client.get(reverse("stock:adjust")).status_code == 403
    response = adjust(viewer_client, item=wax, location=storage, quantity="1", unit="g")
    assert response.status_code == 403
    assert on_hand(lot, storage) == D("100")


# Counts and transfers ----------------------------------------------------------------------


def test_a_count_shows_differences_first_and_posts_only_when_asked(maker_client, wax, storage):
    a = receive(wax, storage, "100", code="A")
    b = receive(wax, storage, "100", code="B")
    url = reverse("stock:count") + f"?location={storage.pk}"
    ba = Balance.objects.get(lot=a, location=storage)
    bb = Balance.objects.get(lot=b, location=storage)
    form = {f"q-{ba.pk}": "96", f"q-{bb.pk}": "", "note": "", "idempotency_key": key()}
    preview = maker_client.post(url, {**form, "action": "preview"})
    assert "-4" in preview.content.decode()
    assert on_hand(a, storage) == D("100")
    shown = {f"shown-{ba.pk}": "96", f"shown-{bb.pk}": ""}
    response = maker_client.post(url, {**form, **shown, "action": "post"})
    assert response.status_code == 302
    assert on_hand(a, storage) == D("96")
    assert on_hand(b, storage) == D("100")


def test_a_count_changed_after_its_preview_is_shown_again_not_posted(maker_client, wax, storage):
    a = receive(wax, storage, "100", code="A")
    ba = Balance.objects.get(lot=a, location=storage)
    url = reverse("stock:count") + f"?location={storage.pk}"
    form = {f"q-{ba.pk}": "90", f"shown-{ba.pk}": "102", "idempotency_key": key()}
    response = maker_client.post(url, {**form, "action": "post"}, follow=True)
    html = response.content.decode()
    assert "A count changed after the differences were shown" in html
    assert "-10" in html
    assert on_hand(a, storage) == D("100")


def test_a_count_of_a_shelf_someone_drew_from_meanwhile_is_refused(maker_client, wax, storage):
    a = receive(wax, storage, "100", code="A")
    ba = Balance.objects.get(lot=a, location=storage)
    url = reverse("stock:count") + f"?location={storage.pk}"
    draw(a, storage, "3")  # a batch drew 3 after the maker opened the count
    form = {
        f"q-{ba.pk}": "100",
        f"shown-{ba.pk}": "100",
        f"seen-{ba.pk}": "100",
        "idempotency_key": key(),
        "action": "post",
    }
    html = maker_client.post(url, form).content.decode()
    assert "changed since the count was shown (then 100 g, now 97 g)" in html
    assert on_hand(a, storage) == D("97")


def test_a_count_with_nothing_entered_asks_for_a_quantity(maker_client, wax, storage):
    receive(wax, storage, "100", code="A")
    url = reverse("stock:count") + f"?location={storage.pk}"
    response = maker_client.post(url, {"action": "post", "idempotency_key": key()})
    assert "Enter at least one quantity." in response.content.decode()
    assert not Posting.objects.filter(kind=PostingKind.COUNT).exists()


def test_a_transfer_moves_the_chosen_lots(maker_client, wax, storage, bench):
    a = receive(wax, storage, "100", code="A")
    balance = Balance.objects.get(lot=a, location=storage)
    url = reverse("stock:transfer") + f"?location={storage.pk}"
    response = maker_client.post(
        url, {f"q-{balance.pk}": "40", "to_location": bench.pk, "idempotency_key": key()}
    )
    assert response.status_code == 302
    assert (on_hand(a, storage), on_hand(a, bench)) == (D("60"), D("40"))


def test_a_transfer_of_more_than_is_there_is_refused(maker_client, wax, storage, bench):
    a = receive(wax, storage, "100", code="A")
    balance = Balance.objects.get(lot=a, location=storage)
    url = reverse("stock:transfer") + f"?location={storage.pk}"
    response = maker_client.post(
        url, {f"q-{balance.pk}": "140", "to_location": bench.pk, "idempotency_key": key()}
    )
    assert "Only 100 g of lot A is here." in response.content.decode()
    assert on_hand(a, storage) == D("100")


# Locations ---------------------------------------------------------------------------------


def test_an_owner_adds_a_location_and_a_duplicate_name_is_refused(owner_client):
    response = owner_client.post(reverse("stock:location-new"), {"name": "Market stall"})
    assert response.status_code == 302
    assert Location.objects.filter(name="Market stall").exists()
    response = owner_client.post(reverse("stock:location-new"), {"name": "market STALL"})
    assert "There is already a location called market STALL." in response.content.decode()
    assert Location.objects.count() == 1


def test_a_location_that_holds_stock_cannot_be_archived(owner_client, wax, storage):
    receive(wax, storage, "1")
    response = owner_client.post(
        reverse("stock:location-archive", args=[storage.pk]), {"action": "archive"}, follow=True
    )
    assert "Storage still holds stock" in response.content.decode()
    storage.refresh_from_db()
    assert not storage.archived


def test_a_maker_cannot_manage_locations(maker_client):
    assert maker_client.get(reverse("stock:location-new")).status_code == 403
    assert maker_client.post(reverse("stock:location-new"), {"name": "X"}).status_code == 403
    assert not Location.objects.exists()


# check_ledger ------------------------------------------------------------------------------


def test_check_ledger_passes_on_a_sound_ledger_and_fails_on_drift(wax, storage, capsys):
    lot = receive(wax, storage, "100", code="W1")
    call_command("check_ledger")
    assert "The ledger is sound." in capsys.readouterr().out
    Balance.objects.filter(lot=lot).update(quantity=D("7"))
    with pytest.raises(CommandError) as err:
        call_command("check_ledger")
    assert err.value.returncode == 1
    assert "Soy wax 464 lot W1" in capsys.readouterr().err


def test_a_lot_is_drawn_to_zero_and_leaves_on_hand(viewer_client, wax, storage):
    lot = receive(wax, storage, "5", code="GONE")
    draw(lot, storage, "5")
    html = viewer_client.get(reverse("stock:on-hand")).content.decode()
    assert "GONE" not in html


def test_every_stock_page_renders_for_a_viewer(viewer_client, wax, storage):
    lot = receive(wax, storage, "5")
    for name, args in [
        ("stock:on-hand", []),
        ("stock:postings", []),
        ("stock:posting", [lot.created_by_posting_id]),
        ("stock:lot", [lot.pk]),
        ("stock:locations", []),
    ]:
        assert viewer_client.get(reverse(name, args=args)).status_code == 200, name


@pytest.mark.parametrize("page", ["postings", "lot", "locations"])
def test_ledger_pages_read_in_the_same_number_of_queries_for_few_or_many_rows(
    viewer_client, wax, storage, page
):
    lot = receive(wax, storage, "1000", code="W-1")
    url = {
        "postings": reverse("stock:postings"),
        "lot": reverse("stock:lot", args=[lot.pk]),
        "locations": reverse("stock:locations"),
    }[page]

    def queries():
        with CaptureQueriesContext(connection) as ctx:
            assert viewer_client.get(url).status_code == 200
        return len(ctx)

    def grow(n):
        for _ in range(n):
            draw(lot, storage, "1")
            LocationFactory()

    grow(2)
    few = queries()
    grow(20)
    assert queries() == few


def _hidden(html, name):
    return html.split(f'name="{name}" value="')[1].split('"')[0]


def test_a_count_previewed_after_a_draw_posts_against_what_the_preview_showed(
    maker_client, wax, storage
):
    a = receive(wax, storage, "100", code="A")
    ba = Balance.objects.get(lot=a, location=storage)
    url = reverse("stock:count") + f"?location={storage.pk}"
    form_page = maker_client.get(url).content.decode()
    assert _hidden(form_page, f"seen-{ba.pk}") == "100.000000"
    draw(a, storage, "3")  # a batch draws 3 while the maker counts
    typed = {f"q-{ba.pk}": "95", "idempotency_key": key()}
    preview = maker_client.post(url, {**typed, f"seen-{ba.pk}": "100", "action": "preview"})
    html = preview.content.decode()
    assert "97 g" in html and "-2" in html  # the preview shows the books as they are now
    seen_now = _hidden(html, f"seen-{ba.pk}")
    response = maker_client.post(
        url, {**typed, f"seen-{ba.pk}": seen_now, f"shown-{ba.pk}": "95", "action": "post"}
    )
    assert response.status_code == 302
    assert on_hand(a, storage) == D("95")


@pytest.mark.parametrize("flow", ["count to zero", "transfer all"])
def test_a_double_tap_that_emptied_a_row_still_says_already_posted(
    maker_client, wax, storage, bench, flow
):
    a = receive(wax, storage, "100", code="A")
    ba = Balance.objects.get(lot=a, location=storage)
    if flow == "count to zero":
        url = reverse("stock:count") + f"?location={storage.pk}"
        data = {f"q-{ba.pk}": "0", f"seen-{ba.pk}": "100", f"shown-{ba.pk}": "0", "action": "post"}
    else:
        url = reverse("stock:transfer") + f"?location={storage.pk}"
        data = {f"q-{ba.pk}": "100", "to_location": bench.pk}
    data["idempotency_key"] = key()
    assert maker_client.post(url, data).status_code == 302
    second = maker_client.post(url, data, follow=True).content.decode()
    assert "was already posted; nothing was posted twice." in second
    assert Posting.objects.filter(kind__in=[PostingKind.COUNT, PostingKind.TRANSFER]).count() == 1


def test_a_counted_lot_moved_away_before_posting_is_not_dropped_silently(
    maker_client, wax, storage, bench
):
    from stock.services import transfer_post

    a = receive(wax, storage, "100", code="A")
    ba = Balance.objects.get(lot=a, location=storage)
    url = reverse("stock:count") + f"?location={storage.pk}"
    transfer_post(
        from_location=storage,
        to_location=bench,
        quantities=[(a, D("100"))],
        user=None,
        idempotency_key=key(),
    )
    data = {
        f"q-{ba.pk}": "100",
        f"seen-{ba.pk}": "100",
        f"shown-{ba.pk}": "100",
        "action": "post",
        "idempotency_key": key(),
    }
    html = maker_client.post(url, data).content.decode()
    assert "changed since the count was shown (then 100 g, now 0 g)" in html
    assert not Posting.objects.filter(kind=PostingKind.COUNT).exists()


def test_a_double_tapped_put_in_of_a_new_item_posts_once(maker_client, storage):
    jar = ItemFactory(name="Amber jar", unit="each")
    fields = {"item": jar, "location": storage, "quantity": "12", "unit": "each"}
    same = key()
    first = adjust(maker_client, idempotency_key=same, direction="in", reason="found", **fields)
    second = adjust(maker_client, idempotency_key=same, direction="in", reason="found", **fields)
    assert (first.status_code, second.status_code) == (302, 302)  # the second is a replay
    assert Posting.objects.filter(kind=PostingKind.ADJUSTMENT).count() == 1
    assert Balance.objects.get(lot__item=jar).quantity == D("12")


def test_a_double_tapped_reversal_says_already(owner_client, wax, storage):
    lot = receive(wax, storage, "100")
    used = draw(lot, storage, "30").posting
    data = {"note": "counted wrong", "idempotency_key": key()}
    url = reverse("stock:posting-reverse", args=[used.pk])
    owner_client.post(url, data)
    html = owner_client.post(url, data, follow=True).content.decode()
    assert "was already posted; nothing was posted twice." in html
    assert on_hand(lot, storage) == D("100")


def test_a_stray_space_in_an_empty_count_row_is_still_empty(maker_client, wax, storage):
    a = receive(wax, storage, "100", code="A")
    b = receive(wax, storage, "50", code="B")
    ba = Balance.objects.get(lot=a, location=storage)
    bb = Balance.objects.get(lot=b, location=storage)
    url = reverse("stock:count") + f"?location={storage.pk}"
    data = {f"q-{ba.pk}": "98", f"q-{bb.pk}": " ", "idempotency_key": key(), "action": "preview"}
    html = maker_client.post(url, data).content.decode()
    assert "-2" in html and "Enter a number" not in html


def test_a_count_with_an_unreadable_figure_says_so_at_the_top(maker_client, wax, storage):
    a = receive(wax, storage, "100", code="A")
    ba = Balance.objects.get(lot=a, location=storage)
    url = reverse("stock:count") + f"?location={storage.pk}"
    data = {f"q-{ba.pk}": "-5", "idempotency_key": key(), "action": "preview"}
    html = maker_client.post(url, data).content.decode()
    assert "Some figures could not be read: check the rows marked in red." in html
    assert "Enter zero or more." in html
    assert "Post count" not in html


def test_pieces_are_counted_whole(maker_client, storage):
    jar = ItemFactory(name="Amber jar", unit="each")
    html = adjust(
        maker_client,
        item=jar,
        location=storage,
        quantity="1,5",
        unit="each",
        direction="in",
        reason="found",
    ).content.decode()
    assert "Amber jar is counted in whole pieces: 1.5 is not a whole number." in html
    assert not Posting.objects.exists()
