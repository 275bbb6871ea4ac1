"""Production batches: a recipe version made in a planned quantity split over variants, run stage
by stage, each stage one production posting in the ledger (docs/design.md, "Batches").

The ledger holds what stock moved and what it cost; these rows hold what the maker planned and
did: the split, the stages and who did them, the notes. Nothing here is a second copy of stock
or cost: pages read quantities and unit costs from the postings and lots the batch owns.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from recipes.models import Product, RecipeVersion, Stage, Variant
from stock.limits import QUANTITY
from stock.models import Item, Location, Posting


class Status(models.TextChoices):
    PLANNED = "planned", "Planned"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"


class Batch(models.Model):
    reference = models.CharField(max_length=40, unique=True)
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="batches")
    version = models.ForeignKey(RecipeVersion, on_delete=models.PROTECT, related_name="batches")
    location = models.ForeignKey(
        Location,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Where the batch draws its materials and puts what it makes.",
    )
    planned_units = models.DecimalField(**QUANTITY)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PLANNED)
    production_date = models.DateField()
    expected_completion = models.DateField(null=True, blank=True)
    ready_on = models.DateField(
        null=True, blank=True, help_text="Set by a stage with a duration (curing)."
    )
    notes = models.TextField(blank=True)
    short = models.BooleanField(
        default=False, help_text="Planned although stock was short of what it needs."
    )
    stages_done = models.PositiveIntegerField(default=0)
    plan_key = models.CharField(max_length=64, unique=True, null=True, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    completed_on = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["-production_date", "-id"]
        verbose_name_plural = "batches"
        permissions = [("reverse_batch", "Can reverse a completed batch")]
        constraints = [
            models.CheckConstraint(condition=Q(planned_units__gt=0), name="batch_planned_positive")
        ]
        indexes = [models.Index(fields=["status", "production_date"])]

    def __str__(self):
        return self.reference

    @property
    def is_open(self) -> bool:
        return self.status in (Status.PLANNED, Status.RUNNING)


class BatchVariant(models.Model):
    """One variant's part of a batch: planned units, and once completed what was saleable,
    rejected, and left in progress."""

    batch = models.ForeignKey(Batch, on_delete=models.CASCADE, related_name="splits")
    variant = models.ForeignKey(Variant, on_delete=models.PROTECT, related_name="+")
    planned = models.DecimalField(**QUANTITY)
    made = models.DecimalField(**QUANTITY, default=0)
    rejected = models.DecimalField(**QUANTITY, default=0)
    in_progress = models.DecimalField(**QUANTITY, default=0)

    class Meta:
        ordering = ["batch", "variant__position", "variant_id"]
        constraints = [
            models.UniqueConstraint(fields=["batch", "variant"], name="batch_variant_once"),
            models.CheckConstraint(
                condition=Q(planned__gte=0)
                & Q(made__gte=0)
                & Q(rejected__gte=0)
                & Q(in_progress__gte=0),
                name="batch_variant_not_negative",
            ),
        ]

    def __str__(self):
        return f"{self.batch}: {self.variant.name}"


class BatchStage(models.Model):
    """One stage of a batch, copied from its recipe version when the batch is planned (or one
    stage, "Make", when the recipe has none). `posting` is the production posting that did it,
    while that stands (a reversal clears it; the event log keeps the history)."""

    batch = models.ForeignKey(Batch, on_delete=models.CASCADE, related_name="stages")
    position = models.PositiveIntegerField()
    name = models.CharField(max_length=100)
    recipe_stage = models.ForeignKey(
        Stage, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    duration_days = models.PositiveIntegerField(default=0)
    expected_loss_percent = models.DecimalField(max_digits=5, decimal_places=2, default=0)
    output_item = models.ForeignKey(
        Item, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    posting = models.OneToOneField(
        Posting, on_delete=models.PROTECT, null=True, blank=True, related_name="batch_stage"
    )
    done_at = models.DateTimeField(null=True, blank=True)
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["batch", "position"]
        constraints = [
            models.UniqueConstraint(fields=["batch", "position"], name="batch_stage_position_once")
        ]

    def __str__(self):
        return f"{self.batch}: {self.name}"

    @property
    def is_done(self) -> bool:
        return self.posting_id is not None


class EventKind(models.TextChoices):
    PLANNED = "planned", "Planned"
    STARTED = "started", "Started"
    STAGE = "stage", "Stage done"
    COMPLETED = "completed", "Completed"
    FINISHED_REST = "finished_rest", "Finished the rest"
    CANCELLED = "cancelled", "Cancelled"
    REVERSED = "reversed", "Reversed"


class BatchEvent(models.Model):
    """The batch's timeline: who did what and when, with the posting it wrote. Append only."""

    batch = models.ForeignKey(Batch, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=16, choices=EventKind.choices)
    stage_name = models.CharField(max_length=100, blank=True)
    posting = models.ForeignKey(
        Posting, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    note = models.TextField(blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["batch", "at", "id"]

    def __str__(self):
        return f"{self.batch}: {self.get_kind_display()}"


class LotRole(models.TextChoices):
    WIP = "wip", "Work in progress"
    SALEABLE = "saleable", "Saleable"
    REST = "rest", "Left in progress"
    SCRAP = "scrap", "Scrap"


class BatchLot(models.Model):
    """A lot one of the batch's postings made, and what it is to the batch: which stage, which
    variant, saleable or work in progress. Quantities and costs stay on the lot and its
    balances; this says only whose it is."""

    batch = models.ForeignKey(Batch, on_delete=models.CASCADE, related_name="lots")
    lot = models.OneToOneField("stock.Lot", on_delete=models.PROTECT, related_name="batch_lot")
    role = models.CharField(max_length=12, choices=LotRole.choices)
    variant = models.ForeignKey(
        Variant, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    stage = models.PositiveIntegerField()

    class Meta:
        ordering = ["batch", "stage", "id"]

    def __str__(self):
        return f"{self.batch}: {self.lot}"
