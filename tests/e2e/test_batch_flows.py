"""A maker runs a batch on the bench tablet: plan it, start it, tap into its stage, complete it
with a wet-handed double tap; and a connection that drops while the completion is sent, before
the server heard it or after it answered, still leaves the batch completed exactly once."""

import re
from decimal import Decimal as D

import pytest
from django.db.models import Sum
from playwright.sync_api import expect

from batches import services
from batches.models import Batch
from stock.models import Balance, Posting
from tests.batches import conftest as batches_world
from tests.e2e.conftest import assert_fits_the_screen, sign_in
from tests.factories import UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
# The batches tests' world: a Bench location, soy candles in lavender and cedar, stock on it.
bench, candle, plan = batches_world.bench, batches_world.candle, batches_world.plan
PASSWORD = "correct-horse-battery"
OFFLINE_NOTE = "Either everything was recorded or nothing was"
# What Chromium and htmx say on the console when a request never gets an answer: expected in
# the tests that drop the connection on purpose, and nothing else is.
LOST_REQUEST = ("Failed to load resource: net::", "htmx:sendError", "htmx:afterRequest")


@pytest.fixture
def mo(db, workshop):
    return UserFactory(role="Maker", username="mo", first_name="Mo", last_name="Maker")


def stock_of(item) -> D:
    return Balance.objects.filter(lot__item=item).aggregate(q=Sum("quantity"))["q"] or D(0)


def postings_of(batch) -> int:
    return Posting.objects.filter(owner="batches", owner_ref=batch.reference).count()


def unexpected(errors) -> list[str]:
    return [e for e in errors if not e.startswith(LOST_REQUEST)]


def tap_target_problems(page, selector) -> list[str]:
    """Visible controls matching `selector` smaller than 44 x 44 CSS pixels (a fingertip)."""
    return page.evaluate(
        """(sel) => Array.from(document.querySelectorAll(sel))
            .filter((el) => el.offsetParent !== null)
            .map((el) => [el, el.getBoundingClientRect()])
            .filter(([, r]) => r.width < 44 || r.height < 44)
            .map(([el, r]) => `${el.name || el.textContent.trim()}: ${r.width}x${r.height}`)""",
        selector,
    )


def test_a_maker_plans_runs_and_completes_a_batch_with_a_double_tap(
    page, live_server, shoot, mo, candle
):
    jars, wax = stock_of(candle.jar), stock_of(candle.wax)
    assert (jars, wax) == (D(20), D(1800))
    sign_in(page, live_server, "mo", PASSWORD, next_path="/batches/plan/")

    # Plan: choose the recipe, type a split, watch the preview follow it, save.
    page.get_by_role("link", name="Soy candle: Soy candle v1").click()
    expect(page.get_by_role("heading", name="Plan a batch of Soy candle")).to_be_visible()
    preview = page.locator("#plan-preview")
    expect(preview).to_contain_text("1,000 g")  # the standard batch of 10: 1 kg of wax
    page.get_by_label("Lavender").fill("4")
    page.get_by_label("Cedar").fill("2")
    # 6 candles: 600 g of wax, 40 g of lavender oil, 20 g of cedar oil, 6 jars.
    expect(preview.locator("tr", has_text="Soy wax")).to_contain_text("600 g")
    expect(preview.locator("tr", has_text="Lavender oil")).to_contain_text("40 g")
    expect(preview.locator("tr", has_text="Cedar oil")).to_contain_text("20 g")
    expect(preview.locator("tr", has_text="Amber jar")).to_contain_text("6 each")
    assert page.locator("form.card").count() == 1  # the preview swapped itself, not a page
    shoot("batch-plan")
    page.get_by_role("button", name="Save the plan").click()
    expect(page.get_by_role("heading", name=re.compile("^Batch "))).to_contain_text("Planned")
    batch = Batch.objects.get()
    assert [(s.variant.name, s.planned) for s in batch.splits.order_by("variant__position")] == [
        ("Lavender", D(4)),
        ("Cedar", D(2)),
    ]

    # Start it from the bench.
    page.goto(live_server.url + "/batches/bench/")
    card = page.locator(".bench-card", has_text=batch.reference)
    card.get_by_role("button", name="Start").dblclick()  # a plain form: app.js guards it
    expect(page.get_by_role("heading", name=f"· {batch.reference}")).to_be_visible()
    expect(page.locator(".message-error")).to_have_count(0)  # the second tap posted nothing

    # Back on the bench it runs; one tap on its card opens the current stage.
    page.goto(live_server.url + "/batches/bench/")
    expect(page.get_by_role("heading", name="Running now")).to_be_visible()
    card = page.locator(".bench-card", has_text=batch.reference)
    assert_fits_the_screen(page)
    shoot("batch-bench")
    card.get_by_role("link", name="Complete").click()
    form = page.locator("#stage-form")
    expect(form).to_be_visible()
    expect(page.get_by_role("heading", name="Complete")).to_contain_text(batch.reference)

    # Large numeric inputs with a decimal keypad; the wax ran a little over.
    amount = page.get_by_label("Soy wax: how much")
    expect(amount).to_have_attribute("inputmode", "decimal")
    expect(amount).to_have_value("600")
    amount.fill("650")
    assert_fits_the_screen(page)
    controls = "input:not([type=hidden]), select, button, summary"
    assert tap_target_problems(page, f"#stage-form :is({controls})") == []
    shoot("batch-stage")

    complete = page.get_by_role("button", name="Complete the batch")
    complete.dblclick()  # a wet-handed double tap
    heading = page.get_by_role("heading", name=f"Batch {batch.reference}")
    expect(heading).to_contain_text("Completed")
    expect(page.locator(".messages")).to_contain_text(f"Batch {batch.reference} completed.")
    expect(page.locator(".messages")).not_to_contain_text("already recorded")
    assert_fits_the_screen(page)
    shoot("batch-completed")

    batch.refresh_from_db()
    assert batch.status == "completed"
    assert postings_of(batch) == 1
    assert stock_of(candle.jar) == jars - 6
    assert stock_of(candle.wax) == wax - 650
    assert page.errors == [], page.errors


def _running_batch(candle, mo):
    batch = plan(candle, user=mo, lavender=3, cedar=2)
    services.batch_start(batch=batch, user=mo)
    return batch


def _open_the_stage(page, live_server, batch):
    sign_in(page, live_server, "mo", PASSWORD, next_path="/batches/bench/")
    page.locator(".bench-card", has_text=batch.reference).get_by_role(
        "link", name="Complete"
    ).click()
    expect(page.locator("#stage-form")).to_be_visible()
    return page.locator("#stage-form")


def _the_batch_is_completed_once(page, batch, jars, candle):
    heading = page.get_by_role("heading", name=f"Batch {batch.reference}")
    expect(heading).to_contain_text("Completed")
    expect(heading).to_have_count(1)
    expect(page.locator(".timeline li", has_text="Completed")).to_have_count(1)
    batch.refresh_from_db()
    assert batch.status == "completed"
    assert postings_of(batch) == 1
    assert stock_of(candle.jar) == jars - 5


@pytest.mark.parametrize("size", ["tablet"], indirect=True)
def test_the_connection_drops_before_the_completion_reaches_the_server(
    page, live_server, shoot, mo, candle
):
    batch = _running_batch(candle, mo)
    jars = stock_of(candle.jar)
    form = _open_the_stage(page, live_server, batch)
    key = form.locator("input[name=idempotency_key]").input_value()
    complete = page.get_by_role("button", name="Complete the batch")

    # A slip of the finger first: the form comes back with its error, which is brought into
    # view (the button is far below it), and keeps its key.
    page.get_by_label("Soy wax: how much").fill("5OO")
    complete.click()
    error = form.locator(".errorlist", has_text="Enter a number")
    expect(error).to_be_in_viewport()
    page.get_by_label("Soy wax: how much").fill("500")

    page.context.set_offline(True)
    complete.click()
    note = page.get_by_role("alert").filter(has_text=OFFLINE_NOTE)
    expect(note).to_be_in_viewport()  # beside the button that was tapped
    expect(complete).to_be_in_viewport()
    expect(complete).to_be_enabled()
    assert form.locator("input[name=idempotency_key]").input_value() == key
    assert postings_of(batch) == 0  # nothing was posted
    shoot("batch-stage-offline")

    page.context.set_offline(False)
    complete.click()
    _the_batch_is_completed_once(page, batch, jars, candle)
    expect(page.locator(".messages")).to_contain_text(f"Batch {batch.reference} completed.")
    assert unexpected(page.errors) == [], page.errors


@pytest.mark.parametrize("size", ["tablet"], indirect=True)
def test_the_answer_to_the_completion_is_lost_and_the_retry_posts_nothing_twice(
    page, live_server, shoot, mo, candle
):
    batch = _running_batch(candle, mo)
    jars = stock_of(candle.jar)
    form = _open_the_stage(page, live_server, batch)
    key = form.locator("input[name=idempotency_key]").input_value()
    stage_url = f"**/batches/{batch.pk}/stage/0/"
    heard = []

    def deliver_then_drop(route):
        if route.request.method != "POST":
            return route.continue_()
        heard.append(route.fetch().status)  # the server records the batch...
        route.abort("connectionreset")  # ...and its answer never arrives

    page.route(stage_url, deliver_then_drop)
    complete = page.get_by_role("button", name="Complete the batch")
    complete.click()
    expect(page.get_by_role("alert").filter(has_text=OFFLINE_NOTE)).to_be_in_viewport()
    expect(complete).to_be_enabled()
    assert heard == [200]
    assert postings_of(batch) == 1  # everything was recorded
    assert form.locator("input[name=idempotency_key]").input_value() == key

    page.unroute(stage_url)
    complete.click()  # the same form, the same key
    _the_batch_is_completed_once(page, batch, jars, candle)
    expect(page.locator(".messages")).to_contain_text("already recorded")
    expect(page.locator(".messages")).to_contain_text("nothing was posted twice")
    shoot("batch-completed-after-retry")
    assert unexpected(page.errors) == [], page.errors
