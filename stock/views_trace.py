"""Traceability pages: where a lot went, what went into it, who received it, and holding every
affected lot at once (docs/design.md, "Traceability"). Thin views over stock.trace; each page
runs a fixed number of queries, however big the tree."""

import re

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from stock import trace
from stock.models import Balance, Lot
from stock.services import lots_hold
from stock.spreadsheets import csv_response
from stock.units import plain

TRACE = "stock.view_lot"
RECALL = ("stock.view_lot", "stock.view_customer", "stock.view_dispatch")
CSV_HEADER = [
    "Customer",
    "Email",
    "Channel",
    "Order reference",
    "Dispatched on",
    "Item",
    "SKU",
    "Lot",
    "Quantity",
    "Unit",
    "Dispatch",
]
NOTHING_TO_HOLD = "No affected lot has stock on hand: there is nothing to hold."


def _lot(pk) -> Lot:
    try:
        return Lot.objects.select_related("item", "created_by_posting").get(pk=pk)
    except Lot.DoesNotExist:
        raise Http404("No such lot") from None


@permission_required(RECALL, raise_exception=True)
def trace_forward(request, pk):
    """Where did it go? The batches the lot went into, their lots, and who received them."""
    lot = _lot(pk)
    forward = trace.forward_trace(lot)
    context = {"lot": lot, "trace": forward, "summary": _reached(forward)}
    return render(request, "stock/trace_forward.html", context)


def _reached(forward: trace.Trace) -> dict:
    """How far a forward trace reached: lots, batches (the owners of the postings that made
    them) and customers. A lot reached by two roads counts once."""
    steps = list(_every(forward.steps))
    received = forward.received + [r for step in steps for r in step.received]
    return {
        "lots": forward.lots,
        "batches": len({step.owner[0] for step in steps if step.owner}),
        "customers": len({r.customer_id for r in received}),
    }


def _every(steps):
    for step in steps:
        yield step
        yield from _every(step.children)


@permission_required(TRACE, raise_exception=True)
def trace_backward(request, pk):
    """What went into it? Down to the deliveries, through every semi-finished stage."""
    lot = _lot(pk)
    return render(
        request, "stock/trace_backward.html", {"lot": lot, "trace": trace.backward_trace(lot)}
    )


@permission_required(RECALL, raise_exception=True)
def recall(request, pk, hold_error=None):
    """Who received the lot or anything made from it, where every unit went, and the form that
    holds every affected lot still in stock."""
    lot = _lot(pk)
    rows = trace.reconciliation(trace.affected_lots(lot))
    to_hold = [r.lot for r in rows if r.in_stock > 0 and not r.lot.voided_by_id]
    context = {
        "lot": lot,
        "received": trace.recall(lot),
        "rows": rows,
        "unbalanced": [r for r in rows if not r.balances],
        "to_hold": [held for held in to_hold if not held.quarantined],
        "held_already": [held for held in to_hold if held.quarantined],
        "hold_error": hold_error,
        "hold_note": request.POST.get("note", "") if request.method == "POST" else "",
    }
    return render(request, "stock/recall.html", context)


@permission_required(RECALL, raise_exception=True)
def recall_csv(request, pk):
    """The recall list as a spreadsheet: one row per customer, dispatch and lot."""
    lot = _lot(pk)
    rows = (
        [
            r.name,
            r.email,
            r.channel,
            r.order_reference,
            r.dispatched_on.isoformat(),
            r.lot.item.name,
            r.lot.item.sku,
            r.lot.code,
            plain(r.quantity),
            r.lot.item.unit,
            r.dispatch_id,
        ]
        for r in trace.recall(lot)
    )
    return csv_response(f"recall-{_file_safe(lot.code)}.csv", CSV_HEADER, rows)


def _file_safe(code: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", code).strip("-.") or "lot"


@require_POST
@permission_required([*RECALL, "stock.quarantine_lot"], raise_exception=True)
def recall_hold(request, pk):
    """Hold every affected lot that still has stock, the starting lot included, in one go.
    Worked out again now, not taken from the page: a lot made from it since is held too."""
    lot = _lot(pk)
    affected = trace.affected_lots(lot)
    in_stock = set(
        Balance.objects.filter(lot__in=affected, quantity__gt=0).values_list("lot_id", flat=True)
    )
    candidates = [a for a in affected if a.pk in in_stock]
    if not candidates:
        messages.info(request, NOTHING_TO_HOLD)
        return redirect("stock:recall", pk=lot.pk)
    try:
        held = lots_hold(lots=candidates, note=request.POST.get("note", ""), user=request.user)
    except ValidationError as exc:
        return recall(request, pk, hold_error=exc.messages[0])
    if held:
        codes = ", ".join(sorted(h.code for h in held))
        messages.warning(
            request,
            f"Held {len(held)} lot{'s' if len(held) != 1 else ''}: {codes}. Nobody can draw or "
            "dispatch them until an Owner releases each one on its lot page.",
        )
    else:
        messages.info(request, "Every affected lot in stock was held already.")
    return redirect("stock:recall", pk=lot.pk)
