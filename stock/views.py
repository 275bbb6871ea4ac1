from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from stock import selectors, services
from stock.engine import NothingToPost, PostingResult, posting_with_key
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
    WorkshopForm,
)
from stock.limits import is_id
from stock.models import Location, Lot, Posting, QuarantineAction, current_workshop

LOT_PAGE_OUTPUTS = 20  # the lot page lists the latest; the forward trace lists them all


def _posted(request, result: PostingResult, verb="posted"):
    posting = result.posting
    if result.replayed:
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
def lot_detail(request, pk, quarantine_form=None):
    try:
        lot = selectors.lot_with_balances(pk)
    except Lot.DoesNotExist:
        raise Http404("No such lot") from None
    context = {
        "lot": lot,
        "page": selectors.lot_movements(lot, request.GET.get("page")),
        "quarantine_form": quarantine_form or QuarantineForm(),
        "quarantine_events": selectors.quarantine_history(lot),
        "made_from": selectors.lot_inputs(lot),
        "went_into": selectors.lot_outputs(lot, limit=LOT_PAGE_OUTPUTS + 1),
        "went_into_shown": LOT_PAGE_OUTPUTS,
    }
    return render(request, "stock/lot_detail.html", context)


@require_POST
@permission_required("stock.quarantine_lot", raise_exception=True)
def lot_quarantine(request, pk):
    """Hold (Makers and Owners) or release (Owners only) a lot. Anything but a clear hold or
    release is refused: an empty form releases nothing."""
    lot = get_object_or_404(Lot.objects.select_related("item"), pk=pk)
    form = QuarantineForm(request.POST)
    if not form.is_valid():
        return lot_detail(request, pk, quarantine_form=form)
    action, note = form.cleaned_data["action"], form.cleaned_data["note"]
    if action == QuarantineAction.RELEASE and not request.user.has_perm("stock.release_lot"):
        raise PermissionDenied
    try:
        if action == QuarantineAction.HOLD:
            services.lot_hold(lot=lot, note=note, user=request.user)
            messages.warning(request, f"{lot} is quarantined: nobody can use it until released.")
        else:
            services.lot_release(lot=lot, note=note, user=request.user)
            messages.success(request, f"{lot} is released and can be used again.")
    except ValidationError as exc:
        messages.info(request, exc.messages[0])
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
                result = services.adjustment_post(
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
                return _posted(request, result)
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


def _key_used(request) -> bool:
    """Whether the form being posted was posted before (a second tap, a retry on flaky wifi).
    The posting service then answers: already posted, or posted with other figures."""
    key = request.POST.get("idempotency_key", "") if request.method == "POST" else ""
    return bool(key) and posting_with_key(key) is not None


def _named_rows(request) -> list[int]:
    """The balance rows a submitted count or transfer form has a figure for."""
    if request.method != "POST":
        return []
    return [
        int(name[2:])
        for name, value in request.POST.items()
        if name.startswith("q-") and is_id(name[2:]) and value.strip()
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
    sheet = _count_sheet(request, location, item)
    form = CountForm(request.POST or None, balances=sheet.balances)
    preview = False
    if request.method == "POST" and form.is_valid():
        posting = request.POST.get("action") == "post"
        if posting and form.changed_since_preview() and not _key_used(request):
            messages.warning(
                request, "A count changed after the differences were shown: check them again."
            )
        elif posting:
            try:
                result = services.count_post(
                    location=location,
                    counts=form.counts(),
                    user=request.user,
                    idempotency_key=form.cleaned_data["idempotency_key"],
                    note=form.cleaned_data["note"],
                )
            except NothingToPost as exc:
                messages.info(request, exc.messages[0])
                if next_after := request.POST.get("next_after", "").strip():
                    return _next_sheet(location, item, next_after)
                return redirect("stock:on-hand")
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                if next_after := request.POST.get("next_after", "").strip():
                    messages.success(request, f"{result.posting} posted. Now the next sheet.")
                    return _next_sheet(location, item, next_after)
                return _posted(request, result)
        preview = True
    context = {
        "chooser": chooser,
        "location": location,
        "form": form,
        "preview": preview,
        "sheet": sheet,
        "next_after": request.POST.get("next_after", "")
        if request.method == "POST"
        else (sheet.next_after or ""),
    }
    return render(request, "stock/count.html", context)


def _count_sheet(request, location, item) -> selectors.CountSheet:
    """The sheet being counted: on a POST, exactly the rows the page showed (its `row`
    fields); else the sheet after the balance named by `after`."""
    if request.method == "POST" and request.POST.getlist("row"):
        rows = [int(pk) for pk in request.POST.getlist("row") if is_id(pk)]
        return selectors.count_sheet(location, rows=rows)
    if request.method == "POST":  # a form from before sheets: the rows it has figures for
        balances = list(selectors.lots_at(location, item=item, keep=_named_rows(request)))
        return selectors.CountSheet(balances, 0, len(balances), None)
    after = request.GET.get("after", "")
    return selectors.count_sheet(location, item=item, after=int(after) if is_id(after) else None)


def _next_sheet(location, item, after):
    query = f"?location={location.pk}&after={after}" + (f"&item={item.pk}" if item else "")
    return redirect(reverse("stock:count") + query)


@permission_required("stock.add_posting", raise_exception=True)
def transfer_new(request):
    chooser, location, item = _location_choice(request)
    if location is None:
        return render(request, "stock/transfer.html", {"chooser": chooser})
    balances = selectors.lots_at(location, item=item, keep=_named_rows(request))
    form = TransferForm(
        request.POST or None,
        balances=balances,
        from_location=location,
        already_posted=_key_used(request),
    )
    if request.method == "POST" and form.is_valid():
        try:
            result = services.transfer_post(
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
            return _posted(request, result)
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


@permission_required("stock.configure_workshop", raise_exception=True)
def workshop_settings(request):
    """The workshop's name, time zone, currency and batch reference pattern: the Owner's first
    page, and changeable later."""
    workshop = current_workshop()
    initial = {
        "name": workshop.name,
        "time_zone": workshop.time_zone,
        "currency": workshop.currency,
        "batch_reference_pattern": workshop.batch_reference_pattern,
        "production_location": workshop.production_location,
    }
    form = WorkshopForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            saved = services.workshop_save(**form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"{saved.name} is set up.")
            return redirect("dashboard")
    return render(
        request,
        "stock/workshop_form.html",
        {"form": form, "workshop": workshop, "first_run": workshop.configured_at is None},
    )
