"""Batch pages: thin views over batches.services and batches.selectors."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render

from batches.models import Batch


@login_required
def batch_by_reference(request, reference):
    batch = get_object_or_404(Batch, reference__iexact=reference)
    return redirect("batches:detail", pk=batch.pk)


@login_required
def batch_detail(request, pk):
    batch = get_object_or_404(Batch, pk=pk)
    return render(request, "batches/batch_detail.html", {"batch": batch})
