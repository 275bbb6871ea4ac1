"""Signing in and out through the real form. django-axes throttles failed sign-ins."""

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery"  # tests/factories.py


def _sign_in(client, username, password, next_url=""):
    return client.post("/sign-in/", {"username": username, "password": password, "next": next_url})


def test_signing_in_through_the_form_opens_the_dashboard(client, maker):
    response = _sign_in(client, "mo", PASSWORD)
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert "Good to see you" in client.get("/").text


def test_signing_in_returns_to_the_page_asked_for(client, owner):
    first = client.get("/people/")
    assert first["Location"] == "/sign-in/?next=/people/"
    response = _sign_in(client, "olive", PASSWORD, next_url="/people/")
    assert response["Location"] == "/people/"


def test_a_wrong_password_shows_a_clear_message_and_signs_nobody_in(client, maker):
    response = _sign_in(client, "mo", "not-my-password")
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.text
    assert client.get("/")["Location"].startswith("/sign-in/")


def test_five_failures_lock_the_sign_in_even_for_the_right_password(client, maker):
    for attempt in range(1, 5):
        response = _sign_in(client, "mo", f"guess-{attempt}")
        assert response.status_code == 200, f"attempt {attempt}"
        assert "Please enter a correct username" in response.text
    fifth = _sign_in(client, "mo", "guess-5")
    assert "Too many failed sign-ins" in fifth.text

    sixth = _sign_in(client, "mo", PASSWORD)
    assert sixth.status_code == 429
    assert "Too many failed sign-ins" in sixth.text
    assert "locked for 15 minutes" in sixth.text
    assert client.get("/")["Location"].startswith("/sign-in/")


def test_the_lock_holds_only_for_that_name(client, maker, owner):
    for attempt in range(5):
        _sign_in(client, "mo", f"guess-{attempt}")
    response = _sign_in(client, "olive", PASSWORD)
    assert response.status_code == 302
    assert client.get("/").status_code == 200


def test_four_failures_then_the_right_password_signs_in(client, maker):
    for attempt in range(4):
        _sign_in(client, "mo", f"guess-{attempt}")
    assert _sign_in(client, "mo", PASSWORD).status_code == 302


def test_signing_out_needs_a_post(maker_client):
    assert maker_client.get("/sign-out/").status_code == 405
    assert maker_client.get("/").status_code == 200  # still signed in

    response = maker_client.post("/sign-out/")
    assert response.status_code == 302
    assert response["Location"] == "/sign-in/"
    assert maker_client.get("/")["Location"].startswith("/sign-in/")


def test_sign_out_is_protected_against_cross_site_posts(maker):
    client = Client(enforce_csrf_checks=True)
    client.force_login(maker)
    assert client.post("/sign-out/").status_code == 403
    assert client.get("/").status_code == 200


def test_a_deactivated_person_can_no_longer_sign_in(client, maker):
    maker.is_active = False
    maker.save()
    response = _sign_in(client, "mo", PASSWORD)
    assert response.status_code == 200
    assert client.get("/")["Location"].startswith("/sign-in/")


def test_a_signed_in_person_who_opens_sign_in_goes_to_the_dashboard(maker_client):
    response = maker_client.get("/sign-in/")
    assert response.status_code == 302
    assert response["Location"] == "/"
