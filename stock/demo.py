"""Demo stock for `manage.py seed_demo`: locations, items and a few weeks of postings.

Every posting carries a fixed idempotency key, so running the seed again changes nothing.
"""

import contextlib
from datetime import timedelta
from decimal import Decimal as D

from django.core.exceptions import ValidationError
from django.utils import timezone

from stock import services
from stock.models import Item, ItemKind, Location, PostingKind, Reason
from stock.services import Line

LOCATIONS = [
    ("Storage", "Shelving in the back room"),
    ("Bench", "The pouring bench"),
    ("Market stall", "Boxes that go to the Saturday market"),
]

# sku, name, unit, lot-tracked, shelf life (days)
ITEMS = [
    ("WAX-SOY464", "Soy wax 464", "g", False, None),
    ("OIL-COCO", "Coconut oil", "g", False, 540),
    ("OIL-LAV", "Lavender fragrance oil", "ml", True, 365),
    ("OIL-CEDAR", "Cedarwood fragrance oil", "ml", True, 365),
    ("WICK-CD12", "Cotton wick CD-12", "each", False, None),
    ("JAR-AMB200", "Amber jar 200 ml", "each", False, None),
]

# key, sku, location, quantity, unit cost, lot code, expiry in days from today
RECEIPTS = [
    ("demo-r1", "WAX-SOY464", "Storage", "20000", "0.0042", "", None),
    ("demo-r2", "WAX-SOY464", "Storage", "10000", "0.0045", "", None),
    ("demo-r3", "OIL-COCO", "Storage", "5000", "0.0061", "", 400),
    ("demo-r4", "OIL-LAV", "Storage", "500", "0.089", "LAV-2611", 300),
    ("demo-r5", "OIL-LAV", "Storage", "120", "0.081", "LAV-2502", -20),
    ("demo-r6", "OIL-CEDAR", "Storage", "250", "0.074", "CED-2609", 20),
    ("demo-r7", "WICK-CD12", "Storage", "400", "0.06", "", None),
    ("demo-r8", "JAR-AMB200", "Storage", "96", "0.85", "", None),
]


def seed(*, user) -> None:
    today = timezone.localdate()
    places = {}
    for name, description in LOCATIONS:
        places[name], _ = Location.objects.get_or_create(
            name=name, defaults={"description": description}
        )
    items = {}
    for sku, name, unit, tracked, shelf_life in ITEMS:
        items[sku], _ = Item.objects.get_or_create(
            sku=sku,
            defaults={
                "name": name,
                "unit": unit,
                "kind": ItemKind.MATERIAL,
                "lot_tracked": tracked,
                "shelf_life_days": shelf_life,
            },
        )
    for key, sku, place, qty, cost, code, expires_in in RECEIPTS:
        services.posting_create(
            kind=PostingKind.RECEIPT,
            lines=[
                Line(
                    location=places[place],
                    quantity=D(qty),
                    item=items[sku],
                    lot_code=code,
                    unit_cost=D(cost),
                    expiry_date=today + timedelta(days=expires_in) if expires_in else None,
                )
            ],
            user=user,
            idempotency_key=key,
            reference="Demo delivery",
        )
    lavender = items["OIL-LAV"].lots.get(code="LAV-2611")
    wax_lots = list(items["WAX-SOY464"].lots.order_by("id"))
    _quietly(
        services.transfer_post,
        from_location=places["Storage"],
        to_location=places["Bench"],
        quantities=[(wax_lots[0], D("4000")), (lavender, D("100"))],
        user=user,
        idempotency_key="demo-t1",
    )
    _quietly(
        services.adjustment_post,
        item=items["JAR-AMB200"],
        location=places["Storage"],
        quantity=D("-2"),
        reason=Reason.DAMAGED,
        note="Two jars cracked in the delivery box",
        user=user,
        idempotency_key="demo-a1",
    )


def _quietly(service, **kwargs):
    """A demo posting that no longer fits (stock used since) is skipped, not fatal."""
    with contextlib.suppress(ValidationError):
        service(**kwargs)
