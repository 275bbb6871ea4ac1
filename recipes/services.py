"""Writes for products, variants and recipes. A version is edited only while it is a draft, under
a lock on its row; the first batch planned on it freezes it (`version_freeze`, called by the
batches service under the same lock), and editing it after that makes the next draft from a copy.
"""

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from materials.models import Material
from recipes.models import (
    AchievedYield,
    Basis,
    Product,
    Recipe,
    RecipeLine,
    RecipeVersion,
    Stage,
    Variant,
)
from stock.limits import MAX_QUANTITY, QUANTUM
from stock.models import Item, ItemKind
from stock.units import Unit, are_compatible, display

NAME_REQUIRED = "Give it a name."
CODE_REQUIRED = "Give the product a short code, like CND: batch references start with it."
CODE_TOO_LONG = "A product code has at most 12 characters."
PRODUCT_TAKEN = "There is already a product called {name} or with the code {code}."
SKU_TAKEN = "SKU {sku} is already used by {name}."
VARIANT_NAME_TAKEN = "{product} already has a variant called {name}."
VARIANT_TAKEN = "A variant called {name} or with the SKU {sku} was added at the same moment."
NAME_TOO_LONG = "The product's and the variant's names together are too long: shorten one."
TOO_MANY_DECIMALS = "{material}: {quantity} has more than 6 decimal places."
RESCALED_TO_ZERO = "{material}: {percent} % of the new mass rounds to nothing; raise the mass."
FROZEN = (
    "{version} is in use by a batch and cannot change: edit it to make version {next}, "
    "so the batches that used it keep the recipe they really used."
)
YIELD_NOT_POSITIVE = "A standard batch makes more than zero units."
QUANTITY_NOT_POSITIVE = "{material}: enter a quantity above zero."
QUANTITY_TOO_LARGE = "{material}: {quantity} is larger than Loomworks can hold."
INCOMPATIBLE = "{material} is kept in {unit}: a quantity in {given} cannot be converted."
VARIANT_NEEDED = "A line per unit of one variant names the variant."
VARIANT_NOT_WANTED = "Only a line per unit of one variant names a variant."
VARIANT_OF_OTHER_PRODUCT = "{variant} is a variant of {other}, not of {product}."
STAGE_OF_OTHER_VERSION = "That stage belongs to another version."
OWN_OUTPUT_AS_INPUT = "{stage} makes {item}: it cannot also use it."
PERCENT_NEEDED = (
    "This recipe is in percentages: give the line's share of the batch, like 30 (or, for "
    "packaging, a quantity)."
)
PERCENT_RANGE = "A share is more than 0 and at most 100 percent."
NOT_PERCENTAGE = "Give a quantity: this recipe is not entered in percentages."
PERCENT_TOTAL = "The lines add up to {total} %, not 100 %: the recipe is not ready to use."
NO_LINES = "{version} has no lines yet: add what a batch uses before planning one."
LOSS_RANGE = "An expected loss is from 0 up to (not including) 100 percent."
TARGET_MASS_UNIT = "A target mass is in a unit of mass (g, kg, oz, lb)."


# Products and variants ---------------------------------------------------------------------


def product_create(
    *,
    name: str,
    code: str,
    description: str = "",
    shelf_life_days: int | None = None,
    variants: list[tuple[str, str]] = (),
) -> Product:
    """A product and its variants, each (name, SKU) an Item of kind variant. A product without
    variants gets one, named and coded as the product."""
    name, code = " ".join(name.split()), code.strip().upper()
    if not name:
        raise ValidationError({"name": NAME_REQUIRED})
    if not code:
        raise ValidationError({"code": CODE_REQUIRED})
    if len(code) > 12:
        raise ValidationError({"code": CODE_TOO_LONG})
    variants = list(variants) or [(name, code)]
    try:
        with transaction.atomic():
            product = Product.objects.create(
                name=name, code=code, description=description, shelf_life_days=shelf_life_days
            )
            for variant_name, sku in variants:
                _variant_create(product, variant_name, sku)
    except IntegrityError:
        raise ValidationError(PRODUCT_TAKEN.format(name=name, code=code)) from None
    return product


@transaction.atomic
def product_update(
    *,
    product: Product,
    name: str,
    description: str = "",
    shelf_life_days: int | None = None,
    archived: bool = False,
) -> Product:
    """Name, description, shelf life and archive; the code stays, batch references use it."""
    name = " ".join(name.split())
    if not name:
        raise ValidationError({"name": NAME_REQUIRED})
    if Product.objects.filter(name__iexact=name).exclude(pk=product.pk).exists():
        raise ValidationError({"name": PRODUCT_TAKEN.format(name=name, code=product.code)})
    product.name, product.description = name, description
    product.shelf_life_days, product.archived = shelf_life_days, archived
    product.save()
    # Its variants' items carry the same shelf life, so the ledger never falls back to one
    # the product no longer has.
    Item.objects.filter(variant__product=product).update(shelf_life_days=shelf_life_days)
    return product


def variant_add(*, product: Product, name: str, sku: str) -> Variant:
    try:
        with transaction.atomic():
            return _variant_create(product, name, sku)
    except IntegrityError:  # the same name or SKU, added by someone else at the same moment
        raise ValidationError(VARIANT_TAKEN.format(name=name, sku=sku)) from None


def _variant_create(product: Product, name: str, sku: str) -> Variant:
    name, sku = " ".join(name.split()), sku.strip()
    if not name or not sku:
        raise ValidationError(NAME_REQUIRED)
    if product.variants.filter(name__iexact=name).exists():
        raise ValidationError({"name": VARIANT_NAME_TAKEN.format(product=product.name, name=name)})
    clash = Item.objects.filter(sku__iexact=sku).first()
    if clash is not None:
        raise ValidationError({"sku": SKU_TAKEN.format(sku=sku, name=clash.name)})
    item_name = f"{product.name} {name}" if name != product.name else name
    if len(item_name) > Item._meta.get_field("name").max_length:
        raise ValidationError({"name": NAME_TOO_LONG})
    item = Item.objects.create(
        sku=sku,
        name=item_name,
        unit=Unit.EACH,
        kind=ItemKind.VARIANT,
        shelf_life_days=product.shelf_life_days,
    )
    position = product.variants.count()
    return Variant.objects.create(product=product, item=item, name=name, position=position)


# Recipes and versions ----------------------------------------------------------------------


def recipe_create(
    *,
    product: Product,
    name: str,
    standard_yield: Decimal,
    notes: str = "",
    target_mass: Decimal | None = None,
    target_unit: str = "",
) -> RecipeVersion:
    """A recipe and its first version, a draft."""
    name = " ".join(name.split())
    if not name:
        raise ValidationError({"name": NAME_REQUIRED})
    _check_version_figures(standard_yield, target_mass, target_unit)
    with transaction.atomic():
        recipe = Recipe.objects.create(product=product, name=name)
        return RecipeVersion.objects.create(
            recipe=recipe,
            number=1,
            standard_yield=standard_yield,
            notes=notes,
            target_mass=target_mass,
            target_unit=target_unit if target_mass is not None else "",
        )


def _check_version_figures(standard_yield, target_mass, target_unit) -> None:
    if standard_yield is None or standard_yield <= 0:
        raise ValidationError({"standard_yield": YIELD_NOT_POSITIVE})
    if target_mass is not None:
        if target_mass <= 0:
            raise ValidationError({"target_mass": YIELD_NOT_POSITIVE})
        if target_unit not in Unit.values or not are_compatible(target_unit, Unit.G):
            raise ValidationError({"target_unit": TARGET_MASS_UNIT})


def _editable(version: RecipeVersion) -> RecipeVersion:
    """The version's row, locked; refused when a batch has frozen it. Planning a batch takes
    the same lock, so an edit and a first plan never slip past each other."""
    version = (
        RecipeVersion.objects.select_for_update()
        .select_related("recipe__product")
        .get(pk=version.pk)
    )
    if version.is_frozen:
        raise ValidationError(FROZEN.format(version=version, next=_next_number(version.recipe)))
    return version


def _next_number(recipe: Recipe) -> int:
    return (recipe.versions.aggregate(n=Max("number"))["n"] or 0) + 1


@transaction.atomic
def version_update(
    *,
    version: RecipeVersion,
    standard_yield: Decimal,
    notes: str = "",
    target_mass: Decimal | None = None,
    target_unit: str = "",
) -> RecipeVersion:
    version = _editable(version)
    _check_version_figures(standard_yield, target_mass, target_unit)
    version.standard_yield, version.notes = standard_yield, notes
    if version.is_percentage and target_mass is not None:
        version.target_mass, version.target_unit = target_mass, target_unit
        version.save()
        for line in version.lines.filter(percent__isnull=False).select_related("material__item"):
            line.quantity = _share_of(version, line.percent, line.material)
            if line.quantity <= 0:
                raise ValidationError(
                    RESCALED_TO_ZERO.format(
                        material=line.material.item.name, percent=line.percent.normalize()
                    )
                )
            line.unit = version.target_unit
            line.save(update_fields=["quantity", "unit"])
        return version
    version.save()
    return version


@transaction.atomic
def version_draft_from(*, version: RecipeVersion) -> RecipeVersion:
    """The draft to edit: the version itself while it is a draft; for a frozen version, the
    recipe's newest draft, or a new one copied from it (version 2, 3...)."""
    version = RecipeVersion.objects.select_for_update().select_related("recipe").get(pk=version.pk)
    if not version.is_frozen:
        return version
    Recipe.objects.select_for_update().get(pk=version.recipe_id)  # one next number at a time
    newest = version.recipe.versions.order_by("-number").first()
    if newest.pk != version.pk and not newest.is_frozen:
        return newest
    copy = RecipeVersion.objects.create(
        recipe=version.recipe,
        number=_next_number(version.recipe),
        standard_yield=version.standard_yield,
        notes=version.notes,
        target_mass=version.target_mass,
        target_unit=version.target_unit,
    )
    stages = {}
    for stage in version.stages.order_by("position", "id"):
        stages[stage.pk] = Stage.objects.create(
            version=copy,
            position=stage.position,
            name=stage.name,
            description=stage.description,
            duration_days=stage.duration_days,
            expected_loss_percent=stage.expected_loss_percent,
            output_item=stage.output_item,
        )
    RecipeLine.objects.bulk_create(
        [
            RecipeLine(
                version=copy,
                stage=stages.get(line.stage_id),
                material_id=line.material_id,
                quantity=line.quantity,
                unit=line.unit,
                basis=line.basis,
                variant_id=line.variant_id,
                percent=line.percent,
                position=line.position,
            )
            for line in version.lines.all()
        ]
    )
    return copy


@transaction.atomic
def version_freeze(*, version: RecipeVersion) -> RecipeVersion:
    """Called when the first batch is planned on a version (by the batches service, inside its
    transaction): the version must be complete, and from now on it never changes."""
    version = RecipeVersion.objects.select_for_update().select_related("recipe").get(pk=version.pk)
    if version.is_frozen:
        return version
    if not version.lines.exists():
        raise ValidationError(NO_LINES.format(version=version))
    if version.is_percentage:
        total = percentage_total(version)
        if total != 100:
            raise ValidationError(PERCENT_TOTAL.format(total=display(total)))
    version.frozen_at = timezone.now()
    version.save(update_fields=["frozen_at"])
    return version


def percentage_total(version: RecipeVersion) -> Decimal:
    return sum((line.percent or Decimal(0) for line in version.lines.all()), Decimal(0))


# Lines -------------------------------------------------------------------------------------


@transaction.atomic
def line_add(
    *,
    version: RecipeVersion,
    material: Material,
    quantity: Decimal | None = None,
    unit: str = "",
    basis: str = Basis.PER_BATCH,
    variant: Variant | None = None,
    stage: Stage | None = None,
    percent: Decimal | None = None,
) -> RecipeLine:
    version = _editable(version)
    line = RecipeLine(version=version, position=version.lines.count())
    _fill_line(line, version, material, quantity, unit, basis, variant, stage, percent)
    line.save()
    return line


@transaction.atomic
def line_update(
    *,
    line: RecipeLine,
    material: Material,
    quantity: Decimal | None = None,
    unit: str = "",
    basis: str = Basis.PER_BATCH,
    variant: Variant | None = None,
    stage: Stage | None = None,
    percent: Decimal | None = None,
) -> RecipeLine:
    version = _editable(line.version)
    line = RecipeLine.objects.get(pk=line.pk, version=version)
    _fill_line(line, version, material, quantity, unit, basis, variant, stage, percent)
    line.save()
    return line


@transaction.atomic
def line_remove(*, line: RecipeLine) -> None:
    _editable(line.version)
    RecipeLine.objects.filter(pk=line.pk).delete()


@transaction.atomic
def line_move(*, line: RecipeLine, up: bool) -> None:
    """Swap a line with the one before (up) or after it, within its stage."""
    version = _editable(line.version)
    lines = list(version.lines.filter(stage_id=line.stage_id).order_by("position", "id"))
    _swap(lines, line.pk, up)


def _swap(rows, pk, up: bool) -> None:
    i = next(n for n, row in enumerate(rows) if row.pk == pk)
    j = i - 1 if up else i + 1
    if 0 <= j < len(rows):
        rows[i], rows[j] = rows[j], rows[i]
    for position, row in enumerate(rows):
        if row.position != position:
            row.position = position
            row.save(update_fields=["position"])


def line_check(
    *,
    version: RecipeVersion,
    material: Material,
    quantity: Decimal | None = None,
    unit: str = "",
    basis: str = Basis.PER_BATCH,
    variant: Variant | None = None,
    stage: Stage | None = None,
    percent: Decimal | None = None,
) -> RecipeLine:
    """An unsaved line with every check `line_add` makes (an import's preview asks this)."""
    line = RecipeLine(version=version)
    _fill_line(line, version, material, quantity, unit, basis, variant, stage, percent)
    return line


@transaction.atomic
def lines_import(*, version: RecipeVersion, lines: list[dict]) -> list[RecipeLine]:
    """Add lines to a draft, all or nothing, each checked as `line_add` checks it."""
    version = _editable(version)
    start = version.lines.count()
    rows = []
    for n, fields in enumerate(lines):
        line = line_check(version=version, **fields)
        line.position = start + n
        rows.append(line)
    return RecipeLine.objects.bulk_create(rows)


def _fill_line(line, version, material, quantity, unit, basis, variant, stage, percent) -> None:
    item = material.item
    if basis not in Basis.values:
        raise ValidationError({"basis": f"Unknown basis {basis!r}."})
    if version.is_percentage and percent is not None:
        # A share of the batch mass; packaging (a tin per balm) is given as a quantity instead.
        if not 0 < percent <= 100:
            raise ValidationError({"percent": PERCENT_RANGE})
        if percent != percent.quantize(QUANTUM):
            raise ValidationError(
                {"percent": TOO_MANY_DECIMALS.format(material=item.name, quantity=f"{percent:f}")}
            )
        quantity, unit = _share_of(version, percent, material), version.target_unit
        if quantity <= 0:
            raise ValidationError(
                {"percent": RESCALED_TO_ZERO.format(material=item.name, percent=percent)}
            )
        basis, variant = Basis.PER_BATCH, None
    elif version.is_percentage and quantity is None:
        raise ValidationError({"percent": PERCENT_NEEDED})
    elif percent is not None:
        raise ValidationError({"percent": NOT_PERCENTAGE})
    if quantity is None or quantity <= 0:
        raise ValidationError({"quantity": QUANTITY_NOT_POSITIVE.format(material=item.name)})
    if quantity != quantity.quantize(QUANTUM):
        raise ValidationError(
            {"quantity": TOO_MANY_DECIMALS.format(material=item.name, quantity=f"{quantity:f}")}
        )
    if quantity >= MAX_QUANTITY:
        raise ValidationError(
            {"quantity": QUANTITY_TOO_LARGE.format(material=item.name, quantity=quantity)}
        )
    unit = unit or item.unit
    if unit not in Unit.values or not are_compatible(unit, item.unit):
        raise ValidationError(
            {"unit": INCOMPATIBLE.format(material=item.name, unit=item.unit, given=unit)}
        )
    if basis == Basis.PER_VARIANT_UNIT and variant is None:
        raise ValidationError({"variant": VARIANT_NEEDED})
    if basis != Basis.PER_VARIANT_UNIT and variant is not None:
        raise ValidationError({"variant": VARIANT_NOT_WANTED})
    product = version.recipe.product
    if variant is not None and variant.product_id != product.pk:
        raise ValidationError(
            {
                "variant": VARIANT_OF_OTHER_PRODUCT.format(
                    variant=variant.name, other=variant.product.name, product=product.name
                )
            }
        )
    if stage is not None:
        if stage.version_id != version.pk:
            raise ValidationError({"stage": STAGE_OF_OTHER_VERSION})
        if stage.output_item_id is not None and stage.output_item_id == item.pk:
            raise ValidationError(
                {"stage": OWN_OUTPUT_AS_INPUT.format(stage=stage.name, item=item.name)}
            )
    line.material, line.quantity, line.unit = material, quantity.normalize(), unit
    line.basis, line.variant, line.stage, line.percent = basis, variant, stage, percent


def _share_of(version: RecipeVersion, percent: Decimal, material: Material) -> Decimal:
    """A percentage of the version's target mass, in the target unit, to the ledger's places."""
    return (version.target_mass * percent / 100).quantize(QUANTUM)


# Stages ------------------------------------------------------------------------------------


@transaction.atomic
def stage_add(
    *,
    version: RecipeVersion,
    name: str,
    description: str = "",
    duration_days: int = 0,
    expected_loss_percent: Decimal = Decimal(0),
    output_name: str = "",
) -> Stage:
    """A stage at the end of the process. With `output_name`, it ends in a semi-finished item of
    that name (the uncut soap loaf), kept in the ledger like any other."""
    version = _editable(version)
    stage = Stage(version=version, position=version.stages.count())
    _fill_stage(stage, name, description, duration_days, expected_loss_percent)
    if output_name.strip():
        stage.output_item = _intermediate_item(version, output_name)
    stage.save()
    return stage


@transaction.atomic
def stage_update(
    *,
    stage: Stage,
    name: str,
    description: str = "",
    duration_days: int = 0,
    expected_loss_percent: Decimal = Decimal(0),
) -> Stage:
    version = _editable(stage.version)
    stage = Stage.objects.get(pk=stage.pk, version=version)  # as it is now, under the lock
    _fill_stage(stage, name, description, duration_days, expected_loss_percent)
    stage.save(update_fields=["name", "description", "duration_days", "expected_loss_percent"])
    return stage


@transaction.atomic
def stage_move(*, stage: Stage, up: bool) -> Stage:
    """Swap a stage with the one before (up) or after it."""
    version = _editable(stage.version)
    stages = list(version.stages.order_by("position", "id"))
    _swap(stages, stage.pk, up)
    return next(s for s in stages if s.pk == stage.pk)


def _fill_stage(stage, name, description, duration_days, expected_loss_percent) -> None:
    name = " ".join(name.split())
    if not name:
        raise ValidationError({"name": NAME_REQUIRED})
    if not 0 <= expected_loss_percent < 100:
        raise ValidationError({"expected_loss_percent": LOSS_RANGE})
    stage.name, stage.description = name, description.strip()
    stage.duration_days, stage.expected_loss_percent = duration_days, expected_loss_percent


def _intermediate_item(version: RecipeVersion, name: str) -> Item:
    """A semi-finished item with the first free SKU of the product's WIP-n series."""
    product = version.recipe.product
    n = Item.objects.filter(sku__istartswith=f"{product.code}-WIP-").count() + 1
    while Item.objects.filter(sku__iexact=f"{product.code}-WIP-{n}").exists():
        n += 1
    return Item.objects.create(
        sku=f"{product.code}-WIP-{n}",
        name=" ".join(name.split()),
        unit=Unit.G,
        kind=ItemKind.INTERMEDIATE,
    )


# What batches tell recipes -----------------------------------------------------------------


def achieved_yield_record(
    *, version: RecipeVersion, planned: Decimal, achieved: Decimal, reference: str
) -> AchievedYield:
    """What a batch of this version really made. Called by the batches service when a batch
    completes (the same reference again changes nothing)."""
    achieved_yield, _ = AchievedYield.objects.get_or_create(
        reference=reference,
        defaults={"version": version, "planned": planned, "achieved": achieved},
    )
    return achieved_yield


def achieved_yield_replace(
    *, version: RecipeVersion, planned: Decimal, achieved: Decimal, reference: str
) -> AchievedYield:
    """What a batch of this version made, in place of what was recorded for the same
    reference before (the batch finished the units it had left in progress): one upsert,
    dated now. Called by the batches service under the batch's lock."""
    achieved_yield = AchievedYield(
        version=version, planned=planned, achieved=achieved, reference=reference
    )
    AchievedYield.objects.bulk_create(
        [achieved_yield],
        update_conflicts=True,
        unique_fields=["reference"],
        update_fields=["version", "planned", "achieved", "recorded_at"],
    )
    return achieved_yield


def achieved_yield_forget(*, reference: str) -> None:
    """A batch reversed: its yield no longer stands."""
    AchievedYield.objects.filter(reference=reference).delete()


UNIT_USED_BY_RECIPES = (
    "{material} is used in {recipe} in {unit_used}: its unit can change only to one that "
    "converts from it."
)


def unit_change_problem(material: Material, unit: str) -> str | None:
    """Why a material's unit may not change to `unit` (a recipe line in a unit that would no
    longer convert), or None. Registered with materials when the app starts."""
    for line in material.recipe_lines.select_related("version__recipe"):
        if not are_compatible(line.unit, unit):
            return UNIT_USED_BY_RECIPES.format(
                material=material.item.name, recipe=line.version, unit_used=line.unit
            )
    return None
