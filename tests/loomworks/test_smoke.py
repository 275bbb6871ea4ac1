import pytest


@pytest.mark.django_db
def test_dashboard_greets_a_signed_in_owner(owner_client):
    response = owner_client.get("/")
    assert response.status_code == 200
    assert b"Welcome" in response.content
