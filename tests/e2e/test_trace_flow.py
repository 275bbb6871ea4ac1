"""A recall in the browser: scan a wax lot's code into the header's search box, follow it to
where the wax went and to the recall list, download the list, hold what is still on the shelf.
The world is tests/batches/test_trace.py's hand-built graph (its docstring has the figures)."""

import csv
import io

import pytest
from playwright.sync_api import expect

from stock.models import Lot
from tests.batches import conftest as batches_world
from tests.batches import test_trace as hand_worked
from tests.e2e.conftest import assert_fits_the_screen, sign_in
from tests.factories import UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
PASSWORD = "correct-horse-battery"

bench = batches_world.bench  # the batches tests' candle workshop, shared
candle = batches_world.candle
graph = hand_worked.graph


def test_scan_a_code_follow_the_trace_to_the_recall_list_and_download_it(
    page, live_server, shoot, candle, graph
):
    UserFactory(role="Maker", username="mo", first_name="Mo", last_name="Maker")
    sign_in(page, live_server, "mo", PASSWORD)

    # A barcode scanner types the code into the focused box and presses Enter.
    box = page.get_by_role("searchbox", name="Find a lot, batch, SKU or customer")
    box.click()
    box.press_sequentially("W1")
    box.press("Enter")
    expect(page.get_by_role("heading", name="Soy wax · lot W1")).to_be_visible()

    page.get_by_role("link", name="Where did it go?").first.click()
    expect(page.get_by_role("heading", name="Where did Soy wax · lot W1 go?")).to_be_visible()
    expect(page.locator(".trace-summary")).to_have_text(
        "It went into 4 lots through 2 batches; 3 customers received units of it."
    )
    expect(page.locator(".trace-received li")).to_have_count(4)
    assert_fits_the_screen(page)
    shoot("trace-forward")

    page.get_by_role("link", name="Recall…").click()
    expect(page.get_by_role("heading", name="Recall: Soy wax · lot W1")).to_be_visible()
    expect(page.locator("table.recall-list tbody tr")).to_have_count(4)
    expect(page.locator("table.reconcile tbody tr")).to_have_count(5)
    assert_fits_the_screen(page)
    shoot("recall")

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download the list (CSV)").click()
    download = download_info.value
    assert download.suggested_filename == "recall-W1.csv"
    text = download.path().read_text(encoding="utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert [(r[0], r[7], r[8]) for r in rows[1:]] == [
        ("Ann", "CND-01-LAV", "1"),
        ("Ben", "CND-01-CED", "1"),
        ("Ben", "CND-02-LAV", "1"),
        ("Cat", "CND-02-CED", "2"),
    ]

    page.get_by_label("Why are they held?").fill("Supplier recalls wax lot W1")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Hold every affected lot in stock").click()
    expect(page.locator(".message")).to_contain_text("Held 3 lots: CND-01-CED, CND-01-LAV")
    shoot("recall-held")
    held = set(Lot.objects.filter(quarantined=True).values_list("code", flat=True))
    assert held == {"CND-01-LAV", "CND-01-CED", "CND-02-LAV"}
    assert page.errors == [], page.errors


@pytest.mark.parametrize("size", ["tablet"], indirect=True)
def test_a_label_s_address_typed_by_a_scanner_lands_on_the_lot(page, live_server, candle, graph):
    UserFactory(role="Viewer", username="vi")
    sign_in(page, live_server, "vi", PASSWORD)
    lot = graph["b2"]["Cedar"]
    box = page.get_by_role("searchbox", name="Find a lot, batch, SKU or customer")
    box.click()
    box.press_sequentially(f"{live_server.url}/stock/lots/{lot.pk}/")
    box.press("Enter")
    expect(page.get_by_role("heading", name="Soy candle Cedar · lot CND-02-CED")).to_be_visible()
    page.get_by_role("link", name="What went into it?").first.click()
    expect(page.locator(".trace-tree")).to_contain_text(
        "Batch CND-02 drew 400 g; 200 g of it went into CND-02-CED"
    )
    assert_fits_the_screen(page)
    assert page.errors == [], page.errors
