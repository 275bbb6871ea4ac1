"""Import materials from CSV (upload, preview, confirm) and export materials, lots and receipts.

The uploaded text waits in the session under a random token between the preview and the confirm;
the token is also the opening-stock posting's idempotency key, so a double-tapped Confirm imports
once. Only one upload waits at a time: a new upload replaces it.
"""

import secrets

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from materials import csv_io
from materials.spreadsheets import csv_response
from stock.csv_files import FILE_EMPTY, example_file_response, pending_upload, read_upload
from stock.models import Posting, workshop_today

EXAMPLE_FILE = settings.BASE_DIR / "docs" / "examples" / "materials-import.csv"
PENDING = "materials_import"  # {"token", "text", "filename"}
DONE = "materials_imported"  # {token: message}, the latest few
KEEP_DONE = 10

ALREADY_IMPORTED = "This file was already imported; nothing was imported twice."
PREVIEW_GONE = (
    "That preview is no longer waiting (a newer file was uploaded). Upload the file again."
)
CHANGED_SINCE_PREVIEW = (
    "Nothing was imported: the materials changed since the preview. Fix the rows below and "
    "upload the file again."
)


class ImportForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text="UTF-8, with a header row; up to 1 MB and 5,000 materials.",
        error_messages={
            "required": "Choose a CSV file to upload.",
            "empty": FILE_EMPTY,
        },
        widget=forms.FileInput(attrs={"accept": ".csv,text/csv"}),
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        self.text = read_upload(upload)
        csv_io.read_table(self.text)  # the file as a whole: header, required columns, row count
        return upload


@permission_required("materials.add_material", raise_exception=True)
def material_import(request):
    if request.method == "POST":
        form = ImportForm(request.POST, request.FILES)
        if form.is_valid():
            token = secrets.token_urlsafe(24)
            request.session[PENDING] = {
                "token": token,
                "text": form.text,
                "filename": form.cleaned_data["file"].name[:100],
            }
            return redirect("materials:import-preview", token=token)
    else:
        form = ImportForm()
    return render(request, "materials/import.html", {"form": form, "columns": csv_io.COLUMNS})


@permission_required("materials.add_material", raise_exception=True)
def material_import_preview(request, token):
    pending = _pending(request, token)
    if pending is None:
        return _not_waiting(request, token)
    try:
        preview = csv_io.import_preview(pending["text"])
    except ValidationError as exc:  # the file as a whole; checked at upload, so hardly ever
        for message in exc.messages:
            messages.error(request, message)
        return redirect("materials:import")
    return _render_preview(request, token, pending, preview)


@require_POST
@permission_required("materials.add_material", raise_exception=True)
def material_import_confirm(request, token):
    pending = _pending(request, token)
    if pending is None:
        return _not_waiting(request, token)
    try:
        result = csv_io.materials_import(
            text=pending["text"],
            user=request.user,
            idempotency_key=token,
            note=f"Imported from {pending['filename']}",
        )
    except csv_io.ImportRejected as exc:
        if _imported_meanwhile(request, token):  # a double tap that lost the race
            return _not_waiting(request, token)
        messages.error(request, CHANGED_SINCE_PREVIEW)
        return _render_preview(request, token, pending, exc.preview)
    except ValidationError as exc:
        if _imported_meanwhile(request, token):
            return _not_waiting(request, token)
        for message in exc.messages:
            messages.error(request, message)
        return redirect("materials:import-preview", token=token)
    if result.replayed:
        messages.info(request, ALREADY_IMPORTED)
    else:
        summary = _summary(result)
        messages.success(request, summary)
        done = request.session.get(DONE, {})
        done[token] = summary
        request.session[DONE] = dict(list(done.items())[-KEEP_DONE:])
    request.session.pop(PENDING, None)
    return redirect("materials:list")


@permission_required("materials.view_material", raise_exception=True)
def material_import_example(request):
    return example_file_response(EXAMPLE_FILE)


def _pending(request, token):
    return pending_upload(request, PENDING, token)


def _imported_meanwhile(request, token) -> bool:
    """Whether another request of this session (the first of a double tap) imported the file:
    read from the session store, not from this request's copy of it."""
    if Posting.objects.filter(idempotency_key=token).exists():
        return True
    store = type(request.session)(session_key=request.session.session_key)
    return token in store.load().get(DONE, {})


def _not_waiting(request, token):
    if token in request.session.get(DONE, {}) or _imported_meanwhile(request, token):
        messages.info(request, ALREADY_IMPORTED)
        return redirect("materials:list")
    messages.warning(request, PREVIEW_GONE)
    return redirect("materials:import")


def _render_preview(request, token, pending, preview):
    context = {
        "token": token,
        "filename": pending["filename"],
        "preview": preview,
        "form": ImportForm(),
        "columns": csv_io.COLUMNS,
    }
    return render(request, "materials/import_preview.html", context)


def _summary(result: csv_io.ImportResult) -> str:
    text = f"Imported {result.materials} material{'s' if result.materials != 1 else ''}"
    if result.posting is not None:
        lots = f"{result.lots} lot{'s' if result.lots != 1 else ''}"
        text += f" and their opening stock: {lots} in one posting, {result.posting}"
    text += "."
    created = [
        (result.new_categories, "category", "categories"),
        (result.new_suppliers, "supplier", "suppliers"),
        (result.new_locations, "location", "locations"),
    ]
    news = [
        f"{len(names)} {one if len(names) == 1 else many}" for names, one, many in created if names
    ]
    if news:
        text += " New: " + ", ".join(news) + "."
    return text


# Export ----------------------------------------------------------------------------------------


def _export(name: str, header: list[str], rows):
    return csv_response(f"loomworks-{name}-{workshop_today():%Y-%m-%d}.csv", header, rows)


@permission_required("materials.view_material", raise_exception=True)
def export_materials(request):
    return _export("materials", csv_io.MATERIALS_HEADER, csv_io.materials_rows())


@permission_required("materials.view_material", raise_exception=True)
def export_lots(request):
    return _export("lots", csv_io.LOTS_HEADER, csv_io.lots_rows())


@permission_required("materials.view_material", raise_exception=True)
def export_receipts(request):
    return _export("receipts", csv_io.RECEIPTS_HEADER, csv_io.receipts_rows())
