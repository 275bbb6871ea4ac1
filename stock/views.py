from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from stock import selectors, services
from stock.forms import (
    AdjustmentForm,
    ChooseLocationForm,
    CountForm,
    LocationForm,
    OnHandFilterForm,
    PostingFilterForm,
    QuarantineForm,
    ReverseForm,
    TransferForm,
)
from stock.models import Location, Lot, Posting, PostingKind


def _posted(request, posting, verb="posted"):
    if getattr(posting, "replayed", False):
        messages.info(request, f"{posting} was already {verb}; nothing was posted twice.")
    else:
        messages.success(request, f"{posting} {verb}.")
    return redirect("stock:posting", pk=posting.pk)


@permission_required("stock.view_balance", raise_exception=True)
def on_hand(request):
    form = OnHandFilterForm(request.GET or None)
    filters = selectors.OnHandFilters()
    if form.is_bound and form.is_valid():
        filters = selectors.OnHandFilters(**form.cleaned_data)
    page, rows = selectors.stock_on_hand(filters, request.GET.get("page"))
    context = {"form": form, "page": page, "rows": rows}
    template = "stock/on_hand.html#results" if request.htmx else "stock/on_hand.html"
    return render(request, template, context)


@permission_required("stock.view_lot", raise_exception=True)
def lot_detail(request, pk):
    try:
        lot = selectors.lot_with_balances(pk)
    except Lot.DoesNotExist:
        raise Http404("No such lot") from None
    page = selectors.lot_movements(lot, request.GET.get("page"))
    return render(
        request,
        "stock/lot_detail.html",
        {"lot": lot, "page": page, "quarantine_form": QuarantineForm()},
    )


@require_POST
@permission_required("stock.quarantine_lot", raise_exception=True)
def lot_quarantine(request, pk):
    lot = get_object_or_404(Lot.objects.select_related("item"), pk=pk)
    form = QuarantineForm(request.POST)
    form.is_valid()
    hold = request.POST.get("action") == "hold"
    services.lot_set_quarantine(lot=lot, quarantined=hold, note=form.cleaned_data.get("note", ""))
    if hold:
        messages.warning(request, f"{lot} is quarantined: nobody can use it until it is released.")
    else:
        messages.success(request, f"{lot} is released and can be used again.")
    return redirect("stock:lot", pk=lot.pk)


@permission_required("stock.view_posting", raise_exception=True)
def posting_list(request):
    form = PostingFilterForm(request.GET or None)
    kind = form.cleaned_data["kind"] if form.is_bound and form.is_valid() else ""
    page = selectors.postings(kind, request.GET.get("page"))
    return render(request, "stock/posting_list.html", {"form": form, "page": page})


@permission_required("stock.view_posting", raise_exception=True)
def posting_detail(request, pk):
    try:
        posting = selectors.posting_with_lines(pk)
    except Posting.DoesNotExist:
        raise Http404("No such posting") from None
    return render(
        request, "stock/posting_detail.html", {"posting": posting, "reverse_form": ReverseForm()}
    )


@require_POST
@permission_required("stock.reverse_posting", raise_exception=True)
def posting_reverse(request, pk):
    posting = get_object_or_404(Posting, pk=pk)
    form = ReverseForm(request.POST)
    if form.is_valid():
        try:
            reversal = services.posting_reverse(
                posting=posting,
                note=form.cleaned_data["note"],
                user=request.user,
                idempotency_key=form.cleaned_data["idempotency_key"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            return _posted(request, reversal)
    posting = selectors.posting_with_lines(pk)
    return render(request, "stock/posting_detail.html", {"posting": posting, "reverse_form": form})


@permission_required("stock.add_posting", raise_exception=True)
def adjustment_new(request):
    if request.method == "POST" and "refresh" not in request.POST:
        form = AdjustmentForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                posting = services.adjustment_post(
                    item=data["item"],
                    location=data["location"],
                    quantity=form.signed_quantity(),
                    lot=data["lot"],
                    lot_code=data["lot_code"],
                    reason=data["reason"],
                    note=data["note"],
                    user=request.user,
                    idempotency_key=data["idempotency_key"],
                )
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                return _posted(request, posting)
    else:
        # First view, or the item/location changed: refill the lot and unit choices.
        source = request.POST if request.method == "POST" else request.GET
        # The lot list is rebuilt for the item: its suggestion, not the old choice, is shown.
        form = AdjustmentForm(
            initial={k: v for k, v in source.items() if k not in ("refresh", "lot")}
        )
    if request.htmx and "refresh" in request.POST:
        return render(request, "stock/adjustment_form.html#item-fields", {"form": form})
    return render(request, "stock/adjustment_form.html", {"form": form})


def _already_posted(request, kind) -> Posting | None:
    """A second tap of a count or transfer form that was posted: its posting, before the form
    is rebuilt from stock that the first tap has already changed."""
    key = request.POST.get("idempotency_key", "") if request.method == "POST" else ""
    if not key or request.POST.get("action", "post") != "post":
        return None
    posting = Posting.objects.filter(idempotency_key=key, kind=kind).first()
    if posting is not None:
        posting.replayed = True
    return posting


def _named_rows(request) -> list[int]:
    """The balance rows a submitted count or transfer form has a figure for."""
    if request.method != "POST":
        return []
    return [
        int(name[2:])
        for name, value in request.POST.items()
        if name.startswith("q-") and name[2:].isdigit() and value.strip()
    ]


def _location_choice(request):
    """The location (and item) a count or transfer page is working on, from the query string."""
    chooser = ChooseLocationForm(request.GET or None)
    if chooser.is_bound and chooser.is_valid():
        return chooser, chooser.cleaned_data["location"], chooser.cleaned_data["item"]
    return chooser, None, None


@permission_required("stock.add_posting", raise_exception=True)
def count_new(request):
    chooser, location, item = _location_choice(request)
    if location is None:
        return render(request, "stock/count.html", {"chooser": chooser})
    if (posted := _already_posted(request, PostingKind.COUNT)) is not None:
        return _posted(request, posted)
    balances = selectors.lots_at(location, item=item, keep=_named_rows(request))
    form = CountForm(request.POST or None, balances=balances)
    preview = False
    if request.method == "POST" and form.is_valid():
        if request.POST.get("action") == "post" and form.changed_since_preview():
            messages.warning(
                request, "A count changed after the differences were shown: check them again."
            )
        elif request.POST.get("action") == "post":
            try:
                posting = services.count_post(
                    location=location,
                    counts=form.counts(),
                    user=request.user,
                    idempotency_key=form.cleaned_data["idempotency_key"],
                    note=form.cleaned_data["note"],
                )
            except services.NothingToPost as exc:
                messages.info(request, exc.messages[0])
                return redirect("stock:on-hand")
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                return _posted(request, posting)
        preview = True
    context = {"chooser": chooser, "location": location, "form": form, "preview": preview}
    return render(request, "stock/count.html", context)


@permission_required("stock.add_posting", raise_exception=True)
def transfer_new(request):
    chooser, location, item = _location_choice(request)
    if location is None:
        return render(request, "stock/transfer.html", {"chooser": chooser})
    if (posted := _already_posted(request, PostingKind.TRANSFER)) is not None:
        return _posted(request, posted)
    balances = selectors.lots_at(location, item=item, keep=_named_rows(request))
    form = TransferForm(request.POST or None, balances=balances, from_location=location)
    if request.method == "POST" and form.is_valid():
        try:
            posting = services.transfer_post(
                from_location=location,
                to_location=form.cleaned_data["to_location"],
                quantities=[(b.lot, q) for b, q in form.entered()],
                user=request.user,
                idempotency_key=form.cleaned_data["idempotency_key"],
                note=form.cleaned_data["note"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            return _posted(request, posting)
    return render(
        request, "stock/transfer.html", {"chooser": chooser, "location": location, "form": form}
    )


@permission_required("stock.view_location", raise_exception=True)
def location_list(request):
    return render(
        request, "stock/location_list.html", {"locations": selectors.locations_with_stock()}
    )


@permission_required("stock.change_location", raise_exception=True)
def location_edit(request, pk=None):
    location = get_object_or_404(Location, pk=pk) if pk else None
    initial = {"name": location.name, "description": location.description} if location else {}
    form = LocationForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            saved = services.location_save(location=location, **form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"Location {saved.name} saved.")
            return redirect("stock:locations")
    return render(request, "stock/location_form.html", {"form": form, "location": location})


@require_POST
@permission_required("stock.change_location", raise_exception=True)
def location_archive(request, pk):
    location = get_object_or_404(Location, pk=pk)
    archive = request.POST.get("action") != "restore"
    try:
        services.location_set_archived(location=location, archived=archive)
    except ValidationError as exc:
        messages.error(request, exc.messages[0])
    else:
        messages.success(request, f"{location.name} {'archived' if archive else 'back in use'}.")
    return redirect("stock:locations")
