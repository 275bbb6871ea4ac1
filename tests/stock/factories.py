import uuid
from decimal import Decimal

import factory

from stock.engine import Line, posting_create
from stock.models import Item, ItemKind, Location, PostingKind


class ItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Item

    sku = factory.Sequence(lambda n: f"SKU-{n:04d}")
    name = factory.Sequence(lambda n: f"Material {n}")
    unit = "g"
    kind = ItemKind.MATERIAL


class LocationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Location
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Shelf {n}")


def key() -> str:
    return uuid.uuid4().hex


def receive(item, location, quantity, *, unit_cost="1", code="", expiry_date=None, user=None):
    """A receipt of one new lot; returns the lot."""
    result = posting_create(
        kind=PostingKind.RECEIPT,
        lines=[
            Line(
                location=location,
                quantity=Decimal(quantity),
                item=item,
                lot_code=code,
                expiry_date=expiry_date,
                unit_cost=Decimal(unit_cost),
            )
        ],
        user=user,
        idempotency_key=key(),
        reference="test delivery",
    )
    return result.lots[0]


def draw(lot, location, quantity, *, kind=PostingKind.DISPATCH, user=None, idempotency_key=None):
    """A posting that takes `quantity` out of `lot`; returns the engine's result."""
    return posting_create(
        kind=kind,
        lines=[Line(location=location, quantity=-Decimal(quantity), lot=lot)],
        user=user,
        idempotency_key=idempotency_key or key(),
    )
