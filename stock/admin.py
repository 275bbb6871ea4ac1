from django.contrib import admin

from stock.models import (
    Allocation,
    Balance,
    Item,
    Location,
    Loss,
    Lot,
    Movement,
    Posting,
    QuarantineEvent,
    Workshop,
)


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
    list_filter = ["quarantined", "item__kind", ("voided_by", admin.EmptyFieldListFilter)]
    list_select_related = ["item"]
    search_fields = ["code", "item__sku", "item__name"]
    # Quarantine is held and released on the lot's page, where it is recorded with a reason.
    readonly_fields = [
        "item",
        "code",
        "unit_cost",
        "created_by_posting",
        "received_on",
        "quarantined",
        "quarantine_note",
        "voided_by",
    ]
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
    list_display = ["id", "created_at", "kind", "reference", "reason", "owner", "created_by"]
    list_filter = ["kind", "reason", "owner"]
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


@admin.register(Allocation)
class AllocationAdmin(ReadOnlyAdmin):
    list_display = ["id", "posting", "movement", "output_lot", "quantity", "cost"]
    list_select_related = ["posting", "movement__lot__item", "output_lot__item"]
    search_fields = ["output_lot__code", "movement__lot__code", "posting__reference"]


@admin.register(Loss)
class LossAdmin(ReadOnlyAdmin):
    list_display = ["id", "posting", "kind", "item", "quantity", "value"]
    list_select_related = ["posting", "item"]
    list_filter = ["kind"]


@admin.register(QuarantineEvent)
class QuarantineEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "lot", "action", "created_by", "note"]
    list_select_related = ["lot__item", "created_by"]
    search_fields = ["lot__code", "note"]


@admin.register(Workshop)
class WorkshopAdmin(admin.ModelAdmin):
    """Changed on the workshop page (it checks the time zone and pattern); shown here."""

    list_display = ["name", "time_zone", "currency", "batch_reference_pattern"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
