import factory

from materials.models import Category, Material, Supplier
from tests.stock.factories import ItemFactory


class CategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Category
        django_get_or_create = ("name",)

    name = "Raw material"


class SupplierFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Supplier
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Supplier {n}")
    email = factory.LazyAttribute(lambda s: f"orders@{s.name.lower().replace(' ', '')}.example")


class MaterialFactory(factory.django.DjangoModelFactory):
    """A material with its ledger item: MaterialFactory(item__name="Soy wax", item__unit="g")."""

    class Meta:
        model = Material

    item = factory.SubFactory(ItemFactory)
    category = factory.SubFactory(CategoryFactory)
