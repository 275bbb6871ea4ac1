"""The batch pages as a maker uses them: plan with a preview, record and complete stages with
the planned figures or corrected ones, bad input answered on the page, roles held on the
server."""

from decimal import Decimal as D

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from batches import selectors
from batches.forms import StageForm
from batches.models import Batch, BatchLot, LotRole, Status
from batches.services import batch_start
from stock.models import Balance, Movement, Posting
from tests.batches.conftest import plan

pytestmark = pytest.mark.django_db


def stage_data(batch, position=0, **changes):
    """What the stage form posts when the maker changes only `changes`."""
    batch = Batch.objects.get(pk=batch.pk)
    stage = batch.stages.get(position=position)
    planned = selectors.planned_uses(batch, stage)
    last = position == batch.stages.count() - 1
    form = StageForm(batch=batch, stage=stage, planned=planned, last=last)
    data = {}
    for name in form.fields:
        value = form[name].value()
        data[name] = "" if value is None else str(value)
    data.update({k: str(v) for k, v in changes.items()})
    return data


def test_the_plan_page_shows_what_the_batch_needs_and_what_is_short(maker_client, candle):
    page = maker_client.get(reverse("batches:plan"), {"version": candle.version.pk})
    assert page.status_code == 200
    assert "Soy wax" in page.text and "Plan a batch of Soy candle" in page.text
    # 30 candles need 30 jars; 20 are on the shelf.
    preview = maker_client.get(
        reverse("batches:plan"),
        {
            "version": candle.version.pk,
            f"v-{candle.lavender.pk}": "15",
            f"v-{candle.cedar.pk}": "15",
        },
        headers={"HX-Request": "true"},
    )
    assert 'id="plan-preview"' in preview.text and "<form" not in preview.text
    assert "Short of Amber jar" in preview.text


def test_a_short_plan_is_saved_only_when_the_maker_says_so(maker_client, candle):
    url = reverse("batches:plan")
    data = {
        "version": candle.version.pk,
        f"v-{candle.lavender.pk}": "15",
        f"v-{candle.cedar.pk}": "15",
        "production_date": "2026-12-02",
        "idempotency_key": "k1",
    }
    page = maker_client.post(url, data)
    assert "Tick this to save it anyway" in page.text
    assert not Batch.objects.exists()
    response = maker_client.post(url, {**data, "short_ok": "on"})
    batch = Batch.objects.get()
    assert response.url == reverse("batches:detail", args=[batch.pk])
    assert batch.short and batch.planned_units == 30
    maker_client.post(url, {**data, "short_ok": "on"})  # the same form again
    assert Batch.objects.count() == 1


def test_other_batches_still_needing_a_material_count_against_the_shelf(candle):
    plan(candle, lavender=10, cedar=5)  # needs 15 jars
    preview = selectors.plan_preview(
        candle.version, {candle.lavender.pk: D(5), candle.cedar.pk: D(5)}, candle.bench
    )
    jars = next(r for r in preview.rows if r.item == candle.jar)
    assert (jars.on_shelf, jars.others, jars.short) == (20, 15, 5)


def test_completing_from_the_page_with_the_planned_figures(maker_client, candle):
    batch = plan(candle)
    url = reverse("batches:stage", args=[batch.pk, 0])
    page = maker_client.get(url)
    assert page.status_code == 200
    assert 'inputmode="decimal"' in page.text
    assert "First expiry first (W1 800, W2 200)" in page.text  # the preview of the wax draw
    data = stage_data(batch)
    response = maker_client.post(url, data)
    assert response.status_code == 302
    batch.refresh_from_db()
    assert batch.status == Status.COMPLETED
    detail = maker_client.get(reverse("batches:detail", args=[batch.pk]))
    assert "CND-01-LAV" in detail.text and "completed" in detail.text.lower()
    # The same form again (a double tap): once.
    again = maker_client.post(url, data, follow=True)
    assert "already recorded; nothing was posted twice" in again.text
    assert Posting.objects.filter(owner="batches").count() == 1


def test_a_quantity_in_another_unit_is_converted(maker_client, candle):
    batch = plan(candle)
    data = stage_data(batch, **{"q-0": "1", "u-0": "kg"})
    maker_client.post(reverse("batches:stage", args=[batch.pk, 0]), data)
    wax = Movement.objects.filter(lot__item=candle.wax, quantity__lt=0)
    assert sum(m.quantity for m in wax) == -1000


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"q-0": "lots"}, "Enter a number, like 250 or 1.5."),
        ({"q-0": "-5"}, "Enter zero or more."),
        ({"u-0": "ml"}, "Select a valid choice"),
        ({"q-3": "25"}, "Not enough Amber jar at Bench: need 25 each, have 20"),
        ({"lot-0": "999999"}, "Select a valid choice"),
    ],
)
def test_bad_input_is_answered_on_the_page_and_posts_nothing(
    maker_client, candle, changes, message
):
    batch = plan(candle)
    response = maker_client.post(
        reverse("batches:stage", args=[batch.pk, 0]), stage_data(batch, **changes)
    )
    assert response.status_code == 200
    assert message in response.text
    assert not Movement.objects.filter(posting__owner="batches").exists()


def test_a_lot_of_another_material_is_refused_on_the_page(maker_client, candle):
    batch = plan(candle)
    data = stage_data(batch)
    data["lot-0"] = str(candle.lots["JAR"].pk)  # not one of the wax lots offered
    response = maker_client.post(reverse("batches:stage", args=[batch.pk, 0]), data)
    assert response.status_code == 200 and "Select a valid choice" in response.text
    assert not Posting.objects.filter(owner="batches").exists()


def test_a_gain_is_allowed_and_flagged(maker_client, candle):
    batch = plan(candle)
    data = stage_data(batch, **{f"ok-{candle.lavender.pk}": "6"})
    page = maker_client.post(reverse("batches:stage", args=[batch.pk, 0]), data, follow=True)
    assert "More than planned, check the count: Lavender: 6 saleable of 5 planned" in page.text
    assert "gain: check" in page.text


def test_an_htmx_completion_answers_with_a_redirect_and_errors_with_the_form(maker_client, candle):
    batch = plan(candle)
    url = reverse("batches:stage", args=[batch.pk, 0])
    bad = maker_client.post(url, stage_data(batch, **{"q-3": "25"}), headers={"HX-Request": "true"})
    assert bad.status_code == 200 and 'id="stage-form"' in bad.text and "<html" not in bad.text
    good = maker_client.post(url, stage_data(batch), headers={"HX-Request": "true"})
    assert good.headers["HX-Redirect"] == reverse("batches:detail", args=[batch.pk])


def test_a_new_scrap_item_is_made_from_the_stage_form(maker_client, candle):
    batch = plan(candle)
    data = stage_data(batch, **{"sn-0": "Sooty wax", "su-0": "g", "sq-0": "30", "sv-0": "1.50"})
    maker_client.post(reverse("batches:stage", args=[batch.pk, 0]), data)
    scrap = BatchLot.objects.get(batch=batch, role=LotRole.SCRAP).lot
    assert scrap.item.name == "Sooty wax" and scrap.item.kind == "scrap"
    assert Balance.objects.get(lot=scrap).quantity == 30


def test_a_viewer_reads_but_cannot_plan_or_run(viewer_client, candle):
    batch = plan(candle)
    assert viewer_client.get(reverse("batches:detail", args=[batch.pk])).status_code == 200
    assert viewer_client.get(reverse("batches:plan")).status_code == 403
    assert viewer_client.post(reverse("batches:stage", args=[batch.pk, 0]), {}).status_code == 403


def test_only_an_owner_reverses_a_batch(maker_client, owner, candle):
    owner_client = Client()
    owner_client.force_login(owner)
    batch = plan(candle)
    maker_client.post(reverse("batches:stage", args=[batch.pk, 0]), stage_data(batch))
    url = reverse("batches:reverse", args=[batch.pk])
    assert maker_client.post(url, {"note": "x", "idempotency_key": "r1"}).status_code == 403
    page = owner_client.post(url, {"note": "wrong wax", "idempotency_key": "r1"}, follow=True)
    assert "reversed: it is running again" in page.text
    batch.refresh_from_db()
    assert batch.status == Status.RUNNING


def test_the_batch_page_reads_in_a_fixed_number_of_queries(maker_client, candle):
    batch = plan(candle)
    maker_client.post(reverse("batches:stage", args=[batch.pk, 0]), stage_data(batch))
    url = reverse("batches:detail", args=[batch.pk])
    maker_client.get(url)
    with CaptureQueriesContext(connection) as few:
        maker_client.get(url)
    other = plan(candle, lavender=3, cedar=2)
    maker_client.post(reverse("batches:stage", args=[other.pk, 0]), stage_data(other))
    maker_client.get(reverse("batches:detail", args=[other.pk]))  # shows the message once
    with CaptureQueriesContext(connection) as more:
        maker_client.get(reverse("batches:detail", args=[other.pk]))
    assert len(more) == len(few) and len(few) < 30


def test_the_bench_and_the_dashboard_show_running_batches(maker_client, candle):
    batch = plan(candle)
    maker_client.post(reverse("batches:start", args=[batch.pk]))
    bench = maker_client.get(reverse("batches:bench"))
    assert batch.reference in bench.text and "Complete" in bench.text
    dashboard = maker_client.get(reverse("dashboard"))
    assert "Running" in dashboard.text and batch.reference in dashboard.text


def test_the_list_filters_by_status_and_searches_by_reference(maker_client, candle):
    done, planned = plan(candle), plan(candle)
    maker_client.post(reverse("batches:stage", args=[done.pk, 0]), stage_data(done))
    page = maker_client.get(reverse("batches:list"), {"status": "completed"})
    assert done.reference in page.text and planned.reference not in page.text
    page = maker_client.get(reverse("batches:list"), {"q": planned.reference})
    assert planned.reference in page.text and done.reference not in page.text


def test_the_admin_reads_a_started_batch_and_corrects_only_a_planned_one(owner, candle):
    admin = Client()
    admin.force_login(owner)
    planned, started = plan(candle), plan(candle)
    batch_start(batch=started, user=None)
    page = admin.get(reverse("admin:batches_batch_change", args=[planned.pk]))
    assert page.status_code == 200 and 'name="notes"' in page.text
    page = admin.get(reverse("admin:batches_batch_change", args=[started.pk]))
    assert page.status_code == 200 and 'name="notes"' not in page.text
    assert admin.get(reverse("admin:batches_batch_add")).status_code == 403
