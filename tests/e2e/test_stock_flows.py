"""A maker at the bench: receive a delivery on the tablet, watch the line preview, then count."""

from decimal import Decimal as D

import pytest
from playwright.sync_api import expect

from materials.models import Receipt
from stock.checks import ledger_violations
from stock.models import Balance
from tests.e2e.conftest import assert_fits_the_screen, sign_in
from tests.factories import UserFactory
from tests.materials.factories import MaterialFactory, SupplierFactory
from tests.stock.factories import LocationFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
PASSWORD = "correct-horse-battery"


@pytest.fixture
def bench():
    UserFactory(role="Maker", username="mo", first_name="Mo", last_name="Maker")
    return {
        "supplier": SupplierFactory(name="Wick and Wax Supply"),
        "storage": LocationFactory(name="Storage"),
        "wax": MaterialFactory(item__name="Soy wax 464", item__sku="WAX-464", item__unit="g"),
        "oil": MaterialFactory(
            item__name="Lavender oil", item__sku="FO-LAV", item__unit="ml", item__lot_tracked=True
        ),
    }


@pytest.mark.parametrize("size", ["tablet"], indirect=True)
def test_a_maker_receives_a_delivery_on_the_tablet(page, live_server, shoot, bench):
    sign_in(page, live_server, "mo", PASSWORD, next_path="/materials/receive/")
    expect(page.get_by_role("heading", name="Receive a delivery")).to_be_visible()
    page.get_by_label("Supplier", exact=True).select_option(label="Wick and Wax Supply")
    page.get_by_label("Delivery note / invoice").fill("INV-2611")
    page.locator("#id_location").select_option(label="Storage")
    page.get_by_label("Shipping").fill("6.00")

    first = page.locator("#line-0")
    first.get_by_label("Material").select_option(label="Soy wax 464 (WAX-464, g)")
    first.get_by_label("Quantity").fill("10")
    first.get_by_label("Unit").select_option("lb")
    first.get_by_label("Price", exact=True).fill("9.98")
    expect(page.locator("#line-0-preview")).to_contain_text(
        "10 lb = 4,535.924 g at EUR 0.0022002 per g"
    )

    second = page.locator("#line-1")
    second.get_by_label("Material").select_option(label="Lavender oil (FO-LAV, ml)")
    second.get_by_label("Quantity").fill("500")
    second.get_by_label("Price", exact=True).fill("44.50")
    second.get_by_label("Supplier's lot code").fill("LAV-2611")
    expect(page.locator("#line-1-preview")).to_contain_text("500 ml at EUR 0.089 per ml")
    page.get_by_role("button", name="Add a line").click()
    expect(page.locator("#line-4")).to_be_visible()  # a fifth line, left blank
    assert_fits_the_screen(page)
    shoot("receive-filled")

    save = page.get_by_role("button", name="Save delivery")
    save.dblclick()  # a wet-handed double tap
    expect(page.get_by_role("heading", name="Delivery #")).to_be_visible()
    expect(page.locator("table")).to_contain_text("LAV-2611")
    assert_fits_the_screen(page)
    shoot("receipt")

    assert Receipt.objects.count() == 1
    quantities = sorted(Balance.objects.values_list("quantity", flat=True))
    assert quantities == [D("500"), D("4535.9237")]
    assert ledger_violations() == []
    assert page.errors == [], page.errors


def test_a_maker_counts_the_shelf_and_sees_the_difference(page, live_server, shoot, bench):
    from materials import services
    from tests.stock.factories import key

    services.receipt_create(
        supplier=bench["supplier"],
        lines=[
            services.ReceiptLineInput(
                material=bench["wax"],
                quantity=D("2000"),
                unit="g",
                location=bench["storage"],
                price=D("8"),
            )
        ],
        user=None,
        idempotency_key=key(),
    )
    sign_in(page, live_server, "mo", PASSWORD, next_path="/stock/count/")
    page.get_by_label("Location").select_option(label="Storage")
    page.get_by_role("button", name="Start counting").click()
    page.locator("td.count-input input").first.fill("1950")
    page.get_by_role("button", name="Show differences").click()
    expect(page.locator("table")).to_contain_text("-50")
    shoot("count-preview")
    page.get_by_role("button", name="Post count").click()
    expect(page.get_by_role("heading", name="Stock count #")).to_be_visible()
    assert Balance.objects.get().quantity == D("1950")
    assert_fits_the_screen(page)
    assert page.errors == [], page.errors
