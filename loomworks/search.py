"""The search box in the header (docs/design.md, "Traceability"): a lot code, a batch
reference, a SKU or a customer's name, or the address of one of this site's pages (what a
scanner types from a label's QR code). One match goes straight there, several give a list,
anything else a message. A search only reads: one query per kind of thing, whatever it finds."""

import re
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.db.models import Max, Q
from django.urls import NoReverseMatch, Resolver404, resolve, reverse
from django.utils.http import url_has_allowed_host_and_scheme

from batches.models import Batch
from stock.models import Customer, Item, ItemKind, Lot

MAX_LENGTH = 200  # longer than any code, reference, SKU, name or label address we make
LIMIT = 10  # of each kind, in a list of partial matches

EMPTY = "Type or scan a lot code, a batch reference, a SKU or a customer's name."
TOO_LONG = (
    "That is {length:,} characters long, longer than any code or name Loomworks keeps: "
    "scan or type one code."
)
NOTHING = "Nothing matches “{query}”. Check the code, or search for the start of it."
NOT_HERE = (
    "That address is not a page of this Loomworks, so it was not opened. Scan the label of a "
    "lot from this workshop, or type its code."
)
CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # a scanner's Enter, Tab or group separator


@dataclass(frozen=True)
class Match:
    kind: str  # "Lot", "Batch", "Material", "Product", "Item", "Customer"
    label: str
    detail: str
    url: str | None  # None: nowhere to go yet (a customer page that does not exist)


@dataclass
class Found:
    query: str
    matches: list[Match] = field(default_factory=list)
    go_to: str | None = None  # one match, or a page of this site: where to send the person
    message: str = ""
    partial: bool = False  # the matches start with the query rather than equal it


def search(text: str, *, user, host: str) -> Found:
    """What `text` names, for `user` (only what their role may see), asked at `host`."""
    if len(text) > MAX_LENGTH:
        return Found(query="", message=TOO_LONG.format(length=len(text)))
    query = " ".join(CONTROL.sub(" ", text).split())
    if not query:
        return Found(query="", message=EMPTY)
    if _looks_like_an_address(query):
        path = site_path(query, host=host)
        return Found(query=query, go_to=path, message="" if path else NOT_HERE)
    matches = _exact(query, user)
    partial = not matches
    if partial:
        matches = _starting_with(query, user)
    found = Found(query=query, matches=matches, partial=partial)
    if len(matches) == 1 and matches[0].url:
        found.go_to = matches[0].url
    elif not matches:
        found.message = NOTHING.format(query=query)
    return found


# Addresses ---------------------------------------------------------------------------------


def _looks_like_an_address(query: str) -> bool:
    return query.startswith("/") or bool(re.match(r"(?i)https?://", query))


def _site_hosts(host: str) -> set[str]:
    """The names this site answers to: the address asked at, the address labels print
    (SITE_URL), and the exact names in ALLOWED_HOSTS."""
    hosts = {host}
    site = urlsplit(getattr(settings, "SITE_URL", "") or "")
    if site.netloc:
        hosts.add(site.netloc)
    hosts.update(h for h in settings.ALLOWED_HOSTS if h and not h.startswith((".", "*")))
    return hosts


def site_path(address: str, *, host: str) -> str | None:
    """The path of one of this site's pages that `address` (a full URL or a path) names, or
    None. Only ever a path on this site, never another site's address: no open redirect."""
    if not url_has_allowed_host_and_scheme(address, allowed_hosts=_site_hosts(host)):
        return None
    parts = urlsplit(address)
    path = parts.path or "/"
    if not path.startswith("/") or path.startswith("//") or "\\" in path:
        return None
    try:
        resolve(path)
    except Resolver404:
        return None
    return path + (f"?{parts.query}" if parts.query else "")


# Things ------------------------------------------------------------------------------------


def _exact(query: str, user) -> list[Match]:
    lots = _lots(user, Q(code__iexact=query))
    # A one-variant batch's lot carries the batch's reference as its code. The label on the
    # jar names the lot, so the lot wins; its trace leads to the batch.
    batches = [] if lots else _batches(user, Q(reference__iexact=query))
    return (
        lots
        + batches
        + _items(user, Q(sku__iexact=query))
        + _customers(user, Q(name__iexact=query))
    )


def _starting_with(query: str, user) -> list[Match]:
    return (
        _lots(user, Q(code__istartswith=query))
        + _batches(user, Q(reference__istartswith=query))
        + _items(user, Q(sku__istartswith=query) | Q(name__icontains=query))
        + _customers(user, Q(name__icontains=query))
    )


def _lots(user, condition: Q) -> list[Match]:
    if not user.has_perm("stock.view_lot"):
        return []
    lots = (
        Lot.objects.filter(condition, voided_by__isnull=True)
        .select_related("item")
        .order_by("item__name", "code", "pk")[:LIMIT]
    )
    return [
        Match(
            kind="Lot",
            label=f"{lot.item.name} · lot {lot.code}",
            detail=("quarantined · " if lot.quarantined else "")
            + f"received {lot.received_on:%d %b %Y}",
            url=reverse("stock:lot", args=[lot.pk]),
        )
        for lot in lots
    ]


def _batches(user, condition: Q) -> list[Match]:
    if not user.has_perm("batches.view_batch"):
        return []
    batches = Batch.objects.filter(condition).select_related("product").order_by("-pk")[:LIMIT]
    return [
        Match(
            kind="Batch",
            label=f"Batch {b.reference}",
            detail=f"{b.product.name} · {b.get_status_display().lower()}",
            # By id rather than batches:by_reference, which a reference with a "/" breaks.
            url=reverse("batches:detail", args=[b.pk]),
        )
        for b in batches
    ]


def _items(user, condition: Q) -> list[Match]:
    if not user.has_perm("stock.view_item"):
        return []
    items = (
        Item.objects.filter(condition)
        .select_related("material", "variant")
        .order_by("archived", "name", "sku")[:LIMIT]
    )
    return [
        Match(
            kind=item.get_kind_display(),
            label=f"{item.name} ({item.sku})",
            detail="archived" if item.archived else item.get_unit_display(),
            url=_item_url(item, user),
        )
        for item in items
    ]


def _item_url(item: Item, user) -> str:
    """A material's page, a variant's product, or else the item's stock."""
    material = item.kind == ItemKind.MATERIAL and hasattr(item, "material")
    if material and user.has_perm("materials.view_material"):
        return reverse("materials:detail", args=[item.material.pk])
    variant = item.kind == ItemKind.VARIANT and hasattr(item, "variant")
    if variant and user.has_perm("recipes.view_product"):
        return reverse("recipes:product", args=[item.variant.product_id])
    return reverse("stock:on-hand") + "?" + urlencode({"q": item.sku})


def _customers(user, condition: Q) -> list[Match]:
    if not user.has_perm("stock.view_customer"):
        return []
    customers = (
        Customer.objects.filter(condition)
        .annotate(last_dispatch=Max("dispatches__pk"))
        .order_by("name", "pk")[:LIMIT]
    )
    return [
        Match(
            kind="Customer",
            label=c.name,
            detail=c.email or "no email",
            url=customer_url(c, last_dispatch=c.last_dispatch),
        )
        for c in customers
    ]


def customer_url(customer: Customer, *, last_dispatch: int | None) -> str | None:
    """The customer's page; until stock has one, their latest dispatch (what they received),
    else nowhere."""
    try:
        return reverse("stock:customer", args=[customer.pk])
    except NoReverseMatch:
        pass
    return reverse("stock:dispatch", args=[last_dispatch]) if last_dispatch else None
