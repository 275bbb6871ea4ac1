import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from loomworks import services
from loomworks.forms import PASSWORDS_DIFFER
from loomworks.roles import role_of

pytestmark = pytest.mark.django_db
User = get_user_model()
HX = {"HTTP_HX_REQUEST": "true"}


def _add_form(**overrides):
    data = {
        "username": "bea",
        "first_name": "Bea",
        "last_name": "Potter",
        "email": "",
        "role": "Viewer",
        "password": "beeswax-and-linen-7",
        "password_confirm": "beeswax-and-linen-7",
    }
    return {**data, **overrides}


def test_the_people_page_lists_everyone_with_role_and_state(owner_client, maker, viewer):
    viewer.is_active = False
    viewer.save()
    page = owner_client.get("/people/").text
    assert f'id="person-{maker.pk}"' in page
    assert "Deactivated" in page
    assert '<option value="Maker" selected>Maker</option>' in page
    assert "This is you" in page  # the owner's own row has no controls


def test_an_owner_adds_a_person_who_can_then_sign_in(owner_client, client):
    response = owner_client.post("/people/add/", _add_form(), follow=True)
    assert response.redirect_chain == [("/people/", 302)]
    assert "Bea Potter can now sign in as a Viewer." in response.text
    bea = User.objects.get(username="bea")
    assert role_of(bea) == "Viewer"

    owner_client.post("/sign-out/")
    signed_in = owner_client.post(
        "/sign-in/", {"username": "bea", "password": "beeswax-and-linen-7"}
    )
    assert signed_in["Location"] == "/"


def test_the_role_choices_say_what_each_role_may_do_today(owner_client):
    page = owner_client.get("/people/add/").text
    assert "Plans, runs, completes and cancels batches; dispatches to customers" in page
    assert "reversals of postings and batches" in page  # the Owner's part


def test_a_weak_password_is_shown_on_the_form_and_nobody_is_added(owner_client):
    response = owner_client.post("/people/add/", _add_form(password="abc", password_confirm="abc"))
    assert response.status_code == 200
    assert "This password is too short" in response.text
    assert 'value="bea"' in response.text  # what was typed stays in the form
    assert not User.objects.filter(username="bea").exists()


def test_passwords_that_differ_are_shown_on_the_form(owner_client):
    response = owner_client.post("/people/add/", _add_form(password_confirm="something-else-9"))
    assert response.status_code == 200
    assert PASSWORDS_DIFFER in response.text
    assert not User.objects.filter(username="bea").exists()


def test_a_taken_username_and_missing_fields_are_shown_on_the_form(owner_client, maker):
    response = owner_client.post("/people/add/", _add_form(username="Mo"))
    assert (
        services.USERNAME_TAKEN.format(username="Mo").replace("“", "&ldquo;") in (response.text)
        or services.USERNAME_TAKEN.format(username="Mo") in response.text
    )
    empty = owner_client.post("/people/add/", {})
    assert empty.status_code == 200
    assert "This field is required." in empty.text
    assert User.objects.count() == 2


def test_changing_a_role_without_javascript_redirects_with_a_message(owner_client, maker):
    response = owner_client.post(f"/people/{maker.pk}/role/", {"role": "Viewer"}, follow=True)
    assert response.redirect_chain == [("/people/", 302)]
    assert f"{maker.get_full_name()} is now a Viewer." in response.text
    assert role_of(User.objects.get(pk=maker.pk)) == "Viewer"


def test_changing_a_role_with_htmx_returns_only_the_row(owner_client, maker):
    response = owner_client.post(f"/people/{maker.pk}/role/", {"role": "Owner"}, **HX)
    assert response.status_code == 200
    assert response.text.lstrip().startswith("<tr") or f'id="person-{maker.pk}"' in response.text
    assert "<html" not in response.text
    assert "is now an Owner." in response.text
    assert '<option value="Owner" selected>Owner</option>' in response.text
    assert User.objects.get(pk=maker.pk).is_staff


def test_a_made_up_role_shows_a_message_and_changes_nothing(owner_client, maker):
    response = owner_client.post(f"/people/{maker.pk}/role/", {"role": "Boss"}, **HX)
    assert response.status_code == 200
    assert services.ROLE_UNKNOWN in response.text
    assert role_of(User.objects.get(pk=maker.pk)) == "Maker"


def test_deactivating_with_htmx_shows_the_new_state_in_the_row(owner_client, maker):
    response = owner_client.post(f"/people/{maker.pk}/active/", {"active": "0"}, **HX)
    assert "is deactivated and can no longer sign in." in response.text
    assert "Reactivate" in response.text
    assert not User.objects.get(pk=maker.pk).is_active

    back = owner_client.post(f"/people/{maker.pk}/active/", {"active": "1"}, follow=True)
    assert "is active again and can sign in." in back.text
    assert User.objects.get(pk=maker.pk).is_active


def test_a_deactivated_person_is_signed_out_of_their_open_session(owner_client, maker, client):
    makers_browser = Client()
    makers_browser.force_login(maker)
    assert makers_browser.get("/").status_code == 200
    owner_client.post(f"/people/{maker.pk}/active/", {"active": "0"})
    assert makers_browser.get("/")["Location"].startswith("/sign-in/")


def test_the_owner_trying_to_deactivate_themselves_sees_why_not(owner_client, owner):
    response = owner_client.post(f"/people/{owner.pk}/active/", {"active": "0"}, follow=True)
    assert services.CANNOT_DEACTIVATE_SELF in response.text
    assert User.objects.get(pk=owner.pk).is_active
    row = owner_client.post(f"/people/{owner.pk}/role/", {"role": "Maker"}, **HX)
    assert services.CANNOT_DEMOTE_SELF in row.text
    assert role_of(User.objects.get(pk=owner.pk)) == "Owner"


def test_the_last_owner_rule_shows_on_the_page(client, owner):
    root = User.objects.create_superuser("root", "root@example.com", "not-a-demo-password-9")
    client.force_login(root)
    response = client.post(f"/people/{owner.pk}/role/", {"role": "Maker"}, follow=True)
    assert "is the last active Owner" in response.text
    assert role_of(User.objects.get(pk=owner.pk)) == "Owner"


def test_an_unknown_person_is_a_404_not_a_500(owner_client):
    assert owner_client.post("/people/999999/role/", {"role": "Maker"}).status_code == 404
    assert owner_client.post("/people/999999/active/", {"active": "0"}).status_code == 404


def test_row_actions_refuse_get(owner_client, maker):
    assert owner_client.get(f"/people/{maker.pk}/role/").status_code == 405
