"""The stock ledger (DESIGN.md section 1). Stock changes only through stock.services."""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

from stock.units import Unit

QUANTITY = {"max_digits": 18, "decimal_places": 6}
MONEY = {"max_digits": 18, "decimal_places": 6}
# A unit cost keeps ten places: wax at 0.0018337 per gram, times a tonne, must still add up.
COST = {"max_digits": 24, "decimal_places": 10}
QUANTITY_PLACES = QUANTITY["decimal_places"]
COST_PLACES = COST["decimal_places"]


class ItemKind(models.TextChoices):
    MATERIAL = "material", "Material"
    VARIANT = "variant", "Product variant"
    SCRAP = "scrap", "Scrap"
    INTERMEDIATE = "intermediate", "Semi-finished"


class Item(models.Model):
    """Anything that can sit on a shelf. Materials and product variants each own one."""

    sku = models.CharField("SKU", max_length=64, unique=True)
    name = models.CharField(max_length=200)
    unit = models.CharField(max_length=8, choices=Unit.choices, default=Unit.G)
    kind = models.CharField(max_length=16, choices=ItemKind.choices, default=ItemKind.MATERIAL)
    lot_tracked = models.BooleanField(
        default=False, help_text="Each receipt keeps its supplier's lot code; draws name a lot."
    )
    shelf_life_days = models.PositiveIntegerField(null=True, blank=True)
    archived = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name", "sku"]
        indexes = [models.Index(fields=["kind", "archived"])]
        constraints = [
            models.UniqueConstraint(
                Lower("sku"),
                name="item_sku_unique_any_case",
                violation_error_message="An item with this SKU exists (in any case).",
            )
        ]

    def __str__(self):
        return self.name


class Location(models.Model):
    """A place stock sits: storage, the bench, a market stall."""

    name = models.CharField(max_length=100, unique=True)
    description = models.CharField(max_length=200, blank=True)
    archived = models.BooleanField(default=False)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                Lower("name"),
                name="location_name_unique_any_case",
                violation_error_message="A location with this name exists (in any case).",
            )
        ]

    def __str__(self):
        return self.name


class ImmutableQuerySet(models.QuerySet):
    """Ledger rows are written once: no bulk update or delete either."""

    def update(self, **kwargs):
        raise TypeError(f"{self.model.__name__} rows are never updated; post a correction.")

    def delete(self):
        raise TypeError(f"{self.model.__name__} rows are never deleted; post a reversal.")


class ImmutableModel(models.Model):
    objects = ImmutableQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise TypeError(f"{type(self).__name__} rows are never updated; post a correction.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError(f"{type(self).__name__} rows are never deleted; post a reversal.")


class PostingKind(models.TextChoices):
    RECEIPT = "receipt", "Receipt"
    ADJUSTMENT = "adjustment", "Adjustment"
    COUNT = "count", "Stock count"
    TRANSFER = "transfer", "Transfer"
    PRODUCTION = "production", "Production"
    DISPATCH = "dispatch", "Dispatch"
    REVERSAL = "reversal", "Reversal"


class Reason(models.TextChoices):
    COUNT_CORRECTION = "count_correction", "Count correction"
    DAMAGED = "damaged", "Damaged"
    SPILLED = "spilled", "Spilled"
    SAMPLE = "sample", "Sample"
    GIFT = "gift", "Gift"
    EXPIRED = "expired", "Expired"
    FOUND = "found", "Found"
    OTHER = "other", "Other"


class Posting(ImmutableModel):
    """One event that changes stock. Never updated or deleted."""

    kind = models.CharField(max_length=16, choices=PostingKind.choices)
    reference = models.CharField(max_length=100, blank=True)
    reason = models.CharField(max_length=32, choices=Reason.choices, blank=True)
    note = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="postings"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)
    idempotency_key = models.CharField(max_length=64, unique=True)
    fingerprint = models.CharField(
        max_length=64, blank=True, editable=False, help_text="What was submitted with the key."
    )
    reverses = models.OneToOneField(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="reversed_by"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("reverse_posting", "Can reverse a posting")]

    def __str__(self):
        return f"{self.get_kind_display()} #{self.pk}"


class Lot(models.Model):
    """A quantity of one item with one origin. Every unit of stock is in a lot."""

    item = models.ForeignKey(Item, on_delete=models.PROTECT, related_name="lots")
    code = models.CharField(max_length=64)
    expiry_date = models.DateField(null=True, blank=True)
    unit_cost = models.DecimalField(
        **COST, default=Decimal(0), help_text="Cost of one unit, in the item's unit."
    )
    created_by_posting = models.ForeignKey(
        Posting, on_delete=models.PROTECT, related_name="created_lots"
    )
    received_on = models.DateField(default=timezone.localdate)
    quarantined = models.BooleanField(default=False)
    quarantine_note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["item", "expiry_date", "received_on", "id"]
        permissions = [("quarantine_lot", "Can quarantine or release a lot")]
        constraints = [
            models.UniqueConstraint(fields=["item", "code"], name="lot_code_unique_per_item"),
            models.CheckConstraint(
                condition=Q(unit_cost__gte=0), name="lot_unit_cost_not_negative"
            ),
        ]

    def __str__(self):
        return f"{self.item.name} lot {self.code}"

    def is_expired(self, today=None):
        return self.expiry_date is not None and self.expiry_date < (today or timezone.localdate())


class Movement(ImmutableModel):
    """One line of a posting: a signed quantity of one lot at one location."""

    posting = models.ForeignKey(Posting, on_delete=models.PROTECT, related_name="movements")
    lot = models.ForeignKey(Lot, on_delete=models.PROTECT, related_name="movements")
    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="movements")
    quantity = models.DecimalField(**QUANTITY)
    unit_cost = models.DecimalField(**COST)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["lot", "location"])]
        constraints = [
            models.CheckConstraint(condition=~Q(quantity=0), name="movement_quantity_not_zero"),
            models.CheckConstraint(
                condition=Q(unit_cost__gte=0), name="movement_unit_cost_not_negative"
            ),
        ]

    def __str__(self):
        return f"{self.quantity:+} {self.lot} at {self.location}"


class Balance(models.Model):
    """Quantity on hand of a lot at a location: a cache of its movements, written with them."""

    lot = models.ForeignKey(Lot, on_delete=models.PROTECT, related_name="balances")
    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="balances")
    quantity = models.DecimalField(**QUANTITY, default=Decimal(0))

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["lot", "location"], name="balance_unique_lot_location"),
            models.CheckConstraint(condition=Q(quantity__gte=0), name="balance_not_negative"),
        ]
        indexes = [
            models.Index(
                fields=["location", "lot"], condition=Q(quantity__gt=0), name="balance_on_hand"
            )
        ]

    def __str__(self):
        return f"{self.quantity} of {self.lot} at {self.location}"
