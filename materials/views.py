import contextlib
import re
from decimal import Decimal

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from materials import selectors, services
from materials.forms import (
    CategoryForm,
    MaterialFilterForm,
    MaterialForm,
    ReceiptForm,
    ReceiptLineForm,
    SupplierForm,
    SupplierPriceForm,
    receipt_line_formset,
)
from materials.models import Category, Material, Supplier
from materials.spreadsheets import csv_response
from stock import selectors as stock_selectors
from stock.models import workshop_today
from stock.units import plain

BLANK_LINES = 4
MAX_LINES = 60


# Materials ---------------------------------------------------------------------------------


@permission_required("materials.view_material", raise_exception=True)
def material_list(request):
    form = MaterialFilterForm(request.GET or None)
    filters = selectors.MaterialFilters()
    if form.is_bound and form.is_valid():
        filters = selectors.MaterialFilters(**form.cleaned_data)
    page = selectors.material_list(filters, request.GET.get("page"))
    template = (
        "materials/material_list.html#results" if request.htmx else "materials/material_list.html"
    )
    return render(request, template, {"form": form, "page": page})


@permission_required("materials.view_material", raise_exception=True)
def material_detail(request, pk):
    try:
        material = selectors.material_detail(pk)
    except Material.DoesNotExist:
        raise Http404("No such material") from None
    lots = stock_selectors.lots_for_item(material.item)
    history = stock_selectors.item_movements(material.item, request.GET.get("page"))
    context = {
        "material": material,
        "lots": lots,
        "page": history,
        "prices": selectors.supplier_prices(material=material),
        "price_form": SupplierPriceForm(),
    }
    return render(request, "materials/material_detail.html", context)


@permission_required("materials.change_material", raise_exception=True)
def material_edit(request, pk=None):
    material = get_object_or_404(Material.objects.select_related("item"), pk=pk) if pk else None
    initial = MaterialForm.initial_for(material) if material else {"unit": "g"}
    form = MaterialForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            if material is None:
                data = {k: v for k, v in form.cleaned_data.items() if k != "archived"}
                saved = services.material_create(**data)
            else:
                saved = services.material_update(material=material, **form.cleaned_data)
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            messages.success(request, f"{saved.item.name} saved.")
            return redirect("materials:detail", pk=saved.pk)
    same_name = any(e.code == "same_name" for e in form.errors.as_data().get("name", []))
    context = {"form": form, "material": material, "same_name": same_name}
    return render(request, "materials/material_form.html", context)


@require_POST
@permission_required("materials.change_supplierprice", raise_exception=True)
def material_price(request, pk):
    material = get_object_or_404(Material.objects.select_related("item"), pk=pk)
    form = SupplierPriceForm(request.POST)
    if form.is_valid():
        try:
            services.supplier_price_save(material=material, **form.cleaned_data)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, f"Price from {form.cleaned_data['supplier']} saved.")
    else:
        errors = [f"{form[f].label}: {e}" for f, errs in form.errors.items() for e in errs]
        messages.error(request, "Price not saved. " + " ".join(errors))
    return redirect("materials:detail", pk=material.pk)


@permission_required("materials.view_material", raise_exception=True)
def reorder_list(request):
    groups = selectors.reorder_groups()
    if request.GET.get("format") == "csv":
        rows = [
            [
                supplier.name if supplier else "",
                m.item.sku,
                m.item.name,
                plain(m.usable),
                plain(m.reorder_point),
                plain(m.suggested),
                m.item.unit,
                supplier.email if supplier else "",
            ]
            for supplier, materials in groups
            for m in materials
        ]
        header = [
            "supplier",
            "sku",
            "material",
            "usable_on_hand",
            "reorder_point",
            "suggested_quantity",
            "unit",
            "supplier_email",
        ]
        return csv_response(f"reorder-{workshop_today():%Y-%m-%d}.csv", header, rows)
    return render(request, "materials/reorder.html", {"groups": groups})


# Receiving ---------------------------------------------------------------------------------


def _line_count(request) -> int:
    try:
        return max(1, min(MAX_LINES, int(request.GET.get("lines", BLANK_LINES))))
    except ValueError:
        return BLANK_LINES


@permission_required("materials.add_receipt", raise_exception=True)
def receive(request):
    same_reference = None  # the warning a second delivery with the same reference gets
    if request.method == "POST":
        form = ReceiptForm(request.POST)
        lines = receipt_line_formset(request.POST)
        if form.is_valid() and lines.is_valid():
            received = _receipt_lines(form, lines)
            try:
                receipt = services.receipt_create(
                    supplier=form.cleaned_data["supplier"],
                    reference=form.cleaned_data["reference"],
                    received_on=form.cleaned_data["received_on"],
                    shipping=form.cleaned_data["shipping"] or Decimal(0),
                    notes=form.cleaned_data["notes"],
                    lines=received,
                    user=request.user,
                    idempotency_key=form.cleaned_data["idempotency_key"],
                    same_reference_ok=form.cleaned_data["same_reference_ok"],
                )
            except ValidationError as exc:
                if getattr(exc, "code", None) == "same_reference":
                    same_reference = exc.messages[0]
                else:
                    form.add_error(None, exc)
            else:
                if getattr(receipt, "replayed", False):
                    messages.info(request, f"{receipt} was already saved; nothing was added twice.")
                else:
                    count = len(received)
                    messages.success(
                        request, f"{receipt} received: {count} line{'s' if count != 1 else ''}."
                    )
                return redirect("materials:receipt", pk=receipt.pk)
        _attach_previews(lines)
    else:
        form = ReceiptForm(
            initial={"received_on": workshop_today(), "supplier": request.GET.get("supplier")}
        )
        lines = receipt_line_formset(blank_lines=_line_count(request))
        _attach_previews(lines)
    context = {
        "form": form,
        "lines": lines,
        "max_lines": MAX_LINES,
        "same_reference": same_reference,
    }
    return render(request, "materials/receive.html", context)


@permission_required("materials.add_receipt", raise_exception=True)
def receive_line(request):
    """htmx: one more blank line for the delivery form, and the form's new line count."""
    try:
        index = int(request.GET.get("index", ""))
    except ValueError:
        return HttpResponse(status=400)
    if not 0 <= index < MAX_LINES:
        return HttpResponse(status=400)
    line = ReceiptLineForm(prefix=f"lines-{index}")
    line.preview = None
    context = {"line": line, "index": index, "next_index": index + 1, "max_lines": MAX_LINES}
    return render(request, "materials/_receipt_line_added.html", context)


def _attach_previews(lines) -> None:
    """What each valid line comes to, so a page shown again after an error keeps its previews."""
    for line in lines.forms:
        line.preview = None
        if line.is_bound and line.has_changed() and line.is_valid():
            with contextlib.suppress(ValidationError):  # the error is shown by the save
                line.preview = _preview(line.cleaned_data)


def _receipt_lines(form, lines) -> list[services.ReceiptLineInput]:
    result = []
    for line in lines.forms:
        if not line.has_changed():
            continue
        data = line.cleaned_data
        price = data["price"]
        result.append(
            services.ReceiptLineInput(
                material=data["material"],
                quantity=data["quantity"],
                unit=data["unit"],
                location=data["location"] or form.cleaned_data["location"],
                price=price if data["price_kind"] == "total" else None,
                unit_price=price if data["price_kind"] == "unit" else None,
                lot_code=data["lot_code"],
                expiry_date=data["expiry_date"],
            )
        )
    return result


LINE_PREFIX = re.compile(r"^(lines-\d+)-material$")


@permission_required("materials.add_receipt", raise_exception=True)
def receive_line_preview(request):
    """htmx: what one line comes to while it is typed: "10 lb = 4,535.924 g at 0.0022 per g"."""
    # The whole form arrives (htmx sends the enclosing form); "line" names the line to preview.
    prefix = request.POST.get("line", "")
    if not LINE_PREFIX.match(f"{prefix}-material"):
        prefix = None
    if prefix is None or not request.POST.get(f"{prefix}-material", "").strip():
        return HttpResponse("")  # nothing to say until the line has a material
    if not request.POST.get(f"{prefix}-quantity", "").strip():  # the units it may be typed in
        line = ReceiptLineForm(request.POST, prefix=prefix)
        return render(request, "materials/_line_preview.html", _with_units(line, {}))
    data = request.POST
    unpriced = not data.get(f"{prefix}-price", "").strip()
    if unpriced:  # the conversion already, the unit cost once there is a price
        data = data.copy()
        data[f"{prefix}-price"] = "0"
    line = ReceiptLineForm(data, prefix=prefix)
    context = {"line": line, "preview": None, "problem": None, "unpriced": unpriced}
    if line.is_valid():
        try:
            context["preview"] = _preview(line.cleaned_data)
        except ValidationError as exc:
            context["problem"] = " ".join(exc.messages)
    return render(request, "materials/_line_preview.html", _with_units(line, context))


def _with_units(line, context) -> dict:
    """The line's unit list again, out of band: only the units its material converts from."""
    widget = line["unit"].as_widget(attrs={"hx-swap-oob": "true"})
    return {**context, "line": line, "unit_widget": widget}


def _preview(data) -> services.PricedLine:
    """One line priced on its own (before shipping)."""
    return services.price_lines(
        [
            services.ReceiptLineInput(
                material=data["material"],
                quantity=data["quantity"],
                unit=data["unit"],
                location=None,
                price=data["price"] if data["price_kind"] == "total" else None,
                unit_price=data["price"] if data["price_kind"] == "unit" else None,
            )
        ],
        shipping=Decimal(0),
    )[0]


@permission_required("materials.view_receipt", raise_exception=True)
def receipt_list(request):
    return render(
        request,
        "materials/receipt_list.html",
        {"page": selectors.receipts(request.GET.get("page"))},
    )


@permission_required("materials.view_receipt", raise_exception=True)
def receipt_detail(request, pk):
    try:
        receipt = selectors.receipt_with_lines(pk)
    except selectors.Receipt.DoesNotExist:
        raise Http404("No such receipt") from None
    return render(request, "materials/receipt_detail.html", {"receipt": receipt})


# Suppliers and categories ------------------------------------------------------------------


@permission_required("materials.view_supplier", raise_exception=True)
def supplier_list(request):
    suppliers = Supplier.objects.order_by("name")
    return render(request, "materials/supplier_list.html", {"suppliers": suppliers})


@permission_required("materials.view_supplier", raise_exception=True)
def supplier_detail(request, pk):
    supplier = get_object_or_404(Supplier, pk=pk)
    prices = selectors.supplier_prices(supplier=supplier)
    receipts = selectors.receipts(request.GET.get("page"), supplier=supplier)
    context = {"supplier": supplier, "prices": prices, "page": receipts}
    return render(request, "materials/supplier_detail.html", context)


@permission_required("materials.change_supplier", raise_exception=True)
def supplier_edit(request, pk=None):
    supplier = get_object_or_404(Supplier, pk=pk) if pk else None
    initial = {}
    if supplier:
        initial = {f: getattr(supplier, f) for f in SupplierForm.base_fields}
    form = SupplierForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            saved = services.supplier_save(supplier=supplier, **form.cleaned_data)
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            messages.success(request, f"{saved.name} saved.")
            return redirect("materials:supplier", pk=saved.pk)
    return render(request, "materials/supplier_form.html", {"form": form, "supplier": supplier})


@permission_required("materials.view_category", raise_exception=True)
def category_list(request):
    form = CategoryForm(request.POST or None)
    if request.method == "POST":
        if not request.user.has_perm("materials.add_category"):
            raise PermissionDenied
        if form.is_valid():
            try:
                saved = services.category_save(name=form.cleaned_data["name"])
            except ValidationError as exc:
                _add_errors(form, exc)
            else:
                messages.success(request, f"Category {saved.name} added.")
                return redirect("materials:categories")
    categories = selectors.categories_with_counts()
    return render(request, "materials/category_list.html", {"form": form, "categories": categories})


@require_POST
@permission_required("materials.delete_category", raise_exception=True)
def category_delete(request, pk):
    category = get_object_or_404(Category, pk=pk)
    try:
        services.category_delete(category=category)
    except ValidationError as exc:
        messages.error(request, exc.messages[0])
    else:
        messages.success(request, f"Category {category.name} removed.")
    return redirect("materials:categories")


def _add_errors(form, exc: ValidationError) -> None:
    """A service's errors onto the form: per field where it names one the form has."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc)
