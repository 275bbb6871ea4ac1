from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import permission_required
from django.shortcuts import render


@permission_required("auth.change_user", raise_exception=True)
def people_list(request):
    people = get_user_model().objects.prefetch_related("groups").order_by("username")
    return render(request, "loomworks/people_list.html", {"people": people})
