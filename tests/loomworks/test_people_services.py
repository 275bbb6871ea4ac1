from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import connection

from loomworks import services
from loomworks.roles import role_of
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
User = get_user_model()
GOOD_PASSWORD = "beeswax-and-linen-7"


def _create(**overrides):
    fields = {
        "username": "bea",
        "first_name": "Bea",
        "last_name": "Potter",
        "email": "bea@example.com",
        "role": "Maker",
        "password": GOOD_PASSWORD,
    }
    return services.person_create(**{**fields, **overrides})


def test_a_new_maker_can_sign_in_with_the_role_and_no_admin():
    bea = _create()
    assert role_of(bea) == "Maker"
    assert bea.check_password(GOOD_PASSWORD)
    assert bea.is_active and not bea.is_staff


def test_a_new_owner_gets_the_admin():
    assert _create(role="Owner").is_staff


@pytest.mark.parametrize(
    ("password", "expected"),
    [
        ("short1", "This password is too short"),
        ("password123", "This password is too common"),
        ("83927461520", "This password is entirely numeric"),
        ("bea-potter", "The password is too similar"),
    ],
)
def test_a_weak_password_is_refused_and_nobody_is_added(password, expected):
    with pytest.raises(ValidationError) as excinfo:
        _create(password=password)
    assert any(expected in m for m in excinfo.value.message_dict["password"])
    assert not User.objects.filter(username="bea").exists()


def test_a_username_taken_in_any_letter_case_is_refused(maker):
    with pytest.raises(ValidationError) as excinfo:
        _create(username="MO")
    assert excinfo.value.message_dict["username"] == [services.USERNAME_TAKEN.format(username="MO")]
    assert User.objects.count() == 1


def test_a_username_with_spaces_or_a_bad_email_is_refused():
    with pytest.raises(ValidationError) as excinfo:
        _create(username="bea potter", email="bea-at-example")
    errors = excinfo.value.message_dict
    assert "username" in errors
    assert errors["email"] == [services.EMAIL_INVALID.format(email="bea-at-example")]
    assert not User.objects.exists()


def test_an_unknown_role_is_refused():
    with pytest.raises(ValidationError) as excinfo:
        _create(role="Boss")
    assert excinfo.value.message_dict["role"] == [services.ROLE_UNKNOWN]


def test_an_owner_makes_a_maker_an_owner_and_back(owner, maker):
    services.person_set_role(person=maker, role="Owner", actor=owner)
    maker.refresh_from_db()
    assert role_of(maker) == "Owner" and maker.is_staff
    services.person_set_role(person=maker, role="Viewer", actor=owner)
    maker.refresh_from_db()
    assert role_of(maker) == "Viewer" and not maker.is_staff
    assert list(maker.groups.values_list("name", flat=True)) == ["Viewer"]


def test_an_owner_cannot_demote_themselves(owner):
    UserFactory(role="Owner", username="second-owner")
    with pytest.raises(ValidationError) as excinfo:
        services.person_set_role(person=owner, role="Maker", actor=owner)
    assert excinfo.value.messages == [services.CANNOT_DEMOTE_SELF]
    owner.refresh_from_db()
    assert role_of(owner) == "Owner" and owner.is_staff


def test_an_owner_cannot_deactivate_themselves(owner):
    with pytest.raises(ValidationError) as excinfo:
        services.person_set_active(person=owner, active=False, actor=owner)
    assert excinfo.value.messages == [services.CANNOT_DEACTIVATE_SELF]
    owner.refresh_from_db()
    assert owner.is_active


@pytest.fixture
def superuser(db):
    """Made by `manage.py createsuperuser`: every permission, but no role."""
    return User.objects.create_superuser("root", "root@example.com", "not-a-demo-password-9")


def test_the_last_active_owner_cannot_be_demoted(owner, superuser):
    with pytest.raises(ValidationError) as excinfo:
        services.person_set_role(person=owner, role="Maker", actor=superuser)
    assert excinfo.value.messages == [services.LAST_OWNER.format(name=owner.get_full_name())]
    owner.refresh_from_db()
    assert role_of(owner) == "Owner"


def test_the_last_active_owner_cannot_be_deactivated(owner, superuser):
    with pytest.raises(ValidationError) as excinfo:
        services.person_set_active(person=owner, active=False, actor=superuser)
    assert excinfo.value.messages == [services.LAST_OWNER.format(name=owner.get_full_name())]
    owner.refresh_from_db()
    assert owner.is_active


def test_a_deactivated_owner_does_not_count_as_another_owner(owner, superuser):
    UserFactory(role="Owner", username="gone", is_active=False)
    with pytest.raises(ValidationError):
        services.person_set_active(person=owner, active=False, actor=superuser)


def test_with_a_second_active_owner_one_owner_may_be_demoted(owner, superuser):
    UserFactory(role="Owner", username="second-owner")
    services.person_set_role(person=owner, role="Viewer", actor=superuser)
    owner.refresh_from_db()
    assert role_of(owner) == "Viewer" and not owner.is_staff


def test_deactivating_and_reactivating_a_maker(owner, maker):
    services.person_set_active(person=maker, active=False, actor=owner)
    maker.refresh_from_db()
    assert not maker.is_active
    services.person_set_active(person=maker, active=True, actor=owner)
    maker.refresh_from_db()
    assert maker.is_active
    assert role_of(maker) == "Maker"


@pytest.mark.django_db(transaction=True)
def test_two_owners_demoting_each_other_at_once_leave_one_owner():
    ann = UserFactory(role="Owner", username="ann")
    ben = UserFactory(role="Owner", username="ben")
    barrier = Barrier(2)

    def demote(person, actor):
        try:
            barrier.wait(timeout=10)
            services.person_set_role(person=person, role="Maker", actor=actor)
            return "done"
        except ValidationError as exc:
            return exc.messages[0]
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(demote, [ann, ben], [ben, ann]))

    assert sorted(r == "done" for r in results) == [False, True]
    assert any("is the last active Owner" in r for r in results)
    owners = User.objects.filter(groups__name="Owner", is_active=True)
    assert owners.count() == 1
