import csv
import io
from datetime import timedelta
from decimal import Decimal as D

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from materials import services
from materials.models import Category, Material, Receipt, Supplier
from stock.models import Balance, Item
from stock.services import lot_hold
from tests.materials.factories import CategoryFactory, MaterialFactory, SupplierFactory
from tests.stock.factories import key

pytestmark = pytest.mark.django_db


def stock_up(material, location, quantity, unit, price="10", supplier=None, **kwargs):
    return services.receipt_create(
        supplier=supplier or SupplierFactory(),
        lines=[
            services.ReceiptLineInput(
                material=material,
                quantity=D(quantity),
                unit=unit,
                location=location,
                price=D(price),
                **kwargs,
            )
        ],
        user=None,
        idempotency_key=key(),
    )


def receive_form(from_supplier, location, lines, **header):
    data = {
        "supplier": from_supplier.pk,
        "reference": f"INV-{key()[:6]}",  # each delivery its own invoice
        "received_on": timezone.localdate().isoformat(),
        "location": location.pk,
        "shipping": "",
        "notes": "",
        "idempotency_key": key(),
        "lines-TOTAL_FORMS": str(len(lines) + 1),
        "lines-INITIAL_FORMS": "0",
        "lines-MIN_NUM_FORMS": "0",
        "lines-MAX_NUM_FORMS": "60",
    }
    data.update(header)
    blank = {"material": "", "quantity": "", "unit": "", "price": "", "price_kind": "total"}
    for i, line in enumerate([*lines, blank]):
        for field in ("material", "quantity", "unit", "price", "price_kind", "lot_code"):
            value = line.get(field, "total" if field == "price_kind" else "")
            data[f"lines-{i}-{field}"] = value.pk if hasattr(value, "pk") else value
        data[f"lines-{i}-expiry_date"] = line.get("expiry_date", "")
        data[f"lines-{i}-location"] = ""
    return data


# The list ------------------------------------------------------------------------------------


def test_the_list_shows_stock_value_and_status(viewer_client, soy_wax, jars, storage):
    soy_wax.reorder_point = D("5000")
    soy_wax.save()
    stock_up(soy_wax, storage, "4", "kg", price="16.00")
    html = viewer_client.get(reverse("materials:list")).content.decode()
    assert "Soy wax 464" in html and "4,000 g" in html and "EUR 16.00" in html
    assert "Reorder" in html  # 4,000 g is under the 5,000 g reorder point
    assert "Amber jar" in html and ">Out<" in html


def test_the_list_filters_by_category_supplier_status_and_search(
    viewer_client, soy_wax, jars, storage
):
    packaging = CategoryFactory(name="Packaging")
    jars.category = packaging
    jars.save()
    glass = SupplierFactory(name="Glass Co")
    stock_up(jars, storage, "10", "each", supplier=glass)

    def names(**params):
        html = viewer_client.get(reverse("materials:list"), params).content.decode()
        return {n for n in ("Soy wax 464", "Amber jar") if n in html}

    assert names(category=packaging.pk) == {"Amber jar"}
    assert names(supplier=glass.pk) == {"Amber jar"}
    assert names(status="out") == {"Soy wax 464"}
    assert names(q="WAX-4") == {"Soy wax 464"}


def test_the_list_reads_in_the_same_number_of_queries_for_3_or_30_materials(viewer_client, storage):
    def queries():
        with CaptureQueriesContext(connection) as ctx:
            assert viewer_client.get(reverse("materials:list")).status_code == 200
        return len(ctx)

    supplier = SupplierFactory()
    for _ in range(3):
        stock_up(MaterialFactory(), storage, "5", "g", supplier=supplier)
    few = queries()
    for _ in range(22):
        stock_up(MaterialFactory(), storage, "5", "g", supplier=supplier)
    assert queries() == few


def test_a_material_page_shows_lots_history_and_prices(viewer_client, lavender, storage, supplier):
    stock_up(lavender, storage, "500", "ml", price="44.50", supplier=supplier, lot_code="LAV-2611")
    html = viewer_client.get(reverse("materials:detail", args=[lavender.pk])).content.decode()
    assert "LAV-2611" in html and "500 ml" in html
    assert supplier.name in html and "EUR 0.089" in html
    assert "Delivery #" in html  # its history names the delivery, not a posting


# Reorder -------------------------------------------------------------------------------------


def test_the_reorder_list_groups_by_supplier_and_suggests_a_quantity(
    viewer_client, soy_wax, jars, storage, supplier
):
    soy_wax.reorder_point = D("5000")
    soy_wax.preferred_supplier = supplier
    soy_wax.save()
    jars.reorder_point = D("10")
    jars.reorder_quantity = D("96")
    jars.save()
    stock_up(soy_wax, storage, "2", "kg")
    stock_up(jars, storage, "50", "each")  # above its reorder point: not listed
    html = viewer_client.get(reverse("materials:reorder")).content.decode()
    assert supplier.name in html and "Soy wax 464" in html and "8,000 g" in html
    assert "Amber jar" not in html
    jars.reorder_point = D("60")
    jars.save()
    response = viewer_client.get(reverse("materials:reorder"), {"format": "csv"})
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["supplier", "sku", "material"]
    suggested = {row[1]: row[5] for row in rows[1:]}
    assert D(suggested["WAX-464"]) == D("8000")  # twice the reorder point less what is there
    assert D(suggested["JAR-200"]) == D("96")  # the usual order


# Receiving -----------------------------------------------------------------------------------


def test_a_maker_receives_a_delivery_in_pounds_and_sees_it(
    maker_client, supplier, soy_wax, storage
):
    data = receive_form(
        supplier, storage, [{"material": soy_wax, "quantity": "10", "unit": "lb", "price": "9.98"}]
    )
    response = maker_client.post(reverse("materials:receive"), data, follow=True)
    html = response.content.decode()
    assert "received" in html and "4,535.924 g" in html
    assert Balance.objects.get().quantity == D("4535.9237")


def test_a_double_tapped_delivery_is_received_once(maker_client, supplier, soy_wax, storage):
    data = receive_form(
        supplier, storage, [{"material": soy_wax, "quantity": "1", "unit": "kg", "price": "4"}]
    )
    maker_client.post(reverse("materials:receive"), data)
    response = maker_client.post(reverse("materials:receive"), data, follow=True)
    assert "already saved" in response.content.decode()
    assert Receipt.objects.count() == 1


@pytest.mark.parametrize(
    "line, message",
    [
        ({"quantity": "ten", "unit": "kg", "price": "4"}, "Enter a number, like 250 or 1.5."),
        ({"quantity": "0", "unit": "kg", "price": "4"}, "Enter a quantity above zero."),
        ({"quantity": "1", "unit": "each", "price": "4"}, "is counted in g: a quantity in each"),
        ({"quantity": "1", "unit": "kg", "price": "-4"}, "Enter an amount of zero or more."),
        ({"quantity": "1", "unit": "kg", "price": "lots"}, "Enter an amount, like 12.50."),
        ({"quantity": "1.0000001", "unit": "kg", "price": "1"}, "at most 6 decimal places"),
    ],
)
def test_a_bad_line_is_explained_and_nothing_is_received(
    maker_client, supplier, soy_wax, storage, line, message
):
    data = receive_form(supplier, storage, [{"material": soy_wax, **line}])
    response = maker_client.post(reverse("materials:receive"), data)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Receipt.objects.exists() and not Balance.objects.exists()


def test_a_lot_tracked_line_asks_for_the_supplier_lot_code(
    maker_client, supplier, lavender, storage
):
    data = receive_form(
        supplier, storage, [{"material": lavender, "quantity": "100", "unit": "ml", "price": "9"}]
    )
    html = maker_client.post(reverse("materials:receive"), data).content.decode()
    assert "Lavender oil is lot-tracked: copy the supplier&#x27;s lot code." in html
    assert not Receipt.objects.exists()


def test_a_delivery_without_lines_or_supplier_is_refused(maker_client, supplier, storage):
    data = receive_form(supplier, storage, [], supplier="")
    html = maker_client.post(reverse("materials:receive"), data).content.decode()
    assert "This field is required." in html
    assert "Add at least one line: a material and a quantity." in html
    assert not Receipt.objects.exists()


def test_the_line_preview_shows_the_conversion_and_unit_cost(maker_client, soy_wax):
    response = maker_client.post(
        reverse("materials:receive-line-preview"),
        {
            "line": "lines-2",
            "lines-0-material": soy_wax.pk,
            "lines-0-quantity": "99",
            "lines-0-price": "1",
            "lines-2-material": soy_wax.pk,
            "lines-2-quantity": "10",
            "lines-2-unit": "lb",
            "lines-2-price": "9.98",
            "lines-2-price_kind": "total",
        },
        HTTP_HX_REQUEST="true",
    )
    assert response.content.decode().split(" <span")[0] == (
        "10 lb = 4,535.924 g at EUR 0.0022002 per g"
    )


def test_the_line_preview_explains_a_unit_that_does_not_fit(maker_client, jars):
    response = maker_client.post(
        reverse("materials:receive-line-preview"),
        {
            "line": "lines-0",
            "lines-0-material": jars.pk,
            "lines-0-quantity": "2",
            "lines-0-unit": "kg",
            "lines-0-price": "5",
            "lines-0-price_kind": "total",
        },
    )
    assert "Amber jar is counted in each: a quantity in kg cannot be converted." in (
        response.content.decode()
    )


def test_a_viewer_cannot_receive(viewer_client, supplier, soy_wax, storage):
    assert viewer_client.get(reverse("materials:receive")).status_code == 403
    data = receive_form(
        supplier, storage, [{"material": soy_wax, "quantity": "1", "unit": "kg", "price": "4"}]
    )
    assert viewer_client.post(reverse("materials:receive"), data).status_code == 403
    assert not Receipt.objects.exists()


# The catalog ---------------------------------------------------------------------------------


def material_form(**fields):
    data = {
        "sku": "WAX-NEW",
        "name": "Rapeseed wax",
        "category": "",
        "unit": "g",
        "shelf_life_days": "",
        "reorder_point": "",
        "reorder_quantity": "",
        "preferred_supplier": "",
        "notes": "",
    }
    data.update(fields)
    return data


def test_an_owner_adds_a_material_that_becomes_a_ledger_item(owner_client):
    response = owner_client.post(
        reverse("materials:new"), material_form(reorder_point="2000", lot_tracked="on")
    )
    assert response.status_code == 302
    material = Material.objects.select_related("item").get()
    assert material.item.sku == "WAX-NEW" and material.item.lot_tracked
    assert material.reorder_point == D("2000")


def test_a_duplicate_sku_is_refused_on_the_form(owner_client, soy_wax):
    response = owner_client.post(reverse("materials:new"), material_form(sku="wax-464"))
    assert "SKU wax-464 is already used by Soy wax 464." in response.content.decode()
    assert Material.objects.count() == 1


def test_bad_catalog_numbers_are_explained(owner_client):
    html = owner_client.post(
        reverse("materials:new"), material_form(reorder_point="-3", shelf_life_days="a year")
    ).content.decode()
    assert "Enter a whole number." in html
    assert "Enter zero or more." in html
    assert not Item.objects.exists()


def test_the_unit_cannot_change_once_stock_is_booked(owner_client, soy_wax, storage):
    stock_up(soy_wax, storage, "1", "kg")
    response = owner_client.post(
        reverse("materials:edit", args=[soy_wax.pk]),
        material_form(sku="WAX-464", name="Soy wax 464", unit="ml"),
    )
    assert (
        "Soy wax 464 already has stock in g; its unit cannot change." in response.content.decode()
    )
    soy_wax.item.refresh_from_db()
    assert soy_wax.item.unit == "g"


def test_an_owner_archives_a_material_and_it_leaves_the_list(owner_client, soy_wax):
    owner_client.post(
        reverse("materials:edit", args=[soy_wax.pk]),
        material_form(sku="WAX-464", name="Soy wax 464", archived="on"),
        follow=True,
    )
    html = owner_client.get(reverse("materials:list")).content.decode()
    assert "Soy wax 464" not in html
    html = owner_client.get(reverse("materials:list"), {"include_archived": "on"}).content.decode()
    assert "Soy wax 464" in html


def test_a_material_that_still_holds_stock_cannot_be_archived(owner_client, soy_wax, storage):
    stock_up(soy_wax, storage, "1.5", "kg")
    response = owner_client.post(
        reverse("materials:edit", args=[soy_wax.pk]),
        material_form(sku="WAX-464", name="Soy wax 464 (old)", archived="on"),
    )
    assert response.status_code == 200
    assert (
        "Soy wax 464 still holds stock (1,500 g): use it up or count it out before archiving."
        in response.content.decode()
    )
    soy_wax.item.refresh_from_db()
    assert (soy_wax.item.name, soy_wax.item.archived) == ("Soy wax 464", False)  # nothing saved
    assert "Soy wax 464" in owner_client.get(reverse("materials:list")).content.decode()


def test_a_maker_cannot_edit_the_catalog_or_prices(maker_client, soy_wax, supplier):
    assert maker_client.get(reverse("materials:new")).status_code == 403
    assert maker_client.post(reverse("materials:new"), material_form()).status_code == 403
    response = maker_client.post(
        reverse("materials:price", args=[soy_wax.pk]),
        {"supplier": supplier.pk, "supplier_sku": "X", "unit_price": "1"},
    )
    assert response.status_code == 403
    assert maker_client.post(reverse("materials:supplier-new"), {"name": "X"}).status_code == 403
    assert Material.objects.count() == 1 and Supplier.objects.count() == 1


def test_an_owner_records_a_supplier_price(owner_client, soy_wax, supplier):
    owner_client.post(
        reverse("materials:price", args=[soy_wax.pk]),
        {"supplier": supplier.pk, "supplier_sku": "SW-464-20", "unit_price": "0.0041"},
    )
    price = soy_wax.prices.get()
    assert (price.supplier_sku, price.unit_price) == ("SW-464-20", D("0.0041"))
    response = owner_client.post(
        reverse("materials:price", args=[soy_wax.pk]),
        {"supplier": supplier.pk, "unit_price": "cheap"},
        follow=True,
    )
    assert "Price not saved." in response.content.decode()


def test_suppliers_are_added_and_a_duplicate_name_is_refused(owner_client, supplier):
    response = owner_client.post(
        reverse("materials:supplier-new"),
        {"name": "Botanica Oils", "email": "trade@botanica.example", "website": "botanica.example"},
    )
    assert response.status_code == 302
    assert Supplier.objects.get(name="Botanica Oils").website == "https://botanica.example"
    html = owner_client.post(
        reverse("materials:supplier-new"), {"name": "botanica oils", "email": "not-an-email"}
    ).content.decode()
    assert "Enter a valid email address." in html
    assert Supplier.objects.count() == 2


def test_categories_are_owned_by_the_owner(owner_client, soy_wax):
    response = owner_client.post(reverse("materials:categories"), {"name": "Wicks"})
    assert response.status_code == 302
    assert Category.objects.filter(name="Wicks").exists()
    used = soy_wax.category
    response = owner_client.post(reverse("materials:category-delete", args=[used.pk]), follow=True)
    assert "still has materials" in response.content.decode()
    assert Category.objects.filter(pk=used.pk).exists()


def test_a_maker_cannot_add_categories(maker_client):
    assert maker_client.post(reverse("materials:categories"), {"name": "X"}).status_code == 403
    assert not Category.objects.filter(name="X").exists()


def test_every_materials_page_renders_for_a_viewer(viewer_client, soy_wax, supplier, storage):
    receipt = stock_up(soy_wax, storage, "1", "kg", supplier=supplier)
    for name, args in [
        ("materials:list", []),
        ("materials:detail", [soy_wax.pk]),
        ("materials:reorder", []),
        ("materials:receipts", []),
        ("materials:receipt", [receipt.pk]),
        ("materials:suppliers", []),
        ("materials:supplier", [supplier.pk]),
        ("materials:categories", []),
    ]:
        assert viewer_client.get(reverse(name, args=args)).status_code == 200, name
    assert viewer_client.get(reverse("materials:detail", args=[999999])).status_code == 404


@pytest.mark.parametrize("page", ["reorder", "receipts", "supplier"])
def test_materials_pages_read_in_the_same_number_of_queries_for_few_or_many_rows(
    viewer_client, supplier, storage, page
):
    url = {
        "reorder": reverse("materials:reorder"),
        "receipts": reverse("materials:receipts"),
        "supplier": reverse("materials:supplier", args=[supplier.pk]),
    }[page]

    def queries():
        with CaptureQueriesContext(connection) as ctx:
            assert viewer_client.get(url).status_code == 200
        return len(ctx)

    def grow(n):
        for _ in range(n):
            material = MaterialFactory(reorder_point=D("100"), preferred_supplier=supplier)
            stock_up(material, storage, "5", "g", supplier=supplier)

    grow(2)
    few = queries()
    grow(15)
    assert queries() == few


def test_a_reversed_delivery_says_so_on_its_page(owner_client, soy_wax, storage):
    from stock.services import posting_reverse

    receipt = stock_up(soy_wax, storage, "1", "kg")
    posting_reverse(
        posting=receipt.posting, note="wrong supplier", user=None, idempotency_key=key()
    )
    html = owner_client.get(reverse("materials:receipt", args=[receipt.pk])).content.decode()
    assert "reversed" in html and "its stock was taken back out" in html
    assert Balance.objects.get().quantity == 0


def test_supplier_prices_never_multiply_the_stock_shown(viewer_client, soy_wax, storage):
    soy_wax.reorder_point = D("15000")
    soy_wax.save()
    first, second = SupplierFactory(name="First"), SupplierFactory(name="Second")
    stock_up(soy_wax, storage, "10", "kg", price="40", supplier=first)
    services.supplier_price_save(
        material=soy_wax, supplier=second, supplier_sku="SW-464", unit_price=D("0.004")
    )
    for params in ({}, {"q": "Soy"}, {"q": "SW-464"}, {"supplier": first.pk}, {"status": "low"}):
        html = viewer_client.get(reverse("materials:list"), params).content.decode()
        assert "10,000 g" in html and "EUR 40.00" in html and "Reorder" in html, params


def test_expired_and_quarantined_stock_is_not_counted_as_usable(viewer_client, lavender, storage):
    lavender.reorder_point = D("100")
    lavender.save()
    old = stock_up(
        lavender,
        storage,
        "300",
        "ml",
        lot_code="OLD",
        expiry_date=timezone.localdate() - timedelta(1),
    )
    held = stock_up(lavender, storage, "300", "ml", lot_code="HELD")
    stock_up(lavender, storage, "50", "ml", lot_code="GOOD")
    lot_hold(lot=held.lines.get().lot, note="smells off", user=None)
    html = viewer_client.get(reverse("materials:list")).content.decode()
    assert "650 ml" in html and "50 usable" in html and "Reorder" in html
    reorder = viewer_client.get(reverse("materials:reorder")).content.decode()
    assert "Lavender oil" in reorder
    assert old.lines.get().lot.is_expired()


def test_a_failed_delivery_says_so_at_the_top_and_keeps_its_previews(
    maker_client, supplier, soy_wax, lavender, storage
):
    data = receive_form(
        supplier,
        storage,
        [
            {"material": soy_wax, "quantity": "10", "unit": "lb", "price": "9.98"},
            {"material": lavender, "quantity": "100", "unit": "ml", "price": "9"},
        ],
    )
    html = maker_client.post(reverse("materials:receive"), data).content.decode()
    summary = html.split('id="not-saved"')[1].split("</div>")[0]
    assert "The delivery was not saved." in summary
    assert (
        'href="#line-1">Line 2</a>: check the <span class="error-field">'
        "supplier&#x27;s lot code</span>" in summary
    )
    assert html.count("Lavender oil is lot-tracked") == 1  # under its field, once
    assert "10 lb = 4,535.924 g at EUR 0.0022002 per g" in html  # line 1 keeps its preview
    assert not Receipt.objects.exists()


def test_a_delivery_cannot_be_dated_in_the_future(maker_client, supplier, soy_wax, storage):
    tomorrow = (timezone.localdate() + timedelta(days=1)).isoformat()
    data = receive_form(
        supplier,
        storage,
        [{"material": soy_wax, "quantity": "1", "unit": "kg", "price": "4"}],
        received_on=tomorrow,
    )
    html = maker_client.post(reverse("materials:receive"), data).content.decode()
    assert "A delivery cannot arrive in the future: check the date." in html
    assert not Receipt.objects.exists()


def test_add_a_line_brings_a_blank_line_and_counts_it(maker_client):
    response = maker_client.get(reverse("materials:receive-line"), {"index": 4})
    html = response.content.decode()
    assert 'id="line-4"' in html and 'name="lines-4-material"' in html
    assert 'name="lines-TOTAL_FORMS" value="5"' in html and 'hx-swap-oob="true"' in html
    assert "index=5" in html
    assert maker_client.get(reverse("materials:receive-line"), {"index": "x"}).status_code == 400
    assert maker_client.get(reverse("materials:receive-line"), {"index": 60}).status_code == 400


def test_a_reversed_delivery_is_marked_in_the_list_and_the_export(viewer_client, soy_wax, storage):
    from stock.services import posting_reverse

    receipt = stock_up(soy_wax, storage, "1", "kg")
    kept = stock_up(soy_wax, storage, "2", "kg")
    posting_reverse(
        posting=receipt.posting, note="wrong supplier", user=None, idempotency_key=key()
    )
    html = viewer_client.get(reverse("materials:receipts")).content.decode()
    assert html.count('class="badge badge-bad">reversed') == 1
    response = viewer_client.get(reverse("materials:export-receipts"))
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    reversed_by_receipt = {row["receipt"]: row["reversed"] for row in rows}
    assert reversed_by_receipt == {str(receipt.pk): "yes", str(kept.pk): "no"}


@pytest.mark.parametrize(
    "line, message",
    [
        (
            {"quantity": "1", "unit": "kg", "price": "999999999999.995"},
            "that price is larger than Loomworks can hold",
        ),
        (
            {"quantity": "0.000001", "unit": "g", "price": "999999999"},
            "that comes to a cost per unit larger than Loomworks can hold",
        ),
    ],
)
def test_absurd_prices_get_a_message_not_an_error_page(
    maker_client, supplier, soy_wax, storage, line, message
):
    data = receive_form(supplier, storage, [{"material": soy_wax, **line}], shipping="1")
    response = maker_client.post(reverse("materials:receive"), data)
    assert response.status_code == 200
    html = response.content.decode()
    assert message in html and "The delivery was not saved." in html
    assert not Receipt.objects.exists()


def test_the_same_form_sent_again_with_another_supplier_is_refused(
    maker_client, supplier, soy_wax, storage
):
    line = {"material": soy_wax, "quantity": "1", "unit": "kg", "price": "4"}
    data = receive_form(supplier, storage, [line])
    maker_client.post(reverse("materials:receive"), data)
    other = SupplierFactory(name="Other supplies")
    html = maker_client.post(
        reverse("materials:receive"), {**data, "supplier": other.pk}
    ).content.decode()
    assert "already posted with other figures" in html
    assert Receipt.objects.get().supplier == supplier
