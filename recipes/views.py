import secrets

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.db.models import Count, Prefetch
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.text import slugify
from django.views.decorators.http import require_POST

from materials.models import Material
from materials.spreadsheets import csv_response
from recipes import csv_io, selectors, services
from recipes.forms import (
    LineForm,
    LinesImportForm,
    ProductEditForm,
    ProductForm,
    QuickCheckForm,
    RecipeForm,
    SplitForm,
    StageForm,
    VariantForm,
    VersionForm,
)
from recipes.models import Product, Recipe, RecipeLine, RecipeVersion, Stage
from stock.csv_files import read_upload
from stock.models import production_location
from stock.units import plain


def _version(pk) -> RecipeVersion:
    try:
        return RecipeVersion.objects.select_related("recipe__product").get(pk=pk)
    except RecipeVersion.DoesNotExist:
        raise Http404("No such recipe version") from None


@permission_required("recipes.view_product", raise_exception=True)
def product_list(request):
    products = (
        Product.objects.annotate(n_variants=Count("variants", distinct=True))
        .prefetch_related(
            Prefetch("recipes", queryset=Recipe.objects.order_by("name")),
        )
        .order_by("archived", "name")
    )
    return render(request, "recipes/product_list.html", {"products": products})


@permission_required("recipes.add_product", raise_exception=True)
def product_new(request):
    form = ProductForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            product = services.product_create(**form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"{product.name} added.")
            return redirect("recipes:product", pk=product.pk)
    return render(request, "recipes/product_form.html", {"form": form})


@permission_required("recipes.change_product", raise_exception=True)
def product_edit(request, pk):
    product = get_object_or_404(Product, pk=pk)
    form = ProductEditForm(
        request.POST or None,
        initial={
            "name": product.name,
            "description": product.description,
            "shelf_life_days": product.shelf_life_days,
            "archived": product.archived,
        },
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.product_update(product=product, **form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"{product.name} saved.")
            return redirect("recipes:product", pk=product.pk)
    return render(request, "recipes/product_edit.html", {"form": form, "product": product})


@permission_required("recipes.view_product", raise_exception=True)
def product_detail(request, pk):
    product = get_object_or_404(Product, pk=pk)
    variant_form = VariantForm(request.POST or None)
    if request.method == "POST":
        if not request.user.has_perm("recipes.add_variant"):
            return render(request, "403.html", status=403)
        if variant_form.is_valid():
            try:
                services.variant_add(product=product, **variant_form.cleaned_data)
            except ValidationError as exc:
                variant_form.add_error(None, exc)
            else:
                messages.success(request, f"Variant {variant_form.cleaned_data['name']} added.")
                return redirect("recipes:product", pk=product.pk)
    return _product_page(request, product, variant_form=variant_form)


@require_POST
@permission_required("recipes.add_recipe", raise_exception=True)
def recipe_new(request, pk):
    product = get_object_or_404(Product, pk=pk)
    form = RecipeForm(request.POST)
    if form.is_valid():
        data = dict(form.cleaned_data)
        if data["target_mass"] is None:
            data["target_unit"] = ""
        try:
            version = services.recipe_create(product=product, **data)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"{version} started: add what a batch uses.")
            return redirect("recipes:edit", pk=version.pk)
    return _product_page(request, product, recipe_form=form)


def _product_page(request, product, *, variant_form=None, recipe_form=None):
    context = {
        "product": product,
        "variants": product.variants.select_related("item"),
        "recipes": product.recipes.prefetch_related("versions"),
        "variant_form": variant_form or VariantForm(),
        "recipe_form": recipe_form or RecipeForm(),
    }
    return render(request, "recipes/product_detail.html", context)


@permission_required("recipes.view_recipe", raise_exception=True)
def recipe_detail(request, pk):
    """A recipe opens at its newest version."""
    recipe = get_object_or_404(Recipe, pk=pk)
    newest = recipe.versions.order_by("-number").first()
    if newest is None:
        raise Http404("This recipe has no version")
    url = reverse("recipes:version", args=[newest.pk])
    return redirect(f"{url}?{request.GET.urlencode()}" if request.GET else url)


@permission_required("recipes.view_recipeversion", raise_exception=True)
def version_detail(request, pk):
    """A version's lines, and for a chosen split: what a batch needs by stage, whether it can be
    made from the usable stock at the production location, and what a unit would cost."""
    version = _version(pk)
    variants = list(version.recipe.product.variants.select_related("item"))
    split_form = SplitForm(
        request.GET if any(k.startswith("v-") for k in request.GET) else None,
        variants=variants,
        standard_yield=version.standard_yield,
    )
    versions = list(version.recipe.versions.order_by("-number"))
    lines = selectors.version_lines(version)
    context = {
        "version": version,
        "lines": lines,
        "stages": list(version.stages.select_related("output_item")),
        "versions": [
            (v, versions[n + 1] if n + 1 < len(versions) else None) for n, v in enumerate(versions)
        ],
        "split_form": split_form,
        "variants": variants,
        "ingredients": [(v, selectors.ingredient_list(version, v, lines)) for v in variants],
    }
    if not split_form.is_bound or split_form.is_valid():
        split = split_form.split()
        if sum(split.values()):
            location = production_location()
            context["requirement"] = selectors.requirement(version, split, lines)
            context["check"] = selectors.can_make(version, split, location=location, lines=lines)
            estimate = selectors.cost_estimate(version, split, location=location, lines=lines)
            context["estimate"] = estimate
            context["cost_rows"] = [
                (size, [costs.get(v.pk) for v in variants])
                for size, costs in [(None, estimate.per_variant), *estimate.comparison]
            ]
    template = (
        "recipes/version_detail.html#check" if request.htmx else "recipes/version_detail.html"
    )
    return render(request, template, context)


@require_POST
@permission_required("recipes.change_recipeversion", raise_exception=True)
def version_edit(request, pk):
    """Edit a version: a draft as it is; a frozen one through the next draft, made from a copy."""
    version = _version(pk)
    draft = services.version_draft_from(version=version)
    if draft.pk != version.pk:
        messages.info(request, f"{version} is in use by a batch: you are editing {draft}.")
    return redirect("recipes:edit", pk=draft.pk)


@permission_required("recipes.change_recipeversion", raise_exception=True)
def version_editor(request, pk):
    """The draft's editor: its figures, its stages and its lines. Each form posts an action;
    htmx swaps the lines and stages in place, and without JavaScript the page reloads."""
    version = _version(pk)
    if version.is_frozen:
        messages.info(request, f"{version} is in use by a batch: edit it to make the next one.")
        return redirect("recipes:version", pk=version.pk)
    forms = {
        "version_form": _version_form(version),
        "line_form": LineForm(version=version),
        "stage_form": StageForm(),
    }
    if request.method == "POST":
        forms.update(_editor_action(request, version))
        if not any(f.errors for f in forms.values()) and not request.htmx:
            return redirect("recipes:edit", pk=version.pk)
        version = _version(pk)  # as the action left it
        if "version_form" not in forms or not forms["version_form"].errors:
            forms["version_form"] = _version_form(version)
    context = {
        "version": version,
        "lines": selectors.version_lines(version),
        "stages": list(version.stages.select_related("output_item")),
        "percent_total": services.percentage_total(version) if version.is_percentage else None,
        **forms,
    }
    if request.htmx:
        return render(request, "recipes/version_editor.html#editor", context)
    return render(request, "recipes/version_editor.html", context)


def _version_form(version) -> VersionForm:
    return VersionForm(
        initial={
            "standard_yield": plain(version.standard_yield),
            "notes": version.notes,
            "target_mass": plain(version.target_mass) if version.target_mass else None,
            "target_unit": version.target_unit,
        }
    )


def _editor_action(request, version) -> dict:
    """Run the posted action. Returns the forms to show: a failed one bound, with its errors;
    after a line or a stage is added, an empty form for the next."""
    action = request.POST.get("action", "")
    try:
        if action == "line-add":
            form = LineForm(request.POST, version=version)
            return _submit(
                form, "line_form", LineForm(version=version), services.line_add, version=version
            )
        if action == "stage-add":
            form = StageForm(request.POST)
            return _submit(form, "stage_form", StageForm(), services.stage_add, version=version)
        if action == "version":
            form = VersionForm(request.POST)
            return _submit(form, "version_form", None, _version_update, version=version)
        if action == "stage-rename":
            stage = get_object_or_404(Stage, pk=request.POST.get("stage"), version=version)
            form = StageForm(request.POST, prefix=f"stage-{stage.pk}")
            if not form.is_valid():
                raise ValidationError([e for errors in form.errors.values() for e in errors])
            _stage_update(stage=stage, **form.cleaned_data)
        if action == "line-remove":
            line = get_object_or_404(RecipeLine, pk=request.POST.get("line"), version=version)
            services.line_remove(line=line)
        elif action in ("line-up", "line-down"):
            line = get_object_or_404(RecipeLine, pk=request.POST.get("line"), version=version)
            services.line_move(line=line, up=action == "line-up")
        elif action in ("stage-up", "stage-down"):
            stage = get_object_or_404(Stage, pk=request.POST.get("stage"), version=version)
            services.stage_move(stage=stage, up=action == "stage-up")
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return {}


def _submit(form, name, fresh, service, **kwargs) -> dict:
    if not form.is_valid():
        return {name: form}
    data = _line_data(form) if name == "line_form" else dict(form.cleaned_data)
    try:
        service(**kwargs, **data)
    except ValidationError as exc:
        form.add_error(None, exc)
        return {name: form}
    return {name: fresh} if fresh is not None else {}


def _stage_update(*, stage, output_name="", **data):
    return services.stage_update(stage=stage, **data)


def _version_update(*, version, target_mass=None, target_unit="", **data):
    if not version.is_percentage:
        target_mass, target_unit = None, ""
    return services.version_update(
        version=version, target_mass=target_mass, target_unit=target_unit, **data
    )


def _line_data(form) -> dict:
    data = form.cleaned_data
    return {
        "material": data["material"],
        "quantity": data.get("quantity"),
        "unit": data.get("unit") or "",
        "basis": data.get("basis") or "batch",
        "variant": data.get("variant"),
        "stage": data.get("stage"),
        "percent": data.get("percent"),
    }


@permission_required("recipes.view_recipeversion", raise_exception=True)
def version_diff(request, pk, other):
    old, new = _version(other), _version(pk)
    if old.recipe_id != new.recipe_id:
        raise Http404("Those versions are of different recipes")
    changes = selectors.version_diff(old, new)
    return render(
        request, "recipes/version_diff.html", {"old": old, "new": new, "changes": changes}
    )


@permission_required("recipes.view_recipe", raise_exception=True)
def material_where_used(request, pk):
    """The recipes and versions that use a material: loaded into the material's page by URL,
    so materials never imports recipes."""
    material = get_object_or_404(Material, pk=pk)
    lines = (
        RecipeLine.objects.filter(material=material)
        .select_related("version__recipe__product", "variant", "stage")
        .order_by("version__recipe__name", "-version__number")
    )
    template = "recipes/_where_used.html" if request.htmx else "recipes/where_used.html"
    return render(request, template, {"material": material, "lines": lines})


@permission_required("recipes.view_recipe", raise_exception=True)
def quick_check(request):
    """The dashboard's "can I make this?": to the recipe's page with the units split evenly."""
    form = QuickCheckForm(request.GET or None)
    if not form.is_valid():
        return render(request, "recipes/quick_check.html", {"form": form})
    recipe, units = form.cleaned_data["recipe"], form.cleaned_data["units"]
    version = recipe.versions.order_by("-number").first()
    variants = list(recipe.product.variants.all())
    if version is None or not variants:
        form.add_error("recipe", "That recipe has nothing to check yet: no version or no variant.")
        return render(request, "recipes/quick_check.html", {"form": form})
    query = "&".join(f"v-{pk}={n}" for pk, n in selectors.even_split(variants, units).items())
    return redirect(f"{reverse('recipes:version', args=[version.pk])}?{query}#check")


# CSV of a version's lines --------------------------------------------------------------------

PENDING_IMPORT = "recipes-lines-import"


@permission_required("recipes.view_recipeversion", raise_exception=True)
def version_lines_csv(request, pk):
    version = _version(pk)
    rows = csv_io.export_rows(version, selectors.version_lines(version))
    name = slugify(version.recipe.name) or "recipe"
    return csv_response(f"{name}-v{version.number}-lines.csv", csv_io.COLUMNS, rows)


@permission_required("recipes.change_recipeversion", raise_exception=True)
def version_lines_import(request, pk):
    """Upload a CSV of lines, see every row checked, then add them all to the draft."""
    version = _version(pk)
    if version.is_frozen:
        messages.info(request, f"{version} is in use by a batch: edit it to make the next one.")
        return redirect("recipes:version", pk=version.pk)
    form = LinesImportForm(request.POST or None, request.FILES or None)
    context = {"version": version, "form": form, "columns": csv_io.COLUMNS}
    if request.method == "POST" and "token" in request.POST:
        return _lines_import_confirm(request, version)
    if request.method == "POST" and form.is_valid():
        try:
            text = read_upload(form.cleaned_data["file"])
            checked = csv_io.preview(version, text)
        except ValidationError as exc:
            form.add_error("file", exc)
        else:
            token = secrets.token_urlsafe(16)
            request.session[PENDING_IMPORT] = {"token": token, "version": version.pk, "text": text}
            context.update(preview=checked, token=token)
    return render(request, "recipes/lines_import.html", context)


def _lines_import_confirm(request, version):
    pending = request.session.get(PENDING_IMPORT) or {}
    if pending.get("token") != request.POST["token"] or pending.get("version") != version.pk:
        messages.info(request, "Those lines were imported already, or the upload expired.")
        return redirect("recipes:edit", pk=version.pk)
    request.session.pop(PENDING_IMPORT, None)
    try:
        added = csv_io.import_lines(version, pending["text"])
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("recipes:lines-import", pk=version.pk)
    messages.success(request, f"{len(added)} line{'s' if len(added) != 1 else ''} imported.")
    return redirect("recipes:edit", pk=version.pk)
