import pytest

from tests.stock.factories import ItemFactory, LocationFactory


@pytest.fixture
def wax(db):
    return ItemFactory(name="Soy wax 464", sku="WAX-464", unit="g")


@pytest.fixture
def oil(db):
    return ItemFactory(name="Lavender oil", sku="OIL-LAV", unit="ml", lot_tracked=True)


@pytest.fixture
def storage(db):
    return LocationFactory(name="Storage")


@pytest.fixture
def bench(db):
    return LocationFactory(name="Bench")
