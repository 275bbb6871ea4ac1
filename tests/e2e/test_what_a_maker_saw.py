"""Issue 17 in the browser: the delivery form on the tablet, htmx without inline styles, the
reverse dialog, and the pages a maker walked, at laptop and tablet sizes."""

from decimal import Decimal as D

import pytest
from playwright.sync_api import expect

from materials import services
from stock.models import Posting
from tests.e2e.conftest import assert_fits_the_screen, sign_in
from tests.factories import UserFactory
from tests.materials.factories import MaterialFactory, SupplierFactory
from tests.stock.factories import LocationFactory, key

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
PASSWORD = "correct-horse-battery"


@pytest.fixture
def workshop():
    UserFactory(role="Owner", username="olga", first_name="Olga", last_name="Owner")
    supplier = SupplierFactory(name="Wick and Wax Supply")
    storage = LocationFactory(name="Storage")
    wax = MaterialFactory(item__name="Soy wax 464", item__sku="WAX-464", item__unit="g")
    MaterialFactory(
        item__name="Amber jar 200 ml with black lid", item__sku="JAR-AMB200-B", item__unit="each"
    )
    MaterialFactory(
        item__name="Amber jar 200 ml with black lid", item__sku="JAR-AMB200-G", item__unit="each"
    )
    receipt = services.receipt_create(
        supplier=supplier,
        lines=[services.ReceiptLineInput(wax, D("10"), "lb", storage, price=D("32.00"))],
        user=None,
        idempotency_key=key(),
        reference="INV-2611",
    )
    return {"receipt": receipt, "supplier": supplier}


def text_fits(page, selector):
    """Whether the chosen option of a <select> fits inside it (its arrow included)."""
    return page.evaluate(
        """(sel) => {
            const el = document.querySelector(sel);
            const span = document.createElement("span");
            span.style.font = getComputedStyle(el).font;  // CSSOM: no CSP report
            span.style.whiteSpace = "pre";
            span.textContent = el.options[el.selectedIndex].text;
            document.body.appendChild(span);
            const wide = span.getBoundingClientRect().width;
            span.remove();
            return wide + 40 <= el.clientWidth;
        }""",
        selector,
    )


def test_the_delivery_chooser_shows_the_whole_sku_and_htmx_writes_no_style(
    page, live_server, shoot, workshop
):
    sign_in(page, live_server, "olga", PASSWORD, next_path="/materials/receive/")
    config = page.evaluate(
        "[htmx.config.includeIndicatorStyles, htmx.config.attributesToSettle.includes('style')]"
    )
    assert config == [False, False]
    assert page.locator("style").count() == 0  # no indicator styles injected
    first = page.locator("#line-0")
    first.get_by_label("Material").select_option(
        label="Amber jar 200 ml with black lid (JAR-AMB200-G, each)"
    )
    assert text_fits(page, "#id_lines-0-material")
    first.get_by_label("Quantity").fill("10")
    expect(page.locator("#line-0-preview")).to_contain_text("10 each")  # before any price
    first.get_by_label("Price", exact=True).fill("7.80")
    expect(page.locator("#line-0-preview")).to_contain_text("at EUR 0.78 per each")
    page.get_by_role("button", name="Add a line").click()
    expect(page.locator("#line-4")).to_be_visible()
    assert_fits_the_screen(page)
    shoot("issue17-receive")
    assert page.errors == [], page.errors


def test_a_second_delivery_with_the_same_invoice_is_asked_about(page, live_server, shoot, workshop):
    sign_in(page, live_server, "olga", PASSWORD, next_path="/materials/receive/")
    page.get_by_label("Supplier", exact=True).select_option(label="Wick and Wax Supply")
    page.get_by_label("Delivery note / invoice").fill("INV-2611")
    page.locator("#id_location").select_option(label="Storage")
    first = page.locator("#line-0")
    first.get_by_label("Material").select_option(label="Soy wax 464 (WAX-464, g)")
    first.get_by_label("Quantity").fill("2")
    first.get_by_label("Price", exact=True).fill("8")
    page.get_by_role("button", name="Save delivery").click()
    expect(page.locator("#same-reference")).to_contain_text("was already received as Delivery #")
    assert_fits_the_screen(page)
    shoot("issue17-same-invoice")
    page.get_by_role("button", name="Yes, save this delivery too").click()
    expect(page.get_by_role("heading", name="Delivery #")).to_be_visible()
    assert_fits_the_screen(page)
    shoot("issue17-receipt")
    assert page.errors == [], page.errors


def test_the_reverse_form_asks_for_a_reason_before_it_asks_to_confirm(
    page, live_server, shoot, workshop
):
    posting = workshop["receipt"].posting
    sign_in(page, live_server, "olga", PASSWORD, next_path=f"/stock/postings/{posting.pk}/")
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.get_by_role("button", name="Reverse").click()
    assert dialogs == []  # no "Reverse Receipt #1?" before the reason is given
    invalid = page.evaluate("document.querySelector('textarea[name=note]').matches(':invalid')")
    assert invalid
    page.get_by_label("Why reverse it?").fill("Wrong supplier")
    page.get_by_role("button", name="Reverse").click()
    assert len(dialogs) == 1
    assert not Posting.objects.filter(reverses=posting).exists()  # dismissed: nothing reversed
    assert page.errors == [], page.errors


def test_the_pages_a_maker_walked_fit_the_screen(page, live_server, shoot, workshop):
    receipt = workshop["receipt"]
    lot = receipt.lines.get().lot
    sign_in(page, live_server, "olga", PASSWORD)
    shoot("issue17-dashboard")
    for name, path in [
        ("materials", "/materials/"),
        ("on-hand", "/stock/"),
        ("postings", "/stock/postings/"),
        ("lot", f"/stock/lots/{lot.pk}/"),
        ("deliveries", "/materials/receipts/"),
        ("import", "/materials/import/"),
    ]:
        page.goto(live_server.url + path)
        assert_fits_the_screen(page)
        shoot(f"issue17-{name}")
    page.goto(live_server.url + f"/stock/lots/{lot.pk}/")
    expect(page.locator("dl.facts")).to_contain_text(f"by system, Delivery #{receipt.pk}")
    expect(page.locator("dl.facts")).to_contain_text("EUR 0.0070548 per g")
    page.goto(live_server.url + "/stock/")
    code = page.locator("td.code a").first
    assert code.evaluate("el => el.getClientRects().length") == 1  # one line, not wrapped
    assert page.errors == [], page.errors
