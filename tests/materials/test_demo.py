import pytest
from django.core.management import call_command
from django.utils import timezone

from batches import demo as batches_demo
from materials import demo as materials_demo
from materials.models import Material, Receipt, Supplier
from materials.selectors import MaterialFilters, Status, material_list
from stock.checks import ledger_violations
from stock.models import Balance, Lot, Posting

pytestmark = pytest.mark.django_db


def snapshot():
    return (
        Material.objects.count(),
        Supplier.objects.count(),
        Receipt.objects.count(),
        Posting.objects.count(),
        sorted(Balance.objects.values_list("lot__code", "location__name", "quantity")),
    )


def test_the_demo_workshop_is_believable_sound_and_seeds_once():
    call_command("seed_demo", password="pw-for-tests-only")
    first = snapshot()
    call_command("seed_demo", password="pw-for-tests-only")
    assert snapshot() == first
    assert Material.objects.count() >= 25
    assert Supplier.objects.count() == 3
    # The materials demo's deliveries, and the earlier ones the demo batches were made from.
    assert Receipt.objects.count() == len(materials_demo.DELIVERIES) + len(batches_demo.DELIVERIES)
    today = timezone.localdate()
    expired = Lot.objects.filter(expiry_date__lt=today, balances__quantity__gt=0).distinct()
    assert expired.count() == 1
    low = material_list(MaterialFilters(status=Status.LOW))
    assert len(low) == 2
    assert ledger_violations() == []
