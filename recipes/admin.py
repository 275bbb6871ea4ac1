from django.contrib import admin

from recipes.models import AchievedYield, Product, RecipeLine, RecipeVersion, Stage, Variant


class VariantInline(admin.TabularInline):
    model = Variant
    fields = ["name", "item", "position"]
    raw_id_fields = ["item"]
    extra = 0


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "shelf_life_days", "archived"]
    list_filter = ["archived"]
    search_fields = ["name", "code"]
    inlines = [VariantInline]


class FrozenReadOnly:
    """A version a batch has used is shown, never changed: edit it in the app to make the next."""

    def _frozen(self, obj) -> bool:
        version = obj if isinstance(obj, RecipeVersion) else getattr(obj, "version", None)
        return version is not None and version.is_frozen

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and not (obj and self._frozen(obj))

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and not (obj and self._frozen(obj))

    def has_add_permission(self, request, obj=None):
        if not isinstance(self, admin.options.InlineModelAdmin):
            return super().has_add_permission(request)
        # An inline is asked with its parent version: nothing is added to a frozen one.
        return super().has_add_permission(request, obj) and not (obj and self._frozen(obj))


class RecipeLineInline(FrozenReadOnly, admin.TabularInline):
    model = RecipeLine
    fields = ["stage", "material", "quantity", "unit", "basis", "variant", "percent", "position"]
    raw_id_fields = ["material", "variant", "stage"]
    extra = 0


@admin.register(RecipeVersion)
class RecipeVersionAdmin(FrozenReadOnly, admin.ModelAdmin):
    list_display = ["recipe", "number", "standard_yield", "frozen_at"]
    list_select_related = ["recipe"]
    search_fields = ["recipe__name", "recipe__product__name"]
    readonly_fields = ["frozen_at", "created_at"]
    inlines = [RecipeLineInline]


@admin.register(Stage)
class StageAdmin(FrozenReadOnly, admin.ModelAdmin):
    """Stages are added in the recipe editor, which checks the version is a draft."""

    list_display = ["name", "version", "position", "duration_days", "expected_loss_percent"]
    list_select_related = ["version__recipe"]
    raw_id_fields = ["output_item"]
    readonly_fields = ["version"]

    def has_add_permission(self, request):
        return False


@admin.register(AchievedYield)
class AchievedYieldAdmin(admin.ModelAdmin):
    list_display = ["reference", "version", "planned", "achieved", "recorded_at"]
    raw_id_fields = ["version"]

    def has_change_permission(self, request, obj=None):
        return False
