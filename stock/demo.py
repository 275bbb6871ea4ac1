"""Demo stock for `manage.py seed_demo`: locations, and a few postings after the deliveries.

Every posting carries a fixed idempotency key, so running the seed again changes nothing.
"""

import contextlib
from decimal import Decimal as D

from django.conf import settings
from django.core.exceptions import ValidationError

from stock import services
from stock.models import Item, Location, Lot, Reason, current_workshop

LOCATIONS = [
    ("Storage", "Shelving in the back room"),
    ("Bench", "The pouring bench"),
    ("Market stall", "Boxes that go to the Saturday market"),
]


def seed_workshop() -> None:
    """The demo workshop's settings, unless its Owner has changed them."""
    if current_workshop().configured_at is None:
        services.workshop_save(
            name="Lavender & Lye (demo)",
            time_zone=settings.TIME_ZONE,
            currency=settings.CURRENCY,
            batch_reference_pattern="{CODE}-{YY}{MM}{DD}-{SEQ}",
        )


def seed_locations() -> dict[str, Location]:
    places = {}
    for name, description in LOCATIONS:
        places[name], _ = Location.objects.get_or_create(
            name=name, defaults={"description": description}
        )
    return places


def seed_movements(*, user) -> None:
    """A move to the bench and a write-off, once the demo deliveries are in."""
    places = seed_locations()
    wax = Lot.objects.filter(item__sku="WAX-SOY464").order_by("id").first()
    lavender = Lot.objects.filter(item__sku="FO-LAV", code="LAV-2611").first()
    if wax is not None and lavender is not None:
        _quietly(
            services.transfer_post,
            from_location=places["Storage"],
            to_location=places["Bench"],
            quantities=[(wax, D("4000")), (lavender, D("100"))],
            user=user,
            idempotency_key="demo-t1",
        )
    jars = Item.objects.filter(sku="JAR-AMB200").first()
    if jars is not None:
        _quietly(
            services.adjustment_post,
            item=jars,
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
