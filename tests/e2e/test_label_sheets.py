"""Label sheets as Chromium prints them: every label box where Avery's template puts it, from the
page's corner, on pages of the sheet's paper, a sheet a page, and no CSP complaint."""

import re
from decimal import Decimal as D

import pytest

from batches import labels, services
from batches.models import BatchLot, LotRole
from tests.batches import conftest as batches
from tests.batches.conftest import key, plan, planned_uses
from tests.e2e.conftest import sign_in
from tests.factories import UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
PASSWORD = "correct-horse-battery"
bench, candle = batches.bench, batches.candle  # fixtures: a candle workshop
MM = 96 / 25.4  # CSS pixels to the millimetre

BOXES = """() => [...document.querySelectorAll('.sheet')].map(sheet => {
    const s = sheet.getBoundingClientRect();
    const cells = [...sheet.querySelectorAll(':scope > .label')].map(el => {
        const r = el.getBoundingClientRect();
        return [r.left - s.left, r.top - s.top, r.width, r.height];
    });
    return {left: s.left + window.scrollX, top: s.top + window.scrollY, cells};
})"""


@pytest.fixture
def lot(candle):
    batch = plan(candle)
    services.stage_complete(
        batch=batch,
        position=0,
        uses=planned_uses(candle),
        made=[
            services.Made(variant=candle.lavender, saleable=D(5)),
            services.Made(variant=candle.cedar, saleable=D(5)),
        ],
        user=None,
        idempotency_key=key(),
    )
    return BatchLot.objects.get(batch=batch, role=LotRole.SALEABLE, variant=candle.lavender)


@pytest.mark.parametrize(("code", "count", "start"), [("L7160", 25, 1), ("5160", 9, 28)])
def test_the_label_boxes_print_where_the_sheets_labels_are(
    browser, live_server, lot, code, count, start
):
    UserFactory(role="Viewer", username="vi")
    sheet = labels.SHEETS[code]
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type in ("error", "warning") else None)
    path = f"/batches/{lot.batch_id}/labels/?lot={lot.lot_id}&sheet={code}&count={count}"
    sign_in(page, live_server, "vi", PASSWORD, next_path=f"{path}&start={start}")
    page.emulate_media(media="print")
    printed = page.evaluate(BOXES)
    expected = labels.sheets_of(count, start, sheet)
    assert len(printed) == len(expected)
    height = float(sheet.paper_height) * MM
    for n, (found, cells) in enumerate(zip(printed, expected, strict=True)):
        # Each sheet sits at the page's corner, one paper's height below the one before.
        assert found["left"] == pytest.approx(0, abs=0.1)
        assert found["top"] == pytest.approx(n * height, abs=0.5)
        assert len(found["cells"]) == len(cells)
        for position, (left, top, width, high) in enumerate(found["cells"], start=1):
            x, y = sheet.corner(position)
            assert left / MM == pytest.approx(float(x), abs=0.02), (n, position)
            assert top / MM == pytest.approx(float(y), abs=0.02), (n, position)
            assert width / MM == pytest.approx(float(sheet.label_width), abs=0.02)
            assert high / MM == pytest.approx(float(sheet.label_height), abs=0.02)
    pdf = page.pdf(prefer_css_page_size=True)
    assert len(re.findall(rb"/Type\s*/Page\b(?!s)", pdf)) == len(expected)  # a sheet a page
    [box] = {m.groups() for m in re.finditer(rb"/MediaBox\s*\[0 0 ([\d.]+) ([\d.]+)\]", pdf)}
    points = 72 / D("25.4")
    # Chromium's A4 is 8.26 x 11.69 in: within half a millimetre of 210 x 297 mm.
    assert float(box[0]) == pytest.approx(float(sheet.paper_width * points), abs=1.5)
    assert float(box[1]) == pytest.approx(float(sheet.paper_height * points), abs=1.5)
    assert errors == []
    context.close()
