from decimal import Decimal as D

import pytest

from materials import services
from tests.materials.factories import MaterialFactory, SupplierFactory
from tests.stock.factories import LocationFactory, key

pytestmark = pytest.mark.django_db


def test_an_empty_workshop_is_pointed_at_its_first_delivery(owner_client):
    LocationFactory(name="Storage")
    html = owner_client.get("/").content.decode()
    assert "Receive your first delivery" in html
    assert "import your spreadsheet" in html


def test_the_dashboard_shows_stock_value_and_what_to_reorder(maker_client):
    wax = MaterialFactory(item__name="Soy wax", item__unit="g", reorder_point=D("5000"))
    services.receipt_create(
        supplier=SupplierFactory(),
        lines=[
            services.ReceiptLineInput(
                material=wax,
                quantity=D("2"),
                unit="kg",
                location=LocationFactory(name="Storage"),
                price=D("8.40"),
            )
        ],
        user=None,
        idempotency_key=key(),
    )
    html = maker_client.get("/").content.decode()
    assert "EUR 8.40" in html
    assert "out of usable stock" not in html
    assert '<span class="stat warn">1</span>' in html  # one to reorder
    assert "Receipt #" in html
    assert "Receive a delivery" in html


def test_a_viewer_sees_the_numbers_but_no_actions(viewer_client):
    MaterialFactory()
    html = viewer_client.get("/").content.decode()
    assert "Stock value" in html
    assert "Receive a delivery" not in html and "Count stock" not in html
