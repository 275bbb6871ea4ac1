"""The stock ledger (docs/design.md). Stock changes only through stock.engine.posting_create."""

import time
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

from stock.limits import (
    COST,
    COST_PLACES,
    MONEY,
    QUANTITY,
    QUANTITY_PLACES,
    VALUE,
)
from stock.units import Unit

__all__ = ["COST", "COST_PLACES", "MONEY", "QUANTITY", "QUANTITY_PLACES", "VALUE"]


class Workshop(models.Model):
    """The workshop's own settings, set by its Owner on the first-run page. One row (pk 1)."""

    name = models.CharField(max_length=100, default="My workshop")
    time_zone = models.CharField(
        max_length=64,
        default="UTC",
        help_text="Where the workshop is: 'today' (expiry, received dates) follows it.",
    )
    currency = models.CharField(max_length=3, default="EUR")
    batch_reference_pattern = models.CharField(
        max_length=40,
        default="{CODE}-{YY}{MM}{DD}-{SEQ}",
        help_text="How batch references are made: {CODE} is the product's code, {YYYY} {YY} "
        "{MM} {DD} the production date, {SEQ} the day's number (01, 02...).",
    )
    production_location = models.ForeignKey(
        "Location",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Where batches draw their materials and deliver what they make.",
    )
    configured_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(pk=1), name="workshop_single_row")]
        permissions = [("configure_workshop", "Can change the workshop's settings")]

    def __str__(self):
        return self.name

    @property
    def zone(self) -> ZoneInfo:
        try:
            return ZoneInfo(self.time_zone)
        except (ValueError, ZoneInfoNotFoundError):
            return ZoneInfo("UTC")

    def batch_reference(self, *, code: str, day: date, seq: int) -> str:
        """A batch reference from the pattern: CND-261123-01."""
        return (
            self.batch_reference_pattern.replace("{CODE}", code)
            .replace("{YYYY}", f"{day:%Y}")
            .replace("{YY}", f"{day:%y}")
            .replace("{MM}", f"{day:%m}")
            .replace("{DD}", f"{day:%d}")
            .replace("{SEQ}", f"{seq:02d}")
        )


# The workshop row is read once per request (inside `workshop_scope`, which the site's
# middleware opens), and outside requests at most every few seconds per process: "today" is
# asked for by every posting. Saving it through stock.services clears the cache at once.
_WORKSHOP_CACHE: dict = {}
WORKSHOP_CACHE_SECONDS = 5
_REQUEST_WORKSHOP: ContextVar[dict | None] = ContextVar("workshop", default=None)


@contextmanager
def workshop_scope():
    """Within it, the workshop's settings are read from the database once."""
    token = _REQUEST_WORKSHOP.set({})
    try:
        yield
    finally:
        _REQUEST_WORKSHOP.reset(token)


def _read_workshop() -> "Workshop":
    return Workshop.objects.select_related("production_location").filter(pk=1).first() or Workshop(
        pk=1, time_zone=settings.TIME_ZONE, currency=settings.CURRENCY
    )


def current_workshop() -> Workshop:
    """The workshop's settings; before its Owner saves them, defaults from the environment
    (TIME_ZONE, CURRENCY), not yet stored."""
    scope = _REQUEST_WORKSHOP.get()
    if scope is not None:
        if "row" not in scope:
            scope["row"] = _read_workshop()
        return scope["row"]
    cached = _WORKSHOP_CACHE.get("row")
    if cached is not None and time.monotonic() - cached[0] < WORKSHOP_CACHE_SECONDS:
        return cached[1]
    workshop = _read_workshop()
    _WORKSHOP_CACHE["row"] = (time.monotonic(), workshop)
    return workshop


def forget_workshop() -> None:
    _WORKSHOP_CACHE.clear()
    scope = _REQUEST_WORKSHOP.get()
    if scope is not None:
        scope.clear()


def production_location() -> "Location | None":
    """Where batches draw from and deliver to: the workshop's setting or, until it is set, the
    first location made that is not archived."""
    chosen = current_workshop().production_location
    if chosen is not None and not chosen.archived:
        return chosen
    return Location.objects.filter(archived=False).order_by("pk").first()


def workshop_today() -> date:
    """Today where the workshop is. Every place where a moment becomes a date (expiry checks,
    received dates, "expiring soon") asks this, never the server's or UTC's date."""
    return timezone.localdate(timezone=current_workshop().zone)


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
    net_weight_g = models.DecimalField(
        "net weight (g)",
        max_digits=18,
        decimal_places=6,
        null=True,
        blank=True,
        help_text="Items counted in pieces: the mass of one, so a stage's losses add up in grams.",
    )
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
    # The app whose service wrote this posting and reverses it ("batches"), and its reference
    # there (the batch's id). Empty: a stock posting, reversed by the generic reversal.
    owner = models.CharField(max_length=32, blank=True, default="")
    owner_ref = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("reverse_posting", "Can reverse a posting")]
        indexes = [models.Index(fields=["owner", "owner_ref"], name="posting_owner")]

    def __str__(self):
        return f"{self.get_kind_display()} #{self.pk}"


def usable_lot(today: date, prefix: str = "") -> Q:
    """The one definition of a usable lot (one that may be drawn without naming a reason): not
    quarantined, not expired, not voided. `prefix` reaches it from another model ("lot__");
    `Lot.is_usable` says the same for one lot in hand, the engine for a locked row."""
    return (
        (Q(**{f"{prefix}expiry_date__isnull": True}) | Q(**{f"{prefix}expiry_date__gte": today}))
        & Q(**{f"{prefix}quarantined": False})
        & Q(**{f"{prefix}voided_by__isnull": True})
    )


def lot_is_usable(*, quarantined: bool, voided: bool, expiry: date | None, today: date) -> bool:
    """`usable_lot` for one lot's figures already read (a lot in hand, a locked row)."""
    return not quarantined and not voided and (expiry is None or expiry >= today)


class LotQuerySet(models.QuerySet):
    def usable(self, today: date):
        return self.filter(usable_lot(today))

    def unusable(self, today: date):
        return self.exclude(pk__in=self.usable(today).values("pk"))


class Lot(models.Model):
    """A quantity of one item with one origin. Every unit of stock is in a lot.

    What a lot is (item, code, unit cost, creating posting) never changes: a trigger refuses it
    on PostgreSQL. Quarantine may be set and lifted; `voided_by` is set once, by the reversal of
    the posting that created the lot, so its code can be used again.
    """

    item = models.ForeignKey(Item, on_delete=models.PROTECT, related_name="lots")
    code = models.CharField(max_length=64)
    expiry_date = models.DateField(null=True, blank=True)
    unit_cost = models.DecimalField(
        **COST, default=Decimal(0), help_text="Cost of one unit, in the item's unit."
    )
    created_by_posting = models.ForeignKey(
        Posting, on_delete=models.PROTECT, related_name="created_lots"
    )
    received_on = models.DateField(default=workshop_today)
    quarantined = models.BooleanField(default=False)
    quarantine_note = models.TextField(blank=True)
    voided_by = models.ForeignKey(
        Posting,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="voided_lots",
        help_text="The reversal that undid the posting which made this lot.",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = LotQuerySet.as_manager()

    class Meta:
        ordering = ["item", "expiry_date", "received_on", "id"]
        permissions = [
            ("quarantine_lot", "Can hold a lot in quarantine"),
            ("release_lot", "Can release a lot from quarantine"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["item", "code"],
                condition=Q(voided_by__isnull=True),
                name="lot_code_unique_per_item_unless_voided",
            ),
            models.CheckConstraint(
                condition=Q(unit_cost__gte=0), name="lot_unit_cost_not_negative"
            ),
        ]

    def __str__(self):
        return f"{self.item.name} lot {self.code}"

    def is_expired(self, today: date | None = None) -> bool:
        return self.expiry_date is not None and self.expiry_date < (today or workshop_today())

    def is_usable(self, today: date) -> bool:
        """The same rule as `Lot.objects.usable(today)`, for a lot already in hand."""
        return lot_is_usable(
            quarantined=self.quarantined,
            voided=self.voided_by_id is not None,
            expiry=self.expiry_date,
            today=today,
        )


class Movement(ImmutableModel):
    """One line of a posting: a signed quantity of one lot at one location."""

    posting = models.ForeignKey(Posting, on_delete=models.PROTECT, related_name="movements")
    lot = models.ForeignKey(Lot, on_delete=models.PROTECT, related_name="movements")
    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="movements")
    quantity = models.DecimalField(**QUANTITY)
    unit_cost = models.DecimalField(**COST)
    # Which of the posting's lines wrote it (a draw over several lots writes several), counted
    # from 0; a production posting's outputs follow its input lines.
    line = models.PositiveIntegerField(default=0)

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


class Allocation(ImmutableModel):
    """Genealogy: how much of one input movement of a production posting (quantity and cost)
    went into one output lot of the same posting. Written with the posting, never changed."""

    posting = models.ForeignKey(Posting, on_delete=models.PROTECT, related_name="allocations")
    movement = models.ForeignKey(Movement, on_delete=models.PROTECT, related_name="allocations")
    output_lot = models.ForeignKey(Lot, on_delete=models.PROTECT, related_name="allocations_in")
    quantity = models.DecimalField(**QUANTITY, help_text="Of the input, in the input's unit.")
    cost = models.DecimalField(**VALUE)

    class Meta:
        ordering = ["id"]  # its foreign keys are indexed already: the trace walks them
        constraints = [
            models.CheckConstraint(
                condition=Q(quantity__gte=0) & Q(cost__gte=0), name="allocation_not_negative"
            )
        ]

    def __str__(self):
        return f"{self.quantity} of movement #{self.movement_id} into {self.output_lot}"


class LossKind(models.TextChoices):
    WASTE = "waste", "Waste"
    REJECTION = "rejection", "Rejected"
    SHRINKAGE = "shrinkage", "Expected loss"
    OTHER = "other", "Other loss"


class Loss(ImmutableModel):
    """What a production posting consumed that went into no lot: waste, rejects, water lost
    while curing. Its value is the cost the posting gave it (usually none), so a posting's
    input cost always equals its outputs' value plus its losses' value."""

    posting = models.ForeignKey(Posting, on_delete=models.PROTECT, related_name="losses")
    kind = models.CharField(max_length=16, choices=LossKind.choices)
    item = models.ForeignKey(Item, on_delete=models.PROTECT, related_name="+")
    quantity = models.DecimalField(**QUANTITY)
    value = models.DecimalField(**VALUE, default=Decimal(0))
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(quantity__gte=0) & Q(value__gte=0), name="loss_not_negative"
            )
        ]

    def __str__(self):
        return f"{self.get_kind_display()}: {self.quantity} {self.item.unit} of {self.item}"


class QuarantineAction(models.TextChoices):
    HOLD = "hold", "Held"
    RELEASE = "release", "Released"


class QuarantineEvent(ImmutableModel):
    """Each hold and release of a lot: who, when and why."""

    lot = models.ForeignKey(Lot, on_delete=models.PROTECT, related_name="quarantine_events")
    action = models.CharField(max_length=8, choices=QuarantineAction.choices)
    note = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.lot} {self.get_action_display().lower()}"


# Customers and dispatches ------------------------------------------------------------------


class Customer(models.Model):
    """Who received stock. A dispatch names one, so a recall can reach them."""

    name = models.CharField(max_length=200)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=40, blank=True)
    address = models.TextField(blank=True)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name", "id"]
        indexes = [models.Index(Lower("name"), name="customer_name_lower")]

    def __str__(self):
        return self.name


class Dispatch(models.Model):
    """Stock sent to a customer: one posting out of stock (kind dispatch), owned by the
    dispatch, reversed only through its own service (a return, a cancelled order)."""

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="dispatches")
    posting = models.OneToOneField(
        Posting, on_delete=models.PROTECT, null=True, blank=True, related_name="dispatch"
    )
    dispatched_on = models.DateField()
    channel = models.CharField(max_length=40, blank=True, help_text="Etsy, Shopify, a market…")
    order_reference = models.CharField(max_length=64, blank=True)
    note = models.TextField(blank=True)
    key = models.CharField(max_length=64, unique=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-dispatched_on", "-id"]
        verbose_name_plural = "dispatches"
        indexes = [models.Index(fields=["channel", "order_reference"])]

    def __str__(self):
        return f"Dispatch #{self.pk}"


class DispatchLine(models.Model):
    """What the customer ordered: an item (a variant's SKU) and how many. The lots it came from
    are the posting's movements."""

    dispatch = models.ForeignKey(Dispatch, on_delete=models.CASCADE, related_name="lines")
    item = models.ForeignKey(Item, on_delete=models.PROTECT, related_name="+")
    quantity = models.DecimalField(**QUANTITY)

    class Meta:
        ordering = ["dispatch", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="dispatch_line_positive")
        ]

    def __str__(self):
        return f"{self.quantity} {self.item}"
