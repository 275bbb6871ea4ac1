"""Reads of the loomworks app that several pages share."""

from django.contrib.auth import get_user_model

from loomworks.roles import role_of


def people_for_list():
    """Everyone, active first, each with `.role` (the role name or None); two queries in all."""
    people = list(
        get_user_model()
        .objects.prefetch_related("groups")
        .order_by("-is_active", "first_name", "last_name", "username")
    )
    for person in people:
        person.role = role_of(person)
    return people


def person_with_role(person):
    person.role = role_of(person)
    return person
