"""A maker at the bench asks the tablet: can I make this?"""

from decimal import Decimal as D

import pytest
from playwright.sync_api import expect

from recipes import services
from recipes.models import Basis
from tests.e2e.conftest import assert_fits_the_screen, sign_in
from tests.factories import UserFactory
from tests.materials.factories import MaterialFactory
from tests.stock.factories import LocationFactory, receive

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
PASSWORD = "correct-horse-battery"


@pytest.mark.parametrize("size", ["tablet"], indirect=True)
def test_a_maker_checks_a_split_on_the_tablet(page, live_server, shoot):
    UserFactory(role="Maker", username="mo", first_name="Mo", last_name="Maker")
    product = services.product_create(
        name="Soy candle", code="CND", variants=[("Lavender", "CND-LAV"), ("Cedar", "CND-CED")]
    )
    cedar = product.variants.get(name="Cedar")
    wax = MaterialFactory(item__name="Soy wax", item__unit="g")
    cedar_oil = MaterialFactory(item__name="Cedar oil", item__unit="g")
    version = services.recipe_create(product=product, name="Soy candle", standard_yield=D(24))
    services.line_add(
        version=version, material=wax, quantity=D(200), unit="g", basis=Basis.PER_UNIT
    )
    services.line_add(
        version=version,
        material=cedar_oil,
        quantity=D(16),
        unit="g",
        basis=Basis.PER_VARIANT_UNIT,
        variant=cedar,
    )
    bench = LocationFactory(name="Bench")
    receive(wax.item, bench, "10000", unit_cost="0.01")
    receive(cedar_oil.item, bench, "160", unit_cost="0.2")

    sign_in(page, live_server, "mo", PASSWORD, next_path=f"/recipes/versions/{version.pk}/")
    expect(page.get_by_role("heading", name="Soy candle version 1")).to_be_visible()
    page.get_by_label("Lavender").fill("20")
    page.get_by_label("Cedar").fill("20")
    page.get_by_role("button", name="Check").click()
    # 40 candles: 8,000 g of wax (10,000 on the bench: 50) and 320 g of cedar oil (160: 20 of
    # a split that is half cedar, so 20 candles in all).
    expect(page.locator("#check")).to_contain_text("the stock at Bench makes 20 at this split")
    expect(page.locator("#check")).to_contain_text("160 g")
    assert_fits_the_screen(page)
    shoot("can-i-make-this")
