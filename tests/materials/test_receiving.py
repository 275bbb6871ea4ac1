from datetime import date, timedelta
from decimal import Decimal as D

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from materials import selectors, services
from materials.models import Receipt, ReceiptLine, SupplierPrice
from materials.services import ReceiptLineInput
from stock.checks import ledger_violations
from stock.models import Balance, Lot, Posting, PostingKind
from tests.stock.factories import key
from tests.threads import run_together

pytestmark = pytest.mark.django_db


def line(material, quantity, unit, location, **kwargs):
    return ReceiptLineInput(
        material=material, quantity=D(quantity), unit=unit, location=location, **kwargs
    )


def receive(supplier, lines, shipping="0", idempotency_key=None):
    idempotency_key = idempotency_key or key()
    return services.receipt_create(
        supplier=supplier,
        lines=lines,
        shipping=D(shipping),
        reference=f"INV-{idempotency_key[:6]}",  # each delivery its own invoice
        user=None,
        idempotency_key=idempotency_key,
    )


def test_a_ten_pound_bag_of_wax_is_stocked_in_grams_at_its_cost_per_gram(
    supplier, soy_wax, storage
):
    receipt = receive(supplier, [line(soy_wax, "10", "lb", storage, price=D("9.98"))])
    receipt_line = receipt.lines.get()
    assert receipt_line.quantity == D("4535.9237")
    lot = receipt_line.lot
    assert lot.unit_cost == D("0.0022002134")  # 9.98 / 4535.9237, to ten places
    assert Balance.objects.get(lot=lot, location=storage).quantity == D("4535.9237")
    assert receipt.posting.kind == PostingKind.RECEIPT
    assert ledger_violations() == []


def test_a_unit_price_is_per_entered_unit(supplier, soy_wax, storage):
    receipt = receive(supplier, [line(soy_wax, "2", "kg", storage, unit_price=D("4.50"))])
    assert receipt.lines.get().price == D("9.00")
    assert receipt.lines.get().lot.unit_cost == D("0.0045")


def test_shipping_is_spread_over_the_lines_by_value_to_the_cent(supplier, soy_wax, jars, storage):
    receipt = receive(
        supplier,
        [
            line(soy_wax, "10", "kg", storage, price=D("30.00")),
            line(jars, "48", "each", storage, price=D("10.00")),
        ],
        shipping="10.00",
    )
    wax_line, jar_line = receipt.lines.order_by("id")
    assert (wax_line.shipping_share, jar_line.shipping_share) == (D("7.50"), D("2.50"))
    assert wax_line.lot.unit_cost == D("0.00375")  # (30 + 7.50) / 10000 g
    assert jar_line.lot.unit_cost == D("0.2604166667")  # (10 + 2.50) / 48
    total = sum(b.quantity * b.lot.unit_cost for b in Balance.objects.select_related("lot"))
    assert abs(total - D("50.00")) < D("0.01")


def test_uneven_shipping_shares_still_add_up_to_the_shipping(supplier, soy_wax, jars, storage):
    receipt = receive(
        supplier,
        [
            line(soy_wax, "1", "kg", storage, price=D("1.00")),
            line(jars, "1", "each", storage, price=D("1.00")),
            line(jars, "2", "each", storage, price=D("1.00")),
        ],
        shipping="1.00",
    )
    shares = [rl.shipping_share for rl in receipt.lines.all()]
    assert sum(shares) == D("1.00")
    assert sorted(shares) == [D("0.33"), D("0.33"), D("0.34")]


def test_what_was_last_paid_is_per_unit_of_the_goods_without_shipping(supplier, soy_wax, storage):
    receive(supplier, [line(soy_wax, "5", "kg", storage, price=D("25.00"))], shipping="5")
    [row] = selectors.supplier_prices(material=soy_wax)
    assert row.paid_per_unit == D("0.005")  # goods only: shipping is not the supplier's price
    receive(supplier, [line(soy_wax, "5", "kg", storage, price=D("30.00"))])
    [row] = selectors.supplier_prices(material=soy_wax)
    assert (row.supplier, row.paid_per_unit) == (supplier, D("0.006"))
    assert not SupplierPrice.objects.exists()  # the price list is the Owner's


def test_a_lot_tracked_material_keeps_the_supplier_lot_code_and_shelf_life(
    supplier, lavender, storage
):
    lavender.item.shelf_life_days = 365
    lavender.item.save()
    receipt = receive(
        supplier, [line(lavender, "500", "ml", storage, price=D("44.50"), lot_code="LAV-2611")]
    )
    lot = receipt.lines.get().lot
    assert lot.code == "LAV-2611"
    assert lot.expiry_date == timezone.localdate() + timedelta(days=365)


def test_an_explicit_expiry_wins_over_the_shelf_life(supplier, lavender, storage):
    receipt = receive(
        supplier,
        [
            line(
                lavender,
                "100",
                "ml",
                storage,
                price=D("10"),
                lot_code="L1",
                expiry_date=date(2027, 3, 1),
            )
        ],
    )
    assert receipt.lines.get().lot.expiry_date == date(2027, 3, 1)


def test_a_bad_line_saves_nothing_of_the_delivery(supplier, soy_wax, lavender, storage):
    with pytest.raises(ValidationError) as err:
        receive(
            supplier,
            [
                line(soy_wax, "5", "kg", storage, price=D("20")),
                line(lavender, "100", "ml", storage, price=D("10")),  # no lot code
            ],
        )
    assert "Lavender oil is lot-tracked: give the new lot its code." in err.value.messages
    assert not Receipt.objects.exists() and not Posting.objects.exists()
    assert not Lot.objects.exists()
    assert not SupplierPrice.objects.exists()


def test_an_incompatible_unit_is_refused(supplier, jars, storage):
    with pytest.raises(ValidationError) as err:
        receive(supplier, [line(jars, "5", "kg", storage, price=D("20"))])
    assert err.value.messages == [
        "Amber jar is counted in each: a quantity in kg cannot be converted."
    ]


def test_a_line_needs_a_price_but_only_one_kind(supplier, soy_wax, storage):
    with pytest.raises(ValidationError) as err:
        receive(supplier, [line(soy_wax, "5", "kg", storage)])
    assert err.value.messages == ["Soy wax 464: give the line's total price or its unit price."]
    with pytest.raises(ValidationError):
        receive(supplier, [line(soy_wax, "5", "kg", storage, price=D("1"), unit_price=D("1"))])


def test_the_same_delivery_submitted_twice_is_received_once(supplier, soy_wax, storage):
    same = key()
    first = receive(
        supplier, [line(soy_wax, "5", "kg", storage, price=D("20"))], idempotency_key=same
    )
    second = receive(
        supplier, [line(soy_wax, "5", "kg", storage, price=D("20"))], idempotency_key=same
    )
    assert first.pk == second.pk
    assert Receipt.objects.count() == 1
    assert Balance.objects.get().quantity == D("5000")


@pytest.mark.django_db(transaction=True)
def test_a_delivery_tapped_from_ten_tablets_at_once_is_received_once(supplier, soy_wax, storage):
    same = key()
    results = run_together(
        10,
        lambda i: (
            receive(
                supplier, [line(soy_wax, "5", "kg", storage, price=D("20"))], idempotency_key=same
            ).pk
        ),
    )
    assert len(set(results)) == 1, results
    assert Receipt.objects.count() == 1
    assert Balance.objects.get().quantity == D("5000")
    assert ledger_violations() == []


def test_check_ledger_finds_shipping_shares_that_do_not_add_up(supplier, soy_wax, storage):
    receipt = receive(
        supplier, [line(soy_wax, "5", "kg", storage, price=D("25.00"))], shipping="5.00"
    )
    assert ledger_violations() == []
    first = receipt.lines.get()
    ReceiptLine.objects.filter(pk=first.pk).update(shipping_share=first.shipping_share + 1)
    assert any(
        f"Delivery #{receipt.pk}: shipping" in p and "shares add up to" in p
        for p in ledger_violations()
    )
