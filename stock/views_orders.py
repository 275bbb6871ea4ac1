"""Import orders from a CSV file: upload, preview, import. Thin views over stock.orders.

The uploaded text waits in the session under a random token between the preview and the import,
as the materials import's does; the token is the import's idempotency key, so a double-tapped
Import dispatches once. Only one upload waits at a time: a new upload replaces it.
"""

import secrets

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from stock import orders
from stock.csv_files import FILE_EMPTY, example_file_response, pending_upload, read_upload
from stock.models import Dispatch, Location, production_location
from stock.order_files import read_orders

EXAMPLE_FILE = settings.BASE_DIR / "docs" / "examples" / "orders-import.csv"
PENDING = "orders_import"  # {"token", "text", "filename", "channel", "location"}
DONE = "orders_imported"  # {token: summary}, the latest few
KEEP_DONE = 10

ALREADY_IMPORTED = "This file was already imported; nothing was dispatched twice."
NOTHING_TO_IMPORT = (
    "Nothing was imported: every line of the file has been dispatched already or is left out."
)
PREVIEW_GONE = (
    "That preview is no longer waiting (a newer file was uploaded). Upload the file again."
)
LOCATION_GONE = (
    "{location} was archived since the upload. Upload the file again and choose another."
)
CHANGED_SINCE_PREVIEW = (
    "Nothing was imported: stock or dispatches changed since the preview. The rows below say "
    "what to fix."
)


class OrdersImportForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text="Shopify's order export or Etsy's sold order items as they come, or Loomworks' "
        "plain columns. UTF-8; up to 1 MB and 5,000 rows.",
        error_messages={"required": "Choose a CSV file to upload.", "empty": FILE_EMPTY},
        widget=forms.FileInput(attrs={"accept": ".csv,text/csv"}),
    )
    channel = forms.CharField(
        max_length=Dispatch._meta.get_field("channel").max_length,
        required=False,
        help_text="Where these orders came from: a market, a shop. Empty: Shopify, Etsy or CSV, "
        "from the file's columns.",
    )
    location = forms.ModelChoiceField(
        queryset=Location.objects.filter(archived=False),
        empty_label=None,
        label="Sent from",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["location"].initial = production_location()

    def clean_file(self):
        upload = self.cleaned_data["file"]
        self.text = read_upload(upload)
        read_orders(self.text)  # the file as a whole: its format, its columns, its size
        return upload


@permission_required("stock.add_dispatch", raise_exception=True)
def orders_import(request):
    form = OrdersImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        token = secrets.token_urlsafe(24)
        request.session[PENDING] = {
            "token": token,
            "text": form.text,
            "filename": form.cleaned_data["file"].name[:100],
            "channel": form.cleaned_data["channel"],
            "location": form.cleaned_data["location"].pk,
        }
        return redirect("stock:orders-import-preview", token=token)
    return render(request, "stock/orders_import.html", {"form": form})


@permission_required("stock.add_dispatch", raise_exception=True)
def orders_import_preview(request, token):
    pending = _pending(request, token)
    if pending is None:
        return _not_waiting(request, token)
    location = _location(request, pending)
    if location is None:
        return redirect("stock:orders-import")
    try:
        preview = orders.orders_preview(
            text=pending["text"], channel=pending["channel"], location=location
        )
    except ValidationError as exc:  # the file as a whole; checked at upload, so hardly ever
        for message in exc.messages:
            messages.error(request, message)
        return redirect("stock:orders-import")
    return _render_preview(request, token, pending, preview)


@require_POST
@permission_required("stock.add_dispatch", raise_exception=True)
def orders_import_confirm(request, token):
    pending = _pending(request, token)
    if pending is None:
        return _not_waiting(request, token)
    location = _location(request, pending)
    if location is None:
        return redirect("stock:orders-import")
    try:
        result = orders.orders_import(
            text=pending["text"],
            channel=pending["channel"],
            location=location,
            user=request.user,
            idempotency_key=token,
            note=f"Imported from {pending['filename']}",
        )
    except orders.ImportRejected as exc:
        if _imported_meanwhile(request, token):  # a double tap that lost the race
            return _not_waiting(request, token)
        messages.error(request, CHANGED_SINCE_PREVIEW)
        return _render_preview(request, token, pending, exc.preview)
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
        return redirect("stock:orders-import-preview", token=token)
    request.session.pop(PENDING, None)
    if result.replayed:
        messages.info(request, ALREADY_IMPORTED)
    elif not result.dispatches:
        messages.info(request, NOTHING_TO_IMPORT)
    else:
        summary = _summary(result)
        messages.success(request, summary)
        done = request.session.get(DONE, {})
        done[token] = summary
        request.session[DONE] = dict(list(done.items())[-KEEP_DONE:])
    return redirect(reverse("stock:postings") + "?kind=dispatch")


@permission_required("stock.view_dispatch", raise_exception=True)
def orders_import_example(request):
    return example_file_response(EXAMPLE_FILE)


def _pending(request, token):
    return pending_upload(request, PENDING, token)


def _location(request, pending) -> Location | None:
    location = Location.objects.filter(pk=pending["location"]).first()
    if location is None or location.archived:
        messages.warning(request, LOCATION_GONE.format(location=location or "The location"))
        return None
    return location


def _imported_meanwhile(request, token) -> bool:
    """Whether another request of this session (the first of a double tap) imported the file:
    read from the database and the session store, not from this request's copy of it."""
    if Dispatch.objects.filter(key__startswith=orders.upload_keys_prefix(token)).exists():
        return True
    store = type(request.session)(session_key=request.session.session_key)
    return token in store.load().get(DONE, {})


def _not_waiting(request, token):
    if token in request.session.get(DONE, {}) or _imported_meanwhile(request, token):
        messages.info(request, ALREADY_IMPORTED)
        return redirect(reverse("stock:postings") + "?kind=dispatch")
    messages.warning(request, PREVIEW_GONE)
    return redirect("stock:orders-import")


def _render_preview(request, token, pending, preview):
    context = {
        "token": token,
        "filename": pending["filename"],
        "preview": preview,
        "form": OrdersImportForm(
            initial={"channel": pending["channel"], "location": pending["location"]}
        ),
    }
    return render(request, "stock/orders_import_preview.html", context)


def _summary(result: orders.OrdersImported) -> str:
    n = len(result.dispatches)
    numbers = ", ".join(f"#{d.pk}" for d in result.dispatches[:5])
    if n > 5:
        numbers += f" and {n - 5} more"
    text = f"Imported {n} order{'s' if n != 1 else ''}: dispatch{'es' if n != 1 else ''} {numbers}."
    if result.new_customers:
        c = result.new_customers
        text += f" {c} new customer{'s' if c != 1 else ''}."
    if result.skipped:
        s = result.skipped
        text += f" {s} line{'s' if s != 1 else ''} left out, as the preview listed."
    return text
