"""Reads that the materials pages share, each a fixed number of queries per page."""

from dataclasses import dataclass
from decimal import Decimal

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
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from materials.models import Category, Material, Receipt, Supplier, SupplierPrice
from stock.models import Balance, Posting

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
        balances = balances.filter(lot__quarantined=False).exclude(
            lot__expiry_date__lt=timezone.localdate()
        )
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
            When(next_expiry__lt=timezone.localdate(), then=Value(True)),
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
        sells_it = SupplierPrice.objects.filter(material=OuterRef("pk"), supplier=filters.supplier)
        materials = materials.filter(Q(preferred_supplier=filters.supplier) | Exists(sells_it))
    materials = with_stock(materials)
    if filters.status:
        materials = materials.filter(status=filters.status)
    return Paginator(materials.order_by("item__name", "item__sku"), PAGE_SIZE).get_page(page_number)


def material_detail(pk: int) -> Material:
    material = (
        with_stock(Material.objects.select_related("item", "category", "preferred_supplier"))
        .prefetch_related("prices__supplier")
        .get(pk=pk)
    )
    return material


def reorder_groups():
    """Materials at or under their reorder point, grouped by preferred supplier."""
    due = (
        with_stock(
            Material.objects.filter(
                item__archived=False, reorder_point__isnull=False
            ).select_related("item", "preferred_supplier")
        )
        .filter(due=True)
        .order_by(F("preferred_supplier__name").asc(nulls_last=True), "item__name")
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
    materials = with_stock(Material.objects.filter(item__archived=False))
    return {
        "total": materials.count(),
        "due": materials.filter(due=True).count(),
        "out": materials.filter(status=Status.OUT).count(),
    }
