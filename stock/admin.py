from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from stock.models import (
    Allocation,
    Balance,
    Customer,
    Dispatch,
    DispatchLine,
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


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    """Names and addresses may be corrected; a customer who received something stays, so a
    recall can still reach them."""

    list_display = ["name", "email", "phone", "created_at"]
    search_fields = ["name", "email"]

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.dispatches.exists():
            return False
        return super().has_delete_permission(request, obj)


class DispatchLineInline(admin.TabularInline):
    model = DispatchLine
    fields = ["item", "quantity"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Dispatch)
class DispatchAdmin(ReadOnlyAdmin):
    """Shown, never edited: a dispatch is corrected by reversing it on its page (a return, a
    cancelled order) and recording it again."""

    list_display = ["__str__", "dispatched_on", "customer", "channel", "order_reference", "state"]
    list_select_related = ["customer", "posting__reversed_by"]
    list_filter = ["channel"]
    search_fields = ["customer__name", "customer__email", "order_reference", "channel"]
    date_hierarchy = "dispatched_on"
    raw_id_fields = ["customer"]
    fields = [
        "customer",
        "dispatched_on",
        "channel",
        "order_reference",
        "note",
        "created_by",
        "created_at",
        "posting_link",
        "correct_it",
    ]
    readonly_fields = fields
    inlines = [DispatchLineInline]

    @admin.display(description="state")
    def state(self, obj):
        return "reversed" if getattr(obj.posting, "reversed_by", None) else "sent"

    @admin.display(description="posting")
    def posting_link(self, obj):
        if obj.posting_id is None:
            return "—"
        url = reverse("admin:stock_posting_change", args=[obj.posting_id])
        return format_html('<a href="{}">{}</a>', url, obj.posting)

    @admin.display(description="to correct it")
    def correct_it(self, obj):
        url = reverse("stock:dispatch", args=[obj.pk])
        return format_html(
            '<a href="{}">Reverse it on its page</a> (a return or a cancelled order), then '
            "record the dispatch again.",
            url,
        )
