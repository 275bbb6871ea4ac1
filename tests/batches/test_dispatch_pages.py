"""The customer and dispatch pages as a maker uses them: candles from two real batches sent to
customers first-expiry-first or from a named lot, bad input answered on the page with nothing
posted, a double tap sending once, a return putting the candles back, roles held on the server,
lists in a flat number of queries, and a batch whose candles were sent no longer reversible."""

from datetime import timedelta
from decimal import Decimal as D

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from stock import dispatches
from stock.dispatches import Sent, customer_save, dispatch_create
from stock.forms_dispatch import CUSTOMER_EXISTS, UNKNOWN_LOT
from stock.models import Balance, Customer, Dispatch, Posting, workshop_today
from stock.services import lot_hold
from tests.batches.conftest import key
from tests.batches.test_trace import _batch as candles_from
from tests.stock.factories import receive

pytestmark = pytest.mark.django_db


def _batch(c, wax_lot):
    """2 lavender and 2 cedar candles made from the named wax lot: their lots expire when it
    does (W1 in 60 days, W2 in a year). (batch, {scent: lot})."""
    lots = candles_from(c, wax_lot)
    return next(iter(lots.values())).batch_lot.batch, lots


@pytest.fixture
def shelf(candle):
    """Two batches on the bench: the first one's candles expire first."""
    first, early = _batch(candle, candle.lots["W1"])
    second, late = _batch(candle, candle.lots["W2"])
    candle.batches = (first, second)
    candle.early, candle.late = early, late
    candle.ann = customer_save(name="Ann Archer", email="ann@example.com")
    return candle


def on_hand(lot):
    return Balance.objects.get(lot=lot).quantity


def form_data(c, *lines, **header):
    """What the new-dispatch form posts: `lines` are (item, quantity, lot or None)."""
    data = {
        "idempotency_key": key(),
        "customer": str(c.ann.pk),
        "new_customer": "",
        "new_customer_email": "",
        "dispatched_on": workshop_today().isoformat(),
        "channel": "Etsy",
        "order_reference": "#1234",
        "location": str(c.bench.pk),
        "note": "",
        "lines-TOTAL_FORMS": str(max(len(lines), 1)),
        "lines-INITIAL_FORMS": "0",
        "lines-MIN_NUM_FORMS": "0",
        "lines-MAX_NUM_FORMS": "40",
    }
    for n, (item, quantity, lot) in enumerate(lines):
        data[f"lines-{n}-item"] = str(item.pk) if item else ""
        data[f"lines-{n}-quantity"] = str(quantity)
        data[f"lines-{n}-lot"] = str(lot.pk) if lot else ""
    data.update({k: str(v) for k, v in header.items()})
    return data


NEW = reverse("stock:dispatch-new")


def test_the_form_previews_first_expiry_first_and_lists_unusable_lots_last_marked(
    maker_client, shelf
):
    lavender = shelf.lavender.item
    expired = receive(
        lavender, shelf.bench, "3", code="OLD-LAV", expiry_date=workshop_today() - timedelta(1)
    )
    lot_hold(lot=shelf.early["Lavender"], note="soot on the glass", user=None)
    page = maker_client.get(NEW, {"item": lavender.pk, "location": shelf.bench.pk})
    assert page.status_code == 200
    html = page.text
    assert "First expiry first (from CND-02-LAV)" in html  # the first batch's is held
    usable, held, old = (html.index(code) for code in ("CND-02-LAV ·", "CND-01-LAV ·", "OLD-LAV"))
    assert usable < held and usable < old
    assert "CND-01-LAV · 2 each" in html and "QUARANTINED" in html and "EXPIRED" in html
    assert f'value="{expired.pk}"' in html


def test_a_lot_left_on_first_expiry_first_is_drawn_from_the_lot_that_expires_first(
    maker_client, shelf
):
    response = maker_client.post(NEW, form_data(shelf, (shelf.lavender.item, 1, None)))
    dispatch = Dispatch.objects.get()
    assert response.status_code == 302 and response["Location"] == dispatch_url(dispatch)
    assert on_hand(shelf.early["Lavender"]) == 1 and on_hand(shelf.late["Lavender"]) == 2
    page = maker_client.get(dispatch_url(dispatch))
    assert "recorded: 1 line out of stock at Bench" in page.text
    assert "CND-01-LAV" in page.text and "Ann Archer" in page.text and "Etsy #1234" in page.text
    assert dispatch.posting.reference == "To Ann Archer (Etsy #1234)"


def test_a_named_lot_is_used_as_named(maker_client, shelf):
    late = shelf.late["Lavender"]
    maker_client.post(NEW, form_data(shelf, (shelf.lavender.item, 2, late)))
    assert on_hand(late) == 0 and on_hand(shelf.early["Lavender"]) == 2
    [movement] = Dispatch.objects.get().posting.movements.all()
    assert movement.lot == late and movement.quantity == -2


def test_lines_with_several_products_post_once_and_the_page_lists_each_line_s_lots(
    maker_client, shelf
):
    lavender, cedar = shelf.lavender.item, shelf.cedar.item
    maker_client.post(
        NEW, form_data(shelf, (lavender, 3, None), (cedar, 1, None), (None, "", None))
    )
    dispatch = Dispatch.objects.get()
    assert [(ln.item, ln.quantity) for ln in dispatch.lines.all()] == [(lavender, 3), (cedar, 1)]
    assert Posting.objects.filter(kind="dispatch").count() == 1
    html = maker_client.get(dispatch_url(dispatch)).text
    # Three lavender candles came from both batches: all of the first's, one of the second's.
    assert html.index("CND-01-LAV") < html.index("CND-02-LAV") < html.index("CND-01-CED")


def _refused(client, shelf, data):
    """Post `data`; the page comes back with the form and nothing was sent."""
    postings = Posting.objects.count()
    response = client.post(NEW, data)
    assert response.status_code == 200
    assert "Nothing was dispatched." in response.text
    assert Dispatch.objects.count() == 0 and Posting.objects.count() == postings
    assert on_hand(shelf.early["Lavender"]) == 2 and on_hand(shelf.late["Lavender"]) == 2
    return response.text


def test_a_quarantined_lot_is_refused_with_a_message_and_nothing_posted(maker_client, shelf):
    held = shelf.early["Lavender"]
    lot_hold(lot=held, note="soot on the glass", user=None)
    html = _refused(maker_client, shelf, form_data(shelf, (shelf.lavender.item, 1, held)))
    assert "lot CND-01-LAV is quarantined and cannot be used until it is released" in html


def test_an_expired_lot_is_refused_with_a_message(maker_client, shelf):
    old = receive(
        shelf.lavender.item,
        shelf.bench,
        "3",
        code="OLD-LAV",
        expiry_date=workshop_today() - timedelta(1),
    )
    html = _refused(maker_client, shelf, form_data(shelf, (shelf.lavender.item, 1, old)))
    assert "lot OLD-LAV expired on" in html
    assert on_hand(old) == 3


def test_more_than_the_lot_holds_is_refused_with_the_shortfall(maker_client, shelf):
    lot = shelf.early["Lavender"]
    html = _refused(maker_client, shelf, form_data(shelf, (shelf.lavender.item, 5, lot)))
    assert (
        "Not enough Soy candle Lavender (lot CND-01-LAV) at Bench: need 5 each, have 2 each."
        in html
    )


def test_more_than_every_usable_lot_holds_is_refused(maker_client, shelf):
    html = _refused(maker_client, shelf, form_data(shelf, (shelf.lavender.item, 9, None)))
    assert (
        "Not enough Soy candle Lavender at Bench: need 9 each, have 4 each in usable lots" in html
    )


def test_an_unknown_lot_id_is_a_message_not_an_error_page(maker_client, shelf):
    data = form_data(shelf, (shelf.lavender.item, 1, None))
    data["lines-0-lot"] = "999999"
    html = _refused(maker_client, shelf, data)
    message = UNKNOWN_LOT.format(item="Soy candle Lavender", location="Bench")
    assert message.replace("\u2019", "'") in html.replace("&#x27;", "'")


def test_a_lot_of_another_product_is_refused(maker_client, shelf):
    cedar_lot = shelf.early["Cedar"]
    _refused(maker_client, shelf, form_data(shelf, (shelf.lavender.item, 1, cedar_lot)))


def test_a_quantity_that_is_not_a_number_is_a_message(maker_client, shelf):
    html = _refused(maker_client, shelf, form_data(shelf, (shelf.lavender.item, "two", None)))
    assert "Enter a number, like 250 or 1.5." in html


def test_a_line_without_a_product_or_a_quantity_says_which(maker_client, shelf):
    html = _refused(maker_client, shelf, form_data(shelf, (None, 2, None)))
    assert "Line 1</a>: Choose what was sent." in html
    html = _refused(maker_client, shelf, form_data(shelf, (shelf.lavender.item, "", None)))
    assert "Line 1</a>: Say how many were sent." in html
    html = _refused(maker_client, shelf, form_data(shelf, (None, "", None)))
    assert "Add at least one line" in html


def test_a_tampered_line_count_is_a_message(maker_client, shelf):
    data = form_data(shelf, (shelf.lavender.item, 1, None))
    html = _refused(maker_client, shelf, {**data, "lines-TOTAL_FORMS": "500"})
    assert "At most 40 lines in one dispatch" in html
    del data["lines-TOTAL_FORMS"]
    _refused(maker_client, shelf, data)


def test_a_date_in_the_future_is_refused(maker_client, shelf):
    tomorrow = workshop_today() + timedelta(days=1)
    data = form_data(shelf, (shelf.lavender.item, 1, None), dispatched_on=tomorrow.isoformat())
    assert "A dispatch cannot be dated in the future." in _refused(maker_client, shelf, data)


def test_sending_the_form_twice_makes_one_dispatch(maker_client, shelf):
    data = form_data(shelf, (shelf.lavender.item, 1, None))
    first = maker_client.post(NEW, data)
    second = maker_client.post(NEW, data, follow=True)
    dispatch = Dispatch.objects.get()
    assert first["Location"] == dispatch_url(dispatch)
    assert second.redirect_chain[-1][0] == dispatch_url(dispatch)
    assert f"{dispatch} was already recorded; nothing was sent twice." in second.text
    assert on_hand(shelf.early["Lavender"]) == 1


def test_a_new_customer_typed_on_the_form_is_saved_with_the_dispatch_only(maker_client, shelf):
    refused = form_data(shelf, (shelf.lavender.item, 50, None), customer="", new_customer="Bo Bell")
    _refused(maker_client, shelf, refused)
    assert not Customer.objects.filter(name="Bo Bell").exists()  # nothing sent, nobody added

    data = form_data(
        shelf,
        (shelf.lavender.item, 1, None),
        customer="",
        new_customer="  Bo   Bell ",
        new_customer_email="bo@example.com",
    )
    maker_client.post(NEW, data)
    maker_client.post(NEW, data)
    bo = Customer.objects.get(name="Bo Bell")
    assert bo.email == "bo@example.com"
    assert list(Dispatch.objects.values_list("customer", flat=True)) == [bo.pk]


def test_a_second_tap_to_a_new_customer_leaves_one_customer_behind(shelf):
    order = {
        "lines": [Sent(item=shelf.lavender.item, quantity=D(1))],
        "location": shelf.bench,
        "user": None,
        "idempotency_key": key(),
    }
    bo, first = dispatches.dispatch_create_for_new_customer(name="Bo Bell", **order)
    again, second = dispatches.dispatch_create_for_new_customer(name="Bo Bell", **order)
    assert (again, second) == (bo, first)
    assert Customer.objects.filter(name="Bo Bell").count() == 1


def test_a_customer_is_chosen_or_typed_not_both_and_not_twice(maker_client, shelf):
    line = (shelf.lavender.item, 1, None)
    html = _refused(maker_client, shelf, form_data(shelf, line, customer=""))
    assert "Choose the customer, or type a new customer" in html
    html = _refused(maker_client, shelf, form_data(shelf, line, new_customer="Bo"))
    assert "not both" in html
    html = _refused(
        maker_client, shelf, form_data(shelf, line, customer="", new_customer="ann ARCHER")
    )
    assert CUSTOMER_EXISTS.format(name="ann ARCHER") in html


def test_changing_a_product_shows_its_lots_and_add_a_line_adds_one_saving_nothing(
    maker_client, shelf
):
    data = form_data(shelf, (shelf.cedar.item, 3, None), refresh="1")
    lines = maker_client.post(NEW, data, headers={"HX-Request": "true"})
    assert lines.status_code == 200
    assert 'id="dispatch-lines"' in lines.text and "<form" not in lines.text
    assert "First expiry first (CND-01-CED 2, CND-02-CED 1)" in lines.text
    assert data["idempotency_key"] not in lines.text  # the key stays in the form, outside
    more = maker_client.post(NEW, {**data, "add_line": "1"}, headers={"HX-Request": "true"})
    assert 'name="lines-TOTAL_FORMS" value="2"' in more.text
    page = maker_client.post(NEW, {**data, "add_line": "1"})  # without JavaScript: the page
    assert (
        f'value="{data["idempotency_key"]}"' in page.text
        and "Nothing was dispatched" not in page.text
    )
    assert Dispatch.objects.count() == 0


def test_the_form_starts_from_the_lot_page_s_dispatch_button(maker_client, shelf):
    lot = shelf.late["Cedar"]
    lot_page = maker_client.get(reverse("stock:lot", args=[lot.pk])).text
    link = f"{NEW}?item={lot.item_id}&amp;lot={lot.pk}&amp;location={shelf.bench.pk}"
    assert f'href="{link}"' in lot_page
    form = maker_client.get(NEW, {"item": lot.item_id, "lot": lot.pk, "location": shelf.bench.pk})
    assert f'<option value="{lot.pk}" selected>' in form.text
    wax_page = maker_client.get(reverse("stock:lot", args=[shelf.lots["W2"].pk])).text
    assert NEW not in wax_page  # a material is not dispatched


# Reversing ----------------------------------------------------------------------------------


def _sent(shelf, n=1, lot=None):
    return dispatch_create(
        customer=shelf.ann,
        lines=[Sent(item=shelf.lavender.item, quantity=D(n), lot=lot)],
        location=shelf.bench,
        user=None,
        idempotency_key=key(),
        channel="Shopify",
        order_reference="#1001",
    )


def dispatch_url(dispatch):
    return reverse("stock:dispatch", args=[dispatch.pk])


def test_reversing_a_dispatch_puts_its_candles_back_once(maker_client, shelf):
    dispatch = _sent(shelf, 2)
    assert on_hand(shelf.early["Lavender"]) == 0
    data = {"idempotency_key": key(), "note": "Returned unopened"}
    url = reverse("stock:dispatch-reverse", args=[dispatch.pk])
    response = maker_client.post(url, data, follow=True)
    assert f"{dispatch} reversed" in response.text
    assert "Reversed" in response.text and "Returned unopened" in response.text
    assert "Reverse this dispatch" not in response.text
    again = maker_client.post(url, data, follow=True)
    assert "was already reversed; nothing was put back twice" in again.text
    assert on_hand(shelf.early["Lavender"]) == 2
    assert Posting.objects.filter(kind="reversal").count() == 1
    listed = maker_client.get(reverse("stock:dispatches")).text
    assert "reversed</span>" in listed


def test_a_reversal_needs_a_reason_and_a_second_one_is_refused_by_name(maker_client, shelf):
    dispatch = _sent(shelf)
    url = reverse("stock:dispatch-reverse", args=[dispatch.pk])
    response = maker_client.post(url, {"idempotency_key": key(), "note": ""})
    assert response.status_code == 200 and "This field is required." in response.text
    dispatches.dispatch_reverse(
        dispatch=dispatch, note="cancelled", user=None, idempotency_key=key()
    )
    stale = maker_client.post(url, {"idempotency_key": key(), "note": "cancelled too"})
    assert f"{dispatch} was already reversed." in stale.text
    assert Posting.objects.filter(kind="reversal").count() == 1


def test_a_batch_whose_candles_were_dispatched_cannot_be_reversed_and_says_by_which_dispatch(
    owner_client, shelf
):
    dispatch = _sent(shelf, 1, lot=shelf.early["Lavender"])
    batch = shelf.batches[0]
    response = owner_client.post(
        reverse("batches:reverse", args=[batch.pk]),
        {"idempotency_key": key(), "note": "wrong wax"},
        follow=True,
    )
    assert f"was used by {dispatch.posting} (dispatch {dispatch.pk})" in response.text
    assert not Posting.objects.filter(kind="reversal").exists()
    assert on_hand(shelf.early["Lavender"]) == 1


# Who may -------------------------------------------------------------------------------------


def test_a_viewer_reads_the_pages_but_cannot_dispatch_reverse_or_add_customers(
    viewer_client, shelf
):
    dispatch = _sent(shelf)
    for url in (
        reverse("stock:dispatches"),
        dispatch_url(dispatch),
        reverse("stock:customers"),
        reverse("stock:customer", args=[shelf.ann.pk]),
    ):
        page = viewer_client.get(url)
        assert page.status_code == 200, url
        assert NEW not in page.text and "Reverse this dispatch" not in page.text
    assert viewer_client.get(NEW).status_code == 403
    assert (
        viewer_client.post(NEW, form_data(shelf, (shelf.lavender.item, 1, None))).status_code == 403
    )
    reverse_url = reverse("stock:dispatch-reverse", args=[dispatch.pk])
    assert (
        viewer_client.post(reverse_url, {"idempotency_key": key(), "note": "x"}).status_code == 403
    )
    assert viewer_client.get(reverse("stock:customer-new")).status_code == 403
    assert (
        viewer_client.post(
            reverse("stock:customer-edit", args=[shelf.ann.pk]), {"name": "X"}
        ).status_code
        == 403
    )
    assert Dispatch.objects.count() == 1 and Customer.objects.get().name == "Ann Archer"


# Customers -----------------------------------------------------------------------------------


def test_a_maker_adds_edits_and_finds_a_customer(maker_client, db):
    response = maker_client.post(
        reverse("stock:customer-new"),
        {"name": " Cleo  Crane ", "email": "cleo@example.com", "phone": "+44 20 7946 0000"},
    )
    cleo = Customer.objects.get()
    assert cleo.name == "Cleo Crane"
    assert response["Location"] == reverse("stock:customer", args=[cleo.pk])
    bad = maker_client.post(
        reverse("stock:customer-edit", args=[cleo.pk]), {"name": "Cleo", "email": "not-mail"}
    )
    assert bad.status_code == 200 and "Enter a valid email address." in bad.text
    maker_client.post(
        reverse("stock:customer-edit", args=[cleo.pk]),
        {"name": "Cleo Crane", "address": "1 Mill Lane\nHebden Bridge"},
    )
    cleo.refresh_from_db()
    assert cleo.address == "1 Mill Lane\nHebden Bridge" and cleo.email == ""
    customer_save(name="Dev Dyer")
    found = maker_client.get(reverse("stock:customers"), {"q": "crane"}).text
    assert "Cleo Crane" in found and "Dev Dyer" not in found


def test_the_customer_page_lists_what_they_received(maker_client, shelf):
    dispatch = _sent(shelf)
    page = maker_client.get(reverse("stock:customer", args=[shelf.ann.pk])).text
    assert f'href="{dispatch_url(dispatch)}"' in page
    assert "1 \u00d7 Soy candle Lavender" in page and "Shopify #1001" in page
    assert f"{NEW}?customer={shelf.ann.pk}" in page


def test_the_dispatches_list_filters_by_customer_channel_and_date(viewer_client, shelf):
    sent = _sent(shelf)
    other = dispatch_create(
        customer=customer_save(name="Bo Bell"),
        lines=[Sent(item=shelf.cedar.item, quantity=D(1))],
        location=shelf.bench,
        user=None,
        idempotency_key=key(),
        channel="Market",
    )
    url = reverse("stock:dispatches")
    by_customer = viewer_client.get(url, {"customer": shelf.ann.pk}).text
    assert f"#{sent.pk}<" in by_customer and f"#{other.pk}<" not in by_customer
    by_channel = viewer_client.get(url, {"channel": "Market"}).text
    assert f"#{other.pk}<" in by_channel and f"#{sent.pk}<" not in by_channel
    tomorrow = (workshop_today() + timedelta(days=1)).isoformat()
    assert "No dispatches match these filters." in viewer_client.get(url, {"since": tomorrow}).text


def test_the_list_pages_take_the_same_number_of_queries_for_3_or_10_dispatches(
    viewer_client, shelf
):
    pages = [
        reverse("stock:dispatches"),
        reverse("stock:customers"),
        reverse("stock:customer", args=[shelf.ann.pk]),
    ]

    def queries():
        counts = []
        for url in pages:
            with CaptureQueriesContext(connection) as ctx:
                assert viewer_client.get(url).status_code == 200
            counts.append(len(ctx))
        return counts

    receive(shelf.lavender.item, shelf.bench, "20", code="EXTRA")

    def send(n):
        for i in range(n):
            customer = shelf.ann if i % 2 else customer_save(name=f"Customer {key()[:6]}")
            dispatch_create(
                customer=customer,
                lines=[Sent(item=shelf.lavender.item, quantity=D(1))] * 2,
                location=shelf.bench,
                user=None,
                idempotency_key=key(),
                channel="Etsy",
            )

    send(3)
    three = queries()
    send(7)
    assert Dispatch.objects.count() == 10
    assert queries() == three


# The admin -----------------------------------------------------------------------------------


def test_the_admin_shows_dispatches_read_only_and_corrects_customers(owner_client, shelf):
    dispatch = _sent(shelf)
    listed = owner_client.get("/admin/stock/dispatch/")
    assert listed.status_code == 200 and "Ann Archer" in listed.text
    page = owner_client.get(f"/admin/stock/dispatch/{dispatch.pk}/change/")
    assert page.status_code == 200
    assert "Reverse it on its page" in page.text and dispatch_url(dispatch) in page.text
    assert "Soy candle Lavender" in page.text  # its line
    assert owner_client.get(f"/admin/stock/dispatch/{dispatch.pk}/delete/").status_code == 403
    assert owner_client.get("/admin/stock/dispatch/add/").status_code == 403
    found = owner_client.get("/admin/stock/customer/", {"q": "ann@example"})
    assert "Ann Archer" in found.text
    assert owner_client.get(f"/admin/stock/customer/{shelf.ann.pk}/delete/").status_code == 403
