"""Each role reaches what it should and no more, on the server (not only in the menus)."""

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("who", ["owner_client", "maker_client", "viewer_client"])
def test_every_role_sees_the_dashboard_with_its_role(request, who):
    client = request.getfixturevalue(who)
    response = client.get("/")
    assert response.status_code == 200
    role = {"owner_client": "Owner", "maker_client": "Maker", "viewer_client": "Viewer"}[who]
    assert f'<span class="badge badge-role">{role}</span>' in response.text


def test_an_owner_manages_people_and_sees_the_menu_links(owner_client):
    assert owner_client.get("/people/").status_code == 200
    assert owner_client.get("/people/add/").status_code == 200
    dashboard = owner_client.get("/").text
    assert 'href="/people/"' in dashboard
    assert 'href="/admin/"' in dashboard


@pytest.mark.parametrize("who", ["maker_client", "viewer_client"])
@pytest.mark.parametrize("path", ["/people/", "/people/add/"])
def test_makers_and_viewers_cannot_open_people_pages(request, who, path):
    response = request.getfixturevalue(who).get(path)
    assert response.status_code == 403
    assert "Not allowed" in response.text


@pytest.mark.parametrize("who", ["maker_client", "viewer_client"])
def test_makers_and_viewers_cannot_change_anyones_role_or_state(request, who, owner):
    client = request.getfixturevalue(who)
    assert client.post(f"/people/{owner.pk}/role/", {"role": "Viewer"}).status_code == 403
    assert client.post(f"/people/{owner.pk}/active/", {"active": "0"}).status_code == 403
    assert client.post("/people/add/", {"username": "sneaky"}).status_code == 403
    owner.refresh_from_db()
    assert owner.is_active
    assert list(owner.groups.values_list("name", flat=True)) == ["Owner"]


@pytest.mark.parametrize("who", ["maker_client", "viewer_client"])
def test_makers_and_viewers_see_no_people_or_admin_links(request, who):
    dashboard = request.getfixturevalue(who).get("/").text
    assert 'href="/people/"' not in dashboard
    assert 'href="/admin/"' not in dashboard


def test_an_owner_opens_the_admin_and_its_user_list(owner_client):
    assert owner_client.get("/admin/").status_code == 200
    response = owner_client.get("/admin/auth/user/")
    assert response.status_code == 200
    assert "olive" in response.text


@pytest.mark.parametrize("who", ["maker_client", "viewer_client"])
def test_makers_and_viewers_are_kept_out_of_the_admin(request, who):
    client = request.getfixturevalue(who)
    response = client.get("/admin/", follow=True)
    assert response.status_code == 403
    assert "Not allowed" in response.text
    assert client.get("/admin/auth/user/", follow=True).status_code == 403


def test_the_admin_login_page_sends_an_owner_back_where_they_were_going(owner_client):
    response = owner_client.get("/admin/login/?next=/admin/auth/group/")
    assert response.status_code == 302
    assert response["Location"] == "/admin/auth/group/"
    elsewhere = owner_client.get("/admin/login/?next=https://evil.example/")
    assert elsewhere["Location"] == "/admin/"
