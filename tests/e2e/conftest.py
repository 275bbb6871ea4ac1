"""Browser tests drive Debian's Chromium (/usr/bin/chromium) through pytest-playwright.

No browser is ever downloaded: `make test` installs the distribution's chromium when missing
(.ci/ensure-chromium). Screenshots land in test-results/ (gitignored) for a person to look at.
"""

from pathlib import Path

import pytest
from django.test import override_settings

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-results"
SIZES = {"laptop": {"width": 1280, "height": 800}, "tablet": {"width": 768, "height": 1024}}


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ],
    }


@pytest.fixture(scope="session")
def _plain_http():
    """The live server speaks plain HTTP on localhost. SecurityMiddleware reads
    SECURE_SSL_REDIRECT once, when the server starts, so a per-test override is too late."""
    with override_settings(
        SECURE_SSL_REDIRECT=False, SESSION_COOKIE_SECURE=False, CSRF_COOKIE_SECURE=False
    ):
        yield


@pytest.fixture(scope="session")
def live_server(_plain_http, live_server):
    """pytest-django's live server, started (argument order matters) after _plain_http."""
    return live_server


@pytest.fixture(autouse=True)
def _plain_http_cookies(settings):
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    settings.ALLOWED_HOSTS = ["localhost", "127.0.0.1"]


@pytest.fixture(params=list(SIZES))
def size(request):
    return request.param


@pytest.fixture
def page(browser, size):
    """A page at the given screen size that records console errors (CSP reports among them)."""
    context = browser.new_context(viewport=SIZES[size])
    page = context.new_page()
    page.errors = []
    page.on(
        "console",
        lambda msg: page.errors.append(msg.text) if msg.type in ("error", "warning") else None,
    )
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    yield page
    context.close()


@pytest.fixture
def shoot(page, size):
    """Save a full-page screenshot as test-results/<name>-<size>.png."""
    SCREENSHOTS.mkdir(exist_ok=True)

    def shoot(name):
        page.screenshot(path=SCREENSHOTS / f"{name}-{size}.png", full_page=True)

    return shoot


def sign_in(page, live_server, username, password, next_path="/"):
    page.goto(live_server.url + next_path)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def assert_fits_the_screen(page):
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than the screen"
