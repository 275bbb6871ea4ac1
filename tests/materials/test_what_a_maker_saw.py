"""Issue 17: what a maker saw on the materials and stock pages, each fixed as they would expect."""

from decimal import Decimal as D

import pytest
from django.core.management import call_command
from django.urls import reverse

from materials import services
from materials.models import Material, Receipt
from stock.models import Lot, Posting
from stock.services import posting_reverse
from tests.materials.factories import MaterialFactory
from tests.materials.test_csv import confirm, preview_of
from tests.materials.test_pages import receive_form
from tests.stock.factories import LocationFactory, key

pytestmark = pytest.mark.django_db


def deliver(supplier, material, location, quantity="10", unit="lb", price="32.00", **kwargs):
    return services.receipt_create(
        supplier=supplier,
        lines=[
            services.ReceiptLineInput(
                material=material,
                quantity=D(quantity),
                unit=unit,
                location=location,
                price=D(price),
            )
        ],
        user=None,
        idempotency_key=key(),
        **kwargs,
    )


# 1. Unit costs -----------------------------------------------------------------------------


def test_two_close_unit_costs_look_different_and_money_stays_to_the_cent(
    viewer_client, supplier, soy_wax, storage
):
    receipt = deliver(supplier, soy_wax, storage, price="32.00")
    html = viewer_client.get(reverse("materials:receipt", args=[receipt.pk])).text
    assert "EUR 0.0070548 / g" in html  # 32.00 / 4,535.9237 g, not "0.0071"
    assert "EUR 32.00" in html


# 2. One number per thing ---------------------------------------------------------------------


def test_a_deliverys_lots_are_named_after_it_and_its_posting_says_which_delivery_it_is(
    viewer_client, supplier, soy_wax, jars, storage
):
    services.receipt_create(  # another posting first, so posting and delivery numbers differ
        supplier=supplier,
        lines=[services.ReceiptLineInput(soy_wax, D("1"), "g", storage, price=D("1"))],
        user=None,
        idempotency_key=key(),
        reference="INV-0",
    )
    posting_reverse(posting=Posting.objects.get(), note="typo", user=None, idempotency_key=key())
    receipt = services.receipt_create(
        supplier=supplier,
        lines=[
            services.ReceiptLineInput(soy_wax, D("2"), "kg", storage, price=D("8")),
            services.ReceiptLineInput(jars, D("12"), "each", storage, price=D("9")),
        ],
        user=None,
        idempotency_key=key(),
        reference="INV-1",
    )
    codes = sorted(line.lot.code for line in receipt.lines.all())
    assert codes == [f"D{receipt.pk}-1", f"D{receipt.pk}-2"]
    assert receipt.posting.reference == f"Delivery #{receipt.pk} · {supplier.name} INV-1"
    lot = Lot.objects.get(code=f"D{receipt.pk}-1")
    html = viewer_client.get(reverse("stock:lot", args=[lot.pk])).text
    assert f'by system, <a href="/stock/postings/{receipt.posting_id}/">Delivery #' in html
    assert f"Receipt #{receipt.posting_id}" not in html


def test_a_lot_tracked_line_keeps_the_suppliers_code(supplier, lavender, storage):
    receipt = services.receipt_create(
        supplier=supplier,
        lines=[
            services.ReceiptLineInput(
                lavender, D("500"), "ml", storage, price=D("44.5"), lot_code="LAV-2611"
            )
        ],
        user=None,
        idempotency_key=key(),
    )
    assert receipt.lines.get().lot.code == "LAV-2611"


def test_the_same_delivery_form_sent_twice_is_one_delivery_with_the_same_lot_names(
    supplier, soy_wax, storage
):
    same_key = key()
    line = services.ReceiptLineInput(soy_wax, D("2"), "kg", storage, price=D("8"))
    first = services.receipt_create(
        supplier=supplier, lines=[line], user=None, idempotency_key=same_key, reference="A-1"
    )
    again = services.receipt_create(
        supplier=supplier, lines=[line], user=None, idempotency_key=same_key, reference="A-1"
    )
    assert again.pk == first.pk and getattr(again, "replayed", False)
    assert Receipt.objects.count() == 1 and Lot.objects.get().code == f"D{first.pk}"


# 3. The same invoice twice -----------------------------------------------------------------


def test_a_second_delivery_with_the_same_invoice_asks_before_it_is_saved(
    maker_client, supplier, soy_wax, storage
):
    deliver(supplier, soy_wax, storage, reference="INV-2611")
    data = receive_form(
        supplier,
        storage,
        [{"material": soy_wax, "quantity": "5", "unit": "kg", "price": "30"}],
        reference="inv-2611 ",
    )
    response = maker_client.post(reverse("materials:receive"), data)
    assert response.status_code == 200
    assert "was already received as Delivery #" in response.text
    assert "Yes, save this delivery too" in response.text
    assert Receipt.objects.count() == 1

    response = maker_client.post(reverse("materials:receive"), {**data, "same_reference_ok": "on"})
    assert response.status_code == 302
    assert Receipt.objects.count() == 2


def test_the_same_reference_from_another_supplier_is_no_warning(
    maker_client, supplier, soy_wax, storage
):
    from tests.materials.factories import SupplierFactory

    deliver(SupplierFactory(name="Botanica"), soy_wax, storage, reference="INV-1")
    data = receive_form(
        supplier, storage, [{"material": soy_wax, "quantity": "5", "price": "3"}], reference="INV-1"
    )
    assert maker_client.post(reverse("materials:receive"), data).status_code == 302


# 4. Duplicate names ------------------------------------------------------------------------


def test_a_new_material_with_a_name_already_used_asks_first(owner_client, soy_wax):
    data = {"sku": "WAX-2", "name": "soy WAX 464", "unit": "g"}
    response = owner_client.post(reverse("materials:new"), data)
    assert response.status_code == 200
    assert "WAX-464 is already called Soy wax 464" in response.text
    assert "Save with this name anyway" in response.text
    assert Material.objects.count() == 1
    response = owner_client.post(reverse("materials:new"), {**data, "same_name_ok": "on"})
    assert response.status_code == 302 and Material.objects.count() == 2


def test_the_import_warns_of_names_used_twice_and_imports_them_all_the_same(owner_client):
    MaterialFactory(item__name="Amber jar 200 ml", item__sku="JAR-A")
    text = "sku,name,unit\nJAR-B,amber jar 200 ml,each\nWICK-1,Wick,each\nWICK-2,WICK,each\n"
    token, response = preview_of(owner_client, text)
    assert "JAR-A is already called Amber jar 200 ml" in response.text
    assert "the name is also on row 4" in response.text and "also on row 3" in response.text
    assert "badge-bad" not in response.text
    assert confirm(owner_client, token).status_code == 302
    assert Material.objects.count() == 4


# 5. The README's example -------------------------------------------------------------------


def test_the_readmes_example_imports_into_the_demo_workshop(owner_client, settings):
    call_command("seed_demo", password="wax-and-wick-42")
    before = Material.objects.count()
    example = (settings.BASE_DIR / "docs/examples/materials-import.csv").read_text("utf-8")
    token, response = preview_of(owner_client, example)
    assert "badge-bad" not in response.text and "already called" not in response.text
    assert confirm(owner_client, token).status_code == 302
    assert Material.objects.count() == before + 7


# 6. Lists and forms ------------------------------------------------------------------------


def test_an_a_to_z_list_pages_by_previous_and_next(viewer_client):
    for n in range(60):
        MaterialFactory(item__name=f"Material {n:02}", item__sku=f"M-{n:02}")
    html = viewer_client.get(reverse("materials:list") + "?page=2").text
    assert "Previous" in html and "Newer" not in html and "Older" not in html


def test_materials_sort_whatever_their_case(viewer_client):
    MaterialFactory(item__name="Wooden wick", item__sku="W-1")
    MaterialFactory(item__name="soy wax", item__sku="S-1")
    html = viewer_client.get(reverse("materials:list")).text
    assert html.index("soy wax") < html.index("Wooden wick")


def test_the_postings_list_marks_reversals_and_says_what_was_involved(
    viewer_client, supplier, soy_wax, jars, storage
):
    receipt = services.receipt_create(
        supplier=supplier,
        lines=[
            services.ReceiptLineInput(soy_wax, D("2"), "kg", storage, price=D("8")),
            services.ReceiptLineInput(jars, D("12"), "each", storage, price=D("9")),
        ],
        user=None,
        idempotency_key=key(),
    )
    posting_reverse(
        posting=receipt.posting, note="wrong supplier", user=None, idempotency_key=key()
    )
    html = viewer_client.get(reverse("stock:postings")).text
    row = html.split(f">#{receipt.posting_id}</a>")[1].split("</tr>")[0]
    assert 'badge-bad">reversed' in row
    assert "<strong>Soy wax 464</strong> and 1 more" in row


def test_a_number_too_large_is_refused_in_the_apps_words(maker_client, supplier, soy_wax, storage):
    data = receive_form(
        supplier, storage, [{"material": soy_wax, "quantity": "1" + "0" * 20, "price": "3"}]
    )
    response = maker_client.post(reverse("materials:receive"), data)
    assert "That is more than Loomworks can hold" in response.text
    assert "Ensure that there are no more than" not in response.text


def test_a_line_error_is_shown_once(maker_client, supplier, soy_wax, storage):
    data = receive_form(supplier, storage, [{"material": soy_wax, "quantity": "-2", "price": "3"}])
    response = maker_client.post(reverse("materials:receive"), data)
    assert response.text.count("Enter a quantity above zero.") == 1
    assert '<span class="error-field">quantity</span>' in response.text


def test_the_line_preview_shows_the_conversion_before_a_price_is_typed(maker_client, soy_wax):
    response = maker_client.post(
        reverse("materials:receive-line-preview"),
        {
            "line": "lines-0",
            "lines-0-material": soy_wax.pk,
            "lines-0-quantity": "10",
            "lines-0-unit": "lb",
            "lines-0-price_kind": "total",
        },
        HTTP_HX_REQUEST="true",
    )
    assert "10 lb = 4,535.924 g" in response.text
    assert "type the price to see the cost per g" in response.text


def test_a_lots_movements_show_the_change_with_its_unit(viewer_client, supplier, soy_wax, storage):
    receipt = deliver(supplier, soy_wax, storage, quantity="2", unit="kg", price="8")
    lot = receipt.lines.get().lot
    html = viewer_client.get(reverse("stock:lot", args=[lot.pk])).text
    assert '<span class="nowrap">+2,000 g</span>' in html


def test_the_delivery_line_offers_only_units_its_material_converts_from(maker_client, db):
    wax = MaterialFactory(item__name="Soy wax", item__sku="WAX", item__unit="g")
    jar = MaterialFactory(item__name="Jar", item__sku="JAR", item__unit="each")
    url = reverse("materials:receive-line-preview")
    html = maker_client.post(url, {"line": "lines-0", "lines-0-material": wax.pk}).content.decode()
    assert 'hx-swap-oob="true"' in html and ">kg<" in html and ">lb<" in html
    assert ">ml<" not in html and ">each<" not in html
    html = maker_client.post(url, {"line": "lines-0", "lines-0-material": jar.pk}).content.decode()
    assert "each (its own unit)" in html and ">kg<" not in html


def test_a_count_sheet_links_to_putting_in_a_lot_found_on_the_shelf(maker_client, db):
    storage = LocationFactory(name="Storage")
    html = maker_client.get(reverse("stock:count"), {"location": storage.pk}).content.decode()
    assert "Put it in as found stock" in html
    form = maker_client.get(
        reverse("stock:adjust"), {"location": storage.pk, "direction": "in", "reason": "found"}
    ).content.decode()
    assert 'value="found" selected' in form
