"""Writes of the loomworks app: people and their roles.

Each service is one transaction. Changes that could leave the workshop without an active
Owner first lock the Owner group row, so two Owners demoting each other at the same moment
are serialised and the second one sees the first one's change.
"""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction

from loomworks.roles import Role, role_of, sync_role_permissions

User = get_user_model()

USERNAME_REQUIRED = "Give the person a username."
USERNAME_TAKEN = "Someone already has the username “{username}”."
EMAIL_INVALID = "“{email}” is not an email address."
ROLE_UNKNOWN = "Choose a role: Owner, Maker or Viewer."
CANNOT_DEMOTE_SELF = "You cannot change your own role: ask another Owner to do it."
CANNOT_DEACTIVATE_SELF = "You cannot deactivate yourself: ask another Owner to do it."
LAST_OWNER = (
    "{name} is the last active Owner. Make someone else an Owner first, "
    "so the workshop is never left without one."
)


def _role(value) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise ValidationError({"role": ROLE_UNKNOWN}) from None


def _role_group(role: Role) -> Group:
    group = Group.objects.filter(name=role.value).first()
    if group is None:
        # The data migration makes the groups; a database restored without them heals here.
        sync_role_permissions()
        group = Group.objects.get(name=role.value)
    return group


def _lock_owners() -> None:
    """Serialise every change that could remove an active Owner."""
    list(Group.objects.select_for_update().filter(name=Role.OWNER.value))


def _is_active_owner(person) -> bool:
    return person.is_active and person.groups.filter(name=Role.OWNER.value).exists()


def _refuse_if_last_owner(person) -> None:
    others = (
        User.objects.filter(is_active=True, groups__name=Role.OWNER.value)
        .exclude(pk=person.pk)
        .exists()
    )
    if not others:
        name = person.get_full_name() or person.get_username()
        raise ValidationError(LAST_OWNER.format(name=name))


def _assign_role(person, role: Role) -> None:
    person.groups.remove(*Group.objects.filter(name__in=Role.values))
    person.groups.add(_role_group(role))
    person.is_staff = role == Role.OWNER
    person.save(update_fields=["is_staff"])


def person_create(
    *,
    username: str,
    first_name: str = "",
    last_name: str = "",
    email: str = "",
    role: str,
    password: str,
):
    """Add a person with a role. Owners get the admin (is_staff); nobody else does."""
    username = username.strip()
    email = email.strip()
    role = _role(role)
    errors: dict[str, list] = {}
    if not username:
        errors["username"] = [USERNAME_REQUIRED]
    else:
        try:
            UnicodeUsernameValidator()(username)
        except ValidationError as exc:
            errors["username"] = exc.messages
        if User.objects.filter(username__iexact=username).exists():
            errors.setdefault("username", []).append(USERNAME_TAKEN.format(username=username))
    if email:
        try:
            validate_email(email)
        except ValidationError:
            errors["email"] = [EMAIL_INVALID.format(email=email)]
    candidate = User(
        username=username, first_name=first_name.strip(), last_name=last_name.strip(), email=email
    )
    try:
        validate_password(password, user=candidate)
    except ValidationError as exc:
        errors["password"] = exc.messages
    if errors:
        raise ValidationError(errors)

    candidate.set_password(password)
    try:
        with transaction.atomic():
            candidate.save()
            _assign_role(candidate, role)
    except IntegrityError:
        # Someone took the name between the check and the insert.
        raise ValidationError({"username": USERNAME_TAKEN.format(username=username)}) from None
    return candidate


@transaction.atomic
def person_set_role(*, person, role: str, actor):
    """Give a person another role. Nobody changes their own; the last active Owner stays one."""
    role = _role(role)
    if person.pk == actor.pk and role_of(person) != role:
        raise ValidationError(CANNOT_DEMOTE_SELF)
    _lock_owners()
    if role != Role.OWNER and _is_active_owner(person):
        _refuse_if_last_owner(person)
    _assign_role(person, role)
    return person


@transaction.atomic
def person_set_active(*, person, active: bool, actor):
    """Deactivate (they can no longer sign in) or reactivate a person."""
    if not active and person.pk == actor.pk:
        raise ValidationError(CANNOT_DEACTIVATE_SELF)
    _lock_owners()
    if not active and _is_active_owner(person):
        _refuse_if_last_owner(person)
    if person.is_active != active:
        person.is_active = active
        person.save(update_fields=["is_active"])
    return person
