from django.contrib import admin

from stock.models import Balance, Item, Location, Lot, Movement, Posting


class ReadOnlyAdmin(admin.ModelAdmin):
    """The ledger is shown, never edited: corrections are new postings made in the app."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Item)
class ItemAdmin(admin.ModelAdmin):
    list_display = ["sku", "name", "unit", "kind", "lot_tracked", "shelf_life_days", "archived"]
    list_filter = ["kind", "lot_tracked", "archived"]
    search_fields = ["sku", "name"]

    def get_readonly_fields(self, request, obj=None):
        # Once stock is booked its quantities are in this unit: changing it would rescale them.
        if obj is not None and obj.lots.exists():
            return ["unit", "kind"]
        return []

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Location)
class LocationAdmin(admin.ModelAdmin):
    list_display = ["name", "description", "archived"]
    list_filter = ["archived"]
    search_fields = ["name"]

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Lot)
class LotAdmin(admin.ModelAdmin):
    """Expiry and quarantine may be corrected; what a lot is and cost stays as posted."""

    list_display = ["code", "item", "expiry_date", "unit_cost", "received_on", "quarantined"]
    list_filter = ["quarantined", "item__kind"]
    list_select_related = ["item"]
    search_fields = ["code", "item__sku", "item__name"]
    readonly_fields = ["item", "code", "unit_cost", "created_by_posting", "received_on"]
    raw_id_fields = ["item", "created_by_posting"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class MovementInline(admin.TabularInline):
    model = Movement
    fields = ["lot", "location", "quantity", "unit_cost"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Posting)
class PostingAdmin(ReadOnlyAdmin):
    list_display = ["id", "created_at", "kind", "reference", "reason", "created_by"]
    list_filter = ["kind", "reason"]
    list_select_related = ["created_by"]
    search_fields = ["reference", "note", "idempotency_key", "movements__lot__code"]
    date_hierarchy = "created_at"
    inlines = [MovementInline]


@admin.register(Movement)
class MovementAdmin(ReadOnlyAdmin):
    list_display = ["id", "posting", "lot", "location", "quantity", "unit_cost"]
    list_select_related = ["posting", "lot__item", "location"]
    search_fields = ["lot__code", "lot__item__sku", "posting__reference"]
    list_filter = ["posting__kind", "location"]


@admin.register(Balance)
class BalanceAdmin(ReadOnlyAdmin):
    list_display = ["lot", "location", "quantity"]
    list_select_related = ["lot__item", "location"]
    search_fields = ["lot__code", "lot__item__sku", "lot__item__name"]
    list_filter = ["location"]
