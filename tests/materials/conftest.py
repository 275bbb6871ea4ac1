import pytest

from tests.materials.factories import MaterialFactory, SupplierFactory
from tests.stock.factories import LocationFactory


@pytest.fixture
def storage(db):
    return LocationFactory(name="Storage")


@pytest.fixture
def supplier(db):
    return SupplierFactory(name="Wick and Wax Supply")


@pytest.fixture
def soy_wax(db):
    return MaterialFactory(item__name="Soy wax 464", item__sku="WAX-464", item__unit="g")


@pytest.fixture
def lavender(db):
    return MaterialFactory(
        item__name="Lavender oil", item__sku="FO-LAV", item__unit="ml", item__lot_tracked=True
    )


@pytest.fixture
def jars(db):
    return MaterialFactory(item__name="Amber jar", item__sku="JAR-200", item__unit="each")
