"""Recipes: scaling per basis, versions frozen on use and copied on edit, what changed between
versions, "can I make this?", the cost estimate, percentages and the ingredient list. Every
figure below is worked out by hand."""

from datetime import timedelta
from decimal import Decimal as D

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from recipes import selectors, services
from recipes.models import Basis, RecipeLine
from stock.models import workshop_today
from stock.services import lot_hold
from tests.materials.factories import MaterialFactory
from tests.stock.factories import LocationFactory, receive

pytestmark = pytest.mark.django_db


@pytest.fixture
def bench(db):
    return LocationFactory(name="Bench")


@pytest.fixture
def candle(db):
    """A soy candle in lavender and cedar: 4.8 kg of wax per batch of 24, 16 g of the scent's
    own oil per candle, a jar per candle."""
    product = services.product_create(
        name="Soy candle",
        code="cnd",
        shelf_life_days=365,
        variants=[("Lavender", "CND-LAV"), ("Cedar", "CND-CED")],
    )
    lavender, cedar = product.variants.order_by("position")
    m = {
        "wax": MaterialFactory(item__name="Soy wax", item__unit="g"),
        "lavender oil": MaterialFactory(item__name="Lavender oil", item__unit="g"),
        "cedar oil": MaterialFactory(item__name="Cedar oil", item__unit="g"),
        "jar": MaterialFactory(item__name="Amber jar", item__unit="each"),
    }
    version = services.recipe_create(product=product, name="Soy candle", standard_yield=D(24))
    services.line_add(version=version, material=m["wax"], quantity=D("4.8"), unit="kg")
    services.line_add(
        version=version,
        material=m["lavender oil"],
        quantity=D(16),
        unit="g",
        basis=Basis.PER_VARIANT_UNIT,
        variant=lavender,
    )
    services.line_add(
        version=version,
        material=m["cedar oil"],
        quantity=D(16),
        unit="g",
        basis=Basis.PER_VARIANT_UNIT,
        variant=cedar,
    )
    services.line_add(
        version=version, material=m["jar"], quantity=D(1), unit="each", basis=Basis.PER_UNIT
    )
    return {"product": product, "version": version, "lavender": lavender, "cedar": cedar, **m}


def needs(requirement):
    return {n.material.item.name: n.quantity for n in requirement.totals}


def test_a_product_gets_a_variant_item_per_sku_and_one_when_it_has_none(candle):
    assert candle["product"].code == "CND"
    assert [v.item.sku for v in candle["product"].variants.all()] == ["CND-LAV", "CND-CED"]
    assert candle["lavender"].item.kind == "variant" and candle["lavender"].item.unit == "each"
    balm = services.product_create(name="Lip balm", code="LB")
    assert [(v.name, v.item.sku) for v in balm.variants.all()] == [("Lip balm", "LB")]


def test_scaling_follows_each_lines_basis_over_a_mixed_split(candle):
    split = {candle["lavender"].pk: D(12), candle["cedar"].pk: D(18)}
    # 30 candles: wax 4.8 kg x 30 / 24 = 6 kg = 6,000 g; lavender oil 16 g x 12 = 192 g;
    # cedar oil 16 g x 18 = 288 g; a jar for each of the 30.
    assert needs(selectors.requirement(candle["version"], split)) == {
        "Soy wax": D(6000),
        "Lavender oil": D(192),
        "Cedar oil": D(288),
        "Amber jar": D(30),
    }


def test_a_stage_keeps_its_own_lines(candle):
    version = candle["version"]
    cure = services.stage_add(version=version, name="Cure", duration_days=14)
    pour = services.stage_add(version=version, name="Pour")
    services.stage_move(stage=pour, up=True)
    wick = MaterialFactory(item__name="Wick", item__unit="each")
    services.line_add(
        version=version, material=wick, quantity=D(1), basis=Basis.PER_UNIT, stage=pour
    )
    split = {candle["lavender"].pk: D(24)}
    stages = selectors.requirement(version, split).by_stage
    assert [(s.name if s else None, [n.material.item.name for n in ns]) for s, ns in stages] == [
        (None, ["Soy wax", "Lavender oil", "Amber jar"]),
        ("Pour", ["Wick"]),
    ]
    assert [s.name for s in version.stages.order_by("position")] == ["Pour", "Cure"]
    assert cure.duration_days == 14


# Versions ------------------------------------------------------------------------------------


def test_the_first_batch_freezes_a_version_and_editing_makes_the_next_from_a_copy(candle):
    v1 = services.version_freeze(version=candle["version"])
    with pytest.raises(ValidationError) as err:
        services.line_add(version=v1, material=candle["wax"], quantity=D(1), unit="kg")
    assert err.value.messages == [
        "Soy candle v1 is in use by a batch and cannot change: edit it to make version 2, so "
        "the batches that used it keep the recipe they really used."
    ]
    v2 = services.version_draft_from(version=v1)
    assert v2.number == 2 and not v2.is_frozen
    assert services.version_draft_from(version=v1) == v2  # one draft at a time
    assert v2.lines.count() == v1.lines.count() == 4
    wax_line = v2.lines.get(material=candle["wax"])
    services.line_update(line=wax_line, material=candle["wax"], quantity=D(5), unit="kg")
    assert v1.lines.get(material=candle["wax"]).quantity == D("4.8")


def test_the_versions_page_diff_names_what_was_added_removed_and_changed(candle):
    v1 = services.version_freeze(version=candle["version"])
    v2 = services.version_draft_from(version=v1)
    services.line_update(
        line=v2.lines.get(material=candle["wax"]), material=candle["wax"], quantity=D(5), unit="kg"
    )
    services.line_remove(line=v2.lines.get(material=candle["jar"]))
    lid = MaterialFactory(item__name="Lid", item__unit="each")
    services.line_add(version=v2, material=lid, quantity=D(1), basis=Basis.PER_UNIT)
    changes = {
        (c.what, c.material.item.name, c.before, c.after) for c in selectors.version_diff(v1, v2)
    }
    assert changes == {
        ("changed", "Soy wax", "4.8 kg", "5 kg"),
        ("removed", "Amber jar", "1 each", ""),
        ("added", "Lid", "", "1 each"),
    }


# Bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change, field, message",
    [
        ({"quantity": D(0)}, "quantity", "Soy wax: enter a quantity above zero."),
        ({"quantity": D(-1)}, "quantity", "Soy wax: enter a quantity above zero."),
        ({"unit": "ml"}, "unit", "Soy wax is kept in g: a quantity in ml cannot be converted."),
        ({"basis": Basis.PER_VARIANT_UNIT}, "variant", "A line per unit of one variant names"),
    ],
)
def test_a_bad_line_is_refused_with_a_message_and_nothing_saved(candle, change, field, message):
    before = RecipeLine.objects.count()
    with pytest.raises(ValidationError) as err:
        services.line_add(
            **{
                "version": candle["version"],
                "material": candle["wax"],
                "quantity": D(1),
                "unit": "g",
                **change,
            }
        )
    assert err.value.message_dict[field][0].startswith(message)
    assert RecipeLine.objects.count() == before


def test_a_line_for_a_variant_of_another_product_is_refused(candle):
    soap = services.product_create(name="Soap bar", code="SOAP")
    with pytest.raises(ValidationError) as err:
        services.line_add(
            version=candle["version"],
            material=candle["lavender oil"],
            quantity=D(5),
            basis=Basis.PER_VARIANT_UNIT,
            variant=soap.variants.get(),
        )
    assert err.value.message_dict["variant"] == [
        "Soap bar is a variant of Soap bar, not of Soy candle."
    ]


def test_a_stage_cannot_use_what_it_makes(candle):
    version = candle["version"]
    stage = services.stage_add(version=version, name="Mix", output_name="Candle mix")
    mix = MaterialFactory(item=stage.output_item)
    with pytest.raises(ValidationError) as err:
        services.line_add(version=version, material=mix, quantity=D(1), stage=stage)
    assert err.value.message_dict["stage"] == ["Mix makes Candle mix: it cannot also use it."]


def test_a_yield_of_zero_is_refused(candle):
    with pytest.raises(ValidationError) as err:
        services.recipe_create(product=candle["product"], name="Tiny", standard_yield=D(0))
    assert err.value.message_dict["standard_yield"] == [
        "A standard batch makes more than zero units."
    ]


# Can I make this? ----------------------------------------------------------------------------


def test_can_i_make_this_counts_usable_stock_at_the_bench_and_finds_the_limit(candle, bench):
    today = workshop_today()
    receive(candle["wax"].item, bench, "5000", code="W1")
    receive(candle["wax"].item, bench, "2000", code="OLD", expiry_date=today - timedelta(1))
    held = receive(candle["wax"].item, bench, "1000", code="HELD")
    lot_hold(lot=held, note="smells off", user=None)
    receive(candle["wax"].item, LocationFactory(name="Storage"), "9000", code="ELSEWHERE")
    receive(candle["lavender oil"].item, bench, "400")
    receive(candle["cedar oil"].item, bench, "100")
    receive(candle["jar"].item, bench, "10")
    split = {candle["lavender"].pk: D(12), candle["cedar"].pk: D(18)}
    result = selectors.can_make(candle["version"], split, location=bench)
    rows = {
        r.material.item.name: (r.need, r.have, r.short, r.makes, r.limiting) for r in result.rows
    }
    # Per 30 candles: 6,000 g wax (5,000 usable: 25 candles), 192 g lavender (400: 62),
    # 288 g cedar (100: 10), 30 jars (10: 10). Cedar oil and jars tie at 10.
    assert rows == {
        "Soy wax": (D(6000), D(5000), D(1000), 25, False),
        "Lavender oil": (D(192), D(400), D(0), 62, False),
        "Cedar oil": (D(288), D(100), D(188), 10, True),
        "Amber jar": (D(30), D(10), D(20), 10, True),
    }
    assert result.largest == 10 and not result.can_make


def test_can_i_make_this_takes_the_same_queries_for_four_lines_or_twenty(candle, bench):
    split = {candle["lavender"].pk: D(12)}
    today = workshop_today()

    def queries():
        with CaptureQueriesContext(connection) as ctx:
            selectors.can_make(candle["version"], split, location=bench, today=today)
        return len(ctx)

    few = queries()
    for n in range(16):
        material = MaterialFactory(item__name=f"Extra {n}", item__unit="g")
        services.line_add(version=candle["version"], material=material, quantity=D(1))
    assert queries() == few


# Cost estimate -------------------------------------------------------------------------------


@pytest.fixture
def stocked(candle, bench):
    today = workshop_today()
    receive(candle["wax"].item, bench, "3000", unit_cost="0.01", expiry_date=today + timedelta(10))
    receive(
        candle["wax"].item, bench, "10000", unit_cost="0.02", expiry_date=today + timedelta(100)
    )
    receive(candle["lavender oil"].item, bench, "500", unit_cost="0.10")
    receive(candle["cedar oil"].item, bench, "100", unit_cost="0.20")
    receive(candle["jar"].item, bench, "100", unit_cost="1.50")
    return candle


def test_the_estimate_costs_a_batch_from_the_lots_it_would_draw(stocked, bench):
    c = stocked
    split = {c["lavender"].pk: D(12), c["cedar"].pk: D(12)}
    estimate = selectors.cost_estimate(c["version"], split, location=bench)
    # Wax 4,800 g: the 3,000 g expiring first at 0.01 (30.00), then 1,800 g at 0.02 (36.00).
    # Lavender 192 g x 0.10 = 19.20. Cedar: 100 g in stock at 0.20 and 92 g short, at its last
    # cost 0.20: 38.40. Jars 24 x 1.50 = 36.00.
    costs = {lc.line.material.item.name: (lc.cost, lc.short) for lc in estimate.lines}
    assert costs == {
        "Soy wax": (D("66.00"), 0),
        "Lavender oil": (D("19.20"), 0),
        "Cedar oil": (D("38.40"), D(92)),
        "Amber jar": (D("36.00"), 0),
    }
    assert estimate.any_short and estimate.total == D("159.60")
    # Shared (wax and jars) 102.00 over 24 candles = 4.25; lavender's own 19.20 / 12 = 1.60;
    # cedar's own 38.40 / 12 = 3.20.
    assert estimate.per_variant == {c["lavender"].pk: D("5.85"), c["cedar"].pk: D("7.45")}


def test_the_estimate_compares_batch_sizes(stocked, bench):
    c = stocked
    split = {c["lavender"].pk: D(12), c["cedar"].pk: D(12)}
    estimate = selectors.cost_estimate(c["version"], split, location=bench)
    # Half (12): wax 2,400 g at 0.01 = 24.00 and jars 18.00 over 12 = 3.50; oils 1.60 and 3.20.
    # Double (48): wax 30.00 + 6,600 g x 0.02 = 162.00 and jars 72.00 over 48 = 4.875.
    # Four times (96): wax 30.00 + 200.00 + 6,200 g short at the last cost 0.02 = 354.00 and
    # jars 144.00 over 96 = 5.1875; the oils run short too, at their last cost: 1.60 and 3.20.
    assert estimate.comparison == [
        (D(12), {c["lavender"].pk: D("5.1"), c["cedar"].pk: D("6.7")}),
        (D(24), {c["lavender"].pk: D("5.85"), c["cedar"].pk: D("7.45")}),
        (D(48), {c["lavender"].pk: D("6.475"), c["cedar"].pk: D("8.075")}),
        (D(96), {c["lavender"].pk: D("6.7875"), c["cedar"].pk: D("8.3875")}),
    ]


def test_the_estimate_learns_the_yield_recent_batches_achieved(stocked, bench):
    c = stocked
    services.achieved_yield_record(
        version=c["version"], planned=D(24), achieved=D(21), reference="CND-1"
    )
    split = {c["lavender"].pk: D(12), c["cedar"].pk: D(12)}
    estimate = selectors.cost_estimate(c["version"], split, location=bench)
    # 24 planned usually give 21: shared 102.00 / 21 = 4.857142857...; lavender's own
    # 19.20 / 10.5 = 1.828571428...
    assert estimate.yield_ratio == D("0.875") and estimate.effective_units == D(21)
    assert estimate.per_variant[c["lavender"].pk] == D("6.6857142857")


# Percentages and labels ----------------------------------------------------------------------


@pytest.fixture
def balm(db):
    product = services.product_create(name="Lip balm", code="LB")
    version = services.recipe_create(
        product=product,
        name="Lip balm",
        standard_yield=D(20),
        target_mass=D(100),
        target_unit="g",
    )
    m = {
        name: MaterialFactory(item__name=name, item__unit="g", label_name=label)
        for name, label in [
            ("Beeswax", "Cera Alba"),
            ("Shea butter", "Butyrospermum Parkii Butter"),
            ("Castor oil", "Ricinus Communis Seed Oil"),
        ]
    }
    m["Tin"] = MaterialFactory(item__name="Tin", item__unit="each")
    return {"product": product, "version": version, **m}


def test_a_percentage_recipe_must_add_up_to_one_hundred_before_use(balm):
    v = balm["version"]
    services.line_add(version=v, material=balm["Beeswax"], percent=D(30))
    services.line_add(version=v, material=balm["Shea butter"], percent=D(45))
    services.line_add(version=v, material=balm["Castor oil"], percent=D(20))
    with pytest.raises(ValidationError) as err:
        services.version_freeze(version=v)
    assert err.value.messages == [
        "The lines add up to 95 %, not 100 %: the recipe is not ready to use."
    ]
    services.line_update(
        line=v.lines.get(material=balm["Castor oil"]), material=balm["Castor oil"], percent=D(25)
    )
    assert selectors_quantities(v) == {"Beeswax": D(30), "Shea butter": D(45), "Castor oil": D(25)}
    services.version_update(version=v, standard_yield=D(40), target_mass=D(200), target_unit="g")
    assert selectors_quantities(v) == {"Beeswax": D(60), "Shea butter": D(90), "Castor oil": D(50)}
    assert services.version_freeze(version=v).is_frozen


def selectors_quantities(version):
    return {line.material.item.name: line.quantity for line in version.lines.all()}


def test_the_ingredient_list_is_heaviest_first_with_label_names_only(balm):
    v = balm["version"]
    for name, percent in [("Beeswax", 30), ("Shea butter", 45), ("Castor oil", 25)]:
        services.line_add(version=v, material=balm[name], percent=D(percent))
    product = balm["product"]
    tin_version = services.version_draft_from(version=v)
    assert tin_version == v
    assert selectors.ingredient_list(v, product.variants.get()) == [
        ("Butyrospermum Parkii Butter", D("2.25")),  # 45 g of a 100 g batch of 20 tins
        ("Cera Alba", D("1.5")),
        ("Ricinus Communis Seed Oil", D("1.25")),
    ]


# What the second review found ----------------------------------------------------------------


def test_a_variant_named_again_in_any_case_is_refused(candle):
    with pytest.raises(ValidationError) as err:
        services.variant_add(product=candle["product"], name="lavender", sku="CND-LAV2")
    assert err.value.message_dict["name"] == ["Soy candle already has a variant called lavender."]


def test_names_too_long_for_the_ledger_are_refused(candle):
    with pytest.raises(ValidationError) as err:
        services.variant_add(product=candle["product"], name="x" * 195, sku="CND-LONG")
    assert "too long" in err.value.message_dict["name"][0]


def test_a_quantity_finer_than_the_ledger_keeps_is_refused(candle):
    with pytest.raises(ValidationError) as err:
        services.line_add(
            version=candle["version"], material=candle["wax"], quantity=D("0.0000001")
        )
    assert err.value.message_dict["quantity"] == [
        "Soy wax: 0.0000001 has more than 6 decimal places."
    ]


def test_a_materials_unit_cannot_change_to_one_its_recipes_cannot_convert(candle):
    from materials.services import material_update

    wax = candle["wax"]
    fields = {
        "material": wax,
        "sku": wax.item.sku,
        "name": wax.item.name,
        "category": wax.category,
        "lot_tracked": False,
        "shelf_life_days": None,
        "reorder_point": None,
        "reorder_quantity": None,
        "preferred_supplier": None,
        "notes": "",
        "archived": False,
    }
    with pytest.raises(ValidationError) as err:
        material_update(unit="each", **fields)
    assert err.value.message_dict["unit"] == [
        "Soy wax is used in Soy candle v1 in kg: its unit can change only to one that converts "
        "from it."
    ]
    assert material_update(unit="kg", **fields).item.unit == "kg"  # kg converts from kg


def test_a_semi_finished_sku_skips_one_already_taken(candle):
    MaterialFactory(item__sku="CND-WIP-1", item__name="Somebody's material")
    stage = services.stage_add(version=candle["version"], name="Mix", output_name="Candle mix")
    assert stage.output_item.sku == "CND-WIP-2"


def test_a_versions_diff_counts_a_material_listed_twice(candle):
    v1 = candle["version"]
    services.line_add(version=v1, material=candle["wax"], quantity=D(100), unit="g")
    services.version_freeze(version=v1)
    v2 = services.version_draft_from(version=v1)
    services.line_remove(line=v2.lines.get(material=candle["wax"], quantity=D(100)))
    changes = [(c.what, c.before, c.after) for c in selectors.version_diff(v1, v2)]
    assert changes == [("changed", "100 g + 4.8 kg", "4.8 kg")]


def test_a_fixed_line_makes_bigger_batches_cheaper_per_unit(stocked, bench):
    c = stocked
    cloth = MaterialFactory(item__name="Cleaning cloth", item__unit="each")
    receive(cloth.item, bench, "10", unit_cost="2.40")
    services.line_add(version=c["version"], material=cloth, quantity=D(1), basis=Basis.FIXED)
    split = {c["lavender"].pk: D(12), c["cedar"].pk: D(12)}
    estimate = selectors.cost_estimate(c["version"], split, location=bench)
    # One cloth (2.40) for any batch: 0.20 a candle at 12, 0.10 at 24, 0.05 at 48.
    costs = {size: per[c["lavender"].pk] for size, per in estimate.comparison}
    assert costs[D(12)] == D("5.30") and costs[D(24)] == D("5.95")
    assert costs[D(48)] == D("6.525")


def test_a_percentage_rescaled_to_nothing_is_refused(balm):
    v = balm["version"]
    services.line_add(version=v, material=balm["Beeswax"], percent=D("0.001"))
    with pytest.raises(ValidationError) as err:
        services.version_update(
            version=v, standard_yield=D(20), target_mass=D("0.01"), target_unit="g"
        )
    assert "0.001 % of the new mass rounds to nothing" in err.value.messages[0]


def test_an_ingredient_measured_by_volume_is_still_on_the_label(balm):
    v = balm["version"]
    services.line_add(version=v, material=balm["Beeswax"], percent=D(100))
    parfum = MaterialFactory(item__name="Fragrance", item__unit="ml", label_name="Parfum")
    services.line_add(version=v, material=parfum, quantity=D(1), unit="ml", basis=Basis.PER_UNIT)
    names = [name for name, _ in selectors.ingredient_list(v, balm["product"].variants.get())]
    assert names == ["Cera Alba", "Parfum"]
