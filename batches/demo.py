"""Demo batches for `manage.py seed_demo`: five months of a small workshop's production.

Twelve batches completed over recent months, with the variance real ones have: candles giving
22 to 24 of 24, slight over-pours of wax, one short batch (19 of 24, its rejects and why), wax
offcuts kept as scrap at what they will fetch, a spill written off, wooden wicks used in place of
the cotton ones. Then what is on the go today: a soap loaf curing, a candle batch running, a lip
balm planned.

Every figure goes through the real services: the history's deliveries through
materials.services, each batch through batches.services (plan, start, one stage at a time), so
stock, cost, genealogy and the batches' timelines agree and check_ledger passes. The maker draws
first-expiry-first from what was on the shelf that day (`_from_shelf`), so a batch never uses a
lot delivered after it, and the materials demo's stock of today (the low cedar oil, the expired
lavender lot) is left as that demo set it. Dates: `workshop_clock`.

Seeding again does nothing once the demo batches exist.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from decimal import ROUND_CEILING, Decimal
from decimal import Decimal as D
from unittest import mock

from django.db.models import F
from django.utils import timezone

from batches import services
from batches.models import Batch
from materials import services as materials
from materials.models import Material, Supplier
from recipes.models import Product, RecipeVersion
from recipes.selectors import in_material_unit, line_quantity, version_lines
from stock.engine import posting_with_key
from stock.models import (
    Balance,
    Item,
    ItemKind,
    current_workshop,
    production_location,
    usable_lot,
    workshop_today,
)
from stock.units import Unit

KEY = "demo-batch-"  # every demo batch's plan key starts so; the stages' postings' keys too

# The clock ----------------------------------------------------------------------------------

_REAL_DATETIME = datetime


class _AnyDatetime(type):
    """The stand-in clock class is still `datetime` to isinstance, whatever made the value."""

    def __instancecheck__(cls, obj) -> bool:
        return isinstance(obj, _REAL_DATETIME)


@contextmanager
def workshop_clock(moment: datetime) -> Iterator[None]:
    """Run the block as if it were `moment` (aware), the clock running on from there.

    The services take "now" and "today" from the clock and, rightly, take no date for what they
    record: a stage is recorded when it is done. A demo history needs past dates, so here, and
    only while seeding, the clock itself is set back; the services run unchanged, and every date
    they write (a lot's received_on, a posting's created_at, a batch's completed_on and ready_on,
    a stage's done_at, a timeline event's `at`) is the one a maker would have seen that day.

    What is replaced is `datetime` in django.utils.timezone, the one place every "now" is read:
    `timezone.now()` calls `datetime.now()` from its own module, and `workshop_today()` goes
    through `timezone.localdate()` to it. Patching `timezone.now` itself would not do: the models'
    `default=timezone.now` (Posting.created_at, BatchEvent.at) hold the function taken at import,
    and `workshop_today` is imported by name into stock.engine and batches.services. The check
    on entry makes a Django that reads the clock otherwise fail here, rather than date the whole
    history today. Not for threads or requests: the seeding command only.
    """
    offset = moment - _REAL_DATETIME.now(UTC)

    class Shifted(_REAL_DATETIME, metaclass=_AnyDatetime):
        @classmethod
        def now(cls, tz=None):
            return _REAL_DATETIME.now(tz) + offset

    with mock.patch.object(timezone, "datetime", Shifted):
        if abs(timezone.now() - moment) > timedelta(minutes=5):
            raise RuntimeError("The demo clock could not be set: django.utils.timezone changed.")
        yield


def at(days: int, hour: int = 9, minute: int = 0) -> datetime:
    """That hour, `days` from the workshop's today (negative: ago), in its time zone."""
    day = workshop_today() + timedelta(days=days)
    return datetime.combine(day, time(hour, minute), tzinfo=current_workshop().zone)


@contextmanager
def as_of(days: int, hour: int = 9, minute: int = 0) -> Iterator[None]:
    """`workshop_clock` at that hour, `days` from today; today itself keeps the real clock (a
    later hour today may still be to come)."""
    if days == 0:
        yield
        return
    with workshop_clock(at(days, hour, minute)):
        yield


# The recipes were written before the first batch of the history: seed_demo seeds them as of then.
RECIPES_WRITTEN = -160

# Deliveries before the materials demo's: what the history's batches used ------------------------

# key, supplier, days from today, shipping, supplier's reference,
# lines: (sku, quantity, unit, price, supplier's lot code). Each lot keeps for its material's
# shelf life from the day it came, so it expires before the materials demo's lot of the same
# material: the maker, drawing first-expiry-first, finishes these first.
DELIVERIES = [
    (
        "demo-delivery-h1",
        "Wick & Wax Supply Co.",
        -150,
        "18.00",
        "WW-2207",
        [
            ("WAX-SOY464", "20", "kg", "80.00", ""),
            ("WAX-BEES", "1", "kg", "16.00", ""),
            ("WICK-CD12", "200", "each", "12.50", ""),
            ("STICKER-W", "500", "each", "6.50", ""),
        ],
    ),
    (
        "demo-delivery-h2",
        "Botanica Oils",
        -149,
        "12.50",
        "BO-7731",
        [
            ("OIL-OLIVE", "2.5", "kg", "22.00", "OP-2605-A"),
            ("OIL-COCO", "2", "kg", "12.60", "CO-2605"),
            ("OIL-SHEA", "1", "kg", "12.40", "SH-2605"),
            ("OIL-CASTOR", "500", "g", "5.20", "CA-2604"),
            ("LYE-NAOH", "1", "kg", "5.80", "NA-2603"),
            ("FO-LAV", "1000", "ml", "86.00", "LAV-2606"),
            ("FO-CEDAR", "500", "ml", "35.00", "CED-2605"),
            ("FO-FIG", "500", "ml", "40.00", "FIG-2606"),
            ("EO-EUCA", "100", "ml", "13.50", "EU-2604"),
            ("COL-CLAY", "250", "g", "3.90", ""),
            ("WATER-DIST", "5", "kg", "4.50", ""),
        ],
    ),
    (
        "demo-delivery-h3",
        "Jar & Box Packaging",
        -147,
        "15.00",
        "JB-1180",
        [
            ("JAR-AMB200", "192", "each", "158.40", ""),
            ("LID-AMB", "192", "each", "46.00", ""),
            ("LABEL-JAR", "250", "each", "36.00", ""),
            ("JAR-TIN100", "60", "each", "37.20", ""),
            ("BOX-SOAP", "100", "each", "22.00", ""),
            ("LABEL-SOAP", "100", "each", "9.00", ""),
            ("TISSUE", "100", "each", "4.50", ""),
        ],
    ),
    (
        "demo-delivery-h4",
        "Wick & Wax Supply Co.",
        -80,
        "18.00",
        "WW-2291",
        [
            ("WAX-SOY464", "20", "kg", "84.00", ""),
            ("WICK-WOOD", "50", "each", "11.50", ""),
        ],
    ),
    (
        "demo-delivery-h5",
        "Botanica Oils",
        -77,
        "9.50",
        "BO-7902",
        [
            ("FO-LAV", "500", "ml", "44.50", "LAV-2609"),
            ("FO-FIG", "750", "ml", "63.00", "FIG-2609"),
        ],
    ),
]

# The batches ------------------------------------------------------------------------------------

SCRAP_SKU = "SCRAP-WAX"
WAX = "WAX-SOY464"


@dataclass(frozen=True)
class DemoBatch:
    """One batch of the history. `split` and `made` are units per variant, in the product's
    variant order (0: that variant is not in the batch); `made` left empty: all were good.
    `more` is what the maker used beyond the recipe (an over-pour; negative: less), `instead` a
    material set to 0 and another used in its place (an extra line), `scrap` (grams of wax
    offcuts, what they will fetch), `waste` (sku, quantity, note: drawn, and written off).
    `stages`: how many stages to record (None: all, completing it); `start` starts it with
    none recorded."""

    key: str
    product: str
    day: int  # the production date, days from today
    split: tuple[int, ...]
    version: int | None = None  # None: the latest
    made: tuple[int, ...] = ()
    reason: str = ""
    more: dict[str, str] = field(default_factory=dict)
    instead: tuple[str, str] | None = None
    scrap: tuple[str, str] | None = None
    waste: tuple[str, str, str] | None = None
    note: str = ""
    plan_note: str = ""
    planned_on: int | None = None  # days from today; None: three days before `day`
    stages: int | None = None
    start: bool = False


# Two things the dates and splits keep for the materials demo's stock of today: no lavender oil
# is drawn between 30 and 20 days ago, while its lot LAV-2502 was still good (it stays on the
# shelf, expired); and the cedar candles (31 x 16 ml, the last 4 ml tipped in) use up the
# history's 500 ml of cedar oil exactly, so cedar stays at its reorder point. Its lot CED-2609,
# expiring soon, is left for the batch running today.
BATCHES = [
    DemoBatch(
        "cnd-1",
        "CND",
        -140,
        (8, 8, 8),
        version=1,
        made=(8, 7, 8),
        reason="A wick drowned in the melt pool.",
        more={WAX: "60"},
        plan_note="First pour after the summer.",
    ),
    DemoBatch("soap-1", "SOAP", -133, (5, 5)),
    DemoBatch("cnd-2", "CND", -126, (10, 7, 7), version=1, more={WAX: "35"}),
    DemoBatch("balm-1", "BALM", -119, (20,)),
    DemoBatch(
        "cnd-3",
        "CND",
        -105,
        (8, 8, 8),
        version=1,
        made=(6, 7, 6),
        reason="Frosting and sink holes: the heating was off overnight and the jars were cold.",
        more={"LABEL-JAR": "-5"},
        note="Five rejects, not labelled; warm the jars first next time.",
    ),
    DemoBatch(
        "soap-2",
        "SOAP",
        -98,
        (5, 5),
        made=(5, 4),
        reason="Crumbled at the edge when cut.",
        more={"BOX-SOAP": "-1", "LABEL-SOAP": "-1"},
    ),
    DemoBatch(
        "cnd-4",
        "CND",
        -84,
        (8, 8, 8),
        made=(8, 8, 7),
        reason="A jar cracked as it cooled.",
        more={WAX: "240"},
        scrap=("180", "0.60"),
        note="Melted too much: the rest set in a tray, kept as offcuts for wax melts.",
        plan_note="First batch on version 2: less wax, the jars were filled too high.",
    ),
    DemoBatch(
        "cnd-5",
        "CND",
        -70,
        (12, 0, 12),
        instead=("WICK-CD12", "WICK-WOOD"),
        more={WAX: "20"},
        note="Wooden wicks in place of the CD-12: trying the crackle customers asked for.",
    ),
    DemoBatch("soap-3", "SOAP", -63, (6, 4)),
    DemoBatch(
        "balm-2",
        "BALM",
        -56,
        (20,),
        made=(19,),
        reason="One tin dented in the lid press.",
    ),
    DemoBatch(
        "cnd-6",
        "CND",
        -42,
        (12, 0, 12),
        made=(11, 0, 11),
        reason="Wick off-centre.",
        more={WAX: "30"},
        waste=(WAX, "150", "Spilled when the pouring pitcher tipped."),
    ),
    DemoBatch("cnd-7", "CND", -14, (12, 0, 12), more={WAX: "45"}),
    # What is on the go today.
    DemoBatch("soap-4", "SOAP", -10, (5, 5), stages=1, plan_note="For the market stall."),
    DemoBatch("cnd-8", "CND", 0, (8, 8, 8), planned_on=-2, stages=0, start=True),
    DemoBatch("balm-3", "BALM", 3, (20,), planned_on=0, stages=0),
]


def seed(*, user) -> None:
    """The history, in the order it happened, each step on its own day and hour."""
    if Batch.objects.filter(plan_key__startswith=KEY).exists():
        return
    world = _World.load()
    if world is None:
        return  # not the demo workshop's products or materials
    steps: list[tuple[int, int, int, int, Callable[[], None]]] = []
    for key, supplier, days, shipping, reference, lines in DELIVERIES:
        receive = _delivery(world, user, key, supplier, shipping, reference, lines)
        steps.append((days, 8, 30, len(steps), receive))
    for spec in BATCHES:
        for days, hour, minute, step in _Run(world, spec, user).steps():
            steps.append((days, hour, minute, len(steps), step))
    for days, hour, minute, _, step in sorted(steps, key=lambda s: s[:4]):
        with as_of(days, hour, minute):
            step()


class _World:
    """What the demo's batches are made of, found once."""

    products: dict[str, Product]
    materials: dict[str, Material]
    suppliers: dict[str, Supplier]
    scrap: Item

    @classmethod
    def load(cls) -> "_World | None":
        world = cls()
        world.products = {
            p.code: p for p in Product.objects.filter(code__in=["CND", "SOAP", "BALM"])
        }
        skus = {sku for *_, lines in DELIVERIES for sku, *_ in lines}
        world.materials = {
            m.item.sku: m
            for m in Material.objects.select_related("item").filter(item__sku__in=skus)
        }
        names = {supplier for _, supplier, *_ in DELIVERIES}
        world.suppliers = {s.name: s for s in Supplier.objects.filter(name__in=names)}
        if (
            len(world.products) < 3
            or len(world.materials) < len(skus)
            or len(world.suppliers) < len(names)
            or production_location() is None
        ):
            return None
        world.scrap, _ = Item.objects.get_or_create(
            sku=SCRAP_SKU,
            defaults={"name": "Wax offcuts", "unit": Unit.G, "kind": ItemKind.SCRAP},
        )
        return world

    def version(self, code: str, number: int | None) -> RecipeVersion:
        versions = RecipeVersion.objects.filter(recipe__product=self.products[code])
        if number is None:
            return versions.order_by("-number").first()
        return versions.get(number=number)


def _delivery(world, user, key, supplier, shipping, reference, lines) -> Callable[[], None]:
    def receive() -> None:
        if posting_with_key(key):
            return
        today = workshop_today()
        materials.receipt_create(
            supplier=world.suppliers[supplier],
            reference=reference,
            received_on=today,
            shipping=D(shipping),
            lines=[
                materials.ReceiptLineInput(
                    material=world.materials[sku],
                    quantity=D(quantity),
                    unit=unit,
                    location=production_location(),
                    price=D(price),
                    lot_code=code,
                )
                for sku, quantity, unit, price, code in lines
            ],
            user=user,
            idempotency_key=key,
        )

    return receive


class _Run:
    """One demo batch as the steps a maker took: plan, start, each stage on its day."""

    def __init__(self, world: _World, spec: DemoBatch, user):
        self.world, self.spec, self.user = world, spec, user
        self.batch: Batch | None = None

    def steps(self) -> list[tuple[int, int, int, Callable[[], None]]]:
        spec = self.spec
        self.version = self.world.version(spec.product, spec.version)
        self.planned_on = spec.day - 3 if spec.planned_on is None else spec.planned_on
        steps = [(self.planned_on, 17, 30, self.plan)]
        if spec.start:
            steps.append((spec.day, 8, 45, self.begin))
        stages = list(self.version.stages.order_by("position", "id")) or [None]
        self.todo = len(stages) if spec.stages is None else spec.stages
        day = spec.day
        for position, stage in enumerate(stages[: self.todo]):
            if position:
                day += (
                    stage.duration_days
                )  # a stage that takes days (curing) is recorded after them
            steps.append((day, 15 if position == 0 else 10 + position, 0, self._stage(position)))
        return steps

    def plan(self) -> None:
        spec = self.spec
        variants = list(self.world.products[spec.product].variants.order_by("position", "id"))
        self.batch = services.batch_plan(
            version=self.version,
            split={v: D(n) for v, n in zip(variants, spec.split, strict=True) if n},
            production_date=workshop_today() + timedelta(days=spec.day - self.planned_on),
            user=self.user,
            idempotency_key=f"{KEY}{spec.key}",
            notes=spec.plan_note,
        )

    def begin(self) -> None:
        services.batch_start(batch=self.batch, user=self.user)

    def _stage(self, position: int) -> Callable[[], None]:
        def record() -> None:
            batch, spec = self.batch, self.spec
            last = position == batch.stages.count() - 1
            uses = self._uses(position)
            scrap = waste = ()
            if last and spec.scrap:
                grams, value = spec.scrap
                scrap = [services.Scrap(item=self.world.scrap, quantity=D(grams), value=D(value))]
            if spec.waste and any(u.item.sku == spec.waste[0] for u in uses):
                sku, quantity, note = spec.waste
                item = self.world.materials[sku].item
                waste = [services.Waste(item=item, quantity=D(quantity), note=note)]
            services.stage_complete(
                batch=batch,
                position=position,
                uses=uses,
                made=self._made() if last else (),
                waste=waste,
                scrap=scrap,
                output_quantity=None if last else _mass(uses),
                note=spec.note if position == self.todo - 1 else "",
                user=self.user,
                idempotency_key=f"{KEY}{spec.key}-s{position + 1}",
            )

        return record

    def _made(self) -> list[services.Made]:
        spec, made = self.spec, []
        for split in self.batch.splits.select_related("variant").order_by("variant__position"):
            n = split.variant.position
            saleable = D(spec.made[n]) if spec.made else split.planned
            rejected = split.planned - saleable
            made.append(
                services.Made(
                    variant=split.variant,
                    saleable=saleable,
                    rejected=rejected,
                    reason=spec.reason if rejected else "",
                )
            )
        return made

    def _uses(self, position: int) -> list[services.Use]:
        """The recipe's quantities for this stage and split, with the maker's changes, each
        drawn from the lots on the shelf that day."""
        batch, spec = self.batch, self.spec
        split = {s.variant_id: s.planned for s in batch.splits.all()}
        stage_at = {s.recipe_stage_id: s.position for s in batch.stages.all()}
        wanted: dict[tuple[str, int | None], list] = {}  # (sku, variant): [item, variant, quantity]

        def want(item, variant, quantity) -> None:
            entry = wanted.setdefault((item.sku, variant and variant.pk), [item, variant, D(0)])
            entry[2] += quantity

        for line in version_lines(batch.version):
            if stage_at.get(line.stage_id, 0) == position:
                q = line_quantity(line, split, batch.version.standard_yield)
                want(line.material.item, line.variant, in_material_unit(line, q))
        extra = dict(spec.more)
        if spec.waste:
            sku, quantity, _ = spec.waste
            extra[sku] = D(extra.get(sku, 0)) + D(quantity)  # the spill came out of the bag too
        for (sku, _), entry in wanted.items():
            entry[2] += D(extra.get(sku, 0))
        if spec.instead:
            gone, used = spec.instead
            for (sku, _), entry in list(wanted.items()):
                if sku == gone:
                    want(self.world.materials[used].item, entry[1], entry[2])  # an extra line
                    entry[2] = D(0)  # the recipe's line, set to 0 on the form
        uses = []
        for item, variant, quantity in wanted.values():
            quantity = _rounded(item, quantity)
            if not quantity:
                uses.append(services.Use(item=item, quantity=D(0), variant=variant))
                continue
            for lot, q in _from_shelf(item, quantity):
                uses.append(services.Use(item=item, quantity=q, lot=lot, variant=variant))
        return uses


def _rounded(item: Item, quantity: Decimal) -> Decimal:
    if item.unit == Unit.EACH:
        return quantity.to_integral_value(ROUND_CEILING)
    return quantity.quantize(D("0.01"))


DREGS = D("0.05")  # what is left of a bottle or a bag under 5 % of a pour goes into it too


def _from_shelf(item: Item, quantity: Decimal) -> list[tuple]:
    """`quantity` of `item` from the lots at the production location that were there today
    (received by today, usable), first expiry first, as the ledger would draw them; the dregs
    of a lot of wax or oil go in with the pour rather than stay on the shelf."""
    today = workshop_today()
    balances = (
        Balance.objects.filter(
            usable_lot(today, "lot__"),
            lot__item=item,
            location=production_location(),
            lot__received_on__lte=today,
            quantity__gt=0,
        )
        .select_related("lot")
        .order_by(F("lot__expiry_date").asc(nulls_last=True), "lot__received_on", "lot_id")
    )
    drawn, need = [], quantity
    for balance in balances:
        if need <= 0:
            break
        take = min(need, balance.quantity)
        rest = balance.quantity - take
        if item.unit != Unit.EACH and 0 < rest <= quantity * DREGS:
            take = balance.quantity
        drawn.append((balance.lot, take))
        need -= min(need, take)
    if need > 0:
        raise RuntimeError(f"The demo ran out of {item.name} on {today}: {need} short.")
    return drawn


def _mass(uses: list[services.Use]) -> Decimal | None:
    """A stage's semi-finished output (the uncut loaf): what went in, less a little left in
    the pot."""
    grams = sum((u.quantity for u in uses if u.item.unit in (Unit.G, Unit.ML)), D(0))
    return (grams * D("0.99")).quantize(D(1)) if grams else None
