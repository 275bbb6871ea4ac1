import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from loomworks.roles import role_of
from tests.e2e.conftest import assert_fits_the_screen, sign_in
from tests.factories import UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
PASSWORD = "correct-horse-battery"


@pytest.fixture
def workshop():
    owner = UserFactory(role="Owner", username="olive", first_name="Olive", last_name="Owner")
    maker = UserFactory(
        role="Maker", username="mo", first_name="Mo", last_name="Maker", email="mo@workshop.example"
    )
    UserFactory(role="Viewer", username="vi", first_name="Vi", last_name="Viewer")
    return owner, maker


def test_an_owner_changes_a_role_and_deactivates_in_place(page, live_server, shoot, workshop):
    _, maker = workshop
    sign_in(page, live_server, "olive", PASSWORD)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="People").click()
    expect(page.get_by_role("heading", name="People")).to_be_visible()
    assert_fits_the_screen(page)
    shoot("people")

    page.evaluate("window.stillTheSamePage = true")
    row = page.locator(f"#person-{maker.pk}")
    row.get_by_label("Role of mo").select_option("Viewer")
    row.get_by_role("button", name="Change role").click()
    expect(page.locator(f"#person-{maker.pk} .notice")).to_have_text("Mo Maker is now a Viewer.")
    assert page.evaluate("window.stillTheSamePage") is True  # htmx swapped only the row

    page.once("dialog", lambda dialog: dialog.accept())
    page.locator(f"#person-{maker.pk}").get_by_role("button", name="Deactivate").click()
    expect(page.locator(f"#person-{maker.pk} .badge-bad")).to_have_text("Deactivated")
    shoot("people-after-changes")

    maker.refresh_from_db()
    assert role_of(maker) == "Viewer"
    assert not get_user_model().objects.get(pk=maker.pk).is_active
    assert page.errors == [], page.errors


def test_an_owner_adds_a_person_and_sees_the_password_rules(page, live_server, shoot, workshop):
    sign_in(page, live_server, "olive", PASSWORD, next_path="/people/add/")
    expect(page.get_by_role("heading", name="Add a person")).to_be_visible()
    page.get_by_label("Username").fill("bea")
    page.get_by_label("First name").fill("Bea")
    page.get_by_label("Maker").check()
    page.get_by_label("Password", exact=True).fill("short")
    page.get_by_label("Password again").fill("short")
    page.get_by_role("button", name="Add person").click()
    expect(page.locator(".errorlist")).to_contain_text("This password is too short")
    assert_fits_the_screen(page)
    shoot("person-add-errors")

    page.get_by_label("Password", exact=True).fill("beeswax-and-linen-7")
    page.get_by_label("Password again").fill("beeswax-and-linen-7")
    page.get_by_role("button", name="Add person").click()
    expect(page.get_by_role("status")).to_contain_text("Bea can now sign in as a Maker.")
    expect(page.locator("tbody tr")).to_have_count(4)
    assert page.errors == [], page.errors
