from django.contrib import admin

from materials.models import Category, Material, Receipt, ReceiptLine, Supplier, SupplierPrice


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    search_fields = ["name"]


class SupplierPriceInline(admin.TabularInline):
    model = SupplierPrice
    extra = 0
    raw_id_fields = ["material"]


@admin.register(Supplier)
class SupplierAdmin(admin.ModelAdmin):
    list_display = ["name", "contact", "email", "phone"]
    search_fields = ["name", "contact", "email"]
    inlines = [SupplierPriceInline]


@admin.register(Material)
class MaterialAdmin(admin.ModelAdmin):
    list_display = ["item", "category", "reorder_point", "preferred_supplier"]
    list_filter = ["category"]
    list_select_related = ["item", "category", "preferred_supplier"]
    search_fields = ["item__name", "item__sku"]
    raw_id_fields = ["item"]

    def has_delete_permission(self, request, obj=None):
        return False


class ReceiptLineInline(admin.TabularInline):
    model = ReceiptLine
    extra = 0
    can_delete = False
    fields = ["material", "lot", "location", "entered_quantity", "entered_unit", "quantity"]
    fields += ["price", "shipping_share", "unit_cost"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Receipt)
class ReceiptAdmin(admin.ModelAdmin):
    """A delivery is part of the ledger's history: shown, not edited. Reverse its posting."""

    list_display = ["id", "received_on", "supplier", "reference", "created_by"]
    list_select_related = ["supplier", "created_by"]
    search_fields = ["reference", "supplier__name", "lines__lot__code"]
    date_hierarchy = "received_on"
    inlines = [ReceiptLineInline]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
