"""Odd input found by the second review: characters Python calls digits, a NUL byte in a
reason, an order dated where no clock can convert it. A message, never a 500."""

import pytest
from django.urls import reverse

from stock.models import QuarantineEvent
from tests.batches.test_orders import fixture_text, preview_of

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "url",
    [
        reverse("stock:dispatch-new") + "?location=²",
        reverse("stock:dispatch-new") + "?item=²",
        reverse("batches:plan") + "?version=²",
    ],
)
def test_a_superscript_digit_in_an_id_is_not_an_id(maker_client, candle, url):
    assert maker_client.get(url).status_code in (200, 302)


def test_a_nul_byte_in_a_recall_s_reason_is_refused_and_holds_nothing(maker_client, candle):
    url = reverse("stock:recall-hold", args=[candle.lots["CED"].pk])
    response = maker_client.post(url, {"note": "soot\x00"})
    assert response.status_code == 200
    assert "plain text" in response.content.decode()
    assert not QuarantineEvent.objects.exists()


def test_an_order_dated_beyond_any_clock_is_a_row_error(maker_client, candle):
    header, first, *_ = fixture_text("orders_shopify.csv").splitlines()
    cells = first.split(",")
    cells[15] = "0001-01-01 00:00:00 +1400"  # Created at
    _, page = preview_of(maker_client, "\n".join([header, ",".join(cells)]) + "\n")
    assert page.status_code == 200
