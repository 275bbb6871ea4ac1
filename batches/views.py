"""Batch pages: thin views over batches.services and batches.selectors."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect

from batches import charts, history, labels, selectors, services
from batches.forms import (
    BatchFilterForm,
    CancelForm,
    FinishRestForm,
    LabelsForm,
    PlanForm,
    ReverseForm,
    StageForm,
)
from batches.models import Batch, Status
from recipes.models import Product, Recipe, RecipeVersion
from stock.limits import is_id
from stock.models import production_location, workshop_today

RUN = "batches.add_batch"
VIEW = "batches.view_batch"
REVERSE = "batches.reverse_batch"


def _batch(pk) -> Batch:
    try:
        return Batch.objects.select_related("product", "version__recipe", "location").get(pk=pk)
    except Batch.DoesNotExist:
        raise Http404("No such batch") from None


def _done(request, url):
    """After a POST: htmx follows a client redirect, a plain form a redirect."""
    if request.htmx:
        return HttpResponseClientRedirect(url)
    return redirect(url)


@permission_required(VIEW, raise_exception=True)
def batch_list(request):
    form = BatchFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    batches = selectors.batch_list(
        status=filters.get("status", ""),
        product=filters.get("product"),
        since=filters.get("since"),
        until=filters.get("until"),
        q=filters.get("q", ""),
    )
    page = Paginator(batches, 50).get_page(request.GET.get("page"))
    context = {"form": form, "page": page, "product": filters.get("product")}
    return render(request, "batches/batch_list.html", context)


@login_required
def batch_by_reference(request, reference):
    batch = Batch.objects.filter(reference__iexact=reference).first()
    if batch is None:
        raise Http404("No such batch")
    return redirect("batches:detail", pk=batch.pk)


@permission_required(VIEW, raise_exception=True)
def batch_detail(request, pk):
    batch = _batch(pk)
    figures = selectors.batch_figures(batch)
    context = {"batch": batch, "f": figures, "reverse_form": ReverseForm()}
    return render(request, "batches/batch_detail.html", context)


@permission_required(VIEW, raise_exception=True)
def product_history(request, pk):
    product = get_object_or_404(Product, pk=pk)
    runs = history.product_history(product)
    context = {"product": product, "history": runs}
    if runs.runs:
        context.update(yield_chart=charts.yield_chart(runs), cost_chart=charts.cost_chart(runs))
    return render(request, "batches/history.html", context)


@permission_required(VIEW, raise_exception=True)
def batch_labels(request, pk):
    """Label sheets for one of the batch's saleable lots: the form (lot, sheet, how many, where
    to start) and the sheets as they print. Bad figures are named on the form, never a 500."""
    batch = _batch(pk)
    lots = labels.product_lots(batch)
    context = {"batch": batch, "lots": lots}
    if not lots:
        return render(request, "batches/labels.html", context)
    data = {"lot": str(lots[0].lot_id), "sheet": "L7160", "start": "1", **request.GET.dict()}
    chosen = next((b for b in lots if str(b.lot_id) == data["lot"].strip()), None)
    data.setdefault("count", str(labels.default_count(chosen)))
    form = LabelsForm(data, batch=batch, lots=lots)
    context["form"] = form
    if form.is_valid():
        batch_lot, sheet = form.cleaned_data["lot"], form.cleaned_data["sheet"]
        context.update(
            sheet=sheet,
            sheets=labels.sheets_of(form.cleaned_data["count"], form.cleaned_data["start"], sheet),
            label=labels.label_for(batch, batch_lot, labels.lot_address(batch_lot.lot, request)),
        )
    return render(request, "batches/labels.html", context)


# Planning ----------------------------------------------------------------------------------


@permission_required(RUN, raise_exception=True)
def batch_plan(request):
    version_id = request.GET.get("version") or request.POST.get("version") or ""
    if not is_id(version_id):
        recipes = (
            Recipe.objects.filter(product__archived=False)
            .select_related("product")
            .prefetch_related("versions")
        )
        return render(request, "batches/plan_choose.html", {"recipes": recipes})
    version = RecipeVersion.objects.select_related("recipe__product").filter(pk=version_id).first()
    if version is None or (not version.is_frozen and not version.lines.exists()):
        messages.error(request, "That recipe version has no lines yet: add them first.")
        return redirect("batches:plan")
    data = request.POST if request.method == "POST" else request.GET if request.htmx else None
    form = PlanForm(data, version=version)
    preview = selectors.plan_preview(version, form.split_by_id(), production_location())
    if request.method == "POST" and form.is_valid():
        if preview.short and not form.cleaned_data["short_ok"]:
            form.add_error(
                "short_ok", "Some materials are short (below). Tick this to save it anyway."
            )
        else:
            try:
                batch = services.batch_plan(
                    version=version,
                    split=form.split(),
                    production_date=form.cleaned_data["production_date"],
                    expected_completion=form.cleaned_data["expected_completion"],
                    notes=form.cleaned_data["notes"],
                    short=preview.short,
                    user=request.user,
                    idempotency_key=form.cleaned_data["idempotency_key"],
                )
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                messages.success(request, f"Batch {batch.reference} planned.")
                return redirect("batches:detail", pk=batch.pk)
    context = {"form": form, "version": version, "preview": preview}
    if request.htmx and request.method == "GET":
        return render(request, "batches/plan.html#preview", context)
    return render(request, "batches/plan.html", context)


# Running -----------------------------------------------------------------------------------


@require_POST
@permission_required(RUN, raise_exception=True)
def batch_start(request, pk):
    batch = _batch(pk)
    try:
        services.batch_start(batch=batch, user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("batches:detail", pk=pk)
    return _done(request, reverse("batches:stage", args=[pk, batch.stages_done]))


@permission_required(RUN, raise_exception=True)
def stage_record(request, pk, position):
    batch = _batch(pk)
    stages = list(batch.stages.select_related("output_item", "recipe_stage"))
    if not 0 <= position < len(stages):
        raise Http404("No such stage")
    stage = stages[position]
    if stage.is_done and request.method == "GET":
        messages.info(request, f"{stage.name} is already recorded.")
        return redirect("batches:detail", pk=pk)
    last = position == len(stages) - 1
    planned = selectors.planned_uses(batch, stage)
    wip = services.lots_before(batch, position)
    form = StageForm(
        request.POST or None, batch=batch, stage=stage, planned=planned, last=last, wip=wip
    )
    if request.method == "POST":
        if batch.status == Status.CANCELLED:
            form.add_error(None, services.CANCELLED.format(ref=batch.reference))
        elif form.is_valid():
            try:
                done = _record(request, batch, stage, form)
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                _say(request, done, form)
                return _done(request, reverse("batches:detail", args=[pk]))
    context = {
        "batch": batch,
        "stage": stage,
        "stages": stages,
        "form": form,
        "last": last,
        "wip": wip,
        "out_of_order": position != batch.stages_done,
        "today": workshop_today(),
    }
    if request.htmx and request.method == "POST":
        return render(request, "batches/stage.html#stage-form", context)
    return render(request, "batches/stage.html", context)


def _record(request, batch, stage, form):
    scrap = [
        services.Scrap(item=item, quantity=quantity, value=value, name=name, unit=unit)
        for item, name, unit, quantity, value in form.scrap
    ]
    return services.stage_complete(
        batch=batch,
        position=stage.position,
        uses=form.uses,
        made=form.made,
        waste=form.waste,
        scrap=scrap,
        output_quantity=form.cleaned_data.get("output_quantity"),
        note=form.cleaned_data["note"],
        user=request.user,
        idempotency_key=form.cleaned_data["idempotency_key"],
    )


def _say(request, done, form) -> None:
    """The message after a stage: recorded, or already recorded (a second tap, a second
    tablet); and any gain to check."""
    if done.replayed:
        messages.info(request, f"{done.stage.name} was already recorded; nothing was posted twice.")
    elif done.batch.status == Status.COMPLETED:
        messages.success(request, f"Batch {done.batch.reference} completed.")
    else:
        messages.success(request, f"{done.stage.name} recorded.")
    for gain in form.gains() if not done.replayed else []:
        messages.warning(request, f"More than planned, check the count: {gain}.")


@permission_required(RUN, raise_exception=True)
def batch_finish_rest(request, pk):
    batch = _batch(pk)
    form = FinishRestForm(request.POST or None, splits=batch.splits.select_related("variant"))
    if not form.splits and request.method == "GET":
        messages.info(request, "Nothing of this batch is left in progress.")
        return redirect("batches:detail", pk=pk)
    if request.method == "POST" and form.is_valid():
        try:
            services.batch_finish_rest(
                batch=batch,
                made=form.made(),
                note=form.cleaned_data["note"],
                user=request.user,
                idempotency_key=form.cleaned_data["idempotency_key"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, "The rest is finished.")
            return _done(request, reverse("batches:detail", args=[pk]))
    return render(request, "batches/finish_rest.html", {"batch": batch, "form": form})


@permission_required(RUN, raise_exception=True)
def batch_cancel(request, pk):
    batch = _batch(pk)
    form = CancelForm(request.POST or None, used=services.used_items(batch))
    if request.method == "POST" and form.is_valid():
        try:
            services.batch_cancel(
                batch=batch,
                note=form.cleaned_data["note"],
                returns=form.returns(),
                user=request.user,
                idempotency_key=form.cleaned_data["idempotency_key"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"Batch {batch.reference} cancelled.")
            return redirect("batches:detail", pk=pk)
    return render(request, "batches/cancel.html", {"batch": batch, "form": form})


@require_POST
@permission_required(REVERSE, raise_exception=True)
def batch_reverse(request, pk):
    batch = _batch(pk)
    form = ReverseForm(request.POST)
    if form.is_valid():
        try:
            services.batch_reverse(
                batch=batch,
                note=form.cleaned_data["note"],
                user=request.user,
                idempotency_key=form.cleaned_data["idempotency_key"],
            )
        except ValidationError as exc:
            for m in exc.messages:
                messages.error(request, m)
        else:
            messages.success(
                request,
                f"Batch {batch.reference} reversed: it is running again from its first stage.",
            )
    else:
        messages.error(request, "Say why the batch is reversed.")
    return redirect("batches:detail", pk=pk)


# The bench ---------------------------------------------------------------------------------


@permission_required(VIEW, raise_exception=True)
def bench(request):
    groups = selectors.open_batches()
    return render(request, "batches/bench.html", {"groups": groups, "today": workshop_today()})
