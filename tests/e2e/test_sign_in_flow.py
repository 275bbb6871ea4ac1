import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import assert_fits_the_screen, sign_in
from tests.factories import UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
PASSWORD = "correct-horse-battery"


def test_a_maker_signs_in_through_the_form_and_sees_the_dashboard(page, live_server, shoot):
    UserFactory(role="Maker", username="mo", first_name="Mo", last_name="Maker")

    page.goto(live_server.url + "/")
    expect(page).to_have_url(live_server.url + "/sign-in/?next=/")
    expect(page.get_by_role("heading", name="Sign in to Loomworks")).to_be_visible()
    assert_fits_the_screen(page)
    shoot("sign-in")

    sign_in(page, live_server, "mo", PASSWORD)

    expect(page).to_have_url(live_server.url + "/")
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    expect(page.get_by_text("Good to see you, Mo.")).to_be_visible()
    expect(page.locator(".topbar .badge-role")).to_have_text("Maker")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    expect(page.get_by_role("link", name="People")).to_have_count(0)
    assert_fits_the_screen(page)
    shoot("dashboard-maker")
    assert page.errors == [], page.errors  # no CSP violation, no script error


def test_a_wrong_password_says_so_on_the_page(page, live_server, shoot):
    UserFactory(role="Viewer", username="vi")
    sign_in(page, live_server, "vi", "not-the-password")
    expect(page.get_by_role("alert")).to_contain_text("Please enter a correct username")
    shoot("sign-in-error")
    assert [e for e in page.errors if "Content Security Policy" in e] == []


def test_signing_out_returns_to_the_sign_in_page(page, live_server):
    UserFactory(role="Viewer", username="vi")
    sign_in(page, live_server, "vi", PASSWORD)
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in to Loomworks")).to_be_visible()
    page.goto(live_server.url + "/")
    expect(page).to_have_url(live_server.url + "/sign-in/?next=/")
