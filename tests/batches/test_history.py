"""A product's batch history: yield, cost per unit and each material's variance over its
completed runs, and the recipe's estimate learning from the yields. Every figure is worked out
by hand from the candle workshop in conftest.py."""

from datetime import timedelta
from decimal import Decimal as D

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from batches import charts, history, selectors, services
from recipes.selectors import cost_estimate, yield_ratio
from stock.models import workshop_today
from tests.batches.conftest import key, planned_uses
from tests.stock.factories import receive

pytestmark = pytest.mark.django_db

SIX = D("0.000001")


def run(c, *, days_ago=0, lavender=5, cedar=5, wax=None, lav_oil=None, made=None, notes=""):
    """Plan a batch of the candle and complete it, using the recipe's quantities except
    `wax` and `lav_oil` (grams) when given; every unit saleable unless `made` says."""
    batch = services.batch_plan(
        version=c.version,
        split={c.lavender: D(lavender), c.cedar: D(cedar)},
        production_date=workshop_today() - timedelta(days=days_ago),
        user=None,
        idempotency_key=key(),
        notes=notes,
    )
    complete(c, batch, lavender=lavender, cedar=cedar, wax=wax, lav_oil=lav_oil, made=made)
    return batch


def complete(c, batch, *, lavender=5, cedar=5, wax=None, lav_oil=None, made=None):
    uses = planned_uses(c, lavender, cedar)
    if wax is not None:
        uses[0] = services.Use(item=c.wax, quantity=D(wax))
    if lav_oil is not None:
        uses[1] = services.Use(item=c.lav_oil, quantity=D(lav_oil), variant=c.lavender)
    services.stage_complete(
        batch=batch,
        position=0,
        uses=uses,
        made=made
        or [
            services.Made(variant=c.lavender, saleable=D(lavender)),
            services.Made(variant=c.cedar, saleable=D(cedar)),
        ],
        user=None,
        idempotency_key=key(),
    )


@pytest.fixture
def two_runs(candle):
    """Two runs of 10 candles, the later one made first.

    The later run (2 days ago) pours 1,040 g of wax (+4.0 %): W1 800 g x 0.01 = 8.00 and W2
    240 g x 0.02 = 4.80; with 10 jars, 22.80 shared over its 9 saleable candles (one lavender
    cracked): 2.5333333333 each. Lavender oil 50 g x 0.50 = 25.00 over 4: 6.25, so 8.7833333333
    a lavender candle; cedar oil 15.00 over 5: 3.00, so 5.5333333333. Yield 9 of 10: 90.0 %.

    The earlier run (9 days ago) pours 980 g (-2.0 %): W2 760 g x 0.02 = 15.20 and W3 220 g x
    0.03 = 6.60; with 10 jars, 31.80 over its 8 saleable candles (two cedar sooty): 3.975 each.
    Lavender oil 45 g (-10.0 %) x 0.50 = 22.50 over 5: 4.50, so 8.475; cedar oil 15.00 over 3:
    5.00, so 8.975. Yield 8 of 10: 80.0 %.

    Over both: wax 2,020 g of 2,000 g planned, +1.0 %; lavender oil 95 g of 100 g, -5.0 %;
    17 saleable of 20 planned, 85.0 %."""
    receive(candle.wax, candle.bench, "1000", unit_cost="0.03", code="W3")
    later = run(
        candle,
        days_ago=2,
        wax=1040,
        made=[
            services.Made(variant=candle.lavender, saleable=D(4), rejected=D(1), reason="cracked"),
            services.Made(variant=candle.cedar, saleable=D(5)),
        ],
        notes="New wick supplier",
    )
    earlier = run(
        candle,
        days_ago=9,
        wax=980,
        lav_oil=45,
        made=[
            services.Made(variant=candle.lavender, saleable=D(5)),
            services.Made(variant=candle.cedar, saleable=D(3), rejected=D(2), reason="sooty"),
        ],
    )
    return earlier, later


def test_the_history_lists_completed_runs_in_date_order_with_their_yields(candle, two_runs):
    earlier, later = two_runs
    h = history.product_history(candle.product)
    assert [r.batch for r in h.runs] == [earlier, later]
    assert [(r.planned, r.saleable, r.yield_percent) for r in h.runs] == [
        (10, 8, D("80.0")),
        (10, 9, D("90.0")),
    ]
    assert (h.planned, h.saleable, h.yield_percent) == (20, 17, D("85.0"))
    assert not h.earlier


def test_the_cost_per_unit_is_read_from_each_run_s_saleable_lots(candle, two_runs):
    h = history.product_history(candle.product)
    assert h.variants == [candle.lavender, candle.cedar]
    first, second = h.runs
    assert first.unit_costs == [D("8.475"), D("8.975")]
    assert [c.quantize(SIX) for c in second.unit_costs] == [D("8.783333"), D("5.533333")]


def test_each_material_s_variance_per_run_and_on_average(candle, two_runs):
    later = two_runs[1]
    h = history.product_history(candle.product)
    by_name = {m.item.name: m for m in h.materials}
    assert list(by_name) == ["Soy wax", "Lavender oil", "Cedar oil", "Amber jar"]
    wax = by_name["Soy wax"]
    assert [c.used for c in wax.cells] == [980, 1040]
    assert [c.percent for c in wax.cells] == [D("-2.0"), D("4.0")]
    assert (wax.used, wax.planned, wax.runs, wax.percent) == (2020, 2000, 2, D("1.0"))
    lav = by_name["Lavender oil"]
    assert [c.percent for c in lav.cells] == [D("-10.0"), D("0.0")]
    assert lav.percent == D("-5.0")
    assert by_name["Amber jar"].percent == 0
    # The batch page says the same of the same run.
    page = {m.item.name: m.percent for m in selectors.batch_figures(later).materials}
    assert page["Soy wax"] == wax.cells[1].percent == D("4.0")


def test_a_material_the_recipe_does_not_plan_is_listed_as_an_extra(candle):
    offcuts = receive(candle.scrap_item, candle.bench, "100", unit_cost="0.05").item
    batch = services.batch_plan(
        version=candle.version,
        split={candle.lavender: D(5), candle.cedar: D(5)},
        production_date=workshop_today(),
        user=None,
        idempotency_key=key(),
    )
    services.stage_complete(
        batch=batch,
        position=0,
        uses=[*planned_uses(candle), services.Use(item=offcuts, quantity=D(40))],
        made=[
            services.Made(variant=candle.lavender, saleable=D(5)),
            services.Made(variant=candle.cedar, saleable=D(5)),
        ],
        user=None,
        idempotency_key=key(),
    )
    extra = history.product_history(candle.product).materials[-1]
    assert (extra.item, extra.runs, extra.extra_runs, extra.extra_used) == (offcuts, 0, 1, 40)
    assert extra.percent is None


def test_a_reversed_batch_leaves_the_history_and_comes_back_with_its_new_figures(candle, two_runs):
    """A third run of 4 candles (400 g of wax planned) is reversed: it runs again and is not
    in the history, nor in the recipe's yield. Completed again with 420 g (+5.0 %), it counts
    only what its standing posting drew, not the reversed one nor the reversal."""
    receive(candle.lav_oil, candle.bench, "100", unit_cost="0.50", code="LAV2")
    receive(candle.ced_oil, candle.bench, "100", unit_cost="0.30", code="CED2")
    receive(candle.jar, candle.bench, "10", unit_cost="1.00", code="JAR2")
    third = run(
        candle,
        lavender=2,
        cedar=2,
        made=[
            services.Made(candle.lavender, D(2)),
            services.Made(candle.cedar, D(0), D(2), reason="cracked"),
        ],
    )
    h = history.product_history(candle.product)
    assert h.runs[-1].batch == third and h.runs[-1].yield_percent == D("50.0")
    services.batch_reverse(batch=third, note="wrong wax lot", user=None, idempotency_key=key())
    h = history.product_history(candle.product)
    assert third not in [r.batch for r in h.runs] and len(h.runs) == 2
    assert yield_ratio(candle.version) == D("0.85")  # 17 of 20, the two that stand
    complete(candle, third, lavender=2, cedar=2, wax=420)
    h = history.product_history(candle.product)
    back = h.runs[-1]
    assert back.batch == third and back.yield_percent == D("100.0")
    assert back.materials[candle.wax.pk].used == 420
    assert back.materials[candle.wax.pk].percent == D("5.0")


def test_the_recipe_s_cost_estimate_divides_by_the_yield_batches_achieved(candle):
    """Before any batch: each of 10 planned candles carries a tenth of the batch. A batch of 10
    with 9 saleable (one lavender cracked) teaches the estimate 0.9.

    Then, for 5 + 5 at the bench: wax 800 g left in W2 x 0.02 = 16.00 and 200 g short at its
    last cost 0.02 = 4.00; 10 jars 10.00: 30.00 shared over the 9 candles expected, 3.3333333333
    each. Lavender oil 50 g x 0.50 = 25.00 over 4.5 lavender candles: 5.5555555556; cedar oil
    15.00 over 4.5: 3.3333333333. Lavender 8.8888888889, cedar 6.6666666667."""
    split = {candle.lavender.pk: D(5), candle.cedar.pk: D(5)}
    assert yield_ratio(candle.version) == 1
    run(
        candle,
        made=[
            services.Made(variant=candle.lavender, saleable=D(4), rejected=D(1), reason="cracked"),
            services.Made(variant=candle.cedar, saleable=D(5)),
        ],
    )
    assert yield_ratio(candle.version) == D("0.9")
    estimate = cost_estimate(candle.version, split, location=candle.bench)
    assert (estimate.yield_ratio, estimate.effective_units) == (D("0.9"), 9)
    assert estimate.per_variant == {
        candle.lavender.pk: D("8.8888888889"),
        candle.cedar.pk: D("6.6666666667"),
    }


def test_the_history_keeps_to_the_latest_runs(candle):
    old, newer, newest = (run(candle, days_ago=d, lavender=1, cedar=1) for d in (3, 2, 1))
    h = history.product_history(candle.product, limit=2)
    assert [r.batch for r in h.runs] == [newer, newest] and h.earlier
    assert old not in [r.batch for r in h.runs]


def test_the_history_reads_in_a_fixed_number_of_queries(candle):
    for days in (5, 4):
        run(candle, days_ago=days, lavender=1, cedar=1)
    with CaptureQueriesContext(connection) as two:
        history.product_history(candle.product)
    for days in (3, 2, 1):
        run(candle, days_ago=days, lavender=1, cedar=1, wax=210)
    with CaptureQueriesContext(connection) as five:
        h = history.product_history(candle.product)
    assert len(h.runs) == 5
    assert len(two) == len(five) == 5


def test_a_viewer_reads_the_history_page_with_its_charts(viewer_client, candle, two_runs):
    earlier, later = two_runs
    page = viewer_client.get(reverse("batches:history", args=[candle.product.pk]))
    assert page.text.index(earlier.reference) < page.text.index(later.reference)
    assert page.status_code == 200
    text = page.text
    assert "History of Soy candle" in text
    assert reverse("batches:detail", args=[later.pk]) in text and later.reference in text
    assert "80.0 %" in text and "90.0 %" in text and "85.0 %" in text
    assert "EUR 8.48" in text and "EUR 8.98" in text  # 8.475 and 8.975, to the cent
    assert "+1.0 %</span> on average over 2 runs" in text
    assert "-10.0 %" in text and "New wick supplier" in text
    # Two charts, described in words, with nothing the CSP would block.
    svg = text[text.index("<svg") : text.rindex("</svg>")]
    assert text.count("<svg") == 2
    assert "<title" in svg and "<desc" in svg and "Yield of Soy candle over 2 runs" in svg
    assert "style=" not in svg and "<script" not in svg
    assert 'viewBox="0 0 560 260"' in svg and 'width="100%"' in svg


def test_the_history_page_reads_in_a_fixed_number_of_queries(viewer_client, candle):
    url = reverse("batches:history", args=[candle.product.pk])
    batches = [run(candle, days_ago=days, lavender=1, cedar=1) for days in (5, 4)]
    viewer_client.get(url)
    with CaptureQueriesContext(connection) as two:
        viewer_client.get(url)
    batches += [run(candle, days_ago=days, lavender=1, cedar=1) for days in (3, 2, 1)]
    with CaptureQueriesContext(connection) as five:
        page = viewer_client.get(url)
    assert all(reverse("batches:detail", args=[b.pk]) in page.text for b in batches)
    assert len(two) == len(five) < 20


def test_a_product_without_completed_batches_says_so(viewer_client, candle):
    page = viewer_client.get(reverse("batches:history", args=[candle.product.pk]))
    assert page.status_code == 200
    assert "No completed batches yet" in page.text and "<svg" not in page.text
    missing = viewer_client.get(reverse("batches:history", args=[999999]))
    assert missing.status_code == 404


def test_the_batch_list_the_batch_page_and_the_product_page_link_to_the_history(
    viewer_client, candle
):
    batch = run(candle)
    url = reverse("batches:history", args=[candle.product.pk])
    detail = viewer_client.get(reverse("batches:detail", args=[batch.pk]))
    assert url in detail.text and "History of Soy candle" in detail.text
    listed = viewer_client.get(reverse("batches:list"), {"product": candle.product.pk})
    assert f'href="{url}">History of Soy candle' in listed.text
    product = viewer_client.get(reverse("recipes:product", args=[candle.product.pk]))
    assert f'href="{url}">Batch history' in product.text


def test_a_chart_breaks_its_line_where_a_run_has_no_value():
    chart = charts.line_chart(
        title="t",
        desc="d",
        labels=["1 Mar", "2 Mar", "3 Mar"],
        titles=["A", "B", "C"],
        series=[("Cedar", [D(3), None, D(5)])],
        fmt=str,
    )
    (line,) = chart.series
    assert line.path.count("M") == 2 and "L" not in line.path
    assert [p.title for p in line.points] == ["A: 3", "C: 5"]
    # From 0 to a round figure above the largest value: 0, 2, 4, 6.
    assert [t.label for t in chart.y_ticks] == ["0", "2", "4", "6"]
