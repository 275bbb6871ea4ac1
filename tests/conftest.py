import os

import pytest
from django.db.backends.signals import connection_created

from stock.models import forget_workshop
from stock.services import workshop_save


def _allow_truncate(sender, connection, **kwargs):
    """The ledger's tables refuse TRUNCATE; the suite empties its own database between
    transactional tests with it, so its connections say they may."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET loomworks.allow_truncate = 'on'")


connection_created.connect(_allow_truncate)


@pytest.fixture(autouse=True)
def _fresh_workshop_settings():
    """Each test reads the workshop's settings from its own database, not a cached copy."""
    forget_workshop()
    yield
    forget_workshop()


# Playwright's sync API runs an event loop in the test thread; the ORM calls that the tests
# make around it are still synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(autouse=True)
def _plain_static_files(settings):
    """Tests serve static files without a collectstatic manifest."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    settings.SECURE_SSL_REDIRECT = False


@pytest.fixture
def workshop(db):
    """A workshop whose Owner has been through the first-run page."""
    return workshop_save(
        name="Test workshop",
        time_zone="UTC",
        currency="EUR",
        batch_reference_pattern="{CODE}-{SEQ}",
    )


@pytest.fixture
def owner(db, workshop):
    from tests.factories import UserFactory

    return UserFactory(role="Owner", username="olive")


@pytest.fixture
def maker(db):
    from tests.factories import UserFactory

    return UserFactory(role="Maker", username="mo")


@pytest.fixture
def viewer(db):
    from tests.factories import UserFactory

    return UserFactory(role="Viewer", username="vi")


@pytest.fixture
def owner_client(client, owner):
    client.force_login(owner)
    return client


@pytest.fixture
def maker_client(client, maker):
    client.force_login(maker)
    return client


@pytest.fixture
def viewer_client(client, viewer):
    client.force_login(viewer)
    return client
