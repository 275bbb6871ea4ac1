"""Batches in the admin: readable for corrections. A planned batch's dates and notes may be
corrected; a started one is read only (a correction is a reversal, never an edit)."""

from django.contrib import admin

from batches.models import Batch, BatchEvent, BatchLot, BatchStage, BatchVariant, Status


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class SplitInline(ReadOnlyInline):
    model = BatchVariant
    fields = ["variant", "planned", "made", "rejected", "in_progress"]
    readonly_fields = fields


class StageInline(ReadOnlyInline):
    model = BatchStage
    fields = ["position", "name", "duration_days", "posting", "done_at", "done_by", "note"]
    readonly_fields = fields


class LotInline(ReadOnlyInline):
    model = BatchLot
    fields = ["lot", "role", "variant", "stage"]
    readonly_fields = fields


class EventInline(ReadOnlyInline):
    model = BatchEvent
    fields = ["at", "kind", "stage_name", "user", "posting", "note"]
    readonly_fields = fields


@admin.register(Batch)
class BatchAdmin(admin.ModelAdmin):
    list_display = ["reference", "product", "status", "production_date", "planned_units", "short"]
    list_filter = ["status", "product"]
    search_fields = ["reference", "notes"]
    list_select_related = ["product"]
    date_hierarchy = "production_date"
    inlines = [SplitInline, StageInline, LotInline, EventInline]
    editable_when_planned = ["production_date", "expected_completion", "notes"]

    def get_readonly_fields(self, request, obj=None):
        every = [f.name for f in Batch._meta.fields if f.name != "id"]
        if obj is not None and obj.status == Status.PLANNED:
            return [f for f in every if f not in self.editable_when_planned]
        return every

    def has_add_permission(self, request):
        return False  # a batch is planned on its page, where the version is frozen

    def has_delete_permission(self, request, obj=None):
        return False
