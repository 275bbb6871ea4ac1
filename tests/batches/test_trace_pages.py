"""The traceability pages on the hand-built graph of tests/batches/test_trace.py: two wax lots
into three candle batches of two scents, their lots sent to four customers (and a fifth whose
order came back). Every figure below is worked out by hand from that graph:

    W1 800 g -> CND-01 (400 g) and CND-02 (400 g); W2 1,000 g -> CND-03 (400 g).
    Each batch: 2 lavender + 2 cedar candles, 20 g of each scent's own oil, 4 jars.
    Ann 1 CND-01-LAV; Ben 1 CND-01-CED and 1 CND-02-LAV; Cat 2 CND-02-CED;
    Dan 2 CND-03-LAV and 1 CND-03-CED; Eve 1 CND-02-LAV, returned.

And the search box in the header."""

import csv
import html
import io
import re
from datetime import timedelta
from decimal import Decimal as D

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from batches import services
from batches.models import Batch, BatchLot, LotRole
from loomworks import search
from stock.dispatches import customer_save
from stock.models import Lot, QuarantineAction, QuarantineEvent, Reason, workshop_today
from stock.services import HOLD_REASON_REQUIRED, adjustment_post
from tests.batches import test_stages as stages
from tests.batches import test_trace as hand_worked
from tests.batches.conftest import key
from tests.stock.factories import receive

pytestmark = pytest.mark.django_db

graph = hand_worked.graph  # the fixture, shared with the trace's own tests


def _text(response) -> str:
    """The page as a person reads it: tags gone, cells and items apart, spaces collapsed."""
    body = response.content.decode()
    body = re.sub(r"<(td|th|li|p|div|tr|h\d|dt|dd)\b[^>]*>", " ", body)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", body)).split())


def _names(text: str, *names: str) -> list[str]:
    """Which of these customers' names the text mentions, as words."""
    return [name for name in names if re.search(rf"\b{name}\b", text)]


def _csv_rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.content.decode().lstrip("\ufeff"))))


# Forward ------------------------------------------------------------------------------------


def test_the_forward_trace_of_a_wax_lot_shows_its_two_batches_lots_and_customers(
    viewer_client, candle, graph
):
    response = viewer_client.get(reverse("stock:trace-forward", args=[candle.lots["W1"].pk]))
    assert response.status_code == 200
    text = _text(response)
    assert "It went into 4 lots through 2 batches; 3 customers received units of it." in text
    for code in ("CND-01-LAV", "CND-01-CED", "CND-02-LAV", "CND-02-CED"):
        assert f"Soy candle Cedar · {code}" in text or f"Soy candle Lavender · {code}" in text
    assert text.count("200 g of W1 in it") == 4
    assert "1 each to Ann" in text
    assert "2 each to Cat" in text
    assert not _names(text, "Dan", "Eve")  # W2's batch; her order came back


def test_the_forward_trace_of_a_scent_s_own_oil_reaches_that_scent_only(
    viewer_client, candle, graph
):
    text = _text(viewer_client.get(reverse("stock:trace-forward", args=[candle.lots["LAV"].pk])))
    assert "It went into 3 lots through 3 batches; 3 customers received units of it." in text
    assert text.count("20 g of LAV1 in it") == 3
    assert "CED" not in text.replace("CED1", "")
    assert not _names(text, "Cat")  # she had cedar only
    assert "2 each to Dan" in text


def test_a_lot_that_went_nowhere_says_so(viewer_client, candle, graph):
    lot = receive(candle.wax, candle.bench, "100", code="W9")
    text = _text(viewer_client.get(reverse("stock:trace-forward", args=[lot.pk])))
    assert "Nothing has been made from this lot or sent from it yet." in text


# Backward -----------------------------------------------------------------------------------


def test_the_backward_trace_of_a_candle_lot_shows_each_draw_and_its_share(
    viewer_client, candle, graph
):
    lot = graph["b2"]["Cedar"]
    response = viewer_client.get(reverse("stock:trace-backward", args=[lot.pk]))
    text = _text(response)
    assert "from 3 lots:" in text
    # Batch 2 drew 400 g of W1 and 4 jars for both scents, 20 g of cedar oil for cedar alone.
    assert "Soy wax · W1 Batch CND-02 drew 400 g; 200 g of it went into CND-02-CED" in text
    assert "Cedar oil · CED1 Batch CND-02 drew 20 g; 20 g of it went into CND-02-CED" in text
    assert "Amber jar · JAR1 Batch CND-02 drew 4 each; 2 each of it went into CND-02-CED" in text
    received = candle.lots["W1"].received_on
    assert f"Received {received:%-d %b %Y}: test delivery" in text  # the receipt's reference
    receipt = candle.lots["W1"].created_by_posting_id
    assert f'href="{reverse("stock:posting", args=[receipt])}"' in response.content.decode()


def test_the_backward_trace_goes_through_every_semi_finished_stage(viewer_client, soap):
    batch = stages.soap_plan(soap)
    stages.mix(soap, batch)
    stages.cure(soap, batch)
    stages.wrap(soap, batch)
    bar = BatchLot.objects.get(batch=batch, role=LotRole.SALEABLE, variant=soap.lavender).lot
    text = _text(viewer_client.get(reverse("stock:trace-backward", args=[bar.pk])))
    # Wrap drew the whole cured lavender loaf (1,206 g of cured loaf, half each) and 10
    # wrappers, 5 for these bars; Cure drew the whole 670 g lavender loaf; Mix drew 1,000 g
    # of olive oil and 140 g of lye shared by the two loaves (670 g each: half each), and
    # 100 g of lavender oil for the lavender loaf alone.
    assert "SOP-01-S2-LAV Batch SOP-01 drew 603 g; 603 g of it went into SOP-01-LAV" in text
    assert "SOP-01-S1-LAV Batch SOP-01 drew 670 g; 670 g of it went into SOP-01-S2-LAV" in text
    assert "OL1 Batch SOP-01 drew 1,000 g; 500 g of it went into SOP-01-S1-LAV" in text
    assert "LY1 Batch SOP-01 drew 140 g; 70 g of it went into SOP-01-S1-LAV" in text
    assert "LEO1 Batch SOP-01 drew 100 g; 100 g of it went into SOP-01-S1-LAV" in text
    assert "WR1 Batch SOP-01 drew 10 each; 5 each of it went into SOP-01-LAV" in text
    assert "MEO1" not in text  # the mint bars' own oil
    assert "from 6 lots:" in text


def test_a_received_lot_s_backward_trace_names_its_delivery(viewer_client, candle):
    text = _text(viewer_client.get(reverse("stock:trace-backward", args=[candle.lots["W1"].pk])))
    assert "Nothing was made into it here: it was received" in text
    assert "test delivery" in text


def test_the_batch_page_links_to_the_backward_trace_of_each_of_its_lots(
    viewer_client, candle, graph
):
    batch = Batch.objects.get(reference="CND-02")
    page = viewer_client.get(reverse("batches:detail", args=[batch.pk])).content.decode()
    for lot in (graph["b2"]["Lavender"], graph["b2"]["Cedar"]):
        assert f'href="{reverse("stock:trace-backward", args=[lot.pk])}"' in page


def test_the_lot_page_links_to_its_traces_and_recall(viewer_client, candle, graph):
    lot = graph["b1"]["Lavender"]
    page = viewer_client.get(reverse("stock:lot", args=[lot.pk])).content.decode()
    for name in ("stock:trace-forward", "stock:trace-backward", "stock:recall"):
        assert f'href="{reverse(name, args=[lot.pk])}"' in page
    assert "Where did it go?" in page and "What went into it?" in page and "Recall…" in page


# Recall -------------------------------------------------------------------------------------


def test_the_recall_page_lists_every_customer_who_received_affected_units(
    viewer_client, candle, graph
):
    response = viewer_client.get(reverse("stock:recall", args=[candle.lots["W1"].pk]))
    text = _text(response)
    rows = re.findall(r"(\w+) (\w+@example\.com) Etsy #\w+ \S+ \S+ \S+ (\d) each (CND-\S+)", text)
    assert rows == [
        ("Ann", "ann@example.com", "1", "CND-01-LAV"),
        ("Ben", "ben@example.com", "1", "CND-01-CED"),
        ("Ben", "ben@example.com", "1", "CND-02-LAV"),
        ("Cat", "cat@example.com", "2", "CND-02-CED"),
    ]
    assert not _names(text, "Dan", "Eve")


def test_the_reconciliation_accounts_for_every_unit_with_a_link_for_each_figure(
    viewer_client, candle, graph
):
    damaged = graph["b1"]["Lavender"]
    adjustment_post(
        item=damaged.item,
        location=candle.bench,
        quantity=D(-1),
        reason=Reason.DAMAGED,
        lot=damaged,
        user=None,
        idempotency_key=key(),
    )
    w1 = candle.lots["W1"]
    response = viewer_client.get(reverse("stock:recall", args=[w1.pk]))
    text = _text(response)
    # made, dispatched, in stock, used in batches, written off; then whether it adds up.
    assert "W1 Soy wax 800 g 0 0 800 0 Yes" in text
    assert "CND-01-LAV Soy candle Lavender 2 each 1 0 0 1 Yes" in text
    assert "CND-01-CED Soy candle Cedar 2 each 1 1 0 0 Yes" in text
    assert "CND-02-LAV Soy candle Lavender 2 each 1 1 0 0 Yes" in text  # Eve's came back
    assert "CND-02-CED Soy candle Cedar 2 each 2 0 0 0 Yes" in text
    assert "do not add up" not in text and "does not add up" not in text
    page = response.content.decode()
    assert '<a href="#received">2</a>' in page  # Cat's two
    assert f'<a href="{reverse("stock:trace-forward", args=[w1.pk])}">800</a>' in page
    assert f'<a href="{reverse("stock:lot", args=[damaged.pk])}#movements">1</a>' in page
    cedar = graph["b1"]["Cedar"]
    assert f'<a href="{reverse("stock:lot", args=[cedar.pk])}">1</a>' in page  # in stock
    assert 'id="received"' in page
    lot_page = viewer_client.get(reverse("stock:lot", args=[damaged.pk])).content.decode()
    assert 'id="movements"' in lot_page


def test_the_recall_csv_has_a_row_per_customer_dispatch_and_lot(viewer_client, candle, graph):
    response = viewer_client.get(reverse("stock:recall-csv", args=[candle.lots["W1"].pk]))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"] == 'attachment; filename="recall-W1.csv"'
    header, *rows = _csv_rows(response)
    assert header == [
        "Customer",
        "Email",
        "Channel",
        "Order reference",
        "Dispatched on",
        "Item",
        "SKU",
        "Lot",
        "Quantity",
        "Unit",
        "Dispatch",
    ]
    today = workshop_today().isoformat()
    assert [(r[0], r[1], r[2], r[3], r[4], r[6], r[7], r[8], r[9]) for r in rows] == [
        ("Ann", "ann@example.com", "Etsy", "#Ann", today, "CND-LAV", "CND-01-LAV", "1", "each"),
        ("Ben", "ben@example.com", "Etsy", "#Ben", today, "CND-CED", "CND-01-CED", "1", "each"),
        ("Ben", "ben@example.com", "Etsy", "#Ben", today, "CND-LAV", "CND-02-LAV", "1", "each"),
        ("Cat", "cat@example.com", "Etsy", "#Cat", today, "CND-CED", "CND-02-CED", "2", "each"),
    ]


def test_the_recall_csv_neutralises_a_name_that_a_spreadsheet_would_run(
    viewer_client, candle, graph
):
    sly = customer_save(name='=HYPERLINK("http://evil.example","Refund")', email="x@example.com")
    hand_worked._send(candle, sly, graph["b3"]["Cedar"], 1, order="+1")
    _, *rows = _csv_rows(
        viewer_client.get(reverse("stock:recall-csv", args=[candle.lots["CED"].pk]))
    )
    sly_row = next(r for r in rows if "HYPERLINK" in r[0])
    assert sly_row[0] == '\'=HYPERLINK("http://evil.example","Refund")'
    assert sly_row[3] == "'+1"


# Holding every affected lot ----------------------------------------------------------------


def test_holding_a_recall_holds_exactly_the_affected_lots_in_stock_the_start_included(
    maker, maker_client, candle, graph
):
    ced = candle.lots["CED"]  # 40 g left; CND-01-CED 1, CND-02-CED none, CND-03-CED 1
    page = _text(maker_client.get(reverse("stock:recall", args=[ced.pk])))
    assert "3 affected lots still have stock" in page
    response = maker_client.post(
        reverse("stock:recall-hold", args=[ced.pk]), {"note": "customer reports soot"}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("stock:recall", args=[ced.pk])
    held = set(Lot.objects.filter(quarantined=True).values_list("code", flat=True))
    assert held == {"CED1", "CND-01-CED", "CND-03-CED"}
    events = QuarantineEvent.objects.select_related("lot")
    assert sorted((e.lot.code, e.action, e.note, e.created_by) for e in events) == [
        (code, QuarantineAction.HOLD, "customer reports soot", maker)
        for code in ("CED1", "CND-01-CED", "CND-03-CED")
    ]
    after = _text(maker_client.get(reverse("stock:recall", args=[ced.pk])))
    assert "Held 3 lots: CED1, CND-01-CED, CND-03-CED." in after
    assert "Every affected lot with stock is held" in after
    # Sent again (a second tap): nothing new is held or recorded.
    maker_client.post(reverse("stock:recall-hold", args=[ced.pk]), {"note": "again"})
    assert QuarantineEvent.objects.count() == 3
    # A held lot is released by an Owner only, on its lot page.
    lot_page = _text(maker_client.get(reverse("stock:lot", args=[graph["b1"]["Cedar"].pk])))
    assert "Only an Owner can release this lot." in lot_page


def test_a_wax_recall_holds_its_candles_in_stock_and_not_the_empty_wax_lot(
    maker_client, candle, graph
):
    maker_client.post(
        reverse("stock:recall-hold", args=[candle.lots["W1"].pk]), {"note": "supplier recall"}
    )
    held = set(Lot.objects.filter(quarantined=True).values_list("code", flat=True))
    assert held == {"CND-01-LAV", "CND-01-CED", "CND-02-LAV"}  # W1 and CND-02-CED are empty


def test_holding_without_a_reason_holds_nothing_and_says_why(maker_client, candle, graph):
    response = maker_client.post(
        reverse("stock:recall-hold", args=[candle.lots["W1"].pk]), {"note": "  "}
    )
    assert response.status_code == 200
    assert HOLD_REASON_REQUIRED in html.unescape(response.content.decode())
    assert not Lot.objects.filter(quarantined=True).exists()


def test_a_viewer_traces_but_cannot_hold(viewer_client, candle, graph):
    w1 = candle.lots["W1"]
    for name in ("stock:trace-forward", "stock:trace-backward", "stock:recall", "stock:recall-csv"):
        assert viewer_client.get(reverse(name, args=[w1.pk])).status_code == 200
    assert "Hold every affected lot in stock</button>" not in _text(
        viewer_client.get(reverse("stock:recall", args=[w1.pk]))
    )
    response = viewer_client.post(reverse("stock:recall-hold", args=[w1.pk]), {"note": "no"})
    assert response.status_code == 403
    assert not Lot.objects.filter(quarantined=True).exists()
    assert not QuarantineEvent.objects.exists()


def test_an_unknown_lot_is_a_404(viewer_client, workshop):
    for name in ("stock:trace-forward", "stock:trace-backward", "stock:recall", "stock:recall-csv"):
        assert viewer_client.get(reverse(name, args=[999999])).status_code == 404


# A fixed number of queries -----------------------------------------------------------------


def _queries(client, name, lot) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(reverse(name, args=[lot.pk]))
    assert response.status_code == 200
    return len(captured)


PAGES = ("stock:trace-forward", "stock:recall", "stock:recall-csv")


def test_every_trace_page_runs_the_same_queries_however_big_the_tree(viewer_client, candle, graph):
    jars = candle.lots["JAR"]  # in every batch
    _queries(viewer_client, "stock:lot", jars)  # the session and the workshop, read once
    small = {name: _queries(viewer_client, name, jars) for name in PAGES}
    small_back = _queries(viewer_client, "stock:trace-backward", graph["b2"]["Cedar"])
    small_search = _search_queries(viewer_client, "cnd")
    # A fourth batch whose wax comes from two lots, and more customers.
    receive(
        candle.wax,
        candle.bench,
        "1000",
        unit_cost="0.03",
        code="W3",
        expiry_date=workshop_today() + timedelta(days=400),
    )
    batch = services.batch_plan(
        version=candle.version,
        split={candle.lavender: D(2), candle.cedar: D(2)},
        production_date=workshop_today(),
        user=None,
        idempotency_key=key(),
    )
    services.stage_complete(
        batch=batch,
        position=0,
        uses=[
            services.Use(item=candle.wax, quantity=D(1000)),  # W2's 600 g, then W3's 400 g
            services.Use(item=candle.lav_oil, quantity=D(20), variant=candle.lavender),
            services.Use(item=candle.ced_oil, quantity=D(20), variant=candle.cedar),
            services.Use(item=candle.jar, quantity=D(4)),
        ],
        made=[
            services.Made(variant=candle.lavender, saleable=D(2)),
            services.Made(variant=candle.cedar, saleable=D(2)),
        ],
        user=None,
        idempotency_key=key(),
    )
    b4 = BatchLot.objects.get(batch=batch, role=LotRole.SALEABLE, variant=candle.cedar).lot
    for name in ("Fay", "Gus"):
        hand_worked._send(candle, customer_save(name=name), b4, 1)
    assert _queries(viewer_client, "stock:trace-backward", b4) == small_back
    assert {name: _queries(viewer_client, name, jars) for name in PAGES} == small
    assert _search_queries(viewer_client, "cnd") == small_search


def _search_queries(client, q) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = _search(client, q)
    assert response.status_code == 200  # a list: the batches, their lots, the variants' SKUs
    return len(captured)


# Search -------------------------------------------------------------------------------------


def _search(client, q):
    return client.get(reverse("search"), {"q": q})


def test_a_scanned_lot_code_opens_the_lot(viewer_client, candle, graph):
    lot = graph["b2"]["Cedar"]
    response = _search(viewer_client, "  cnd-02-ced\t")  # a scanner's code, any case
    assert response.status_code == 302
    assert response["Location"] == reverse("stock:lot", args=[lot.pk])


def test_a_batch_reference_opens_the_batch(viewer_client, candle, graph):
    batch = Batch.objects.get(reference="CND-02")
    response = _search(viewer_client, "CND-02")
    assert response["Location"] == reverse("batches:detail", args=[batch.pk])


def test_a_sku_opens_the_material_or_the_variant_s_product(viewer_client, candle, graph):
    material = candle.wax.material
    wax = _search(viewer_client, candle.wax.sku.lower())
    assert wax["Location"] == reverse("materials:detail", args=[material.pk])
    lavender = _search(viewer_client, "CND-LAV")
    assert lavender["Location"] == reverse("recipes:product", args=[candle.product.pk])


def test_a_customer_s_name_opens_the_customer(viewer_client, candle, graph):
    response = _search(viewer_client, "cat")
    cat = graph["people"]["Cat"]
    assert response.status_code == 302
    assert response["Location"] == search.customer_url(
        cat, last_dispatch=cat.dispatches.order_by("pk").last().pk
    )


def test_two_matches_give_a_list_to_choose_from(viewer_client, candle, graph):
    customer_save(name="Ben", email="other.ben@example.com")
    response = _search(viewer_client, "ben")
    assert response.status_code == 200
    text = _text(response)
    assert "2 match “ben”" in text
    assert "ben@example.com" in text and "other.ben@example.com" in text
    partial = _text(_search(viewer_client, "cnd-0"))  # three batches, their six lots
    assert "start with or contain “cnd-0”" in partial
    for code in ("Batch CND-01", "Batch CND-03", "CND-02-LAV", "CND-03-CED"):
        assert code in partial


def test_a_one_variant_batch_s_lot_code_opens_the_lot_not_the_batch(viewer_client, candle, graph):
    lot = graph["b1"]["Lavender"]
    Batch.objects.filter(reference="CND-01").update(reference="CND-01-LAV")
    response = _search(viewer_client, "CND-01-LAV")
    assert response["Location"] == reverse("stock:lot", args=[lot.pk])


@pytest.mark.parametrize(
    "query, message",
    [
        ("%", search.NOTHING.format(query="%")),
        ("_", search.NOTHING.format(query="_")),
        ("x" * 5000, search.TOO_LONG.format(length=5000)),
        ("", search.EMPTY),
        ("\x00\x1d", search.EMPTY),
        ("a\x00b", search.NOTHING.format(query="a b")),
    ],
)
def test_bad_input_gets_a_message_never_an_error(viewer_client, candle, graph, query, message):
    response = _search(viewer_client, query)
    assert response.status_code == 200
    assert message in html.unescape(response.content.decode())


def test_a_pasted_address_of_this_site_lands_on_that_page(viewer_client, candle, graph):
    lot = graph["b1"]["Cedar"]
    path = reverse("stock:lot", args=[lot.pk])
    for address in (f"http://testserver{path}", f"HTTPS://testserver{path}", path):
        response = _search(viewer_client, address)
        assert response.status_code == 302
        assert response["Location"] == path


@pytest.mark.parametrize(
    "address",
    [
        "https://evil.example/stock/lots/1/",
        "http://testserver.evil.example/stock/lots/1/",
        "https://testserver//evil.example/",
        "//evil.example/stock/lots/1/",
        "/\\evil.example/",
        "http://testserver/no/such/page/",
        "javascript:alert(1)",
    ],
)
def test_an_outside_address_is_not_followed(viewer_client, candle, graph, address):
    response = _search(viewer_client, address)
    assert response.status_code == 200
    assert "Location" not in response
    assert "evil.example" not in response.get("Location", "")


def test_the_header_has_the_search_box(viewer_client, workshop):
    page = viewer_client.get("/").content.decode()
    assert f'action="{reverse("search")}"' in page
    assert 'type="search" name="q"' in page
