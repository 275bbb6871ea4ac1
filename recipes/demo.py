"""Demo recipes for `manage.py seed_demo`: a soy candle in three scents, a cold-process soap in
stages, a lip balm in percentages, the candle already at version 2. Safe to run again."""

from decimal import Decimal as D

from materials.models import Material
from materials.services import material_create
from recipes import services
from recipes.models import Basis, Product

CANDLE_SCENTS = [("Lavender", "CND-LAV", "FO-LAV"), ("Cedarwood", "CND-CED", "FO-CEDAR")]
CANDLE_SCENTS += [("Fig & cassis", "CND-FIG", "FO-FIG")]


def _m(sku: str) -> Material:
    return Material.objects.select_related("item").get(item__sku=sku)


def _water() -> Material:
    water = Material.objects.filter(item__sku="WATER-DIST").first()
    return water or material_create(
        sku="WATER-DIST", name="Distilled water", unit="g", notes="For lye solutions."
    )


LABEL_NAMES = {
    "WAX-BEES": "Cera Alba",
    "OIL-SHEA": "Butyrospermum Parkii Butter",
    "OIL-CASTOR": "Ricinus Communis Seed Oil",
    "OIL-COCO": "Cocos Nucifera Oil",
    "OIL-OLIVE": "Olea Europaea Fruit Oil",
}


def seed() -> None:
    if Product.objects.filter(code="CND").exists():
        return
    for sku, label in LABEL_NAMES.items():
        Material.objects.filter(item__sku=sku).update(label_name=label)
    _candle()
    _soap()
    _balm()


def _candle() -> None:
    product = services.product_create(
        name="Soy candle 200 ml",
        code="CND",
        description="Hand-poured soy wax in an amber jar.",
        shelf_life_days=540,
        variants=[(name, sku) for name, sku, _ in CANDLE_SCENTS],
    )
    v1 = services.recipe_create(product=product, name="Soy candle", standard_yield=D(24))
    # 24 candles of 180 g: 4.32 kg of wax; fragrance at an 8 % load, 14.4 g per candle.
    services.line_add(version=v1, material=_m("WAX-SOY464"), quantity=D("4.32"), unit="kg")
    for variant, (_, _, oil) in zip(product.variants.all(), CANDLE_SCENTS, strict=True):
        services.line_add(
            version=v1,
            material=_m(oil),
            quantity=D(16),
            unit="ml",
            basis=Basis.PER_VARIANT_UNIT,
            variant=variant,
        )
    for sku in ("WICK-CD12", "STICKER-W", "JAR-AMB200", "LID-AMB", "LABEL-JAR"):
        services.line_add(version=v1, material=_m(sku), quantity=D(1), basis=Basis.PER_UNIT)
    services.version_freeze(version=v1)  # as if a batch had used it
    v2 = services.version_draft_from(version=v1)
    services.version_update(
        version=v2, standard_yield=D(24), notes="Less wax: the jars were filled too high."
    )
    wax = v2.lines.get(material__item__sku="WAX-SOY464")
    services.line_update(line=wax, material=wax.material, quantity=D("4.2"), unit="kg")
    # Two sheets of tissue line the cooling tray, whatever the batch's size.
    services.line_add(version=v2, material=_m("TISSUE"), quantity=D(2), basis=Basis.FIXED)


def _soap() -> None:
    product = services.product_create(
        name="Cold-process soap bar",
        code="SOAP",
        shelf_life_days=365,
        variants=[("Lavender", "SOAP-LAV"), ("Eucalyptus & clay", "SOAP-EUC")],
    )
    lavender, eucalyptus = product.variants.all()
    v = services.recipe_create(product=product, name="Cold-process soap", standard_yield=D(10))
    mix = services.stage_add(
        version=v, name="Mix and pour", duration_days=1, output_name="Soap loaf, uncut"
    )
    services.stage_add(version=v, name="Cure", duration_days=28, expected_loss_percent=D(10))
    wrap = services.stage_add(version=v, name="Cut and wrap")
    for sku, grams in [
        ("OIL-OLIVE", 500),
        ("OIL-COCO", 300),
        ("OIL-SHEA", 150),
        ("OIL-CASTOR", 50),
    ]:
        services.line_add(version=v, material=_m(sku), quantity=D(grams), unit="g", stage=mix)
    services.line_add(version=v, material=_m("LYE-NAOH"), quantity=D(140), unit="g", stage=mix)
    services.line_add(version=v, material=_water(), quantity=D(330), unit="g", stage=mix)
    services.line_add(
        version=v,
        material=_m("FO-LAV"),
        quantity=D(3),
        unit="ml",
        basis=Basis.PER_VARIANT_UNIT,
        variant=lavender,
        stage=mix,
    )
    for sku, quantity, unit in [("EO-EUCA", "2.5", "ml"), ("COL-CLAY", "2", "g")]:
        services.line_add(
            version=v,
            material=_m(sku),
            quantity=D(quantity),
            unit=unit,
            basis=Basis.PER_VARIANT_UNIT,
            variant=eucalyptus,
            stage=mix,
        )
    for sku in ("BOX-SOAP", "LABEL-SOAP"):
        services.line_add(
            version=v, material=_m(sku), quantity=D(1), basis=Basis.PER_UNIT, stage=wrap
        )


def _balm() -> None:
    product = services.product_create(name="Lip balm tin", code="BALM", shelf_life_days=365)
    v = services.recipe_create(
        product=product,
        name="Lip balm",
        standard_yield=D(10),
        target_mass=D(150),
        target_unit="g",
    )
    for sku, percent in [("WAX-BEES", 30), ("OIL-SHEA", 40), ("OIL-CASTOR", 25), ("OIL-COCO", 5)]:
        services.line_add(version=v, material=_m(sku), percent=D(percent))
    services.line_add(version=v, material=_m("JAR-TIN100"), quantity=D(1), basis=Basis.PER_UNIT)
