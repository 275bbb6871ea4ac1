"""The recipes pages, for each role."""

from decimal import Decimal as D

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from recipes import services
from recipes.models import Basis, RecipeVersion
from tests.materials.factories import MaterialFactory
from tests.stock.factories import LocationFactory, receive

pytestmark = pytest.mark.django_db
UNIT = {"basis": "unit"}


@pytest.fixture
def candle(db):
    product = services.product_create(
        name="Soy candle", code="CND", variants=[("Lavender", "CND-LAV"), ("Cedar", "CND-CED")]
    )
    wax = MaterialFactory(item__name="Soy wax", item__unit="g")
    jar = MaterialFactory(item__name="Amber jar", item__unit="each")
    version = services.recipe_create(product=product, name="Soy candle", standard_yield=D(24))
    services.line_add(version=version, material=wax, quantity=D("4.8"), unit="kg")
    services.line_add(version=version, material=jar, quantity=D(1), basis=Basis.PER_UNIT)
    bench = LocationFactory(name="Bench")
    receive(wax.item, bench, "3000", unit_cost="0.01")
    receive(jar.item, bench, "30", unit_cost="1.50")
    return {"product": product, "version": version, "wax": wax, "jar": jar}


def test_everyone_reads_products_and_recipes(viewer_client, candle):
    html = viewer_client.get(reverse("recipes:products")).content.decode()
    assert "Soy candle" in html and "New product" not in html
    page = viewer_client.get(reverse("recipes:version", args=[candle["version"].pk]))
    html = page.content.decode()
    assert "4.8 kg" in html and "= 4,800 g" in html and "per unit made" in html
    assert "Edit" not in html.split("What a standard batch uses")[0].split("</h1>")[1]


def test_can_i_make_this_shows_the_limit_for_a_split(maker_client, candle):
    v = candle["version"]
    lavender, cedar = candle["product"].variants.order_by("position")
    url = reverse("recipes:version", args=[v.pk]) + f"?v-{lavender.pk}=12&v-{cedar.pk}=12"
    html = maker_client.get(url).content.decode()
    # 24 candles need 4,800 g of wax (3,000 on the bench: 15 candles) and 24 jars (30).
    assert "the stock at Bench makes 15 at this split" in html
    assert "1,800 g" in html  # short
    partial = maker_client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert 'id="check"' in partial and "<html" not in partial


def test_a_split_of_nothing_asks_for_a_quantity(viewer_client, candle):
    lavender, cedar = candle["product"].variants.order_by("position")
    url = reverse("recipes:version", args=[candle["version"].pk])
    html = viewer_client.get(url + f"?v-{lavender.pk}=0&v-{cedar.pk}=").content.decode()
    assert "Choose how many to make: at least one unit." in html


def test_an_owner_adds_a_product_with_variants(owner_client):
    response = owner_client.post(
        reverse("recipes:product-new"),
        {"name": "Soap bar", "code": "soap", "variants": "Lavender, SOAP-LAV\nOat, SOAP-OAT"},
    )
    assert response.status_code == 302
    html = owner_client.get(response.url).content.decode()
    assert "SOAP-LAV" in html and "SOAP-OAT" in html


def test_makers_and_viewers_change_no_recipe(maker_client, candle):
    v = candle["version"]
    assert maker_client.get(reverse("recipes:product-new")).status_code == 403
    assert maker_client.get(reverse("recipes:edit", args=[v.pk])).status_code == 403
    assert maker_client.post(reverse("recipes:version-edit", args=[v.pk])).status_code == 403


def test_the_editor_adds_a_line_and_refuses_a_bad_one(owner_client, candle):
    v = candle["version"]
    lid = MaterialFactory(item__name="Black lid", item__unit="each")
    url = reverse("recipes:edit", args=[v.pk])
    bad = owner_client.post(
        url,
        {"action": "line-add", "material": lid.pk, "quantity": "1", "unit": "g"} | UNIT,
        HTTP_HX_REQUEST="true",
    )
    assert bad.status_code == 200
    assert "Black lid is kept in each: a quantity in g cannot be converted." in bad.content.decode()
    assert v.lines.count() == 2
    good = owner_client.post(
        url,
        {
            "action": "line-add",
            "material": lid.pk,
            "quantity": "1",
            "unit": "each",
            "basis": "unit",
        },
        HTTP_HX_REQUEST="true",
    )
    assert "Black lid" in good.content.decode() and v.lines.count() == 3


def test_editing_a_frozen_version_opens_the_next_draft(owner_client, candle):
    v1 = services.version_freeze(version=candle["version"])
    response = owner_client.post(reverse("recipes:version-edit", args=[v1.pk]))
    v2 = RecipeVersion.objects.get(recipe=v1.recipe, number=2)
    assert response.url == reverse("recipes:edit", args=[v2.pk])
    frozen_editor = owner_client.get(reverse("recipes:edit", args=[v1.pk]))
    assert frozen_editor.status_code == 302


def test_the_diff_page_lists_the_changes(viewer_client, candle):
    v1 = services.version_freeze(version=candle["version"])
    v2 = services.version_draft_from(version=v1)
    services.line_remove(line=v2.lines.get(material=candle["jar"]))
    html = viewer_client.get(reverse("recipes:diff", args=[v2.pk, v1.pk])).content.decode()
    assert "removed" in html and "Amber jar" in html


def test_a_material_page_says_which_recipes_use_it(viewer_client, candle):
    html = viewer_client.get(
        reverse("recipes:where-used", args=[candle["wax"].pk])
    ).content.decode()
    assert "Soy candle" in html and "v1" in html and "4.8 kg" in html


def test_the_quick_check_opens_the_recipe_with_the_units_split(viewer_client, candle):
    recipe = candle["version"].recipe
    response = viewer_client.get(reverse("recipes:quick-check"), {"recipe": recipe.pk, "units": 25})
    lavender, cedar = candle["product"].variants.order_by("position")
    assert f"v-{lavender.pk}=13" in response.url and f"v-{cedar.pk}=12" in response.url


def test_lines_go_out_as_csv_and_come_back_into_a_draft(owner_client, candle):
    v1 = services.version_freeze(version=candle["version"])
    exported = owner_client.get(reverse("recipes:lines-csv", args=[v1.pk])).content.decode()
    assert exported.lstrip("\ufeff").splitlines()[0] == (
        "material_sku,quantity,unit,basis,variant_sku,stage,percent"
    )
    v2 = services.version_draft_from(version=v1)
    for line in v2.lines.all():
        services.line_remove(line=line)
    csv_file = SimpleUploadedFile("lines.csv", exported.encode())
    url = reverse("recipes:lines-import", args=[v2.pk])
    html = owner_client.post(url, {"file": csv_file}).content.decode()
    assert "Every row is right" in html and "Import 2 lines" in html
    token = html.split('name="token" value="')[1].split('"')[0]
    assert owner_client.post(url, {"token": token}).status_code == 302
    assert sorted(str(line.quantity.normalize()) for line in v2.lines.all()) == ["1", "4.8"]
    again = owner_client.post(url, {"token": token}, follow=True).content.decode()
    assert "imported already" in again and v2.lines.count() == 2


def test_an_import_with_bad_rows_marks_them_and_imports_nothing(owner_client, candle):
    v = candle["version"]
    text = (
        "material_sku,quantity,unit,basis,variant_sku\n"
        f"{candle['wax'].item.sku},100,g,batch,\n"
        "NOPE,1,g,batch,\n"
        f"{candle['jar'].item.sku},1,g,unit,\n"
        f"{candle['wax'].item.sku},1,g,variant,SOAP-X\n"
    )
    url = reverse("recipes:lines-import", args=[v.pk])
    html = owner_client.post(url, {"file": SimpleUploadedFile("l.csv", text.encode())})
    html = html.content.decode()
    assert "No material has the SKU NOPE." in html
    assert "Amber jar is kept in each: a quantity in g cannot be converted." in html
    assert "Soy candle has no variant with the SKU SOAP-X." in html
    assert "Nothing was imported" in html and v.lines.count() == 2


def test_lines_and_stages_move_and_a_stage_is_renamed(owner_client, candle):
    v = candle["version"]
    url = reverse("recipes:edit", args=[v.pk])
    jar_line = v.lines.get(material=candle["jar"])
    owner_client.post(url, {"action": "line-up", "line": jar_line.pk})
    assert [line.material.item.name for line in v.lines.order_by("position")] == [
        "Amber jar",
        "Soy wax",
    ]
    stage = services.stage_add(version=v, name="Pour")
    owner_client.post(
        url,
        {
            "action": "stage-rename",
            "stage": stage.pk,
            f"stage-{stage.pk}-name": "Mix and pour",
            f"stage-{stage.pk}-duration_days": "1",
            f"stage-{stage.pk}-expected_loss_percent": "0",
        },
    )
    stage.refresh_from_db()
    assert (stage.name, stage.duration_days) == ("Mix and pour", 1)


def test_a_bad_split_says_why_inside_the_swapped_check(viewer_client, candle):
    lavender, _ = candle["product"].variants.order_by("position")
    url = reverse("recipes:version", args=[candle["version"].pk])
    html = viewer_client.get(url, {f"v-{lavender.pk}": "abc"}, HTTP_HX_REQUEST="true")
    assert "Lavender: Enter a number" in html.content.decode()


def test_saving_the_batch_figures_shows_what_was_saved(owner_client, candle):
    url = reverse("recipes:edit", args=[candle["version"].pk])
    html = owner_client.post(
        url, {"action": "version", "standard_yield": "48", "notes": ""}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert 'value="48"' in html


def test_where_used_without_javascript_is_a_whole_page(viewer_client, candle):
    html = viewer_client.get(
        reverse("recipes:where-used", args=[candle["wax"].pk])
    ).content.decode()
    assert "<html" in html and "Recipes that use Soy wax" in html


def test_an_owner_renames_and_archives_a_product(owner_client, candle):
    product = candle["product"]
    url = reverse("recipes:product-edit", args=[product.pk])
    response = owner_client.post(url, {"name": "Soy candle 200 ml", "archived": "on"})
    assert response.status_code == 302
    product.refresh_from_db()
    assert (product.name, product.archived, product.code) == ("Soy candle 200 ml", True, "CND")
