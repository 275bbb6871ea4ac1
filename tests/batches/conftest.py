"""A candle workshop with stock on the bench, and a three-stage soap: the batches tests' world.
Every figure the tests check is worked out by hand from the numbers here."""

import uuid
from datetime import timedelta
from decimal import Decimal as D

import pytest

from batches import services
from recipes import services as recipes
from recipes.models import Basis
from stock.models import workshop_today
from tests.materials.factories import MaterialFactory
from tests.stock.factories import ItemFactory, LocationFactory, receive


def key() -> str:
    return uuid.uuid4().hex


@pytest.fixture
def bench(db, workshop):
    return LocationFactory(name="Bench")


@pytest.fixture
def candle(bench):
    """Soy candles in lavender and cedar, standard batch of 10: 1 kg of wax per batch, a jar
    per candle (shared); 10 g of the scent's own oil per candle of that scent.

    Stock: wax W1 800 g at 0.01 (expires in 60 days) and W2 1,000 g at 0.02 (in a year);
    lavender oil 100 g at 0.50; cedar oil 100 g at 0.30; 20 jars at 1.00."""
    product = recipes.product_create(
        name="Soy candle",
        code="cnd",
        shelf_life_days=365,
        variants=[("Lavender", "CND-LAV"), ("Cedar", "CND-CED")],
    )
    lavender, cedar = product.variants.order_by("position")
    wax = MaterialFactory(item__name="Soy wax", item__unit="g")
    lav_oil = MaterialFactory(item__name="Lavender oil", item__unit="g")
    ced_oil = MaterialFactory(item__name="Cedar oil", item__unit="g")
    jar = MaterialFactory(item__name="Amber jar", item__unit="each")
    version = recipes.recipe_create(product=product, name="Soy candle", standard_yield=D(10))
    recipes.line_add(version=version, material=wax, quantity=D(1), unit="kg")
    recipes.line_add(
        version=version,
        material=lav_oil,
        quantity=D(10),
        unit="g",
        basis=Basis.PER_VARIANT_UNIT,
        variant=lavender,
    )
    recipes.line_add(
        version=version,
        material=ced_oil,
        quantity=D(10),
        unit="g",
        basis=Basis.PER_VARIANT_UNIT,
        variant=cedar,
    )
    recipes.line_add(
        version=version, material=jar, quantity=D(1), unit="each", basis=Basis.PER_UNIT
    )
    today = workshop_today()
    lots = {
        "W1": receive(
            wax.item,
            bench,
            "800",
            unit_cost="0.01",
            code="W1",
            expiry_date=today + timedelta(days=60),
        ),
        "W2": receive(
            wax.item,
            bench,
            "1000",
            unit_cost="0.02",
            code="W2",
            expiry_date=today + timedelta(days=365),
        ),
        "LAV": receive(lav_oil.item, bench, "100", unit_cost="0.50", code="LAV1"),
        "CED": receive(ced_oil.item, bench, "100", unit_cost="0.30", code="CED1"),
        "JAR": receive(jar.item, bench, "20", unit_cost="1.00", code="JAR1"),
    }

    class Candle:
        pass

    c = Candle()
    c.product, c.version, c.lavender, c.cedar = product, version, lavender, cedar
    c.wax, c.lav_oil, c.ced_oil, c.jar = wax.item, lav_oil.item, ced_oil.item, jar.item
    c.lots, c.bench = lots, bench
    c.scrap_item = ItemFactory(name="Wax offcuts", unit="g", kind="scrap")
    return c


def plan(c, user=None, lavender=5, cedar=5, **kw):
    return services.batch_plan(
        version=c.version,
        split={c.lavender: D(lavender), c.cedar: D(cedar)},
        production_date=workshop_today(),
        user=user,
        idempotency_key=key(),
        **kw,
    )


def planned_uses(c, lavender=5, cedar=5):
    """The recipe's quantities for the split, as a maker who changes nothing submits them."""
    n = lavender + cedar
    return [
        services.Use(item=c.wax, quantity=D(100) * n),
        services.Use(item=c.lav_oil, quantity=D(10) * lavender, variant=c.lavender),
        services.Use(item=c.ced_oil, quantity=D(10) * cedar, variant=c.cedar),
        services.Use(item=c.jar, quantity=D(n)),
    ]


@pytest.fixture
def soap(bench):
    """Cold-process soap, standard batch 10, in three stages: Mix (1,000 g olive oil at 0.01,
    140 g lye at 0.02, 20 g of the scent's own oil per bar at 0.10) ending in a loaf; Cure,
    28 days, expected to lose 10 %, ending in a cured loaf; Wrap (a wrapper per bar at 0.05)."""
    product = recipes.product_create(
        name="Cold soap",
        code="sop",
        shelf_life_days=540,
        variants=[("Lavender", "SOP-LAV"), ("Mint", "SOP-MNT")],
    )
    lavender, mint = product.variants.order_by("position")
    m = {
        name: MaterialFactory(item__name=name, item__unit=unit)
        for name, unit in [
            ("Olive oil", "g"),
            ("Lye", "g"),
            ("Lavender EO", "g"),
            ("Mint EO", "g"),
            ("Wrapper", "each"),
        ]
    }
    v = recipes.recipe_create(product=product, name="Cold soap", standard_yield=D(10))
    mix = recipes.stage_add(version=v, name="Mix", output_name="Soap loaf")
    recipes.stage_add(
        version=v,
        name="Cure",
        duration_days=28,
        expected_loss_percent=D(10),
        output_name="Cured loaf",
    )
    wrap = recipes.stage_add(version=v, name="Wrap")
    recipes.line_add(version=v, material=m["Olive oil"], quantity=D(1000), unit="g", stage=mix)
    recipes.line_add(version=v, material=m["Lye"], quantity=D(140), unit="g", stage=mix)
    for variant, oil in [(lavender, "Lavender EO"), (mint, "Mint EO")]:
        recipes.line_add(
            version=v,
            material=m[oil],
            quantity=D(20),
            unit="g",
            basis=Basis.PER_VARIANT_UNIT,
            variant=variant,
            stage=mix,
        )
    recipes.line_add(
        version=v,
        material=m["Wrapper"],
        quantity=D(1),
        unit="each",
        basis=Basis.PER_UNIT,
        stage=wrap,
    )
    lots = {
        "olive": receive(m["Olive oil"].item, bench, "5000", unit_cost="0.01", code="OL1"),
        "lye": receive(m["Lye"].item, bench, "1000", unit_cost="0.02", code="LY1"),
        "lav": receive(m["Lavender EO"].item, bench, "500", unit_cost="0.10", code="LEO1"),
        "mint": receive(m["Mint EO"].item, bench, "500", unit_cost="0.10", code="MEO1"),
        "wrap": receive(m["Wrapper"].item, bench, "100", unit_cost="0.05", code="WR1"),
    }

    class Soap:
        pass

    s = Soap()
    s.product, s.version, s.lavender, s.mint, s.m, s.lots = product, v, lavender, mint, m, lots
    return s
