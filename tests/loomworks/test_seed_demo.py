import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command

from loomworks.roles import role_of

pytestmark = pytest.mark.django_db
User = get_user_model()


def _snapshot():
    return {
        "people": sorted(
            (u.username, u.get_full_name(), role_of(u), u.is_staff, u.is_active)
            for u in User.objects.prefetch_related("groups")
        ),
        "groups": sorted(
            (g.name, g.permissions.count(), g.user_set.count()) for g in Group.objects.all()
        ),
    }


def test_seed_demo_creates_owner_maker_and_viewer_who_can_sign_in():
    call_command("seed_demo", password="wax-and-wick-42")
    roles = {u.username: role_of(u) for u in User.objects.all()}
    assert roles == {"owner": "Owner", "maker": "Maker", "viewer": "Viewer"}
    assert User.objects.get(username="owner").is_staff
    assert not User.objects.get(username="maker").is_staff
    assert all(u.check_password("wax-and-wick-42") for u in User.objects.all())


def test_seed_demo_twice_gives_the_same_data_and_keeps_passwords():
    call_command("seed_demo", password="first-password-1")
    first = _snapshot()
    owner = User.objects.get(username="owner")
    owner.set_password("changed-by-the-owner")
    owner.save()

    call_command("seed_demo", password="second-password-2")

    assert _snapshot() == first
    assert User.objects.get(username="owner").check_password("changed-by-the-owner")
    assert User.objects.get(username="maker").check_password("first-password-1")
