"""Customers and dispatches: thin views over stock.dispatches."""

from django.contrib.auth.decorators import permission_required
from django.http import Http404
from django.shortcuts import render

from stock.models import Dispatch


def _dispatch(pk) -> Dispatch:
    try:
        return Dispatch.objects.select_related("customer", "posting", "created_by").get(pk=pk)
    except Dispatch.DoesNotExist:
        raise Http404("No such dispatch") from None


@permission_required("stock.view_dispatch", raise_exception=True)
def dispatch_detail(request, pk):
    dispatch = _dispatch(pk)
    movements = (
        dispatch.posting.movements.select_related("lot__item", "location")
        if dispatch.posting
        else []
    )
    return render(
        request, "stock/dispatch_detail.html", {"dispatch": dispatch, "movements": movements}
    )
