"""Reads that the materials pages share, each a fixed number of queries per page."""

from dataclasses import dataclass, replace
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, localcontext

from django.core.paginator import Paginator
from django.db.models import (
    BooleanField,
    Case,
    CharField,
    Count,
    DecimalField,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Greatest, Lower

from materials.models import Category, Material, Receipt, ReceiptLine, Supplier, SupplierPrice
from stock.models import COST_PLACES, Balance, Posting, usable_lot, workshop_today

PAGE_SIZE = 25
AMOUNT = DecimalField(max_digits=30, decimal_places=10)
ZERO = Value(Decimal(0), output_field=AMOUNT)


class Status:
    OK = "ok"
    LOW = "low"
    OUT = "out"
    CHOICES = [("", "Any status"), (OK, "OK"), (LOW, "Below reorder point"), (OUT, "Out")]


@dataclass
class MaterialFilters:
    q: str = ""
    category: object = None
    supplier: object = None
    status: str = ""
    include_archived: bool = False


def _balance_sum(expression, *, usable_only=False):
    """A correlated subquery: `expression` summed over the material's balances that hold stock
    (only unexpired, unquarantined lots with usable_only). A subquery, not a join, so filters
    that join other tables (supplier prices) can never multiply the sums."""
    balances = Balance.objects.filter(lot__item=OuterRef("item"), quantity__gt=0)
    if usable_only:
        balances = balances.filter(usable_lot(workshop_today(), prefix="lot__"))
    total = balances.order_by().values("lot__item").annotate(total=Sum(expression)).values("total")
    return Coalesce(Subquery(total, output_field=AMOUNT), ZERO)


def with_stock(materials):
    """Annotate materials with on hand (all of it), usable stock (not expired, not quarantined),
    value, next expiry, status and a suggested order. Status and reorder follow usable stock."""
    next_expiry = (
        Balance.objects.filter(lot__item=OuterRef("item"), quantity__gt=0)
        .order_by(F("lot__expiry_date").asc(nulls_last=True))
        .values("lot__expiry_date")[:1]
    )
    materials = materials.annotate(
        on_hand=_balance_sum(F("quantity")),
        usable=_balance_sum(F("quantity"), usable_only=True),
        value=_balance_sum(ExpressionWrapper(F("quantity") * F("lot__unit_cost"), AMOUNT)),
        next_expiry=Subquery(next_expiry),
    )
    return materials.annotate(
        holds_expired=Case(
            When(next_expiry__lt=workshop_today(), then=Value(True)),
            default=Value(False),
            output_field=BooleanField(),
        ),
        status=Case(
            When(usable__lte=0, then=Value(Status.OUT)),
            When(
                reorder_point__isnull=False, usable__lte=F("reorder_point"), then=Value(Status.LOW)
            ),
            default=Value(Status.OK),
            output_field=CharField(),
        ),
        due=Case(
            When(reorder_point__isnull=False, usable__lte=F("reorder_point"), then=Value(True)),
            default=Value(False),
            output_field=BooleanField(),
        ),
        suggested=Case(
            When(reorder_quantity__isnull=False, then=F("reorder_quantity")),
            default=Greatest(F("reorder_point") * 2 - F("usable"), F("reorder_point")),
            output_field=DecimalField(max_digits=18, decimal_places=6),
        ),
    )


def material_list(filters: MaterialFilters, page_number=1):
    materials = Material.objects.select_related("item", "category", "preferred_supplier")
    if not filters.include_archived:
        materials = materials.filter(item__archived=False)
    if filters.q:
        their_sku = SupplierPrice.objects.filter(
            material=OuterRef("pk"), supplier_sku__icontains=filters.q
        )
        materials = materials.filter(
            Q(item__name__icontains=filters.q)
            | Q(item__sku__icontains=filters.q)
            | Exists(their_sku)
        )
    if filters.category is not None:
        materials = materials.filter(category=filters.category)
    if filters.supplier is not None:
        lists_it = SupplierPrice.objects.filter(material=OuterRef("pk"), supplier=filters.supplier)
        delivered_it = ReceiptLine.objects.filter(
            material=OuterRef("pk"), receipt__supplier=filters.supplier
        )
        materials = materials.filter(
            Q(preferred_supplier=filters.supplier) | Exists(lists_it) | Exists(delivered_it)
        )
    materials = with_stock(materials)
    if filters.status:
        materials = materials.filter(status=filters.status)
    return Paginator(
        materials.order_by(Lower("item__name"), Lower("item__sku")), PAGE_SIZE
    ).get_page(page_number)


def material_detail(pk: int) -> Material:
    return with_stock(
        Material.objects.select_related("item", "category", "preferred_supplier")
    ).get(pk=pk)


@dataclass(frozen=True)
class SupplierPriceRow:
    """One supplier and one material: the Owner's price list entry (SKU, price) and what the
    latest delivery paid, per unit of the material, goods only (shipping is not the price)."""

    supplier: Supplier
    material: Material
    supplier_sku: str = ""
    unit_price: Decimal | None = None
    paid_per_unit: Decimal | None = None
    paid_on: date | None = None
    paid_receipt_id: int | None = None


def _not_reversed(lines):
    return lines.filter(~Exists(Posting.objects.filter(reverses=OuterRef("receipt__posting"))))


def last_paid_lines(**scope):
    """The latest receipt line of each supplier and material in `scope` (ReceiptLine filters):
    latest by the delivery's date, then by entry, reversed deliveries left out. So a delivery
    entered late with an earlier date never replaces what was paid since. One query."""
    latest = (
        _not_reversed(ReceiptLine.objects)
        .filter(material=OuterRef("material"), receipt__supplier=OuterRef("receipt__supplier"))
        .order_by("-receipt__received_on", "-id")
        .values("pk")[:1]
    )
    return (
        _not_reversed(ReceiptLine.objects.filter(**scope))
        .filter(pk=Subquery(latest))
        .select_related("receipt__supplier", "material__item")
    )


def paid_per_unit(line: ReceiptLine) -> Decimal:
    with localcontext(prec=60):
        per_unit = line.price / line.quantity
    return per_unit.quantize(Decimal(1).scaleb(-COST_PLACES), ROUND_HALF_UP)


def supplier_prices(
    *, material: Material | None = None, supplier: Supplier | None = None
) -> list[SupplierPriceRow]:
    """Every supplier of `material` (or every material of `supplier`): from the Owner's price
    list and from the deliveries, with what was last paid. Two queries, whatever the rows."""
    scope = {"material": material} if material is not None else {"supplier": supplier}
    listed = SupplierPrice.objects.filter(**scope).select_related("supplier", "material__item")
    line_scope = {"material": material} if material is not None else {"receipt__supplier": supplier}
    rows: dict[tuple[int, int], SupplierPriceRow] = {}
    for p in listed:
        rows[p.supplier_id, p.material_id] = SupplierPriceRow(
            supplier=p.supplier,
            material=p.material,
            supplier_sku=p.supplier_sku,
            unit_price=p.unit_price,
        )
    for line in last_paid_lines(**line_scope):
        key = (line.receipt.supplier_id, line.material_id)
        row = rows.get(key) or SupplierPriceRow(
            supplier=line.receipt.supplier, material=line.material
        )
        rows[key] = replace(
            row,
            paid_per_unit=paid_per_unit(line),
            paid_on=line.receipt.received_on,
            paid_receipt_id=line.receipt_id,
        )
    if material is not None:
        return sorted(rows.values(), key=lambda r: r.supplier.name.lower())
    return sorted(rows.values(), key=lambda r: (r.material.item.name.lower(), r.material.pk))


def reorder_groups():
    """Materials at or under their reorder point, grouped by preferred supplier."""
    due = (
        with_stock(
            Material.objects.filter(
                item__archived=False, reorder_point__isnull=False
            ).select_related("item", "preferred_supplier")
        )
        .filter(due=True)
        .order_by(F("preferred_supplier__name").asc(nulls_last=True), Lower("item__name"))
    )
    groups: dict = {}
    for material in due:
        groups.setdefault(material.preferred_supplier, []).append(material)
    return list(groups.items())


def receipts(page_number=1, supplier: Supplier | None = None):
    qs = Receipt.objects.select_related("supplier", "created_by").annotate(
        goods=Coalesce(Sum("lines__price"), ZERO),
        reversed=Exists(Posting.objects.filter(reverses=OuterRef("posting"))),
    )
    if supplier is not None:
        qs = qs.filter(supplier=supplier)
    return Paginator(qs.order_by("-received_on", "-id"), PAGE_SIZE).get_page(page_number)


def receipt_with_lines(pk: int) -> Receipt:
    receipt = Receipt.objects.select_related("supplier", "created_by", "posting").get(pk=pk)
    receipt.line_rows = list(receipt.lines.select_related("material__item", "lot", "location"))
    receipt.goods_total = sum((line.price for line in receipt.line_rows), Decimal(0))
    receipt.total = receipt.goods_total + receipt.shipping
    receipt.reversal = Posting.objects.filter(reverses=receipt.posting_id).first()
    return receipt


def categories_with_counts():
    return Category.objects.annotate(n=Count("materials")).order_by("name")


def dashboard_numbers() -> dict:
    """How many materials there are, how many are due for reordering, how many are out."""
    # One query, counted here: three COUNTs would each work out every material's stock again.
    rows = list(
        with_stock(Material.objects.filter(item__archived=False)).values_list("due", "status")
    )
    return {
        "total": len(rows),
        "due": sum(1 for due, _ in rows if due),
        "out": sum(1 for _, status in rows if status == Status.OUT),
    }
