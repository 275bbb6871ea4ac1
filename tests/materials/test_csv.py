"""Materials in and out of CSV: upload, preview, confirm (all or nothing), and the exports."""

import csv
import io
from datetime import date, timedelta
from decimal import Decimal as D

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.template.loader import render_to_string
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from materials import csv_io, services
from materials.models import Category, Material, Supplier
from materials.services import ReceiptLineInput
from stock.checks import ledger_violations
from stock.forms import QuantityField
from stock.models import Balance, Item, Location, Lot, Posting, PostingKind
from tests.materials.factories import CategoryFactory, MaterialFactory, SupplierFactory
from tests.stock.factories import LocationFactory, draw, key, receive
from tests.threads import run_together

pytestmark = pytest.mark.django_db

HEADER = (
    "sku,name,category,unit,lot_tracked,shelf_life_days,reorder_point,reorder_quantity,"
    "preferred_supplier,notes,quantity,unit_cost,lot_code,expiry_date,location"
)
CLEAN = f"""{HEADER}
WAX-464,Soy wax 464,Raw material,kg,no,,5,20,Wick & Wax Supply Co.,Container wax,18.5,4.20,,,Storage
FO-LAV,Lavender oil,Scents,ml,yes,540,250,1000,Scent Works,,740,0.085,LAV-17,2027-09-30,Shed
JAR-200,Amber jar 200 ml,Packaging,each,no,,48,288,,,,,,,
"""


def csv_text(*rows: dict) -> str:
    """A file with every import column and these rows."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=csv_io.COLUMN_NAMES)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def upload(client, text, name="materials.csv", *, encoding="utf-8"):
    data = text.encode(encoding) if isinstance(text, str) else text
    return client.post(
        reverse("materials:import"), {"file": SimpleUploadedFile(name, data, "text/csv")}
    )


def preview_of(client, text, **kwargs):
    """Upload a file and open its preview; returns (token, response)."""
    response = upload(client, text, **kwargs)
    assert response.status_code == 302, response.content.decode()
    token = response["Location"].rstrip("/").rsplit("/", 1)[-1]
    return token, client.get(response["Location"])


def confirm(client, token):
    return client.post(reverse("materials:import-confirm", args=[token]))


def messages_of(response):
    return [str(m) for m in response.wsgi_request._messages]


def read_csv(response):
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))


# A clean file -----------------------------------------------------------------------------


def test_a_clean_file_previews_every_row_as_ready_with_what_it_will_create(owner_client):
    CategoryFactory(name="Raw material")
    _, response = preview_of(owner_client, CLEAN)
    assert response.status_code == 200
    html = response.text
    assert html.count("badge-ok") == 3 and "badge-bad" not in html
    assert "Soy wax 464" in html and "18.5 kg" in html and "LAV-17" in html
    assert "new category Scents" in html and "new category Raw material" not in html
    assert "new supplier Scent Works" in html and "new location Shed" in html
    assert "2 lots, worth EUR 140.60" in html  # 18.5 x 4.20 + 740 x 0.085
    assert "Import 3 materials and their opening stock" in html
    assert Item.objects.count() == 0  # a preview writes nothing


def test_confirming_a_clean_file_imports_the_materials_and_one_opening_stock_receipt(
    owner_client, owner
):
    LocationFactory(name="Storage")
    CategoryFactory(name="Raw material")  # the defaults, which a flushed database lacks
    CategoryFactory(name="Packaging")
    token, _ = preview_of(owner_client, CLEAN)
    response = confirm(owner_client, token)
    assert response.status_code == 302 and response["Location"] == reverse("materials:list")
    assert messages_of(response) == [
        "Imported 3 materials and their opening stock: 2 lots in one posting, Receipt "
        f"#{Posting.objects.get().pk}. New: 1 category, 2 suppliers, 1 location."
    ]

    wax = Material.objects.select_related("item", "category", "preferred_supplier").get(
        item__sku="WAX-464"
    )
    assert (wax.item.name, wax.item.unit, wax.item.lot_tracked) == ("Soy wax 464", "kg", False)
    assert wax.category.name == "Raw material" and wax.reorder_point == D("5")
    assert (
        wax.reorder_quantity == D("20") and wax.preferred_supplier.name == "Wick & Wax Supply Co."
    )
    oil = Material.objects.get(item__sku="FO-LAV")
    assert oil.item.lot_tracked and oil.item.shelf_life_days == 540
    assert Material.objects.get(item__sku="JAR-200").item.lots.count() == 0
    assert set(Category.objects.values_list("name", flat=True)) >= {"Scents", "Packaging"}
    assert set(Supplier.objects.values_list("name", flat=True)) == {
        "Wick & Wax Supply Co.",
        "Scent Works",
    }

    posting = Posting.objects.get()
    assert posting.kind == PostingKind.RECEIPT
    assert posting.reference == "Opening stock import"
    assert posting.idempotency_key == token and posting.created_by == owner
    wax_lot = Lot.objects.get(item=wax.item)
    assert wax_lot.unit_cost == D("4.2") and wax_lot.created_by_posting == posting
    assert Balance.objects.get(lot=wax_lot, location__name="Storage").quantity == D("18.5")
    oil_lot = Lot.objects.get(item=oil.item)
    assert (oil_lot.code, oil_lot.expiry_date) == ("LAV-17", date(2027, 9, 30))
    assert oil_lot.unit_cost == D("0.085")
    assert Balance.objects.get(lot=oil_lot, location__name="Shed").quantity == D("740")
    assert ledger_violations() == []


def test_the_example_file_in_the_docs_imports_cleanly(owner_client):
    example = (settings.BASE_DIR / "docs/examples/materials-import.csv").read_text("utf-8")
    token, response = preview_of(owner_client, example)
    assert "badge-bad" not in response.text
    assert "Import 7 materials and their opening stock" in response.text
    assert confirm(owner_client, token).status_code == 302
    assert Material.objects.count() == 7
    bergamot = Lot.objects.get(item__sku="FO-BERG")
    assert (bergamot.code, bergamot.expiry_date) == ("BER-2409-17", date(2027, 9, 30))
    assert Lot.objects.get(item__sku="FO-VAN").expiry_date == date(2027, 10, 31)  # DD/MM/YYYY
    assert Balance.objects.get(lot__item__sku="JAR-CLR300").quantity == D("312")
    assert Posting.objects.get().movements.count() == 6
    assert ledger_violations() == []


def test_the_import_page_lists_the_columns_and_serves_the_example(owner_client):
    html = owner_client.get(reverse("materials:import")).text
    for column in csv_io.COLUMN_NAMES:
        assert f"<code>{column}</code>" in html
    assert reverse("materials:import-example") in html
    example = owner_client.get(reverse("materials:import-example"))
    assert example["Content-Type"].startswith("text/csv")
    assert b"Soy wax C3 container blend" in b"".join(example.streaming_content)


def test_headers_are_matched_whatever_their_case_order_and_a_bom(owner_client):
    text = "\ufeffName;UNIT;Lot tracked;SKU;Colour\nCotton wick;each;No;WICK-1;white\n"
    token, response = preview_of(owner_client, text)
    assert "badge-ok" in response.text and "Ignored columns" in response.text
    confirm(owner_client, token)
    assert Item.objects.get(sku="WICK-1").name == "Cotton wick"


# Bad rows ---------------------------------------------------------------------------------


def test_the_preview_marks_each_bad_row_with_its_reason_and_confirm_imports_nothing(
    owner_client,
):
    MaterialFactory(item__sku="OLD-1", item__name="Beeswax pellets")
    text = f"""{HEADER}
GOOD-1,Coconut wax,,g,,,,,,,100,0.01,,,Storage
BAD-UNIT,Olive oil,,kilo,,,,,,,,,,,
DUP-1,Castor oil,,g,,,,,,,,,,,
dup-1,Castor oil again,,g,,,,,,,,,,,
OLD-1,Beeswax again,,g,,,,,,,,,,,
BAD-NUM,Shea butter,,g,,,lots,,,,,,,,
BAD-DATE,Rose oil,,ml,yes,,,,,,10,1,R-1,31/02/2027,Storage

TOO-FINE,Mica,,g,,,,,,,1.1234567,,,,Storage
NO-LOT,Cedar oil,,ml,yes,,,,,,50,0.1,,,Storage
"""
    token, response = preview_of(owner_client, text)
    html = response.text
    assert html.count('<span class="badge badge-bad">fix</span>') == 8
    assert (
        "<strong>Row 3</strong> (BAD-UNIT): Unknown unit &#x27;kilo&#x27;. Use one of: g, kg"
        in html
    )
    assert "<strong>Row 4</strong> (DUP-1): SKU DUP-1 is also on row 5" in html
    assert "<strong>Row 5</strong> (dup-1): SKU dup-1 is also on row 4" in html
    assert "<strong>Row 6</strong> (OLD-1): SKU OLD-1 is already used by Beeswax pellets." in html
    assert (
        "<strong>Row 7</strong> (BAD-NUM): reorder_point: &#x27;lots&#x27; is not a number." in html
    )
    assert (
        "<strong>Row 8</strong> (BAD-DATE): expiry_date: &#x27;31/02/2027&#x27; is not a date"
        in html
    )
    # Row 9 is empty in the spreadsheet and skipped, but still counted.
    assert "<strong>Row 10</strong> (TOO-FINE): quantity: 1.1234567 has more than 6 decimal" in html
    assert (
        "<strong>Row 11</strong> (NO-LOT): Cedar oil is lot-tracked: give the lot_code of its "
        "opening stock." in html
    )
    assert "(GOOD-1)" not in html  # a good row is not among the rows to fix
    assert "8 rows cannot be imported, so nothing will be" in html
    assert reverse("materials:import-confirm", args=[token]) not in html

    response = confirm(owner_client, token)
    assert response.status_code == 200
    assert "Nothing was imported" in response.text
    assert Material.objects.count() == 1  # the one that was there
    assert not Location.objects.filter(name="Storage").exists()
    assert Posting.objects.count() == 0


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ({"lot_tracked": "maybe"}, "lot_tracked: &#x27;maybe&#x27; is not yes or no."),
        ({"shelf_life_days": "12.5"}, "shelf_life_days: 12.5 is not a whole number of days."),
        ({"shelf_life_days": "99999"}, "shelf_life_days: 99999 is more than 36,500 days."),
        ({"reorder_point": "-1"}, "reorder_point: -1 cannot be negative."),
        ({"reorder_quantity": "0"}, "reorder_quantity: 0 must be more than 0."),
        ({"quantity": "0", "location": "Storage"}, "quantity: 0 must be more than 0"),
        ({"quantity": "100000000000000", "location": "Storage"}, "is too large."),
        ({"quantity": "1e3", "location": "Storage"}, "quantity: &#x27;1e3&#x27; is not a number."),
        ({"quantity": "10"}, "location is empty: say where the opening stock of Wax is."),
        ({"unit_cost": "1.5", "lot_code": "L1"}, "unit_cost, lot_code given but no quantity"),
        ({"quantity": "1,500", "location": "Storage"}, "could mean 1500 or 1.5"),
        ({"unit_cost": "-0.5", "quantity": "1", "location": "S"}, "unit_cost: -0.5 cannot be"),
        ({"sku": ""}, "sku is empty."),
        ({"name": " "}, "name is empty."),
        ({"unit": ""}, "unit is empty."),
        ({"sku": "X" * 65}, "sku is longer than 64 characters."),
    ],
)
def test_each_kind_of_bad_value_is_named_in_the_preview(owner_client, row, reason):
    _, response = preview_of(
        owner_client, csv_text({"sku": "X", "name": "Wax", "unit": "g", **row})
    )
    assert reason in response.text
    assert "badge-ok" not in response.text


def test_a_unit_cost_keeps_ten_decimal_places_as_the_ledger_does(owner_client):
    LocationFactory(name="Storage")
    text = csv_text(
        {
            "sku": "MICA-1",
            "name": "Mica",
            "unit": "g",
            "quantity": "500",
            "unit_cost": "0.0018337",
            "location": "Storage",
        },
        {
            "sku": "MICA-2",
            "name": "Mica gold",
            "unit": "g",
            "quantity": "5",
            "unit_cost": "0.00000000001",
            "location": "Storage",
        },
    )
    _, response = preview_of(owner_client, text)
    assert "(MICA-1)" not in response.text  # not among the rows to fix
    assert "unit_cost: 0.00000000001 has more than 10 decimal places." in response.text
    token, response = preview_of(
        owner_client,
        csv_text(
            {
                "sku": "MICA-1",
                "name": "Mica",
                "unit": "g",
                "quantity": "500",
                "unit_cost": "0.0018337",
                "location": "Storage",
            }
        ),
    )
    assert "badge-bad" not in response.text
    assert confirm(owner_client, token).status_code == 302
    assert Lot.objects.get(item__sku="MICA-1").unit_cost == D("0.0018337")


def test_half_an_each_is_refused_in_the_preview_not_at_confirm(owner_client):
    LocationFactory(name="Storage")
    token, response = preview_of(
        owner_client,
        csv_text(
            {
                "sku": "JAR-1",
                "name": "Amber jar",
                "unit": "each",
                "quantity": "12.5",
                "location": "Storage",
            }
        ),
    )
    assert "Amber jar is counted in whole pieces: 12.5 is not a whole number." in response.text
    assert reverse("materials:import-confirm", args=[token]) not in response.text
    assert "badge-ok" not in response.text


@pytest.mark.parametrize(
    "typed", ["1,500,000", "0,500", "1,500", "1,5", "1,500.25", "2 500", "1.5.0", "-0,5"]
)
def test_a_number_reads_the_same_in_the_csv_as_in_the_forms(typed):
    try:
        in_form, form_error = QuantityField(allow_zero=True).clean(typed), None
    except ValidationError as exc:
        in_form, form_error = None, exc.messages[0]
    row = csv_io.import_preview(
        csv_text({"sku": "X", "name": "Wax", "unit": "g", "reorder_point": typed})
    ).rows[0]
    assert row.reorder_point == in_form
    assert bool(row.errors) == bool(form_error)
    if form_error and "comma" in form_error:  # the parser's own explanation, in both
        assert row.errors == [f"reorder_point: {form_error}"]


def test_a_decimal_comma_after_a_zero_is_read_as_a_decimal_comma(owner_client):
    LocationFactory(name="Storage")
    token, response = preview_of(
        owner_client,
        csv_text(
            {
                "sku": "W",
                "name": "Wax",
                "unit": "kg",
                "quantity": "0,500",
                "unit_cost": "4,20",
                "location": "Storage",
            }
        ),
    )
    assert "badge-bad" not in response.text
    confirm(owner_client, token)
    assert Balance.objects.get().quantity == D("0.5")
    assert Lot.objects.get().unit_cost == D("4.2")


def test_a_row_with_more_cells_than_the_header_asks_for_quotes(owner_client):
    _, response = preview_of(owner_client, "sku,name,unit\nJAR-1,Jar, amber,each\n")
    assert "a value with a comma in it needs quotes around it." in response.text


def test_a_location_that_is_archived_cannot_take_opening_stock(owner_client):
    LocationFactory(name="Old shed", archived=True)
    _, response = preview_of(owner_client, f"{HEADER}\nX,Wax,,g,,,,,,,10,1,,,old shed\n")
    assert "Old shed is archived: stock cannot be put there." in response.text


def test_confirm_checks_again_and_imports_nothing_if_a_sku_was_taken_since_the_preview(
    owner_client,
):
    token, _ = preview_of(owner_client, CLEAN)
    MaterialFactory(item__sku="JAR-200", item__name="Clear jar")
    response = confirm(owner_client, token)
    assert response.status_code == 200
    assert "the materials changed since the preview" in response.text
    assert "SKU JAR-200 is already used by Clear jar." in response.text
    assert not Item.objects.filter(sku="WAX-464").exists()
    assert Posting.objects.count() == 0 and Lot.objects.count() == 0


# The file as a whole ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "The file is empty"),
        (b"\n\n", "The file is empty"),
        (b"sku,name,unit\n", "The file has a header row but no materials under it."),
        (b"sku,name\nW-1,Wax\n", "The header row has no unit column."),
        (b"WAX-1,Soy wax,g\n", "The header row has no sku or name or unit column."),
        (b"sku,name,unit,sku\nA,B,g,C\n", "The column sku appears twice in the header row."),
        ("sku,name,unit\nW-1,Crème,g\n".encode("latin-1"), "The file is not UTF-8 text."),
        (b"PK\x03\x04rest-of-a-workbook", "This is a spreadsheet workbook, not a CSV file."),
    ],
)
def test_a_file_that_cannot_be_imported_says_why_on_the_upload_page(owner_client, content, message):
    response = upload(owner_client, content)
    assert response.status_code == 200
    assert message in response.text
    assert Item.objects.count() == 0


def test_a_file_over_one_megabyte_is_refused(owner_client):
    row = "W-{n},Soy wax with a very long name to fill the file up quickly,g\n"
    text = "sku,name,unit\n" + "".join(row.format(n=n) for n in range(20000))
    assert len(text.encode()) > 1024 * 1024
    response = upload(owner_client, text)
    assert "MB; the limit is 1 MB. Split it into smaller files." in response.text
    assert Item.objects.count() == 0


def test_a_file_over_five_thousand_rows_is_refused(owner_client):
    text = "sku,name,unit\n" + "".join(f"W{n},Wax,g\n" for n in range(5001))
    response = upload(owner_client, text)
    assert "The file has 5,001 rows of materials; the limit is 5,000." in response.text


def test_five_thousand_rows_with_stock_import_in_one_posting(owner_client):
    text = "sku,name,unit,quantity,unit_cost,location\n" + "".join(
        f"W{n},Wax {n},g,{n + 1},0.01,Storage\n" for n in range(5000)
    )
    token, response = preview_of(owner_client, text)
    assert "Import 5000 materials" in response.text
    confirm(owner_client, token)
    assert Item.objects.count() == 5000
    assert Posting.objects.get().movements.count() == 5000
    assert Balance.objects.get(lot__item__sku="W4999").quantity == D("5000")


# Twice ------------------------------------------------------------------------------------


def test_confirming_twice_imports_once_and_says_so(owner_client):
    token, _ = preview_of(owner_client, CLEAN)
    confirm(owner_client, token)
    again = confirm(owner_client, token)
    assert again.status_code == 302
    assert messages_of(again)[-1] == "This file was already imported; nothing was imported twice."
    assert Material.objects.count() == 3 and Posting.objects.count() == 1


def test_confirming_twice_a_file_without_stock_imports_once(owner_client):
    token, _ = preview_of(owner_client, "sku,name,unit\nJAR-1,Jar,each\n")
    confirm(owner_client, token)
    again = confirm(owner_client, token)
    assert messages_of(again)[-1] == "This file was already imported; nothing was imported twice."
    assert Material.objects.count() == 1


def test_the_import_service_with_the_same_key_twice_imports_once(owner):
    token = key()
    first = csv_io.materials_import(text=CLEAN, user=owner, idempotency_key=token)
    second = csv_io.materials_import(text=CLEAN, user=owner, idempotency_key=token)
    assert not first.replayed and first.materials == 3
    assert second.replayed and second.posting == first.posting
    assert Material.objects.count() == 3 and Lot.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_two_confirms_at_the_same_moment_import_once():
    LocationFactory(name="Storage")
    token = key()

    def confirm_once(i):
        return csv_io.materials_import(text=CLEAN, user=None, idempotency_key=token)

    results = run_together(4, confirm_once)
    assert all(isinstance(r, csv_io.ImportResult) for r in results), results
    assert sum(not r.replayed for r in results) == 1
    assert Material.objects.count() == 3 and Posting.objects.count() == 1
    assert ledger_violations() == []


def test_an_old_preview_is_not_confirmed_after_a_newer_upload(owner_client):
    old_token, _ = preview_of(owner_client, CLEAN)
    preview_of(owner_client, "sku,name,unit\nJAR-1,Jar,each\n")
    response = confirm(owner_client, old_token)
    assert response["Location"] == reverse("materials:import")
    assert "no longer waiting" in messages_of(response)[0]
    assert Material.objects.count() == 0


# Export -----------------------------------------------------------------------------------


@pytest.fixture
def stocked(db):
    """Wax with two lots in two places, a lot-tracked oil, and a jar with no stock."""
    storage, bench = LocationFactory(name="Storage"), LocationFactory(name="Bench")
    wax = MaterialFactory(
        item__sku="WAX-464", item__name="Soy wax 464", item__unit="g", reorder_point=D("500")
    )
    receive(wax.item, storage, "5000", unit_cost="0.0042", code="W-1")
    receive(wax.item, bench, "250", unit_cost="0.005", code="W-2")
    oil = MaterialFactory(item__sku="FO-LAV", item__name="Lavender oil", item__unit="ml")
    expiry = timezone.localdate() + timedelta(days=300)
    receive(oil.item, storage, "100", unit_cost="0.08", code="LAV-1", expiry_date=expiry)
    MaterialFactory(item__sku="JAR-200", item__name="Amber jar", item__unit="each")
    return {"wax": wax, "oil": oil, "storage": storage, "expiry": expiry}


def test_materials_csv_has_the_import_columns_with_on_hand_and_value(viewer_client, stocked):
    response = viewer_client.get(reverse("materials:export-materials"))
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    today = timezone.localdate().isoformat()
    assert response["Content-Disposition"] == (
        f'attachment; filename="loomworks-materials-{today}.csv"'
    )
    rows = {r["sku"]: r for r in read_csv(response)}
    assert list(rows) == ["JAR-200", "FO-LAV", "WAX-464"]  # by name
    wax = rows["WAX-464"]
    assert (wax["name"], wax["unit"], wax["reorder_point"]) == ("Soy wax 464", "g", "500")
    assert (wax["on_hand"], wax["value"]) == ("5250", "22.25")  # 5000 x 0.0042 + 250 x 0.005
    assert (rows["JAR-200"]["on_hand"], rows["JAR-200"]["value"]) == ("0", "0.00")
    assert set(csv_io.COLUMN_NAMES[:10]) <= set(wax)


def test_lots_csv_has_one_row_per_lot_and_location_with_stock(viewer_client, stocked):
    empty = receive(stocked["oil"].item, stocked["storage"], "5", code="LAV-0")
    draw(empty, stocked["storage"], "5")  # a lot that ran out
    response = viewer_client.get(reverse("materials:export-lots"))
    assert "loomworks-lots-" in response["Content-Disposition"]
    rows = read_csv(response)
    assert [(r["sku"], r["lot_code"], r["location"], r["quantity"]) for r in rows] == [
        ("FO-LAV", "LAV-1", "Storage", "100"),
        ("WAX-464", "W-1", "Storage", "5000"),
        ("WAX-464", "W-2", "Bench", "250"),
    ]
    lav = rows[0]
    assert (lav["unit"], lav["unit_cost"], lav["value"]) == ("ml", "0.08", "8.00")
    assert lav["expiry_date"] == stocked["expiry"].isoformat() and lav["quarantined"] == "no"


def test_receipts_csv_has_one_row_per_delivery_line(viewer_client, stocked):
    supplier = SupplierFactory(name="Wick & Wax Supply Co.")
    receipt = services.receipt_create(
        supplier=supplier,
        lines=[
            ReceiptLineInput(
                material=stocked["wax"],
                quantity=D("10"),
                unit="lb",
                location=stocked["storage"],
                price=D("30.00"),
                lot_code="W-10LB",
            ),
            ReceiptLineInput(
                material=stocked["oil"],
                quantity=D("500"),
                unit="ml",
                location=stocked["storage"],
                price=D("10.00"),
                lot_code="LAV-2",
            ),
        ],
        shipping=D("4.00"),
        reference="INV-204",
        user=None,
        idempotency_key=key(),
    )
    rows = read_csv(viewer_client.get(reverse("materials:export-receipts")))
    assert len(rows) == 2
    wax = rows[0]
    assert wax["receipt"] == str(receipt.pk) and wax["supplier"] == "Wick & Wax Supply Co."
    assert (wax["reference"], wax["sku"], wax["material"]) == ("INV-204", "WAX-464", "Soy wax 464")
    assert (wax["entered_quantity"], wax["entered_unit"]) == ("10", "lb")
    assert (wax["quantity"], wax["unit"]) == ("4535.9237", "g")
    assert (wax["price"], wax["shipping_share"], wax["lot_code"]) == ("30", "3", "W-10LB")
    assert wax["unit_cost"] == "0.0072752547"  # 33.00 / 4535.9237, to ten places
    assert rows[1]["shipping_share"] == "1" and rows[1]["lot_code"] == "LAV-2"


def test_exported_cells_that_a_spreadsheet_would_run_begin_with_a_quote(viewer_client):
    MaterialFactory(
        item__sku="+SKU",
        item__name='=HYPERLINK("http://evil.example","click")',
        notes="-5 notes",
        category=CategoryFactory(name="@x"),
    )
    text = viewer_client.get(reverse("materials:export-materials")).content.decode("utf-8-sig")
    row = list(csv.reader(io.StringIO(text)))[1]
    assert row[:3] == ["'+SKU", '\'=HYPERLINK("http://evil.example","click")', "'@x"]
    assert row[9] == "'-5 notes"


def test_an_exported_materials_file_imports_again_as_it_was(owner_client):
    MaterialFactory(
        item__sku="FO-LAV",
        item__name="=Lavender oil",
        item__unit="ml",
        item__lot_tracked=True,
        item__shelf_life_days=540,
        reorder_point=D("250"),
        reorder_quantity=D("1000"),
        preferred_supplier=SupplierFactory(name="Scent Works"),
        notes="IFRA cat. 4, at most 10 %",
    )
    exported = owner_client.get(reverse("materials:export-materials")).content
    material = Material.objects.get()
    material.delete()
    material.item.delete()

    token, response = preview_of(owner_client, exported)
    assert "Ignored columns" in response.text and "archived, on_hand, value" in response.text
    confirm(owner_client, token)
    assert owner_client.get(reverse("materials:export-materials")).content == exported


def test_each_export_reads_in_the_same_number_of_queries_for_3_or_30_materials(
    viewer_client, stocked
):
    supplier = SupplierFactory()

    def queries(name):
        with CaptureQueriesContext(connection) as ctx:
            assert viewer_client.get(reverse(name)).status_code == 200
        return len(ctx)

    def add_materials(n):
        for _ in range(n):
            material = MaterialFactory(preferred_supplier=supplier)
            services.receipt_create(
                supplier=supplier,
                lines=[
                    ReceiptLineInput(
                        material=material,
                        quantity=D("5"),
                        unit="g",
                        location=stocked["storage"],
                        price=D("1"),
                    )
                ],
                user=None,
                idempotency_key=key(),
            )

    names = ["materials:export-materials", "materials:export-lots", "materials:export-receipts"]
    add_materials(1)
    few = [queries(name) for name in names]
    add_materials(27)
    assert [queries(name) for name in names] == few


# Who may ----------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["maker_client", "viewer_client"])
def test_makers_and_viewers_cannot_import(request, who, owner):
    client = request.getfixturevalue(who)
    assert client.get(reverse("materials:import")).status_code == 403
    assert upload(client, CLEAN).status_code == 403
    assert client.get(reverse("materials:import-preview", args=["abc"])).status_code == 403
    assert confirm(client, "abc").status_code == 403
    assert Item.objects.count() == 0


@pytest.mark.parametrize("who", ["owner_client", "maker_client", "viewer_client"])
def test_every_role_can_export(request, who):
    client = request.getfixturevalue(who)
    for name in [
        "materials:export-materials",
        "materials:export-lots",
        "materials:export-receipts",
    ]:
        response = client.get(reverse(name))
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/csv")


@pytest.mark.parametrize(("who", "sees_import"), [("owner", True), ("viewer", False)])
def test_the_csv_links_offer_the_import_to_owners_only(request, rf, who, sees_import):
    page = rf.get("/materials/")
    page.user = request.getfixturevalue(who)
    html = render_to_string("materials/_import_export_links.html", request=page)
    assert reverse("materials:export-materials") in html
    assert reverse("materials:export-lots") in html
    assert (reverse("materials:import") in html) == sees_import
