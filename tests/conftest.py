import os

import pytest

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
def owner(db):
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
