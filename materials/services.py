"""Writes for materials, suppliers and deliveries. Stock changes go through stock.services."""

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, localcontext

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Max, Sum

from materials.models import Category, Material, Receipt, ReceiptLine, Supplier, SupplierPrice
from stock.engine import Line, posting_create, posting_with_key, run_with_retries
from stock.limits import CENT, COST_QUANTUM, MAX_AMOUNT, MAX_COST
from stock.models import Balance, Item, ItemKind, Location, PostingKind, workshop_today
from stock.naming import save_named, unique_name
from stock.units import Unit, convert, display

SKU_TAKEN = "SKU {sku} is already used by {name}."
SAME_NAME = (
    "{sku} is already called {name}: two materials with one name are easy to mix up on a "
    "delivery. Give this one a name that tells them apart, or save it anyway."
)
UNIT_LOCKED = "{name} already has stock in {unit}; its unit cannot change."
MATERIAL_HOLDS_STOCK = (
    "{name} still holds stock ({quantity} {unit}): use it up or count it out before archiving."
)
NO_RECEIPT_LINES = "Add at least one line: a material and a quantity."
PRICE_REQUIRED = "{name}: give the line's total price or its unit price."
PRICE_TWICE = "{name}: give the total price or the unit price, not both."
NEGATIVE_MONEY = "Prices and shipping cannot be negative."

SHIPPING_IN_CENTS = "Shipping is an amount in whole cents, like 12.50."
AMOUNT_TOO_LARGE = "{name}: that price is larger than Loomworks can hold."
COST_TOO_LARGE = "{name}: that comes to a cost per unit larger than Loomworks can hold."
SAME_REFERENCE = (
    "{supplier}'s {reference} was already received as {receipt} on {date}. "
    "Is this a second delivery with the same reference?"
)
TOO_SMALL = (
    "{name}: {quantity} {unit} is less than the smallest amount kept in {to} (0.000001 {to})."
)


# Apps above materials that rely on a material's unit (recipes: their lines are in units that
# convert to it) register a check here when they start: (material, new unit) -> a message, or
# None when the change is fine. Materials imports none of them.
_UNIT_GUARDS: list = []


def register_unit_guard(guard) -> None:
    if guard not in _UNIT_GUARDS:
        _UNIT_GUARDS.append(guard)


def _clean_sku(sku: str) -> str:
    sku = sku.strip()
    if not sku:
        raise ValidationError({"sku": "Give the material a SKU."})
    return sku


def material_create(
    *,
    sku: str,
    name: str,
    unit: str,
    category: Category | None = None,
    lot_tracked: bool = False,
    shelf_life_days: int | None = None,
    reorder_point: Decimal | None = None,
    reorder_quantity: Decimal | None = None,
    preferred_supplier: Supplier | None = None,
    notes: str = "",
    same_name_ok: bool = False,
    net_weight_g: Decimal | None = None,
) -> Material:
    """A material and its Item in the ledger, together. A name another material has already
    (whatever its case) is refused with SAME_NAME (code "same_name") unless `same_name_ok`."""
    sku = _clean_sku(sku)
    if not same_name_ok:
        _refuse_same_name(name)
    if unit not in Unit.values:
        raise ValidationError({"unit": f"Unknown unit {unit!r}."})
    clash = Item.objects.filter(sku__iexact=sku).first()
    if clash is not None:
        raise ValidationError({"sku": SKU_TAKEN.format(sku=sku, name=clash.name)})
    try:
        return _material_create(
            sku=sku,
            name=name,
            unit=unit,
            category=category,
            lot_tracked=lot_tracked,
            shelf_life_days=shelf_life_days,
            net_weight_g=net_weight_g,
            reorder_point=reorder_point,
            reorder_quantity=reorder_quantity,
            preferred_supplier=preferred_supplier,
            notes=notes,
        )
    except IntegrityError:  # the same SKU, added by someone else at the same moment
        raise ValidationError({"sku": SKU_TAKEN.format(sku=sku, name="another material")}) from None


@transaction.atomic
def _material_create(*, sku, name, unit, notes, **material_fields) -> Material:
    item_fields = {
        k: material_fields.pop(k) for k in ("lot_tracked", "shelf_life_days", "net_weight_g")
    }
    item = Item.objects.create(
        sku=sku, name=" ".join(name.split()), unit=unit, kind=ItemKind.MATERIAL, **item_fields
    )
    return Material.objects.create(item=item, notes=notes, **material_fields)


@transaction.atomic
def material_update(
    *,
    material: Material,
    sku: str,
    name: str,
    unit: str,
    category: Category | None,
    lot_tracked: bool,
    shelf_life_days: int | None,
    reorder_point: Decimal | None,
    reorder_quantity: Decimal | None,
    preferred_supplier: Supplier | None,
    notes: str,
    archived: bool,
    same_name_ok: bool = False,
    net_weight_g: Decimal | None = None,
) -> Material:
    item = Item.objects.select_for_update().get(pk=material.item_id)
    sku = _clean_sku(sku)
    if not same_name_ok:
        _refuse_same_name(name, instead_of=item)
    clash = Item.objects.filter(sku__iexact=sku).exclude(pk=item.pk).first()
    if clash is not None:
        raise ValidationError({"sku": SKU_TAKEN.format(sku=sku, name=clash.name)})
    if unit != item.unit and item.lots.exists():
        raise ValidationError({"unit": UNIT_LOCKED.format(name=item.name, unit=item.unit)})
    if unit != item.unit:
        for guard in _UNIT_GUARDS:
            if problem := guard(material, unit):
                raise ValidationError({"unit": problem})
    if archived and not item.archived:
        _refuse_archiving_stock(item)
    item.sku, item.name, item.unit = sku, " ".join(name.split()), unit
    item.lot_tracked, item.shelf_life_days, item.archived = lot_tracked, shelf_life_days, archived
    item.net_weight_g = net_weight_g
    item.save()
    material.item = item
    material.category = category
    material.reorder_point = reorder_point
    material.reorder_quantity = reorder_quantity
    material.preferred_supplier = preferred_supplier
    material.notes = notes
    material.save()
    return material


def material_named(name: str, *, instead_of: Item | None = None) -> Item | None:
    """Another material already called `name`, whatever its case and spacing."""
    others = Item.objects.filter(kind=ItemKind.MATERIAL, name__iexact=" ".join(name.split()))
    if instead_of is not None:
        others = others.exclude(pk=instead_of.pk)
    return others.order_by("pk").first()


def _refuse_same_name(name: str, *, instead_of: Item | None = None) -> None:
    other = material_named(name, instead_of=instead_of)
    if other is not None:
        raise ValidationError(
            {"name": ValidationError(SAME_NAME.format(sku=other.sku, name=other.name), "same_name")}
        )


def _refuse_archiving_stock(item: Item) -> None:
    """An archived material leaves on-hand and the lists while its stock would still count in
    the value: it must be used up or counted out first."""
    held = Balance.objects.filter(lot__item=item, quantity__gt=0).aggregate(total=Sum("quantity"))
    if held["total"]:
        raise ValidationError(
            MATERIAL_HOLDS_STOCK.format(
                name=item.name, quantity=display(held["total"]), unit=item.unit
            )
        )


def supplier_save(*, supplier: Supplier | None = None, name: str, **fields) -> Supplier:
    name = unique_name(Supplier.objects, name, noun="supplier", instance=supplier)
    supplier = supplier or Supplier()
    supplier.name = name
    for key, value in fields.items():
        setattr(supplier, key, value.strip() if isinstance(value, str) else value)
    return save_named(supplier, noun="supplier")


def category_save(*, category: Category | None = None, name: str) -> Category:
    name = unique_name(Category.objects, name, noun="category", instance=category)
    category = category or Category()
    category.name = name
    return save_named(category, noun="category")


def category_delete(*, category: Category) -> None:
    if category.materials.exists():
        raise ValidationError(
            f"{category.name} still has materials: move them to another category first."
        )
    category.delete()


def supplier_price_save(
    *, material: Material, supplier: Supplier, supplier_sku: str, unit_price: Decimal | None
) -> SupplierPrice:
    """The supplier's price list entry for a material: an Owner's to set (deliveries only
    record what was paid, on their lines)."""
    if unit_price is not None and unit_price < 0:
        raise ValidationError(NEGATIVE_MONEY)
    price, _ = SupplierPrice.objects.update_or_create(
        material=material,
        supplier=supplier,
        defaults={"supplier_sku": supplier_sku.strip(), "unit_price": unit_price},
    )
    return price


# Receiving ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceiptLineInput:
    """One line of a delivery as typed: a quantity in any compatible unit, and a price."""

    material: Material
    quantity: Decimal
    unit: str
    location: Location
    price: Decimal | None = None  # what the whole line cost
    unit_price: Decimal | None = None  # or: the price of one `unit`
    lot_code: str = ""
    expiry_date: date | None = None


@dataclass(frozen=True)
class PricedLine:
    source: ReceiptLineInput
    quantity: Decimal  # in the material's unit
    goods: Decimal
    shipping_share: Decimal
    unit_cost: Decimal  # landed, per unit of the material


def price_lines(lines: list[ReceiptLineInput], shipping: Decimal) -> list[PricedLine]:
    """Convert each line to its material's unit and spread shipping over the lines by value,
    in whole cents that add up to the shipping: the landed unit cost."""
    if shipping < 0:
        raise ValidationError(NEGATIVE_MONEY)
    if shipping != shipping.quantize(CENT) or shipping >= MAX_AMOUNT:
        raise ValidationError(SHIPPING_IN_CENTS)
    converted = []
    for line in lines:
        item = line.material.item
        if line.price is None and line.unit_price is None:
            raise ValidationError(PRICE_REQUIRED.format(name=item.name))
        if line.price is not None and line.unit_price is not None:
            raise ValidationError(PRICE_TWICE.format(name=item.name))
        goods = line.price if line.price is not None else line.unit_price * line.quantity
        if goods < 0:
            raise ValidationError(NEGATIVE_MONEY)
        goods = goods.quantize(CENT, ROUND_HALF_UP) if goods < MAX_AMOUNT else goods
        if goods >= MAX_AMOUNT:
            raise ValidationError(AMOUNT_TOO_LARGE.format(name=item.name))
        qty = convert(line.quantity, line.unit, item.unit, item_name=item.name)
        if qty <= 0:
            raise ValidationError(
                TOO_SMALL.format(
                    name=item.name, quantity=line.quantity, unit=line.unit, to=item.unit
                )
            )
        converted.append((line, qty, goods))
    total = sum((goods for _, _, goods in converted), Decimal(0))
    weights = [goods if total else Decimal(1) for _, _, goods in converted]
    shares = spread_cents(shipping, weights)
    priced = []
    for (line, qty, goods), share in zip(converted, shares, strict=True):
        with localcontext(prec=60):
            unit_cost = (goods + share) / qty
        if unit_cost >= MAX_COST:
            raise ValidationError(COST_TOO_LARGE.format(name=line.material.item.name))
        priced.append(
            PricedLine(
                source=line,
                quantity=qty,
                goods=goods,
                shipping_share=share,
                unit_cost=unit_cost.quantize(COST_QUANTUM, ROUND_HALF_UP),
            )
        )
    return priced


def spread_cents(amount: Decimal, weights: list[Decimal]) -> list[Decimal]:
    """Split `amount` (whole cents) in proportion to `weights`: each share rounded down to the
    cent, the cents left over going to the largest remainders. Shares never go below zero and
    always add up to `amount`."""
    total = sum(weights, Decimal(0))
    if not weights or not total:
        return [Decimal(0)] * len(weights)
    cents = int(amount / CENT)
    exact = [Decimal(cents) * w / total for w in weights]
    shares = [int(e) for e in exact]  # floor: weights and cents are never negative
    by_remainder = sorted(range(len(weights)), key=lambda i: (exact[i] - shares[i], weights[i]))
    for i in reversed(by_remainder[len(by_remainder) - (cents - sum(shares)) :]):
        shares[i] += 1
    return [Decimal(c) * CENT for c in shares]


def receipt_create(
    *,
    supplier: Supplier,
    lines: list[ReceiptLineInput],
    user,
    idempotency_key: str,
    reference: str = "",
    received_on: date | None = None,
    shipping: Decimal = Decimal(0),
    notes: str = "",
    same_reference_ok: bool = False,
) -> Receipt:
    """One delivery: one receipt posting and a lot per line with its landed unit cost, in one
    transaction; each line keeps what was paid for it. The same idempotency key twice: one
    receipt. A second delivery with the supplier's reference of an earlier one is refused
    (SAME_REFERENCE, code "same_reference") unless `same_reference_ok`: the maker said it is."""
    if not lines:
        raise ValidationError(NO_RECEIPT_LINES)
    priced = price_lines(lines, shipping)
    reference = reference.strip()

    def attempt() -> Receipt:
        earlier = posting_with_key(idempotency_key)
        if earlier is None and not same_reference_ok:
            try:
                _refuse_same_reference(supplier, reference)
            except ValidationError:
                # A second tap of this very form may have committed between the two reads:
                # then it is its delivery, not another one with the same reference.
                earlier = posting_with_key(idempotency_key)
                if earlier is None:
                    raise
        number = _receipt_number_for(earlier) or _next_receipt_number()
        return _write_receipt(
            number=number,
            supplier=supplier,
            priced=priced,
            ledger_lines=_ledger_lines(priced, received_on, number),
            user=user,
            idempotency_key=idempotency_key,
            reference=reference,
            received_on=received_on,
            shipping=shipping,
            notes=notes,
        )

    try:
        return run_with_retries(attempt)
    except ValidationError as exc:
        if getattr(exc, "code", None) != "key_used":
            raise
        # A second tap of the same form committed first, under its own delivery number (so its
        # lots carry other codes): answer with its delivery, or refuse if the figures differ.
        return run_with_retries(attempt)


def _refuse_same_reference(supplier: Supplier, reference: str) -> None:
    if not reference:
        return
    earlier = (
        Receipt.objects.filter(supplier=supplier, reference__iexact=reference)
        .order_by("-id")
        .first()
    )
    if earlier is not None:
        raise ValidationError(
            SAME_REFERENCE.format(
                supplier=supplier.name,
                reference=reference,
                receipt=f"Delivery #{earlier.pk}",
                date=f"{earlier.received_on:%-d %b %Y}",
            ),
            code="same_reference",
        )


def _receipt_number_for(posting) -> int | None:
    """The delivery an idempotency key already made, so a replay names its lots the same."""
    if posting is None:
        return None
    return Receipt.objects.filter(posting=posting).values_list("pk", flat=True).first()


def _next_receipt_number() -> int:
    """The next delivery's number, taken before its posting is written so that its lots can be
    named after it (D12-1, D12-2). PostgreSQL hands it out from the id sequence (a gap when a
    delivery is refused); SQLite, the demo's single-writer database, counts on."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id'))", [Receipt._meta.db_table]
            )
            return cursor.fetchone()[0]
    return (Receipt.objects.aggregate(last=Max("id"))["last"] or 0) + 1


def _receipt_reference(number: int, supplier: Supplier, reference: str) -> str:
    return f"Delivery #{number} · {supplier.name} {reference.strip()}".strip()


def _ledger_lines(priced: list[PricedLine], received_on: date | None, number: int) -> list[Line]:
    """A line with no supplier's lot code gets one named after the delivery: D12, or D12-1,
    D12-2 when it has several lines (a lot-tracked material always carries the supplier's)."""

    def code(p: PricedLine, n: int) -> str:
        if p.source.lot_code.strip() or p.source.material.item.lot_tracked:
            return p.source.lot_code
        return f"D{number}" + (f"-{n}" if len(priced) > 1 else "")

    return [
        Line(
            location=p.source.location,
            quantity=p.quantity,
            item=p.source.material.item,
            lot_code=code(p, n),
            expiry_date=p.source.expiry_date,
            unit_cost=p.unit_cost,
            received_on=received_on,
        )
        for n, p in enumerate(priced, 1)
    ]


@transaction.atomic
def _write_receipt(
    *,
    number,
    supplier,
    priced,
    ledger_lines,
    user,
    idempotency_key,
    reference,
    received_on,
    shipping,
    notes,
):
    result = posting_create(
        kind=PostingKind.RECEIPT,
        lines=ledger_lines,
        user=user,
        idempotency_key=idempotency_key,
        reference=_receipt_reference(number, supplier, reference),
        note=notes,
    )
    if result.replayed:  # the same form again, now or long ago: its delivery
        receipt = Receipt.objects.get(posting=result.posting)
        receipt.replayed = True
        return receipt
    receipt = Receipt.objects.create(
        pk=number,
        supplier=supplier,
        reference=reference,
        received_on=received_on or workshop_today(),
        shipping=shipping,
        posting=result.posting,
        created_by=user if getattr(user, "is_authenticated", False) else None,
        notes=notes,
    )
    ReceiptLine.objects.bulk_create(
        [
            ReceiptLine(
                receipt=receipt,
                material=p.source.material,
                lot=lot,
                location=p.source.location,
                entered_quantity=p.source.quantity,
                entered_unit=p.source.unit,
                quantity=p.quantity,
                price=p.goods,
                shipping_share=p.shipping_share,
                unit_cost=p.unit_cost,
            )
            for p, lot in zip(priced, result.lots, strict=True)
        ]
    )
    return receipt
