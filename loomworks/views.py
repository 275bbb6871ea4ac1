from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db import DatabaseError, connection
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from batches.selectors import open_batches
from materials.selectors import dashboard_numbers
from recipes.forms import QuickCheckForm
from recipes.models import Recipe
from stock.models import current_workshop, workshop_today
from stock.selectors import recent_postings, stock_totals


@never_cache
@require_GET
@login_not_required
def healthz(request):
    """200 when the database answers a query, 503 when it does not. No sign-in needed."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError:
        return JsonResponse({"status": "error", "database": "unreachable"}, status=503)
    return JsonResponse({"status": "ok", "database": "ok"})


def dashboard(request):
    """What needs attention today: stock value, what to reorder, what is expiring. An Owner
    whose workshop is not set up yet is sent to set it up first."""
    workshop = current_workshop()
    if workshop.configured_at is None and request.user.has_perm("stock.configure_workshop"):
        return redirect("workshop")
    context = {
        "batch_reference_example": workshop.batch_reference(code="CND", day=workshop_today(), seq=1)
    }
    if request.user.has_perm("stock.view_balance"):
        context["stock"] = stock_totals()
        context["recent"] = recent_postings(limit=6)
    if request.user.has_perm("materials.view_material"):
        context["materials"] = dashboard_numbers()
    if request.user.has_perm("batches.view_batch"):
        context["batches"] = open_batches()
        context["today"] = workshop_today()
    if request.user.has_perm("recipes.view_recipe") and Recipe.objects.exists():
        context["quick_check"] = QuickCheckForm()
    return render(request, "loomworks/dashboard.html", context)


@login_not_required
def admin_sign_in(request):
    """The admin's own login page, replaced: people sign in once, on the throttled sign-in page.

    Anonymous visitors go to sign in, then on to the admin page they asked for. Owners (staff)
    go straight on; anyone else signed in is not allowed in.
    """
    target = request.GET.get("next", "")
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = reverse("admin:index")
    if not request.user.is_authenticated:
        return redirect_to_login(target)
    if not request.user.is_staff:
        raise PermissionDenied
    return redirect(target)
