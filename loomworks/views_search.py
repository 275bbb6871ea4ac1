"""The header's search box: one match opens it, several give a list (loomworks/search.py)."""

from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from loomworks.search import search as find


@require_GET
def search(request):
    """A lot code, batch reference, SKU, customer's name or this site's address. Nothing is
    posted: a search only reads, and the answer to bad input is a message, never an error."""
    found = find(request.GET.get("q", ""), user=request.user, host=request.get_host())
    if found.go_to:
        return redirect(found.go_to)
    return render(request, "loomworks/search.html", {"found": found})
