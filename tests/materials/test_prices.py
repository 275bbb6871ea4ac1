"""The supplier's price list is the Owner's; what was last paid is read from the deliveries."""

from datetime import timedelta
from decimal import Decimal as D

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from materials import selectors, services
from materials.models import Receipt, ReceiptLine, SupplierPrice
from stock.checks import ledger_violations
from stock.models import Balance
from stock.services import posting_reverse
from tests.materials.factories import SupplierFactory
from tests.materials.test_pages import receive_form
from tests.stock.factories import key
from tests.threads import run_together

pytestmark = pytest.mark.django_db


def deliver(supplier, material, location, quantity, price, *, days_ago=0, unit=None):
    return services.receipt_create(
        supplier=supplier,
        lines=[
            services.ReceiptLineInput(
                material=material,
                quantity=D(quantity),
                unit=unit or material.item.unit,
                location=location,
                price=D(price),
            )
        ],
        received_on=timezone.localdate() - timedelta(days=days_ago),
        user=None,
        idempotency_key=key(),
    )


def paid(material):
    return {
        row.supplier.name: (row.paid_per_unit, row.paid_on)
        for row in selectors.supplier_prices(material=material)
    }


def test_a_backdated_delivery_does_not_change_the_last_paid_price(
    viewer_client, supplier, soy_wax, storage
):
    today = timezone.localdate()
    deliver(supplier, soy_wax, storage, "1000", "6.00")
    deliver(supplier, soy_wax, storage, "1000", "4.00", days_ago=10)  # an old invoice, entered late
    assert paid(soy_wax) == {supplier.name: (D("0.006"), today)}
    deliver(supplier, soy_wax, storage, "1000", "7.00")  # the same day as the latest: it counts
    assert paid(soy_wax) == {supplier.name: (D("0.007"), today)}
    html = viewer_client.get(reverse("materials:detail", args=[soy_wax.pk])).content.decode()
    suppliers = html.split("<h2>Suppliers and prices</h2>")[1].split("<h2>History</h2>")[0]
    assert "EUR 0.007 per g" in suppliers and "EUR 0.004" not in suppliers


def test_a_reversed_delivery_is_not_what_was_last_paid(supplier, soy_wax, storage):
    deliver(supplier, soy_wax, storage, "1000", "6.00", days_ago=3)
    typo = deliver(supplier, soy_wax, storage, "1000", "6000.00")
    posting_reverse(
        posting=typo.posting, note="typo in the price", user=None, idempotency_key=key()
    )
    assert paid(soy_wax) == {supplier.name: (D("0.006"), timezone.localdate() - timedelta(days=3))}


def test_a_maker_receiving_leaves_the_owners_price_list_alone(
    maker_client, supplier, soy_wax, storage
):
    services.supplier_price_save(
        material=soy_wax, supplier=supplier, supplier_sku="SW-464-20", unit_price=D("0.0041")
    )
    data = receive_form(
        supplier, storage, [{"material": soy_wax, "quantity": "5", "unit": "kg", "price": "30"}]
    )
    assert maker_client.post(reverse("materials:receive"), data).status_code == 302
    price = SupplierPrice.objects.get()
    assert (price.supplier_sku, price.unit_price) == ("SW-464-20", D("0.0041"))
    line = Receipt.objects.get().lines.get()
    assert (line.price, line.quantity) == (D("30"), D("5000"))  # what was paid, on its line
    html = maker_client.get(reverse("materials:detail", args=[soy_wax.pk])).content.decode()
    assert "EUR 0.0041 per g" in html  # the price list
    assert "EUR 0.006 per g" in html  # last paid
    assert (
        maker_client.post(
            reverse("materials:price", args=[soy_wax.pk]),
            {"supplier": supplier.pk, "unit_price": "0.001"},
        ).status_code
        == 403
    )


def test_a_delivery_of_a_new_material_writes_no_price_but_shows_its_supplier(
    viewer_client, supplier, soy_wax, jars, storage
):
    other = SupplierFactory(name="Glass Co")
    deliver(supplier, soy_wax, storage, "2", "9.00", unit="kg")
    deliver(other, jars, storage, "48", "24.00")
    deliver(supplier, jars, storage, "12", "7.20", days_ago=1)
    assert not SupplierPrice.objects.exists()
    html = viewer_client.get(reverse("materials:supplier", args=[supplier.pk])).content.decode()
    assert "Soy wax 464" in html and "EUR 0.0045 per g" in html
    assert "Amber jar" in html and "EUR 0.60 per each" in html
    assert "EUR 0.50" not in html  # Glass Co's price is not this supplier's
    listed = viewer_client.get(reverse("materials:list"), {"supplier": other.pk}).content.decode()
    assert "Amber jar" in listed and "Soy wax 464" not in listed


def test_the_material_page_reads_its_suppliers_in_the_same_number_of_queries(
    viewer_client, soy_wax, storage
):
    def queries():
        with CaptureQueriesContext(connection) as ctx:
            response = viewer_client.get(reverse("materials:detail", args=[soy_wax.pk]))
            assert response.status_code == 200
        return len(ctx)

    def suppliers(n):
        for _ in range(n):
            supplier = SupplierFactory()
            deliver(supplier, soy_wax, storage, "100", "1")
            services.supplier_price_save(
                material=soy_wax, supplier=supplier, supplier_sku="X", unit_price=D("0.01")
            )

    suppliers(2)
    few = queries()
    suppliers(8)
    assert queries() == few


@pytest.mark.django_db(transaction=True)
def test_four_first_deliveries_of_one_material_from_one_supplier_at_once_all_succeed(
    supplier, soy_wax, storage
):
    prices = ["4.00", "5.00", "6.00", "7.00"]
    results = run_together(4, lambda i: deliver(supplier, soy_wax, storage, "1000", prices[i]).pk)
    assert all(isinstance(r, int) for r in results), results
    assert Receipt.objects.count() == 4
    assert sum(b.quantity for b in Balance.objects.all()) == D("4000")
    [row] = selectors.supplier_prices(material=soy_wax)
    latest = ReceiptLine.objects.order_by("-id").first()  # the same date: the last entered
    assert row.paid_per_unit == latest.price / latest.quantity
    assert ledger_violations() == []


@pytest.mark.django_db(transaction=True)
def test_upgrading_keeps_the_owners_prices_and_drops_the_ones_deliveries_wrote(
    supplier, soy_wax, jars, storage
):
    from django.db.migrations.executor import MigrationExecutor

    before = [("materials", "0004_names_unique_in_any_case")]
    # The deliveries are made with today's code first; only the prices are written the old way.
    delivered = deliver(supplier, soy_wax, storage, "1000", "6.00", days_ago=2)
    deliver(supplier, jars, storage, "10", "5.00", days_ago=2)
    paid_on = delivered.received_on
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    try:
        OldPrice = executor.loader.project_state(before).apps.get_model(
            "materials", "SupplierPrice"
        )
        # What a delivery wrote (the wax), an Owner's price over a delivery (the jar), and an
        # Owner's price list entry for a material never delivered (the second supplier).
        OldPrice.objects.create(
            supplier_id=supplier.pk,
            material_id=soy_wax.pk,
            last_unit_price=D("0.006"),
            last_paid_on=paid_on,
        )
        OldPrice.objects.create(
            supplier_id=supplier.pk,
            material_id=jars.pk,
            supplier_sku="J-200",
            last_unit_price=D("0.45"),
            last_paid_on=paid_on,
        )
        other = SupplierFactory(name="Glass Co")
        OldPrice.objects.create(
            supplier_id=other.pk, material_id=jars.pk, last_unit_price=D("0.48")
        )
    finally:  # back to the latest schema of every app, whatever the test met
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())
    prices = {
        (p.supplier.name, p.material.item.name): (p.supplier_sku, p.unit_price)
        for p in SupplierPrice.objects.select_related("supplier", "material__item")
    }
    assert prices == {
        (supplier.name, "Amber jar"): ("J-200", D("0.45")),
        ("Glass Co", "Amber jar"): ("", D("0.48")),
    }
    assert paid(soy_wax) == {supplier.name: (D("0.006"), paid_on)}
