"""Label sheets for a product lot: the ingredient list from what the lot really used (worked
out by hand below), the QR code decoded back to the lot's page, the sheets' geometry against
Avery's templates, a start position on a used sheet, and bad figures answered on the form."""

import re
from decimal import Decimal as D
from pathlib import Path

import pytest
import segno
import zxingcpp
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from batches import labels, services
from batches.forms import COUNT_RANGE
from batches.models import BatchLot, LotRole
from loomworks.env import env_site_url
from materials.models import Material
from tests.batches.conftest import key, plan, planned_uses
from tests.batches.test_stages import cure, mix, soap_plan, wrap
from tests.factories import UserFactory
from tests.materials.factories import MaterialFactory
from tests.stock.factories import receive

pytestmark = pytest.mark.django_db
CSS = Path(__file__).resolve().parents[2] / "static" / "css"


def name_on_labels(item, label_name):
    Material.objects.filter(item=item).update(label_name=label_name)


def saleable(batch):
    rows = BatchLot.objects.filter(batch=batch, role=LotRole.SALEABLE).select_related("lot")
    return {row.variant.name: row.lot for row in rows}


@pytest.fixture
def candles(candle):
    """A completed candle batch that did not go to plan. 5 lavender and 5 cedar planned; the
    maker used 1,100 g of wax (first expiry first: all 800 g of W1 at 0.01, then 300 g of W2
    at 0.02), 60 g of lavender oil, 50 g of cedar oil and 10 jars, and one lavender candle
    cracked: 4 lavender and 5 cedar made."""
    name_on_labels(candle.wax, "Soy Wax")
    name_on_labels(candle.lav_oil, "Lavandula Angustifolia Oil")
    name_on_labels(candle.ced_oil, "Cedrus Atlantica Wood Oil")
    batch = plan(candle)
    services.stage_complete(
        batch=batch,
        position=0,
        uses=[
            services.Use(item=candle.wax, quantity=D(1100)),
            services.Use(item=candle.lav_oil, quantity=D(60), variant=candle.lavender),
            services.Use(item=candle.ced_oil, quantity=D(50), variant=candle.cedar),
            services.Use(item=candle.jar, quantity=D(10)),
        ],
        made=[
            services.Made(variant=candle.lavender, saleable=D(4), rejected=D(1), reason="cracked"),
            services.Made(variant=candle.cedar, saleable=D(5)),
        ],
        user=None,
        idempotency_key=key(),
    )
    batch.refresh_from_db()
    candle.batch, candle.lots_made = batch, saleable(batch)
    return candle


def url(batch, **query):
    return reverse("batches:labels", args=[batch.pk]), {k: str(v) for k, v in query.items()}


# What a unit is made of --------------------------------------------------------------------


def test_a_candle_lists_what_its_lot_really_used_per_unit_heaviest_first(candles):
    # The wax is shared by weight, 4 lavender to 5 cedar, and its grams follow its cost:
    # W1 8.00 splits 3.5555555555 / 4.4444444445, so 355.555555 g / 444.444445 g; W2 6.00
    # splits 2.6666666666 / 3.3333333334, so 133.333333 g / 166.666667 g. The lavender lot
    # holds 488.888888 g over 4 candles, 122.222222 g each (the recipe says 100 g), and all
    # 60 g of lavender oil, 15 g each (the recipe says 10 g). The jar has no label name.
    lavender = labels.lot_ingredients(candles.lots_made["Lavender"])
    assert lavender == [
        labels.Ingredient("Soy Wax", D("122.222222")),
        labels.Ingredient("Lavandula Angustifolia Oil", D("15")),
    ]
    # Cedar: 611.111112 g of wax over 5, and its own 50 g of oil: 10 g each.
    cedar = labels.lot_ingredients(candles.lots_made["Cedar"])
    assert cedar == [
        labels.Ingredient("Soy Wax", D("122.222222")),
        labels.Ingredient("Cedrus Atlantica Wood Oil", D("10")),
    ]


def test_a_soap_bar_follows_its_loaf_through_three_stages_to_the_oils(soap):
    for name, label_name in [
        ("Olive oil", "Olea Europaea Fruit Oil"),
        ("Lye", "Sodium Hydroxide"),
        ("Lavender EO", "Lavandula Angustifolia Oil"),
        ("Mint EO", "Mentha Piperita Oil"),
    ]:
        name_on_labels(soap.m[name].item, label_name)
    batch = soap_plan(soap)
    mix(soap, batch)
    cure(soap, batch)
    wrap(soap, batch)
    bars = saleable(batch)
    # The lavender loaf (670 g made) took 500 g of olive oil, 70 g of lye and 100 g of
    # lavender oil; curing took all 670 g into 603 g of cured loaf; wrapping took all 603 g
    # into 5 bars. A bar holds 603 / 5 g of cured loaf = 120.6 x 670 / 603 g of loaf, so
    # 100 g of olive oil, 14 g of lye and 20 g of lavender oil: as mixed, water lost or not.
    assert labels.lot_ingredients(bars["Lavender"]) == [
        labels.Ingredient("Olea Europaea Fruit Oil", D("100")),
        labels.Ingredient("Lavandula Angustifolia Oil", D("20")),
        labels.Ingredient("Sodium Hydroxide", D("14")),
    ]
    assert [i.name for i in labels.lot_ingredients(bars["Mint"])] == [
        "Olea Europaea Fruit Oil",
        "Mentha Piperita Oil",
        "Sodium Hydroxide",
    ]


def test_units_finished_later_list_what_their_lot_in_progress_was_made_of(candle):
    name_on_labels(candle.wax, "Soy Wax")
    name_on_labels(candle.lav_oil, "Lavandula Angustifolia Oil")
    batch = plan(candle)
    services.stage_complete(
        batch=batch,
        position=0,
        uses=planned_uses(candle),
        made=[
            services.Made(variant=candle.lavender, saleable=D(3), in_progress=D(2)),
            services.Made(variant=candle.cedar, saleable=D(5)),
        ],
        user=None,
        idempotency_key=key(),
    )
    services.batch_finish_rest(
        batch=batch,
        made=[services.Made(variant=candle.lavender, saleable=D(2))],
        user=None,
        idempotency_key=key(),
    )
    # Weights 3 saleable, 2 in progress, 5 cedar: W1's 800 g go 240 / 160 / 400 and W2's
    # 200 g 60 / 40 / 100, so 100 g of wax a candle either way; the 50 g of lavender oil go
    # 30 / 20, 10 g a candle. Finishing the rest took the 2 in progress whole into CND-01-LAV-2.
    expected = [
        labels.Ingredient("Soy Wax", D("100")),
        labels.Ingredient("Lavandula Angustifolia Oil", D("10")),
    ]
    for code in ["CND-01-LAV", "CND-01-LAV-2"]:
        lot = BatchLot.objects.get(batch=batch, lot__code=code, role=LotRole.SALEABLE).lot
        assert labels.lot_ingredients(lot) == expected


def test_a_count_item_weighs_its_net_weight_and_a_volume_comes_last(candle):
    name_on_labels(candle.wax, "Soy Wax")
    wick = MaterialFactory(item__name="Wick", item__unit="each", item__net_weight_g=D("0.8"))
    dye = MaterialFactory(item__name="Liquid dye", item__unit="ml")
    name_on_labels(wick.item, "Cotton")
    name_on_labels(dye.item, "CI 77491")
    receive(wick.item, candle.bench, "50", unit_cost="0.10", code="WK1")
    receive(dye.item, candle.bench, "100", unit_cost="0.20", code="DY1")
    batch = plan(candle)
    services.stage_complete(
        batch=batch,
        position=0,
        uses=[
            services.Use(item=candle.wax, quantity=D(1000)),
            services.Use(item=wick.item, quantity=D(10)),
            services.Use(item=dye.item, quantity=D(5)),
            services.Use(item=candle.lav_oil, quantity=D(50), variant=candle.lavender),
            services.Use(item=candle.ced_oil, quantity=D(50), variant=candle.cedar),
            services.Use(item=candle.jar, quantity=D(10)),
        ],
        made=[
            services.Made(variant=candle.lavender, saleable=D(5)),
            services.Made(variant=candle.cedar, saleable=D(5)),
        ],
        user=None,
        idempotency_key=key(),
    )
    # 100 g of wax, a wick of 0.8 g, and 0.5 ml of dye that has no mass without a density.
    assert labels.lot_ingredients(saleable(batch)["Lavender"]) == [
        labels.Ingredient("Soy Wax", D("100")),
        labels.Ingredient("Cotton", D("0.8")),
        labels.Ingredient("CI 77491", None),
    ]


def test_the_ingredient_list_takes_two_queries_however_many_stages(soap, candles):
    batch = soap_plan(soap)
    mix(soap, batch)
    cure(soap, batch)
    wrap(soap, batch)
    for lot in [saleable(batch)["Lavender"], candles.lots_made["Cedar"]]:
        with CaptureQueriesContext(connection) as queries:
            labels.lot_ingredients(lot)
        assert len(queries) == 2


# The page ----------------------------------------------------------------------------------


def sheets_in(page) -> list[str]:
    """Each sheet's HTML, in order."""
    return page.text.split('<div class="sheet sheet-')[1:]


def test_the_page_prints_a_lot_from_a_position_of_a_used_sheet(viewer_client, candles):
    lot = candles.lots_made["Lavender"]
    path, query = url(candles.batch, lot=lot.pk, sheet="L7160", count=4, start=3)
    page = viewer_client.get(path, query)
    assert page.status_code == 200
    [sheet] = sheets_in(page)
    assert sheet.startswith('L7160"')
    # Positions 1 and 2 are used already: blank boxes, then the four labels.
    assert sheet.count('class="label label-used"') == 2
    assert sheet.count('<div class="label">') == 4
    assert sheet.index("label-used") < sheet.index('<div class="label">')
    label = sheet[sheet.index('<div class="label">') :]
    assert "Soy candle" in label and "Lavender" in label
    assert f"Batch <b>{lot.code}</b>" in label
    assert f'<p class="label-date">Best before {lot.expiry_date:%-d %b %Y}</p>' in label
    assert "Ingredients:</b> Soy Wax, Lavandula Angustifolia Oil." in label
    assert "Test workshop" in label
    assert 'href="/static/css/labels-a4.css"' in page.text
    assert "Print 4 labels" in page.text


def test_a_long_run_spills_onto_more_sheets_after_the_used_positions(viewer_client, candles):
    lot = candles.lots_made["Cedar"]
    path, query = url(candles.batch, lot=lot.pk, sheet="L7160", count=25, start=20)
    sheets = sheets_in(viewer_client.get(path, query))
    # 19 used, 2 labels; a full sheet of 21; the last 2.
    assert [s.count('<div class="label">') for s in sheets] == [2, 21, 2]
    assert [s.count("label-used") for s in sheets] == [19, 0, 0]


def test_avery_5160_prints_on_letter_and_starts_anywhere_on_its_30(viewer_client, candles):
    lot = candles.lots_made["Cedar"]
    path, query = url(candles.batch, lot=lot.pk, sheet="5160", count=1, start=30)
    page = viewer_client.get(path, query)
    [sheet] = sheets_in(page)
    assert sheet.startswith('5160"')
    assert sheet.count("label-used") == 29 and sheet.count('<div class="label">') == 1
    assert 'href="/static/css/labels-letter.css"' in page.text


def test_the_page_without_figures_offers_a_label_per_unit_made_from_position_1(
    viewer_client, candles
):
    lot = candles.lots_made["Lavender"]
    path, query = url(candles.batch, lot=lot.pk)
    page = viewer_client.get(path, query)
    [sheet] = sheets_in(page)
    assert sheet.count('<div class="label">') == 4  # 4 lavender candles made
    assert 'name="start" value="1"' in page.text


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("count", "abc", COUNT_RANGE.format(most=300)),
        ("count", "0", COUNT_RANGE.format(most=300)),
        ("count", "-3", COUNT_RANGE.format(most=300)),
        ("count", "2.5", COUNT_RANGE.format(most=300)),
        ("count", "1e3", COUNT_RANGE.format(most=300)),
        ("count", "301", COUNT_RANGE.format(most=300)),
        ("count", "9" * 5000, COUNT_RANGE.format(most=300)),
        ("count", "", COUNT_RANGE.format(most=300)),
        ("start", "22", "Start at a label from 1 to 21: a sheet of L7160 has 21 labels"),
        ("start", "0", "Start at a label from 1 to 21"),
        ("start", "x", "Start at a label from 1 to 21"),
        ("sheet", "L9999", "Choose a label sheet: L7160, 5160."),
        ("lot", "999999", "Choose a saleable lot of batch CND-01: CND-01-LAV, CND-01-CED."),
        ("lot", "abc", "Choose a saleable lot of batch CND-01"),
    ],
)
def test_bad_figures_are_named_on_the_form_and_print_nothing(
    viewer_client, candles, field, value, message
):
    lot = candles.lots_made["Lavender"]
    query = {"lot": lot.pk, "sheet": "L7160", "count": 4, "start": 1, field: value}
    page = viewer_client.get(*url(candles.batch, **query))
    assert page.status_code == 200
    assert message in page.text
    assert not sheets_in(page)
    assert "Nothing to print until the form is put right." in page.text


def test_a_lot_that_is_not_a_product_lot_is_named_and_refused(viewer_client, candles):
    wax_lot = candles.lots["W1"]
    page = viewer_client.get(*url(candles.batch, lot=wax_lot.pk))
    assert (
        "Lot W1 is not a saleable lot of batch CND-01: labels go on finished products. "
        "Choose CND-01-LAV, CND-01-CED." in page.text
    )
    assert not sheets_in(page)


def test_a_batch_that_made_nothing_yet_says_so(viewer_client, candle):
    batch = plan(candle)
    page = viewer_client.get(reverse("batches:labels", args=[batch.pk]))
    assert page.status_code == 200
    assert "has no saleable lots yet: labels are printed for what a completed batch made" in (
        page.text
    )


def test_it_requires_the_permission_to_view_batches(client, candles):
    path = reverse("batches:labels", args=[candles.batch.pk])
    assert client.get(path).status_code == 302  # to sign in
    client.force_login(UserFactory(username="nobody"))
    assert client.get(path).status_code == 403


def test_the_batch_page_links_each_saleable_lot_to_its_labels(viewer_client, candles):
    page = viewer_client.get(reverse("batches:detail", args=[candles.batch.pk]))
    for lot in candles.lots_made.values():
        assert f"/batches/{candles.batch.pk}/labels/?lot={lot.pk}" in page.text
    assert page.text.count(">Print labels</a>") == 2


def test_the_page_runs_as_many_queries_for_ten_sheets_as_for_one(viewer_client, candles):
    lot = candles.lots_made["Cedar"]
    counts = []
    for count in (1, 210):
        with CaptureQueriesContext(connection) as queries:
            page = viewer_client.get(*url(candles.batch, lot=lot.pk, count=count))
        assert page.status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]


def test_the_page_has_no_inline_style_or_script_for_the_csp(viewer_client, candles):
    page = viewer_client.get(*url(candles.batch, lot=candles.lots_made["Cedar"].pk))
    assert " style=" not in page.text and "<style" not in page.text
    assert "<script>" not in page.text and "onclick" not in page.text


# The QR code -------------------------------------------------------------------------------


def drawn_matrix(svg: str) -> list[list[bool]]:
    """The modules an SVG from segno draws, quiet zone included: its path is runs of
    horizontal strokes one module thick ("M4 4.5h7m2 0h1..."), read back into a grid."""
    size = int(re.search(r'viewBox="0 0 (\d+) \1"', svg).group(1))
    path = re.search(r'<path[^>]* d="([^"]+)"', svg).group(1)
    grid = [[False] * size for _ in range(size)]
    x = y = 0.0
    for command, a, b in re.findall(r"([Mmh])(-?[\d.]+)(?: (-?[\d.]+))?", path):
        if command == "M":
            x, y = float(a), float(b)
        elif command == "m":
            x, y = x + float(a), y + float(b)
        else:  # h: a run of dark modules on row y - 0.5
            for column in range(round(x), round(x + float(a))):
                grid[int(y)][column] = True
            x += float(a)
    assert re.sub(r"[Mmh]-?[\d.]+( -?[\d.]+)?", "", path) == "", "only M, m and h expected"
    return grid


def decode(grid: list[list[bool]], scale: int = 4) -> str:
    """Read the grid as a camera would: a black-on-white bitmap, decoded by zxing-cpp."""
    width = len(grid) * scale
    pixels = bytearray()
    for row in grid:
        line = bytes(0 if dark else 255 for dark in row for _ in range(scale))
        pixels += line * scale
    [barcode] = zxingcpp.read_barcodes(memoryview(bytes(pixels)).cast("B", (width, width)))
    assert barcode.format == zxingcpp.BarcodeFormat.QRCode
    return barcode.text


def qr_on(page) -> str:
    return re.search(r'<svg viewBox="[^"]+" class="qr">.*?</svg>', page.text).group(0)


def test_the_qr_code_reads_as_the_lots_page_at_this_sites_address(viewer_client, candles):
    lot = candles.lots_made["Lavender"]
    page = viewer_client.get(*url(candles.batch, lot=lot.pk))
    address = f"http://testserver/stock/lots/{lot.pk}/"
    grid = drawn_matrix(qr_on(page))
    assert decode(grid) == address
    # And module for module what segno makes of the address, its 4-module quiet zone around.
    expected = segno.make_qr(address, error="m").matrix
    assert [row[4:-4] for row in grid[4:-4]] == [[bool(m) for m in row] for row in expected]
    assert not any(grid[0]) and not any(row[0] for row in grid)


def test_site_url_gives_the_qr_codes_address(viewer_client, candles, settings):
    settings.SITE_URL = "https://loom.example.com"
    lot = candles.lots_made["Cedar"]
    page = viewer_client.get(*url(candles.batch, lot=lot.pk))
    assert decode(drawn_matrix(qr_on(page))) == f"https://loom.example.com/stock/lots/{lot.pk}/"


def test_site_url_is_read_strictly(monkeypatch):
    monkeypatch.setenv("SITE_URL", "https://loom.example.com/")
    assert env_site_url("SITE_URL") == "https://loom.example.com"
    monkeypatch.setenv("SITE_URL", "")
    assert env_site_url("SITE_URL") == ""
    for bad in ["loom.example.com", "ftp://loom.example.com", "https://", "https://x.com/loom"]:
        monkeypatch.setenv("SITE_URL", bad)
        with pytest.raises(ImproperlyConfigured, match="SITE_URL must be the site's address"):
            env_site_url("SITE_URL")


# The sheets' geometry ----------------------------------------------------------------------


@pytest.mark.parametrize("code", ["L7160", "5160"])
def test_a_sheets_labels_tile_its_paper_as_avery_lays_them_out(code):
    s = labels.SHEETS[code]
    # Symmetric margins: the grid and its margins fill the paper exactly.
    assert 2 * s.left + (s.columns - 1) * s.pitch_x + s.label_width == s.paper_width
    assert 2 * s.top + (s.rows - 1) * s.pitch_y + s.label_height == s.paper_height
    assert s.gap_y == 0  # butt-cut rows


def test_label_corners_are_where_avery_puts_them():
    l7160, us5160 = labels.SHEETS["L7160"], labels.SHEETS["5160"]
    assert (l7160.label_width, l7160.label_height, l7160.per_sheet) == (D("63.5"), D("38.1"), 21)
    assert l7160.corner(1) == (D("7.21"), D("15.15"))
    assert l7160.corner(5) == (D("73.25"), D("53.25"))  # second row, middle
    assert l7160.corner(21) == (D("139.29"), D("243.75"))
    assert (us5160.label_width, us5160.label_height, us5160.per_sheet) == (
        D("66.675"),  # 2 5/8 in
        D("25.4"),  # 1 in
        30,
    )
    assert us5160.corner(1) == (D("4.7625"), D("12.7"))  # 3/16 in, 1/2 in
    assert us5160.corner(30) == (D("144.4625"), D("241.3"))  # 5 11/16 in, 9 1/2 in


def css_block(text: str, selector: str) -> dict[str, str]:
    body = re.search(re.escape(selector) + r"\s*\{([^}]*)\}", text).group(1)
    return dict(
        (name.strip(), value.strip())
        for name, value in (d.split(":", 1) for d in body.split(";") if d.strip())
    )


@pytest.mark.parametrize("code", ["L7160", "5160"])
def test_the_stylesheet_places_the_boxes_with_the_sheets_figures(code):
    s = labels.SHEETS[code]
    css = (CSS / "labels.css").read_text()
    figures = css_block(css, f".sheet-{code}")
    mm = lambda value: f"{value.normalize():f}mm"  # noqa: E731
    assert figures == {
        "--paper-width": mm(s.paper_width),
        "--paper-height": mm(s.paper_height),
        "--columns": str(s.columns),
        "--label-width": mm(s.label_width),
        "--label-height": mm(s.label_height),
        "--top": mm(s.top),
        "--left": mm(s.left),
        "--gap-x": mm(s.gap_x),
        "--gap-y": "0mm",
    }
    grid = css_block(css, ".sheet")
    assert grid["width"] == "var(--paper-width)" and grid["height"] == "var(--paper-height)"
    assert grid["padding"] == "var(--top) 0 0 var(--left)"
    assert grid["grid-template-columns"] == "repeat(var(--columns), var(--label-width))"
    assert grid["grid-auto-rows"] == "var(--label-height)"
    assert (grid["column-gap"], grid["row-gap"]) == ("var(--gap-x)", "var(--gap-y)")
    page = (CSS / f"labels-{s.paper.lower()}.css").read_text()
    assert css_block(page, "@page") == {"size": s.paper, "margin": "0"}
