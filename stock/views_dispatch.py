"""Customers and dispatches: thin views over stock.dispatches (the writes) and
stock.selectors_dispatch (the reads)."""

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from stock import dispatches
from stock import selectors_dispatch as selectors
from stock.forms_dispatch import (
    BLANK_LINES,
    MAX_LINES,
    CustomerForm,
    CustomerSearchForm,
    DispatchFilterForm,
    DispatchForm,
    DispatchReverseForm,
    dispatch_line_formset,
)
from stock.limits import is_id
from stock.models import Customer, Dispatch, Item, ItemKind, production_location, workshop_today

NO_NEW_CUSTOMERS = "You may not add customers: choose one from the list."
SENT_TWICE = "{dispatch} was already recorded; nothing was sent twice."
REVERSED_TWICE = "{dispatch} was already reversed; nothing was put back twice."
ALREADY_REVERSED_CODE = "already_reversed"


# Customers ---------------------------------------------------------------------------------


@permission_required("stock.view_customer", raise_exception=True)
def customer_list(request):
    form = CustomerSearchForm(request.GET or None)
    q = form.cleaned_data["q"].strip() if form.is_bound and form.is_valid() else ""
    page = selectors.customers(q, request.GET.get("page"))
    return render(request, "stock/customer_list.html", {"form": form, "page": page, "q": q})


@permission_required("stock.view_customer", raise_exception=True)
@permission_required("stock.view_dispatch", raise_exception=True)
def customer_detail(request, pk):
    customer = get_object_or_404(Customer, pk=pk)
    page = selectors.dispatches(
        selectors.DispatchFilters(customer=customer), request.GET.get("page")
    )
    return render(request, "stock/customer_detail.html", {"customer": customer, "page": page})


@permission_required("stock.add_customer", raise_exception=True)
def customer_new(request):
    return _customer_form(request, None)


@permission_required("stock.change_customer", raise_exception=True)
def customer_edit(request, pk):
    return _customer_form(request, get_object_or_404(Customer, pk=pk))


def _customer_form(request, customer: Customer | None):
    fields = ("name", "email", "phone", "address", "notes")
    initial = {f: getattr(customer, f) for f in fields} if customer else {}
    form = CustomerForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            saved = dispatches.customer_save(customer=customer, **form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc.messages)
        else:
            messages.success(request, f"{saved.name} saved.")
            return redirect("stock:customer", pk=saved.pk)
    return render(request, "stock/customer_form.html", {"form": form, "customer": customer})


# Dispatches --------------------------------------------------------------------------------


@permission_required("stock.view_dispatch", raise_exception=True)
def dispatch_list(request):
    form = DispatchFilterForm(request.GET or None, channels=selectors.channels())
    filters = selectors.DispatchFilters()
    if form.is_bound and form.is_valid():
        filters = selectors.DispatchFilters(**form.cleaned_data)
    page = selectors.dispatches(filters, request.GET.get("page"))
    return render(request, "stock/dispatch_list.html", {"form": form, "page": page})


@permission_required("stock.add_dispatch", raise_exception=True)
def dispatch_new(request):
    """Record a dispatch. A POST with `refresh` (a product, a quantity or the place changed)
    or `add_line` shows the form again from what was typed, and saves nothing; htmx gets the
    lines alone."""
    posted = request.method == "POST"
    refreshing = posted and ("refresh" in request.POST or "add_line" in request.POST)
    if posted and not refreshing:
        earlier = selectors.dispatch_for_key(request.POST.get("idempotency_key", ""))
        if earlier is not None:  # a second tap, or the form sent again after it was saved
            messages.info(request, SENT_TWICE.format(dispatch=earlier))
            return redirect("stock:dispatch", pk=earlier.pk)
        form = DispatchForm(request.POST)
        lines = _line_formset(form, request.POST)
        if form.is_valid() and lines.is_valid():
            sent = _dispatch_create(request, form, lines)
            if sent is not None:
                return redirect("stock:dispatch", pk=sent.pk)
    else:
        form, lines = _form_again(request)
    context = {"form": form, "lines": lines, "channels": selectors.channels()}
    if request.htmx and refreshing:
        return render(request, "stock/dispatch_form.html#lines", context)
    return render(request, "stock/dispatch_form.html", context)


def _line_formset(form: DispatchForm, data=None, **kwargs):
    location = form.chosen_location()
    items = Item.objects.filter(kind=ItemKind.VARIANT, archived=False).order_by("name", "sku")
    return dispatch_line_formset(
        data,
        items={item.pk: item for item in items},
        lots=selectors.lots_to_pick(location, workshop_today()),
        location=location,
        **kwargs,
    )


HEADER = (  # the dispatch form's own fields, kept as typed when the lines are shown again
    "idempotency_key",
    "customer",
    "new_customer",
    "new_customer_email",
    "dispatched_on",
    "channel",
    "order_reference",
    "location",
    "note",
)


def _form_again(request) -> tuple[DispatchForm, object]:
    """The form, not bound (so nothing is marked wrong yet), filled with what was typed (a
    refresh) or what the link asked for (?customer=, ?location=, ?item=, ?lot=)."""
    if request.method == "POST":
        data = request.POST
        initial = {name: data[name] for name in HEADER if name in data}
        total = data.get("lines-TOTAL_FORMS", "")
        count = min(int(total), MAX_LINES) if is_id(total) else 0
        rows = [
            {name: data.get(f"lines-{n}-{name}", "") for name in ("item", "quantity", "lot")}
            for n in range(count)
        ]
        extra = 1 if "add_line" in data or not rows else 0
    else:
        data = request.GET
        initial = {name: data[name] for name in ("customer", "location") if data.get(name)}
        rows = [{"item": data["item"], "lot": data.get("lot", "")}] if data.get("item") else []
        extra = BLANK_LINES - len(rows)
    initial.setdefault("location", production_location())
    form = DispatchForm(initial=initial)
    extra = max(0, min(extra, MAX_LINES - len(rows)))
    return form, _line_formset(form, initial=rows, extra=extra)


def _dispatch_create(request, form: DispatchForm, lines) -> Dispatch | None:
    """The dispatch the form describes, or None with the reason on the form."""
    data = form.cleaned_data
    if data["customer"] is None and not request.user.has_perm("stock.add_customer"):
        form.add_error("new_customer", NO_NEW_CUSTOMERS)
        return None
    order = {
        "lines": lines.sent(),
        "location": data["location"],
        "user": request.user,
        "idempotency_key": data["idempotency_key"],
        "dispatched_on": data["dispatched_on"],
        "channel": data["channel"],
        "order_reference": data["order_reference"],
        "note": data["note"],
    }
    try:
        if data["customer"] is not None:
            sent = dispatches.dispatch_create(customer=data["customer"], **order)
        else:
            _, sent = dispatches.dispatch_create_for_new_customer(
                name=data["new_customer"], email=data["new_customer_email"], **order
            )
    except ValidationError as exc:
        form.add_error(None, exc.messages)
        return None
    n = len(order["lines"])
    messages.success(
        request,
        f"{sent} to {sent.customer.name} recorded: {n} line{'s' if n != 1 else ''} out of "
        f"stock at {data['location'].name}.",
    )
    return sent


@permission_required("stock.view_dispatch", raise_exception=True)
def dispatch_detail(request, pk, reverse_form=None):
    try:
        dispatch = selectors.dispatch_with_lines(pk)
    except Dispatch.DoesNotExist:
        raise Http404("No such dispatch") from None
    context = {"dispatch": dispatch, "reverse_form": reverse_form or DispatchReverseForm()}
    return render(request, "stock/dispatch_detail.html", context)


@require_POST
@permission_required("stock.add_dispatch", raise_exception=True)
def dispatch_reverse(request, pk):
    """A return or a cancelled order: the dispatch's own reversal puts its units back in the
    lots they came from. Makers record it, as they record the dispatch."""
    dispatch = get_object_or_404(Dispatch.objects.select_related("posting__reversed_by"), pk=pk)
    form = DispatchReverseForm(request.POST)
    if not form.is_valid():
        return dispatch_detail(request, pk, reverse_form=form)
    reversal = getattr(dispatch.posting, "reversed_by", None)
    if reversal is not None and reversal.idempotency_key == form.cleaned_data["idempotency_key"]:
        messages.info(request, REVERSED_TWICE.format(dispatch=dispatch))
        return redirect("stock:dispatch", pk=pk)
    try:
        dispatches.dispatch_reverse(
            dispatch=dispatch,
            note=form.cleaned_data["note"],
            user=request.user,
            idempotency_key=form.cleaned_data["idempotency_key"],
        )
    except ValidationError as exc:
        if getattr(exc, "code", None) == ALREADY_REVERSED_CODE:
            exc = ValidationError(dispatches.ALREADY_REVERSED.format(dispatch=dispatch))
        form.add_error(None, exc.messages)
        return dispatch_detail(request, pk, reverse_form=form)
    messages.success(request, f"{dispatch} reversed: what it sent is back in its lots.")
    return redirect("stock:dispatch", pk=pk)
