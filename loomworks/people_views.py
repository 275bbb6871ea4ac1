"""People management for Owners: add a person, change a role, deactivate and reactivate.

Each row action works as a plain form post (redirect back to the list with a message) and,
with htmx, swaps only its own table row.
"""

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from loomworks import selectors, services
from loomworks.forms import PersonCreateForm, RoleForm
from loomworks.roles import Role

can_manage_people = permission_required("auth.change_user", raise_exception=True)


def _get_person(pk):
    return get_object_or_404(get_user_model().objects.prefetch_related("groups"), pk=pk)


def _name(person):
    return person.get_full_name() or person.get_username()


def _a(role):
    return f"an {role}" if role[:1] in "AEIOU" else f"a {role}"


def _row_result(request, person, *, notice="", error=""):
    """htmx: the person's row again, saying what happened. Otherwise: back to the list."""
    if request.htmx:
        context = {
            "p": selectors.person_with_role(person),
            "roles": Role.choices,
            "notice": notice,
            "error": error,
        }
        return render(request, "loomworks/_person_row.html", context)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, notice)
    return redirect("people:list")


@can_manage_people
def people_list(request):
    return render(
        request,
        "loomworks/people_list.html",
        {"people": selectors.people_for_list(), "roles": Role.choices},
    )


@can_manage_people
def person_add(request):
    form = PersonCreateForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            person = services.person_create(
                username=data["username"],
                first_name=data["first_name"],
                last_name=data["last_name"],
                email=data["email"],
                role=data["role"],
                password=data["password"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"{_name(person)} can now sign in as {_a(data['role'])}.")
            return redirect("people:list")
    return render(request, "loomworks/person_add.html", {"form": form})


@can_manage_people
@require_POST
def person_role(request, pk):
    person = _get_person(pk)
    form = RoleForm(request.POST)
    if not form.is_valid():
        return _row_result(request, person, error=services.ROLE_UNKNOWN)
    try:
        services.person_set_role(person=person, role=form.cleaned_data["role"], actor=request.user)
    except ValidationError as exc:
        return _row_result(request, person, error=" ".join(exc.messages))
    notice = f"{_name(person)} is now {_a(form.cleaned_data['role'])}."
    return _row_result(request, person, notice=notice)


@can_manage_people
@require_POST
def person_active(request, pk):
    person = _get_person(pk)
    active = request.POST.get("active") == "1"
    try:
        services.person_set_active(person=person, active=active, actor=request.user)
    except ValidationError as exc:
        return _row_result(request, person, error=" ".join(exc.messages))
    if active:
        notice = f"{_name(person)} is active again and can sign in."
    else:
        notice = f"{_name(person)} is deactivated and can no longer sign in."
    return _row_result(request, person, notice=notice)
